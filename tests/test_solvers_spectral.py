"""reptutor.solvers.spectral: graphs, Laplacian eigenmaps against scikit-learn, VICReg's closed
forms (nonparametric and linear) against the loss they minimize and against each other, CCA
against scikit-learn, invariants, errors."""
import math

import numpy as np
import pytest
import torch

import reptutor.solvers as S
from reptutor.losses import vicreg_graph_terms as _graph_terms
from reptutor.metrics import principal_angles

import _robustness as R
import _validation as V

F64 = torch.float64


def vicreg_graph_terms(z, g, **kw):  # the loss on a dense weighted graph
    edges = g.nonzero()
    return _graph_terms(z, edges, edge_weights=g[edges[:, 0], edges[:, 1]], **kw)


def _ring(n: int, dtype=F64) -> torch.Tensor:
    g = torch.zeros(n, n, dtype=dtype)
    i = torch.arange(n)
    g[i, (i + 1) % n] = 1.0
    g[(i + 1) % n, i] = 1.0
    return g


def _points(n=40, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=F64)


# --- graphs -------------------------------------------------------------------------------------

def test_positive_pair_graph_is_cliques_without_self_loops():
    groups = torch.tensor([0, 1, 0, 2, 1, 0])
    g = S.positive_pair_graph(groups, dtype=F64)
    for i in range(6):
        for j in range(6):
            assert g[i, j] == float(i != j and groups[i] == groups[j])


def test_knn_graph_matches_scikit_learn_symmetrized():
    from sklearn.neighbors import kneighbors_graph
    x = _points(30, 4, seed=1)
    ref = kneighbors_graph(x.numpy(), 3, mode="connectivity", include_self=False).toarray()
    ref = np.maximum(ref, ref.T)
    torch.testing.assert_close(S.knn_graph(x, 3), torch.as_tensor(ref))


def test_laplacian_quadratic_form_and_constant_kernel():
    g = S.knn_graph(_points(), 4) * 0.5 + torch.diag(torch.ones(40, dtype=F64))  # weights, loops
    lap = S.graph_laplacian(g)
    z = _points(40, 1, seed=2)[:, 0]
    off = g - torch.diag(g.diagonal())
    expect = 0.5 * (off * (z[:, None] - z[None, :]) ** 2).sum()
    torch.testing.assert_close(z @ lap @ z, expect)
    torch.testing.assert_close(lap @ torch.ones(40, dtype=F64), torch.zeros(40, dtype=F64))


# --- Laplacian eigenmaps ------------------------------------------------------------------------

def test_laplacian_eigenmaps_spans_scikit_learn_spectral_embedding():
    from sklearn.manifold import SpectralEmbedding
    g = S.knn_graph(_points(60, 3, seed=3), 6)
    res = S.laplacian_eigenmaps(g, 3)
    ref = SpectralEmbedding(n_components=3, affinity="precomputed", eigen_solver="lobpcg",
                            random_state=0).fit_transform(g.numpy())
    ref = torch.as_tensor(ref)
    assert float(principal_angles(res.embedding, ref).max()) < 1e-5
    # D-orthonormal and orthogonal to the constant, in the D inner product
    deg = g.sum(1)
    torch.testing.assert_close(res.embedding.T @ (deg[:, None] * res.embedding), torch.eye(3, dtype=F64))
    torch.testing.assert_close(res.embedding.T @ deg, torch.zeros(3, dtype=F64), atol=1e-10, rtol=0)


def test_laplacian_eigenmaps_of_a_ring_has_the_known_spectrum():
    # normalized spectrum of the n-cycle: 1 - cos(2 pi j / n), each j != 0 twice
    n = 12
    vals = S.laplacian_eigenmaps(_ring(n), 4).eigenvalues
    expect = torch.tensor([1 - math.cos(2 * math.pi / n)] * 2 + [1 - math.cos(4 * math.pi / n)] * 2,
                          dtype=F64)
    torch.testing.assert_close(vals, expect)


# --- VICReg, nonparametric ----------------------------------------------------------------------

def test_vicreg_closed_form_of_cliques():
    # c cliques of m: L has 0 (c times, one is the constant) and m; on 1-perp: c - 1 zeros then m
    c, m, k = 3, 4, 5
    g = S.positive_pair_graph(torch.arange(c).repeat_interleave(m), dtype=F64)
    n = c * m
    alpha, gamma = 2.0, 1.0
    res = S.vicreg_closed_form(g, k, variance_weight=alpha, invariance_weight=gamma)
    torch.testing.assert_close(res.eigenvalues, torch.tensor([0.0, 0.0, m, m, m], dtype=F64),
                               atol=1e-9, rtol=0)
    sigma = min(1.0, alpha * n / (4 * gamma * (n - 1) * m))
    torch.testing.assert_close(res.scales, torch.tensor([1, 1, sigma, sigma, sigma], dtype=F64))
    z = res.embedding
    torch.testing.assert_close(torch.cov(z.T), torch.diag(res.scales**2))
    torch.testing.assert_close(z.sum(0), torch.zeros(k, dtype=F64), atol=1e-9, rtol=0)


@pytest.mark.parametrize("invariance_weight", [0.05, 1.0, 20.0])  # every sigma = 1, mixed, every sigma < 1
def test_vicreg_closed_form_value_is_the_loss_at_its_embedding(invariance_weight):
    g = S.knn_graph(_points(30, 2, seed=4), 3)
    res = S.vicreg_closed_form(g, 4, variance_weight=3.0, invariance_weight=invariance_weight)
    t = vicreg_graph_terms(res.embedding, g, variance_weight=3.0, covariance_weight=7.0, invariance_weight=invariance_weight, eps=1e-14)
    assert abs(float(t.covariance)) < 1e-10
    torch.testing.assert_close(t.loss, res.loss)


def test_vicreg_closed_form_beats_random_feasible_points():
    # feasible = zero covariance: Z = sqrt(N-1) U diag(s), U orthonormal, U perp 1 (Ky Fan)
    g = S.knn_graph(_points(25, 2, seed=5), 3)
    n, k, variance_weight, invariance_weight = 25, 3, 2.0, 0.5
    res = S.vicreg_closed_form(g, k, variance_weight=variance_weight, invariance_weight=invariance_weight)
    gen = torch.Generator().manual_seed(0)
    h = torch.eye(n, dtype=F64) - 1.0 / n
    for _ in range(200):
        u, _r = torch.linalg.qr(h @ torch.randn(n, k, generator=gen, dtype=F64))
        s = torch.rand(k, generator=gen, dtype=F64) * 1.2
        loss = vicreg_graph_terms(math.sqrt(n - 1) * u * s, g, variance_weight=variance_weight, covariance_weight=0.0, invariance_weight=invariance_weight,
                                  eps=1e-14).loss
        assert float(loss) >= float(res.loss) - 1e-9


# --- VICReg, linear -----------------------------------------------------------------------------

def test_vicreg_linear_closed_form_constraint_and_value():
    x = _points(50, 6, seed=6)
    g = S.knn_graph(x[:, :2], 4)
    res = S.vicreg_linear_closed_form(x, g, 3, variance_weight=4.0, invariance_weight=0.7)
    z = x @ res.weight
    torch.testing.assert_close(torch.cov(z.T), torch.diag(res.scales**2))
    t = vicreg_graph_terms(z, g, variance_weight=4.0, covariance_weight=1.0, invariance_weight=0.7, eps=1e-14)
    torch.testing.assert_close(t.loss, res.loss)
    assert bool((res.eigenvalues[1:] >= res.eigenvalues[:-1]).all())


def test_vicreg_linear_closed_form_with_a_full_basis_is_the_free_optimum():
    # X spanning 1-perp (N - 1 columns): the linear problem is the nonparametric one
    n, k = 16, 3
    g = S.knn_graph(_points(n, 2, seed=7), 3)
    h = torch.eye(n, dtype=F64) - 1.0 / n
    x = torch.linalg.qr(h)[0][:, : n - 1] @ torch.randn(n - 1, n - 1, dtype=F64,
                                                      generator=torch.Generator().manual_seed(1))
    lin = S.vicreg_linear_closed_form(x, g, k, variance_weight=1.0, invariance_weight=0.3)
    free = S.vicreg_closed_form(g, k, variance_weight=1.0, invariance_weight=0.3)
    torch.testing.assert_close(lin.loss, free.loss)
    torch.testing.assert_close(lin.scales, free.scales)
    assert float(principal_angles(x @ lin.weight, free.embedding).max()) < 1e-6


def test_vicreg_linear_closed_form_is_invariant_to_translating_x():
    x = _points(40, 4, seed=8)
    g = S.knn_graph(x, 3)
    a = S.vicreg_linear_closed_form(x, g, 2, variance_weight=1.0, invariance_weight=1.0)
    b = S.vicreg_linear_closed_form(x + 100.0, g, 2, variance_weight=1.0, invariance_weight=1.0)
    torch.testing.assert_close(a.eigenvalues, b.eigenvalues)
    assert float(principal_angles(a.weight, b.weight).max()) < 1e-6


# --- CCA ----------------------------------------------------------------------------------------

def test_cca_matches_scikit_learn():
    from sklearn.cross_decomposition import CCA
    gen = torch.Generator().manual_seed(9)
    s = torch.randn(300, 2, generator=gen, dtype=F64)
    x_a = torch.cat([s, torch.randn(300, 3, generator=gen, dtype=F64)], 1) @ torch.randn(
        5, 5, generator=gen, dtype=F64)
    x_b = torch.cat([s + 0.5 * torch.randn(300, 2, generator=gen, dtype=F64),
                     torch.randn(300, 2, generator=gen, dtype=F64)], 1)
    res = S.cca(x_a, x_b, 2)
    ua, ub = CCA(n_components=2, scale=False, max_iter=5000, tol=1e-12).fit_transform(
        x_a.numpy(), x_b.numpy())
    ref = [abs(np.corrcoef(ua[:, i], ub[:, i])[0, 1]) for i in range(2)]
    torch.testing.assert_close(res.correlations, torch.tensor(ref, dtype=F64), atol=1e-6, rtol=0)
    za, zb = x_a @ res.weight_a, x_b @ res.weight_b
    torch.testing.assert_close(torch.cov(za.T), torch.eye(2, dtype=F64))
    torch.testing.assert_close(torch.cov(zb.T), torch.eye(2, dtype=F64))
    cross = (za - za.mean(0)).T @ (zb - zb.mean(0)) / 299
    torch.testing.assert_close(cross, torch.diag(res.correlations))


# --- errors -------------------------------------------------------------------------------------

def test_adjacency_errors():
    g = S.knn_graph(_points(10, 2), 2)
    bad = g.clone()
    bad[0, 1] = 0.3
    with pytest.raises(ValueError, match="adjacency must be symmetric"):
        S.graph_laplacian(bad)
    with pytest.raises(ValueError, match="adjacency must be non-negative"):
        S.graph_laplacian(-g)
    lonely = g.clone()
    lonely[0] = 0.0
    lonely[:, 0] = 0.0
    with pytest.raises(ValueError, match="adjacency must give every row at least one edge"):
        S.laplacian_eigenmaps(lonely, 2)


def test_singular_covariance_is_refused_with_advice():
    x = _points(20, 3)
    x = torch.cat([x, x[:, :1]], 1)  # a repeated column
    with pytest.raises(ValueError, match="x must have linearly independent.*PCA"):
        S.vicreg_linear_closed_form(x, S.knn_graph(x, 2), 2, variance_weight=1.0, invariance_weight=1.0)
    with pytest.raises(ValueError, match="x_a must have linearly independent"):
        S.cca(x, _points(20, 2), 1)


def _graph_kw():
    return {"adjacency": S.knn_graph(V.randn(10, 2), 3), "dim": 2}


VALIDATION = [
    V.Entry("solvers.positive_pair_graph", lambda: {"groups": V.labels(8, 3)}, (
        V.rank("groups"), V.empty("groups"), V.labels_dtype("groups"), V.wrong_type("groups"),
        V.custom("type", "dtype", lambda k: torch.long, V.all_of("dtype", "floating"),
                 error=TypeError)),
        na={"nonfinite": "groups are integers: there is no NaN to pass"}),
    V.Entry("solvers.knn_graph", lambda: {"x": V.randn(10, 3), "k": 2}, (
        V.rank("x"), V.empty("x"), V.nonfinite("x"), V.nonpositive("k"),
        V.out_of_range("k", 10, "<= 9"), V.wrong_type("x"))),
    V.Entry("solvers.graph_laplacian", lambda: {"adjacency": S.knn_graph(V.randn(10, 2), 3)}, (
        V.rank("adjacency"), V.empty("adjacency"), V.nonfinite("adjacency"),
        V.shape("adjacency", lambda k: k["adjacency"][:, :5]), V.wrong_type("adjacency"),
        V.custom("range", "adjacency", lambda k: -k["adjacency"],
                 V.all_of("adjacency", "non-negative")))),
    V.Entry("solvers.laplacian_eigenmaps", _graph_kw, (
        V.rank("adjacency"), V.empty("adjacency"), V.nonfinite("adjacency"),
        V.shape("adjacency", lambda k: k["adjacency"][:, :5]), V.nonpositive("dim"),
        V.out_of_range("dim", 10, "<= 9"), V.wrong_type("adjacency"))),
    V.Entry("solvers.vicreg_closed_form", lambda: {**_graph_kw(), "variance_weight": 1.0, "invariance_weight": 1.0}, (
        V.rank("adjacency"), V.empty("adjacency"), V.nonfinite("adjacency"),
        V.shape("adjacency", lambda k: k["adjacency"][:, :5]), V.nonpositive("dim"),
        V.nonpositive("variance_weight"), V.nonpositive("invariance_weight"), V.out_of_range("dim", 10, "<= 9"),
        V.wrong_type("adjacency"))),
    V.Entry("solvers.vicreg_linear_closed_form",
            lambda: {"x": V.randn(10, 3), **_graph_kw(), "variance_weight": 1.0, "invariance_weight": 1.0}, (
              V.rank("x"), V.rank("adjacency"), V.empty("x"), V.nonfinite("x"),
              V.nonfinite("adjacency"), V.shape("adjacency", lambda k: k["adjacency"][:5, :5]),
              V.nonpositive("dim"), V.nonpositive("variance_weight"), V.nonpositive("invariance_weight"),
              V.out_of_range("dim", 4, "<= 3"), V.dtype_mismatch("x", "adjacency"),
              V.device_mismatch("x", "adjacency"), V.wrong_type("x"))),
    V.Entry("solvers.cca", lambda: {"x_a": V.randn(12, 3), "x_b": V.randn(12, 2, seed=1), "dim": 1}, (
        V.rank("x_a"), V.empty("x_a"), V.nonfinite("x_b"), V.nonpositive("dim"),
        V.shape("x_b", lambda k: k["x_b"][:7]), V.out_of_range("dim", 3, "<= 2"),
        V.dtype_mismatch("x_a", "x_b"), V.device_mismatch("x_a", "x_b"), V.wrong_type("x_a"))),
]


def _g(dt):
    return (S.knn_graph(R.randn(10, 2, seed=3, dtype=torch.float32), 3).to(dt),)


LINALG = {
    "solvers.knn_graph": R.LinalgCase(lambda dt: (R.pair(dt)[0],), lambda x: S.knn_graph(x, 2)),
    "solvers.laplacian_eigenmaps": R.LinalgCase(_g, lambda g: S.laplacian_eigenmaps(g, 2), exact=False),
    "solvers.vicreg_closed_form": R.LinalgCase(
        _g, lambda g: S.vicreg_closed_form(g, 2, variance_weight=1.0, invariance_weight=1.0), exact=False),
    "solvers.vicreg_linear_closed_form": R.LinalgCase(
        lambda dt: (R.randn(10, 3, seed=4, dtype=dt), _g(dt)[0]),
        lambda x, g: S.vicreg_linear_closed_form(x, g, 2, variance_weight=1.0, invariance_weight=1.0), exact=False),
    "solvers.cca": R.LinalgCase(lambda dt: R.pair(dt), lambda a, b: S.cca(a, b, 2), exact=False),
}
