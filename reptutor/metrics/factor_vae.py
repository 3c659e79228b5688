r"""The FactorVAE disentanglement score: a majority-vote classifier on the least-variant code.

H. Kim, A. Mnih, "Disentangling by Factorising", ICML 2018, arXiv:1802.05983v3, Sec. 4, as
google-research/disentanglement_lib computes it (Locatello et al., ICML 2019,
arXiv:1811.12359v4). The metric is pure: it takes the encoded batches; drawing them (sampling
factors, holding one fixed, calling the encoder) is :func:`reptutor.evaluation.factor_vae_batches`.
All votes are processed at once (one variance call, one argmin, one ``bincount``).

Taught in Part V, *Disentanglement* (``notebooks/05_disentanglement``).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from reptutor import _checks

__all__ = ["FactorVAEResult", "factor_vae_score"]


class FactorVAEResult(NamedTuple):
    """What :func:`factor_vae_score` returns: the score, the classifier and its votes."""

    #: The FactorVAE score: the majority-vote classifier's accuracy on the evaluation votes
    #: (disentanglement_lib's ``eval_accuracy``), in [0, 1], higher is better.
    score: float
    #: Its accuracy on the training votes it was fitted on.
    train_accuracy: float
    #: Number of code dimensions kept (global std >= ``threshold``).
    num_active_dims: int
    #: The factor predicted for each code dimension, shape ``(L,)``.
    classifier: torch.Tensor
    #: Counts of (fixed factor, argmin dimension) on the training votes, shape ``(M, L)``.
    train_votes: torch.Tensor
    #: The same counts on the evaluation votes, shape ``(M, L)``.
    eval_votes: torch.Tensor


def _unbiased_variance(x: torch.Tensor) -> torch.Tensor:
    """Variance over dim 1 of ``(B, N, L)`` with 1/(N-1), two-pass like ``np.var(ddof=1)``.

    On CPU the B problems go through in slices of about 2**17 entries: a slice stays in cache,
    while one pass over the whole tensor spends most of its time allocating and faulting in
    temporaries of its size (measured about 8x slower at B = 15,000, N = 64, L = 10).
    """
    rows = x.shape[0] if x.device.type != "cpu" else max(1, (1 << 17) // (x.shape[1] * x.shape[2]))
    out = torch.empty(x.shape[0], x.shape[2], dtype=x.dtype, device=x.device)  # (B, L)
    for start in range(0, x.shape[0], rows):  # a loop over slices of problems, not samples
        part = x[start:start + rows]  # (b, N, L)
        centred = part - part.mean(dim=1, keepdim=True)  # (b, N, L) z - mean over the batch
        torch.sum(centred.square_(), dim=1, out=out[start:start + rows])  # (b, L)
    return out / (x.shape[1] - 1)


def factor_vae_score(
    codes: torch.Tensor,
    fixed_factor: torch.Tensor,
    *,
    global_codes: torch.Tensor,
    num_factors: int,
    num_train: int,
    threshold: float = 0.05,
) -> FactorVAEResult:
    r"""FactorVAE disentanglement score from precomputed batches with one factor held fixed.

    H. Kim, A. Mnih, "Disentangling by Factorising", ICML 2018, arXiv:1802.05983v3, Sec. 4: a
    vote :math:`t` draws a factor :math:`k_t`, a batch of :math:`N` inputs that share the value
    of factor :math:`k_t` (all else random), encodes them, divides each code dimension by its
    global standard deviation :math:`s_j` and takes the dimension of least variance,

    .. math::

        d_t = \operatorname*{arg\,min}_{j\,:\, s_j \ge \text{threshold}}
        \frac{\widehat{\operatorname{Var}}_{i \le N}(z_{tij})}{s_j^2},

    with unbiased (:math:`1/(N-1)`) variances. The majority-vote classifier maps each dimension to
    the factor it voted for most often on the first ``num_train`` votes,
    :math:`\hat k(j) = \arg\max_k \#\{t : d_t = j, k_t = k\}`; the score is its accuracy
    :math:`\frac{1}{T_{eval}} \sum_t [\hat k(d_t) = k_t]` on the remaining votes.

    This follows disentanglement_lib's ``compute_factor_vae`` (Locatello et al., ICML 2019,
    arXiv:1811.12359v4) step for step: variances with ``ddof=1``; dimensions whose global std is
    below ``threshold`` are pruned (its configurations set 0.05, the "collapsed to the prior"
    rule of the paper); ties go to the lowest index (``np.argmax``/``np.argmin``); with no active
    dimension both accuracies are 0. Differences, none of which changes a score:
    disentanglement_lib indexes votes by position among the active dimensions, this function by
    the dimension itself; it reports ``num_active_dims`` as the length of a boolean mask (always
    :math:`L`), this function as the number of active dimensions; a dimension of zero global
    variance is never active here, even with ``threshold=0``. All votes are processed at once
    (one variance, one argmin, one ``bincount`` of (factor, dimension) pairs); use
    :func:`reptutor.evaluation.factor_vae_batches` to draw the batches from a generator and an
    encoder (sampling and model calls stay out of the metric).

    Args:
        codes: ``B`` batches of ``N`` codes; batch ``t`` shares the value of factor
            ``fixed_factor[t]``. The first ``num_train`` batches train the classifier, the
            others evaluate it (disentanglement_lib: 10,000 and 5,000 batches of 64).
        fixed_factor: the factor held fixed in each batch, in ``[0, num_factors)``.
        global_codes: codes of independent samples for the global variances
            (disentanglement_lib: 10,000).
        num_factors: the number of factors :math:`M`.
        num_train: how many leading batches train the classifier, ``1 <= num_train < B``.
        threshold: minimum global standard deviation of an active dimension (0.05,
            disentanglement_lib's ``prune_dims.threshold``).

    Returns:
        :class:`FactorVAEResult`; ``score`` in [0, 1], higher is better; chance is about
        :math:`1/M` for balanced factors.

    Shape:
        ``codes``: ``(B, N, L)`` with :math:`N \ge 2`; ``fixed_factor``: ``(B,)``;
        ``global_codes``: ``(N_g, L)`` with :math:`N_g \ge 2`.

    Raises:
        TypeError: for non-tensor or non-float codes, a non-integer ``fixed_factor``,
            ``num_factors`` or ``num_train``, or codes of different dtypes.
        ValueError: for wrong shapes, empty or non-finite codes, batches of one code,
            ``fixed_factor`` outside ``[0, num_factors)``, ``num_train`` outside
            ``[1, B)``, a negative ``threshold``, or inputs on different devices.

    Examples:
        An encoder whose dimension :math:`j` is factor :math:`j` (plus noise) always points at
        the fixed factor: the score is 1.

        >>> from reptutor.evaluation import factor_vae_batches
        >>> g = torch.Generator().manual_seed(0)
        >>> def sample(n, gen):
        ...     return torch.randint(0, 10, (n, 3), generator=gen)
        >>> def encode(v):
        ...     return v.float() + 0.01 * torch.randn(v.shape, generator=g)
        >>> codes, k = factor_vae_batches(sample, encode, num_factors=3, num_batches=300,
        ...                               generator=g)
        >>> result = factor_vae_score(codes, k, global_codes=encode(sample(1000, g)),
        ...                           num_factors=3, num_train=200)
        >>> result.score, result.classifier.tolist()
        (1.0, [0, 1, 2])
    """
    _checks.tensor("codes", codes, ndim=3, finite=False)  # finiteness: checked on the variances
    if codes.shape[1] < 2:
        raise ValueError(
            f"codes must hold at least 2 codes per batch (a variance over dim 1), "
            f"got shape {tuple(codes.shape)}"
        )
    _checks.tensor("global_codes", global_codes, ndim=2, min_rows=2)
    _checks.same_device_dtype("codes", codes, "global_codes", global_codes)
    _checks.dim_size("global_codes", global_codes, 1, codes.shape[2], "the code dimension L")
    num_factors = _checks.integer("num_factors", num_factors, minimum=1)
    _checks.labels("fixed_factor", fixed_factor, n=codes.shape[0], num_classes=num_factors,
                   bound_name="num_factors")
    _checks.same_device("codes", codes, "fixed_factor", fixed_factor)
    num_train = _checks.integer("num_train", num_train, minimum=1, maximum=codes.shape[0] - 1)
    threshold = _checks.number("threshold", threshold, nonnegative=True)

    b, _, latent = codes.shape
    global_var = _unbiased_variance(global_codes[None])[0]  # (L,) s_j^2
    active = (global_var.sqrt() >= threshold) & (global_var > 0)  # (L,) not collapsed
    num_active = int(active.sum())
    local_var = _unbiased_variance(codes)  # (B, L); NaN/inf exactly when a batch is not finite
    if not bool(torch.isfinite(local_var).all()):  # one check on (B, L) instead of (B, N, L)
        _checks.tensor("codes", codes, ndim=3)  # raises the shared message for NaN/inf codes
        raise ValueError("codes must be small enough for their variance to be finite in "
                         f"{codes.dtype}, got a batch whose variance overflows")
    ratio = local_var / global_var  # (B, L) variance of normalised codes
    ratio = torch.where(active, ratio, torch.inf)  # pruned dimensions never win the argmin
    argmin = ratio.argmin(dim=1)  # (B,) d_t, first index on ties
    pair = fixed_factor * latent + argmin  # (B,) combined (k_t, d_t) index
    train_votes = torch.bincount(pair[:num_train], minlength=num_factors * latent)
    eval_votes = torch.bincount(pair[num_train:], minlength=num_factors * latent)
    train_votes = train_votes.view(num_factors, latent)  # (M, L)
    eval_votes = eval_votes.view(num_factors, latent)  # (M, L)
    classifier = train_votes.argmax(dim=0)  # (L,) majority factor per dimension, first on ties
    if num_active == 0:  # every dimension collapsed: disentanglement_lib reports 0
        return FactorVAEResult(0.0, 0.0, 0, classifier, train_votes, eval_votes)
    dims = torch.arange(latent, device=codes.device)
    train_acc = int(train_votes[classifier, dims].sum()) / num_train  # exact ratio of counts
    eval_acc = int(eval_votes[classifier, dims].sum()) / (b - num_train)
    return FactorVAEResult(eval_acc, train_acc, num_active, classifier, train_votes, eval_votes)
