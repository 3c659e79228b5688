"""reptutor.losses.vicreg: closed forms, a loop reference, the paper's normalization, invariants,
the two Gram forms, errors, gradcheck."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import reptutor.losses as L
from reptutor.losses import (
    VICRegLoss,
    VICRegTerms,
    covariance_term,
    invariance_term,
    variance_term,
    vicreg_loss,
    vicreg_terms,
)

import _gradcheck as G
import _robustness as R
import _validation as V
from _helpers import views


def _loop_terms(a, b, gamma=1.0, eps=1e-4):
    """Entry-by-entry reference written from Bardes et al. eqs. 1-5 (official-code constants)."""
    n, d = a.shape
    inv = sum(float((a[i, k] - b[i, k]) ** 2) for i in range(n) for k in range(d)) / (n * d)

    def one(z):
        mean = [sum(float(z[i, k]) for i in range(n)) / n for k in range(d)]
        cov = [[sum((float(z[i, k]) - mean[k]) * (float(z[i, m]) - mean[m]) for i in range(n)) / (n - 1)
                for m in range(d)] for k in range(d)]
        v = sum(max(0.0, gamma - math.sqrt(cov[k][k] + eps)) for k in range(d)) / d
        c = sum(cov[k][m] ** 2 for k in range(d) for m in range(d) if k != m) / d
        return v, c

    va, ca = one(a)
    vb, cb = one(b)
    return inv, 0.5 * (va + vb), ca + cb


# --- closed forms -------------------------------------------------------------------------------

def test_collapse_costs_the_full_margin():
    # every row equal: C = 0, so v = gamma - sqrt(eps) and the other terms vanish
    c = torch.zeros(6, 3, dtype=torch.float64)
    t = vicreg_terms(c, c)
    assert t.invariance.item() == 0.0 and t.covariance.item() == 0.0
    assert t.variance.item() == pytest.approx(1.0 - math.sqrt(1e-4), abs=1e-15)
    assert t.loss.item() == pytest.approx(25 * (1.0 - 0.01), abs=1e-12)


def test_two_sample_hand_computed():
    # z = [[1, 2], [-1, 0]]: mean (0, 1), C = [[2, 2], [2, 2]] (1/(N-1) = 1)
    z_a = torch.tensor([[1.0, 2.0], [-1.0, 0.0]], dtype=torch.float64)
    z_b = z_a + torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    assert invariance_term(z_a, z_b).item() == pytest.approx(1.0 / 4)  # one unit entry of N*D = 4
    assert covariance_term(z_a).item() == pytest.approx((2.0**2 + 2.0**2) / 2)
    # variance: std sqrt(2 + eps) > 1 on both coordinates -> 0
    assert variance_term(z_a).item() == 0.0
    # z_b = [[2, 2], [-1, 0]]: C = [[4.5, 3], [3, 2]]
    assert covariance_term(z_b).item() == pytest.approx((3.0**2 + 3.0**2) / 2)
    t = vicreg_terms(z_a, z_b, invariance_weight=2.0, variance_weight=3.0, covariance_weight=0.5)
    assert t.loss.item() == pytest.approx(2.0 * 0.25 + 0.0 + 0.5 * (4.0 + 9.0))


def test_hinge_on_standard_deviation_not_variance():
    # one coordinate, entries +-sqrt(3)/4: sum of squares 3/4, unbiased variance (3/4)/3 = 1/4
    z = torch.tensor([[1.0], [-1.0], [1.0], [-1.0]], dtype=torch.float64) * math.sqrt(3) / 4
    var = 0.25
    assert variance_term(z).item() == pytest.approx(1.0 - math.sqrt(var + 1e-4), abs=1e-14)
    assert variance_term(z, gamma=0.1).item() == 0.0
    assert variance_term(z, gamma=2.0, eps=0.0).item() == pytest.approx(2.0 - math.sqrt(var))


# --- reference and the paper's normalization --------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_loop_reference(seed):
    a, b = views(n=6, d=4, seed=seed, scale=0.7, noise=0.3)  # std ~0.7: the hinge is active
    inv, var, cov = _loop_terms(a, b)
    t = vicreg_terms(a, b)
    assert t.invariance.item() == pytest.approx(inv, rel=1e-12)
    assert t.variance.item() == pytest.approx(var, rel=1e-12)
    assert t.covariance.item() == pytest.approx(cov, rel=1e-12)
    assert t.loss.item() == pytest.approx(25 * inv + 25 * var + cov, rel=1e-12)
    assert vicreg_loss(a, b).item() == t.loss.item()


def test_relation_to_the_papers_printed_normalization():
    # Bardes et al. eq. 6: lambda * s_paper + mu * (v(Z) + v(Z')) + nu * (c(Z) + c(Z')),
    # s_paper = (1/N) sum_i ||z_i - z'_i||^2 = D * our invariance.
    a, b = views(n=9, d=5, seed=4, scale=0.8, noise=0.3)
    n, d = a.shape
    s_paper = ((a - b) ** 2).sum(dim=1).mean()
    t = vicreg_terms(a, b)
    assert (d * t.invariance).item() == pytest.approx(s_paper.item(), rel=1e-12)
    v_sum = variance_term(a) + variance_term(b)
    assert (2 * t.variance).item() == pytest.approx(v_sum.item(), rel=1e-12)
    paper = 25 * s_paper + 25 * v_sum + 1 * (covariance_term(a) + covariance_term(b))
    ours_rescaled = vicreg_loss(a, b, invariance_weight=25 * d, variance_weight=50)
    assert ours_rescaled.item() == pytest.approx(paper.item(), rel=1e-12)


# --- invariants ---------------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 12), d=st.integers(1, 12), seed=st.integers(0, 10_000))
def test_gram_forms_agree(n, d, seed):
    a, _ = views(n, d, seed, noise=0.3)
    f = covariance_term(a, form="features")
    s = covariance_term(a, form="samples")
    # the samples form subtracts sum C_kk^2 (~d); float64 round-off ~1e-15 relative to that
    assert s.item() == pytest.approx(f.item(), rel=1e-9, abs=1e-12 * float((a.var(0) ** 2).sum()) + 1e-14)
    assert covariance_term(a).item() == (s if d > n else f).item()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 10), d=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_invariants(n, d, seed):
    a, b = views(n, d, seed, scale=0.8, noise=0.3)
    t = vicreg_terms(a, b)
    # symmetric in the two views
    t_swap = vicreg_terms(b, a)
    for x, y in zip(t, t_swap):
        assert x.item() == pytest.approx(y.item(), rel=1e-12, abs=1e-15)
    # permuting the samples of both views jointly changes nothing
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    assert vicreg_loss(a[perm], b[perm]).item() == pytest.approx(t.loss.item(), rel=1e-10)
    # translating both views by the same vector changes nothing; each view by its own vector
    # changes only the invariance term
    g = torch.Generator().manual_seed(seed + 1)
    u, w = torch.randn(d, generator=g, dtype=a.dtype), torch.randn(d, generator=g, dtype=a.dtype)
    assert vicreg_loss(a + u, b + u).item() == pytest.approx(t.loss.item(), rel=1e-9, abs=1e-12)
    t2 = vicreg_terms(a + u, b + w)
    assert t2.variance.item() == pytest.approx(t.variance.item(), rel=1e-9, abs=1e-12)
    assert t2.covariance.item() == pytest.approx(t.covariance.item(), rel=1e-9, abs=1e-12)
    # all terms are non-negative; the variance term is at most gamma
    assert min(x.item() for x in t) >= 0.0 and t.variance.item() <= 1.0


def test_rotation_keeps_invariance_but_not_covariance():
    a, b = views(n=50, d=3, seed=3, noise=0.3)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0), dtype=a.dtype))
    assert invariance_term(a @ q, b @ q).item() == pytest.approx(invariance_term(a, b).item(), rel=1e-12)
    # a diagonal covariance stops being diagonal after a generic rotation
    z = torch.randn(400, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    z = z - z.mean(0)
    z = z @ torch.linalg.inv(torch.linalg.cholesky(torch.cov(z.T))).T @ torch.diag(
        torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    assert covariance_term(z).item() < 1e-20
    assert covariance_term(z @ q).item() > 0.1


def test_follows_device_and_dtype():
    a, b = views(n=7, dtype=torch.float32, noise=0.3)
    t = vicreg_terms(a, b)
    assert all(x.dtype == torch.float32 and x.device == a.device for x in t)
    assert isinstance(t, VICRegTerms) and t._fields == ("loss", "invariance", "variance", "covariance")


def test_module_matches_function_and_shows_its_weights():
    a, b = views(n=7, noise=0.3)
    m = VICRegLoss(invariance_weight=5, variance_weight=7, covariance_weight=2, eps=1e-3, gamma=0.5)
    ref = vicreg_loss(a, b, invariance_weight=5, variance_weight=7, covariance_weight=2, eps=1e-3, gamma=0.5)
    assert m(a, b).item() == ref.item()
    assert "invariance_weight=5.0" in repr(m) and "gamma=0.5" in repr(m)


# --- error messages -------------------------------------------------------------------------------------

def test_errors():
    a, b = views(n=7, noise=0.3)
    with pytest.raises(ValueError, match=r"z_a and z_b must have the same shape, got \(7, 4\) and \(6, 4\)"):
        vicreg_loss(a, b[:6])
    with pytest.raises(ValueError, match=r"^z_a must have at least 2 rows \(a variance needs 2 samples\), got shape \(1, 4\)$"):
        vicreg_loss(a[:1], b[:1])
    with pytest.raises(ValueError, match=r"z must have at least 2 rows"):
        variance_term(a[:1])
    with pytest.raises(ValueError, match=r"z_b must be 2-D, got shape \(7,\)"):
        invariance_term(a, b[:, 0])
    with pytest.raises(TypeError, match="z_a and z_b must have the same dtype"):
        vicreg_terms(a, b.float())
    with pytest.raises(TypeError, match="z_a must have a floating-point dtype"):
        vicreg_loss(a.long(), b.long())
    with pytest.raises(ValueError, match="z_a must be finite"):
        vicreg_loss(a * float("inf"), b)
    with pytest.raises(ValueError, match="variance_weight must be >= 0, got -1.0"):
        vicreg_loss(a, b, variance_weight=-1)
    with pytest.raises(ValueError, match="eps must be >= 0, got -0.1"):
        variance_term(a, eps=-0.1)
    with pytest.raises(ValueError, match="gamma must be >= 0, got -2.0"):
        VICRegLoss(gamma=-2)
    with pytest.raises(TypeError, match="invariance_weight must be a real number, got str"):
        vicreg_loss(a, b, invariance_weight="25")
    with pytest.raises(ValueError, match="form must be one of 'auto', 'features', 'samples'; got 'gram'"):
        covariance_term(a, form="gram")


# --- gradients --------------------------------------------------------------------------------------------

def test_gradcheck():
    # std ~0.6 keeps every coordinate strictly inside the hinge (no kink at std = gamma)
    a, b = views(n=6, d=3, seed=5, scale=0.6, noise=0.3)
    assert (a.var(0).sqrt() < 0.95).all() and (b.var(0).sqrt() < 0.95).all()
    a.requires_grad_()
    b.requires_grad_()
    assert torch.autograd.gradcheck(lambda x, y: vicreg_loss(x, y), (a, b))
    for form in ("features", "samples"):
        assert torch.autograd.gradcheck(lambda x: covariance_term(x, form=form), (a,))


def test_variance_gradient_does_not_vanish_at_collapse():
    # the square root is what keeps a gradient at near-collapse: d/dz of sqrt(var + eps)
    # grows like 1/sqrt(eps) relative to the variance hinge's
    z = (1e-3 * torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    z.requires_grad_()
    variance_term(z).backward()
    g_std = z.grad.norm().item()
    z2 = z.detach().clone().requires_grad_()
    torch.relu(1.0 - (z2.var(0) + 1e-4)).mean().backward()
    assert g_std > 10 * z2.grad.norm().item()


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    *(V.Entry(f"losses.{name}", V.pair, (
        *V.pair_cells(), V.nonpositive("eps", -1), V.nonpositive("gamma", -1), V.nonpositive("invariance_weight", -1),
        V.nonpositive("variance_weight", -1), V.nonpositive("covariance_weight", -1),
        V.custom("empty", "z_a", lambda k: k["z_a"][:1], V.all_of("z_a", r"at least 2", r"\(1, 4\)")),
    )) for name in ("vicreg_loss", "vicreg_terms")),
    V.Entry("losses.VICRegLoss", lambda: {**V.pair(), "eps": 1e-4}, (
        V.number_type("eps"), V.nonpositive("eps", -1), V.nonpositive("variance_weight", -1), V.rank("z_a")),
        ctor=("eps", "variance_weight")),
    V.Entry("losses.invariance_term", V.pair, V.pair_cells()),
    V.Entry("losses.variance_term", lambda: {"z": V.randn(8, 4)}, (
        V.rank("z"), V.empty("z"), V.nonfinite("z"), V.nonpositive("eps", -1), V.nonpositive("gamma", -1),
        V.wrong_type("z"))),
    V.Entry("losses.covariance_term", lambda: {"z": V.randn(8, 4)}, (
        V.rank("z"), V.empty("z"), V.nonfinite("z"), V.choice("form", ("auto", "features", "samples")),
        V.wrong_type("z"))),
]


def _gram_scale(*views):  # (tr C)^2 / D per view, summed
    out = 0.0
    for z in views:
        z = z.detach().double()
        out += float(torch.cov(z.T).trace()) ** 2 / z.shape[1]
    return out


ROBUSTNESS = {
    # regression and covariance terms on raw embeddings: translated by 1e4
    "invariance_term": R.Case(make=R.pair, call=lambda a, b, t=None: L.invariance_term(a, b),
                              big="add", expect=R.SAME, bf16=(1, R.VALUE), tau=False),
    "variance_term": R.Case(make=lambda dt: (R.pair(dt)[0],), call=lambda z, t=None: L.variance_term(z),
                            big="add", expect=R.SAME, bf16=(1, R.VALUE), tau=False, centred=True),
    "covariance_term": R.Case(make=lambda dt: (R.pair(dt)[0],),
                              call=lambda z, t=None: L.covariance_term(z), big="add", expect=R.SAME,
                              bf16=(6, lambda xs, out: _gram_scale(*xs)), tau=False, centred=True),
    "covariance_term[samples]": R.Case(make=lambda dt: (R.randn(4, 9, seed=6, dtype=dt),),
                                       call=lambda z, t=None: L.covariance_term(z, form="samples"),
                                       big="add", expect=R.SAME,
                                       bf16=(6, lambda xs, out: _gram_scale(*xs)), tau=False,
                                       centred=True),
    "vicreg_loss": R.Case(make=R.pair, call=lambda a, b, t=None: L.vicreg_loss(a, b), big="add",
                          expect=R.SAME, bf16=(6, lambda xs, out: _gram_scale(*xs) + abs(float(out))),
                          tau=False, centred=True),
    "vicreg_terms": R.Case(make=R.pair, call=lambda a, b, t=None: R.sum_fields(L.vicreg_terms(a, b)),
                           big="add", expect=R.SAME,
                           bf16=(6, lambda xs, out: 2 * _gram_scale(*xs) + abs(float(out))), tau=False,
                           centred=True),
    "VICRegLoss": R.wraps("vicreg_loss"),
}

SECOND_ORDER = {
    # Gram-matrix terms: _Gram's backward is written with differentiable ops
    "vicreg_loss": ("exact", lambda: G.one(L.vicreg_loss, *G.pair_xy(7, 3, seed=9))),
    "vicreg_terms": ("exact", lambda: G.one(L.vicreg_terms, *G.pair_xy(7, 3, seed=9))),
    "invariance_term": ("exact", lambda: G.one(L.invariance_term, *G.pair_xy(seed=41))),
    "variance_term": ("exact", lambda: G.one(  # std ~0.5 < gamma: the hinge is active
        lambda z: L.variance_term(z, gamma=1.0), G.x(7, 3, seed=42, scale=0.5))),
    "covariance_term": ("exact", lambda: [
        (f"form={f}", lambda z, f=f: L.covariance_term(z, form=f), (G.x(7, 3, seed=43),))
        for f in ("features", "samples")]),
}
