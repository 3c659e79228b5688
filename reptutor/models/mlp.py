r"""A small multilayer perceptron, the encoder most toy chapters use.

Shape:
    input ``(N, in_dim)`` -> output ``(N, out_dim)``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from reptutor import _checks
from reptutor._repr import hyper_parameters
from reptutor.models._init import check_input, parameters_from

__all__ = ["MLP"]

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}


class MLP(nn.Module):
    r"""Linear layers with an activation (and optional batch norm) between them.

    ``MLP(64, [256, 128], 10)`` is ``Linear(64,256) -> [BN] -> ReLU -> Linear(256,128) -> [BN]
    -> ReLU -> Linear(128,10)``; the last layer has no activation.

    Args:
        in_dim: input features.
        hidden: widths of the hidden layers (may be empty: a linear model).
        out_dim: output features.
        activation: one of ``"relu"``, ``"gelu"``, ``"tanh"``, ``"silu"``.
        batch_norm: insert :class:`torch.nn.BatchNorm1d` before each hidden activation.
        generator: draw the initial weights from this CPU generator (torch's default
            initialisation, in the same order: ``generator=torch.Generator().manual_seed(s)``
            gives the weights of ``torch.manual_seed(s)`` before the call); ``None`` draws from
            the global generator.

    Shape:
        ``(N, in_dim) -> (N, out_dim)``; ``N = 0`` gives an empty output, as in
        :class:`torch.nn.Linear`.

    Raises:
        TypeError: for non-integer widths, a non-bool ``batch_norm``, a ``generator`` that is
            not a CPU :class:`torch.Generator`, or an input that is not a tensor with the
            model's dtype.
        ValueError: for non-positive widths, an unknown activation, an input of another
            shape, device or with NaN/inf values, or one sample in training mode with
            ``batch_norm=True`` (its batch variance is undefined).

    Examples:
        >>> net = MLP(3, [16], 2)
        >>> net(torch.zeros(5, 3)).shape
        torch.Size([5, 2])
        >>> MLP(3, [], 2).layers  # no hidden layer: a linear map
        Sequential(
          (0): Linear(in_features=3, out_features=2, bias=True)
        )
        >>> # seeded construction: the same generator seed gives the same weights
        >>> a = MLP(3, [4], 2, generator=torch.Generator().manual_seed(0))
        >>> b = MLP(3, [4], 2, generator=torch.Generator().manual_seed(0))
        >>> all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
        True
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int, *,
                 activation: str = "relu", batch_norm: bool = False,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.in_dim = _checks.integer("in_dim", in_dim, minimum=1)
        self.hidden = _checks.integer_sequence("hidden", hidden, minimum=1)
        self.out_dim = _checks.integer("out_dim", out_dim, minimum=1)
        self.activation = _checks.choice("activation", activation, tuple(_ACTIVATIONS))
        self.batch_norm = _checks.boolean("batch_norm", batch_norm)
        layers: list[nn.Module] = []
        width = in_dim
        with parameters_from(self, generator):
            for h in self.hidden:
                layers.append(nn.Linear(width, h))
                if batch_norm:
                    layers.append(nn.BatchNorm1d(h))
                layers.append(_ACTIVATIONS[activation]())
                width = h
            layers.append(nn.Linear(width, out_dim))
            self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_x(x)
        return self.layers(x)

    def _check_x(self, x: torch.Tensor) -> None:
        check_input("x", x, self.layers[0].weight, allow_empty=True)
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"x must have shape (N, {self.in_dim}), got {tuple(x.shape)}")
        if self.batch_norm and self.training:
            _checks.rows("x", x, 2, "batch_norm=True in training mode normalises with the "
                         "batch's variance; call .eval() to use the running statistics")

    def layer_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        r"""The representation at every depth: the input, each hidden block's output, the output.

        Writing the network as :math:`\phi = \psi_J\circ\psi_{J-1}\circ\dots\circ\psi_1`,
        :math:`J` = ``len(hidden) + 1``, with :math:`\psi_\ell` = Linear -> [BN] -> activation
        for the hidden blocks and :math:`\psi_J` the last Linear, returns
        :math:`[h_0, h_1, \dots, h_J]` with :math:`h_0 = x` and
        :math:`h_\ell = \psi_\ell(h_{\ell-1})`, so ``layer_outputs(x)[-1]`` is ``forward(x)``.
        Cutting the network at depth :math:`\ell` and reading :math:`h_\ell` is what Bordes et
        al. call *Guillotine Regularization* (TMLR 2023, arXiv:2206.13378v2); the chapter
        ``notebooks/02_noncontrastive/04_guillotine`` probes every :math:`h_\ell`.

        Args:
            x: the input, as for ``forward``.

        Returns:
            A list of ``len(hidden) + 2`` tensors (gradients flow through them as in
            ``forward``).

        Shape:
            ``(N, in_dim) -> [(N, in_dim), (N, hidden[0]), ..., (N, hidden[-1]), (N, out_dim)]``.

        Raises:
            ValueError / TypeError: as ``forward``.

        Examples:
            >>> net = MLP(3, [8, 4], 2, generator=torch.Generator().manual_seed(0))
            >>> x = torch.randn(5, 3)
            >>> [tuple(h.shape) for h in net.layer_outputs(x)]
            [(5, 3), (5, 8), (5, 4), (5, 2)]
            >>> bool(torch.equal(net.layer_outputs(x)[-1], net(x)))
            True
            >>> bool((net.layer_outputs(x)[1] >= 0).all())  # after a ReLU
            True
        """
        self._check_x(x)
        outputs = [x]
        h = x
        for layer in self.layers:
            h = layer(h)
            if isinstance(layer, tuple(_ACTIVATIONS.values())):  # the end of a hidden block
                outputs.append(h)
        outputs.append(h)  # the last Linear
        return outputs

    def extra_repr(self) -> str:
        return hyper_parameters(self)
