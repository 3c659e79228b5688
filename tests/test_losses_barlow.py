"""reptutor.losses.barlow: closed forms, the official formula and the paper's Algorithm 1 as
references, the two Gram sides, invariants, errors, gradcheck."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from reptutor.losses import (
    BarlowTwinsLoss,
    BarlowTwinsTerms,
    barlow_twins_loss,
    barlow_twins_terms,
    cross_correlation,
)

FORMS = ("features", "samples")


def _views(n=9, d=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, d, generator=g, dtype=dtype)
    return a, a + 0.7 * torch.randn(n, d, generator=g, dtype=dtype)


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
    t = barlow_twins_terms(z_a, z_b, eps=0.0, lambda_offdiag=0.25, form=form)
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
    a, b = _views(n=12, d=7, seed=seed)
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
    a, b = _views(n=10, d=4, seed=5)
    n = a.shape[0]
    norm = lambda z: (z - z.mean(0)) / z.std(0)  # noqa: E731
    c_paper = norm(a).T @ norm(b) / n
    torch.testing.assert_close(cross_correlation(a, b, eps=0.0) * (n - 1) / n, c_paper,
                               rtol=1e-12, atol=1e-14)


def test_float32_agrees_with_official_at_benchmark_like_shapes():
    # D > 4N/3: "auto" takes the N x N side; float32 noise on a loss of ~D^2/N scale
    a, b = _views(n=48, d=160, seed=1, dtype=torch.float32)
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
    a, b = _views(n, d, seed)
    a.requires_grad_(True)
    b.requires_grad_(True)
    out = {}
    for form in FORMS:
        loss = barlow_twins_loss(a, b, lambda_offdiag=lam, form=form)
        out[form] = (loss, *torch.autograd.grad(loss, (a, b)))
    # float64; the samples side cancels sum C_ii^2 <= D: absolute round-off ~1e-14 * D
    assert out["samples"][0].item() == pytest.approx(out["features"][0].item(), rel=1e-10, abs=1e-13 * d)
    for gs, gf in zip(out["samples"][1:], out["features"][1:]):
        torch.testing.assert_close(gs, gf, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("n,d,side", [(8, 10, "features"), (8, 11, "samples"), (30, 5, "features")])
def test_auto_picks_the_cheaper_side(n, d, side):
    # flops: features 6 N D^2 vs samples 8 N^2 D -> samples iff 3 D > 4 N (8 x 10: 30 < 32)
    a, b = _views(n, d, seed=2)
    assert barlow_twins_loss(a, b).item() == barlow_twins_loss(a, b, form=side).item()


# --- invariants ---------------------------------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(n=st.integers(3, 10), d=st.integers(1, 8), seed=st.integers(0, 10_000))
def test_invariants(n, d, seed):
    a, b = _views(n, d, seed)
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
    a, b = _views(n=8, d=3, seed=4)
    m = BarlowTwinsLoss(lambda_offdiag=0.1, eps=1e-3, form="samples")
    assert m(a, b).item() == barlow_twins_loss(a, b, lambda_offdiag=0.1, eps=1e-3, form="samples").item()
    assert "lambda_offdiag=0.1" in repr(m) and "form='samples'" in repr(m)


def test_follows_dtype():
    a, b = _views(n=8, d=3, dtype=torch.float32)
    assert barlow_twins_loss(a, b).dtype == torch.float32
    assert cross_correlation(a, b).shape == (3, 3)


# --- errors --------------------------------------------------------------------------------------------

def test_errors():
    a, b = _views(n=6, d=3)
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
    with pytest.raises(ValueError, match="lambda_offdiag must be >= 0, got -1.0"):
        barlow_twins_loss(a, b, lambda_offdiag=-1.0)
    with pytest.raises(TypeError, match="lambda_offdiag must be a real number"):
        barlow_twins_loss(a, b, lambda_offdiag="0.1")
    with pytest.raises(ValueError, match="eps must be >= 0, got -1e-05"):
        cross_correlation(a, b, eps=-1e-5)
    with pytest.raises(ValueError, match="form must be one of 'auto', 'features', 'samples'; got 'dxd'"):
        barlow_twins_terms(a, b, form="dxd")
    with pytest.raises(ValueError, match="form must be one of"):
        BarlowTwinsLoss(form="nxn")


# --- gradcheck ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("form", FORMS)
def test_gradcheck(form):
    a, b = _views(n=5, d=4, seed=7)
    a.requires_grad_(True)
    b.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x, y: barlow_twins_loss(x, y, lambda_offdiag=0.3, eps=1e-3, form=form), (a, b))
