"""reptutor.estimators.entropy: closed forms, scipy references, invariants, the Hadamard sandwich,
the kNN estimator on known densities, errors, gradcheck."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import reptutor.estimators as E
from reptutor.estimators import (
    HadamardGapBounds,
    gaussian_entropy,
    gaussian_mutual_information,
    hadamard_gap,
    hadamard_gap_bounds,
    knn_entropy,
    logdet_entropy,
    vicreg_information_bound,
)

import _gradcheck as G
import _robustness as R
import _validation as V

LOG_2PI_E = math.log(2 * math.pi * math.e)


def _spd(d, seed, dtype=torch.float64, cond=1.0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=dtype)
    return a @ a.T / d + cond * torch.eye(d, dtype=dtype)


# --- closed forms and references ----------------------------------------------------------------------

def test_gaussian_entropy_closed_forms():
    assert gaussian_entropy(torch.eye(1, dtype=torch.float64)).item() == pytest.approx(0.5 * LOG_2PI_E)
    diag = torch.tensor([0.5, 2.0, 7.0], dtype=torch.float64)
    expect = 0.5 * (3 * LOG_2PI_E + math.log(0.5 * 2.0 * 7.0))
    assert gaussian_entropy(torch.diag(diag)).item() == pytest.approx(expect, rel=1e-14)


@pytest.mark.parametrize("d", [1, 3, 6])
def test_gaussian_entropy_matches_scipy(d):
    c = _spd(d, seed=d)
    ref = stats.multivariate_normal(mean=np.zeros(d), cov=c.numpy()).entropy()
    assert gaussian_entropy(c).item() == pytest.approx(float(ref), rel=1e-12)


def test_logdet_entropy_is_the_gaussian_entropy_of_the_unbiased_sample_covariance():
    z = torch.randn(50, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert logdet_entropy(z).item() == pytest.approx(gaussian_entropy(torch.cov(z.T)).item(), rel=1e-13)
    ridge = 0.3
    assert logdet_entropy(z, ridge=ridge).item() == pytest.approx(
        gaussian_entropy(torch.cov(z.T) + ridge * torch.eye(4, dtype=z.dtype)).item(), rel=1e-13)


def test_logdet_entropy_is_minus_infinity_when_rank_deficient():
    z = torch.randn(4, 6, dtype=torch.float64)  # N <= D: rank <= N - 1
    assert logdet_entropy(z).item() == -math.inf
    assert math.isfinite(logdet_entropy(z, ridge=1e-3).item())
    c = torch.randn(100, 1, dtype=torch.float64)
    assert logdet_entropy(torch.cat([c, 2 * c], dim=1)).item() == -math.inf  # collinear columns


def test_gaussian_entropy_upper_bounds_a_non_gaussian_law():
    # Uniform on [0, 1]^2: H = 0 while its covariance I/12 gives 0.5 log det(2 pi e I / 12) > 0
    # (maximum entropy for a given covariance, Cover & Thomas Thm. 8.6.5)
    cov = torch.eye(2, dtype=torch.float64) / 12
    assert gaussian_entropy(cov).item() == pytest.approx(LOG_2PI_E - math.log(12))
    assert gaussian_entropy(cov).item() > 0.17


def test_hadamard_gap_closed_form_and_scale_invariance():
    for rho in (0.0, 0.3, -0.9):
        r = torch.tensor([[1.0, rho], [rho, 1.0]], dtype=torch.float64)
        assert hadamard_gap(r).item() == pytest.approx(-math.log(1 - rho**2), abs=1e-14)
        s = torch.diag(torch.tensor([3.0, 0.2], dtype=torch.float64))
        assert hadamard_gap(s @ r @ s).item() == pytest.approx(-math.log(1 - rho**2), abs=1e-13)
    c = _spd(5, seed=1)
    ref = torch.log(c.diagonal()).sum() - torch.logdet(c)
    assert hadamard_gap(c).item() == pytest.approx(ref.item(), rel=1e-12)
    # gap splits the Gaussian entropy into per-coordinate entropies minus half the gap
    per_coord = sum(gaussian_entropy(c[k:k + 1, k:k + 1]).item() for k in range(5))
    assert gaussian_entropy(c).item() == pytest.approx(per_coord - 0.5 * hadamard_gap(c).item(), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(d=st.integers(2, 8), seed=st.integers(0, 10_000), cond=st.floats(0.01, 3.0))
def test_hadamard_gap_sandwich(d, seed, cond):
    b = hadamard_gap_bounds(_spd(d, seed, cond=cond))
    assert isinstance(b, HadamardGapBounds)
    # the Taylor sandwich holds exactly; 1e-12 relative slack for round-off
    assert b.lower.item() <= b.gap.item() * (1 + 1e-12) + 1e-15
    assert b.gap.item() <= b.upper.item() * (1 + 1e-12) + 1e-15
    assert b.gap.item() >= 0.0


def test_hadamard_gap_is_half_the_squared_correlations_to_second_order():
    # R = I + t E with E symmetric, zero diagonal: -log det R = (t^2 / 2) ||E||_F^2 + O(t^3)
    e = torch.tensor([[0, 1, -2], [1, 0, 0.5], [-2, 0.5, 0]], dtype=torch.float64)
    for t in (1e-2, 1e-3):
        b = hadamard_gap_bounds(torch.eye(3, dtype=torch.float64) + t * e)
        assert b.off_diagonal.item() == pytest.approx(t**2 * (e**2).sum().item(), rel=1e-12)
        assert b.gap.item() == pytest.approx(0.5 * b.off_diagonal.item(), rel=10 * t)


def test_gaussian_mutual_information_closed_form_and_reference():
    # canonical correlations rho_k: I = -1/2 sum log(1 - rho_k^2)
    rho = torch.tensor([0.9, 0.5, 0.0], dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    joint = torch.cat([torch.cat([eye, torch.diag(rho)], 1), torch.cat([torch.diag(rho), eye], 1)])
    expect = -0.5 * torch.log1p(-rho**2).sum().item()
    assert gaussian_mutual_information(joint, 3).item() == pytest.approx(expect, rel=1e-13)
    # reference: H(A) + H(B) - H(A, B) with scipy's Gaussian entropies
    c = _spd(5, seed=3)
    ref = sum(stats.multivariate_normal(cov=m.numpy()).entropy()
              for m in (c[:2, :2], c[2:, 2:])) - stats.multivariate_normal(cov=c.numpy()).entropy()
    assert gaussian_mutual_information(c, 2).item() == pytest.approx(float(ref), rel=1e-10)
    # invariant to invertible linear maps of each block
    t = torch.block_diag(torch.tensor([[2.0, 1.0], [0.0, 0.5]], dtype=torch.float64),
                         torch.tensor([[1.0, 0, 0], [3.0, 1.0, 0], [0, 0, -2.0]], dtype=torch.float64))
    assert gaussian_mutual_information(t @ c @ t.T, 2).item() == pytest.approx(
        gaussian_mutual_information(c, 2).item(), rel=1e-10)


@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_vicreg_information_bound_lower_bounds_the_gaussian_mi(k, seed):
    # Z = W^T x, Z' = W^T x' with x = s + n, x' = s + n': (Z, Z') jointly Gaussian
    g = torch.Generator().manual_seed(seed)
    d = 6
    a, b = torch.randn(d, d, generator=g, dtype=torch.float64), torch.randn(d, d, generator=g, dtype=torch.float64)
    s_cov, n_cov = a @ a.T / d, b @ b.T / d + 1e-3 * torch.eye(d, dtype=torch.float64)
    w = torch.randn(d, k, generator=g, dtype=torch.float64)
    c, cc = w.T @ (s_cov + n_cov) @ w, w.T @ s_cov @ w
    joint = torch.cat([torch.cat([c, cc], 1), torch.cat([cc, c], 1)])
    exact = gaussian_mutual_information(joint, k)
    invariance = 2 * torch.trace(w.T @ n_cov @ w) / k  # E||Z - Z'||^2 / K
    bound = vicreg_information_bound(c, invariance)
    assert bound.item() <= exact.item() + 1e-10
    # invariant to rescaling Z and Z' together
    assert vicreg_information_bound(9 * c, 9 * invariance).item() == pytest.approx(bound.item(), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("eps", [1e-2, 1e-4])
def test_bound_and_sandwich_hold_when_coordinates_crowd_onto_one_direction(eps):
    # What the P46 chapter used to assert as claims on its runs: I_VIC <= I(Z;Z') and the
    # Hadamard sandwich, for any linear encoder of Gaussian views. Here the hard case its
    # no-covariance run produces: all K coordinates copy one direction (R nearly singular, gap
    # of many nats, the upper bound huge), and both inequalities must still hold.
    g = torch.Generator().manual_seed(11)
    d, k = 6, 3
    a, b = torch.randn(d, d, generator=g, dtype=torch.float64), torch.randn(d, d, generator=g, dtype=torch.float64)
    s_cov, n_cov = a @ a.T / d, b @ b.T / d + 0.1 * torch.eye(d, dtype=torch.float64)
    w0 = torch.randn(d, 1, generator=g, dtype=torch.float64)
    w = w0.expand(d, k) + eps * torch.randn(d, k, generator=g, dtype=torch.float64)
    c, cc = w.T @ (s_cov + n_cov) @ w, w.T @ s_cov @ w
    joint = torch.cat([torch.cat([c, cc], 1), torch.cat([cc, c], 1)])
    bnd = hadamard_gap_bounds(c)
    # R has one eigenvalue near K and K - 1 of order eps^2: -log det R ~ 2 (K - 1) log(1/eps)
    assert bnd.gap.item() > 2 * (k - 1) * math.log(1 / eps) - 3
    assert bnd.lower.item() <= bnd.gap.item() <= bnd.upper.item()
    bound = vicreg_information_bound(c, 2 * torch.trace(w.T @ n_cov @ w) / k)
    assert bound.item() <= gaussian_mutual_information(joint, k).item() + 1e-8


def test_vicreg_information_bound_tightens_as_views_agree():
    # one coordinate, unit variances, correlation rho: exact - bound = 1/2 log(2 / (1 + rho)) -> 0
    one = torch.eye(1, dtype=torch.float64)
    for rho in (0.5, 0.9, 0.999):
        bound = vicreg_information_bound(one, 2 * (1 - rho)).item()
        exact = -0.5 * math.log(1 - rho**2)
        assert exact - bound == pytest.approx(0.5 * math.log(2 / (1 + rho)), rel=1e-10)
    assert vicreg_information_bound(one, torch.tensor(0.5, dtype=torch.float64)).item() == pytest.approx(
        -0.5 * math.log(0.5))


def test_knn_entropy_on_known_densities():
    g = torch.Generator().manual_seed(0)
    # N(0, C) in 2-D, N = 4000, k = 3: over seeds 0-19 the error had mean -0.013 and standard
    # deviation 0.025 nats (max |error| 0.061); 0.08 is about three standard deviations
    c = torch.tensor([[2.0, 0.8], [0.8, 0.5]], dtype=torch.float64)
    z = torch.randn(4000, 2, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(c).T
    assert knn_entropy(z).item() == pytest.approx(gaussian_entropy(c).item(), abs=0.08)
    # uniform on [0, 2] x [0, 3]: H = log 6; over seeds 0-19 the error had mean 0.010 (boundary
    # bias) and standard deviation 0.011 (max |error| 0.030); 0.045 leaves 3 standard deviations
    u = torch.rand(4000, 2, generator=g, dtype=torch.float64) * torch.tensor([2.0, 3.0], dtype=torch.float64)
    assert knn_entropy(u).item() == pytest.approx(math.log(6.0), abs=0.045)
    # and the Gaussian log-det value of the uniform sample sits above (maximum entropy)
    assert logdet_entropy(u).item() > knn_entropy(u).item() + 0.1


def test_knn_entropy_equivariance_and_chunking():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(300, 3, generator=g, dtype=torch.float64)
    h = knn_entropy(z, k=4)
    assert knn_entropy(z, k=4, chunk_size=7).item() == pytest.approx(h.item(), rel=1e-14)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    assert knn_entropy(2.5 * z @ q - 4.0, k=4).item() == pytest.approx(h.item() + 3 * math.log(2.5), rel=1e-12)
    assert knn_entropy(z[torch.randperm(300, generator=g)], k=4).item() == pytest.approx(h.item(), rel=1e-12)


def test_knn_entropy_formula_on_a_grid():
    # N equally spaced points on a line, spacing h, k = 1: rho_i = h for all i, so
    # H = psi(N) - psi(1) + log 2 + log h (c_1 = 2)
    n, h = 50, 0.1
    z = (torch.arange(n, dtype=torch.float64) * h)[:, None]
    expect = (torch.special.digamma(torch.tensor(float(n))) - torch.special.digamma(torch.tensor(1.0))).item() \
        + math.log(2) + math.log(h)
    assert knn_entropy(z, k=1).item() == pytest.approx(expect, rel=1e-6)


def test_follows_dtype():
    z = torch.randn(64, 2)
    assert knn_entropy(z).dtype == torch.float32 and logdet_entropy(z).dtype == torch.float32
    assert gaussian_entropy(torch.eye(2)).dtype == torch.float32


def _half_cases():
    g = torch.Generator().manual_seed(5)
    z = torch.randn(60, 3, generator=g)
    cov = torch.cov(z.T) + 0.1 * torch.eye(3)
    return {
        "gaussian_entropy": (gaussian_entropy, cov),
        "logdet_entropy": (logdet_entropy, z),
        "hadamard_gap": (hadamard_gap, cov),
        "hadamard_gap_bounds": (hadamard_gap_bounds, cov),
        "gaussian_mutual_information": (lambda c: gaussian_mutual_information(c, 1), cov),
        "vicreg_information_bound": (lambda c: vicreg_information_bound(c, 0.4), cov),
        "knn_entropy": (knn_entropy, z),
    }


@pytest.mark.parametrize("half", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", sorted(_half_cases()))
def test_half_precision_runs_the_linear_algebra_in_float32(name, half):
    # LAPACK has no half-precision Cholesky / eigvalsh / cdist (a raw NotImplementedError
    # before): the exact upcast to float32 runs the same computation, the result comes back
    # in the input's dtype -- equal to the float32 result of the same values, rounded.
    f, x = _half_cases()[name]
    xh = x.to(half)
    got, ref = f(xh), f(xh.float())
    for a, b in zip(got if isinstance(got, tuple) else (got,), ref if isinstance(ref, tuple) else (ref,)):
        assert a.dtype == half
        assert torch.equal(a, b.to(half))


@pytest.mark.parametrize("name", sorted(_half_cases()))
def test_meta_tensors_are_rejected_by_name(name):
    f, x = _half_cases()[name]
    arg = "z" if x.shape[0] == 60 else "cov"
    with pytest.raises(ValueError, match=rf"^{arg} is on the meta device, which holds no values; \w+ needs them"):
        f(x.to("meta"))


# --- error messages -------------------------------------------------------------------------------

def test_errors():
    with pytest.raises(ValueError, match=r"cov must be a square \(K, K\) matrix, got shape \(2, 3\)"):
        gaussian_entropy(torch.ones(2, 3))
    with pytest.raises(ValueError, match="cov must be symmetric, got max"):
        hadamard_gap(torch.tensor([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="cov must be positive definite.*fails at column 1"):
        gaussian_entropy(torch.tensor([[1.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(TypeError, match="cov must have a floating-point dtype"):
        gaussian_entropy(torch.eye(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"dim_a must be <= 3, got 4"):
        gaussian_mutual_information(torch.eye(4), 4)
    with pytest.raises(ValueError, match=r"dim_a must be >= 1, got 0"):
        gaussian_mutual_information(torch.eye(4), 0)
    with pytest.raises(ValueError, match=r"invariance must be > 0, got 0.0"):
        vicreg_information_bound(torch.eye(2), 0.0)
    with pytest.raises(ValueError, match=r"ridge must be >= 0, got -1.0"):
        logdet_entropy(torch.randn(5, 2), ridge=-1)
    with pytest.raises(ValueError, match=r"z must have at least 2 row"):
        logdet_entropy(torch.randn(1, 2))
    with pytest.raises(ValueError, match=r"k must be <= 3, got 4"):
        knn_entropy(torch.randn(4, 2), k=4)
    with pytest.raises(ValueError, match="z has 2 sample\\(s\\) whose 1-th nearest neighbour is at distance 0"):
        knn_entropy(torch.tensor([[0.0], [0.0], [1.0], [3.0]]), k=1)
    with pytest.raises(ValueError, match="z must be finite"):
        knn_entropy(torch.tensor([[0.0], [float("nan")]]))


# --- gradients ----------------------------------------------------------------------------------------------

def test_gradcheck():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    eye = torch.eye(3, dtype=torch.float64)

    def spd(x):  # gradcheck perturbs single entries; build a symmetric PD matrix from them
        return x @ x.T + eye

    assert torch.autograd.gradcheck(lambda x: gaussian_entropy(spd(x)), (a,))
    assert torch.autograd.gradcheck(lambda x: hadamard_gap(spd(x)), (a,))
    assert torch.autograd.gradcheck(lambda x: gaussian_mutual_information(spd(x), 1), (a,))
    s = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: vicreg_information_bound(spd(x), y), (a, s))
    z = torch.randn(12, 2, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: logdet_entropy(x), (z,))
    assert torch.autograd.gradcheck(lambda x: knn_entropy(x, k=2), (z,))


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    *(V.Entry(f"estimators.{name}", lambda: {"cov": V.spd(4)}, (
        V.rank("cov"), V.shape("cov", lambda k: k["cov"][:, :3]),
        V.custom("empty", "cov", lambda k: k["cov"][:0, :0], V.all_of("cov", r"empty|at least", r"\(0, 0\)")),
        V.nonfinite("cov"), V.wrong_type("cov")))
      for name in ("gaussian_entropy", "hadamard_gap", "hadamard_gap_bounds")),
    V.Entry("estimators.gaussian_mutual_information", lambda: {"cov": V.spd(4), "dim_a": 2}, (
        V.rank("cov"), V.shape("cov", lambda k: k["cov"][:, :3]),
        V.custom("empty", "cov", lambda k: k["cov"][:0, :0], V.all_of("cov", r"empty|at least", r"\(0, 0\)")),
        V.nonfinite("cov"), V.nonpositive("dim_a"),
        V.custom("range", "dim_a", lambda k: 4, V.all_of("dim_a", "<", "got 4")),
        V.wrong_type("cov"))),
    V.Entry("estimators.vicreg_information_bound",
            lambda: {"cov": V.spd(4), "invariance": torch.tensor(0.3)}, (
              V.rank("cov"), V.shape("cov", lambda k: k["cov"][:, :3]),
              V.custom("empty", "cov", lambda k: k["cov"][:0, :0], V.all_of("cov", r"empty|at least", r"\(0, 0\)")),
              V.nonfinite("cov"), V.nonfinite("invariance"), V.nonpositive("invariance", -1),
              V.wrong_type("cov")),
            na={"dtype-mismatch": "invariance is a scalar (number or 0-d tensor) read as a float",
                "device-mismatch": "invariance is a scalar (number or 0-d tensor) read as a float"}),
    V.Entry("estimators.logdet_entropy", lambda: {"z": V.randn(8, 4)}, (
        V.rank("z"), V.empty("z"), V.nonfinite("z"), V.nonpositive("ridge", -1), V.wrong_type("z"))),
    V.Entry("estimators.knn_entropy", lambda: {"z": V.randn(8, 2)}, (
        V.rank("z"), V.empty("z"), V.nonfinite("z"), V.nonpositive("k"), V.nonpositive("chunk_size"),
        V.custom("range", "k", lambda k: 8, V.all_of(r"\bk\b", "8")), V.wrong_type("z"))),
]


def _inv_corr_scale(z):
    c = torch.cov(z.detach().double().T)
    sd = c.diagonal().sqrt()
    return 0.5 * float(torch.linalg.inv(c / sd[:, None] / sd[None, :]).abs().sum())


ROBUSTNESS = {
    # entropies of covariances (scaled by 1e4) and of samples (translated by 1e4)
    "gaussian_entropy": R.Case(make=lambda dt: (R.spd(dt),),
                               call=lambda c, t=None: E.gaussian_entropy(c * R.swept(t, 1.0)), big="scale",
                               expect=lambda ref, xs: ref + 0.5 * xs[0].shape[0] * math.log(R.BIG),
                               bf16=(1, R.VALUE)),
    "hadamard_gap": R.Case(make=lambda dt: (R.spd(dt),), call=lambda c, t=None: E.hadamard_gap(c * R.swept(t, 1.0)),
                           big="scale", expect=R.SAME, bf16=(1, R.VALUE)),
    "hadamard_gap_bounds": R.Case(make=lambda dt: (R.spd(dt),),
                                  call=lambda c, t=None: R.sum_fields(E.hadamard_gap_bounds(c * R.swept(t, 1.0))),
                                  big="scale", expect=R.SAME, bf16=(1, R.VALUE)),
    "gaussian_mutual_information": R.Case(make=lambda dt: (R.spd(dt),),
                                          call=lambda c, t=None: E.gaussian_mutual_information(
                                            c * R.swept(t, 1.0), 2),
                                          big="scale", expect=R.SAME, bf16=(1, R.VALUE)),
    "vicreg_information_bound": R.Case(make=lambda dt: (R.spd(dt), torch.tensor(0.3, dtype=dt)),
                                       call=lambda c, s, t=None: E.vicreg_information_bound(
                                         c * R.swept(t, 1.0), s * R.swept(t, 1.0)),
                                       big="scale", expect=R.SAME, bf16=(1, R.VALUE)),
    "logdet_entropy": R.Case(make=lambda dt: (R.randn(40, 3, seed=16, dtype=dt),),
                             call=lambda z, t=None: E.logdet_entropy(z * R.swept(t, 1.0)), big="add",
                             expect=R.SAME, bf16=(3, lambda xs, out: _inv_corr_scale(xs[0]) + abs(float(out))),
                             centred=True),
    "knn_entropy": R.Case(make=lambda dt: (R.randn(40, 3, seed=17, dtype=dt),),
                          call=lambda z, t=None: E.knn_entropy(z * R.swept(t, 1.0)), big="add",
                          expect=R.SAME, bf16=(1, R.VALUE)),
}

LINALG = {
    "estimators.gaussian_entropy": R.LinalgCase(lambda dt: (R.spd(dt),), E.gaussian_entropy),
    "estimators.logdet_entropy": R.LinalgCase(lambda dt: (R.pair(dt)[0],), E.logdet_entropy),
    "estimators.hadamard_gap": R.LinalgCase(lambda dt: (R.spd(dt),), E.hadamard_gap),
    "estimators.hadamard_gap_bounds": R.LinalgCase(lambda dt: (R.spd(dt),), E.hadamard_gap_bounds),
    "estimators.gaussian_mutual_information": R.LinalgCase(
        lambda dt: (R.spd(dt),), lambda c: E.gaussian_mutual_information(c, 2)),
    "estimators.vicreg_information_bound": R.LinalgCase(
        lambda dt: (R.spd(dt),), lambda c: E.vicreg_information_bound(c, 0.3)),
    "estimators.knn_entropy": R.LinalgCase(lambda dt: (R.pair(dt)[0],), lambda z: E.knn_entropy(z, k=2)),
}

SECOND_ORDER = {
    # plain torch ops and torch.linalg (float64 here)
    "gaussian_entropy": ("exact", lambda: G.one(lambda v: E.gaussian_entropy(G.spd(v)), G.x(3, 3, seed=68))),
    "logdet_entropy": ("exact", lambda: G.one(E.logdet_entropy, G.x(8, 2, seed=69))),
    "hadamard_gap": ("exact", lambda: G.one(lambda v: E.hadamard_gap(G.spd(v)), G.x(3, 3, seed=70))),
    "hadamard_gap_bounds": ("exact", lambda: G.one(
        lambda v: E.hadamard_gap_bounds(G.spd(v)), G.x(3, 3, seed=14))),
    "gaussian_mutual_information": ("exact", lambda: G.one(
        lambda v: E.gaussian_mutual_information(G.spd(v), 1), G.x(3, 3, seed=71))),
    "vicreg_information_bound": ("exact", lambda: G.one(
        lambda v, s: E.vicreg_information_bound(G.spd(v), s), G.x(3, 3, seed=72),
        torch.tensor(0.7, dtype=G.F64, requires_grad=True))),
    "knn_entropy": ("exact", lambda: G.chunked(
        lambda z, **k: E.knn_entropy(z, k=2, **{"chunk_size": k["chunk_size"] or 1024}),
        G.x(9, 2, seed=15))),
}
