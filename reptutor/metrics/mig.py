r"""The mutual information gap (MIG) of codes with respect to discrete ground-truth factors.

R. T. Q. Chen, X. Li, R. Grosse, D. Duvenaud, "Isolating Sources of Disentanglement in
Variational Autoencoders", NeurIPS 2018, arXiv:1802.04942v5, Eq. (6), estimated from samples as
google-research/disentanglement_lib does (Locatello et al., ICML 2019, arXiv:1811.12359v4): the
codes are binned and the plug-in mutual information of :mod:`reptutor.metrics._discrete` is
computed for all (code, factor) pairs at once.

Taught in Part V, *Disentanglement* (``notebooks/05_disentanglement``).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from reptutor import _checks
from reptutor.metrics._discrete import (
    _bin_rows,
    _dense_ids,
    _entropy_columns,
    _integer_matrix,
    _mutual_info_rows,
)

__all__ = ["MIGResult", "mig"]


class MIGResult(NamedTuple):
    """What :func:`mig` returns: the score and the quantities it is made of."""

    #: The MIG, the mean of ``per_factor``, in [0, 1], higher is better.
    score: float
    #: The gap of each factor, :math:`(I_{(1)m} - I_{(2)m}) / H(v_m)`, shape ``(M,)``.
    per_factor: torch.Tensor
    #: The mutual information matrix :math:`I_{jm}` in nats, float64, shape ``(L, M)``.
    mutual_info: torch.Tensor
    #: The factor entropies :math:`H(v_m)` in nats, float64, shape ``(M,)``.
    factor_entropy: torch.Tensor


def mig(codes: torch.Tensor, factors: torch.Tensor, *, bins: int = 20) -> MIGResult:
    r"""Mutual information gap of codes with respect to discrete ground-truth factors.

    R. T. Q. Chen, X. Li, R. Grosse, D. Duvenaud, "Isolating Sources of Disentanglement in
    Variational Autoencoders", NeurIPS 2018, arXiv:1802.04942v5, Eq. (6): for each factor the gap
    between the two code dimensions that share the most information with it, normalised by its
    entropy, averaged over the :math:`M` factors,

    .. math::

        \mathrm{MIG} = \frac1M \sum_{m=1}^{M} \frac{I(z_{j^{(1)}_m}; v_m) -
        I(z_{j^{(2)}_m}; v_m)}{H(v_m)},

    where :math:`j^{(1)}_m, j^{(2)}_m` are the dimensions with the largest and second largest
    mutual information with :math:`v_m`. The paper estimates :math:`I` from the encoder's
    distribution :math:`q(z \mid x)`; like disentanglement_lib (Locatello et al., ICML 2019,
    arXiv:1811.12359v4), which this follows exactly, it is estimated here from samples: each code
    dimension is binned by :func:`discretize` into ``bins`` bins and
    :func:`discrete_mutual_info` gives the plug-in estimate (nats; the ratio is base-free).

    Args:
        codes: codes (e.g. the posterior means) of ``N`` samples.
        factors: their ground-truth factors, integer dtype.
        bins: bins per code dimension; 20 in disentanglement_lib's MIG configuration.

    Returns:
        :class:`MIGResult`; ``score`` is in [0, 1], higher is better.

    Shape:
        ``codes``: ``(N, L)`` with :math:`L \ge 2`; ``factors``: ``(N, M)``.

    Raises:
        TypeError: for non-tensor inputs, non-float codes, integer-free factors or a non-integer
            ``bins``.
        ValueError: for wrong ranks, empty or non-finite codes, fewer than two code dimensions,
            different numbers of rows, different devices, ``bins < 1``, or a constant factor
            (its entropy is 0 and the gap is undefined).

    Examples:
        Codes that copy the factors (plus a useless constant dimension) score 1, and so do
        their permutations; adding a second copy of a factor closes its gap:

        >>> g = torch.Generator().manual_seed(0)
        >>> v = torch.randint(0, 4, (1000, 2), generator=g)
        >>> z = torch.cat([v.float(), torch.zeros(1000, 1)], dim=1)
        >>> round(mig(z, v).score, 6), round(mig(z[:, [2, 1, 0]], v).score, 6)
        (1.0, 1.0)
        >>> round(mig(torch.cat([z, v[:, :1].float()], dim=1), v).score, 6)
        0.5
    """
    _checks.tensor("codes", codes, ndim=2)
    if codes.shape[1] < 2:
        raise ValueError(
            f"codes must have at least 2 dimensions (MIG is a gap between the top two), "
            f"got shape {tuple(codes.shape)}"
        )
    _integer_matrix("factors", factors, n=codes.shape[0])
    _checks.same_device("codes", codes, "factors", factors)
    ids = _dense_ids(factors)  # (N, M)
    entropy = _entropy_columns(ids)  # (M,) H(v_m)
    constant = (entropy == 0).nonzero().flatten().tolist()
    if constant:
        raise ValueError(
            f"factors must not be constant: column(s) {constant} take a single value, so their "
            f"entropy is 0 and the gap is undefined"
        )
    bins = _checks.integer("bins", bins, minimum=1)
    # (L, N) bins and (M, N) ids: the layout the joint histograms are built in
    mi = _mutual_info_rows(_bin_rows(codes.T.contiguous(), bins), ids.T.contiguous())  # (L, M)
    top2 = mi.topk(2, dim=0).values  # (2, M) largest and second largest I over code dims
    per_factor = (top2[0] - top2[1]) / entropy  # (M,)
    return MIGResult(float(per_factor.mean()), per_factor, mi, entropy)
