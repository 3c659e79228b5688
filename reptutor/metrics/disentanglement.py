r"""Supervised disentanglement metrics: MIG, the FactorVAE score and DCI, vectorized.

Each metric compares codes :math:`z \in \mathbb{R}^{N \times L}` of an encoder with the
ground-truth factors :math:`v \in \mathbb{Z}^{N \times M}` that generated the inputs. The
definitions follow the papers; where a detail is left open (how codes are binned, which dimensions
are pruned, which regressor gives the importances) the choice of
google-research/disentanglement_lib (Locatello et al., "Challenging Common Assumptions in the
Unsupervised Learning of Disentangled Representations", ICML 2019, arXiv:1811.12359v4) is
followed and said, so that the numbers agree with the values reported in that study.

The implementations are tensor programs without Python loops over samples or over (code, factor)
pairs: one histogram for all :math:`L \times M` joint distributions (a single ``bincount`` on a
combined index), one variance call for all FactorVAE votes, one batched solver for all factors of
DCI. They run on the device of their inputs.

Taught in Part V, *Disentanglement* (``notebooks/05_disentanglement``).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

from reptutor import _checks

__all__ = [
    "discretize",
    "discrete_mutual_info",
    "discrete_entropy",
    "MIGResult",
    "mig",
    "FactorVAEResult",
    "factor_vae_score",
    "factor_vae_batches",
    "DCIScores",
    "DCIResult",
    "dci_from_importance",
    "dci",
]

# Largest dense joint histogram (cells) built in one bincount; above it the non-empty cells are
# found by sorting instead (memory O(N L M) whatever the number of distinct values).
_DENSE_CELLS = 1 << 24


# ---------------------------------------------------------------------------------------------
# Validation helpers (factor matrices: the shared integer check plus a row count).
# ---------------------------------------------------------------------------------------------
def _integer_matrix(name: str, x: object, *, n: int | None = None) -> torch.Tensor:
    _checks.integers(name, x, ndim=2, layout="(N, M)")
    if n is not None and x.shape[0] != n:
        raise ValueError(
            f"{name} must have {n} rows (one per sample of the codes), got shape {tuple(x.shape)}"
        )
    return x


def _dense_ids(x: torch.Tensor) -> torch.Tensor:
    """Renumber each column of an integer matrix to ``0..(distinct values - 1)``, order kept."""
    values, order = x.sort(dim=0)  # (N, C) each column sorted
    new = torch.zeros_like(values)
    new[1:] = (values[1:] != values[:-1]).cumsum(0)  # (N, C) rank of each distinct value
    return torch.empty_like(new).scatter_(0, order, new)  # (N, C) back in sample order


# ---------------------------------------------------------------------------------------------
# Histograms and discrete information.
# ---------------------------------------------------------------------------------------------
def discretize(codes: torch.Tensor, *, bins: int = 20) -> torch.Tensor:
    r"""Bin every code dimension into ``bins`` equal-width bins between its minimum and maximum.

    The histogram discretization of disentanglement_lib (``_histogram_discretize``, used by its
    MIG with ``num_bins = 20``; Locatello et al., ICML 2019, arXiv:1811.12359v4), reproduced
    edge for edge. For dimension :math:`j` with :math:`a_j = \min_i z_{ij}`,
    :math:`b_j = \max_i z_{ij}` (widened to :math:`a_j - \tfrac12, b_j + \tfrac12` when they are
    equal, as ``np.histogram`` does), the left bin edges are
    :math:`e_{jk} = a_j + k\,\frac{b_j - a_j}{\text{bins}}`, :math:`k = 0, \dots,
    \text{bins} - 1`, computed in the codes' dtype in the same order of operations as
    ``np.linspace``, and the bin of :math:`z_{ij}` is

    .. math::

        c_{ij} = \max\{k : e_{jk} \le z_{ij}\} \in \{0, \dots, \text{bins} - 1\},

    so the maximum falls in the last bin. disentanglement_lib stores ``np.digitize`` of the same
    edges, which is :math:`c_{ij} + 1`; mutual information does not see the shift. For float32
    and float64 codes the bins equal NumPy's exactly.

    Args:
        codes: real-valued codes.
        bins: number of bins per dimension (disentanglement_lib's MIG uses 20).

    Returns:
        Bin indices in ``[0, bins)``, dtype ``torch.long``, on the codes' device.

    Shape:
        ``codes``: ``(N, L)``; output ``(N, L)``.

    Raises:
        TypeError: if ``codes`` is not a floating-point tensor or ``bins`` is not an integer.
        ValueError: if ``codes`` is not 2-D, empty or not finite, or ``bins < 1``.

    Examples:
        Equal-width bins: 0, 0.5 and 1 with two bins land in bins 0, 1, 1 (the maximum goes to
        the last bin), and a constant dimension lands in a single bin:

        >>> z = torch.tensor([[0.0, 3.0], [0.5, 3.0], [1.0, 3.0]])
        >>> discretize(z, bins=2).T.tolist()
        [[0, 1, 1], [1, 1, 1]]
    """
    _checks.tensor("codes", codes, ndim=2)
    bins = _checks.integer("bins", bins, minimum=1)
    x = codes.T.contiguous()  # (L, N): searchsorted wants one sorted edge row per dimension
    low, high = x.min(dim=1).values, x.max(dim=1).values  # (L,), (L,)
    flat = low == high  # np.histogram widens an empty range by 1/2 on both sides
    low, high = torch.where(flat, low - 0.5, low), torch.where(flat, high + 0.5, high)
    delta = high - low  # (L,)
    step = delta / bins  # (L,) np.linspace's step, rounded in the codes' dtype
    k = torch.arange(bins, device=x.device, dtype=x.dtype)  # (bins,) left edges only
    # np.linspace multiplies by the step, except for a step that underflows to 0 (gh-5437)
    edges = torch.where((step == 0)[:, None], k / bins * delta[:, None], k * step[:, None])
    edges = edges + low[:, None]  # (L, bins) left bin edges, the last edge (the max) dropped
    return (torch.searchsorted(edges, x, right=True) - 1).T  # (N, L) np.digitize - 1


def _joint_counts(a: torch.Tensor, b: torch.Tensor):
    """Non-empty cells of all joint histograms of columns of ``a`` (N, P) and ``b`` (N, Q).

    ``a`` and ``b`` hold renumbered ids. Returns, for the C non-empty cells, the pair index
    ``p * Q + q``, the cell count and the two marginal counts of the cell's values, each (C,).
    """
    p_cols, q_cols = a.shape[1], b.shape[1]
    ka, kb = int(a.max()) + 1, int(b.max()) + 1  # distinct values per column are at most these
    cells = p_cols * ka * q_cols * kb
    small = torch.int32 if cells < 2**31 else torch.int64  # int32 halves the traffic
    # cell = ((p * ka + a) * Q + q) * kb + b, built as one broadcast sum of two small tables
    row_a = (torch.arange(p_cols, device=a.device) * ka + a).to(small) * (q_cols * kb)  # (N, P)
    row_b = (torch.arange(q_cols, device=a.device) * kb + b).to(small)  # (N, Q)
    cell = (row_a[:, :, None] + row_b[:, None, :]).reshape(-1)  # (N * P * Q,)
    if cells <= _DENSE_CELLS:
        counts = torch.bincount(cell, minlength=cells)  # one pass: every joint histogram
        index = counts.nonzero().squeeze(1)  # (C,) non-empty cells
        counts = counts[index]
    else:  # too many cells for a dense table: sort the N P Q indices instead
        index, counts = torch.unique(cell.long(), return_counts=True)
    p, a_val = index // (ka * q_cols * kb), index // (q_cols * kb) % ka  # (C,), (C,)
    q, b_val = index // kb % q_cols, index % kb  # (C,), (C,)
    count_a = torch.bincount((row_a // (q_cols * kb)).reshape(-1), minlength=p_cols * ka)
    count_b = torch.bincount(row_b.reshape(-1), minlength=q_cols * kb)  # (Q * kb,)
    n_a = count_a[p * ka + a_val]  # (C,) marginal count of the code value
    n_b = count_b[q * kb + b_val]  # (C,) marginal count of the factor value
    return p * q_cols + q, counts, n_a, n_b


def _mutual_info_pairs(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(P, Q) float64 plug-in mutual information in nats of every column pair, renumbered ids."""
    n, p_cols, q_cols = a.shape[0], a.shape[1], b.shape[1]
    pair_id, n_ab, n_a, n_b = _joint_counts(a, b)
    n_ab, n_a, n_b = n_ab.double(), n_a.double(), n_b.double()
    # I = sum_ab (n_ab / N) log(N n_ab / (n_a n_b)), term by term as mutual_info_score
    # (same order of operations: log(n_ab / N) + log(N^2 / (n_a n_b)), the product taken first)
    term = n_ab / n * ((n_ab.log() - math.log(n)) + (2 * math.log(n) - (n_a * n_b).log()))
    term = torch.where(term.abs() < torch.finfo(torch.float64).eps, 0.0, term)  # as scikit-learn
    mi = torch.zeros(p_cols * q_cols, dtype=torch.float64, device=a.device)
    mi = mi.index_add_(0, pair_id, term).view(p_cols, q_cols)  # (P, Q)
    return mi.clamp_min(0.0)  # scikit-learn clips round-off below 0


def discrete_mutual_info(codes_discrete: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    r"""Plug-in mutual information between every discrete code dimension and every factor.

    For code dimension :math:`j` and factor :math:`m`, with joint counts :math:`n_{ab}` of
    :math:`(c_{ij}, v_{im}) = (a, b)` and marginal counts :math:`n_a, n_b`,

    .. math::

        I_{jm} = \sum_{a, b} \frac{n_{ab}}{N} \log \frac{N\, n_{ab}}{n_a n_b}
        \quad\text{(nats)},

    the quantity of ``sklearn.metrics.mutual_info_score`` (which disentanglement_lib's
    ``discrete_mutual_info`` calls once per pair; Locatello et al., ICML 2019,
    arXiv:1811.12359v4). All :math:`L \times M` joint histograms come from one ``bincount`` on a
    combined (pair, code value, factor value) index. Values are arbitrary integers: each column is
    renumbered first, which changes no count. Computed in float64 from the counts.

    Args:
        codes_discrete: discrete codes, integer dtype (e.g. :func:`discretize`'s output).
        factors: discrete ground-truth factors, integer dtype.

    Returns:
        The matrix :math:`I` in nats, float64, each entry in
        :math:`[0, \min(H(c_j), H(v_m))]`.

    Shape:
        ``codes_discrete``: ``(N, L)``; ``factors``: ``(N, M)``; output ``(L, M)``.

    Raises:
        TypeError: for a non-tensor or non-integer input.
        ValueError: for a non-2-D or empty input, different numbers of rows, or inputs on
            different devices.

    Examples:
        A code that copies a factor shares all its entropy; a constant code shares none:

        >>> v = torch.tensor([[0], [1], [2], [3]])
        >>> c = torch.tensor([[7, 0], [8, 0], [9, 0], [10, 0]])
        >>> mi = discrete_mutual_info(c, v)
        >>> torch.allclose(mi[0, 0], discrete_entropy(v)[0]), mi[1, 0].item()
        (True, 0.0)
    """
    _integer_matrix("codes_discrete", codes_discrete)
    _integer_matrix("factors", factors, n=codes_discrete.shape[0])
    _checks.same_device("codes_discrete", codes_discrete, "factors", factors)
    return _mutual_info_pairs(_dense_ids(codes_discrete), _dense_ids(factors))


def _entropy_columns(ids: torch.Tensor) -> torch.Tensor:
    n, m = ids.shape
    k = int(ids.max()) + 1
    counts = torch.bincount((torch.arange(m, device=ids.device) * k + ids).reshape(-1),
                            minlength=m * k).view(m, k).double()  # (M, K) value counts
    p = counts / n
    h = -torch.where(counts > 0, p * p.clamp_min(1e-300).log(), 0.0).sum(1)  # (M,) 0 log 0 = 0
    return h.clamp_min(0.0)


def discrete_entropy(factors: torch.Tensor) -> torch.Tensor:
    r"""Plug-in entropy :math:`H(v_m) = -\sum_b \frac{n_b}{N} \log \frac{n_b}{N}` of each column.

    In nats; the same as disentanglement_lib's ``discrete_entropy`` (``mutual_info_score`` of a
    factor with itself; Locatello et al., ICML 2019, arXiv:1811.12359v4), for all columns at once.

    Args:
        factors: discrete factors, integer dtype (arbitrary values).

    Returns:
        Entropies in :math:`[0, \log N]`, float64.

    Shape:
        ``factors``: ``(N, M)``; output ``(M,)``.

    Raises:
        TypeError: for a non-tensor or non-integer input.
        ValueError: for a non-2-D or empty input.

    Examples:
        A uniform factor over four values has entropy :math:`\log 4`; a constant one, 0:

        >>> import math
        >>> h = discrete_entropy(torch.tensor([[0, 5], [1, 5], [2, 5], [3, 5]]))
        >>> math.isclose(h[0].item(), math.log(4)), h[1].item()
        (True, 0.0)
    """
    _integer_matrix("factors", factors)
    return _entropy_columns(_dense_ids(factors))


# ---------------------------------------------------------------------------------------------
# MIG.
# ---------------------------------------------------------------------------------------------
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
    mi = _mutual_info_pairs(discretize(codes, bins=bins), ids)  # (L, M)
    top2 = mi.topk(2, dim=0).values  # (2, M) largest and second largest I over code dims
    per_factor = (top2[0] - top2[1]) / entropy  # (M,)
    return MIGResult(float(per_factor.mean()), per_factor, mi, entropy)


# ---------------------------------------------------------------------------------------------
# FactorVAE score.
# ---------------------------------------------------------------------------------------------
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
    :func:`factor_vae_batches` to draw the batches from a generator and an encoder.

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


def factor_vae_batches(
    sample_factors: Callable[[int, torch.Generator], torch.Tensor],
    encode: Callable[[torch.Tensor], torch.Tensor],
    *,
    num_factors: int,
    num_batches: int,
    batch_size: int = 64,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draw the FactorVAE votes' batches: one factor held fixed per batch, then encode all.

    The sampling of Kim & Mnih, "Disentangling by Factorising", ICML 2018, arXiv:1802.05983v3,
    Sec. 4, as disentanglement_lib draws it: for batch :math:`t`, a factor :math:`k_t` uniform in
    :math:`\{0, \dots, M-1\}`, ``batch_size`` independent factor vectors from ``sample_factors``,
    and factor :math:`k_t` of every row set to the first row's value. All
    ``num_batches * batch_size`` factor vectors are drawn and encoded in one call each, so
    ``encode`` should batch internally if that is too large for memory.

    Args:
        sample_factors: ``sample_factors(n, generator)`` returns ``(n, M)`` factors.
        encode: maps ``(n, M)`` factors to ``(n, L)`` codes (render then encode, typically).
        num_factors: the number of factors :math:`M`.
        num_batches: number of batches :math:`B` (votes).
        batch_size: codes per batch :math:`N` (64 in disentanglement_lib).
        generator: the source of randomness (the fixed factor of each batch and, passed on,
            the factors).

    Returns:
        ``(codes, fixed_factor)`` ready for :func:`factor_vae_score`.

    Shape:
        ``codes``: ``(B, N, L)``; ``fixed_factor``: ``(B,)`` (long, on the factors' device).

    Raises:
        TypeError: for non-integer sizes, a missing generator, or a ``sample_factors`` or
            ``encode`` that is not callable.
        ValueError: for sizes below their minimum, or callables returning a non-tensor or the
            wrong shape.

    Examples:
        In every batch the fixed factor takes a single value:

        >>> g = torch.Generator().manual_seed(0)
        >>> def sample(n, gen):
        ...     return torch.randint(0, 5, (n, 2), generator=gen)
        >>> codes, k = factor_vae_batches(sample, lambda v: v.float(), num_factors=2,
        ...                               num_batches=4, batch_size=8, generator=g)
        >>> bool((codes[torch.arange(4), :, k].std(dim=1) == 0).all()), tuple(codes.shape)
        (True, (4, 8, 2))
    """
    num_factors = _checks.integer("num_factors", num_factors, minimum=1)
    num_batches = _checks.integer("num_batches", num_batches, minimum=1)
    batch_size = _checks.integer("batch_size", batch_size, minimum=2)
    for name, fn in (("sample_factors", sample_factors), ("encode", encode)):
        if not callable(fn):
            raise TypeError(f"{name} must be callable, got {_checks._describe(fn)}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {_checks._describe(generator)}")
    n = num_batches * batch_size
    factors = sample_factors(n, generator)
    if not isinstance(factors, torch.Tensor) or tuple(factors.shape) != (n, num_factors):
        raise ValueError(
            f"sample_factors(n, generator) must return a tensor of shape ({n}, {num_factors}), "
            f"got {_checks._describe(factors)}"
        )
    fixed = torch.randint(0, num_factors, (num_batches,), generator=generator,
                          device=generator.device).to(factors.device)  # (B,) k_t
    factors = factors.reshape(num_batches, batch_size, num_factors)  # (B, N, M)
    hold = torch.nn.functional.one_hot(fixed, num_factors).bool()[:, None, :]  # (B, 1, M)
    factors = torch.where(hold, factors[:, :1, :], factors)  # factor k_t copied from row 0
    codes = encode(factors.reshape(n, num_factors))
    if not isinstance(codes, torch.Tensor) or codes.ndim != 2 or codes.shape[0] != n:
        raise ValueError(
            f"encode must return a tensor of shape ({n}, L), got {_checks._describe(codes)}"
        )
    return codes.reshape(num_batches, batch_size, codes.shape[1]), fixed  # (B, N, L), (B,)


# ---------------------------------------------------------------------------------------------
# DCI.
# ---------------------------------------------------------------------------------------------
class DCIScores(NamedTuple):
    """What :func:`dci_from_importance` returns."""

    #: Importance-weighted mean of ``disentanglement_per_code``, in [0, 1], higher is better.
    disentanglement: float
    #: Importance-weighted mean of ``completeness_per_factor``, in [0, 1], higher is better.
    completeness: float
    #: :math:`D_j = 1 - H_M(P_{j\cdot})` of each code dimension, shape ``(L,)``.
    disentanglement_per_code: torch.Tensor
    #: :math:`C_m = 1 - H_L(\tilde P_{\cdot m})` of each factor, shape ``(M,)``.
    completeness_per_factor: torch.Tensor


class DCIResult(NamedTuple):
    """What :func:`dci` returns: the three scores, their parts and the importance matrix."""

    #: As in :class:`DCIScores`, in [0, 1], higher is better.
    disentanglement: float
    #: As in :class:`DCIScores`, in [0, 1], higher is better.
    completeness: float
    #: Mean normalised RMSE of the linear predictions of the standardised factors,
    #: :math:`\ge 0`, lower is better (1 = predicting the mean).
    informativeness: float
    #: Shape ``(L,)``, as in :class:`DCIScores`.
    disentanglement_per_code: torch.Tensor
    #: Shape ``(M,)``, as in :class:`DCIScores`.
    completeness_per_factor: torch.Tensor
    #: The importance matrix :math:`R = |W|`, shape ``(L, M)``.
    importance: torch.Tensor


def _entropy_score(p: torch.Tensor, base: int, dim: int) -> torch.Tensor:
    """1 - entropy (base ``base``) of ``p + 1e-11`` normalised along ``dim``, as scipy.stats."""
    q = p + 1e-11  # disentanglement_lib's offset: all-zero rows become uniform, not 0/0
    q = q / q.sum(dim=dim, keepdim=True)
    return 1.0 - (-(q * q.log()).sum(dim=dim) / math.log(base))


def dci_from_importance(importance: torch.Tensor) -> DCIScores:
    r"""Disentanglement and completeness of an importance matrix.

    C. Eastwood, C. K. I. Williams, "A Framework for the Quantitative Evaluation of Disentangled
    Representations", ICLR 2018 (openreview By-7dz-AZ), Sec. 3. With :math:`R_{jm} \ge 0` the
    importance of code dimension :math:`j` for predicting factor :math:`m`,
    :math:`P_{jm} = R_{jm} / \sum_{m'} R_{jm'}` and :math:`\tilde P_{jm} = R_{jm} /
    \sum_{j'} R_{j'm}`,

    .. math::

        D = \sum_j \rho_j \big(1 - H_M(P_{j\cdot})\big), \quad
        \rho_j = \frac{\sum_m R_{jm}}{\sum_{j m} R_{jm}}, \qquad
        C = \sum_m \tilde\rho_m \big(1 - H_L(\tilde P_{\cdot m})\big), \quad
        \tilde\rho_m = \frac{\sum_j R_{jm}}{\sum_{j m} R_{jm}},

    with :math:`H_K(p) = -\sum_k p_k \log_K p_k`. As disentanglement_lib
    (``disentanglement``/``completeness``; Locatello et al., ICML 2019, arXiv:1811.12359v4),
    :math:`10^{-11}` is added to :math:`R` inside the entropies, and weights are uniform when
    :math:`R = 0`. The paper averages :math:`C` uniformly over factors in its released code;
    the weighted version here is disentanglement_lib's.

    Args:
        importance: non-negative importance matrix :math:`R`.

    Returns:
        :class:`DCIScores`; both scores in [0, 1], higher is better.

    Shape:
        ``importance``: ``(L, M)`` with :math:`L, M \ge 2`.

    Raises:
        TypeError: for a non-tensor or non-float input.
        ValueError: for a non-2-D, empty or non-finite input, fewer than two rows or columns,
            or a negative entry.

    Examples:
        A diagonal importance (each code predicts one factor, alone) is perfectly disentangled
        and complete; a uniform one is neither:

        >>> s = dci_from_importance(torch.eye(3, dtype=torch.float64))
        >>> round(s.disentanglement, 6), round(s.completeness, 6)
        (1.0, 1.0)
        >>> s = dci_from_importance(torch.ones(3, 3, dtype=torch.float64))
        >>> round(s.disentanglement, 6), round(s.completeness, 6)
        (0.0, 0.0)
    """
    _checks.tensor("importance", importance, ndim=2, min_rows=2)
    if importance.shape[1] < 2:
        raise ValueError(
            f"importance must have at least 2 columns (factors), got shape {tuple(importance.shape)}"
        )
    if bool((importance < 0).any()):
        raise ValueError(
            f"importance must be non-negative, got minimum {float(importance.min())}"
        )
    latent, factors = importance.shape
    per_code = _entropy_score(importance, factors, dim=1)  # (L,) 1 - H_M over factors
    per_factor = _entropy_score(importance, latent, dim=0)  # (M,) 1 - H_L over codes
    weights = importance if bool(importance.sum() > 0) else torch.ones_like(importance)
    rho = weights.sum(dim=1) / weights.sum()  # (L,) relative importance of each code
    rho_tilde = weights.sum(dim=0) / weights.sum()  # (M,) relative importance of each factor
    return DCIScores(float((rho * per_code).sum()), float((rho_tilde * per_factor).sum()),
                     per_code, per_factor)


def _standardize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (x - mean) / torch.where(std > 0, std, 1.0)  # a constant column stays 0, not NaN


def _lasso_fista(gram: torch.Tensor, cross: torch.Tensor, alpha: float, max_iter: int,
                 tol: float) -> torch.Tensor:
    """Minimise 1/2 w^T G w - c^T w + alpha |w|_1 for all M columns of ``cross`` at once."""
    lipschitz = torch.linalg.eigvalsh(gram)[-1].clamp_min(1e-12)  # step 1/L of the smooth part
    w = torch.zeros_like(cross)  # (L, M)
    y, t = w, 1.0
    for _ in range(max_iter):  # a loop over iterations, not samples
        u = y - (gram @ y - cross) / lipschitz  # gradient step on the squared error
        w_next = torch.sign(u) * (u.abs() - alpha / lipschitz).clamp_min(0.0)  # soft threshold
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        y = w_next + (t - 1.0) / t_next * (w_next - w)  # Nesterov momentum (FISTA)
        done = bool((w_next - w).abs().max() <= tol)
        w, t = w_next, t_next
        if done:
            break
    return w


def dci(
    codes: torch.Tensor,
    factors: torch.Tensor,
    *,
    importance: str = "lasso",
    alpha: float = 0.02,
    eval_codes: torch.Tensor | None = None,
    eval_factors: torch.Tensor | None = None,
    max_iter: int = 5000,
    tol: float = 1e-7,
) -> DCIResult:
    r"""Disentanglement, completeness and informativeness with a linear importance matrix.

    C. Eastwood, C. K. I. Williams, "A Framework for the Quantitative Evaluation of Disentangled
    Representations", ICLR 2018 (openreview By-7dz-AZ). Codes and factors are standardised
    (mean 0, population std 1, with the statistics of ``codes``/``factors``); one linear
    regressor per factor predicts :math:`\hat v_m = z^\top w_m`, all :math:`M` at once:

    * ``"lasso"`` (the paper's linear choice, with its released code's :math:`\alpha = 0.02`):
      :math:`\min_W \frac{1}{2N} \lVert V - Z W \rVert_F^2 + \alpha \lVert W \rVert_1`
      (scikit-learn's ``Lasso`` objective), solved by FISTA on the :math:`L \times L` Gram
      matrix until no weight moves by more than ``tol``;
    * ``"ridge"``: :math:`\min_W \frac{1}{N} \lVert V - Z W \rVert_F^2 + \alpha \lVert W
      \rVert_F^2`, in closed form :math:`W = (Z^\top Z / N + \alpha I)^{-1} Z^\top V / N`.

    The importance is :math:`R = |W|` and :func:`dci_from_importance` gives :math:`D` and
    :math:`C`. Informativeness is the paper's prediction error: the mean over factors of the
    normalised RMSE :math:`\sqrt{\operatorname{mean}_i (v_{im} - \hat v_{im})^2} /
    \operatorname{std}(v_m)` on ``eval_codes``/``eval_factors`` when given, else in sample.

    Difference from disentanglement_lib, whose ``compute_dci`` fits one scikit-learn
    gradient-boosted tree ensemble per factor (CPU only, seconds to minutes) and reports
    classification accuracies as informativeness: the linear importances here are the paper's
    Lasso (its other choice was random forests), run on the codes' device in milliseconds, and
    they only see linear relations, so a code that encodes a factor non-monotonically gets low
    importance. :func:`dci_from_importance` accepts any importance matrix (trees included).

    Args:
        codes: training codes.
        factors: their factors (integer or floating dtype, treated as real values).
        importance: ``"lasso"`` or ``"ridge"``.
        alpha: regularisation strength :math:`\alpha \ge 0` (on standardised variables).
        eval_codes: optional held-out codes for informativeness.
        eval_factors: their factors; given exactly when ``eval_codes`` is.
        max_iter: maximum FISTA iterations (Lasso).
        tol: FISTA stops when no weight changes by more than this (Lasso).

    Returns:
        :class:`DCIResult`.

    Shape:
        ``codes``: ``(N, L)``, :math:`L \ge 2`; ``factors``: ``(N, M)``, :math:`M \ge 2`;
        ``eval_codes``: ``(N', L)``; ``eval_factors``: ``(N', M)``.

    Raises:
        TypeError: for non-tensor or non-float codes, non-real factors, non-number
            hyper-parameters, or float codes and factors (train or eval) of different dtypes.
        ValueError: for wrong shapes or row counts, non-finite values, an unknown
            ``importance``, a negative ``alpha``, only one of ``eval_codes``/``eval_factors``,
            or inputs on different devices.

    Examples:
        Codes that are a scaled permutation of the factors are disentangled and complete;
        a 45-degree rotation of the factors, which mixes both into both codes equally, is
        neither:

        >>> g = torch.Generator().manual_seed(0)
        >>> v = torch.randn(2000, 2, generator=g, dtype=torch.float64)
        >>> r = dci(v[:, [1, 0]] * 5.0, v)
        >>> round(r.disentanglement, 3), round(r.completeness, 3)
        (1.0, 1.0)
        >>> rotation = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
        >>> r = dci(v @ rotation, v, importance="ridge", alpha=0.0)
        >>> r.disentanglement < 0.01, r.completeness < 0.01, r.informativeness < 1e-6
        (True, True, True)
    """
    _checks.tensor("codes", codes, ndim=2, min_rows=2)
    if codes.shape[1] < 2:
        raise ValueError(f"codes must have at least 2 dimensions, got shape {tuple(codes.shape)}")
    if not isinstance(factors, torch.Tensor):
        raise TypeError(f"factors must be a torch.Tensor, got {_checks._describe(factors)}")
    if factors.dtype.is_complex or factors.dtype == torch.bool:
        raise TypeError(f"factors must have a real (integer or float) dtype, got {factors.dtype}")
    factors = factors.to(codes.dtype) if not factors.is_floating_point() else factors
    _checks.tensor("factors", factors, ndim=2)
    if factors.shape[1] < 2:
        raise ValueError(f"factors must have at least 2 columns, got shape {tuple(factors.shape)}")
    _checks.dim_size("factors", factors, 0, codes.shape[0], "one row per code")
    _checks.same_device_dtype("codes", codes, "factors", factors)
    importance = _checks.choice("importance", importance, ("lasso", "ridge"))
    alpha = _checks.number("alpha", alpha, nonnegative=True)
    max_iter = _checks.integer("max_iter", max_iter, minimum=1)
    tol = _checks.number("tol", tol, positive=True)
    if (eval_codes is None) != (eval_factors is None):
        raise ValueError("eval_codes and eval_factors must be given together, got only one")
    if eval_codes is not None:
        _checks.tensor("eval_codes", eval_codes, ndim=2)
        _checks.same_device_dtype("codes", codes, "eval_codes", eval_codes)
        _checks.dim_size("eval_codes", eval_codes, 1, codes.shape[1], "the code dimension L")
        if not isinstance(eval_factors, torch.Tensor):
            raise TypeError(
                f"eval_factors must be a torch.Tensor, got {_checks._describe(eval_factors)}")
        if eval_factors.dtype.is_complex or eval_factors.dtype == torch.bool:
            raise TypeError(
                f"eval_factors must have a real (integer or float) dtype, got {eval_factors.dtype}")
        if not eval_factors.is_floating_point():  # integer factors are real values, as factors
            eval_factors = eval_factors.to(codes.dtype)
        _checks.tensor("eval_factors", eval_factors, ndim=2)
        _checks.dim_size("eval_factors", eval_factors, 0, eval_codes.shape[0],
                         "one row per eval code")
        _checks.dim_size("eval_factors", eval_factors, 1, factors.shape[1], "the factors M")
        _checks.same_device_dtype("codes", codes, "eval_factors", eval_factors)

    n = codes.shape[0]
    z_mean, z_std = codes.mean(0), codes.std(0, correction=0)  # (L,), (L,)
    v_mean, v_std = factors.mean(0), factors.std(0, correction=0)  # (M,), (M,)
    z, v = _standardize(codes, z_mean, z_std), _standardize(factors, v_mean, v_std)
    gram = z.T @ z / n  # (L, L) Z^T Z / N
    cross = z.T @ v / n  # (L, M) Z^T V / N
    if importance == "ridge":
        eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        weights = torch.linalg.solve(gram + alpha * eye, cross)  # (L, M)
    else:
        weights = _lasso_fista(gram, cross, alpha, max_iter, tol)  # (L, M)
    scores = dci_from_importance(weights.abs())
    if eval_codes is None:
        z_eval, v_eval = z, v
    else:
        z_eval = _standardize(eval_codes, z_mean, z_std)
        v_eval = _standardize(eval_factors, v_mean, v_std)
    rmse = ((v_eval - z_eval @ weights) ** 2).mean(0).sqrt()  # (M,)
    spread = v_eval.std(0, correction=0)  # (M,)
    nrmse = rmse / torch.where(spread > 0, spread, 1.0)
    return DCIResult(scores.disentanglement, scores.completeness, float(nrmse.mean()),
                     scores.disentanglement_per_code, scores.completeness_per_factor,
                     weights.abs())
