r"""Small sequence encoders: a temporal convolution trunk and a two-head global-local encoder.

The two-head layout follows Ma, Zeng, McDuff & Song, *Contrastive Learning of Global and Local
Video Representations*, NeurIPS 2021, arXiv:2104.05418v2: one network per modality whose
features feed a *global* projection (pooled over time by the global loss) and a *local*
projection (kept per time step by the local loss); the official code's audio network has exactly
these two 1x1 projections (``a_proj1``, ``a_proj2``) on one trunk.

Sequences are stored samples first, ``(N, T, D)``.

Taught in the chapter *Global and local contrast* (``notebooks/01_information/05_global_local``).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from reptutor import _checks
from reptutor._repr import hyper_parameters
from reptutor.models._init import check_input, parameters_from

__all__ = ["TemporalConvEncoder", "GlobalLocalEncoder", "GlobalLocalOutput"]


def _check_sequence(x: torch.Tensor, weight: torch.Tensor, in_dim: int) -> None:
    check_input("x", x, weight, allow_empty=True)
    if x.ndim != 3 or x.shape[2] != in_dim:
        raise ValueError(f"x must have shape (N, T, {in_dim}), got {tuple(x.shape)}")


class TemporalConvEncoder(nn.Module):
    r"""A temporal convolution, a ReLU and a per-step linear layer, applied to sequences.

    .. math::

        z_{t} = W_2\,\mathrm{ReLU}\Big(\sum_{k=-r}^{r} W_1^{(k)} x_{t+k} + b_1\Big) + b_2,
        \qquad r = \lfloor \text{kernel\_size}/2 \rfloor,

    with zero padding at both ends (so the output has the input's length :math:`T`). Each output
    step sees ``kernel_size`` input steps: local in time, which is what lets a local objective
    keep events apart and a global one average them away.

    Args:
        in_dim: input features per step.
        hidden: channels of the temporal convolution.
        out_dim: output features per step.
        kernel_size: odd temporal receptive field of the convolution (default 3).
        generator: draw the initial weights from this CPU generator (torch's default
            initialisation in the same order, see :class:`reptutor.models.MLP`).

    Shape:
        ``(N, T, in_dim) -> (N, T, out_dim)``.

    Raises:
        TypeError: for non-integer sizes, or an input that is not a tensor with the model's
            dtype.
        ValueError: for non-positive sizes, an even ``kernel_size``, or an input of the wrong
            shape, of another device or with NaN/inf values.

    Examples:
        Time steps further apart than the receptive field do not interact:

        >>> net = TemporalConvEncoder(2, 8, 3)
        >>> x = torch.randn(1, 10, 2)
        >>> x2 = x.clone(); x2[0, 9] += 1.0          # change the last step only
        >>> bool(torch.equal(net(x)[0, :8], net(x2)[0, :8]))  # steps 0..7 unchanged
        True
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int, *, kernel_size: int = 3,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.in_dim = _checks.integer("in_dim", in_dim, minimum=1)
        self.hidden = _checks.integer("hidden", hidden, minimum=1)
        self.out_dim = _checks.integer("out_dim", out_dim, minimum=1)
        self.kernel_size = _checks.integer("kernel_size", kernel_size, minimum=1)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same-length output), got {kernel_size}")
        with parameters_from(self, generator):
            self.conv = nn.Conv1d(in_dim, hidden, kernel_size, padding=kernel_size // 2)
            self.act = nn.ReLU()
            self.out = nn.Conv1d(hidden, out_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_sequence(x, self.conv.weight, self.in_dim)
        h = self.act(self.conv(x.transpose(1, 2)))  # (N, hidden, T): Conv1d wants channels first
        return self.out(h).transpose(1, 2)  # (N, T, out_dim)

    def extra_repr(self) -> str:
        return hyper_parameters(self)


class GlobalLocalOutput(NamedTuple):
    """What :class:`GlobalLocalEncoder` returns, all per time step.

    Attributes:
        z: the representation (the trunk's output), shape (N, T, D); what probes read.
        z_global: the global projection of each step, shape (N, T, P); the global loss pools
            it over time.
        z_local: the local projection of each step, shape (N, T, P).
    """

    z: torch.Tensor
    z_global: torch.Tensor
    z_local: torch.Tensor


class GlobalLocalEncoder(nn.Module):
    r"""One modality's encoder for the global-local objective: a trunk and two linear projectors.

    Ma, Zeng, McDuff & Song, NeurIPS 2021, arXiv:2104.05418v2 (official ``model.py``: one trunk,
    two 1x1 projections ``a_proj1`` for the global and ``a_proj2`` for the local loss). The trunk
    is a :class:`TemporalConvEncoder`; the projectors act on each step,

    .. math::

        z_{t} = \phi_\theta(x)_t, \qquad z^{\mathrm{glob}}_t = G z_t + g, \qquad
        z^{\mathrm{loc}}_t = H z_t + h .

    Since :math:`G` is affine, pooling :math:`z^{\mathrm{glob}}` over time (as
    :func:`reptutor.losses.global_contrastive_loss` does) equals projecting the pooled
    representation. Evaluations read the representation :math:`z`, shared by both objectives.

    Args:
        in_dim: input features per step.
        hidden: channels of the trunk's temporal convolution.
        out_dim: dimension :math:`D` of the representation :math:`z`.
        proj_dim: dimension :math:`P` of each projection.
        kernel_size: the trunk's temporal receptive field (odd, default 3).
        generator: draw the initial weights from this CPU generator (trunk first, then the
            global and the local projector, as without it).

    Shape:
        ``(N, T, in_dim) ->`` :class:`GlobalLocalOutput` of ``(N, T, D)``, ``(N, T, P)``,
        ``(N, T, P)``.

    Raises:
        TypeError / ValueError: as :class:`TemporalConvEncoder`, and for ``proj_dim < 1``.

    Examples:
        The global projection of the time average is the time average of the global projection:

        >>> enc = GlobalLocalEncoder(3, 8, 4, 5)
        >>> out = enc(torch.randn(2, 6, 3))
        >>> [tuple(t.shape) for t in out]
        [(2, 6, 4), (2, 6, 5), (2, 6, 5)]
        >>> torch.allclose(enc.global_projector(out.z.mean(1)), out.z_global.mean(1), atol=1e-6)
        True
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int, proj_dim: int, *,
                 kernel_size: int = 3, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.proj_dim = _checks.integer("proj_dim", proj_dim, minimum=1)
        with parameters_from(self, generator):
            self.encoder = TemporalConvEncoder(in_dim, hidden, out_dim, kernel_size=kernel_size)
            self.global_projector = nn.Linear(out_dim, proj_dim)
            self.local_projector = nn.Linear(out_dim, proj_dim)
        self.in_dim, self.hidden, self.out_dim = in_dim, hidden, out_dim
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> GlobalLocalOutput:
        z = self.encoder(x)  # (N, T, D); the trunk checks x
        return GlobalLocalOutput(z, self.global_projector(z), self.local_projector(z))

    def extra_repr(self) -> str:
        return hyper_parameters(self)
