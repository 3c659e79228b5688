r"""Collapse metrics: how spread out a set of embeddings is, in direction and in rank.

A self-supervised method without negatives (BYOL, SimSiam) can reach a zero loss by mapping
every input to the same vector: *complete collapse*. A milder failure keeps the embeddings
spread along only a few directions: *dimensional collapse*. Two scores detect them:

* :func:`collapse_std`: the per-dimension standard deviation of the :math:`\ell_2`-normalised
  embeddings, averaged over dimensions (Chen & He, "Exploring Simple Siamese Representation
  Learning", CVPR 2021, arXiv:2011.10566v1, Sec. 4.1 and Fig. 2, middle): 0 under complete
  collapse, about :math:`1/\sqrt D` for embeddings spread evenly over the sphere;
* :func:`effective_rank`: the exponential of the entropy of the normalised singular values
  (Roy & Vetterli, "The effective rank: a measure of effective dimensionality", EUSIPCO 2007;
  used as RankMe by Garrido, Balestriero, Najman & LeCun, ICML 2023, arXiv:2210.02885): 1 when
  the centred embeddings lie on a line, :math:`\min(N, D)` when all singular values are equal.

Both are pure metrics: a tensor in, a Python float out, no gradient.
Taught in the chapter *BYOL* (``notebooks/02_noncontrastive/01_byol``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from reptutor import _checks
from reptutor._precision import has_values, upcast

__all__ = ["collapse_std", "effective_rank"]


def collapse_std(z: torch.Tensor, *, eps: float = 1e-12) -> float:
    r"""Mean per-dimension standard deviation of the :math:`\ell_2`-normalised embeddings.

    Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021,
    arXiv:2011.10566v1, Sec. 4.1 (their Fig. 2 plots this quantity; they use the per-channel
    standard deviation of the normalised output). With :math:`\bar z_i = z_i / \max(\lVert
    z_i\rVert_2, \epsilon)` and the population (``1/N``) variance of each coordinate,

    .. math::

        s(Z) = \frac1D \sum_{k=1}^{D} \sqrt{\frac1N \sum_{i=1}^N \big(\bar z_{ik} - \mu_k\big)^2},
        \qquad \mu_k = \frac1N\sum_i \bar z_{ik}.

    Since :math:`\sum_k \mathrm{Var}_k = 1 - \lVert\mu\rVert^2 \le 1` for unit rows, Jensen's
    inequality gives :math:`0 \le s(Z) \le 1/\sqrt D`, with :math:`s = 0` exactly when every
    row has the same direction (complete collapse; a norm-only spread is invisible) and
    :math:`s = 1/\sqrt D` when the directions are centred with equal variance in every
    coordinate (e.g. :math:`N \to \infty` samples of an isotropic Gaussian). Chen & He use the
    unbiased variance; the population variance is used here so that the bound is exact.

    Args:
        z: embeddings, ``(N, D)`` with :math:`N \ge 2`.
        eps: :math:`\epsilon > 0`, the smallest norm divided by (rows of zeros stay zero).

    Returns:
        :math:`s(Z)`, a float in :math:`[0, 1/\sqrt D]`; higher is more spread.

    Shape:
        ``(N, D) -> ()`` (a Python float).

    Raises:
        TypeError: for a non-tensor or non-floating ``z``, or a non-real ``eps``.
        ValueError: for another rank, fewer than 2 rows, non-finite values, a non-positive
            ``eps`` or a ``z`` on the meta device.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> z = torch.randn(20000, 16, generator=g, dtype=torch.float64)
        >>> round(collapse_std(z) * 16 ** 0.5, 2)  # isotropic: s is close to its bound 1/sqrt(D)
        1.0
        >>> collapse_std(torch.ones(5, 16) * torch.arange(1.0, 6.0)[:, None])  # one direction
        0.0
    """
    _checks.tensor("z", z, ndim=2)
    _checks.rows("z", z, 2, "a standard deviation needs 2 samples")
    eps = _checks.number("eps", eps, positive=True)
    has_values("z", z, "collapse_std", "it returns a number")
    z_bar = F.normalize(upcast(z.detach()), dim=1, eps=eps)  # (N, D) unit directions
    std = z_bar.var(dim=0, unbiased=False).sqrt()  # (D,) population std per coordinate
    return float(std.mean())


def effective_rank(z: torch.Tensor, *, center: bool = True) -> float:
    r"""Effective rank of a set of embeddings: :math:`\exp` of the entropy of its singular values.

    Roy & Vetterli, "The effective rank: a measure of effective dimensionality", EUSIPCO 2007,
    eq. (3)-(4); as a collapse score for self-supervised embeddings, RankMe (Garrido et al.,
    ICML 2023, arXiv:2210.02885, eq. 1). With :math:`\sigma_1, \dots, \sigma_r` the singular
    values of :math:`Z` (centred, :math:`Z - \mathbf 1\mu^\top`, when ``center``),
    :math:`r = \min(N, D)`,

    .. math::

        \operatorname{erank}(Z) = \exp\Big(-\sum_{k=1}^{r} p_k \log p_k\Big),
        \qquad p_k = \frac{\sigma_k}{\sum_j \sigma_j},

    with :math:`0 \log 0 = 0`. It lies in :math:`[1, r]`: 1 for a matrix of rank one, :math:`r`
    when all singular values are equal, and it is invariant to rotations and to scaling of
    :math:`Z`. A matrix of zeros (all rows equal, when centred) has no direction at all; its
    effective rank is defined here as 0. RankMe adds :math:`\epsilon = 10^{-7}` to
    :math:`p_k`; without it the value is exact. Half-precision inputs are decomposed in float32.

    Args:
        z: embeddings, ``(N, D)``; :math:`N \ge 2` when ``center``.
        center: subtract the mean row first (the default: a shared offset is not a direction
            of variation); ``False`` uses :math:`Z` as it is, as RankMe does.

    Returns:
        The effective rank, a float in :math:`\{0\} \cup [1, \min(N, D)]`; higher is less
        collapsed.

    Shape:
        ``(N, D) -> ()`` (a Python float).

    Raises:
        TypeError: for a non-tensor or non-floating ``z``, or a non-bool ``center``.
        ValueError: for another rank, too few rows, non-finite values or a ``z`` on the meta
            device.

    Examples:
        >>> effective_rank(torch.eye(4), center=False)  # four equal singular values
        4.0
        >>> z = torch.randn(50, 1) @ torch.randn(1, 8)  # rank one
        >>> round(effective_rank(z), 4)
        1.0
    """
    _checks.tensor("z", z, ndim=2)
    center = _checks.boolean("center", center)
    if center:
        _checks.rows("z", z, 2, "centring needs 2 samples")
    has_values("z", z, "effective_rank", "it returns a number")
    x = upcast(z.detach())
    if center:
        x = x - x.mean(dim=0, keepdim=True)  # (N, D) centred rows
    sigma = torch.linalg.svdvals(x)  # (min(N, D),) singular values, descending
    total = sigma.sum()
    if not float(total) > 0:
        return 0.0
    p = sigma / total  # (r,) a probability vector
    p = p[p > 0]
    entropy = -(p * p.log()).sum()
    return float(math.exp(float(entropy)))
