"""reptutor.metrics.variations: closed forms -> brute force / numpy references -> the bound -> errors -> gradcheck."""
import math

import numpy as np
import pytest
import torch

from reptutor.metrics import dirichlet_energy, projection_residual, spectral_residual_bound
from reptutor.metrics import variations as M
from reptutor.solvers import gaussian_graph, graph_laplacian, laplacian_eigenbasis

import _gradcheck as G
import _robustness as R
import _validation as V


def _graph(n=30, seed=0, h=0.5):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return x, graph_laplacian(gaussian_graph(x, h)), g


# ------------------------------------------------------------------ dirichlet_energy
def test_dirichlet_energy_equals_brute_force_sum_over_edges():
    x, lap, g = _graph()
    w = gaussian_graph(x, 0.5)
    f = torch.randn(30, 3, generator=g, dtype=torch.float64)
    brute = 0.5 * sum(float(w[i, j]) * float((f[i] - f[j]).square().sum())
                      for i in range(30) for j in range(30))
    assert abs(float(dirichlet_energy(f, lap)) - brute) < 1e-9
    # (N,) and (N, 1) agree; columns add up; constants are free
    assert float(dirichlet_energy(f[:, 0], lap)) == pytest.approx(float(dirichlet_energy(f[:, :1], lap)))
    parts = sum(float(dirichlet_energy(f[:, k], lap)) for k in range(3))
    assert float(dirichlet_energy(f, lap)) == pytest.approx(parts, rel=1e-12)
    assert float(dirichlet_energy(f + 7.0, lap)) == pytest.approx(float(dirichlet_energy(f, lap)), rel=1e-10)


def test_dirichlet_energy_of_an_eigenvector_is_its_eigenvalue():
    _, lap, _ = _graph(seed=1)
    vec, lam = laplacian_eigenbasis(lap, 5)
    for k in range(5):
        assert abs(float(dirichlet_energy(vec[:, k], lap)) - float(lam[k])) < 1e-10


def test_dirichlet_energy_gradcheck_and_double_backward():
    _, lap, g = _graph(n=8, seed=2)
    f = torch.randn(8, 2, generator=g, dtype=torch.float64, requires_grad=True)
    lap = lap.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(dirichlet_energy, (f, lap))
    assert torch.autograd.gradgradcheck(dirichlet_energy, (f, lap))
    # d/df Tr(F^T L F) = 2 L F
    (grad,) = torch.autograd.grad(dirichlet_energy(f, lap.detach()), f)
    torch.testing.assert_close(grad, 2 * lap.detach() @ f.detach())


# ------------------------------------------------------------------ projection_residual
def test_projection_residual_equals_lstsq_reference():
    g = torch.Generator().manual_seed(3)
    b = torch.randn(40, 4, generator=g, dtype=torch.float64)
    f = torch.randn(40, generator=g, dtype=torch.float64)
    coef, *_ = np.linalg.lstsq(b.numpy(), f.numpy(), rcond=None)
    ref = float(((f.numpy() - b.numpy() @ coef) ** 2).sum())
    assert projection_residual(f, b, relative=False) == pytest.approx(ref, rel=1e-12)
    assert projection_residual(f, b) == pytest.approx(ref / float(f.square().sum()), rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_projection_residual_invariants(seed):
    g = torch.Generator().manual_seed(seed)
    b = torch.randn(25, 3, generator=g, dtype=torch.float64)
    f = torch.randn(25, 2, generator=g, dtype=torch.float64)
    r = projection_residual(f, b)
    assert 0 <= r <= 1
    mix = torch.randn(3, 3, generator=g, dtype=torch.float64)
    assert projection_residual(f, b @ mix) == pytest.approx(r, abs=1e-10)  # only the span matters
    assert projection_residual(f, torch.cat([b, b[:, :1] * 2], 1)) == pytest.approx(r, abs=1e-10)  # rank
    assert projection_residual(3.0 * f, b) == pytest.approx(r, abs=1e-12)
    assert projection_residual(f, torch.cat([b, f[:, :1]], 1)) <= r  # a larger span leaves less out
    assert projection_residual(b @ torch.ones(3, dtype=torch.float64), b) < 1e-20


# ------------------------------------------------------------------ spectral_residual_bound
@pytest.mark.parametrize("seed", range(4))
def test_the_bound_holds_for_every_target_and_p(seed):
    # ||f - Pi_p f||^2 <= f^T L f / lambda_{p+1}: linear algebra, for any vector
    _, lap, g = _graph(n=40, seed=seed)
    vec, lam = laplacian_eigenbasis(lap, 40)
    for f in (torch.randn(40, generator=g, dtype=torch.float64),
              (torch.randn(40, generator=g) > 0).double(), vec[:, 3] + 0.1 * vec[:, 20]):
        for p in (1, 2, 5, 10, 39):
            left = projection_residual(f, vec[:, :p])
            assert left <= spectral_residual_bound(f, lap, p) + 1e-10
            # equality for an eigenvector u_{p+1}: everything is left out, E / lambda_{p+1} = 1
        u = vec[:, 6]
        assert spectral_residual_bound(u, lap, 6) == pytest.approx(1.0, rel=1e-8)
        assert projection_residual(u, vec[:, :6]) == pytest.approx(1.0, abs=1e-10)


def test_spectral_residual_bound_closed_form_and_edge_cases():
    # two disconnected pairs: lambda = (0, 0, 2, 2)
    w = torch.tensor([[0.0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=torch.float64)
    lap = graph_laplacian(w)
    ind = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    assert spectral_residual_bound(ind, lap, 2) == 0.0  # no variation: nothing left out
    step = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)  # energy 1, lambda_3 = 2
    assert spectral_residual_bound(step, lap, 2, relative=False) == pytest.approx(0.5)
    assert spectral_residual_bound(step, lap, 1) == math.inf  # lambda_2 = 0 < energy


def test_metrics_variations_errors():
    _, lap, _ = _graph(n=6)
    f = torch.ones(6, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"laplacian must be \(5, 5\) to match the 5 rows of f"):
        dirichlet_energy(f[:5], lap)
    with pytest.raises(TypeError, match=r"dtype"):
        dirichlet_energy(f.float(), lap)
    with pytest.raises(ValueError, match=r"basis must have 6 rows"):
        projection_residual(f, torch.ones(5, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"f must not be zero with relative=True"):
        projection_residual(0 * f, torch.ones(6, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"p must be <= 5, got 6"):
        spectral_residual_bound(f, lap, 6)
    with pytest.raises(TypeError, match=r"relative must be a bool"):
        spectral_residual_bound(f, lap, 2, relative=1)
    with pytest.raises(ValueError, match=r"f must be 1-D or 2-D"):
        dirichlet_energy(f[None, None], lap)


# ---------------------------------------------------------------- declarations for the harnesses
def _kw():
    x = V.randn(10, 2)
    return {"f": V.randn(10, 2, seed=1), "laplacian": graph_laplacian(gaussian_graph(x, 1.0))}


VALIDATION = [
    V.Entry("metrics.dirichlet_energy", _kw, (
        V.rank("f"), V.empty("f"), V.nonfinite("f"), V.nonfinite("laplacian"),
        V.shape("laplacian", lambda k: k["laplacian"][:5, :5]),
        V.dtype_mismatch("f", "laplacian"), V.device_mismatch("f", "laplacian"), V.wrong_type("f"))),
    V.Entry("metrics.projection_residual", lambda: {"f": V.randn(10, 2), "basis": V.randn(10, 3, seed=1)}, (
        V.rank("f"), V.empty("f"), V.nonfinite("f"), V.nonfinite("basis"),
        V.shape("basis", lambda k: k["basis"][:5]), V.device_mismatch("f", "basis"),
        V.wrong_type("basis"), *V.boolean("relative")),
        na={"dtype-mismatch": "computed in float64 whatever the dtypes: mixing them is harmless"}),
    V.Entry("metrics.spectral_residual_bound", lambda: {**_kw(), "p": 2}, (
        V.rank("f"), V.empty("f"), V.nonfinite("f"), V.nonfinite("laplacian"),
        V.shape("laplacian", lambda k: k["laplacian"][:5, :5]), V.nonpositive("p"),
        V.out_of_range("p", 10, "<= 9"), V.dtype_mismatch("f", "laplacian"),
        V.device_mismatch("f", "laplacian"), V.wrong_type("laplacian"), *V.boolean("relative"))),
]


def _fl(dt):
    x = R.randn(10, 2, seed=3, dtype=torch.float32)
    return (R.randn(10, 2, seed=4, dtype=dt), graph_laplacian(gaussian_graph(x, 1.0)).to(dt))


LINALG = {
    "metrics.spectral_residual_bound": R.LinalgCase(_fl, lambda f, lap: M.spectral_residual_bound(f, lap, 2),
                                                    exact=False),
}
