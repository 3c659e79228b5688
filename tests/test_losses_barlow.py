"""reptutor.losses.barlow: closed forms, the official formula and the paper's Algorithm 1 as
references, the two Gram sides, invariants, errors, gradcheck."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import reptutor.losses as L
from reptutor.losses import (
    BarlowTwinsLoss,
    BarlowTwinsTerms,
    barlow_twins_loss,
    barlow_twins_terms,
    cross_correlation,
)

import _gradcheck as G
import _robustness as R
import _validation as V
from _helpers import views

FORMS = ("features", "samples")


def _official(z1, z2, lam=5e-3, eps=1e-5):
    """facebookresearch/barlowtwins main.py on one device: BatchNorm1d(affine=False), C / N."""
    n = z1.shape[0]
    bn = lambda z: F.batch_norm(z, None, None, training=True, eps=eps)  # noqa: E731
    c = bn(z1).T @ bn(z2) / n
    on = (torch.diagonal(c) - 1).pow(2).sum()
    off = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    return on + lam * off, on, off


def _decorrelated(n, d, dtype=torch.float64):
    """(N, D) with centred, orthogonal columns of biased variance exactly 1: C(Z, Z) = I."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    x = x - x.mean(0)
    q, _ = torch.linalg.qr(x)  # orthonormal columns, still orthogonal to the ones vector
    return q * n**0.5


# --- closed forms -------------------------------------------------------------------------------

@pytest.mark.parametrize("form", FORMS)
def test_identical_decorrelated_views_cost_nothing(form):
    z = _decorrelated(20, 6)
    t = barlow_twins_terms(z, z, eps=0.0, form=form)
    # C = I exactly up to float64 round-off of a QR (~1e-15 per entry, D^2 = 36 entries)
    assert t.invariance.item() == pytest.approx(0.0, abs=1e-24)
    assert t.redundancy.item() == pytest.approx(0.0, abs=1e-12)
    # with the default eps, C_ii = 1 / (1 + eps): invariance D * (eps / (1 + eps))^2 exactly
    t = barlow_twins_terms(z, z, form=form)
    assert t.invariance.item() == pytest.approx(6 * (1e-5 / (1 + 1e-5)) ** 2, rel=1e-8)


@pytest.mark.parametrize("form", FORMS)
def test_two_sample_hand_computed(form):
    # standardised (biased var, eps 0): A = [[1, 1], [-1, -1]], B = [[1, -1], [-1, 1]]
    # C = A^T B / 2 = [[1, -1], [1, -1]]: invariance (1-1)^2 + (1+1)^2 = 4, redundancy 1 + 1 = 2
    z_a = torch.tensor([[1.0, 2.0], [-1.0, 0.0]], dtype=torch.float64)
    z_b = torch.tensor([[3.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(cross_correlation(z_a, z_b, eps=0.0),
                               torch.tensor([[1.0, -1.0], [1.0, -1.0]], dtype=torch.float64))
    t = barlow_twins_terms(z_a, z_b, eps=0.0, redundancy_weight=0.25, form=form)
    assert (t.invariance.item(), t.redundancy.item()) == pytest.approx((4.0, 2.0), abs=1e-12)
    assert t.loss.item() == pytest.approx(4.0 + 0.25 * 2.0, abs=1e-12)


@pytest.mark.parametrize("form", FORMS)
def test_copied_coordinate_pays_only_redundancy(form):
    u = torch.randn(30, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    z = torch.cat([u, u], 1)  # C = [[1, 1], [1, 1]] with eps = 0
    t = barlow_twins_terms(z, z, eps=0.0, form=form)
    assert t.invariance.item() == pytest.approx(0.0, abs=1e-24)
    assert t.redundancy.item() == pytest.approx(2.0, abs=1e-12)
    assert t.loss.item() == pytest.approx(2 * 5e-3, abs=1e-12)  # default lambda 5e-3


# --- references ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("form", FORMS)
def test_matches_official_formula(seed, form):
    a, b = views(n=12, d=7, seed=seed, noise=0.7)
    loss, on, off = _official(a, b)
    t = barlow_twins_terms(a, b, form=form)
    # float64; the samples side subtracts sum C_ii^2 <= D, so ~1e-15 * D absolute round-off
    assert t.invariance.item() == pytest.approx(on.item(), rel=1e-12)
    assert t.redundancy.item() == pytest.approx(off.item(), rel=1e-10)
    assert t.loss.item() == pytest.approx(loss.item(), rel=1e-11)
    assert isinstance(t, BarlowTwinsTerms)
    assert barlow_twins_loss(a, b, form=form).item() == t.loss.item()


def test_relation_to_algorithm_1_unbiased_std():
    # the paper's Algorithm 1 standardises with z.std(0) (1/(N-1), no eps): C_paper = C (N-1)/N
    a, b = views(n=10, d=4, seed=5, noise=0.7)
    n = a.shape[0]
    norm = lambda z: (z - z.mean(0)) / z.std(0)  # noqa: E731
    c_paper = norm(a).T @ norm(b) / n
    torch.testing.assert_close(cross_correlation(a, b, eps=0.0) * (n - 1) / n, c_paper,
                               rtol=1e-12, atol=1e-14)


def test_float32_agrees_with_official_at_benchmark_like_shapes():
    # D > 4N/3: "auto" takes the N x N side; float32 noise on a loss of ~D^2/N scale
    a, b = views(n=48, d=160, seed=1, dtype=torch.float32, noise=0.7)
    a.requires_grad_(True)
    loss = barlow_twins_loss(a, b)
    (ga,) = torch.autograd.grad(loss, a)
    a64 = a.detach().double().requires_grad_(True)
    ref, _, _ = _official(a64, b.double())
    (gref,) = torch.autograd.grad(ref, a64)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)  # float32 sums of ~N*D terms
    assert float((ga.double() - gref).abs().max()) < 1e-5 * float(gref.abs().max()) + 1e-7


# --- the two Gram sides and the auto rule -----------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 10), d=st.integers(1, 14), seed=st.integers(0, 10_000),
       lam=st.sampled_from([0.0, 5e-3, 1.0]))
def test_forms_agree_in_value_and_gradient(n, d, seed, lam):
    a, b = views(n, d, seed, noise=0.7)
    a.requires_grad_(True)
    b.requires_grad_(True)
    out = {}
    for form in FORMS:
        loss = barlow_twins_loss(a, b, redundancy_weight=lam, form=form)
        out[form] = (loss, *torch.autograd.grad(loss, (a, b)))
    # float64; the samples side cancels sum C_ii^2 <= D: absolute round-off ~1e-14 * D
    assert out["samples"][0].item() == pytest.approx(out["features"][0].item(), rel=1e-10, abs=1e-13 * d)
    for gs, gf in zip(out["samples"][1:], out["features"][1:]):
        torch.testing.assert_close(gs, gf, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("n,d,side", [(8, 10, "features"), (8, 11, "samples"), (30, 5, "features")])
def test_auto_picks_the_cheaper_side(n, d, side):
    # flops: features 6 N D^2 vs samples 8 N^2 D -> samples iff 3 D > 4 N (8 x 10: 30 < 32)
    a, b = views(n, d, seed=2, noise=0.7)
    assert barlow_twins_loss(a, b).item() == barlow_twins_loss(a, b, form=side).item()


# --- invariants ---------------------------------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(n=st.integers(3, 10), d=st.integers(1, 8), seed=st.integers(0, 10_000))
def test_invariants(n, d, seed):
    a, b = views(n, d, seed, noise=0.7)
    t = barlow_twins_terms(a, b, eps=0.0)
    g = torch.Generator().manual_seed(seed)
    # swapping the views transposes C: same loss
    assert barlow_twins_loss(b, a, eps=0.0).item() == pytest.approx(t.loss.item(), rel=1e-10)
    # permuting the samples of both views jointly
    perm = torch.randperm(n, generator=g)
    assert barlow_twins_loss(a[perm], b[perm], eps=0.0).item() == pytest.approx(t.loss.item(), rel=1e-10)
    # permuting the coordinates of both views jointly permutes C's rows and columns alike
    cols = torch.randperm(d, generator=g)
    assert barlow_twins_loss(a[:, cols], b[:, cols], eps=0.0).item() == pytest.approx(t.loss.item(), rel=1e-10)
    # a positive scale and a shift per coordinate disappear in the standardisation (eps = 0)
    scale = torch.rand(d, generator=g, dtype=a.dtype) + 0.5
    shift = torch.randn(d, generator=g, dtype=a.dtype)
    assert barlow_twins_loss(a * scale + shift, b, eps=0.0).item() == pytest.approx(t.loss.item(), rel=1e-9)
    # |C_ij| <= 1 (Cauchy-Schwarz), so each term is bounded
    c = cross_correlation(a, b, eps=0.0)
    assert float(c.abs().max()) <= 1 + 1e-12
    assert 0.0 <= t.invariance.item() <= 4 * d + 1e-9 and 0.0 <= t.redundancy.item() <= d * (d - 1) + 1e-9


def test_module_wraps_function():
    a, b = views(n=8, d=3, seed=4, noise=0.7)
    m = BarlowTwinsLoss(redundancy_weight=0.1, eps=1e-3, form="samples")
    assert m(a, b).item() == barlow_twins_loss(a, b, redundancy_weight=0.1, eps=1e-3, form="samples").item()
    assert "redundancy_weight=0.1" in repr(m) and "form='samples'" in repr(m)


def test_follows_dtype():
    a, b = views(n=8, d=3, dtype=torch.float32, noise=0.7)
    assert barlow_twins_loss(a, b).dtype == torch.float32
    assert cross_correlation(a, b).shape == (3, 3)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("value", [0.0, 0.1, -7.77])
def test_eps_zero_constant_coordinate_is_the_small_eps_limit(form, value):
    # With eps = 0 a constant coordinate's correlations are 0/0 (NaN before): it is
    # standardised to 0, the eps -> 0+ limit; 0.1 and -7.77 do not centre to exactly 0.
    a, b = views(n=12, d=4, seed=5, noise=0.7)
    a[:, 2] = value
    c = cross_correlation(a, b, eps=0.0)
    assert torch.isfinite(c).all() and bool((c[2] == 0).all())
    torch.testing.assert_close(c, cross_correlation(a, b, eps=1e-14), rtol=0, atol=1e-6)
    t = barlow_twins_terms(a, b, eps=0.0, form=form)
    tiny = barlow_twins_terms(a, b, eps=1e-14, form=form)
    for got, want in zip(t, tiny):
        assert got.item() == pytest.approx(want.item(), rel=1e-6)
    # the constant coordinate adds exactly 1 to the invariance term: (1 - C_22)^2 = 1
    keep = [0, 1, 3]
    assert t.invariance.item() == pytest.approx(
        1 + barlow_twins_terms(a[:, keep], b[:, keep], eps=0.0).invariance.item(), rel=1e-12)
    x = a.clone().requires_grad_(True)
    barlow_twins_loss(x, b, eps=0.0, form=form).backward()
    assert torch.isfinite(x.grad).all() and bool((x.grad[:, 2] == 0).all())


# --- errors --------------------------------------------------------------------------------------------

def test_errors():
    a, b = views(n=6, d=3, noise=0.7)
    with pytest.raises(TypeError, match="z_a must be a torch.Tensor"):
        barlow_twins_loss(a.numpy(), b)
    with pytest.raises(ValueError, match=r"z_b must be 2-D, got shape \(6,\)"):
        barlow_twins_loss(a, b[:, 0])
    with pytest.raises(ValueError, match=r"z_a and z_b must have the same shape, got \(6, 3\) and \(6, 2\)"):
        barlow_twins_loss(a, b[:, :2])
    with pytest.raises(TypeError, match="z_a and z_b must have the same dtype"):
        barlow_twins_loss(a, b.float())
    with pytest.raises(ValueError, match=r"z_a must have at least 2 rows .* got shape \(1, 3\)"):
        barlow_twins_loss(a[:1], b[:1])
    with pytest.raises(ValueError, match="z_a must be finite"):
        barlow_twins_loss(a.clone().fill_(float("nan")), b)
    with pytest.raises(ValueError, match="redundancy_weight must be >= 0, got -1.0"):
        barlow_twins_loss(a, b, redundancy_weight=-1.0)
    with pytest.raises(TypeError, match="redundancy_weight must be a real number"):
        barlow_twins_loss(a, b, redundancy_weight="0.1")
    with pytest.raises(ValueError, match="eps must be >= 0, got -1e-05"):
        cross_correlation(a, b, eps=-1e-5)
    with pytest.raises(ValueError, match="form must be one of 'auto', 'features', 'samples'; got 'dxd'"):
        barlow_twins_terms(a, b, form="dxd")
    with pytest.raises(ValueError, match="form must be one of"):
        BarlowTwinsLoss(form="nxn")


# --- gradcheck ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("form", FORMS)
def test_gradcheck(form):
    a, b = views(n=5, d=4, seed=7, noise=0.7)
    a.requires_grad_(True)
    b.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x, y: barlow_twins_loss(x, y, redundancy_weight=0.3, eps=1e-3, form=form), (a, b))


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    *(V.Entry(f"losses.{name}", V.pair, (
        *V.pair_cells(), V.nonpositive("eps", -1),
        *((V.nonpositive("redundancy_weight", -1), V.choice("form", V.FORMS)) if name != "cross_correlation" else ()),
        V.Bad("empty", "z_a", lambda k: V.replace(k, z_a=k["z_a"][:1], z_b=k["z_b"][:1]),
              V.all_of("z_a", "at least 2 rows", r"\(1, 4\)")),
    )) for name in ("barlow_twins_loss", "barlow_twins_terms", "cross_correlation")),
    V.Entry("losses.BarlowTwinsLoss", lambda: {**V.pair(), "eps": 1e-5}, (
        V.number_type("eps"), V.nonpositive("eps", -1), V.choice("form", V.FORMS), V.rank("z_a")),
        ctor=("eps", "form")),
]


def _barlow_scale(xs, w_inv, w_red, lam=5e-3):
    # first order: |dL| <= sum_i 2|1 - C_ii| |dC_ii| + lam sum_{i!=j} 2|C_ij| |dC_ij|, and
    # |dC_ij| <= 3u (standardised columns: Cauchy-Schwarz); the depth 3 is in the case
    c = L.cross_correlation(*(x.detach().double() for x in xs))
    off = c - torch.diag_embed(c.diagonal())
    return float(w_inv * 2 * (1 - c.diagonal()).abs().sum() + w_red * 2 * lam * off.abs().sum())


ROBUSTNESS = {
    # batch-standardised cross-correlation: translated by 1e4
    "cross_correlation": R.Case(make=R.pair, call=lambda a, b, t=None: L.cross_correlation(a, b).sum(),
                                big="add", expect=R.SAME, bf16=(3, lambda xs, out: R.D * R.D), tau=False,
                                centred=True),
    "barlow_twins_loss": R.Case(make=R.pair, call=lambda a, b, t=None: L.barlow_twins_loss(a, b),
                                big="add", expect=R.SAME,
                                bf16=(3, lambda xs, out: _barlow_scale(xs, 1, 1)), tau=False,
                                centred=True),
    "barlow_twins_terms": R.Case(make=R.pair, call=lambda a, b, t=None: R.sum_fields(L.barlow_twins_terms(a, b)),
                                 big="add", expect=R.SAME,
                                 bf16=(3, lambda xs, out: _barlow_scale(xs, 2, 1 + 1 / 5e-3)),
                                 tau=False, centred=True),
    "BarlowTwinsLoss": R.wraps("barlow_twins_loss"),
}

SECOND_ORDER = {
    # Gram-matrix terms: _Gram's backward is written with differentiable ops
    "barlow_twins_loss": ("exact", lambda: [
        (f"form={f}", lambda a, b, f=f: L.barlow_twins_loss(a, b, redundancy_weight=0.1, form=f),
         G.pair_xy(6, 3, seed=16)) for f in ("features", "samples")]),
    "barlow_twins_terms": ("exact", lambda: [
        (f"form={f}", lambda a, b, f=f: L.barlow_twins_terms(a, b, redundancy_weight=0.1, form=f),
         G.pair_xy(6, 3, seed=16)) for f in ("features", "samples")]),
    "cross_correlation": ("exact", lambda: G.one(L.cross_correlation, *G.pair_xy(6, 3, seed=16))),
}
