r"""Critics :math:`f(x, y)` for contrastive mutual-information bounds.

Poole, Ozair, van den Oord, Alemi, Tucker, "On Variational Bounds of Mutual Information",
ICML 2019, arXiv:1905.06922 (the separable and concatenated critic architectures compared there);
used for InfoNCE and DEMI in the chapter *Why InfoNCE can't see more than log K, and the
chain-rule fix (DEMI)* (``notebooks/01_information/01_infonce_demi``).

Each critic has two entry points:

* ``critic(x, y)`` -> the ``(N, M)`` matrix :math:`F_{ij} = f(x_i, y_j)` of all pairs, what
  :func:`reptutor.estimators.infonce` takes (square, positives on the diagonal, when ``x`` and
  ``y`` are ``K`` paired rows);
* ``critic.score(x, y)`` -> :math:`f` on broadcast pairs ``(..., dx)``, ``(..., dy)`` ->
  ``(...)``, e.g. one anchor per row against its own candidates, ``(N, 1, dx)`` with
  ``(N, K, dy)`` -> ``(N, K)`` (conditional InfoNCE / DEMI).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from reptutor import _checks
from reptutor._repr import hyper_parameters
from reptutor.models._init import parameters_from
from reptutor.models.mlp import MLP

__all__ = ["SeparableCritic", "ConcatCritic"]


def _widths(hidden: int | Sequence[int]) -> int | list[int]:
    """One width or a sequence of widths, checked (returned as given: int or list)."""
    if isinstance(hidden, Sequence) and not isinstance(hidden, (str, bytes)):
        return _checks.integer_sequence("hidden", hidden, minimum=1)
    return _checks.integer("hidden", hidden, minimum=1)


def _features(name: str, t: torch.Tensor, width: int, *, ndim: int | None = None) -> None:
    _checks.tensor(name, t, ndim=ndim, floating=False)
    if t.ndim < 1 or t.shape[-1] != width:
        raise ValueError(
            f"{name} must have {width} features in its last dim, got shape {tuple(t.shape)}"
        )


def _apply(net: nn.Module, t: torch.Tensor) -> torch.Tensor:
    """Run a network on the last dim of a tensor of any rank (flatten the leading dims)."""
    lead = t.shape[:-1]
    return net(t.reshape(-1, t.shape[-1])).reshape(*lead, -1)


class SeparableCritic(nn.Module):
    r"""The separable critic :math:`f(x, y) = g(x)^\top h(y)`.

    Poole et al., ICML 2019, arXiv:1905.06922 (the "separable" critic; the usual choice in
    contrastive representation learning, where :math:`g, h` are the two encoders). The
    all-pairs matrix is one matmul, :math:`F = G H^\top` with :math:`G = g(X)`,
    :math:`H = h(Y)`; this is what makes InfoNCE cheap at large batch size.

    Args:
        dx: features of :math:`x`.
        dy: features of :math:`y`.
        hidden: hidden width(s) of the two MLPs (an int or a sequence).
        out: embedding dimension :math:`D` of :math:`g(x), h(y)`.
        activation: the MLPs' activation (see :class:`reptutor.models.MLP`).
        generator: draw the initial weights from this CPU generator (torch's default
            initialisation in the same order, see :class:`reptutor.models.MLP`).

    Shape:
        ``forward``: ``(N, dx), (M, dy) -> (N, M)``;
        ``score``: ``(..., dx), (..., dy) -> (...)`` (broadcast leading dims).

    Raises:
        TypeError: for non-integer sizes, or inputs that are not tensors of the model's dtype.
        ValueError: for non-positive sizes, or inputs with the wrong number of features, on
            another device or with NaN/inf values.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> critic = SeparableCritic(3, 5, 16, 8, generator=g)  # seeded weights
        >>> x, y = torch.randn(4, 3, generator=g), torch.randn(4, 5, generator=g)
        >>> critic(x, y).shape
        torch.Size([4, 4])
        >>> # the matrix and the broadcast pair scores agree
        >>> bool(torch.allclose(critic(x, y), critic.score(x[:, None], y[None])))
        True
    """

    def __init__(self, dx: int, dy: int, hidden: int | Sequence[int], out: int, *,
                 activation: str = "relu", generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.dx = _checks.integer("dx", dx, minimum=1)
        self.dy = _checks.integer("dy", dy, minimum=1)
        self.out = _checks.integer("out", out, minimum=1)
        self.hidden = _widths(hidden)
        self.activation = activation  # checked by MLP
        widths = self.hidden if isinstance(self.hidden, list) else [self.hidden]
        with parameters_from(self, generator):
            self.g = MLP(dx, widths, out, activation=activation)
            self.h = MLP(dy, widths, out, activation=activation)

    def extra_repr(self) -> str:
        return hyper_parameters(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _features("x", x, self.dx, ndim=2)
        _features("y", y, self.dy, ndim=2)
        _checks.module_input("x", x, self.g.layers[0].weight)
        _checks.same_device_dtype("x", x, "y", y)
        # (N, M) all-pairs scores (the MLPs' layers directly: their inputs are checked here)
        return self.g.layers(x) @ self.h.layers(y).T

    def score(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""The critic on broadcast pairs: :math:`f(x_{\dots}, y_{\dots})`, shape ``(...)``."""
        _features("x", x, self.dx)
        _features("y", y, self.dy)
        _checks.module_input("x", x, self.g.layers[0].weight)
        _checks.module_input("y", y, self.h.layers[0].weight)
        return (_apply(self.g.layers, x) * _apply(self.h.layers, y)).sum(-1)  # broadcast dots


class ConcatCritic(nn.Module):
    r"""The concatenated critic :math:`f(x, y) = \mathrm{MLP}([x; y])`.

    Poole et al., ICML 2019, arXiv:1905.06922 (the "concat" critic, as in MINE, Belghazi et al.,
    ICML 2018, arXiv:1801.04062). More expressive than :class:`SeparableCritic` but the
    all-pairs matrix costs :math:`N M` forward passes, ``(N, M, dx + dy)`` in memory.

    Args:
        dx: features of :math:`x`.
        dy: features of :math:`y`.
        hidden: hidden width(s) of the MLP (an int or a sequence).
        activation: the MLP's activation.
        generator: draw the initial weights from this CPU generator (torch's default
            initialisation in the same order, see :class:`reptutor.models.MLP`).

    Shape:
        ``forward``: ``(N, dx), (M, dy) -> (N, M)``;
        ``score``: ``(..., dx), (..., dy) -> (...)`` (broadcast leading dims).

    Raises:
        TypeError: for non-integer sizes, or inputs that are not tensors of the model's dtype.
        ValueError: for non-positive sizes, or inputs with the wrong number of features, on
            another device or with NaN/inf values.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> critic = ConcatCritic(3, 5, [16, 16], generator=g)
        >>> x, y = torch.randn(4, 3, generator=g), torch.randn(6, 5, generator=g)
        >>> f = critic(x, y)
        >>> f.shape
        torch.Size([4, 6])
        >>> bool(torch.allclose(f[1, 2], critic.score(x[1], y[2])))
        True
    """

    def __init__(self, dx: int, dy: int, hidden: int | Sequence[int], *,
                 activation: str = "relu", generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.dx = _checks.integer("dx", dx, minimum=1)
        self.dy = _checks.integer("dy", dy, minimum=1)
        self.hidden = _widths(hidden)
        self.activation = activation  # checked by MLP
        widths = self.hidden if isinstance(self.hidden, list) else [self.hidden]
        with parameters_from(self, generator):
            self.net = MLP(dx + dy, widths, 1, activation=activation)

    def extra_repr(self) -> str:
        return hyper_parameters(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _features("x", x, self.dx, ndim=2)
        _features("y", y, self.dy, ndim=2)
        _checks.module_input("x", x, self.net.layers[0].weight)
        _checks.same_device_dtype("x", x, "y", y)
        return self._pairs(x[:, None, :], y[None, :, :])  # (N, M) from (N, M, dx + dy) pairs

    def score(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""The critic on broadcast pairs: :math:`f(x_{\dots}, y_{\dots})`, shape ``(...)``."""
        _features("x", x, self.dx)
        _features("y", y, self.dy)
        _checks.module_input("x", x, self.net.layers[0].weight)
        _checks.module_input("y", y, self.net.layers[0].weight)
        return self._pairs(x, y)

    def _pairs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        lead = torch.broadcast_shapes(x.shape[:-1], y.shape[:-1])
        pairs = torch.cat([x.expand(*lead, self.dx), y.expand(*lead, self.dy)], dim=-1)
        return _apply(self.net.layers, pairs).squeeze(-1)  # (...,)
