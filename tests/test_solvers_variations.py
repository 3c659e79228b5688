"""reptutor.solvers.variations: closed forms -> references (scikit-learn, scipy) -> invariants -> errors."""
import math

import numpy as np
import pytest
import scipy.sparse.csgraph
import torch
from sklearn.metrics.pairwise import rbf_kernel

from reptutor.solvers import gaussian_graph, graph_laplacian, laplacian_eigenbasis
from reptutor.solvers import variations as S

import _robustness as R
import _validation as V


def _cloud(n=30, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64)


# ------------------------------------------------------------------ gaussian_graph
def test_gaussian_graph_closed_form():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]], dtype=torch.float64)
    w = gaussian_graph(x, 2.0)
    assert w[0, 1] == pytest.approx(math.exp(-25 / 8), abs=1e-15)  # |x_0 - x_1|^2 = 25, 2h^2 = 8
    assert w[0, 2] == pytest.approx(math.exp(-1 / 8), abs=1e-15)
    assert torch.equal(w.diagonal(), torch.zeros(3, dtype=torch.float64))


def test_gaussian_graph_equals_sklearn_rbf_kernel():
    # scikit-learn's rbf_kernel is exp(-gamma |x - y|^2): gamma = 1 / (2 h^2), then zero diagonal
    x = _cloud(25, 3, seed=1)
    h = 0.7
    ref = rbf_kernel(x.numpy(), gamma=1.0 / (2 * h * h))
    np.fill_diagonal(ref, 0.0)
    np.testing.assert_allclose(gaussian_graph(x, h).numpy(), ref, atol=1e-13)


@pytest.mark.parametrize("seed", range(3))
def test_gaussian_graph_invariants(seed):
    x = _cloud(20, 2, seed=seed)
    w = gaussian_graph(x, 0.5)
    assert torch.equal(w, w.T) and bool(((w >= 0) & (w <= 1)).all())
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(2, 2, generator=g, dtype=torch.float64))
    torch.testing.assert_close(gaussian_graph(x @ q + 3.0, 0.5), w, atol=1e-12, rtol=0)  # isometries
    perm = torch.randperm(20, generator=g)
    torch.testing.assert_close(gaussian_graph(x[perm], 0.5), w[perm][:, perm], atol=1e-14, rtol=0)
    # a wider bandwidth joins every pair more strongly
    assert bool((gaussian_graph(x, 1.0) >= w).all())


# ------------------------------------------------------------------ laplacian_eigenbasis
def test_laplacian_eigenbasis_path_graph_closed_form():
    # path graph on n nodes: lambda_k = 2 - 2 cos(pi k / n), u_k(j) ~ cos(pi k (j + 1/2) / n)
    n = 12
    w = torch.zeros(n, n, dtype=torch.float64)
    idx = torch.arange(n - 1)
    w[idx, idx + 1] = w[idx + 1, idx] = 1.0
    vec, lam = laplacian_eigenbasis(graph_laplacian(w), 5)
    k = torch.arange(5, dtype=torch.float64)
    torch.testing.assert_close(lam, 2 - 2 * torch.cos(math.pi * k / n), atol=1e-12, rtol=0)
    j = torch.arange(n, dtype=torch.float64)
    for kk in range(5):
        ref = torch.cos(math.pi * kk * (j + 0.5) / n)
        ref = ref / ref.norm()
        assert abs(abs(float(vec[:, kk] @ ref)) - 1.0) < 1e-10


def test_laplacian_eigenbasis_equals_scipy_csgraph_and_numpy():
    x = _cloud(40, 2, seed=2)
    w = gaussian_graph(x, 0.6)
    lap = graph_laplacian(w)
    ref_lap = scipy.sparse.csgraph.laplacian(w.numpy())
    np.testing.assert_allclose(lap.numpy(), ref_lap, atol=1e-13)
    vals, vecs = np.linalg.eigh(ref_lap)
    vec, lam = laplacian_eigenbasis(lap, 6)
    np.testing.assert_allclose(lam.numpy(), vals[:6], atol=1e-10)
    # same spans (eigenvalues are simple here): |<u_k, v_k>| = 1
    np.testing.assert_allclose(np.abs((vec.numpy() * vecs[:, :6]).sum(0)), np.ones(6), atol=1e-8)


@pytest.mark.parametrize("seed", range(3))
def test_laplacian_eigenbasis_invariants(seed):
    x = _cloud(30, 2, seed=seed)
    lap = graph_laplacian(gaussian_graph(x, 0.5))
    vec, lam = laplacian_eigenbasis(lap, 8)
    torch.testing.assert_close(vec.T @ vec, torch.eye(8, dtype=torch.float64), atol=1e-10, rtol=0)
    assert abs(float(lam[0])) < 1e-10 and bool((lam[1:] >= lam[:-1] - 1e-12).all())
    # the first vector is the constant, and Courant-Fischer: Tr(U^T L U) = sum of eigenvalues
    assert abs(abs(float(vec[:, 0].sum())) - math.sqrt(30)) < 1e-8
    assert abs(float(torch.trace(vec.T @ lap @ vec)) - float(lam.sum())) < 1e-9
    # ... and no other orthonormal 8-frame varies less
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(30, 8, generator=g, dtype=torch.float64))
    assert float(torch.trace(q.T @ lap @ q)) >= float(lam.sum())
    # deterministic signs
    assert bool((vec[vec.abs().argmax(0), torch.arange(8)] > 0).all())
    # dtype and device follow the input
    v32, l32 = laplacian_eigenbasis(lap.float(), 3)
    assert v32.dtype == l32.dtype == torch.float32


def test_variations_errors():
    x = _cloud(6)
    with pytest.raises(ValueError, match=r"bandwidth must be > 0, got 0"):
        gaussian_graph(x, 0.0)
    with pytest.raises(ValueError, match=r"x must have at least 2 rows"):
        gaussian_graph(x[:1], 1.0)
    with pytest.raises(TypeError, match=r"bandwidth must be a real number"):
        gaussian_graph(x, "1")
    lap = graph_laplacian(gaussian_graph(x, 1.0))
    with pytest.raises(ValueError, match=r"p must be <= 6, got 7"):
        laplacian_eigenbasis(lap, 7)
    with pytest.raises(ValueError, match=r"laplacian must be symmetric"):
        laplacian_eigenbasis(lap + torch.triu(torch.ones(6, 6, dtype=torch.float64), 1), 2)
    with pytest.raises(ValueError, match=r"laplacian must be a square"):
        laplacian_eigenbasis(lap[:, :4], 2)


# ---------------------------------------------------------------- declarations for the harnesses
def _lap_kw():
    return {"laplacian": graph_laplacian(gaussian_graph(V.randn(10, 2), 1.0)), "p": 3}


VALIDATION = [
    V.Entry("solvers.gaussian_graph", lambda: {"x": V.randn(10, 3), "bandwidth": 0.5}, (
        V.rank("x"), V.empty("x"), V.nonfinite("x"), V.nonpositive("bandwidth"),
        V.wrong_type("x"), V.number_type("bandwidth"))),
    V.Entry("solvers.laplacian_eigenbasis", _lap_kw, (
        V.rank("laplacian"), V.empty("laplacian"), V.nonfinite("laplacian"),
        V.shape("laplacian", lambda k: k["laplacian"][:, :5]), V.nonpositive("p"),
        V.out_of_range("p", 11, "<= 10"), V.wrong_type("laplacian"),
        V.custom("range", "laplacian", lambda k: k["laplacian"] + torch.triu(torch.ones(10, 10), 1),
                 V.all_of("laplacian", "symmetric")))),
]


def _lap(dt):
    x = R.randn(10, 2, seed=3, dtype=torch.float32)
    return (graph_laplacian(gaussian_graph(x, 1.0)).to(dt),)


LINALG = {
    "solvers.gaussian_graph": R.LinalgCase(lambda dt: (R.pair(dt)[0],), lambda x: S.gaussian_graph(x, 1.0),
                                           exact=False),
    "solvers.laplacian_eigenbasis": R.LinalgCase(_lap, lambda lap: S.laplacian_eigenbasis(lap, 3),
                                                 exact=False),
}
