r"""InfoNCE: the contrastive lower bound on mutual information, and its conditional form.

van den Oord, Li, Vinyals, "Representation Learning with Contrastive Predictive Coding",
arXiv:1807.03748, 2018 (the bound, their Eq. 4 and Appendix A.1); Poole, Ozair, van den Oord,
Alemi, Tucker, "On Variational Bounds of Mutual Information", ICML 2019, arXiv:1905.06922 (the
multi-sample form used here); Sordoni et al., "Decomposed Mutual Information Estimation for
Contrastive Representation Learning", ICML 2021, arXiv:2106.13401 (the conditional form).

**The log K convention.** ``K`` is the number of candidates per anchor *including* the positive
(the batch size for :func:`infonce`, ``1 + M`` negatives for :func:`conditional_infonce`). Every
function returns the bound itself, :math:`\log K - \mathcal L_{\text{NCE}}`, in nats, never the
cross-entropy loss; its deterministic ceiling is :math:`\log K`. (van den Oord et al. write the
same bound with ``N`` for our ``K``.) Train by *maximizing* it (minimize its negative).

Taught in the chapter *Why InfoNCE can't see more than log K, and the chain-rule fix (DEMI)*
(``notebooks/01_information/01_infonce_demi``).
"""
from __future__ import annotations

import math

import torch

from reptutor import _checks
from reptutor._reduction import REDUCTIONS as _REDUCTIONS, reduce as _reduce

__all__ = ["infonce", "conditional_infonce"]




def infonce(scores: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    r"""The InfoNCE lower bound on :math:`I(X;Y)` from a ``(K, K)`` critic matrix, in nats.

    van den Oord, Li, Vinyals, "Representation Learning with Contrastive Predictive Coding",
    arXiv:1807.03748, 2018, Eq. 4 and App. A.1; in the multi-sample form of Poole et al.,
    ICML 2019, arXiv:1905.06922 (their :math:`I_{\text{NCE}}`). With :math:`K` joint pairs
    :math:`(x_i, y_i)` and
    scores :math:`F_{ij} = f(x_i, y_j)`:

    .. math::

        I_{\text{NCE}} = \frac1K\sum_{i=1}^K
          \Big(F_{ii} - \log\sum_{j=1}^K e^{F_{ij}} + \log K\Big)
        = \frac1K\sum_{i=1}^K \log\frac{e^{F_{ii}}}{\frac1K\sum_{j} e^{F_{ij}}} .

    In expectation over batches it lower-bounds :math:`I(X;Y)` for *any* critic, and each row
    term is at most :math:`\log K` (the positive is one of the :math:`K` terms of the
    log-sum-exp), so every batch obeys :math:`I_{\text{NCE}} \le \log K` exactly. The optimal
    critic is :math:`f^\star(x,y) = \log p(y\mid x)/p(y)` plus any function of :math:`x` alone
    (rows are shift-invariant). Computed with a stable log-sum-exp.

    The training-loss face of the same quantity is :func:`reptutor.losses.info_nce_loss`: with
    the scores :math:`F_{ij} = \langle u_i, v_j\rangle/\tau` of two views' embeddings,
    ``info_nce_loss(z_a, z_b, temperature=tau, normalize=False, symmetric=False, reduction=r)``
    equals ``log K - infonce(z_a @ z_b.T / tau, reduction=r)`` (``K = N``; with ``"sum"`` the
    constant is ``K log K``), and its symmetric default is ``log K`` minus the mean of this bound
    on :math:`F` and :math:`F^\top`.

    Args:
        scores: the critic matrix; row ``i`` scores anchor :math:`x_i` against every
            :math:`y_j`, the positive on the diagonal.
        reduction: ``"mean"`` (the bound), ``"sum"`` or ``"none"`` (one term per row).

    Returns:
        The bound in nats (a scalar), or the ``(K,)`` row terms for ``reduction="none"``.

    Shape:
        ``(K, K) -> ()`` or ``(K,)``.

    Raises:
        TypeError: if ``scores`` is not a floating tensor.
        ValueError: if ``scores`` is not a finite square ``(K, K)`` matrix with ``K >= 2``, or
            ``reduction`` is unknown.

    Examples:
        >>> k = 128
        >>> infonce(torch.zeros(k, k))  # a constant critic carries no information
        tensor(0.)
        >>> # a critic that always ranks the positive first saturates at log K, never above
        >>> big = 50.0 * torch.eye(k)
        >>> bool(torch.isclose(infonce(big), torch.tensor(math.log(k))))
        True
        >>> bool(infonce(1e4 * torch.eye(k)) <= math.log(k))
        True
    """
    _checks.tensor("scores", scores, ndim=2)
    _checks.square("scores", scores)
    _checks.rows("scores", scores, 2, "each positive needs a negative")
    _checks.choice("reduction", reduction, _REDUCTIONS)
    k = scores.shape[0]
    # row i: log of (softmax probability of the positive) + log K; logsumexp shifts by the max
    per_row = scores.diagonal() - torch.logsumexp(scores, dim=1) + math.log(k)  # (K,)
    return _reduce(per_row, reduction)


def conditional_infonce(
    pos_scores: torch.Tensor, neg_scores: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    r"""InfoNCE with one positive and ``M`` separate negatives per anchor (conditional form).

    Sordoni et al., "Decomposed Mutual Information Estimation for Contrastive Representation
    Learning", ICML 2021, arXiv:2106.13401 (the conditional InfoNCE bound of Sec. 3; equation
    number not checked). Anchor :math:`i` has a positive score
    :math:`f_i^{+} = f(x_i, c_i, y_i)` and negatives :math:`f_{ij}^{-} = f(x_i, c_i,
    \tilde y_{ij})` with :math:`\tilde y_{ij} \sim p(y\mid c_i)` (:math:`c` a conditioning
    view, e.g. the earlier sub-views :math:`y_{<k}`; no :math:`c` gives ordinary InfoNCE with
    external negatives). With :math:`K = M + 1`:

    .. math::

        I_{\text{CNCE}} = \frac1N\sum_{i=1}^N \Big(f_i^{+} -
          \log\big(e^{f_i^{+}} + \textstyle\sum_{j=1}^M e^{f^{-}_{ij}}\big) + \log K\Big)
          \ \le\ \log K ,

    a lower bound on :math:`I(X; Y\mid C)` in expectation when the negatives really are drawn
    from :math:`p(y\mid c)`. ``infonce(F)`` equals this function on the diagonal of ``F`` and its
    off-diagonal entries.

    Args:
        pos_scores: positive scores, one per anchor.
        neg_scores: negative scores, ``M >= 1`` per anchor.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        The bound in nats, or the ``(N,)`` per-anchor terms for ``reduction="none"``.

    Shape:
        ``(N,), (N, M) -> ()`` or ``(N,)``.

    Raises:
        TypeError: if a score tensor is not floating, or the two differ in dtype.
        ValueError: for non-finite scores, mismatched rows, or an unknown ``reduction``.

    Examples:
        >>> f = torch.randn(6, 6, generator=torch.Generator().manual_seed(0))
        >>> off = f.masked_select(~torch.eye(6, dtype=torch.bool)).view(6, 5)
        >>> bool(torch.isclose(conditional_infonce(f.diagonal(), off), infonce(f)))
        True
        >>> conditional_infonce(torch.zeros(4), torch.zeros(4, 7))  # constant critic: 0 nats
        tensor(0.)
    """
    _checks.tensor("pos_scores", pos_scores, ndim=1)
    _checks.tensor("neg_scores", neg_scores, ndim=2)
    _checks.same_device_dtype("pos_scores", pos_scores, "neg_scores", neg_scores)
    _checks.dim_size("neg_scores", neg_scores, 0, pos_scores.shape[0], "one row per positive")
    _checks.choice("reduction", reduction, _REDUCTIONS)
    k = neg_scores.shape[1] + 1
    everything = torch.cat([pos_scores[:, None], neg_scores], dim=1)  # (N, K) positive first
    per_row = pos_scores - torch.logsumexp(everything, dim=1) + math.log(k)  # (N,)
    return _reduce(per_row, reduction)
