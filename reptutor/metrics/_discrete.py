r"""Histograms of codes and plug-in discrete information: the engine of the information metrics.

Shared by :mod:`reptutor.metrics.mig` and the discrete-information metrics that follow it. The
binning and the plug-in estimators are those of google-research/disentanglement_lib (Locatello
et al., "Challenging Common Assumptions in the Unsupervised Learning of Disentangled
Representations", ICML 2019, arXiv:1811.12359v4), reproduced exactly, so that the numbers agree
with the values reported in that study.

The implementations are tensor programs without Python loops over samples or over (code, factor)
pairs: one histogram for all :math:`L \times M` joint distributions (a single ``bincount`` on a
combined index). They run on the device of their inputs.

Taught in Part V, *Disentanglement* (``notebooks/05_disentanglement``).
"""
from __future__ import annotations

import math

import torch

from reptutor import _checks

__all__ = ["discretize", "discrete_mutual_info", "discrete_entropy"]

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
    n, c = x.shape
    lo, hi = int(x.min()), int(x.max())
    if hi - lo < 4 * n + 1024:  # small value range: a presence table instead of a sort
        span = hi - lo + 1
        flat = (x.long() - lo) + torch.arange(c, device=x.device) * span  # (N, C) cell of each value
        present = torch.zeros(c * span, dtype=torch.bool, device=x.device)
        present[flat.reshape(-1)] = True
        rank = present.view(c, span).cumsum(1).sub_(1).view(-1)  # (C * span,) rank of each value
        return rank[flat].to(x.dtype)  # (N, C)
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
    return _bin_rows(codes.T.contiguous(), bins).T  # (N, L)


def _bin_rows(x: torch.Tensor, bins: int) -> torch.Tensor:
    """:func:`discretize` of the rows of ``x`` (L, N), contiguous; returns (L, N) long."""
    low, high = x.min(dim=1).values, x.max(dim=1).values  # (L,), (L,)
    flat = low == high  # np.histogram widens an empty range by 1/2 on both sides
    low, high = torch.where(flat, low - 0.5, low), torch.where(flat, high + 0.5, high)
    delta = high - low  # (L,)
    step = delta / bins  # (L,) np.linspace's step, rounded in the codes' dtype
    k = torch.arange(bins, device=x.device, dtype=x.dtype)  # (bins,) left edges only
    # np.linspace multiplies by the step, except for a step that underflows to 0 (gh-5437)
    edges = torch.where((step == 0)[:, None], k / bins * delta[:, None], k * step[:, None])
    edges = edges + low[:, None]  # (L, bins) left bin edges, the last edge (the max) dropped
    # The bin is the number of edges <= z, minus 1 (np.digitize - 1): a binary search per
    # value (searchsorted). Cheaper: guess it by arithmetic, check the guess against the edges
    # themselves, and search only for the values whose guess is off (rounding at an edge).
    if not bool((step > 0).all()):
        return torch.searchsorted(edges, x, right=True) - 1  # (L, N)
    guess = ((x - low[:, None]) / step[:, None]).floor_().clamp_(0, bins - 1).long()  # (L, N)
    right = torch.cat([edges[:, 1:], edges.new_full((len(edges), 1), float("inf"))], dim=1)
    ok = (edges.gather(1, guess) <= x) & (x < right.gather(1, guess))  # left <= z < right
    if not bool(ok.all()):
        rows, cols = (~ok).nonzero(as_tuple=True)
        found = torch.searchsorted(edges[rows], x[rows, cols, None], right=True)[:, 0]
        guess[rows, cols] = found - 1
    return guess


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
    return _mutual_info_rows(a.T.contiguous(), b.T.contiguous())


def _mi_terms(n_ab, n_a, n_b, n: int, log_ab=None) -> torch.Tensor:
    # I = sum_ab (n_ab / N) log(N n_ab / (n_a n_b)), term by term as mutual_info_score
    # (same order of operations: log(n_ab / N) + log(N^2 / (n_a n_b)), the product taken first)
    log_ab = n_ab.log() if log_ab is None else log_ab
    term = n_ab / n * ((log_ab - math.log(n)) + (2 * math.log(n) - (n_a * n_b).log()))
    # as scikit-learn, terms below eps are 0; so are empty cells (0 * inf = nan there)
    return torch.where((n_ab > 0) & (term.abs() >= torch.finfo(torch.float64).eps), term, 0.0)


def _mutual_info_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """:func:`_mutual_info_pairs` of the rows of ``a`` (P, N) and ``b`` (Q, N), contiguous."""
    p_cols, n = a.shape
    q_cols = b.shape[0]
    ka, kb = int(a.max()) + 1, int(b.max()) + 1  # distinct values per row are at most these
    cells = p_cols * ka * q_cols * kb
    if cells > min(_DENSE_CELLS, p_cols * q_cols * n):  # few non-empty cells: visit only those
        pair_id, n_ab, n_a, n_b = _joint_counts(a.T, b.T)
        term = _mi_terms(n_ab.double(), n_a.double(), n_b.double(), n)
        mi = torch.zeros(p_cols * q_cols, dtype=torch.float64, device=a.device)
        mi = mi.index_add_(0, pair_id, term).view(p_cols, q_cols)  # (P, Q)
        return mi.clamp_min(0.0)  # scikit-learn clips round-off below 0
    small = torch.int32 if cells < 2**31 else torch.int64  # int32 halves the traffic
    # cell = ((p * Q + q) * ka + a) * kb + b: one broadcast sum of two small tables, laid out
    # (P, Q, N) so that every operand and the result are read and written contiguously
    row_a = (torch.arange(p_cols, device=a.device)[:, None] * (q_cols * ka) + a).to(small) * kb
    row_b = (torch.arange(q_cols, device=a.device)[:, None] * (ka * kb) + b).to(small)  # (Q, N)
    cell = (row_a[:, None, :] + row_b[None, :, :]).view(-1)  # (P * Q * N,)
    counts = torch.bincount(cell, minlength=cells)  # (P * Q * ka * kb,) every joint histogram
    n_ab = counts.double().view(p_cols, q_cols, ka, kb)
    n_a, n_b = n_ab.sum(3, keepdim=True), n_ab.sum(2, keepdim=True)  # marginal counts
    # log of a count: looked up in a table of log(0..N) (the same values, N logs for all cells)
    log_ab = torch.arange(n + 1, dtype=torch.float64, device=a.device).log()[counts]
    return _mi_terms(n_ab, n_a, n_b, n, log_ab.view_as(n_ab)).sum((2, 3)).clamp_min(0.0)


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
