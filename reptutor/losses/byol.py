r"""BYOL: the normalised regression loss with a stop-gradient target, and the EMA target update.

References:
    J.-B. Grill, F. Strub, F. Altché, C. Tallec, P. H. Richemond, E. Buchatskaya, C. Doersch,
    B. Avila Pires, Z. D. Guo, M. Gheshlaghi Azar, B. Piot, K. Kavukcuoglu, R. Munos, M. Valko.
    *Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning*. NeurIPS 2020,
    arXiv:2006.07733 (the loss, eq. 2, and its symmetrisation, Sec. 3.1; the target update,
    eq. 1; the cosine schedule of the target decay rate :math:`\tau`, Sec. 3.3).

BYOL has two networks. The *online* network (encoder, projector :math:`g_\theta`, predictor
:math:`q_\theta`) is trained by gradient descent to predict the *target* network's projection
:math:`z'_\xi` of another view; the target network (encoder and projector only) receives no
gradient and follows the online weights as an exponential moving average,
:math:`\xi \leftarrow \tau\xi + (1 - \tau)\theta`. This module holds the pieces that every
BYOL-style method shares:

* :func:`byol_loss`: :math:`2 - 2\cos(p, z)` per pair, with the gradient stopped at :math:`z`;
* :func:`ema_update`: the in-place target update;
* :func:`byol_momentum`: the cosine schedule of :math:`\tau` from :math:`\tau_{\text{base}}` to 1.

Used by SCRL (region-level BYOL, :func:`reptutor.losses.scrl_loss`) and by BYOL itself.
Taught first in the chapter *Spatially consistent representation learning (SCRL)*
(``notebooks/01_information/06_scrl``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from reptutor import _checks
from reptutor._repr import hyper_parameters
from reptutor._reduction import REDUCTIONS as _REDUCTIONS, reduce as _reduce

__all__ = ["byol_loss", "BYOLLoss", "ema_update", "byol_momentum"]



def byol_loss(
    p: torch.Tensor, z: torch.Tensor, *, reduction: str = "mean", eps: float = 1e-12
) -> torch.Tensor:
    r"""BYOL's normalised regression loss :math:`2 - 2\cos(p_i, z_i)`, no gradient through ``z``.

    Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, arXiv:2006.07733, eq. 2: with
    :math:`\bar u = u / \max(\lVert u\rVert_2, \epsilon)`,

    .. math::

        \ell(p_i, z_i) = \big\lVert \bar p_i - \operatorname{sg}(\bar z_i)\big\rVert_2^2
          = 2 - 2\,\frac{\langle p_i, z_i\rangle}{\lVert p_i\rVert_2\,\lVert z_i\rVert_2}
          \in [0, 4],

    where :math:`p_i = q_\theta(g_\theta(f_\theta(v_i)))` is the online prediction for one
    view, :math:`z_i = g_\xi(f_\xi(v'_i))` the target projection of the other view, and
    :math:`\operatorname{sg}` the stop-gradient: ``z`` is detached here, so no gradient ever
    reaches it, whatever its ``requires_grad``. ``reduction="mean"`` averages over the
    :math:`N` pairs. BYOL's training loss is the symmetrised sum (Sec. 3.1, unnumbered)
    ``byol_loss(p_1, z_2) + byol_loss(p_2, z_1)``, each view predicting the other. The
    :math:`\epsilon` guard follows SCRL's official code (``F.normalize(..., eps=1e-12)``).

    Args:
        p: online predictions, ``(N, D)``.
        z: target projections of the paired views, ``(N, D)``.
        reduction: ``"mean"`` (over pairs), ``"sum"`` or ``"none"`` (one value per pair).
        eps: :math:`\epsilon > 0`, the smallest norm divided by.

    Returns:
        A scalar, or ``(N,)`` per-pair losses for ``reduction="none"``.

    Shape:
        ``(N, D), (N, D) -> ()`` or ``(N,)``.

    Raises:
        TypeError: for non-tensors, non-floating or different dtypes.
        ValueError: for other shapes, devices, non-finite values, an unknown reduction or a
            non-positive ``eps``.

    Examples:
        >>> p = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
        >>> z = torch.tensor([[3.0, 0.0], [0.0, 2.0], [-1.0, 0.0]])
        >>> byol_loss(p, z, reduction="none")  # aligned (any scale), orthogonal, opposite
        tensor([0., 2., 4.])
        >>> # the stop-gradient: only the prediction receives a gradient
        >>> p = torch.randn(5, 3, requires_grad=True); z = torch.randn(5, 3, requires_grad=True)
        >>> byol_loss(p, z).backward()
        >>> p.grad is not None, z.grad is None
        (True, True)
    """
    _checks.views("p", p, "z", z)
    _checks.choice("reduction", reduction, _REDUCTIONS)
    eps = _checks.number("eps", eps, positive=True)
    p_bar = F.normalize(p, dim=1, eps=eps)  # (N, D) unit predictions
    z_bar = F.normalize(z.detach(), dim=1, eps=eps)  # (N, D) stop-gradient: z is a fixed target
    per_pair = 2 - 2 * (p_bar * z_bar).sum(dim=1)  # (N,) = ||p_bar - z_bar||^2
    return _reduce(per_pair, reduction)


class BYOLLoss(nn.Module):
    r"""Module form of :func:`byol_loss` (Grill et al., NeurIPS 2020, arXiv:2006.07733, eq. 2).

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        eps: the smallest norm divided by.

    Shape:
        ``(N, D), (N, D) -> ()`` or ``(N,)``.

    Examples:
        >>> loss = BYOLLoss()
        >>> z = torch.randn(4, 8)
        >>> float(loss(3.0 * z, z)) < 1e-6  # the loss ignores scale: only directions count
        True
    """

    def __init__(self, *, reduction: str = "mean", eps: float = 1e-12) -> None:
        super().__init__()
        self.reduction = _checks.choice("reduction", reduction, _REDUCTIONS)
        self.eps = _checks.number("eps", eps, positive=True)

    def forward(self, p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return byol_loss(p, z, reduction=self.reduction, eps=self.eps)

    def extra_repr(self) -> str:
        return hyper_parameters(self)


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    r"""Move the target network's parameters towards the online network's, in place.

    Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, arXiv:2006.07733, Sec. 3.1, eq. 1:

    .. math::

        \xi \leftarrow \tau\,\xi + (1 - \tau)\,\theta,

    for every parameter, paired in the order of :meth:`torch.nn.Module.parameters` (the two
    modules must have the same architecture; a deep copy of the online network is the usual
    target). ``momentum`` is :math:`\tau`: 1 freezes the target, 0 copies the online weights
    (the "no EMA" ablation, where the target is the online network behind a stop-gradient).
    Only parameters move; buffers (batch-norm running statistics) are left to the target's
    own forward passes, as in the official BYOL and SCRL code. No gradient is recorded.

    Args:
        target: the target network :math:`\xi`, updated in place.
        online: the online network :math:`\theta`, read only.
        momentum: :math:`\tau \in [0, 1]` (BYOL: 0.996 at the start of its cosine schedule,
            see :func:`byol_momentum`; SCRL's 200-epoch configuration: 0.97).

    Raises:
        TypeError: if a network is not an :class:`torch.nn.Module` or ``momentum`` is not a
            real number.
        ValueError: if ``momentum`` is outside :math:`[0, 1]`, or the two networks' parameters
            differ in number or shape.

    Examples:
        >>> import copy
        >>> online = nn.Linear(2, 1)
        >>> target = copy.deepcopy(online)
        >>> with torch.no_grad():
        ...     _ = online.weight.fill_(1.0); _ = target.weight.fill_(0.0)
        >>> ema_update(target, online, 0.75)
        >>> target.weight.detach()  # 0.75 * 0 + 0.25 * 1
        tensor([[0.2500, 0.2500]])
        >>> ema_update(target, online, 0.0)  # tau = 0 copies the online weights
        >>> bool(torch.equal(target.weight, online.weight))
        True
    """
    for name, net in (("target", target), ("online", online)):
        if not isinstance(net, nn.Module):
            raise TypeError(f"{name} must be a torch.nn.Module, got {type(net).__name__}")
    tau = _checks.number("momentum", momentum, minimum=0.0, maximum=1.0)
    target_params, online_params = list(target.parameters()), list(online.parameters())
    if len(target_params) != len(online_params):
        raise ValueError(
            "target and online must have the same architecture, got "
            f"{len(target_params)} and {len(online_params)} parameter tensors"
        )
    for i, (xi, theta) in enumerate(zip(target_params, online_params)):
        if xi.shape != theta.shape:
            raise ValueError(
                f"target and online must have the same architecture, got parameter {i} of "
                f"shape {tuple(xi.shape)} and {tuple(theta.shape)}"
            )
    for xi, theta in zip(target_params, online_params):
        xi.lerp_(theta.detach().to(xi.dtype), 1.0 - tau)  # xi + (1 - tau)(theta - xi)


def byol_momentum(step: int, total_steps: int, *, base: float = 0.996) -> float:
    r"""BYOL's cosine schedule of the target decay rate, from ``base`` at step 0 to 1 at the end.

    Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, arXiv:2006.07733, Sec. 3.3:

    .. math::

        \tau_k = 1 - (1 - \tau_{\text{base}})\,\frac{\cos(\pi k / K) + 1}{2},
        \qquad k = 0, \dots, K,

    with :math:`\tau_{\text{base}} = 0.996` in the paper. SCRL uses the same schedule with
    :math:`\tau_{\text{base}} = 0.97` in its 200-epoch configuration (Roh et al., CVPR 2021).

    Args:
        step: :math:`k`, between 0 and ``total_steps``.
        total_steps: :math:`K \ge 1`.
        base: :math:`\tau_{\text{base}} \in [0, 1]`.

    Returns:
        :math:`\tau_k`, a float in :math:`[\tau_{\text{base}}, 1]`, increasing in :math:`k`.

    Raises:
        TypeError: for non-integer steps or a non-real ``base``.
        ValueError: for out-of-range values.

    Examples:
        >>> byol_momentum(0, 100), byol_momentum(50, 100), byol_momentum(100, 100)
        (0.996, 0.998, 1.0)
    """
    total = _checks.integer("total_steps", total_steps, minimum=1)
    k = _checks.integer("step", step, minimum=0, maximum=total)
    tau0 = _checks.number("base", base, minimum=0.0, maximum=1.0)
    return 1.0 - (1.0 - tau0) * (math.cos(math.pi * k / total) + 1.0) / 2.0
