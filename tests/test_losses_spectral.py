"""reptutor.losses.spectral: VICReg on a graph of positives; the trace identity, the pair graph
against the two-view VICReg terms, the closed form as the minimum, invariants, errors, gradcheck."""
import math

import pytest
import torch

import reptutor.losses as L
from reptutor.losses import invariance_term
from reptutor.losses import vicreg_graph_loss as _graph_loss
from reptutor.losses import vicreg_graph_terms as _graph_terms
from reptutor.solvers import graph_laplacian, knn_graph, positive_pair_graph

import _gradcheck as G
import _robustness as R
import _validation as V

F64 = torch.float64


def _ew(g):
    edges = g.nonzero()
    return edges, g[edges[:, 0], edges[:, 1]]


def vicreg_graph_terms(z, g, **kw):  # on a dense weighted graph
    edges, w = _ew(g)
    return _graph_terms(z, edges, edge_weights=w, **kw)


def vicreg_graph_loss(z, g, **kw):
    edges, w = _ew(g)
    return _graph_loss(z, edges, edge_weights=w, **kw)


def _z(n=12, k=3, seed=0):
    return torch.randn(n, k, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_invariance_is_the_laplacian_trace():
    z = _z(20, 3)
    g = knn_graph(_z(20, 2, seed=1), 3) * 0.7
    t = vicreg_graph_terms(z, g, variance_weight=1.0, covariance_weight=1.0, invariance_weight=1.0)
    torch.testing.assert_close(t.invariance, 2.0 / 20 * torch.trace(z.T @ graph_laplacian(g) @ z))


def test_terms_by_hand():
    z = _z(9, 3, seed=2)
    g = positive_pair_graph(torch.tensor([0, 0, 1, 1, 2, 2, 0, 1, 2]), dtype=F64)
    cov = torch.cov(z.T)
    var = torch.relu(1 - torch.sqrt(cov.diagonal() + 1e-4)).sum()
    off = (cov - torch.diag(cov.diagonal())).square().sum()
    inv = sum(float(g[i, j]) * float((z[i] - z[j]).square().sum()) for i in range(9) for j in range(9)) / 9
    t = vicreg_graph_terms(z, g, variance_weight=2.0, covariance_weight=3.0, invariance_weight=5.0)
    torch.testing.assert_close(t.variance, var)
    torch.testing.assert_close(t.covariance, off)
    assert float(t.invariance) == pytest.approx(inv)
    torch.testing.assert_close(t.loss, 2 * var + 3 * off + 5 * t.invariance)
    torch.testing.assert_close(vicreg_graph_loss(z, g, variance_weight=2.0, covariance_weight=3.0, invariance_weight=5.0), t.loss)


def test_two_view_pair_graph_is_k_times_the_official_invariance():
    # rows [Z; Z'] with the pair graph: (1/2n) sum over ordered pairs = K * mean((Z - Z')^2)
    z_a, z_b = _z(10, 4, seed=3), _z(10, 4, seed=4)
    g = positive_pair_graph(torch.arange(10).repeat(2), dtype=F64)
    t = vicreg_graph_terms(torch.cat([z_a, z_b]), g, variance_weight=0.0, covariance_weight=0.0, invariance_weight=1.0)
    torch.testing.assert_close(t.invariance, 4 * invariance_term(z_a, z_b))


def test_invariants_translation_and_row_permutation():
    z = _z(15, 3, seed=5)
    g = knn_graph(_z(15, 2, seed=6), 3)
    base = vicreg_graph_loss(z, g, variance_weight=1.0, covariance_weight=2.0, invariance_weight=0.5)
    torch.testing.assert_close(vicreg_graph_loss(z + 7.0, g, variance_weight=1.0, covariance_weight=2.0, invariance_weight=0.5), base)
    p = torch.randperm(15, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(vicreg_graph_loss(z[p], g[p][:, p], variance_weight=1.0, covariance_weight=2.0, invariance_weight=0.5), base)


def test_edges_errors():
    z = _z(6, 2)
    kw = dict(variance_weight=1.0, covariance_weight=1.0, invariance_weight=1.0)
    with pytest.raises(ValueError, match=r"edges must hold row indices in \[0, 6\)"):
        _graph_loss(z, torch.tensor([[0, 6]]), **kw)
    with pytest.raises(ValueError, match="edges must be \\(E, 2\\)"):
        _graph_loss(z, torch.tensor([[0, 1, 2]]), **kw)
    with pytest.raises(ValueError, match="edge_weights must be non-negative"):
        _graph_loss(z, torch.tensor([[0, 1]]), edge_weights=-torch.ones(1, dtype=F64), **kw)
    with pytest.raises(ValueError, match="edge_weights must have one weight per edge"):
        _graph_loss(z, torch.tensor([[0, 1]]), edge_weights=torch.ones(2, dtype=F64), **kw)


def test_unit_weights_are_the_default():
    z = _z(8, 2, seed=9)
    edges = torch.tensor([[0, 1], [1, 0], [2, 5], [5, 2]])
    kw = dict(variance_weight=1.0, covariance_weight=1.0, invariance_weight=1.0)
    torch.testing.assert_close(_graph_loss(z, edges, **kw),
                               _graph_loss(z, edges, edge_weights=torch.ones(4, dtype=F64), **kw))


def test_gradcheck_float64():
    g = knn_graph(_z(7, 2, seed=7), 2)
    z = (0.5 * _z(7, 3, seed=8)).requires_grad_()  # std < 1: the hinge is active
    assert torch.autograd.gradcheck(lambda z: vicreg_graph_loss(z, g, variance_weight=1.0, covariance_weight=2.0, invariance_weight=0.5), (z,))


def test_gradcheck_terms_float64():
    edges = knn_graph(_z(7, 2, seed=9), 2).nonzero()
    w = torch.rand(len(edges), generator=torch.Generator().manual_seed(0), dtype=F64) + 0.5
    z = (0.5 * _z(7, 3, seed=10)).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda z: L.vicreg_graph_terms(z, edges, variance_weight=1.0, covariance_weight=2.0,
                                       invariance_weight=0.5, edge_weights=w), (z,))


def _kw():
    edges = knn_graph(V.randn(8, 2, seed=1), 2).nonzero()
    return {"z": V.randn(8, 3), "edges": edges, "edge_weights": torch.ones(len(edges)),
            "variance_weight": 1.0, "covariance_weight": 1.0, "invariance_weight": 1.0}


VALIDATION = [
    V.Entry(f"losses.{name}", _kw, (
        V.rank("z"), V.rank("edges"), V.rank("edge_weights"), V.nonfinite("z"),
        V.nonfinite("edge_weights"),
        V.custom("empty", "z", lambda k: k["z"][:1], V.all_of("z", r"at least 2", r"\(1, 3\)")),
        V.shape("edge_weights", lambda k: k["edge_weights"][:3]),
        V.nonpositive("variance_weight", -1), V.nonpositive("covariance_weight", -1),
        V.nonpositive("invariance_weight", -1), V.nonpositive("eps"),
        V.dtype_mismatch("z", "edge_weights"), V.device_mismatch("z", "edges"), V.wrong_type("z"),
        V.labels_dtype("edges"),
        V.custom("range", "edges", lambda k: k["edges"] + 8, V.all_of("edges", r"\[0, 8\)")),
    ))
    for name in ("vicreg_graph_loss", "vicreg_graph_terms")
]

_E8 = knn_graph(R.randn(R.N, 2, seed=11, dtype=torch.float64), 2).nonzero()


def _graph_case(fn):
    return R.Case(make=lambda dt: (R.randn(R.N, R.D, seed=12, dtype=dt),),
                  call=lambda z, t=None: fn(z, _E8, variance_weight=1.0, covariance_weight=1.0, invariance_weight=1.0),
                  big="add", expect=R.SAME, tau=False, centred=True,
                  bf16=(6, lambda xs, out: float(xs[0].detach().double().var(0).sum()) ** 2
                        + abs(float(out))))


ROBUSTNESS = {
    # translation invariant (centred covariance, pairwise differences): shifted by 1e4
    "vicreg_graph_loss": _graph_case(L.vicreg_graph_loss),
    "vicreg_graph_terms": _graph_case(lambda z, g, **kw: R.sum_fields(L.vicreg_graph_terms(z, g, **kw))),
}

SECOND_ORDER = {
    "vicreg_graph_loss": ("exact", lambda: G.one(
        lambda z: L.vicreg_graph_loss(z, knn_graph(G.x(7, 2, seed=57), 2).nonzero(), variance_weight=1.0, covariance_weight=2.0,
                                      invariance_weight=0.5), G.x(7, 3, seed=58, scale=0.5))),
    "vicreg_graph_terms": ("exact", lambda: G.one(
        lambda z: L.vicreg_graph_terms(z, knn_graph(G.x(7, 2, seed=57), 2).nonzero(), variance_weight=1.0, covariance_weight=2.0,
                                       invariance_weight=0.5), G.x(7, 3, seed=58, scale=0.5))),
}
