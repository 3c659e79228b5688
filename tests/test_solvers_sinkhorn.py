"""reptutor.solvers.sinkhorn: closed forms, references, invariants, float32 stopping, errors, gradcheck.

``sinkhorn`` (the general entropic OT solver) is tested against closed forms (2 x 2, one row or
one column, separable costs), a float64 reference loop written here from Cuturi's algorithm, the
dual optimality conditions and strong duality, POT when it is installed, and
``sinkhorn_knopp`` (its SeLa/SwAV adapter) for identity. ``sinkhorn_knopp`` keeps its own tests
below (SwAV's three iterations written from the paper, row/column constants, batches, ...).

Tolerances: float64 unless a test is about float32. Quantities that the algorithm makes exact by
construction (the row marginal after the final row step, identities between two paths that
perform the same arithmetic) are compared at 1e-12; quantities that depend on convergence at a
small multiple of the solver tolerance that was asked for.
"""
import math
import warnings

import numpy as np
import pytest
import torch

from reptutor.solvers import (
    ConvergenceWarning,
    EntropicOTResult,
    SinkhornResult,
    sinkhorn,
    sinkhorn_knopp,
)

import _validation as V

F32, F64 = torch.float32, torch.float64
METHODS = ("log", "scaling")


def random_log_p(n, k, *, seed=0, scale=2.0, batch=None):
    g = torch.Generator().manual_seed(seed)
    shape = (n, k) if batch is None else (batch, n, k)
    return (scale * torch.randn(shape, generator=g, dtype=F64)).log_softmax(-1)


def random_problem(n, m, *, seed=0, batch=None, dtype=F64):
    """A cost in [0, 1) and two random marginals of mass 1."""
    g = torch.Generator().manual_seed(seed)
    shape = (n, m) if batch is None else (batch, n, m)
    cost = torch.rand(shape, generator=g, dtype=dtype)
    a = torch.rand(shape[:-1], generator=g, dtype=dtype) + 0.2
    b = torch.rand(shape[:-2] + (m,), generator=g, dtype=dtype) + 0.2
    return cost, a / a.sum(-1, keepdim=True), b / b.sum(-1, keepdim=True)


def plan_error(plan, b):
    """|P^T 1 - b|_1 of a plan, computed here in float64 from its entries."""
    return (plan.double().sum(-2) - b.double()).abs().sum(-1)


def reference_sinkhorn(cost, eps, a, b, n_iter):
    """Cuturi's algorithm in float64 NumPy, written from the paper (Alg. 1), in the log domain:
    g = eps log b - eps LSE_i((f - C) / eps), f = eps log a - eps LSE_j((g - C) / eps)."""
    from scipy.special import logsumexp
    c, a, b = cost.double().numpy(), a.double().numpy(), b.double().numpy()
    f = eps * np.log(a)
    for _ in range(n_iter):
        g = eps * np.log(b) - eps * logsumexp((f[:, None] - c) / eps, axis=0)
        f = eps * np.log(a) - eps * logsumexp((g[None, :] - c) / eps, axis=1)
    return np.exp((f[:, None] + g[None, :] - c) / eps), f, g


# =============================================================================================
# sinkhorn: the general solver
# =============================================================================================
# ----------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("method", METHODS)
def test_sinkhorn_two_by_two_closed_form(method):
    # With a = b = (1/2, 1/2) the plan is [[t, 1/2 - t], [1/2 - t, t]], and diagonal scaling
    # keeps the cross ratio P11 P22 / (P12 P21) = exp(-(C11 + C22 - C12 - C21) / eps) =: rho,
    # so t / (1/2 - t) = sqrt(rho): t = sqrt(rho) / (2 (1 + sqrt(rho))).
    cost = torch.tensor([[0.3, 1.2], [0.9, 0.1]], dtype=F64)
    eps = 0.4
    rho = math.exp(-float(cost[0, 0] + cost[1, 1] - cost[0, 1] - cost[1, 0]) / eps)
    t = math.sqrt(rho) / (2 * (1 + math.sqrt(rho)))
    res = sinkhorn(cost, eps, tol=1e-14, method=method)
    assert isinstance(res, EntropicOTResult) and res.converged
    expected = torch.tensor([[t, 0.5 - t], [0.5 - t, t]], dtype=F64)
    torch.testing.assert_close(res.plan, expected, rtol=0, atol=1e-13)


@pytest.mark.parametrize("method", METHODS)
def test_sinkhorn_one_row_or_one_column_is_the_other_marginal(method):
    # one source point must send b, one target point must receive a: whatever the cost
    g = torch.Generator().manual_seed(1)
    b = torch.rand(5, generator=g, dtype=F64) + 0.1
    b = b / b.sum()
    row = sinkhorn(torch.randn(1, 5, generator=g, dtype=F64), 0.3, b=b, method=method)
    torch.testing.assert_close(row.plan[0], b, rtol=1e-14, atol=0)
    col = sinkhorn(torch.randn(5, 1, generator=g, dtype=F64), 0.3, a=b, method=method)
    torch.testing.assert_close(col.plan[:, 0], b, rtol=1e-14, atol=0)
    assert row.n_iter == col.n_iter == 1 and row.converged and col.converged


@pytest.mark.parametrize("method", METHODS)
def test_sinkhorn_separable_cost_gives_the_independent_plan(method):
    # C_ij = u_i + v_j is absorbed by the potentials: P = a b^T after one iteration, any eps
    _, a, b = random_problem(7, 4, seed=2)
    g = torch.Generator().manual_seed(3)
    cost = torch.randn(7, 1, generator=g, dtype=F64) + torch.randn(1, 4, generator=g, dtype=F64)
    for eps in (0.01, 1.0, 100.0):
        res = sinkhorn(cost, eps, a, b, method=method)
        torch.testing.assert_close(res.plan, a[:, None] * b[None, :], rtol=1e-12, atol=0)
        assert res.n_iter == 1


# -------------------------------------------------------------------------------- references
@pytest.mark.parametrize("method", METHODS)
def test_sinkhorn_matches_a_float64_reference_loop(method):
    cost, a, b = random_problem(9, 5, seed=4)
    eps = 0.1
    res = sinkhorn(cost, eps, a, b, tol=None, max_iter=300, method=method)
    plan, f, g = reference_sinkhorn(cost, eps, a, b, 300)
    # same updates in the same order from the same start: equal iterates up to round-off
    np.testing.assert_allclose(res.plan.numpy(), plan, rtol=1e-10, atol=0)
    np.testing.assert_allclose(res.f.numpy(), f, rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.g.numpy(), g, rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_sinkhorn_dual_optimality_and_strong_duality(method):
    cost, a, b = random_problem(12, 6, seed=5)
    eps = 0.05
    res = sinkhorn(cost, eps, a, b, tol=1e-12, max_iter=100_000, method=method)
    assert res.converged
    f, g, p = res.f, res.g, res.plan
    torch.testing.assert_close(p, torch.exp((f[:, None] + g[None, :] - cost) / eps),
                               rtol=1e-12, atol=0)
    # first-order conditions: f and g are each the soft c-transform of the other
    f_of_g = eps * a.log() - eps * torch.logsumexp((g[None, :] - cost) / eps, dim=1)
    g_of_f = eps * b.log() - eps * torch.logsumexp((f[:, None] - cost) / eps, dim=0)
    torch.testing.assert_close(f, f_of_g, rtol=0, atol=1e-13)  # exact: the last step
    torch.testing.assert_close(g, g_of_f, rtol=0, atol=1e-10)  # within tol (relative to b)
    # strong duality: <P, C> - eps H(P) = <f, a> + <g, b> - eps (sum P - 1) ... with H as
    # -sum P (log P - 1) both sides read <f, a> + <g, b> - eps sum_ij P_ij at the optimum
    primal = (p * cost).sum() + eps * (p * (p.log() - 1)).sum()
    dual = (f * a).sum() + (g * b).sum() - eps * p.sum()
    assert abs(float(primal - dual)) < 1e-10


def test_sinkhorn_knopp_is_sinkhorn_on_the_negative_log_p():
    log_p = random_log_p(15, 4, seed=6)
    g = torch.Generator().manual_seed(7)
    r = torch.rand(4, generator=g, dtype=F64) + 0.2
    r = r / r.sum()
    for method in METHODS:
        for kw in (dict(tol=None, max_iter=7), dict(tol=1e-10)):
            knopp = sinkhorn_knopp(log_p, lam=8.0, r=r, method=method, **kw)
            ot = sinkhorn(-log_p, 1 / 8.0, b=r, method=method, **kw)
            torch.testing.assert_close(knopp.plan, ot.plan, rtol=1e-12, atol=0)
            torch.testing.assert_close(knopp.log_beta / 8.0, ot.f, rtol=0, atol=1e-12)
            torch.testing.assert_close(knopp.log_alpha / 8.0, ot.g, rtol=0, atol=1e-12)
            assert knopp.n_iter == ot.n_iter and knopp.converged == ot.converged
            torch.testing.assert_close(knopp.errors, ot.errors, rtol=1e-10, atol=1e-16)


@pytest.mark.parametrize("method", METHODS)
def test_sinkhorn_matches_pot(method):
    ot = pytest.importorskip("ot")  # the optional benchmark peer (POT); skipped without it
    cost, a, b = random_problem(20, 7, seed=8)
    pot_method = {"log": "sinkhorn_log", "scaling": "sinkhorn"}[method]
    ref = ot.sinkhorn(a.numpy(), b.numpy(), cost.numpy(), 0.1, method=pot_method,
                      numItermax=100_000, stopThr=1e-13)
    res = sinkhorn(cost, 0.1, a, b, tol=1e-13, max_iter=100_000, method=method)
    np.testing.assert_allclose(res.plan.numpy(), ref, rtol=0, atol=1e-11)


# ------------------------------------------------------------------------------ invariants
@pytest.mark.parametrize("method", METHODS)
def test_sinkhorn_marginals_and_the_reported_error_is_the_plans(method):
    cost, a, b = random_problem(30, 6, seed=9, batch=3)
    res = sinkhorn(cost, 0.05, a, b, tol=1e-10, max_iter=100_000, method=method)
    assert res.converged and res.marginal_error.shape == (3,)
    torch.testing.assert_close(res.plan.sum(-1), a, rtol=1e-13, atol=0)  # the last step
    torch.testing.assert_close(res.marginal_error, plan_error(res.plan, b), rtol=1e-12, atol=0)
    assert bool((res.marginal_error <= 1e-10).all())


@pytest.mark.parametrize("method", METHODS)
def test_sinkhorn_error_trace(method):
    cost, a, b = random_problem(40, 8, seed=10)
    res = sinkhorn(cost, 0.02, a, b, tol=1e-9, max_iter=100_000, method=method)
    assert res.errors.shape == (res.n_iter,) and res.errors.dtype == F64
    # the last entry is the returned plan's error (float64 measures of the same plan)
    torch.testing.assert_close(res.errors[-1], res.marginal_error, rtol=1e-6, atol=1e-15)
    # linear convergence: the error shrinks by a roughly constant factor per iteration
    e = res.errors
    assert float(e[0]) > 1e3 * float(e[-1]) and bool((e[1:] <= e[:-1] * (1 + 1e-9)).all())
    # present also without a tolerance, and batched: (n_iter, B)
    fixed = sinkhorn(cost.expand(2, 40, 8), 0.02, tol=None, max_iter=5, method=method)
    assert fixed.errors.shape == (5, 2) and fixed.converged is False
    torch.testing.assert_close(fixed.errors[-1], fixed.marginal_error, rtol=1e-6, atol=1e-15)


@pytest.mark.parametrize("method", METHODS)
def test_sinkhorn_warm_start(method):
    cost, a, b = random_problem(25, 6, seed=11)
    cold = sinkhorn(cost, 0.02, a, b, tol=1e-10, max_iter=100_000, method=method)
    # from its own solution: one iteration confirms it
    again = sinkhorn(cost, 0.02, a, b, tol=1e-10, f_init=cold.f, method=method)
    assert again.n_iter == 1 and again.converged
    torch.testing.assert_close(again.plan, cold.plan, rtol=1e-9, atol=0)
    # a nearby problem (the next minibatch's cost): it starts much closer, and since the error
    # contracts linearly it saves the iterations that closing that gap took (measured 171 -> 126)
    g = torch.Generator().manual_seed(12)
    nearby = cost + 1e-3 * torch.rand(cost.shape, generator=g, dtype=F64)  # 5 % of eps
    ref = sinkhorn(nearby, 0.02, a, b, tol=1e-10, max_iter=100_000, method=method)
    warm = sinkhorn(nearby, 0.02, a, b, tol=1e-10, max_iter=100_000, f_init=cold.f,
                    method=method)
    assert warm.converged and float(warm.errors[0]) < 1e-2 * float(ref.errors[0])
    assert warm.n_iter < ref.n_iter
    torch.testing.assert_close(warm.plan, ref.plan, rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_sinkhorn_row_and_global_constants_leave_the_plan_unchanged(method):
    cost, a, b = random_problem(20, 5, seed=13)
    g = torch.Generator().manual_seed(14)
    row = 5 * torch.randn(20, 1, generator=g, dtype=F64)
    kw = dict(tol=1e-13, max_iter=100_000, method=method)
    base = sinkhorn(cost, 0.1, a, b, **kw)
    for shifted in (cost + row, cost + 1e3):
        res = sinkhorn(shifted, 0.1, a, b, **kw)
        torch.testing.assert_close(res.plan, base.plan, rtol=0, atol=1e-12)
        # the potentials are unique up to (f + k, g - k): compare them up to that constant
        torch.testing.assert_close(res.g - res.g[0], base.g - base.g[0], rtol=0, atol=1e-10)
    # a global constant shifts no iterate at all: same count, same trace
    same = sinkhorn(cost + 1e3, 0.1, a, b, tol=None, max_iter=9, method=method)
    ref = sinkhorn(cost, 0.1, a, b, tol=None, max_iter=9, method=method)
    torch.testing.assert_close(same.errors, ref.errors, rtol=1e-9, atol=1e-15)


def test_sinkhorn_permutation_equivariance_and_batches():
    cost, a, b = random_problem(11, 4, seed=15, batch=3)
    g = torch.Generator().manual_seed(16)
    pi, sigma = torch.randperm(11, generator=g), torch.randperm(4, generator=g)
    kw = dict(tol=None, max_iter=40)
    base = sinkhorn(cost, 0.2, a, b, **kw)
    moved = sinkhorn(cost[:, pi][:, :, sigma], 0.2, a[:, pi], b[:, sigma], **kw)
    torch.testing.assert_close(moved.plan, base.plan[:, pi][:, :, sigma], rtol=1e-12, atol=0)
    for k in range(3):
        one = sinkhorn(cost[k], 0.2, a[k], b[k], **kw)
        torch.testing.assert_close(base.plan[k], one.plan, rtol=1e-12, atol=0)
        torch.testing.assert_close(base.errors[:, k], one.errors, rtol=1e-9, atol=1e-16)


@pytest.mark.parametrize("method", METHODS)
def test_sinkhorn_plus_inf_cost_is_a_forbidden_pair(method):
    cost, a, b = random_problem(8, 4, seed=17)
    forbidden = torch.zeros(8, 4, dtype=torch.bool)
    forbidden[0, 1] = forbidden[3, 2] = forbidden[5, 0] = True
    res = sinkhorn(cost.masked_fill(forbidden, math.inf), 0.2, a, b, tol=1e-10,
                   max_iter=5000, method=method)
    assert res.converged and bool((res.plan[forbidden] == 0).all())
    torch.testing.assert_close(res.plan.sum(1), a, rtol=0, atol=1e-15)


# ------------------------------------------------------- float32: offsets and the stopping rule
def float32_logits(n=256, k=10, seed=0):
    return torch.randn(n, k, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("offset", [100.0, 1e4])
def test_float32_offsets_are_absorbed(method, offset):
    # Logits are documented as accepted in place of log-probabilities: a constant is absorbed.
    # In float32 the solver must still reach tol (before the row shift, +100 stalled the log
    # path above 1e-6 for 2,000 iterations and +1e4 left a 1.5e-4 error). The offset input is
    # itself rounded (the ulp of 1e4 is 1e-3), so the reference is the float64 solution of
    # that same float32 matrix, whose plan the float32 one must reproduce.
    x = float32_logits() + offset
    res = sinkhorn_knopp(x, lam=1.0, tol=1e-6, max_iter=2000, method=method)
    base = sinkhorn_knopp(float32_logits(), lam=1.0, tol=1e-6, max_iter=2000, method=method)
    assert res.converged and res.n_iter <= base.n_iter + 1  # as fast as without the offset
    assert float(plan_error(res.plan, torch.full((10,), 0.1))) <= 1e-6
    ref = sinkhorn_knopp(x.double(), lam=1.0, tol=1e-12, method=method)
    torch.testing.assert_close(res.plan.double(), ref.plan, rtol=2e-5, atol=0)
    # the general solver: a cost with an offset, at a strength where eps * 85 spans the costs
    cost = -float32_logits(seed=1) + offset
    ot = sinkhorn(cost, 0.5, tol=1e-6, max_iter=2000, method=method)
    assert ot.converged and float(plan_error(ot.plan, torch.full((10,), 0.1))) <= 1e-6


@pytest.mark.parametrize("method", METHODS)
def test_float32_reported_error_is_the_returned_plans_and_does_not_stall(method):
    # lam = 25 on float32 logits: the solver's own float32 column sums carry ~1e-6 of
    # round-off. Before, the scaling path returned converged=True with a reported 9.8e-7 for a
    # plan whose error was 1.02e-6 > tol, and the log path's measure stalled at 3e-6 for 2,000
    # iterations while its plan's error was 8.7e-7. Now converged means the returned plan meets
    # tol, its error is what is reported, and neither path runs to max_iter.
    for x in (float32_logits(), float32_logits() + 100.0):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            res = sinkhorn_knopp(x, lam=25.0, tol=1e-6, max_iter=2000, method=method)
        b = torch.full((10,), 0.1, dtype=F64)  # the default marginal 1/K, exact
        true = float(plan_error(res.plan, b))
        assert res.converged and res.n_iter < 1000 and true <= 1e-6
        assert float(res.marginal_error) == pytest.approx(true, rel=1e-12)
        assert res.marginal_error.dtype == F64


def test_column_sums_are_exact_in_float64_for_large_and_batched_plans():
    # every entry is converted to float64 (through a reused buffer for large plans), so the
    # reported error is the plan's own, not that of float32 partial sums
    import importlib
    engine = importlib.import_module("reptutor.solvers.sinkhorn")
    g = torch.Generator().manual_seed(30)
    for shape in ((1101, 250), (3, 701, 300), (4096, 3)):
        x = torch.rand(shape, generator=g)
        got = engine._column_sums(x, F64)
        assert got.dtype == F64
        assert torch.allclose(got, x.double().sum(-2), rtol=1e-14, atol=0.0)


def bench_log_p(n=4096, k=300, scale=3.0, seed=0):
    """The Benchmarks page's Sinkhorn input: log_softmax of Gaussian logits of scale 3."""
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(scale * torch.randn(n, k, generator=g, dtype=F64), 1)


def test_float32_large_plan_reports_its_true_error_and_does_not_stall():
    # issue 12: N = 4096, K = 300, float32, scaling, tol 1e-6. The reported error was computed
    # from float32 partial sums of 8 rows and against float32's rounding of 1/K (9.82e-7 for a
    # plan whose error is 9.77e-7): now it is the returned plan's error against 1/K, computed
    # from every entry in float64, and float32 needs no more iterations than float64.
    log_p = bench_log_p()
    ref = sinkhorn_knopp(log_p, lam=25.0, tol=1e-6, max_iter=5000, method="scaling")
    b = torch.full((300,), 1 / 300, dtype=F64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        res = sinkhorn_knopp(log_p.float(), lam=25.0, tol=1e-6, max_iter=5000, method="scaling")
    true = float(plan_error(res.plan, b))
    assert float(res.marginal_error) == pytest.approx(true, rel=1e-9, abs=0.0)
    assert res.converged and true <= 1e-6
    assert ref.n_iter <= res.n_iter <= ref.n_iter + 20  # measured 711 and 713 (issue: 855)


def test_float32_log_path_stops_at_its_round_off_floor():
    # lam = 25 on log_softmax(randn), float32, log path: the plan's error reaches a floor of
    # about 1.2e-6 (the rounding of the exponents it is formed from) above tol = 1e-6. Before,
    # the solver ran to max_iter (3000); now it stops a few checks after the error stops
    # decreasing, says so, and reports the returned plan's error.
    log_p = bench_log_p(1024, 100, scale=1.0)
    ref = sinkhorn_knopp(log_p, lam=25.0, tol=1e-6, max_iter=3000, method="log")  # 279 it
    with pytest.warns(ConvergenceWarning, match=r"has stopped decreasing \(the round-off floor "
                                                r"of torch.float32 on this problem\).*Use "
                                                r"float64, or tol >= "):
        res = sinkhorn_knopp(log_p.float(), lam=25.0, tol=1e-6, max_iter=3000, method="log")
    true = float(plan_error(res.plan, torch.full((100,), 0.01, dtype=F64)))
    assert not res.converged and res.n_iter < 2 * ref.n_iter  # measured 413
    assert float(res.marginal_error) == pytest.approx(true, rel=1e-9, abs=0.0)
    assert 1e-6 < true < 3e-6


# ---------------------------------------------------------------------------- method="auto"
def _record_paths(monkeypatch):
    import importlib
    engine = importlib.import_module("reptutor.solvers.sinkhorn")
    used = []
    for name in ("_solve_log", "_solve_scaling"):
        real = getattr(engine, name)

        def wrapped(*args, _real=real, _name=name, **kw):
            used.append(_name[7:])
            return _real(*args, **kw)
        monkeypatch.setattr(engine, name, wrapped)
    return engine, used


def test_auto_is_the_default():
    import inspect

    from reptutor.solvers import equipartition_labels
    for fn in (sinkhorn, sinkhorn_knopp, equipartition_labels):
        assert inspect.signature(fn).parameters["method"].default == "auto"


@pytest.mark.parametrize("case", ["f64-lam25", "f32-swav", "f32-lam25", "f32-underflow",
                                  "forbidden", "general"])
def test_auto_picks_scaling_where_safe_and_matches_the_log_plan(case, monkeypatch):
    # "auto" runs the scaling path where it can certify the log path's result: no kernel entry
    # can underflow (lam times a row's spread below -log(tiny) - 1: 707 in float64, 86.3 in
    # float32), or the entries flushed to 0 are below eps / 8 of every row and column sum;
    # otherwise (a whole column underflows, a forbidden pair) the log path. Either way its plan
    # is the log path's, in the fixed-iteration mode (SwAV's three iterations) and to tolerance.
    g = torch.Generator().manual_seed(41)
    if case == "f64-lam25":  # spread * lam about 400 < 707
        x, kw, expect, rtol = bench_log_p(512, 40), dict(lam=25.0), ["scaling"], 1e-10
    elif case == "f32-swav":  # cosine scores, lam = 1 / 0.05: spread * lam <= 40 < 86.3
        z = torch.nn.functional.normalize(torch.randn(512, 16, generator=g), dim=1)
        c = torch.nn.functional.normalize(torch.randn(40, 16, generator=g), dim=1)
        x, kw, expect, rtol = z @ c.T, dict(lam=20.0), ["scaling"], 1e-5
    elif case == "f32-lam25":  # spread * lam about 400 > 86.3: flushed entries, negligible
        x, kw, expect, rtol = bench_log_p(512, 40).float(), dict(lam=25.0), ["scaling"], 1e-5
    elif case == "f32-underflow":  # cluster 0 is exp(-250) in every row: a whole column is 0
        x = bench_log_p(512, 40, scale=0.5).float()
        x[:, 0] -= 10.0
        kw, expect, rtol = dict(lam=25.0), ["scaling", "log"], 1e-5
    elif case == "forbidden":  # a -inf log-probability (a forbidden pair): the log path
        x = bench_log_p(64, 5, scale=0.5)
        x[0, 0] = -math.inf
        kw, expect, rtol = dict(lam=5.0), ["log"], 1e-10
    else:
        x, kw, expect, rtol = -random_problem(64, 9, seed=3)[0], dict(lam=10.0), ["scaling"], 1e-10
    for opts in (dict(tol=None, max_iter=3), dict(tol=1e-5, max_iter=5000)):
        engine, used = _record_paths(monkeypatch)
        auto = sinkhorn_knopp(x, **kw, **opts)
        assert used == expect
        log = sinkhorn_knopp(x, **kw, **opts, method="log")
        scale = float(log.plan.abs().max())
        assert torch.allclose(auto.plan, log.plan, rtol=0.0, atol=rtol * scale)
        assert auto.n_iter == log.n_iter or opts["tol"] is not None
        monkeypatch.undo()


def test_auto_falls_back_to_the_log_path_when_scaling_fails(monkeypatch):
    # a FloatingPointError of the scaling path (a scaling vector out of the normal range)
    # makes "auto" redo the solve on the log path, where method="scaling" raises
    import importlib
    engine = importlib.import_module("reptutor.solvers.sinkhorn")

    def broken(*args, **kw):
        raise FloatingPointError("scaling under/overflowed")
    monkeypatch.setattr(engine, "_solve_scaling", broken)
    x = bench_log_p(64, 6, scale=0.5)
    auto = sinkhorn_knopp(x, lam=5.0)
    log = sinkhorn_knopp(x, lam=5.0, method="log")
    assert torch.equal(auto.plan, log.plan) and auto.n_iter == log.n_iter
    with pytest.raises(FloatingPointError):
        sinkhorn_knopp(x, lam=5.0, method="scaling")


def test_float32_tolerance_below_resolution_is_refused():
    x = float32_logits()
    with pytest.raises(ValueError, match=r"tol=1e-08 is below what torch.float32 can certify for "
                                         r"a plan of total mass 1 .* use float64 or tol >= 1.19e-07"):
        sinkhorn_knopp(x, tol=1e-8)
    sinkhorn_knopp(x.double(), tol=1e-8)  # float64 can


# -------------------------------------------------------------------------- error messages
def test_sinkhorn_error_messages():
    cost, a, b = random_problem(6, 3, seed=18)
    with pytest.raises(TypeError, match=r"cost must be a torch.Tensor, got an array of shape"):
        sinkhorn(cost.numpy(), 0.1)
    with pytest.raises(ValueError, match=r"cost must be 2-D or 3-D, got shape \(6,\)"):
        sinkhorn(cost[:, 0], 0.1)
    for method in METHODS:
        with pytest.raises(ValueError, match=r"cost must be finite, got 1 NaN and 0 -inf value\(s\) "
                                             r"\(\+inf entries are allowed: a forbidden pair\)"):
            sinkhorn(cost.index_put((torch.tensor([2]), torch.tensor([1])), torch.tensor(math.nan,
                                                                                          dtype=F64)),
                     0.1, method=method)
        with pytest.raises(ValueError, match=r"cost must be finite, got 0 NaN and 1 -inf"):
            sinkhorn(torch.where(cost == cost.min(), -math.inf, cost), 0.1, method=method)
        with pytest.raises(ValueError, match=r"cost must have a finite entry in every row and "
                                             r"column, got a row that is \+inf everywhere"):
            sinkhorn(cost.index_fill(0, torch.tensor([4]), math.inf), 0.1, method=method)
        with pytest.raises(ValueError, match=r"got a column that is \+inf everywhere"):
            sinkhorn(cost.index_fill(1, torch.tensor([0]), math.inf), 0.1, method=method)
    with pytest.raises(ValueError, match="eps must be > 0, got 0.0"):
        sinkhorn(cost, 0.0)
    with pytest.raises(ValueError, match=r"a must have size 6 along dim -1 \(one entry per row of "
                                         r"cost\), got shape \(5,\)"):
        sinkhorn(cost, 0.1, a[:5] / a[:5].sum())
    with pytest.raises(ValueError, match=r"b must have positive entries .* got minimum 0"):
        sinkhorn(cost, 0.1, b=torch.tensor([0.5, 0.5, 0.0], dtype=F64))
    with pytest.raises(ValueError, match=r"a and b must have the same total mass .* sum\(a\)=1.0 "
                                         r"and sum\(b\)=2.0"):
        sinkhorn(cost, 0.1, a, 2 * b)
    with pytest.raises(ValueError, match=r"f_init must have size 6 along dim -1 \(one entry per "
                                         r"row of cost\)"):
        sinkhorn(cost, 0.1, f_init=torch.zeros(3, dtype=F64))
    with pytest.raises(ValueError, match=r"f_init must be finite, got 1 NaN"):
        sinkhorn(cost, 0.1, f_init=torch.tensor([0, 0, 0, 0, 0, math.nan], dtype=F64))
    with pytest.raises(TypeError, match="f_init and cost must have the same dtype"):
        sinkhorn(cost, 0.1, f_init=torch.zeros(6))
    with pytest.raises(ValueError, match="method must be one of 'auto', 'log', 'scaling'; got 'lp'"):
        sinkhorn(cost, 0.1, method="lp")
    with pytest.raises(FloatingPointError, match=r"sinkhorn\(method='scaling'\) under/overflowed at "
                                                 r"eps=0.001: a whole column of exp\(-cost / eps\)"):
        sinkhorn(torch.tensor([[0.0, 5.0], [0.0, 5.0]], dtype=F64), 1e-3, method="scaling")
    with pytest.warns(ConvergenceWarning, match=r"sinkhorn stopped after max_iter=2 iterations with "
                                                r"column-marginal error .* \(eps=0.01\): the returned "
                                                r"plan's columns do not yet sum to b\. Increase "
                                                r"max_iter, loosen tol, or raise eps"):
        sinkhorn(cost, 0.01, a, b, max_iter=2)


# ------------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("method", METHODS)
def test_gradcheck_sinkhorn(method):
    cost, a, b = random_problem(5, 3, seed=19)
    weights = torch.randn(5, 3, generator=torch.Generator().manual_seed(20), dtype=F64)
    f0 = 0.1 * torch.randn(5, generator=torch.Generator().manual_seed(21), dtype=F64)

    def value(c, aa, bb, f):
        # marginals as free positive parameters of equal mass: normalise each
        res = sinkhorn(c, 0.3, aa / aa.sum(), bb / bb.sum(), tol=None, max_iter=4,
                       method=method, f_init=f)
        return (res.plan * weights).sum() + res.f.sum() + res.g.square().sum()

    args = tuple(t.clone().requires_grad_(True) for t in (cost, a, b, f0))
    assert torch.autograd.gradcheck(value, args)


# =============================================================================================
# sinkhorn_knopp: the SeLa / SwAV form
# =============================================================================================
# -------------------------------------------------------------------------------- closed forms
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
    assert res._fields == ("plan", "log_alpha", "log_beta", "n_iter", "converged", "marginal_error",
                           "errors")
    assert res.plan.shape == (8, 3) and res.log_alpha.shape == (3,) and res.log_beta.shape == (8,)
    assert isinstance(res.n_iter, int) and isinstance(res.converged, bool)
    assert res.marginal_error.shape == () and float(res.marginal_error) <= 1e-10
    assert res.errors.shape == (res.n_iter,) and res.errors.dtype == F64
    ot = sinkhorn(-random_log_p(8, 3), 1 / 25, tol=1e-10)
    assert ot._fields == ("plan", "f", "g", "n_iter", "converged", "marginal_error", "errors")


# ---------------------------------------------------------------------------------- invariants
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


# ------------------------------------------------------------------------------ error messages
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
    with pytest.raises(ValueError, match="method must be one of 'auto', 'log', 'scaling'; got 'exp'"):
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


# ----------------------------------------------------------------------------------- gradients
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


# ------------------------------------------- from the SeLa chapter (identities, not claims)
@pytest.mark.parametrize("method", METHODS)
def test_marginals_of_the_plan_at_selas_lambda_on_confident_posteriors(method):
    # Was the chapter's `P11.marginals` claim: at SeLa's lam = 25, on the chapter's problem
    # (N = 200, K = 10, logits 2 z), both marginals measured on the returned plan meet the
    # tolerance that was asked for, and the reported error is the plan's.
    log_p = random_log_p(200, 10, seed=11, scale=2.0)
    res = sinkhorn_knopp(log_p, lam=25.0, tol=1e-7, max_iter=20_000, method=method)
    assert res.converged
    rows = float((res.plan.sum(1) - 1 / 200).abs().sum())
    cols = float((res.plan.sum(0) - 1 / 10).abs().sum())
    assert rows <= 1e-12 and cols <= 1e-7
    assert abs(cols - float(res.marginal_error)) <= 1e-12


def test_each_iteration_contracts_hilberts_metric_by_birkhoffs_factor():
    # The SeLa chapter's convergence argument (Birkhoff-Hopf; Franklin & Lorenz 1989): with
    # d_H(u, v) = osc(log u - log v) and kappa = tanh(lam * Delta(P) / 4), Delta the largest log
    # cross-ratio of P over pairs of rows and columns, one iteration (a cluster step and a
    # sample step) gives d_H(alpha_{t+1}, alpha*) <= kappa^2 d_H(alpha_t, alpha*).
    lam = 1.0
    log_p = random_log_p(20, 4, seed=12, scale=1.0)
    a = lam * log_p
    diff = a[:, :, None] - a[:, None, :]  # (N, K, K) a_iy - a_iy'
    delta = float((diff.max(0).values - diff.min(0).values).max())  # lam * Delta(P)
    kappa2 = math.tanh(delta / 4) ** 2
    assert kappa2 < 0.9  # the bound is informative on this problem
    # Delta(P) <= 2 x the largest spread within a row
    assert delta <= 2 * float((a.max(1).values - a.min(1).values).max()) + 1e-12
    star = sinkhorn_knopp(log_p, lam=lam, tol=1e-13, max_iter=100_000).log_alpha

    def d_hilbert(t):
        v = sinkhorn_knopp(log_p, lam=lam, tol=None, max_iter=t).log_alpha - star
        return float(v.max() - v.min())

    dist = [d_hilbert(t) for t in range(1, 12)]
    assert dist[0] > 1e-6  # still far from the limit after one iteration
    for before, after in zip(dist, dist[1:]):
        assert after <= kappa2 * before + 1e-12


def test_birkhoffs_factor_is_attained_on_a_two_by_two_problem():
    # On a 2 x 2 kernel the bound of the previous test is tight: the distance to the limit
    # shrinks by exactly kappa^2 = tanh(Delta / 4)^2 per iteration, asymptotically.
    log_p = torch.tensor([[0.9, 0.1], [0.3, 0.7]], dtype=F64).log()
    delta = float(log_p[0, 0] + log_p[1, 1] - log_p[0, 1] - log_p[1, 0])  # the log cross-ratio
    kappa2 = math.tanh(delta / 4) ** 2
    star = sinkhorn_knopp(log_p, lam=1.0, tol=1e-14, max_iter=100_000).log_alpha

    def d_hilbert(t):
        v = sinkhorn_knopp(log_p, lam=1.0, tol=None, max_iter=t).log_alpha - star
        return float(v.max() - v.min())

    assert abs(d_hilbert(10) / d_hilbert(9) - kappa2) < 1e-4


# ---------------------------------------------------------------- declarations for the harnesses
VALIDATION = [
    V.Entry("solvers.sinkhorn", lambda: {"cost": V.randn(6, 3), "eps": 0.5,
                                         "a": torch.full((6,), 1 / 6), "b": torch.full((3,), 1 / 3),
                                         "f_init": torch.zeros(6)}, (
        V.rank("cost"), V.empty("cost"), V.nonfinite("cost"), V.nonfinite("f_init"),
        V.nonpositive("eps"), V.nonpositive("max_iter"), V.nonpositive("tol", -1),
        V.nonpositive("check_every"), V.choice("method", ("log", "scaling")), V.wrong_type("cost"),
        V.shape("a", lambda k: torch.full((5,), 0.2)), V.shape("b", lambda k: torch.full((4,), 0.25)),
        V.shape("f_init", lambda k: torch.zeros(4)),
        V.dtype_mismatch("cost", "b"), V.device_mismatch("cost", "a"),
        V.custom("range", "b", lambda k: torch.tensor([0.5, 0.5, 0.0]),
                 V.all_of(V.named("b"), "positive", "got minimum 0")),
        V.custom("range", "b", lambda k: 2 * k["b"],
                 V.all_of(V.named("a"), V.named("b"), "same total mass", r"sum\(b\)=2")),
        *V.boolean("distributed"),
    )),
    V.Entry("solvers.sinkhorn_knopp", lambda: {"log_p": V.randn(6, 3).log_softmax(-1)}, (
        V.rank("log_p"), V.empty("log_p"), V.nonfinite("log_p"),
        V.nonpositive("lam"), V.nonpositive("max_iter"), V.nonpositive("tol", -1),
        V.choice("method", ("log", "scaling")), V.wrong_type("log_p"),
        V.shape("r", lambda k: torch.full((4,), 0.25)),
        V.custom("dtype-mismatch", "r", lambda k: torch.full((3,), 1 / 3, dtype=torch.float64),
                 V.all_of("r", "log_p", "dtype", "float64"), error=TypeError),
        V.custom("device-mismatch", "r", lambda k: torch.full((3,), 1 / 3, device="meta"),
                 V.all_of("r", "log_p", "device", "meta")),
        *V.boolean("distributed"),
    )),
]
