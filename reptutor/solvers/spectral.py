r"""Closed-form optima of self-supervised losses written on a graph of positive pairs.

R. Balestriero, Y. LeCun. *Contrastive and Non-Contrastive Self-Supervised Learning Recover
Global and Local Spectral Embedding Methods*. NeurIPS 2022, arXiv:2205.11508v2.

The paper writes every joint-embedding loss on the :math:`N` rows of a batch (all views of all
samples) and a symmetric *relation matrix* :math:`G \in \mathbb R_{\ge 0}^{N \times N}`,
:math:`G_{ij} > 0` iff rows :math:`i` and :math:`j` form a positive pair. With the graph
Laplacian :math:`L = \operatorname{diag}(G\mathbf 1) - G`, VICReg's invariance term is
:math:`\frac{\gamma}{N}\sum_{ij} G_{ij}\lVert z_i - z_j\rVert^2 = \frac{2\gamma}{N}
\operatorname{Tr}(Z^\top L Z)` and its variance and covariance terms push
:math:`\operatorname{Cov}(Z)` to the identity: a soft form of Laplacian eigenmaps (Belkin &
Niyogi, NeurIPS 2001) and, for a linear encoder :math:`Z = XW`, of locality preserving
projections (He & Niyogi, NeurIPS 2003). This module gives

* the graphs: :func:`positive_pair_graph` (cliques of a grouping: views of one image, or one
  class) and :func:`knn_graph`; their Laplacian, :func:`graph_laplacian`;
* the spectral embeddings: :func:`laplacian_eigenmaps`;
* VICReg's optimum in the limit of a hard covariance constraint (:math:`\beta \to \infty`), for
  free embeddings (:func:`vicreg_closed_form`) and for a linear encoder
  (:func:`vicreg_linear_closed_form`);
* canonical correlation analysis (:func:`cca`), the spectral counterpart of linear Barlow Twins.

**Normalization.** The closed forms are derived for the loss of
:func:`reptutor.losses.vicreg_graph_loss` (the paper's graph form: variance hinge on the standard
deviation summed over the :math:`K` dimensions, off-diagonal covariances squared and summed,
covariance with :math:`1/(N-1)`, invariance summed over ordered pairs and divided by :math:`N`);
the paper states its optima up to constants and without the hinge's saturation, which
:func:`vicreg_closed_form` makes explicit (its ``scales``).

Taught in the chapter *Self-supervised learning recovers spectral embeddings*
(``notebooks/02_noncontrastive/02_spectral_embedding``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg
import torch

from reptutor import _checks, _precision

__all__ = [
    "SpectralEmbeddingResult",
    "VICRegClosedFormResult",
    "VICRegLinearResult",
    "CCAResult",
    "positive_pair_graph",
    "knn_graph",
    "graph_laplacian",
    "laplacian_eigenmaps",
    "vicreg_closed_form",
    "vicreg_linear_closed_form",
    "cca",
]


class SpectralEmbeddingResult(NamedTuple):
    r"""What :func:`laplacian_eigenmaps` returns: ``(embedding, eigenvalues)``."""

    #: The embedding, shape ``(N, K)``: generalized eigenvectors :math:`L y = \lambda D y`,
    #: normalized to :math:`y^\top D y = 1`, the constant one left out.
    embedding: torch.Tensor
    #: Their eigenvalues :math:`\lambda_1 \le \dots \le \lambda_K`, shape ``(K,)``.
    eigenvalues: torch.Tensor


class VICRegClosedFormResult(NamedTuple):
    r"""What :func:`vicreg_closed_form` returns: ``(embedding, scales, eigenvalues, loss)``."""

    #: An optimal representation :math:`Z^\star`, shape ``(N, K)``, centred, with
    #: :math:`\operatorname{Cov}(Z^\star) = \operatorname{diag}(\sigma^2)`.
    embedding: torch.Tensor
    #: The standard deviations :math:`\sigma_k = \min(1, \alpha N / (4\gamma(N-1)\lambda_k))`,
    #: shape ``(K,)``, all positive: VICReg never collapses a dimension.
    scales: torch.Tensor
    #: The :math:`K` smallest eigenvalues of :math:`L` on :math:`\mathbf 1^\perp`, shape ``(K,)``.
    eigenvalues: torch.Tensor
    #: The optimal value of the loss (covariance term zero), a 0-d tensor.
    loss: torch.Tensor


class VICRegLinearResult(NamedTuple):
    r"""What :func:`vicreg_linear_closed_form` returns: ``(weight, scales, eigenvalues, loss)``."""

    #: An optimal linear map :math:`W^\star`, shape ``(D, K)`` (:math:`Z = XW`).
    weight: torch.Tensor
    #: The standard deviations :math:`\sigma_k = \min(1, \alpha N / (4\gamma\mu_k))` of
    #: :math:`XW^\star`, shape ``(K,)``.
    scales: torch.Tensor
    #: The :math:`K` smallest generalized eigenvalues :math:`\mu_k` of
    #: :math:`(X^\top L X, \operatorname{Cov}(X))`, shape ``(K,)``.
    eigenvalues: torch.Tensor
    #: The optimal value of the loss (covariance term zero), a 0-d tensor.
    loss: torch.Tensor


class CCAResult(NamedTuple):
    r"""What :func:`cca` returns: ``(weight_a, weight_b, correlations)``."""

    #: Canonical directions of the first view, shape ``(D_a, K)``, :math:`w^\top\Sigma_{aa}w = 1`.
    weight_a: torch.Tensor
    #: Canonical directions of the second view, shape ``(D_b, K)``.
    weight_b: torch.Tensor
    #: Canonical correlations :math:`\rho_1 \ge \dots \ge \rho_K`, shape ``(K,)``.
    correlations: torch.Tensor


# --------------------------------------------------------------------------------------------
# Graphs
# --------------------------------------------------------------------------------------------
def positive_pair_graph(groups: torch.Tensor, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    r"""The relation matrix of cliques: :math:`G_{ij} = 1` iff ``groups[i] == groups[j]``, :math:`i \ne j`.

    With ``groups`` the index of the image each row is a view of, :math:`G` is the graph of
    SimCLR's / VICReg's positive pairs (Balestriero & LeCun, 2022, Sec. 2); with ``groups`` the
    class labels, it is the supervised graph (every pair of one class is positive).

    Args:
        groups: (N,) integer group of each row.
        dtype: floating dtype of the returned matrix.

    Returns:
        The (N, N) symmetric 0/1 adjacency, zero diagonal, on the device of ``groups``.

    Shape:
        ``groups``: (N,); output: (N, N).

    Raises:
        TypeError / ValueError: for ``groups`` that is not a 1-D integer tensor or is empty.

    Examples:
        Two views of each of two images: each row has exactly one positive.

        >>> positive_pair_graph(torch.tensor([0, 1, 0, 1]))
        tensor([[0., 0., 1., 0.],
                [0., 0., 0., 1.],
                [1., 0., 0., 0.],
                [0., 1., 0., 0.]])
    """
    _checks.integers("groups", groups, ndim=1, layout="(N,)", what="integer groups")
    if groups.numel() == 0:
        raise ValueError(f"groups must not be empty, got shape {tuple(groups.shape)}")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    same = groups[:, None] == groups[None, :]  # (N, N) same group
    same.fill_diagonal_(False)  # no self-loops
    return same.to(dtype)


def knn_graph(x: torch.Tensor, k: int) -> torch.Tensor:
    r"""Symmetric :math:`k`-nearest-neighbour graph: :math:`G_{ij} = 1` iff :math:`j` is among the
    :math:`k` nearest rows of :math:`i` (Euclidean) or :math:`i` among those of :math:`j`.

    The usual graph of Laplacian eigenmaps and of locality preserving projections; ties are
    broken by index (``torch.topk``).

    Args:
        x: (N, D) rows.
        k: number of neighbours, :math:`1 \le k < N`.

    Returns:
        The (N, N) symmetric 0/1 adjacency with zero diagonal, dtype and device of ``x``.

    Shape:
        ``x``: (N, D); output: (N, N).

    Raises:
        TypeError / ValueError: for an ``x`` that is not a finite 2-D float tensor with at least
            2 rows, or ``k`` outside ``[1, N - 1]``.

    Examples:
        Four points on a line, one neighbour each: the two pairs, and every degree at least 1.

        >>> x = torch.tensor([[0.0], [1.0], [10.0], [12.0]])
        >>> knn_graph(x, 1)
        tensor([[0., 1., 0., 0.],
                [1., 0., 0., 0.],
                [0., 0., 0., 1.],
                [0., 0., 1., 0.]])
    """
    _checks.tensor("x", x, ndim=2, min_rows=0)
    _checks.rows("x", x, 2, "a neighbour needs 2 rows")
    _precision.has_values("x", x, "knn_graph", "it sorts distances")
    n = x.shape[0]
    k = _checks.integer("k", k, minimum=1, maximum=n - 1)
    dist = torch.cdist(_precision.upcast(x), _precision.upcast(x))  # (N, N) Euclidean distances
    dist.fill_diagonal_(float("inf"))  # a row is not its own neighbour
    idx = dist.topk(k, dim=1, largest=False).indices  # (N, k)
    g = torch.zeros(n, n, dtype=x.dtype, device=x.device)
    g.scatter_(1, idx, 1.0)
    return torch.maximum(g, g.T)  # symmetrize: "i in knn(j) or j in knn(i)"


def _adjacency(name: str, g: torch.Tensor, *, connected_rows: bool = False) -> torch.Tensor:
    _checks.tensor(name, g, ndim=2)
    _checks.square(name, g)
    if g.device.type == "meta":
        return g
    if bool((g < 0).any()):
        raise ValueError(f"{name} must be non-negative (edge weights), got minimum {float(g.min()):.3g}")
    tol = 1e-6 * max(1.0, float(g.abs().max()))
    asym = float((g - g.T).abs().max())
    if asym > tol:
        raise ValueError(f"{name} must be symmetric (an undirected graph), got max |G - G^T| = {asym:.3g}")
    if connected_rows:
        deg = g.sum(1) - g.diagonal()
        if bool((deg <= 0).any()):
            raise ValueError(f"{name} must give every row at least one edge (Laplacian eigenmaps "
                             f"normalizes by the degree), got {int((deg <= 0).sum())} isolated row(s)")
    return g


def graph_laplacian(adjacency: torch.Tensor) -> torch.Tensor:
    r"""The combinatorial Laplacian :math:`L = \operatorname{diag}(G\mathbf 1) - G` of a graph.

    :math:`z^\top L z = \tfrac12\sum_{ij} G_{ij}(z_i - z_j)^2 \ge 0` and :math:`L\mathbf 1 = 0`;
    self-loops (a non-zero diagonal of :math:`G`) cancel.

    Args:
        adjacency: (N, N) symmetric non-negative edge weights :math:`G`.

    Returns:
        :math:`L`, (N, N), dtype and device of ``adjacency``.

    Shape:
        ``adjacency``: (N, N); output: (N, N).

    Raises:
        TypeError / ValueError: for an ``adjacency`` that is not a finite square float matrix,
            has a negative entry or is not symmetric.

    Examples:
        The path 0 - 1 - 2:

        >>> graph_laplacian(torch.tensor([[0.0, 1, 0], [1, 0, 1], [0, 1, 0]]))
        tensor([[ 1., -1.,  0.],
                [-1.,  2., -1.],
                [ 0., -1.,  1.]])
    """
    g = _adjacency("adjacency", adjacency)
    off = g - torch.diag_embed(g.diagonal())  # self-loops do not enter L
    return torch.diag_embed(off.sum(1)) - off


def _dim(dim: int, maximum: int) -> int:
    return _checks.integer("dim", dim, minimum=1, maximum=maximum)


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().to("cpu", torch.float64).numpy()


def laplacian_eigenmaps(adjacency: torch.Tensor, dim: int) -> SpectralEmbeddingResult:
    r"""Laplacian eigenmaps (Belkin & Niyogi, NeurIPS 2001): the embedding that solves

    .. math::

        \min_{Y \in \mathbb R^{N \times K}} \operatorname{Tr}(Y^\top L Y)
        \quad\text{s.t.}\quad Y^\top D Y = I,\ Y^\top D\mathbf 1 = 0,

    with :math:`D = \operatorname{diag}(G\mathbf 1)`: the generalized eigenvectors
    :math:`Ly = \lambda Dy` of the :math:`K` smallest eigenvalues after the constant one
    (``scipy.linalg.eigh(L, D)``). It spans the same space as
    ``sklearn.manifold.SpectralEmbedding(affinity="precomputed")`` (which scales the same
    vectors differently). Balestriero & LeCun (2022) show that VICReg recovers this embedding
    (with :math:`N\cdot I` in place of :math:`D`, equal when every row has the same degree).

    Args:
        adjacency: (N, N) symmetric non-negative weights :math:`G`, every row with an edge.
        dim: :math:`K`, :math:`1 \le K \le N - 1`.

    Returns:
        :class:`SpectralEmbeddingResult` ``(embedding, eigenvalues)`` in the dtype and device of
        ``adjacency`` (computed in float64 on the CPU).

    Shape:
        ``adjacency``: (N, N); ``embedding``: (N, K); ``eigenvalues``: (K,).

    Raises:
        TypeError / ValueError: for an invalid ``adjacency`` (see :func:`graph_laplacian`), an
            isolated row, or ``dim`` outside ``[1, N - 1]``.

    Examples:
        Two triangles joined by one edge: the first coordinate separates the triangles.

        >>> g = torch.zeros(6, 6)
        >>> for i, j in [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)]:
        ...     g[i, j] = g[j, i] = 1.0
        >>> y = laplacian_eigenmaps(g, 1).embedding[:, 0]
        >>> bool((y[:3] * y[0] > 0).all() and (y[3:] * y[0] < 0).all())
        True
    """
    g = _adjacency("adjacency", adjacency, connected_rows=True)
    _precision.has_values("adjacency", g, "laplacian_eigenmaps", "it solves an eigenproblem")
    n = g.shape[0]
    k = _dim(dim, n - 1)
    lap = _np(graph_laplacian(g))
    deg = np.diag(lap).copy()
    # L y = lambda D y; the first eigenvector is the constant (lambda = 0), dropped
    vals, vecs = scipy.linalg.eigh(lap, np.diag(deg), subset_by_index=[0, k])
    out = dict(dtype=g.dtype, device=g.device)
    return SpectralEmbeddingResult(torch.as_tensor(vecs[:, 1:], **out),
                                   torch.as_tensor(vals[1:], **out))


def _vicreg_scales(eig: np.ndarray, factor: float, alpha: float) -> tuple[np.ndarray, float]:
    # per dimension k: minimize alpha (1 - s)_+ + factor * eig_k * s^2 over s >= 0
    # s = min(1, alpha / (2 factor eig_k)); value factor*eig (s = 1) or alpha - alpha^2/(4 factor eig)
    cost = factor * eig
    with np.errstate(divide="ignore"):
        s = np.where(2 * cost <= alpha, 1.0, alpha / (2 * np.maximum(cost, 1e-300)))
    value = np.where(2 * cost <= alpha, cost, alpha - alpha**2 / (4 * np.maximum(cost, 1e-300)))
    return s, float(value.sum())


def vicreg_closed_form(
    adjacency: torch.Tensor, dim: int, *, variance_weight: float, invariance_weight: float,
) -> VICRegClosedFormResult:
    r"""VICReg's optimal free representation on a graph, in the limit :math:`\beta \to \infty`.

    For the loss of :func:`reptutor.losses.vicreg_graph_loss` (without :math:`\epsilon`),

    .. math::

        \mathcal L(Z) = \alpha\sum_{k=1}^K\big(1 - \sqrt{C_{kk}}\big)_+
          + \beta\sum_{k \ne l} C_{kl}^2 + \frac{\gamma}{N}\sum_{ij}G_{ij}\lVert z_i - z_j\rVert^2,
        \qquad C = \operatorname{Cov}(Z),

    a zero covariance term forces :math:`Z = \sqrt{N-1}\,U\operatorname{diag}(\sigma)` (plus a
    constant row) with :math:`U^\top U = I`, :math:`U \perp \mathbf 1`. Ky Fan's theorem pairs
    the largest :math:`\sigma` with the smallest eigenvalues :math:`\lambda_1 \le \dots \le
    \lambda_K` of :math:`L` on :math:`\mathbf 1^\perp`, and each dimension then solves a 1-D
    problem (with :math:`c = 2\gamma(N-1)/N`):

    .. math::

        \sigma_k = \min\Big(1, \frac{\alpha}{2c\lambda_k}\Big), \qquad
        \min\mathcal L = \sum_k \begin{cases} c\lambda_k & \alpha \ge 2c\lambda_k \\
        \alpha - \alpha^2/(4c\lambda_k) & \text{else.}\end{cases}

    When every :math:`\sigma_k = 1` the span of :math:`Z^\star` is the Laplacian-eigenmaps
    embedding (Balestriero & LeCun, 2022, VICReg :math:`\leftrightarrow` Laplacian eigenmaps);
    every :math:`\sigma_k > 0`, so the optimum keeps full rank :math:`K` whatever the graph.
    The optimum is unique up to signed permutations of dimensions with equal :math:`\sigma` (and
    rotations inside repeated eigenvalues). For finite :math:`\beta` the optimum can correlate
    dimensions slightly and lie a little below this value.

    Args:
        adjacency: (N, N) symmetric non-negative weights :math:`G`.
        dim: :math:`K`, :math:`1 \le K \le N - 1`.
        variance_weight: variance weight :math:`\alpha > 0`.
        invariance_weight: invariance weight :math:`\gamma > 0`.

    Returns:
        :class:`VICRegClosedFormResult` ``(embedding, scales, eigenvalues, loss)``.

    Shape:
        ``adjacency``: (N, N); ``embedding``: (N, K); ``scales``, ``eigenvalues``: (K,).

    Raises:
        TypeError / ValueError: for an invalid ``adjacency``, ``dim`` outside ``[1, N - 1]`` or
            a non-positive weight.

    Examples:
        Two disconnected cliques: one zero eigenvalue on :math:`\mathbf 1^\perp` (the cluster
        indicator, kept at scale 1); the next dimension is a within-clique direction, shrunk
        but not collapsed.

        >>> g = positive_pair_graph(torch.tensor([0, 0, 0, 1, 1, 1]), dtype=torch.float64)
        >>> res = vicreg_closed_form(g, 2, variance_weight=1.0, invariance_weight=1.0)
        >>> [round(v, 4) for v in res.eigenvalues.tolist()], [round(v, 4) for v in res.scales.tolist()]
        ([0.0, 3.0], [1.0, 0.1])
    """
    g = _adjacency("adjacency", adjacency)
    _precision.has_values("adjacency", g, "vicreg_closed_form", "it solves an eigenproblem")
    n = g.shape[0]
    k = _dim(dim, n - 1)
    alpha = _checks.number("variance_weight", variance_weight, positive=True)
    gamma = _checks.number("invariance_weight", invariance_weight, positive=True)
    lap = _np(graph_laplacian(g))
    # shift the constant direction above the spectrum (lambda_max(L) <= 2 max degree), so the
    # K smallest eigenvectors are orthogonal to 1 even when the graph is disconnected
    shift = 2.0 * float(np.diag(lap).max()) + 1.0
    vals, vecs = scipy.linalg.eigh(lap + shift / n, subset_by_index=[0, k - 1])
    vals = np.clip(vals, 0.0, None)
    factor = 2.0 * gamma * (n - 1) / n
    s, value = _vicreg_scales(vals, factor, alpha)
    z = np.sqrt(n - 1) * vecs * s  # (N, K), Cov = diag(s^2)
    out = dict(dtype=g.dtype, device=g.device)
    return VICRegClosedFormResult(torch.as_tensor(z, **out), torch.as_tensor(s, **out),
                                  torch.as_tensor(vals, **out), torch.tensor(value, **out))


def vicreg_linear_closed_form(
    x: torch.Tensor,
    adjacency: torch.Tensor,
    dim: int,
    *,
    variance_weight: float,
    invariance_weight: float,
) -> VICRegLinearResult:
    r"""VICReg's optimal *linear* encoder :math:`Z = XW` on a graph, for :math:`\beta \to \infty`:
    locality preserving projections.

    With :math:`A = X^\top L X` and :math:`B = \operatorname{Cov}(X) = X_c^\top X_c/(N-1)`
    (positive definite), the loss of :func:`vicreg_closed_form` becomes, for
    :math:`W^\top B W = \operatorname{diag}(\sigma^2)`,
    :math:`\sum_k \alpha(1-\sigma_k)_+ + \frac{2\gamma}{N}\sigma_k^2 v_k^\top A v_k` with
    :math:`V^\top B V = I`. Ky Fan's theorem in the :math:`B`-metric picks the generalized
    eigenvectors :math:`Av = \mu Bv` of the :math:`K` smallest :math:`\mu_k`
    (``scipy.linalg.eigh(A, B)``), and

    .. math::

        W^\star = V_K\operatorname{diag}(\sigma),\qquad
        \sigma_k = \min\Big(1, \frac{\alpha N}{4\gamma\mu_k}\Big).

    This is He & Niyogi's locality preserving projection with the covariance constraint
    (their :math:`X^\top D X` constraint is the same for centred data on a graph of constant
    degree) and the linear-regime statement of Balestriero & LeCun (2022).

    Args:
        x: (N, D) inputs, whose centred columns are linearly independent (:math:`N > D`).
        adjacency: (N, N) symmetric non-negative weights :math:`G` on the rows of ``x``.
        dim: :math:`K`, :math:`1 \le K \le D`.
        variance_weight: variance weight :math:`\alpha > 0`.
        invariance_weight: invariance weight :math:`\gamma > 0`.

    Returns:
        :class:`VICRegLinearResult` ``(weight, scales, eigenvalues, loss)``.

    Shape:
        ``x``: (N, D); ``adjacency``: (N, N); ``weight``: (D, K); ``scales``, ``eigenvalues``: (K,).

    Raises:
        TypeError / ValueError: for invalid inputs, an ``adjacency`` whose size is not the
            number of rows of ``x``, ``dim`` outside ``[1, D]``, a non-positive weight, or a
            singular covariance of ``x`` (reduce the dimension first, e.g. by PCA).

    Examples:
        Two clusters on the first coordinate, noise on the second, and a graph that links
        points of one cluster: the one-dimensional optimum reads the first coordinate.

        >>> x = torch.tensor([[0.0, 1.0], [0.1, -1.0], [5.0, 0.9], [5.1, -1.1]], dtype=torch.float64)
        >>> g = positive_pair_graph(torch.tensor([0, 0, 1, 1]), dtype=torch.float64)
        >>> res = vicreg_linear_closed_form(x, g, 1, variance_weight=25.0, invariance_weight=1.0)
        >>> w = res.weight[:, 0]
        >>> bool(w[0].abs() > 10 * w[1].abs())
        True
    """
    _checks.tensor("x", x, ndim=2, min_rows=0)
    _checks.rows("x", x, 2, "a covariance needs 2 samples")
    _precision.has_values("x", x, "vicreg_linear_closed_form", "it solves an eigenproblem")
    g = _adjacency("adjacency", adjacency)
    _checks.same_device_dtype("x", x, "adjacency", g)
    n, d = x.shape
    if g.shape[0] != n:
        raise ValueError(f"adjacency must be (N, N) with N = {n} rows of x, got shape {tuple(g.shape)}")
    k = _checks.integer("dim", dim, minimum=1, maximum=d)
    alpha = _checks.number("variance_weight", variance_weight, positive=True)
    gamma = _checks.number("invariance_weight", invariance_weight, positive=True)
    xn = _np(x)
    xc = xn - xn.mean(0)
    a = xc.T @ _np(graph_laplacian(g)) @ xc  # (D, D); L 1 = 0, so centring does not change it
    b = xc.T @ xc / (n - 1)  # (D, D) covariance
    try:
        vals, vecs = scipy.linalg.eigh(a, b, subset_by_index=[0, k - 1])
    except np.linalg.LinAlgError as err:
        raise ValueError("x must have linearly independent centred columns (a positive definite "
                         "covariance); reduce the dimension first, e.g. by PCA") from err
    vals = np.clip(vals, 0.0, None)
    s, value = _vicreg_scales(vals, 2.0 * gamma / n, alpha)
    out = dict(dtype=x.dtype, device=x.device)
    return VICRegLinearResult(torch.as_tensor(vecs * s, **out), torch.as_tensor(s, **out),
                              torch.as_tensor(vals, **out), torch.tensor(value, **out))


def _inv_sqrt(c: np.ndarray, name: str) -> np.ndarray:
    vals, vecs = np.linalg.eigh(c)
    if vals.min() <= 1e-12 * max(1.0, vals.max()):
        raise ValueError(f"{name} must have linearly independent centred columns (a positive "
                         "definite covariance); reduce the dimension first, e.g. by PCA")
    return (vecs / np.sqrt(vals)) @ vecs.T


def cca(x_a: torch.Tensor, x_b: torch.Tensor, dim: int) -> CCAResult:
    r"""Canonical correlation analysis (Hotelling, 1936) of two paired views.

    Finds :math:`W_a, W_b` maximizing :math:`\sum_k \operatorname{corr}(X_a w_{a,k},
    X_b w_{b,k})` under :math:`W_a^\top\Sigma_{aa}W_a = W_b^\top\Sigma_{bb}W_b = I`: with
    :math:`T = \Sigma_{aa}^{-1/2}\Sigma_{ab}\Sigma_{bb}^{-1/2} = U\operatorname{diag}(\rho)V^\top`,
    :math:`W_a = \Sigma_{aa}^{-1/2}U_K`, :math:`W_b = \Sigma_{bb}^{-1/2}V_K` and the canonical
    correlations are :math:`\rho_1 \ge \dots \ge \rho_K`. Covariances use :math:`1/(N-1)`.
    Balestriero & LeCun (2022) relate linear Barlow Twins to this problem: Barlow Twins' loss
    :math:`\sum_k(1 - C_{kk})^2 + \lambda\sum_{k\ne l}C_{kl}^2` on the cross-correlation
    :math:`C` is :math:`\sum_k(1-\rho_k)^2` at the CCA solution, which is optimal as
    :math:`\lambda \to \infty`.

    Args:
        x_a: (N, D_a) first view.
        x_b: (N, D_b) second view, rows paired with ``x_a``.
        dim: :math:`K`, :math:`1 \le K \le \min(D_a, D_b)`.

    Returns:
        :class:`CCAResult` ``(weight_a, weight_b, correlations)``.

    Shape:
        ``x_a``: (N, D_a); ``x_b``: (N, D_b); ``weight_a``: (D_a, K); ``weight_b``: (D_b, K);
        ``correlations``: (K,).

    Raises:
        TypeError / ValueError: for invalid tensors, different numbers of rows, ``dim`` out of
            range, or a singular covariance.

    Examples:
        A shared coordinate is found with correlation 1.

        >>> g = torch.Generator().manual_seed(0)
        >>> s = torch.randn(50, 1, generator=g, dtype=torch.float64)
        >>> x_a = torch.cat([s, torch.randn(50, 2, generator=g, dtype=torch.float64)], 1)
        >>> x_b = torch.cat([torch.randn(50, 1, generator=g, dtype=torch.float64), -2 * s], 1)
        >>> round(float(cca(x_a, x_b, 1).correlations[0]), 6)
        1.0
    """
    _checks.tensor("x_a", x_a, ndim=2, min_rows=0)
    _checks.tensor("x_b", x_b, ndim=2, min_rows=0)
    _checks.rows("x_a", x_a, 2, "a covariance needs 2 samples")
    _checks.rows("x_b", x_b, 2, "a covariance needs 2 samples")
    _checks.same_device_dtype("x_a", x_a, "x_b", x_b)
    _precision.has_values("x_a", x_a, "cca", "it solves an eigenproblem")
    if x_a.shape[0] != x_b.shape[0]:
        raise ValueError(f"x_a and x_b must have the same number of rows (paired views), got "
                         f"shapes {tuple(x_a.shape)} and {tuple(x_b.shape)}")
    k = _checks.integer("dim", dim, minimum=1, maximum=min(x_a.shape[1], x_b.shape[1]))
    a, b = _np(x_a), _np(x_b)
    a, b = a - a.mean(0), b - b.mean(0)
    n = a.shape[0]
    ia = _inv_sqrt(a.T @ a / (n - 1), "x_a")
    ib = _inv_sqrt(b.T @ b / (n - 1), "x_b")
    u, rho, vt = np.linalg.svd(ia @ (a.T @ b / (n - 1)) @ ib)
    out = dict(dtype=x_a.dtype, device=x_a.device)
    return CCAResult(torch.as_tensor(ia @ u[:, :k], **out), torch.as_tensor(ib @ vt[:k].T, **out),
                     torch.as_tensor(np.clip(rho[:k], 0.0, 1.0), **out))
