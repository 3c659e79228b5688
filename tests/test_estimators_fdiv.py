"""reptutor.estimators.fdiv (JSD and DV): closed forms, loop references, invariants, errors, gradcheck."""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import reptutor.estimators as E
from reptutor.data import CorrelatedGaussian
from reptutor.estimators import dv, infonce, jsd

import _gradcheck as G
import _robustness as R
import _validation as V


def _scores(k=6, seed=0, dtype=torch.float64, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(k, k, generator=g, dtype=dtype)


def _jsd_loop(f):
    """Straight from the definition: mean over positives, mean over the K(K-1) negatives."""
    k = f.shape[0]
    pos = sum(math.log(torch.sigmoid(f[i, i]).item()) for i in range(k)) / k
    neg = sum(math.log(1 - torch.sigmoid(f[i, j]).item())
              for i in range(k) for j in range(k) if i != j) / (k * (k - 1))
    return pos + neg


def _dv_loop(f):
    k = f.shape[0]
    pos = sum(f[i, i].item() for i in range(k)) / k
    mean_exp = sum(math.exp(f[i, j].item()) for i in range(k) for j in range(k) if i != j)
    return pos - math.log(mean_exp / (k * (k - 1)))


# ------------------------------------------------------------------ closed forms
def test_closed_form_constant_critic():
    # sigma(c) on K positives and 1 - sigma(c) on the negatives; DV of a constant is exactly 0
    for c in (-3.0, 0.0, 2.5):
        f = torch.full((5, 5), c, dtype=torch.float64)
        expect = -math.log1p(math.exp(-c)) - math.log1p(math.exp(c))  # log s(c) + log(1 - s(c))
        assert jsd(f).item() == pytest.approx(expect, rel=1e-12)
        assert dv(f).item() == pytest.approx(0.0, abs=1e-12)
    # the best constant is 0, where the JSD objective is -2 log 2 (independence)
    assert jsd(torch.zeros(4, 4, dtype=torch.float64)).item() == pytest.approx(-2 * math.log(2))


def test_closed_form_two_level_critic():
    # diagonal a, off-diagonal b: DV = a - b exactly; JSD = -sp(-a) - sp(b)
    a, b = 3.0, -1.0
    f = torch.full((7, 7), b, dtype=torch.float64)
    f.fill_diagonal_(a)
    assert dv(f).item() == pytest.approx(a - b, rel=1e-12)
    assert jsd(f).item() == pytest.approx(-math.log1p(math.exp(-a)) - math.log1p(math.exp(b)))


def test_optimal_critic_on_gaussians_reaches_the_bounds():
    # golden values from the theory: DV at the optimal critic averages to I (small MI, many
    # negatives); the JSD objective averages to 2 JS - 2 log 2, estimated here by a large-sample
    # Monte Carlo of the same expectation with independent joint and product samples.
    gauss = CorrelatedGaussian(4, mi=0.5)
    g = torch.Generator().manual_seed(0)
    vals_dv, vals_jsd = [], []
    for _ in range(40):
        x, y = gauss.sample(128, g, dtype=torch.float64)
        f = gauss.score_matrix(x, y).T
        vals_dv.append(dv(f).item())
        vals_jsd.append(jsd(f).item())
    x, y = gauss.sample(200_000, g, dtype=torch.float64)
    t_joint = gauss.log_density_ratio(x, y)
    t_prod = gauss.log_density_ratio(x, y.roll(1, dims=0))  # shuffled pairs ~ p(x) p(y)
    jsd_mc = (-F.softplus(-t_joint).mean() - F.softplus(t_prod).mean()).item()
    # standard error of a 40-batch mean is ~0.013 (DV) and ~0.006 (JSD); tolerances ~4 SE
    assert sum(vals_dv) / 40 == pytest.approx(0.5, abs=0.05)
    assert sum(vals_jsd) / 40 == pytest.approx(jsd_mc, abs=0.025)
    assert -2 * math.log(2) < jsd_mc < 0


# ------------------------------------------------------------------ reference implementations
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_loop_reference(seed):
    f = _scores(seed=seed)
    assert jsd(f).item() == pytest.approx(_jsd_loop(f), rel=1e-10)
    assert dv(f).item() == pytest.approx(_dv_loop(f), rel=1e-10)


def test_reductions():
    f = _scores(k=5)
    rows = jsd(f, reduction="none")
    assert rows.shape == (5,)
    assert jsd(f).item() == pytest.approx(rows.mean().item())
    assert jsd(f, reduction="sum").item() == pytest.approx(rows.sum().item())
    # row i holds its positive and the mean of its K - 1 negatives
    i = 2
    expect = -F.softplus(-f[i, i]) - F.softplus(torch.cat([f[i, :i], f[i, i + 1:]])).mean()
    assert rows[i].item() == pytest.approx(expect.item())


def test_stack_is_the_mean_over_matrices():
    fs = torch.stack([_scores(seed=s) for s in range(3)])  # (3, K, K)
    assert jsd(fs).item() == pytest.approx(sum(jsd(f).item() for f in fs) / 3)
    assert dv(fs).item() == pytest.approx(sum(dv(f).item() for f in fs) / 3)
    assert jsd(fs, reduction="none").shape == (3, 6)
    assert jsd(fs, reduction="sum").item() == pytest.approx(
        sum(jsd(f, reduction="sum").item() for f in fs) / 3)


# ------------------------------------------------------------------ invariants
@settings(max_examples=30, deadline=None)
@given(k=st.integers(2, 9), seed=st.integers(0, 10_000), scale=st.floats(0.1, 20.0),
       shift=st.floats(-30.0, 30.0))
def test_invariants(k, seed, scale, shift):
    f = _scores(k, seed, scale=scale)
    # JSD is a sum of log-probabilities: strictly negative
    assert jsd(f).item() < 0
    # DV is invariant to adding a constant to every score
    assert dv(f + shift).item() == pytest.approx(dv(f).item(), abs=1e-9 * (1 + scale))
    # permuting samples jointly (rows and columns) changes neither estimator
    perm = torch.randperm(k, generator=torch.Generator().manual_seed(seed))
    fp = f[perm][:, perm]
    assert jsd(fp).item() == pytest.approx(jsd(f).item(), rel=1e-12, abs=1e-12)
    assert dv(fp).item() == pytest.approx(dv(f).item(), rel=1e-12, abs=1e-12)


def test_no_log_k_ceiling_for_dv_and_ceiling_zero_for_jsd():
    k = 16
    for c in (5.0, 20.0, 60.0):
        f = c * torch.eye(k, dtype=torch.float64)
        assert dv(f).item() == pytest.approx(c)  # grows without bound
        assert infonce(f).item() <= math.log(k) + 1e-12
        assert jsd(f).item() < 0


def test_jsd_stays_below_zero_at_the_optimal_critic_at_large_mi():
    # JSD < 0 on every batch (each term is a log-probability), also where it nears its ceiling:
    # the optimal critic at 12 nats, where the batch values are within a few 1e-3 of 0 (the Deep
    # InfoMax chapter's sweep). Checked on each batch, in float64 and float32.
    gauss = CorrelatedGaussian(10, mi=12.0)
    g = torch.Generator().manual_seed(0)
    for _ in range(8):
        x, y = gauss.sample(128, g, dtype=torch.float64)
        f = gauss.score_matrix(x, y).T  # (K, K) F_ij = T*(x_j, y_i)
        for dtype in (torch.float64, torch.float32):
            value = jsd(f.to(dtype)).item()
            assert -0.1 < value < 0


def test_large_scores_do_not_overflow():
    f = torch.full((4, 4), 500.0)  # e^500 overflows float32
    f.fill_diagonal_(800.0)
    assert torch.isfinite(dv(f)) and dv(f).item() == pytest.approx(300.0)
    assert torch.isfinite(jsd(f))


def test_device_and_dtype_follow_input():
    for dtype in (torch.float32, torch.float64):
        f = _scores(dtype=dtype)
        assert jsd(f).dtype == dtype and dv(f).dtype == dtype


# ------------------------------------------------------------------ error messages
@pytest.mark.parametrize("fn", [jsd, dv])
def test_errors(fn):
    with pytest.raises(TypeError, match="scores must be a torch.Tensor"):
        fn([[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(TypeError, match="scores must have a floating-point dtype"):
        fn(torch.eye(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"scores must be 2-D or 3-D"):
        fn(torch.zeros(3))
    with pytest.raises(ValueError, match=r"scores must be a square \(K, K\) matrix or a stack"):
        fn(torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"scores must have at least 2 rows \(.*\), got shape \(1, 1\)"):
        fn(torch.zeros(1, 1))
    with pytest.raises(ValueError, match="scores must be finite"):
        fn(torch.tensor([[0.0, float("nan")], [0.0, 0.0]]))


def test_reduction_error():
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none'"):
        jsd(torch.zeros(3, 3), reduction="max")


# ------------------------------------------------------------------ gradients
def test_gradcheck():
    f = _scores(k=4).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: jsd(t), (f,))
    assert torch.autograd.gradcheck(lambda t: jsd(t, reduction="none"), (f,))
    assert torch.autograd.gradcheck(lambda t: dv(t), (f,))
    stack = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: dv(t), (stack,))


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("estimators.jsd", lambda: {"scores": V.randn(6, 6)}, (
        V.rank("scores", lambda x: x[0]), V.shape("scores", lambda k: k["scores"][:, :5]),
        V.empty("scores"), V.nonfinite("scores"), V.choice("reduction", V.REDUCTIONS),
        V.wrong_type("scores"))),
    V.Entry("estimators.dv", lambda: {"scores": V.randn(6, 6)}, (
        V.rank("scores", lambda x: x[0]), V.shape("scores", lambda k: k["scores"][:, :5]),
        V.empty("scores"), V.nonfinite("scores"), V.wrong_type("scores"))),
]

ROBUSTNESS = {
    # critic scores: + 1e4 (DV is invariant to it, JSD is not)
    "dv": R.scores_case(E.dv, R.SAME),
    "jsd": R.scores_case(E.jsd, None),
}

SECOND_ORDER = {
    # plain torch ops
    "jsd": ("exact", lambda: G.one(lambda f: E.jsd(f, reduction="none"), G.x(4, 4, seed=66))),
    "dv": ("exact", lambda: G.one(E.dv, G.x(4, 4, seed=67))),
}
