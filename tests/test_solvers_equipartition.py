"""reptutor.solvers.equipartition: SeLa's label step and the exact LP reference.

References: brute force over all equipartitioned labellings, scipy's HiGHS LP solver, and the
Sinkhorn-Knopp plan the labels round. Tolerances: float64 throughout.
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
    EquipartitionLabelsResult,
    EquipartitionResult,
    equipartition_labels,
    exact_equipartition,
    sinkhorn_knopp,
)

import _validation as V

F64 = torch.float64


def random_log_p(n, k, *, seed=0, scale=2.0, batch=None):
    g = torch.Generator().manual_seed(seed)
    shape = (n, k) if batch is None else (batch, n, k)
    return (scale * torch.randn(shape, generator=g, dtype=F64)).log_softmax(-1)


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


@pytest.mark.parametrize("seed", [0, 1])
def test_gap_bound_and_monotone_cost_on_the_sela_chapters_sweep(seed):
    # The problem of the SeLa chapter's Experiment 1 (same N=200, K=10, softmax of 2 x Gaussian
    # logits, lambda sweep and tolerance 1e-7). These were its claims P11.gap-bound and
    # P11.cost-monotone; they hold for any correct solver whatever the data, so they live here.
    n, k = 200, 10
    log_p = random_log_p(n, k, seed=seed, scale=2.0)
    lp = float(exact_equipartition(-log_p).value)
    costs = []
    for lam in (0.5, 1.0, 2.0, 5.0, 10.0, 25.0):
        res = sinkhorn_knopp(log_p, lam=lam, tol=1e-7, max_iter=20_000)
        assert res.converged
        costs.append(float((res.plan * -log_p).sum()))
        # slack: an L1 marginal error of 1e-7 moves the cost by at most 1e-7 x max cost (< 2e-6)
        assert -1e-5 <= costs[-1] - lp <= math.log(k) / lam + 1e-5
    assert all(b <= a + 1e-5 for a, b in zip(costs, costs[1:]))  # measured steps <= -5e-3


# ------------------------------------------------------------------- labels (the SeLa step)
def test_equipartition_labels_undo_a_collapsed_model():
    g = torch.Generator().manual_seed(18)
    logits = torch.randn(60, 3, generator=g, dtype=F64)
    logits[:, 1] += 6.0  # the model puts everyone in cluster 1
    assert torch.bincount(logits.argmax(1), minlength=3).tolist() == [0, 60, 0]
    res = equipartition_labels(logits.log_softmax(1))
    assert isinstance(res, EquipartitionLabelsResult)
    assert res.labels.dtype == torch.long and res.labels.shape == (60,)
    # the plan's columns hold 20 samples' mass each; rounding rows to their argmax moves a few
    counts = torch.bincount(res.labels, minlength=3)
    assert int((counts - 20).abs().max()) <= 2  # measured [20, 21, 19]
    batched = equipartition_labels(torch.stack([logits, logits.flip(1)]).log_softmax(-1))
    assert batched.labels.shape == (2, 60) and batched.marginal_error.shape == (2,)
    torch.testing.assert_close(batched.labels[0], res.labels)


def test_equipartition_labels_report_the_plan_they_round():
    # the iteration count is what the SeLa chapter reports: it must be the solver's own
    log_p = random_log_p(50, 5, seed=3, scale=4.0)
    for method in ("log", "scaling"):
        res = equipartition_labels(log_p, lam=25.0, tol=1e-4, max_iter=20_000, method=method)
        ref = sinkhorn_knopp(log_p, lam=25.0, tol=1e-4, max_iter=20_000, method=method)
        assert res._fields == ("labels", "n_iter", "converged", "marginal_error", "plan")
        assert res.n_iter == ref.n_iter > 1 and res.converged is ref.converged is True
        torch.testing.assert_close(res.plan, ref.plan, rtol=0, atol=0)
        torch.testing.assert_close(res.marginal_error, ref.marginal_error, rtol=0, atol=0)
        assert torch.equal(res.labels, ref.plan.argmax(-1))
    # a fixed number of iterations: n_iter is that number, and nothing is claimed converged
    fixed = equipartition_labels(log_p, tol=None, max_iter=7)
    assert fixed.n_iter == 7 and fixed.converged is False


def test_equipartition_labels_agree_with_the_lp_at_large_lambda():
    log_p = random_log_p(30, 3, seed=19, scale=3.0)
    lp = exact_equipartition(-log_p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = equipartition_labels(log_p, lam=100.0, tol=1e-9, max_iter=3000).labels
    assert float((labels == lp.labels).double().mean()) >= 0.9  # measured 1.0; ties may differ


# -------------------------------------------------------------------------- error messages
def test_error_messages():
    with pytest.raises(ValueError,
                       match=r"cost must have a number of rows N divisible by .* \(7, 3\)"):
        exact_equipartition(torch.zeros(7, 3, dtype=F64))
    with pytest.raises(ValueError, match=r"cost must be 2-D, got shape \(2, 6, 3\)"):
        exact_equipartition(torch.zeros(2, 6, 3, dtype=F64))
    with pytest.raises(ValueError, match="lam must be > 0, got -1.0"):
        equipartition_labels(random_log_p(6, 3), lam=-1.0)
    with pytest.raises(ValueError, match="method must be one of 'auto', 'log', 'scaling'; got 'lp'"):
        equipartition_labels(random_log_p(6, 3), method="lp")


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("solvers.equipartition_labels", lambda: {"log_p": V.randn(6, 3).log_softmax(-1)}, (
        V.rank("log_p"), V.empty("log_p"),
        V.nonfinite("log_p"),
        V.nonpositive("lam"), V.nonpositive("max_iter"), V.choice("method", ("log", "scaling")),
        V.wrong_type("log_p"))),
    V.Entry("solvers.exact_equipartition", lambda: {"cost": V.randn(6, 3)}, (
        V.rank("cost"), V.shape("cost", lambda k: k["cost"][:5]), V.empty("cost"),
        V.nonfinite("cost"), V.wrong_type("cost"))),
]
