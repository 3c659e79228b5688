r"""SCRL: BYOL's regression loss between spatially matched boxes of two views.

References:
    B. Roh, W. Shin, I. Kim, S. Kim. *Spatially Consistent Representation Learning*. CVPR 2021,
    arXiv:2103.06122 (Sec. 3: the matched boxes, RoIAlign pooling, and the per-box BYOL
    objective; official code ``kakaobrain/scrl``, ``trainer/base.py``).

    J.-B. Grill et al. *Bootstrap Your Own Latent*. NeurIPS 2020, arXiv:2006.07733 (the
    normalised regression loss and the EMA target, :mod:`reptutor.losses.byol`).

Image-level BYOL asks the pooled features of two random crops to agree even when the crops
show different objects. SCRL asks for agreement only between *the same region* seen in the two
views: :math:`K` boxes :math:`B_k` are drawn inside the intersection of the two crops, mapped
into each view (:func:`reptutor.data.map_boxes`), pooled from each view's feature map with
RoIAlign (:func:`reptutor.models.roi_align`), projected, and compared box by box with BYOL's
loss. This module holds that last step, with a mask for image pairs whose crops overlap too
little to hold a box (the official code skips them).

Taught in the chapter *Spatially consistent representation learning (SCRL)*
(``notebooks/01_information/06_scrl``).
"""
from __future__ import annotations

import torch
from torch import nn

from reptutor import _checks
from reptutor._repr import hyper_parameters
from reptutor._reduction import REDUCTIONS as _REDUCTIONS
from reptutor.losses.byol import byol_loss

__all__ = ["scrl_loss", "SCRLLoss"]



def _mask(valid: object, n: int, k: int, like: torch.Tensor) -> torch.Tensor:
    if valid is None:
        return torch.ones(n, k, device=like.device, dtype=torch.bool)
    if not isinstance(valid, torch.Tensor) or valid.dtype != torch.bool:
        raise TypeError(f"valid must be a torch.bool tensor, got {_checks._describe(valid)}")
    if valid.device != like.device:
        raise ValueError(f"valid must be on the device of p, got {valid.device} and {like.device}")
    if tuple(valid.shape) == (n,):
        return valid.view(n, 1).expand(n, k)
    if tuple(valid.shape) == (n, k):
        return valid
    raise ValueError(
        f"valid must have shape (N,) = ({n},) or (N, K) = ({n}, {k}), got {tuple(valid.shape)}"
    )


def scrl_loss(
    p: torch.Tensor,
    z: torch.Tensor,
    *,
    valid: torch.Tensor | None = None,
    reduction: str = "mean",
    eps: float = 1e-12,
) -> torch.Tensor:
    r"""Region-level BYOL: :math:`2 - 2\cos` between each box's prediction and its match's target.

    Roh et al., "Spatially Consistent Representation Learning", CVPR 2021, arXiv:2103.06122,
    Sec. 3. Box :math:`k` of image :math:`n` is one region of the image seen in both views;
    :math:`p_{nk} = q_\theta(g_\theta(r^{(1)}_{nk}))` is the online prediction from its RoI
    feature :math:`r^{(1)}_{nk}` in view 1 and :math:`z_{nk} = g_\xi(r^{(2)}_{nk})` the target
    projection of *the same region* in view 2. Over the set :math:`V` of valid boxes,

    .. math::

        \mathcal L_{\mathrm{SCRL}}(p, z) = \frac{1}{|V|}\sum_{(n,k)\in V}
          \Big(2 - 2\,\frac{\langle p_{nk}, \operatorname{sg}(z_{nk})\rangle}
          {\lVert p_{nk}\rVert\,\lVert z_{nk}\rVert}\Big),

    which is :func:`reptutor.losses.byol_loss` applied to the boxes instead of the images
    (:math:`\operatorname{sg}` = stop-gradient). The training objective is symmetrised
    exactly as in the official code, ``scrl_loss(p_1, z_2) + scrl_loss(p_2, z_1)`` (per box,
    both directions summed, then averaged over boxes). With no valid box the mean is 0.

    Args:
        p: online predictions of the boxes in one view, ``(N, K, D)``.
        z: target projections of the matched boxes in the other view, ``(N, K, D)``.
        valid: optional mask, ``(N,)`` (whole images, e.g. crops that barely overlap) or
            ``(N, K)`` (single boxes), bool; ``None`` uses every box.
        reduction: ``"mean"`` over valid boxes, ``"sum"`` over valid boxes, or ``"none"``:
            ``(N, K)`` per-box losses with 0 at invalid boxes.
        eps: the smallest norm divided by.

    Returns:
        A scalar, or ``(N, K)`` for ``reduction="none"``.

    Shape:
        ``(N, K, D), (N, K, D) -> ()`` or ``(N, K)``.

    Raises:
        TypeError / ValueError: for non-floating, non-finite or mismatched inputs, a mask of
            another shape, dtype or device, or an unknown reduction.

    Examples:
        >>> p = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # one image, two boxes
        >>> z = torch.tensor([[[2.0, 0.0], [1.0, 0.0]]])  # box 0 matches, box 1 is orthogonal
        >>> scrl_loss(p, z, reduction="none")
        tensor([[0., 2.]])
        >>> float(scrl_loss(p, z)), float(scrl_loss(p, z, valid=torch.tensor([[True, False]])))
        (1.0, 0.0)
        >>> # with every box valid it is BYOL's loss on the flattened boxes
        >>> p, z = torch.randn(3, 5, 8), torch.randn(3, 5, 8)
        >>> from reptutor.losses import byol_loss
        >>> bool(torch.allclose(scrl_loss(p, z), byol_loss(p.flatten(0, 1), z.flatten(0, 1))))
        True
    """
    _checks.views("p", p, "z", z, ndim=3)
    _checks.choice("reduction", reduction, _REDUCTIONS)
    n, k, d = p.shape
    mask = _mask(valid, n, k, p)  # (N, K) boxes that count
    per_box = byol_loss(p.reshape(n * k, d), z.reshape(n * k, d), reduction="none",
                        eps=eps).view(n, k)  # (N, K) 2 - 2 cos, target detached
    per_box = torch.where(mask, per_box, torch.zeros_like(per_box))
    if reduction == "none":
        return per_box
    total = per_box.sum()
    if reduction == "sum":
        return total
    return total / mask.sum().clamp(min=1).to(per_box.dtype)  # mean over valid boxes


class SCRLLoss(nn.Module):
    r"""Module form of :func:`scrl_loss` (Roh et al., CVPR 2021, arXiv:2103.06122).

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        eps: the smallest norm divided by.

    Shape:
        ``(N, K, D), (N, K, D), [(N,) or (N, K)] -> ()`` or ``(N, K)``.

    Examples:
        >>> loss = SCRLLoss()
        >>> z = torch.randn(2, 3, 4)
        >>> float(loss(z, z)) < 1e-6  # identical regions: no loss
        True
    """

    def __init__(self, *, reduction: str = "mean", eps: float = 1e-12) -> None:
        super().__init__()
        self.reduction = _checks.choice("reduction", reduction, _REDUCTIONS)
        self.eps = _checks.number("eps", eps, positive=True)

    def forward(self, p: torch.Tensor, z: torch.Tensor,
                valid: torch.Tensor | None = None) -> torch.Tensor:
        return scrl_loss(p, z, valid=valid, reduction=self.reduction, eps=self.eps)

    def extra_repr(self) -> str:
        return hyper_parameters(self)
