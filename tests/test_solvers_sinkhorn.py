"""reptutor.solvers.sinkhorn: closed forms, exact LP reference, invariants, errors, gradcheck.

Tolerances: float64 throughout. Quantities that the algorithm makes exact by construction (the
row marginal after the final sample step, identities between two paths that perform the same
arithmetic) are compared at 1e-12; quantities that depend on convergence are compared at a
small multiple of the solver tolerance that was asked for.
"""
import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from reptutor.solvers import (
    ConvergenceWarning,
    EquipartitionResult,
    SinkhornResult,
    equipartition_labels,
    exact_equipartition,
    sinkhorn_knopp,
)

F64 = torch.float64
METHODS = ("log", "scaling")


def random_log_p(n, k, *, seed=0, scale=2.0, batch=None):
    g = torch.Generator().manual_seed(seed)
    shape = (n, k) if batch is None else (batch, n, k)
    return (scale * torch.randn(shape, generator=g, dtype=F64)).log_softmax(-1)


# ----------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("method", METHODS)
def test_two_by_two_closed_form(method):
    # With r = c = (1/2, 1/2) the plan is [[t, 1/2 - t], [1/2 - t, t]], and diagonal scaling
    # keeps the cross ratio Q11 Q22 / (Q12 Q21) = exp(lam (l11 + l22 - l12 - l21)) =: rho,
    # so t / (1/2 - t) = sqrt(rho): t = sqrt(rho) / (2 (1 + sqrt(rho))).
    log_p = torch.tensor([[0.7, 0.3], [0.4, 0.6]], dtype=F64).log()
    lam = 3.0
    rho = math.exp(lam * float(log_p[0, 0] + log_p[1, 1] - log_p[0, 1] - log_p[1, 0]))
    t = math.sqrt(rho) / (2 * (1 + math.sqrt(rho)))
    expected = torch.tensor([[t, 0.5 - t], [0.5 - t, t]], dtype=F64)  # rows sum to c = 1/2
    res = sinkhorn_knopp(log_p, lam=lam, tol=1e-14, method=method)
    assert res.converged
    torch.testing.assert_close(res.plan, expected, rtol=0, atol=1e-13)


@pytest.mark.parametrize("method", METHODS)
def test_uniform_and_rank_one_kernels_give_the_independent_plan(method):
    # If p(y|x_i)^lam = a_i b_y (rank one) the scalings absorb a and b and the plan is c r^T.
    n, k = 7, 4
    g = torch.Generator().manual_seed(3)
    r = torch.rand(k, generator=g, dtype=F64) + 0.1
    r = r / r.sum()
    c = torch.rand(n, generator=g, dtype=F64) + 0.1
    c = c / c.sum()
    rank_one = torch.randn(n, 1, generator=g, dtype=F64) + torch.randn(1, k, generator=g, dtype=F64)
    for log_p in (torch.zeros(n, k, dtype=F64), rank_one):
        res = sinkhorn_knopp(log_p, lam=25.0, r=r, c=c, method=method)
        torch.testing.assert_close(res.plan, c[:, None] * r[None, :], rtol=0, atol=1e-14)
        assert res.converged and res.n_iter == 1
    res = sinkhorn_knopp(torch.zeros(n, k, dtype=F64), method=method)  # equipartition default
    torch.testing.assert_close(res.plan, torch.full((n, k), 1 / (n * k), dtype=F64))


def test_result_fields_and_types():
    res = sinkhorn_knopp(random_log_p(8, 3), tol=1e-10)
    assert isinstance(res, SinkhornResult)
    assert res._fields == ("plan", "log_alpha", "log_beta", "n_iter", "converged", "marginal_error")
    assert res.plan.shape == (8, 3) and res.log_alpha.shape == (3,) and res.log_beta.shape == (8,)
    assert isinstance(res.n_iter, int) and isinstance(res.converged, bool)
    assert res.marginal_error.shape == () and float(res.marginal_error) <= 1e-10


# --------------------------------------------------------------------- the exact LP reference
def brute_force_equipartition(cost):
    n, k = cost.shape
    best = math.inf
    for labels in itertools.product(range(k), repeat=n):
        if all(labels.count(y) == n // k for y in range(k)):
            best = min(best, sum(float(cost[i, y]) for i, y in enumerate(labels)) / n)
    return best


def linprog_transport(cost):
    """The LP min <Q, C> over U(1/K, 1/N) solved by scipy's HiGHS (an independent reference)."""
    n, k = cost.shape
    a_rows = np.kron(np.eye(n), np.ones((1, k)))  # sum_y Q[i, y] = 1/N
    a_cols = np.kron(np.ones((1, n)), np.eye(k))  # sum_i Q[i, y] = 1/K
    out = linprog(cost.numpy().ravel(), A_eq=np.vstack([a_rows, a_cols]),
                  b_eq=np.concatenate([np.full(n, 1 / n), np.full(k, 1 / k)]), bounds=(0, None),
                  method="highs")
    assert out.status == 0
    return out.fun


def test_exact_equipartition_matches_brute_force_and_linprog():
    cost = -random_log_p(6, 3, seed=1)
    lp = exact_equipartition(cost)
    assert isinstance(lp, EquipartitionResult)
    assert abs(float(lp.value) - brute_force_equipartition(cost)) < 1e-12
    cost = -random_log_p(24, 4, seed=2)
    lp = exact_equipartition(cost)
    assert abs(float(lp.value) - linprog_transport(cost)) < 1e-9  # HiGHS' default tolerances
    assert torch.bincount(lp.labels, minlength=4).tolist() == [6, 6, 6, 6]
    torch.testing.assert_close(lp.plan.sum(1), torch.full((24,), 1 / 24, dtype=F64))
    torch.testing.assert_close(lp.value, (lp.plan * cost).sum())
    assert lp.plan.dtype == cost.dtype and lp.labels.dtype == torch.long


def test_sinkhorn_cost_approaches_the_lp_within_log_k_over_lambda():
    # 0 <= <Q_lam, C> - LP <= (H(Q_lam) - H(Q*)) / lam <= log(K) / lam (the chapter's proposition),
    # and the transport cost is non-increasing in lam.
    n, k = 40, 4
    log_p = random_log_p(n, k, seed=4, scale=1.0)
    lp = float(exact_equipartition(-log_p).value)
    costs = []
    for lam in (0.5, 2.0, 8.0, 32.0):
        res = sinkhorn_knopp(log_p, lam=lam, tol=1e-11, max_iter=200_000)
        assert res.converged
        gap = float((res.plan * -log_p).sum()) - lp
        assert -1e-9 <= gap <= math.log(k) / lam  # slack: marginal error 1e-11 times max cost
        costs.append(gap)
    assert all(b <= a + 1e-10 for a, b in zip(costs, costs[1:]))
    assert costs[-1] < 0.02  # lam = 32 is close to the LP on this problem (measured 3e-3)


# ------------------------------------------------------------------------------ invariants
@pytest.mark.parametrize("method", METHODS)
def test_marginals_and_scalings(method):
    log_p = random_log_p(30, 5, seed=5)
    res = sinkhorn_knopp(log_p, lam=10.0, tol=1e-10, max_iter=100_000, method=method)
    torch.testing.assert_close(res.plan.sum(1), torch.full((30,), 1 / 30, dtype=F64),
                               rtol=0, atol=1e-15)
    assert float((res.plan.sum(0) - 0.2).abs().sum()) <= 1e-10
    torch.testing.assert_close(res.marginal_error, (res.plan.sum(0) - 0.2).abs().sum(),
                               rtol=0, atol=1e-14)
    rebuilt = torch.exp(res.log_beta[:, None] + 10.0 * log_p + res.log_alpha[None, :])
    torch.testing.assert_close(res.plan, rebuilt, rtol=1e-12, atol=0)


def test_scaling_path_equals_log_path():
    # Same starting point and the same updates in exact arithmetic: equal iterates.
    log_p = random_log_p(50, 6, seed=6)
    a = sinkhorn_knopp(log_p, lam=5.0, tol=None, max_iter=40, method="log")
    b = sinkhorn_knopp(log_p, lam=5.0, tol=None, max_iter=40, method="scaling")
    torch.testing.assert_close(a.plan, b.plan, rtol=1e-10, atol=0)
    torch.testing.assert_close(a.log_alpha, b.log_alpha, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(a.log_beta, b.log_beta, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(a.marginal_error, b.marginal_error, rtol=1e-8, atol=1e-15)


@pytest.mark.parametrize("method", METHODS)
def test_row_and_column_constants_leave_the_plan_unchanged(method):
    log_p = random_log_p(20, 4, seed=7)
    g = torch.Generator().manual_seed(8)
    row = 5 * torch.randn(20, 1, generator=g, dtype=F64)
    col = 5 * torch.randn(1, 4, generator=g, dtype=F64)
    kw = dict(lam=2.0, tol=1e-13, max_iter=100_000, method=method)
    base = sinkhorn_knopp(log_p, **kw).plan
    for shifted in (log_p + row, log_p + col, log_p + row + col):
        torch.testing.assert_close(sinkhorn_knopp(shifted, **kw).plan, base, rtol=0, atol=1e-12)


def test_permutation_equivariance():
    log_p = random_log_p(25, 5, seed=9)
    g = torch.Generator().manual_seed(10)
    pi, sigma = torch.randperm(25, generator=g), torch.randperm(5, generator=g)
    base = sinkhorn_knopp(log_p, lam=4.0, tol=None, max_iter=60).plan
    moved = sinkhorn_knopp(log_p[pi][:, sigma], lam=4.0, tol=None, max_iter=60).plan
    torch.testing.assert_close(moved, base[pi][:, sigma], rtol=1e-12, atol=0)


@pytest.mark.parametrize("method", METHODS)
def test_batched_equals_looped(method):
    log_p = random_log_p(12, 3, seed=11, batch=4)
    g = torch.Generator().manual_seed(12)
    r = torch.rand(4, 3, generator=g, dtype=F64) + 0.2
    r = r / r.sum(1, keepdim=True)
    res = sinkhorn_knopp(log_p, lam=3.0, r=r, tol=None, max_iter=30, method=method)
    assert res.plan.shape == (4, 12, 3) and res.marginal_error.shape == (4,)
    for b in range(4):
        one = sinkhorn_knopp(log_p[b], lam=3.0, r=r[b], tol=None, max_iter=30, method=method)
        torch.testing.assert_close(res.plan[b], one.plan, rtol=1e-12, atol=0)
        torch.testing.assert_close(res.marginal_error[b], one.marginal_error, rtol=1e-9, atol=1e-16)
    # with a tolerance, the batch stops when its slowest member converges: all within tol
    res = sinkhorn_knopp(log_p, lam=3.0, tol=1e-10, method=method)
    assert res.converged and bool((res.marginal_error <= 1e-10).all())


def test_large_lambda_is_finite_in_the_log_domain():
    log_p = random_log_p(40, 5, seed=13, scale=3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = sinkhorn_knopp(log_p, lam=1000.0, max_iter=300)
    assert bool(torch.isfinite(res.plan).all()) and bool(torch.isfinite(res.log_alpha).all())
    torch.testing.assert_close(res.plan.sum(1), torch.full((40,), 1 / 40, dtype=F64),
                               rtol=1e-12, atol=0)
    # in float32 as well (exp(1000 * log_p) alone would underflow to 0 for every entry < 1)
    res32 = sinkhorn_knopp(log_p.float(), lam=1000.0, tol=None, max_iter=50)
    assert res32.plan.dtype == torch.float32 and bool(torch.isfinite(res32.plan).all())


def test_swav_three_iterations_correspondence():
    # SwAV (Caron et al. 2020): Q = exp(scores / eps)^T, normalise by the total, then three times
    # (prototype rows to 1/K, sample columns to 1/B); the result times B is the code matrix.
    # Written here from the algorithm's description as an independent reference.
    g = torch.Generator().manual_seed(14)
    scores = torch.nn.functional.normalize(torch.randn(16, 8, generator=g, dtype=F64), dim=1)
    eps, b, k = 0.05, 16, 8
    q = torch.exp(scores / eps).T  # (K, B)
    q = q / q.sum()
    for _ in range(3):
        q = q / q.sum(1, keepdim=True) / k
        q = q / q.sum(0, keepdim=True) / b
    codes = (q * b).T  # (B, K)
    res = sinkhorn_knopp(scores, lam=1 / eps, tol=None, max_iter=3)
    torch.testing.assert_close(res.plan * b, codes, rtol=1e-10, atol=0)
    assert res.converged is False and res.n_iter == 3


def test_fixed_iterations_do_not_warn_and_report_the_error():
    log_p = random_log_p(30, 4, seed=15, scale=4.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = sinkhorn_knopp(log_p, lam=25.0, tol=None, max_iter=2)
    assert res.n_iter == 2 and not res.converged
    torch.testing.assert_close(res.marginal_error, (res.plan.sum(0) - 0.25).abs().sum())


def test_check_every_only_stops_on_a_multiple():
    res = sinkhorn_knopp(random_log_p(30, 4, seed=16), lam=5.0, tol=1e-8, check_every=7)
    assert res.converged and res.n_iter % 7 == 0


def test_convergence_warning_is_actionable():
    with pytest.warns(ConvergenceWarning, match=r"stopped after max_iter=2 iterations .* "
                      r"not yet equally filled\. Increase max_iter, loosen tol, or lower lam"):
        res = sinkhorn_knopp(random_log_p(30, 4, seed=17, scale=4.0), lam=25.0, max_iter=2)
    assert not res.converged and res.n_iter == 2 and float(res.marginal_error) > 1e-6


def test_scaling_path_raises_instead_of_returning_nan():
    log_p = torch.tensor([[5.0, 0.0], [5.0, 0.0]], dtype=F64).log_softmax(1)
    with pytest.raises(FloatingPointError, match=r"under/overflowed at lam=1000.*Use method='log'"):
        sinkhorn_knopp(log_p, lam=1000.0, method="scaling")
    res = sinkhorn_knopp(log_p, lam=1000.0, method="log")  # the log domain copes
    torch.testing.assert_close(res.plan, torch.full((2, 2), 0.25, dtype=F64))


# ------------------------------------------------------------------- labels (the SeLa step)
def test_equipartition_labels_undo_a_collapsed_model():
    g = torch.Generator().manual_seed(18)
    logits = torch.randn(60, 3, generator=g, dtype=F64)
    logits[:, 1] += 6.0  # the model puts everyone in cluster 1
    assert torch.bincount(logits.argmax(1), minlength=3).tolist() == [0, 60, 0]
    labels = equipartition_labels(logits.log_softmax(1))
    assert labels.dtype == torch.long and labels.shape == (60,)
    # the plan's columns hold 20 samples' mass each; rounding rows to their argmax moves a few
    counts = torch.bincount(labels, minlength=3)
    assert int((counts - 20).abs().max()) <= 2  # measured [20, 21, 19]
    batched = equipartition_labels(torch.stack([logits, logits.flip(1)]).log_softmax(-1))
    assert batched.shape == (2, 60)
    torch.testing.assert_close(batched[0], labels)


def test_equipartition_labels_agree_with_the_lp_at_large_lambda():
    log_p = random_log_p(30, 3, seed=19, scale=3.0)
    lp = exact_equipartition(-log_p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = equipartition_labels(log_p, lam=100.0, tol=1e-9, max_iter=3000)
    assert float((labels == lp.labels).double().mean()) >= 0.9  # measured 1.0; ties may differ


# -------------------------------------------------------------------------- error messages
def test_error_messages():
    lp = random_log_p(6, 3)
    with pytest.raises(TypeError,
                       match=r"log_p must be a torch.Tensor, got an array of shape \(6, 3\)"):
        sinkhorn_knopp(lp.numpy())
    with pytest.raises(TypeError, match="log_p must have a floating-point dtype, got torch.int64"):
        sinkhorn_knopp(torch.zeros(6, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"log_p must be 2-D or 3-D, got shape \(6,\)"):
        sinkhorn_knopp(torch.zeros(6, dtype=F64))
    for method in ("log", "scaling"):  # detected on the solver's own vectors, both paths
        with pytest.raises(ValueError, match=r"log_p must be finite, got 1 NaN and 0 \+inf"):
            sinkhorn_knopp(torch.where(lp > lp.max() - 1e-9, math.nan, lp), method=method)
        with pytest.raises(ValueError, match=r"log_p must be finite, got 0 NaN and 1 \+inf"):
            sinkhorn_knopp(torch.where(lp > lp.max() - 1e-9, math.inf, lp), method=method)
        with pytest.raises(ValueError, match=r"finite entry in every row and column, got a "
                                             r"column that is -inf everywhere"):
            sinkhorn_knopp(lp.index_fill(1, torch.tensor([1]), -math.inf), method=method)
        with pytest.raises(ValueError, match=r"finite entry in every row and column, got a "
                                             r"row that is -inf everywhere"):
            sinkhorn_knopp(lp.index_fill(0, torch.tensor([2]), -math.inf), method=method)
    with pytest.raises(TypeError, match="distributed must be a bool, got int 1"):
        sinkhorn_knopp(lp, distributed=1)
    with pytest.raises(ValueError, match="lam must be > 0, got 0.0"):
        sinkhorn_knopp(lp, lam=0.0)
    with pytest.raises(ValueError, match="max_iter must be >= 1, got 0"):
        sinkhorn_knopp(lp, max_iter=0)
    with pytest.raises(ValueError, match="tol must be > 0, got 0.0"):
        sinkhorn_knopp(lp, tol=0.0)
    with pytest.raises(ValueError, match="check_every must be >= 1, got 0"):
        sinkhorn_knopp(lp, check_every=0)
    with pytest.raises(ValueError, match="method must be one of 'log', 'scaling'; got 'exp'"):
        sinkhorn_knopp(lp, method="exp")
    with pytest.raises(ValueError,
                       match=r"r must have size 3 along dim -1 \(one entry per cluster"):
        sinkhorn_knopp(lp, r=torch.full((4,), 0.25, dtype=F64))
    with pytest.raises(ValueError, match=r"c must have size 6 along dim -1 \(one entry per sample"):
        sinkhorn_knopp(lp, c=torch.full((3,), 1 / 3, dtype=F64))
    with pytest.raises(ValueError, match="r must have positive entries .* got minimum 0"):
        sinkhorn_knopp(lp, r=torch.tensor([0.5, 0.5, 0.0], dtype=F64))
    with pytest.raises(ValueError, match=r"r and c must have the same total mass .* sum\(r\)=2.0"):
        sinkhorn_knopp(lp, r=torch.full((3,), 2 / 3, dtype=F64))
    with pytest.raises(ValueError, match=r"r may be 2-D only for a batched log_p \(B, N, K\)"):
        sinkhorn_knopp(lp, r=torch.full((2, 3), 1 / 3, dtype=F64))
    with pytest.raises(TypeError, match="r and log_p must have the same dtype"):
        sinkhorn_knopp(lp, r=torch.full((3,), 1 / 3))
    with pytest.raises(ValueError,
                       match=r"cost must have a number of rows N divisible by .* \(7, 3\)"):
        exact_equipartition(torch.zeros(7, 3, dtype=F64))
    with pytest.raises(ValueError, match=r"cost must be 2-D, got shape \(2, 6, 3\)"):
        exact_equipartition(torch.zeros(2, 6, 3, dtype=F64))


# ------------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("method", METHODS)
def test_gradcheck_through_fixed_iterations(method):
    log_p = random_log_p(6, 3, seed=20).requires_grad_(True)
    weights = torch.randn(6, 3, generator=torch.Generator().manual_seed(21), dtype=F64)

    def f(lp):
        plan = sinkhorn_knopp(lp, lam=2.0, tol=None, max_iter=4, method=method).plan
        return (plan * weights).sum()

    assert torch.autograd.gradcheck(f, (log_p,))


@pytest.mark.parametrize("method", METHODS)
def test_grad_and_no_grad_paths_agree(method):
    # Without a graph the scaling path scales its kernel in place; the result must not change.
    log_p = random_log_p(12, 4, seed=22)
    with torch.no_grad():
        a = sinkhorn_knopp(log_p, lam=3.0, tol=None, max_iter=5, method=method)
    b = sinkhorn_knopp(log_p.clone().requires_grad_(True), lam=3.0, tol=None, max_iter=5,
                       method=method)
    torch.testing.assert_close(a.plan, b.plan.detach(), rtol=1e-13, atol=0)
    torch.testing.assert_close(a.log_alpha, b.log_alpha.detach(), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("method", METHODS)
def test_minus_inf_entries_are_probability_zero(method):
    # log p = -inf forbids a (sample, cluster) pair: the plan is exactly 0 there and the
    # marginals are still met (the remaining support is feasible).
    log_p = random_log_p(8, 4, seed=23)
    forbidden = torch.zeros(8, 4, dtype=torch.bool)
    forbidden[0, 1] = forbidden[3, 2] = forbidden[5, 0] = True
    res = sinkhorn_knopp(log_p.masked_fill(forbidden, -math.inf), lam=4.0, tol=1e-10,
                         max_iter=5000, method=method)
    assert res.converged and bool((res.plan[forbidden] == 0).all())
    torch.testing.assert_close(res.plan.sum(1), torch.full((8,), 1 / 8, dtype=F64),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(res.plan.sum(0), torch.full((4,), 1 / 4, dtype=F64),
                               rtol=0, atol=1e-9)
