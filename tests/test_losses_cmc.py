"""reptutor.losses.cmc: closed forms, a loop reference, invariants, errors, gradcheck."""
import math
from itertools import combinations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import reptutor.losses as L
from reptutor.losses import (
    CMCLoss,
    cmc_loss,
    cmc_terms,
    cross_view_prediction_loss,
    info_nce_loss,
    view_pairs,
)

import _gradcheck as G
import _robustness as R
import _validation as V
from _helpers import randn


def _pair_loop(a, b, t):
    """L(V_i, V_j) per sample straight from the paper's formula, one sample at a time."""
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    n = a.shape[0]
    out = []
    for i in range(n):
        row = torch.stack([a[i] @ b[m] / t for m in range(n)])  # anchor a_i, candidates of b
        col = torch.stack([b[i] @ a[m] / t for m in range(n)])  # anchor b_i, candidates of a
        out.append((torch.logsumexp(row, 0) - row[i]) + (torch.logsumexp(col, 0) - col[i]))
    return torch.stack(out)


# --- closed forms -----------------------------------------------------------------------------

@pytest.mark.parametrize("v", [2, 3, 5])
def test_constant_views_cost_log_n_per_direction(v):
    n = 7
    z = torch.ones(v, n, 3)
    full = cmc_terms(z)
    assert full.pairs == tuple(combinations(range(v), 2))
    torch.testing.assert_close(full.pair_losses, torch.full((math.comb(v, 2),), 2 * math.log(n)))
    assert full.loss.item() == pytest.approx(math.comb(v, 2) * 2 * math.log(n), rel=1e-6)
    assert cmc_loss(z, graph="core").item() == pytest.approx((v - 1) * 2 * math.log(n), rel=1e-6)


def test_orthogonal_identical_views():
    # Every view is eye(2): s_ii = 1/t, s_ij = 0, so each direction costs log(1 + e^{-1/t}).
    t = 0.5
    z = torch.eye(2, dtype=torch.float64).expand(3, 2, 2)
    per_direction = math.log1p(math.exp(-1 / t))
    assert cmc_loss(z, temperature=t).item() == pytest.approx(3 * 2 * per_direction)
    assert cmc_loss(z, temperature=t, graph="core").item() == pytest.approx(2 * 2 * per_direction)


def test_class_oracle_certifies_the_batch_class_entropy():
    # The pair ceiling of the CMC chapter: two views that share only a class y can certify at
    # most H(y) <= log K nats. An encoder that outputs the exact class (one-hot) reaches the
    # batch's empirical class entropy: as tau -> 0 each anchor's loss is log n_c (the count of
    # its class among the candidates), so log N - L^{ij} = log N - sum_c (n_c/N) log n_c.
    k, n = 5, 40
    g = torch.Generator().manual_seed(0)
    for labels in (torch.arange(n) % k, torch.randint(0, k - 1, (n,), generator=g)):
        z = F.one_hot(labels, k).to(torch.float64)  # (N, K), unit rows
        terms = cmc_terms(torch.stack([z, z]), temperature=0.01)  # e^{-100} terms: negligible
        p = torch.bincount(labels, minlength=k).to(torch.float64) / n
        p = p[p > 0]
        entropy = -(p * p.log()).sum().item()
        certified = math.log(n) - terms.pair_losses[0].item() / 2  # one direction's bound
        assert certified == pytest.approx(entropy, abs=1e-12)
        assert certified <= math.log(k) + 1e-12
    # a balanced batch reaches the ceiling log K exactly; the unbalanced one (K - 1 classes
    # drawn) stays below it
    z = F.one_hot(torch.arange(n) % k, k).to(torch.float64)
    bound = math.log(n) - cmc_terms(torch.stack([z, z]), temperature=0.01).pair_losses[0].item() / 2
    assert bound == pytest.approx(math.log(k), abs=1e-12)


def test_two_views_is_twice_symmetric_info_nce():
    a, b = randn(2, 6, 4)
    for graph in ("full", "core"):
        torch.testing.assert_close(cmc_loss([a, b], graph=graph, temperature=0.3),
                                   2 * info_nce_loss(a, b, temperature=0.3))


# --- reference ---------------------------------------------------------------------------------

@pytest.mark.parametrize("t", [0.07, 0.5, 2.0])
@pytest.mark.parametrize("graph", ["full", "core", [(2, 0), (1, 3)]])
def test_matches_loop_reference(t, graph):
    z = randn(4, 6, 4)
    terms = cmc_terms(z, graph=graph, temperature=t, reduction="none")
    expected_pairs = {"full": list(combinations(range(4), 2)), "core": [(0, 1), (0, 2), (0, 3)]}
    pairs = expected_pairs[graph] if isinstance(graph, str) else [(0, 2), (1, 3)]
    assert list(terms.pairs) == pairs
    ref = torch.stack([_pair_loop(z[i], z[j], t) for i, j in pairs])  # (P, N)
    torch.testing.assert_close(terms.pair_losses, ref)
    torch.testing.assert_close(terms.loss, ref.sum(0))


def test_view_pairs_counts_and_order():
    for v in range(2, 7):
        assert len(view_pairs(v)) == math.comb(v, 2)
        assert len(view_pairs(v, graph="core", core_view=v - 1)) == v - 1
    assert view_pairs(3, graph="core", core_view=1) == ((0, 1), (1, 2))
    assert view_pairs(5, graph=[(3, 1), (0, 4)]) == ((1, 3), (0, 4))


def test_reductions_and_list_input():
    z = randn(3, 5, 4)
    per = cmc_loss(z, reduction="none")
    assert per.shape == (5,)
    assert cmc_loss(z, reduction="sum").item() == pytest.approx(per.sum().item())
    assert cmc_loss(z, reduction="mean").item() == pytest.approx(per.mean().item())
    torch.testing.assert_close(cmc_loss(list(z)), cmc_loss(z))
    t = cmc_terms(z, reduction="sum")
    assert t.pair_losses.shape == (3,)
    assert t.loss.item() == pytest.approx(t.pair_losses.sum().item())


def test_follows_dtype():
    assert cmc_loss(randn(3, 6, 4, dtype=torch.float64)).dtype == torch.float64
    assert cmc_loss(randn(3, 6, 4, dtype=torch.float32)).dtype == torch.float32


# --- invariants --------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(v=st.integers(2, 5), n=st.integers(2, 8), d=st.integers(1, 5),
       seed=st.integers(0, 10_000), t=st.floats(0.05, 5.0))
def test_invariants(v, n, d, seed, t):
    z = randn(v, n, d, seed=seed)
    full = cmc_loss(z, temperature=t)
    g = torch.Generator().manual_seed(seed + 1)
    # Lower bound: every InfoNCE direction is >= 0.
    assert full.item() >= 0
    # The full graph does not care how the views are numbered.
    perm_v = torch.randperm(v, generator=g)
    assert cmc_loss(z[perm_v], temperature=t).item() == pytest.approx(full.item(), rel=1e-9)
    # Shuffling the scenes jointly in all views changes nothing.
    perm_n = torch.randperm(n, generator=g)
    assert cmc_loss(z[:, perm_n], temperature=t).item() == pytest.approx(full.item(), rel=1e-9)
    # Cosine critic: one rotation for all views, and a positive rescaling, change nothing.
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=z.dtype))
    assert cmc_loss(3.0 * z @ q, temperature=t).item() == pytest.approx(full.item(), rel=1e-9)
    # Each pair is in the core graphs of its two ends: sum_c L_C(c) = 2 L_F.
    cores = sum(cmc_loss(z, graph="core", core_view=c, temperature=t) for c in range(v))
    assert cores.item() == pytest.approx(2 * full.item(), rel=1e-9)


def test_stable_for_extreme_inputs():
    z = randn(3, 6, 4, dtype=torch.float32)
    for t in (1e-3, 10.0):
        zz = (z + 1e4).requires_grad_()
        val = cmc_loss(zz, temperature=t)
        val.backward()
        assert torch.isfinite(val) and torch.isfinite(zz.grad).all()


def test_module_matches_function():
    z = randn(4, 6, 4)
    assert CMCLoss(graph="core", core_view=2, temperature=0.3)(z).item() == pytest.approx(
        cmc_loss(z, graph="core", core_view=2, temperature=0.3).item())
    assert CMCLoss()(z).item() == pytest.approx(cmc_loss(z).item())


# --- cross-view prediction ---------------------------------------------------------------------

def test_prediction_closed_forms():
    x = randn(1, 5, 3)[0]
    err = torch.tensor([0.5, -1.0, 2.0], dtype=x.dtype)
    # l2: sum of squared errors per sample = 0.25 + 1 + 4; l1: 0.5 + 1 + 2.
    assert cross_view_prediction_loss(x + err, x).item() == pytest.approx(5.25)
    assert cross_view_prediction_loss(x + err, x, distance="l1").item() == pytest.approx(3.5)
    per = cross_view_prediction_loss(x + err, x, reduction="none")
    torch.testing.assert_close(per, torch.full((5,), 5.25, dtype=x.dtype))
    assert cross_view_prediction_loss(x + err, x, reduction="sum").item() == pytest.approx(5 * 5.25)
    # l2 is D times torch's mean-squared error; it scales with the square of the amplitude.
    y = randn(1, 5, 3, seed=1)[0]
    assert cross_view_prediction_loss(x, y).item() == pytest.approx(3 * F.mse_loss(x, y).item())
    assert cross_view_prediction_loss(2 * x, 2 * y).item() == pytest.approx(
        4 * cross_view_prediction_loss(x, y).item())


# --- errors ------------------------------------------------------------------------------------

def test_errors():
    z = randn(3, 6, 4)
    with pytest.raises(ValueError, match=r"views must hold at least 2 views along dim 0, got shape \(1, 6, 4\)"):
        cmc_loss(z[:1])
    with pytest.raises(ValueError, match=r"views must hold at least 2 views, got 1"):
        cmc_loss([z[0]])
    with pytest.raises(ValueError, match=r"views must be 3-D, got shape \(6, 4\)"):
        cmc_loss(z[0])
    with pytest.raises(TypeError, match="views must be a \\(V, N, D\\) tensor or a sequence of V \\(N, D\\) tensors, got dict"):
        cmc_loss({"a": z[0]})
    with pytest.raises(ValueError, match=r"views\[0\] and views\[2\] must have the same shape, got \(6, 4\) and \(5, 4\)"):
        cmc_loss([z[0], z[1], z[2, :5]])
    with pytest.raises(TypeError, match=r"views\[0\] and views\[1\] must have the same dtype"):
        cmc_loss([z[0], z[1].float()])
    with pytest.raises(ValueError, match=r"views\[1\] must be 2-D, got shape \(6,\)"):
        cmc_loss([z[0], z[1, :, 0]])
    bad = z.clone()
    bad[1, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="views must be finite, got 1 NaN or infinite value"):
        cmc_loss(bad)
    with pytest.raises(ValueError, match="graph must be one of 'full', 'core'; got 'star'"):
        cmc_loss(z, graph="star")
    with pytest.raises(ValueError, match="core_view must be <= 2, got 3"):
        cmc_loss(z, graph="core", core_view=3)
    with pytest.raises(ValueError, match="temperature must be > 0, got 0.0"):
        cmc_loss(z, temperature=0.0)
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none'; got 'avg'"):
        cmc_loss(z, reduction="avg")


def test_graph_errors():
    with pytest.raises(ValueError, match="num_views must be >= 2, got 1"):
        view_pairs(1)
    with pytest.raises(TypeError, match="graph must be one of 'full', 'core' or a non-empty sequence"):
        view_pairs(3, graph=[])
    with pytest.raises(TypeError, match=r"graph\[0\] must be a pair \(i, j\) of view indices, got \(0, 1, 2\)"):
        view_pairs(3, graph=[(0, 1, 2)])
    with pytest.raises(ValueError, match=r"graph\[0\] must join two different views, got \(1, 1\)"):
        view_pairs(3, graph=[(1, 1)])
    with pytest.raises(ValueError, match=r"graph\[1\] repeats the pair \(0, 1\); each pair may appear once"):
        view_pairs(3, graph=[(0, 1), (1, 0)])
    with pytest.raises(ValueError, match=r"graph\[0\]\[1\] must be <= 2, got 5"):
        view_pairs(3, graph=[(0, 5)])
    with pytest.raises(TypeError, match=r"graph\[0\]\[0\] must be an integer, got float 0.5"):
        view_pairs(3, graph=[(0.5, 1)])
    with pytest.raises(ValueError, match="graph must be one of 'full', 'core'; got 'ring'"):
        CMCLoss(graph="ring")
    with pytest.raises(ValueError, match="core_view must be >= 0, got -1"):
        CMCLoss(core_view=-1)


def test_prediction_errors():
    x = randn(1, 6, 4)[0]
    with pytest.raises(ValueError, match=r"prediction and target must have the same shape, got \(6, 4\) and \(6, 3\)"):
        cross_view_prediction_loss(x, x[:, :3])
    with pytest.raises(ValueError, match="distance must be one of 'l2', 'l1'; got 'cos'"):
        cross_view_prediction_loss(x, x, distance="cos")
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none'; got 'max'"):
        cross_view_prediction_loss(x, x, reduction="max")
    with pytest.raises(ValueError, match=r"target must be 2-D, got shape \(6,\)"):
        cross_view_prediction_loss(x, x[:, 0])
    with pytest.raises(TypeError, match="prediction and target must have the same dtype"):
        cross_view_prediction_loss(x, x.float())


# --- gradcheck ---------------------------------------------------------------------------------

@pytest.mark.parametrize("graph", ["full", "core"])
def test_gradcheck_cmc(graph):
    z = randn(3, 4, 3).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: cmc_loss(x, graph=graph, temperature=0.5), (z,))
    zs = [t.detach().clone().requires_grad_() for t in randn(3, 4, 3, seed=1)]
    assert torch.autograd.gradcheck(lambda a, b, c: cmc_loss([a, b, c], reduction="none").sum(), zs)


def test_gradcheck_prediction():
    x = randn(1, 4, 3)[0].requires_grad_()
    y = randn(1, 4, 3, seed=2)[0]
    assert torch.autograd.gradcheck(lambda p: cross_view_prediction_loss(p, y), (x,))
    # l1 is differentiable away from zero residuals (the random draws are far from ties).
    assert torch.autograd.gradcheck(lambda p: cross_view_prediction_loss(p, y, distance="l1"), (x,))


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    *(V.Entry(f"losses.{name}", lambda: {"views": V.randn(3, 8, 4)}, (
        V.rank("views", lambda x: x[0]), V.shape("views", lambda k: k["views"][:1]),
        V.custom("empty", "views", lambda k: k["views"][:, :0], V.all_of("views", r"\(3, 0, 4\)")),
        V.nonfinite("views"), V.nonpositive("temperature"), V.choice("graph", ("full", "core")),
        V.choice("reduction", V.REDUCTIONS), V.wrong_type("views", lambda x: None, "tensor"),
        *V.boolean("normalize"),
    )) for name in ("cmc_loss", "cmc_terms")),
    V.Entry("losses.CMCLoss", lambda: {"views": V.randn(3, 8, 4), "temperature": 0.07}, (
        V.number_type("temperature"), V.nonpositive("temperature"), V.choice("graph", ("full", "core")),
        V.choice("reduction", V.REDUCTIONS), V.rank("views", lambda x: x[0]), *V.boolean("normalize")),
        ctor=("temperature", "graph", "reduction", "normalize")),
    V.Entry("losses.view_pairs", lambda: {"num_views": 3}, (
        V.nonpositive("num_views", 1), V.choice("graph", ("full", "core")),
        V.wrong_type("num_views", lambda x: "3", "integer"),
        V.Bad("range", "core_view", lambda k: V.replace(k, core_view=3, graph="core"),
              V.all_of("core_view", "< 3|<= 2", "got 3")),
    )),
    V.Entry("losses.cross_view_prediction_loss",
            lambda: {"prediction": V.randn(8, 4), "target": V.randn(8, 4, seed=1)}, (
              *V.pair_cells("prediction", "target"), V.choice("distance", ("l2", "l1")),
              V.choice("reduction", V.REDUCTIONS))),
]

ROBUSTNESS = {
    # L2-normalised embeddings (cmc): inputs multiplied by 1e4, the value must not move;
    # cross-view prediction regresses raw embeddings: translated by 1e4
    "cmc_loss": R.cosine(lambda a, b, **k: L.cmc_loss([a, b, a - b], **k), 0.07, depth=18),
    "cmc_terms": R.cosine(lambda a, b, **k: R.sum_fields(L.cmc_terms([a, b, a - b], **k)[::2]),
                          0.07, depth=36),  # loss + pair_losses: the total counted twice
    "cross_view_prediction_loss": R.Case(make=R.pair, call=lambda p, y, t=None:
                                         L.cross_view_prediction_loss(p, y), big="add",
                                         expect=R.SAME, bf16=(1, R.VALUE), tau=False),
    "CMCLoss": R.wraps("cmc_loss"),
    "view_pairs": R.not_numeric("returns the index pairs of a view graph: no number"),
}

SECOND_ORDER = {
    # the InfoNCE engine (losses/_engine.py): exact by a dense differentiable backward
    "cmc_loss": ("exact", lambda: G.one(
        lambda a, b, c: L.cmc_loss([a, b, c], temperature=0.5, reduction="none"),
        *(G.x(4, 3, seed=s) for s in (32, 33, 34)))),
    "cmc_terms": ("exact", lambda: G.one(
        lambda a, b, c: L.cmc_terms([a, b, c], graph="core", temperature=0.5, reduction="none"),
        *(G.x(4, 3, seed=s) for s in (35, 36, 37)))),
    "cross_view_prediction_loss": ("exact", lambda: G.one(
        L.cross_view_prediction_loss, *G.pair_xy(seed=38))),
    "view_pairs": ("none", "returns the index pairs of a view graph: nothing to differentiate"),
}
