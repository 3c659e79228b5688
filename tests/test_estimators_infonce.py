"""Tests for InfoNCE, conditional InfoNCE, NWJ and DEMI (reptutor.estimators).

Ladder: closed forms on constructed critics -> brute-force loop references -> invariants
(row shifts, joint permutations, the log K ceiling on random critics) -> error messages ->
gradcheck in float64.
"""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import reptutor.estimators as E
from reptutor.data import CorrelatedGaussian, ar1_covariance
from reptutor.estimators import DemiTerms, conditional_infonce, demi, demi_terms, infonce, nwj

import _gradcheck as G
import _robustness as R
import _validation as V

F64 = torch.float64


def rand(*shape, seed=0, scale=3.0):
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


# ---------------------------------------------------------------- brute-force references
def infonce_loop(f):
    k = len(f)
    total = 0.0
    for i in range(k):
        denom = sum(math.exp(f[i][j]) for j in range(k)) / k
        total += math.log(math.exp(f[i][i]) / denom)
    return total / k


def nwj_loop(f):
    k = len(f)
    total = 0.0
    for i in range(k):
        marg = sum(math.exp(f[i][j] - 1.0) for j in range(k) if j != i) / (k - 1)
        total += f[i][i] - marg
    return total / k


def cnce_loop(pos, neg):
    total = 0.0
    for p, row in zip(pos, neg):
        k = len(row) + 1
        total += p - math.log((math.exp(p) + sum(math.exp(v) for v in row)) / k)
    return total / len(pos)


# ---------------------------------------------------------------- closed forms
@pytest.mark.parametrize("k", [2, 7, 128])
def test_constant_critic_gives_exactly_zero(k):
    c = torch.full((k, k), 3.7, dtype=F64)
    assert infonce(c).item() == pytest.approx(0.0, abs=1e-12)
    assert conditional_infonce(c[:, 0], c[:, 1:]).item() == pytest.approx(0.0, abs=1e-12)
    pos, neg = torch.full((k, 3), 3.7, dtype=F64), torch.full((k, 3, 5), 3.7, dtype=F64)
    assert demi(pos, neg).item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k,margin", [(4, 0.0), (16, 1.0), (128, 5.0), (128, 40.0)])
def test_diagonal_margin_critic_closed_form(k, margin):
    # F = margin * I: each row is log K - log(1 + (K-1) e^{-margin}); -> log K as margin grows
    f = margin * torch.eye(k, dtype=F64)
    expected = math.log(k) - math.log1p((k - 1) * math.exp(-margin))
    assert infonce(f).item() == pytest.approx(expected, abs=1e-12)
    if margin == 40.0:
        assert infonce(f).item() == pytest.approx(math.log(k), abs=1e-12)


@pytest.mark.parametrize("c", [-2.0, 0.0, 1.0, 3.0])
def test_nwj_constant_critic_closed_form(c):
    # NWJ of f = c is c - e^{c - 1}, maximal (= 0) at c = 1
    f = torch.full((5, 5), c, dtype=F64)
    assert nwj(f).item() == pytest.approx(c - math.exp(c - 1.0), abs=1e-12)


def test_demi_of_perfect_critics_reaches_m_log_k():
    pos = torch.full((3, 4), 80.0, dtype=F64)
    neg = torch.zeros(3, 4, 127, dtype=F64)
    assert demi(pos, neg).item() == pytest.approx(4 * math.log(128), abs=1e-12)


# ---------------------------------------------------------------- references
@pytest.mark.parametrize("k,seed", [(2, 0), (5, 1), (12, 2)])
def test_against_brute_force_loops(k, seed):
    f = rand(k, k, seed=seed)
    rows = f.tolist()
    assert infonce(f).item() == pytest.approx(infonce_loop(rows), abs=1e-12)
    assert nwj(f).item() == pytest.approx(nwj_loop(rows), abs=1e-12)
    pos, neg = rand(k, seed=seed + 10), rand(k, 6, seed=seed + 20)
    assert conditional_infonce(pos, neg).item() == pytest.approx(
        cnce_loop(pos.tolist(), neg.tolist()), abs=1e-12)


def test_infonce_is_conditional_infonce_on_the_off_diagonal():
    f = rand(9, 9, seed=3)
    off = f.masked_select(~torch.eye(9, dtype=torch.bool)).view(9, 8)
    torch.testing.assert_close(conditional_infonce(f.diagonal(), off, reduction="none"),
                               infonce(f, reduction="none"))


def test_demi_is_a_sum_of_conditional_infonce_terms():
    pos, neg = rand(6, 3, seed=4), rand(6, 3, 10, seed=5)
    per_term = [conditional_infonce(pos[:, k], neg[:, k]) for k in range(3)]
    torch.testing.assert_close(demi(pos, neg), sum(per_term))
    out = demi_terms(pos, neg)
    assert isinstance(out, DemiTerms)
    torch.testing.assert_close(out.terms, torch.stack(per_term))
    torch.testing.assert_close(out.total, demi(pos, neg))
    # m = 1 is conditional InfoNCE
    torch.testing.assert_close(demi(pos[:, :1], neg[:, :1]), per_term[0])


@pytest.mark.parametrize("fn", [infonce, nwj])
def test_reductions_agree(fn):
    f = rand(8, 8, seed=6)
    rows = fn(f, reduction="none")
    assert rows.shape == (8,)
    torch.testing.assert_close(fn(f), rows.mean())
    torch.testing.assert_close(fn(f, reduction="sum"), rows.sum())
    pos, neg = rand(8, 2, seed=7), rand(8, 2, 4, seed=8)
    per = demi(pos, neg, reduction="none")
    torch.testing.assert_close(demi(pos, neg), per.mean())
    torch.testing.assert_close(demi(pos, neg, reduction="sum"), per.sum())
    c = conditional_infonce(pos[:, 0], neg[:, 0], reduction="none")
    torch.testing.assert_close(conditional_infonce(pos[:, 0], neg[:, 0], reduction="sum"), c.sum())


def test_analytic_critic_is_below_the_mi_at_small_mi():
    # I = 1 nat << log 64: the optimal critic's InfoNCE is a tight lower bound (E[I_NCE] <= I)
    g = CorrelatedGaussian(4, mi=1.0, cov_x=ar1_covariance(4, 0.5))
    gen = torch.Generator().manual_seed(0)
    vals = torch.stack([infonce(g.score_matrix(*g.sample(64, gen, dtype=F64))) for _ in range(200)])
    se = vals.std().item() / math.sqrt(len(vals))
    # measured bias of the K = 64 bound at I = 1 is about -0.02 nats: allow 0.15 below, 4 SE above
    assert 1.0 - 0.15 < vals.mean().item() < 1.0 + 4 * se


# ---------------------------------------------------------------- invariants
def test_adding_a_function_of_x_to_each_row_leaves_infonce_unchanged():
    f = rand(10, 10, seed=9)
    shift = rand(10, 1, seed=10, scale=50.0)  # a(x_i) added to row i
    torch.testing.assert_close(infonce(f + shift), infonce(f))
    pos, neg = rand(10, seed=11), rand(10, 7, seed=12)
    torch.testing.assert_close(conditional_infonce(pos + shift[:, 0], neg + shift),
                               conditional_infonce(pos, neg))
    # NWJ has no such invariance: its exponential term is not normalized per row
    assert not torch.isclose(nwj(f + shift), nwj(f))


def test_permuting_samples_jointly_leaves_the_bounds_unchanged():
    f = rand(11, 11, seed=13)
    perm = torch.randperm(11, generator=torch.Generator().manual_seed(0))
    g = f[perm][:, perm]
    torch.testing.assert_close(infonce(g), infonce(f))
    torch.testing.assert_close(nwj(g), nwj(f))
    torch.testing.assert_close(infonce(g, reduction="none"), infonce(f, reduction="none")[perm])


def test_large_scores_do_not_overflow_and_dtype_is_followed():
    f = 1e4 * torch.eye(5) + 1e3
    out = infonce(f)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    assert out.item() == pytest.approx(math.log(5), abs=1e-5)


@settings(max_examples=60, deadline=None)
@given(k=st.integers(2, 24), m=st.integers(1, 4), seed=st.integers(0, 10_000),
       scale=st.floats(0.0, 60.0))
def test_never_above_log_k_on_random_critics(k, m, seed, scale):
    f = rand(k, k, seed=seed, scale=scale)
    log_k = math.log(k)
    assert bool((infonce(f, reduction="none") <= log_k + 1e-12).all())
    pos, neg = rand(k, m, seed=seed + 1, scale=scale), rand(k, m, k - 1, seed=seed + 2, scale=scale)
    assert bool((demi_terms(pos, neg).terms <= log_k + 1e-12).all())
    assert demi(pos, neg).item() <= m * log_k + 1e-12


@pytest.mark.parametrize("mi", [10.0, 30.0])
def test_optimal_critic_at_large_mi_never_exceeds_log_k_in_float32(mi):
    # The ceiling the P07 chapter used to assert as a claim: with the optimal critics of a
    # Gaussian whose MI is far above log K (scores in the tens to hundreds, float32), every row of
    # InfoNCE and every DEMI term (exact conditional negatives) stays <= log K. Row terms are
    # diag - logsumexp + log K with logsumexp >= max >= diag, so this holds even after rounding.
    g = CorrelatedGaussian(20, mi=mi, cov_x=ar1_covariance(20, 0.5))
    gen = torch.Generator().manual_seed(3)
    k = 128
    log_k = math.log(k)
    for _ in range(3):
        x, y = g.sample(k, gen)
        assert bool((infonce(g.score_matrix(x, y), reduction="none") <= log_k).all())
        pos, neg = [], []
        for a, b in g.chunks(4):
            cand = torch.cat([y[:, None, a:b], g.conditional_sample(y, a, b, k - 1, gen)], dim=1)
            s = g.conditional_log_density_ratio(x, y, cand, a, b)  # (K, K) positive first
            pos.append(s[:, 0])
            neg.append(s[:, 1:])
        terms = demi_terms(torch.stack(pos, 1), torch.stack(neg, 1)).terms
        assert bool((terms <= log_k + 1e-6).all())  # a mean over anchors: float32 rounding
        # saturated: the optimal critic ranks the positive first almost always at MI >> log K
        assert infonce(g.score_matrix(x, y)).item() > log_k - 0.5


# ---------------------------------------------------------------- error messages
def test_errors():
    with pytest.raises(ValueError, match="scores must be a square"):
        infonce(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="scores must be 2-D"):
        infonce(torch.zeros(3))
    with pytest.raises(ValueError, match=r"scores must have at least 2 rows \(.*\), got shape \(1, 1\)"):
        infonce(torch.zeros(1, 1))
    with pytest.raises(ValueError, match=r"scores must have at least 2 rows \(.*\), got shape \(1, 1\)"):
        nwj(torch.zeros(1, 1))
    with pytest.raises(TypeError, match="scores must have a floating-point dtype"):
        infonce(torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="scores must be finite"):
        infonce(torch.tensor([[0.0, float("nan")], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none'"):
        infonce(torch.zeros(3, 3), reduction="avg")
    with pytest.raises(ValueError, match="reduction must be one of"):
        nwj(torch.zeros(3, 3), reduction="max")
    with pytest.raises(ValueError, match=r"neg_scores must have size 3 along dim 0 \(one row"):
        conditional_infonce(torch.zeros(3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="pos_scores must be 1-D"):
        conditional_infonce(torch.zeros(3, 1), torch.zeros(3, 2))
    with pytest.raises(TypeError, match="pos_scores and neg_scores must have the same dtype"):
        conditional_infonce(torch.zeros(3), torch.zeros(3, 2, dtype=F64))
    with pytest.raises(ValueError, match=r"neg_scores must have shape \(N, m, M\)"):
        demi(torch.zeros(3, 2), torch.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="neg_scores must be 3-D"):
        demi_terms(torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="reduction must be one of"):
        demi(torch.zeros(3, 2), torch.zeros(3, 2, 5), reduction="mean ")


# ---------------------------------------------------------------- gradcheck
def test_gradcheck_float64():
    f = rand(5, 5, seed=14, scale=1.0).requires_grad_(True)
    assert torch.autograd.gradcheck(infonce, (f,))
    assert torch.autograd.gradcheck(nwj, (f,))
    assert torch.autograd.gradcheck(lambda t: infonce(t, reduction="none"), (f,))
    pos = rand(4, seed=15, scale=1.0).requires_grad_(True)
    neg = rand(4, 3, seed=16, scale=1.0).requires_grad_(True)
    assert torch.autograd.gradcheck(conditional_infonce, (pos, neg))
    p2 = rand(4, 2, seed=17, scale=1.0).requires_grad_(True)
    n2 = rand(4, 2, 3, seed=18, scale=1.0).requires_grad_(True)
    assert torch.autograd.gradcheck(demi, (p2, n2))
    assert torch.autograd.gradcheck(lambda a, b: demi_terms(a, b).terms, (p2, n2))


def test_gradient_of_infonce_is_softmax_minus_one_hot():
    # d I_NCE / d F_ij = (1[i=j] - softmax_j(F_i.)) / K: the contrastive gradient, in closed form
    f = rand(6, 6, seed=19, scale=1.0).requires_grad_(True)
    infonce(f).backward()
    expected = (torch.eye(6, dtype=F64) - torch.softmax(f.detach(), dim=1)) / 6
    torch.testing.assert_close(f.grad, expected)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_info_nce_loss_is_log_n_minus_infonce_on_the_same_scores(normalize, reduction):
    # The library's two faces of InfoNCE: the loss on embeddings (reptutor.losses) and the bound
    # on a critic matrix (this module). With scores s_ij = <u_i, v_j> / tau (u, v the rows,
    # L2-normalised when normalize=True) and the a -> b direction, row by row
    # loss_i = logsumexp_j s_ij - s_ii = log N - (s_ii - logsumexp_j s_ij + log N).
    # The symmetric loss averages the a -> b (rows of s) and b -> a (rows of s^T) directions.
    from reptutor.losses import info_nce_loss

    n, tau = 9, 0.3
    g = torch.Generator().manual_seed(7)
    a = torch.randn(n, 5, generator=g, dtype=torch.float64)
    b = a + 0.5 * torch.randn(n, 5, generator=g, dtype=torch.float64)
    u, v = (torch.nn.functional.normalize(a, dim=1), torch.nn.functional.normalize(b, dim=1)) \
        if normalize else (a, b)
    scores = u @ v.T / tau  # (N, N)
    # the constant log N per row, summed over rows for "sum"
    log_n = math.log(n) * (n if reduction == "sum" else 1)
    one_way = info_nce_loss(a, b, temperature=tau, normalize=normalize, symmetric=False,
                            reduction=reduction)
    torch.testing.assert_close(one_way, log_n - infonce(scores, reduction=reduction),
                               rtol=1e-12, atol=1e-12)
    both = info_nce_loss(a, b, temperature=tau, normalize=normalize, reduction=reduction)
    bound = 0.5 * (infonce(scores, reduction=reduction) + infonce(scores.T, reduction=reduction))
    torch.testing.assert_close(both, log_n - bound, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(one_way, both)  # the two directions differ on these scores


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("estimators.infonce", lambda: {"scores": V.randn(6, 6)}, (
        V.rank("scores", lambda x: x[0]), V.shape("scores", lambda k: k["scores"][:, :5]),
        V.empty("scores"), V.nonfinite("scores"), V.choice("reduction", V.REDUCTIONS),
        V.wrong_type("scores"))),
    V.Entry("estimators.conditional_infonce",
            lambda: {"pos_scores": V.randn(6), "neg_scores": V.randn(6, 4, seed=1)}, (
              *V.pair_cells("pos_scores", "neg_scores", feature_dim=0)[:1],
              V.shape("neg_scores", lambda k: k["neg_scores"][:5]),
              *V.pair_cells("pos_scores", "neg_scores")[2:],
              V.choice("reduction", V.REDUCTIONS))),
]

ROBUSTNESS = {
    # critic scores: + 1e4 (InfoNCE is invariant to it)
    "infonce": R.scores_case(E.infonce, R.SAME),
    "conditional_infonce": R.Case(make=lambda dt: (R.randn(R.N, seed=12, dtype=dt),
                                                   R.randn(R.N, 5, seed=13, dtype=dt)),
                                  call=lambda p, q, t=None: E.conditional_infonce(p / R.swept(t, 1.0),
                                                                                  q / R.swept(t, 1.0)),
                                  big="add", expect=R.SAME, bf16=(1, R.VALUE)),
}

SECOND_ORDER = {
    # plain torch ops
    "infonce": ("exact", lambda: G.one(lambda f: E.infonce(f, reduction="none"), G.x(4, 4, seed=60))),
    "conditional_infonce": ("exact", lambda: G.one(
        lambda p, n: E.conditional_infonce(p, n, reduction="none"), G.x(4, seed=61), G.x(4, 3, seed=62))),
}
