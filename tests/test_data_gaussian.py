"""Tests for reptutor.data.gaussian: closed forms -> reference -> invariants -> errors -> gradcheck."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

import reptutor.data as DATA
from reptutor.data import CorrelatedGaussian, ar1_covariance

import _robustness as R
import _validation as V
from _helpers import gen

F64 = torch.float64


def joint_cov(g: CorrelatedGaussian) -> np.ndarray:
    """Covariance of (x, y) built independently of the class: [[S, rho S], [rho S, S]]."""
    s = g.cov_x.numpy()
    return np.block([[s, g.rho * s], [g.rho * s, s]])


def condition(mean: np.ndarray, cov: np.ndarray, keep, given, value):
    """Textbook Gaussian conditioning: mean and covariance of z[keep] given z[given] = value."""
    c_kg = cov[np.ix_(keep, given)]
    c_gg = cov[np.ix_(given, given)]
    mu = mean[keep] + c_kg @ np.linalg.solve(c_gg, value - mean[given])
    sig = cov[np.ix_(keep, keep)] - c_kg @ np.linalg.solve(c_gg, c_kg.T)
    return mu, sig


# ---------------------------------------------------------------- closed forms
@pytest.mark.parametrize("dim,rho", [(1, 0.3), (5, 0.9), (20, -0.7)])
def test_mi_closed_form_from_rho(dim, rho):
    g = CorrelatedGaussian(dim, rho=rho)
    assert g.mi() == pytest.approx(-0.5 * dim * math.log(1 - rho**2), rel=1e-12)


@pytest.mark.parametrize("mi", [0.0, 1e-3, 2.0, 10.0, 80.0])
def test_mi_round_trip_and_rho(mi):
    g = CorrelatedGaussian(20, mi=mi)
    assert g.mi() == pytest.approx(mi, abs=1e-12)
    assert g.rho == pytest.approx(math.sqrt(1 - math.exp(-2 * mi / 20)), abs=1e-15)


def test_mi_does_not_depend_on_cov_x_and_matches_log_det_formula():
    # I = 1/2 logdet Cov(y) - 1/2 logdet Cov(y|x), computed from the joint covariance
    g = CorrelatedGaussian(6, rho=0.6, cov_x=ar1_covariance(6, 0.8))
    c = joint_cov(g)
    _, cond = condition(np.zeros(12), c, list(range(6, 12)), list(range(6)), np.zeros(6))
    ref = 0.5 * (np.linalg.slogdet(c[6:, 6:])[1] - np.linalg.slogdet(cond)[1])
    assert g.mi() == pytest.approx(ref, rel=1e-10)
    assert g.mi() == pytest.approx(CorrelatedGaussian(6, rho=0.6).mi(), rel=1e-12)


def test_chain_rule_terms_sum_to_mi_and_match_log_dets():
    g = CorrelatedGaussian(7, mi=5.0, cov_x=ar1_covariance(7, 0.5))
    bounds = g.chunks(3)
    assert bounds == [(0, 3), (3, 5), (5, 7)]
    assert sum(g.conditional_mi(a, b) for a, b in bounds) == pytest.approx(5.0, abs=1e-12)
    # I(x; y_B | y_P) = 1/2 logdet Cov(y_B|y_P) - 1/2 logdet Cov(y_B|x, y_P), from the joint
    c = joint_cov(g)
    a, b = 3, 5
    _, given_y = condition(np.zeros(14), c, list(range(7 + a, 7 + b)), list(range(7, 7 + a)),
                           np.zeros(a))
    _, given_xy = condition(np.zeros(14), c, list(range(7 + a, 7 + b)),
                            list(range(7)) + list(range(7, 7 + a)), np.zeros(7 + a))
    ref = 0.5 * (np.linalg.slogdet(given_y)[1] - np.linalg.slogdet(given_xy)[1])
    assert g.conditional_mi(a, b) == pytest.approx(ref, rel=1e-10)


def test_ar1_covariance_entries():
    s = ar1_covariance(5, -0.4)
    i, j = np.indices((5, 5))
    np.testing.assert_allclose(s.numpy(), (-0.4) ** np.abs(i - j), rtol=0, atol=1e-15)
    assert ar1_covariance(4, 0.0).equal(torch.eye(4, dtype=F64))


def test_chunks_cover_the_coordinates():
    g = CorrelatedGaussian(10, rho=0.5)
    for m in range(1, 11):
        b = g.chunks(m)
        assert len(b) == m and b[0][0] == 0 and b[-1][1] == 10
        assert all(b[k][1] == b[k + 1][0] for k in range(m - 1))
        sizes = [s - a for a, s in b]
        assert max(sizes) - min(sizes) <= 1


# ---------------------------------------------------------------- references (Monte Carlo, scipy)
def test_sample_covariance_matches_kronecker_structure():
    g = CorrelatedGaussian(4, rho=0.7, cov_x=ar1_covariance(4, 0.5))
    n = 40_000
    x, y = g.sample(n, gen(1), dtype=F64)
    emp = np.cov(torch.cat([x, y], 1).numpy().T)
    # entries of a sample covariance of unit-scale Gaussians have SE <= sqrt(2/n) = 0.007:
    # 0.04 is > 5 SE
    np.testing.assert_allclose(emp, joint_cov(g), atol=0.04)


def test_log_density_ratio_matches_scipy_densities():
    g = CorrelatedGaussian(3, rho=0.8, cov_x=ar1_covariance(3, 0.6))
    x, y = g.sample(7, gen(2), dtype=F64)
    s = g.cov_x.numpy()
    ref = np.array([
        multivariate_normal(g.rho * xi, (1 - g.rho**2) * s).logpdf(yi)
        - multivariate_normal(np.zeros(3), s).logpdf(yi)
        for xi, yi in zip(x.numpy(), y.numpy())
    ])
    np.testing.assert_allclose(g.log_density_ratio(x, y).numpy(), ref, rtol=1e-10, atol=1e-10)


def test_monte_carlo_mean_of_optimal_critic_is_the_mi():
    g = CorrelatedGaussian(10, mi=3.0, cov_x=ar1_covariance(10, 0.5))
    x, y = g.sample(50_000, gen(3), dtype=F64)
    f = g.log_density_ratio(x, y)
    se = f.std().item() / math.sqrt(f.numel())
    assert abs(f.mean().item() - 3.0) < 5 * se


def test_score_matrix_equals_broadcast_log_density_ratio():
    g = CorrelatedGaussian(5, mi=4.0, cov_x=ar1_covariance(5, 0.3))
    x, y = g.sample(6, gen(4), dtype=F64)
    _, y2 = g.sample(9, gen(5), dtype=F64)
    torch.testing.assert_close(g.score_matrix(x, y2), g.log_density_ratio(x[:, None], y2[None]))
    torch.testing.assert_close(g.score_matrix(x, y).diagonal(), g.log_density_ratio(x, y))


def test_conditional_sampler_mean_and_covariance_match_gaussian_conditioning():
    d, a, b = 6, 2, 5
    g = CorrelatedGaussian(d, rho=0.5, cov_x=ar1_covariance(d, 0.7))
    _, y = g.sample(2, gen(6), dtype=F64)
    n = 30_000
    z = g.conditional_sample(y, a, b, n, gen(7))
    assert z.shape == (2, n, b - a) and z.dtype == F64
    s = g.cov_x.numpy()
    for i in range(2):
        mu, sig = condition(np.zeros(d), s, list(range(a, b)), list(range(a)), y[i, :a].numpy())
        zi = z[i].numpy()
        # mean SE <= sqrt(1/n) = 0.006 (conditional variances <= 1); covariance SE <= 0.009
        np.testing.assert_allclose(zi.mean(0), mu, atol=0.03)
        np.testing.assert_allclose(np.cov(zi.T), sig, atol=0.04)


def test_conditional_sampler_at_start_zero_samples_the_marginal():
    g = CorrelatedGaussian(4, rho=0.5, cov_x=ar1_covariance(4, 0.6))
    _, y = g.sample(1, gen(8), dtype=F64)
    z = g.conditional_sample(y, 0, 4, 30_000, gen(9))[0].numpy()
    np.testing.assert_allclose(np.cov(z.T), g.cov_x.numpy(), atol=0.04)
    np.testing.assert_allclose(z.mean(0), np.zeros(4), atol=0.03)


def test_conditional_log_density_ratio_matches_joint_conditioning():
    d, a, b = 5, 2, 4
    g = CorrelatedGaussian(d, rho=0.75, cov_x=ar1_covariance(d, 0.5))
    x, y = g.sample(3, gen(10), dtype=F64)
    cand = g.conditional_sample(y, a, b, 4, gen(11))  # (3, 4, 2)
    got = g.conditional_log_density_ratio(x, y, cand, a, b)
    c = joint_cov(g)
    keep = list(range(d + a, d + b))
    for i in range(3):
        mu1, s1 = condition(np.zeros(2 * d), c, keep, list(range(d)) + list(range(d, d + a)),
                            np.concatenate([x[i].numpy(), y[i, :a].numpy()]))
        mu0, s0 = condition(np.zeros(2 * d), c, keep, list(range(d, d + a)), y[i, :a].numpy())
        ref = [multivariate_normal(mu1, s1).logpdf(v) - multivariate_normal(mu0, s0).logpdf(v)
               for v in cand[i].numpy()]
        np.testing.assert_allclose(got[i].numpy(), ref, rtol=1e-9, atol=1e-9)


def test_conditional_ratio_on_the_whole_vector_is_the_unconditional_ratio():
    g = CorrelatedGaussian(4, rho=0.6, cov_x=ar1_covariance(4, 0.4))
    x, y = g.sample(5, gen(12), dtype=F64)
    got = g.conditional_log_density_ratio(x, y, y[:, None, :], 0, 4)[:, 0]
    torch.testing.assert_close(got, g.log_density_ratio(x, y))


def test_monte_carlo_mean_of_conditional_critic_is_the_conditional_mi():
    g = CorrelatedGaussian(8, mi=4.0, cov_x=ar1_covariance(8, 0.5))
    x, y = g.sample(40_000, gen(13), dtype=F64)
    f = g.conditional_log_density_ratio(x, y, y[:, None, 3:6], 3, 6)[:, 0]
    se = f.std().item() / math.sqrt(f.numel())
    assert abs(f.mean().item() - g.conditional_mi(3, 6)) < 5 * se


# ---------------------------------------------------------------- invariants
def test_sampling_is_reproducible_and_follows_dtype():
    g = CorrelatedGaussian(3, rho=0.2)
    a = g.sample(4, gen(14))
    b = g.sample(4, gen(14))
    assert a[0].equal(b[0]) and a[1].equal(b[1]) and a[0].dtype == torch.float32
    assert g.sample(4, gen(14), dtype=F64)[0].dtype == F64


def test_ratio_follows_input_dtype_and_permutes_with_samples():
    g = CorrelatedGaussian(3, rho=0.5, cov_x=ar1_covariance(3, 0.5))
    x, y = g.sample(6, gen(15))
    f = g.log_density_ratio(x, y)
    assert f.dtype == torch.float32 and f.shape == (6,)
    perm = torch.randperm(6, generator=gen(16))
    torch.testing.assert_close(g.log_density_ratio(x[perm], y[perm]), f[perm])
    torch.testing.assert_close(g.score_matrix(x[perm], y[perm]), g.score_matrix(x, y)[perm][:, perm])


def test_zero_mi_gives_a_zero_critic():
    g = CorrelatedGaussian(4, mi=0.0)
    x, y = g.sample(5, gen(17), dtype=F64)
    assert torch.equal(g.score_matrix(x, y), torch.zeros(5, 5, dtype=F64))


def test_repr_mentions_the_mi():
    assert "mi=2" in repr(CorrelatedGaussian(4, mi=2.0))


# ---------------------------------------------------------------- error messages
def test_errors():
    with pytest.raises(ValueError, match="exactly one of rho and mi"):
        CorrelatedGaussian(3)
    with pytest.raises(ValueError, match="exactly one of rho and mi"):
        CorrelatedGaussian(3, rho=0.1, mi=1.0)
    with pytest.raises(ValueError, match="rho must lie strictly between -1 and 1"):
        CorrelatedGaussian(3, rho=1.0)
    with pytest.raises(ValueError, match="rho must be <= 1"):
        CorrelatedGaussian(3, rho=1.5)
    with pytest.raises(ValueError, match="mi must be >= 0"):
        CorrelatedGaussian(3, mi=-1.0)
    with pytest.raises(ValueError, match="too large for dim=1"):
        CorrelatedGaussian(1, mi=1e3)
    with pytest.raises(ValueError, match="dim must be >= 1"):
        CorrelatedGaussian(0, rho=0.5)
    with pytest.raises(ValueError, match=r"cov_x must have size 3 along dim 0 \(dim\)"):
        CorrelatedGaussian(3, rho=0.5, cov_x=torch.eye(4, dtype=F64))
    with pytest.raises(ValueError, match="cov_x must be a square"):
        CorrelatedGaussian(3, rho=0.5, cov_x=torch.ones(3, 4, dtype=F64))
    with pytest.raises(ValueError, match="cov_x must be symmetric"):
        CorrelatedGaussian(2, rho=0.5, cov_x=torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=F64))
    with pytest.raises(ValueError, match="cov_x must be positive definite"):
        CorrelatedGaussian(2, rho=0.5, cov_x=torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=F64))
    with pytest.raises(ValueError, match="phi must lie strictly between -1 and 1"):
        ar1_covariance(3, 1.0)
    g = CorrelatedGaussian(4, rho=0.5)
    x, y = g.sample(3, gen(), dtype=F64)
    with pytest.raises(ValueError, match="start must be < stop"):
        g.conditional_mi(2, 2)
    with pytest.raises(ValueError, match="stop must be <= 4"):
        g.conditional_sample(y, 0, 5, 2, gen())
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        g.sample(3, 0)
    with pytest.raises(TypeError, match="dtype must be a floating torch.dtype"):
        g.sample(3, gen(), dtype=torch.int64)
    with pytest.raises(ValueError, match=r"y must have size 4 along dim 1 \(dim\)"):
        g.conditional_sample(y[:, :3], 0, 2, 2, gen())
    with pytest.raises(ValueError, match=r"y must have size 4 along dim -1 \(dim\)"):
        g.log_density_ratio(x, y[:, :2])
    with pytest.raises(TypeError, match="x and y must have the same dtype"):
        g.score_matrix(x, y.float())
    with pytest.raises(ValueError, match=r"y_block must have size 2 along dim 2 \(stop - start\)"):
        g.conditional_log_density_ratio(x, y, torch.zeros(3, 5, 3, dtype=F64), 1, 3)
    with pytest.raises(ValueError, match=r"y_block must have size 3 along dim 0 \(one row per anchor"):
        g.conditional_log_density_ratio(x, y, torch.zeros(2, 5, 2, dtype=F64), 1, 3)
    with pytest.raises(ValueError, match="m must be <= 4"):
        g.chunks(5)


# ---------------------------------------------------------------- gradcheck
def test_gradcheck_log_density_ratios():
    g = CorrelatedGaussian(3, rho=0.6, cov_x=ar1_covariance(3, 0.5))
    x, y = g.sample(4, gen(18), dtype=F64)
    x.requires_grad_(True)
    y.requires_grad_(True)
    assert torch.autograd.gradcheck(g.log_density_ratio, (x, y))
    assert torch.autograd.gradcheck(g.score_matrix, (x, y))
    cand = g.conditional_sample(y.detach(), 1, 3, 2, gen(19)).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a, b, c: g.conditional_log_density_ratio(a, b, c, 1, 3), (x, y, cand))


def test_log_density_ratio_refuses_unbroadcastable_batches():
    # 5 and 6 rows are neither paired nor all pairs (torch raised "The size of tensor a (5)...")
    gauss = CorrelatedGaussian(2, rho=0.5)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(5, 2, generator=g), torch.randn(6, 2, generator=g)
    with pytest.raises(ValueError, match=r"^x and y must have broadcastable leading shapes .*, "
                                         r"got shapes \(5, 2\) and \(6, 2\)$"):
        gauss.log_density_ratio(x, y)
    # broadcasting to all pairs stays valid and is the score matrix
    torch.testing.assert_close(gauss.log_density_ratio(x[:, None], y[None]), gauss.score_matrix(x, y))


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("data.CorrelatedGaussian", lambda: {"dim": 2, "rho": 0.5,
                                                "x": V.randn(5, 2), "y": V.randn(5, 2, seed=1)}, (
        V.nonpositive("dim"), V.out_of_range("rho", 1.0, "between -1 and 1"), V.empty("x", "y"),
        V.wrong_type("dim", lambda x: 2.0, "integer"),
        V.shape("y", lambda k: k["y"][:, :1]), V.nonfinite("x"), V.rank("x", lambda x: x[0, 0]),
        V.custom("shape", "y", lambda k: k["y"][:4],
                 V.all_of(V.named("x"), V.named("y"), "broadcastable", r"\(5, 2\)", r"\(4, 2\)")),
        V.dtype_mismatch("x", "y"), V.device_mismatch("x", "y")),
        ctor=("dim", "rho"), method="log_density_ratio"),
    V.Entry("data.ar1_covariance", lambda: {"dim": 3, "phi": 0.5}, (
        V.nonpositive("dim"), V.out_of_range("phi", 1.0, "between -1 and 1"),
        V.wrong_type("dim", lambda x: 3.0, "integer"),
        # an integer dtype rounded phi^|i-j| to 0 / 1 silently before
        V.custom("type", "dtype", lambda k: torch.int64, V.all_of("dtype", "floating", "int64"),
                 error=TypeError))),
]


def _cg():
    return DATA.CorrelatedGaussian(R.D, rho=0.6)



LINALG = {
    # computes its whitening in float64 and the ratio in the inputs' dtype (no factorisation of
    # the inputs): not equal to float32 rounded, but no raw error, and meta is supported
    "data.CorrelatedGaussian": R.LinalgCase(lambda dt: R.pair(dt),
                                            lambda x, y: _cg().log_density_ratio(x, y),
                                            exact=False, meta="support"),
}
