r"""Principal angles between subspaces: how far a learned representation is from a closed form.

Jordan (1875); Björck & Golub, "Numerical methods for computing angles between linear
subspaces", Math. Comp. 27 (1973). Used in the chapter *Self-supervised learning recovers
spectral embeddings* (``notebooks/02_noncontrastive/02_spectral_embedding``) to compare the span
of a trained encoder with the closed-form optimum of Balestriero & LeCun (NeurIPS 2022,
arXiv:2205.11508v2).
"""
from __future__ import annotations

import torch

from reptutor import _checks, _precision

__all__ = ["principal_angles"]


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""The principal angles :math:`0 \le \theta_1 \le \dots \le \theta_m \le \pi/2` between the
    column spans of ``a`` and ``b``, :math:`m = \min(\operatorname{rank} a, \operatorname{rank} b)`
    (full column rank is required).

    With orthonormal bases :math:`Q_a, Q_b` (QR), :math:`\cos\theta_i` are the singular values
    of :math:`Q_a^\top Q_b` and :math:`\sin\theta_i` those of :math:`(I - Q_aQ_a^\top)Q_b`
    (for the larger span in :math:`a`); the angle is
    :math:`\operatorname{atan2}(\sin, \cos)`, accurate for small and large angles alike
    (as ``scipy.linalg.subspace_angles``, which returns them in decreasing order). Computed in
    float64. The largest angle is :math:`0` iff one span contains the other, and
    :math:`\pi/2` when some direction of the smaller span is orthogonal to the other.

    Args:
        a: (D, K_a) columns spanning the first subspace.
        b: (D, K_b) columns spanning the second subspace.

    Returns:
        (m,) angles in radians, increasing, dtype float64 on the device of ``a``. In
        :math:`[0, \pi/2]`; lower means closer.

    Shape:
        ``a``: (D, K_a); ``b``: (D, K_b); output: (min(K_a, K_b),).

    Raises:
        TypeError / ValueError: for tensors that are not finite 2-D float, different numbers of
            rows, or columns that are linearly dependent.

    Examples:
        A plane and a line inside it, and a line at 45 degrees from it.

        >>> plane = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
        >>> principal_angles(plane, torch.tensor([[1.0], [1.0], [0.0]]))
        tensor([0.], dtype=torch.float64)
        >>> round(float(principal_angles(plane, torch.tensor([[1.0], [0.0], [1.0]]))[0]), 4)
        0.7854
    """
    _checks.tensor("a", a, ndim=2)
    _checks.tensor("b", b, ndim=2)
    _checks.same_device("a", a, "b", b)
    _precision.has_values("a", a, "principal_angles", "it factorizes the bases")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b must have the same number of rows (one ambient space), got "
                         f"shapes {tuple(a.shape)} and {tuple(b.shape)}")
    qs = []
    for name, m in (("a", a), ("b", b)):
        if m.shape[1] > m.shape[0]:
            raise ValueError(f"{name} must have linearly independent columns, got {m.shape[1]} "
                             f"columns in dimension {m.shape[0]}")
        q, r = torch.linalg.qr(m.to(torch.float64))  # (D, K) orthonormal basis
        d = r.diagonal().abs()
        if bool((d <= 1e-12 * max(1.0, float(d.max()))).any()):
            raise ValueError(f"{name} must have linearly independent columns (full column rank)")
        qs.append(q)
    qa, qb = qs
    if qa.shape[1] < qb.shape[1]:
        qa, qb = qb, qa  # qa spans the larger subspace
    cos = torch.linalg.svdvals(qa.T @ qb).clamp(max=1.0)  # decreasing
    sin = torch.linalg.svdvals(qb - qa @ (qa.T @ qb)).clamp(max=1.0).flip(0)  # increasing
    return torch.atan2(sin, cos)  # increasing angles
