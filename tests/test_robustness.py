r"""Numerical robustness of every public loss and estimator: overflow, temperature, bf16, determinism.

How to add a public function. Declare it in the test module that mirrors its library module
(``reptutor/losses/foo.py`` -> ``tests/test_losses_foo.py``), not here: with ``import
_robustness as R``, an entry ``"foo_loss": R.Case(...)`` of the module-level dict
``ROBUSTNESS`` (valid inputs, how they are pushed to :math:`10^4`, the value they must then
give, the bf16 depth and scale of the table below, stated in a comment where it is new);
``"FooLoss": R.wraps("foo_loss")`` for its ``nn.Module``; ``R.not_numeric("why")`` for a public
callable that computes no number. A function whose code reaches linear algebra also gets an
``R.LinalgCase`` in ``LINALG`` (section (e)). This file collects the declarations of every
``tests/test_*.py`` (``tests/_declarations.py``); ``test_validation_matrix.py`` has the whole
recipe.

Every function listed in ``reptutor.losses.__all__`` and ``reptutor.estimators.__all__`` that
computes a number from tensors has a case in :data:`CASES` (collected from the ``ROBUSTNESS``
dicts) with valid inputs; a meta-test fails when a public one is missing or is declared outside
its mirroring test module (result types and constants need no declaration). Each case is run
through four checks.

(a) **Large inputs.** Inputs that act as logits are pushed to magnitude :math:`10^4`: critic
    scores get :math:`+10^4` (``"add"``), embeddings that the loss L2-normalises are multiplied
    by :math:`10^4` (``"scale"``), raw embeddings entering distances / covariances are
    translated by :math:`10^4` (``"add"``), covariance matrices are multiplied by
    :math:`10^4` (``"scale"``). Value and gradient must be finite (in float32), and where the
    math says how the value transforms (invariance, or :math:`+\tfrac D2\log 10^4` for a
    Gaussian entropy) it must do so:

    * ``"scale"`` checks compare two float32 results; scaling by :math:`10^4` perturbs each
      input by one rounding (:math:`2^{-24}` relative) and normalisation removes the factor,
      so the logits :math:`s = \langle u, v\rangle/\tau` move by a few :math:`2^{-24}/\tau`:
      ``rtol=1e-5`` and ``atol = 1e-5 * S`` (:math:`S` the case's logit scale) leave a
      factor > 10 of room.
    * ``"add"`` checks compare with a float64 reference evaluated on the *same* rounded float32
      inputs with the shift removed exactly (``x.double() - 1e4`` is exact), so only the
      arithmetic done at magnitude :math:`10^4` remains: each such rounding costs at most
      half an ulp of float32 at :math:`10^4`, :math:`2^{-11}\approx 4.9\times 10^{-4}`; a
      log-sum-exp minus the positive logit (differences of nearby floats are exact), or a mean
      of K such numbers (at most K roundings at :math:`K\cdot 10^4`, divided by K) costs a
      few of them: ``atol = 8 ulp`` (:math:`7.8\times 10^{-3}`; the largest error measured,
      DV's, is 1.1 ulp). Translated embeddings that are centred before a quadratic term
      (variance, covariance, log-det) carry the rounding of the mean (:math:`\le` a few ulp
      at :math:`10^4`, relative :math:`\sim 10^{-3}` to unit-scale data, doubled by the
      square): ``rtol = 1e-2`` there (measured: below 1e-6).

(b) **Temperature sweep.** :math:`\tau \in \{10^{-3}, 10^{-2}, 0.1, 1, 10\}` (or, for
    estimators that take critic scores, scores divided by :math:`\tau`; for sample- and
    covariance-based estimators the data multiplied by :math:`\tau`): finite value and gradient.

(c) **bf16 autocast on CPU.** Under ``torch.autocast("cpu", dtype=torch.bfloat16)`` only the
    matrix products run in bfloat16 (the autocast op list); everything else stays in float32.
    bfloat16 keeps 8 significant bits, unit roundoff :math:`u = 2^{-8} \approx 3.9\times10^{-3}`.
    A product :math:`s = \langle a, b\rangle` rounds both operands and the result (the
    accumulation is float32), so :math:`|\Delta s| \le 3u\,\lVert a\rVert\lVert b\rVert` (*depth*
    3). A loss :math:`\operatorname{LSE}_j s_{ij} - s_{ii}` is 1-Lipschitz in the max-norm of
    its logits, so each direction moves by at most :math:`3u S` with :math:`S` the largest
    :math:`\lVert a\rVert\lVert b\rVert/\tau`; terms add up. The tolerance is
    ``|bf16 - fp32| <= depth * u * S`` with, per case:

    ================================================  =====  =================================
    case                                              depth  scale S
    ================================================  =====  =================================
    info_nce, nt_xent, supcon, class-conditional      3      :math:`1/\tau` (unit rows)
    cmc_loss / cmc_terms (V=3 views, full graph)      18     :math:`1/\tau` (2 directions x 3
                                                             pairs, each 3)
    generalized_nce / gdt (positives from the bf16    6      :math:`1/\tau`
    logits too)
    global / local contrastive (raw dot products)     3      :math:`\max\lVert a\rVert
                                                             \max\lVert b\rVert/\tau`
    global_local_loss / _terms                        6      as above, two terms
    covariance_term / vicreg (Gram products)          6      :math:`(\operatorname{tr} C)^2/D`
                                                             per view (:math:`\partial c /
                                                             \partial C` has norm
                                                             :math:`2\lVert C\rVert/D`)
    logdet_entropy (sample covariance)                3      :math:`\tfrac12\sum_{kl}|R^{-1}_
                                                             {kl}|` (R the correlation)
    cross_correlation (sum of C's entries)            3      :math:`D^2` (:math:`|C_{ij}|\le 1`)
    barlow_twins (first order in C)                   3      :math:`2\sum_i|1-C_{ii}| +
                                                             2\lambda\sum_{i\ne j}|C_{ij}|`
    coding rates / MCR2 (first order in the Gram G)   3      :math:`\tfrac a2\sum_{kl}|M^{-1}_
                                                             {kl}|\sqrt{G_{kk}G_{ll}}`,
                                                             :math:`M = I + aG` (per class,
                                                             weighted, for :math:`R^c`)
    everything without a matrix product (critic       1      :math:`|\text{value}|` (one
    estimators, BYOL/SCRL, MSE, kNN, Cholesky)               final rounding at most)
    ================================================  =====  =================================

    These are worst-case bounds; the measured errors are typically 10-100x smaller. The result
    must also keep its input's dtype (float32), as torch's own losses do under autocast.

(d) **Determinism.** Under ``torch.use_deterministic_algorithms(True)`` two calls raise nothing
    and give bitwise-equal values and gradients.

Sinkhorn (``reptutor.solvers.sinkhorn_knopp`` and the general ``sinkhorn``) is tested for its
public contract only: finite plans for :math:`\lambda` up to :math:`10^3` (:math:`\varepsilon =
1/\lambda` down to :math:`10^{-3}`) in the log domain in float32 and float64, also with the
logits offset by :math:`10^4`, and a ConvergenceWarning that tells the reader what to change.

Documented limits, tested as documented: NWJ's :math:`e^{F-1}` term exceeds every float for
off-diagonal scores above about 88 (float32) / 709 (float64): the value is then ``-inf`` (the
exact value is below every float) with a gradient free of NaN; see :func:`reptutor.estimators.nwj`.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import math
import re
import sys
import textwrap
import warnings

import pytest
import torch

import reptutor.estimators as E
import reptutor.losses as L
import reptutor.metrics as M
from reptutor.solvers import ConvergenceWarning, sinkhorn, sinkhorn_knopp

import _robustness as R
from _declarations import merged, mirror
from _robustness import BIG, F32, F64, Case, LinalgCase

U_BF16 = 2.0 ** -8  # bfloat16 unit roundoff: 8 significant bits (7 stored + 1 implicit)
ULP32_1E4 = 2.0 ** -10  # float32 spacing in [8192, 16384): 2^13 * 2^-23
TEMPERATURES = (1e-3, 1e-2, 0.1, 1.0, 10.0)


# Public names that are not a number computed from tensors, or are one-line nn.Module wrappers
# of a registered function (their forward is that function; the wrapper's own tests check it).


def _base(name: str) -> str:
    return name.split("[")[0]


def _public(name: str):
    """The public object of reptutor.losses or reptutor.estimators called ``name``."""
    return getattr(L, name) if name in L.__all__ else getattr(E, name)


#: Every module's ``ROBUSTNESS`` entries (cases, wrappers, exemptions), and where each is declared.
_DECLARED, DECLARED_IN = merged("ROBUSTNESS", harness=__file__, kind=(Case, R.Wraps, R.NotNumeric))
CASES = {name: v for name, v in _DECLARED.items() if isinstance(v, Case)}
WRAPPERS = {name: v.function for name, v in _DECLARED.items() if isinstance(v, R.Wraps)}
NOT_NUMERIC = {name: v.why for name, v in _DECLARED.items() if isinstance(v, R.NotNumeric)}
NAMES = sorted(CASES)


def _structural(name: str) -> bool:
    # result types (NamedTuples) and constants compute nothing: no declaration needed
    obj = _public(name)
    return not callable(obj) or (inspect.isclass(obj) and issubclass(obj, tuple))


def test_every_public_loss_and_estimator_is_registered():
    public = set(L.__all__) | set(E.__all__)
    registered = {_base(k) for k in CASES}
    missing = sorted(public - registered - set(NOT_NUMERIC) - set(WRAPPERS)
                     - {n for n in public if _structural(n)})
    assert not missing, ("declare these public functions in ROBUSTNESS (an R.Case, R.wraps(...) or "
                         "R.not_numeric(...)) of the test module that mirrors each one:\n" + "\n".join(
                             f"  {n} -> tests/{mirror(_public(n).__module__)}" for n in missing))
    stale = sorted(registered - public)
    assert not stale, f"registered names that are not public any more: {stale}"
    assert set(WRAPPERS.values()) <= registered  # a wrapper's function is itself registered
    assert not (set(NOT_NUMERIC) | set(WRAPPERS)) - public  # no stale exemption
    assert all(inspect.isclass(_public(n)) for n in WRAPPERS)  # wrappers are nn.Modules
    assert all(why.strip() for why in NOT_NUMERIC.values())  # an exemption says why


def test_declarations_are_in_the_mirroring_test_module():
    expected = {**{name: mirror(_public(_base(name)).__module__) for name in DECLARED_IN},
                **{name: mirror(_linalg_object(name).__module__) for name in LINALG_DECLARED_IN}}
    where = {**DECLARED_IN, **LINALG_DECLARED_IN}
    misplaced = [f"{n} is declared in {where[n]}, belongs in tests/{expected[n]}"
                 for n in sorted(where) if where[n] != expected[n]]
    assert not misplaced, "\n".join(misplaced)


def _inputs(case: Case, dtype=F32):
    return tuple(x.detach().clone().requires_grad_(True) for x in case.make(dtype))


def _value_and_grads(case: Case, xs, t=None):
    out = case.call(*xs, t=t)
    assert out.ndim == 0
    grads = torch.autograd.grad(out, xs, allow_unused=True)
    assert any(g is not None for g in grads)
    return out.detach(), [g for g in grads if g is not None]


def _assert_finite(out, grads, case: Case, where: str):
    if case.overflows_to_minus_inf:  # documented: -inf value, gradient without NaN
        assert not torch.isnan(out) and (torch.isfinite(out) or float(out) == -math.inf), where
        assert all(not bool(torch.isnan(g).any()) for g in grads), where
        return
    assert torch.isfinite(out), f"{where}: value {float(out)}"
    for g in grads:
        assert bool(torch.isfinite(g).all()), f"{where}: non-finite gradient"


def _push(case: Case, xs):
    with torch.no_grad():
        if case.big == "scale":
            return tuple((x * BIG).requires_grad_(True) for x in xs)
        return tuple((x + BIG).requires_grad_(True) for x in xs)


# ---------------------------------------------------------------------------- (a) large inputs
@pytest.mark.parametrize("name", NAMES)
def test_large_inputs_are_finite_and_transform_as_the_math_says(name):
    case = CASES[name]
    xs = _inputs(case)
    big = _push(case, xs)
    out, grads = _value_and_grads(case, big)
    _assert_finite(out, grads, case, f"{name} at inputs of magnitude 1e4")
    if case.expect is None or not torch.isfinite(out):
        return
    if case.big == "scale":
        ref = case.call(*xs).detach()
        expected = case.expect(float(ref), xs)
        # see the module docstring: one rounding per input, removed by the normalisation
        tol = 1e-5 * max(1.0, case.logit_scale(xs))
        assert float(out) == pytest.approx(expected, rel=1e-5, abs=tol)
    else:
        # float64 reference on the same rounded inputs, shift removed exactly
        unshifted = tuple(x.detach().double() - BIG for x in big)
        ref = float(case.call(*unshifted))
        expected = case.expect(ref, unshifted)
        # 8 float32 ulps at 1e4 (module docstring); rtol 1e-2 for centred quadratic terms
        rel = 1e-2 if case.centred else 0.0
        assert float(out) == pytest.approx(expected, rel=rel, abs=8 * ULP32_1E4)


def test_nwj_overflow_is_documented_minus_inf_not_nan():
    # e^{F - 1} with F = 1e4 exceeds float64 too: the documented limit of the NWJ estimator.
    f = (R.randn(4, 4, seed=0, dtype=F64) + BIG).requires_grad_(True)
    out = E.nwj(f)
    out.backward()
    assert float(out.detach()) == -math.inf
    assert not bool(torch.isnan(f.grad).any())
    assert bool(torch.isfinite(f.grad.diagonal()).all())  # the positive scores keep a gradient
    assert "-inf" in E.nwj.__doc__  # the limit is stated where users read it


# ---------------------------------------------------------------------------- (b) temperatures
TAU_NAMES = [n for n in NAMES if CASES[n].tau]


@pytest.mark.parametrize("name", TAU_NAMES)
def test_temperature_sweep_is_finite(name):
    case = CASES[name]
    for t in TEMPERATURES:
        out, grads = _value_and_grads(case, _inputs(case), t=t)
        _assert_finite(out, grads, case, f"{name} at temperature {t:g}")


def test_no_temperature_cases_really_have_none():
    # the cases exempted from the sweep must not take a temperature-like argument
    import inspect
    for name in NAMES:
        if not CASES[name].tau:
            fn = getattr(L, _base(name), None) or getattr(E, _base(name))
            assert "temperature" not in inspect.signature(fn).parameters, name


# ---------------------------------------------------------------------------- (c) bf16 autocast
@pytest.mark.parametrize("name", NAMES)
def test_bf16_autocast_is_close_to_float32(name):
    case = CASES[name]
    xs = _inputs(case)
    ref = case.call(*xs).detach()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = case.call(*xs)
    value = float(out.detach())
    assert out.dtype == F32, f"{name} returned {out.dtype} under autocast; a loss keeps its input's dtype"
    depth, scale = case.bf16
    tol = depth * U_BF16 * scale(xs, ref)  # the table in the module docstring
    assert abs(value - float(ref)) <= tol, (name, value, float(ref), tol)
    (g,) = [g for g in torch.autograd.grad(out, xs, allow_unused=True) if g is not None][:1]
    assert bool(torch.isfinite(g).all())


# ---------------------------------------------------------------------------- (d) determinism
@pytest.mark.parametrize("name", NAMES)
def test_deterministic_algorithms(name):
    case = CASES[name]
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        runs = [_value_and_grads(case, _inputs(case)) for _ in range(2)]
    finally:
        torch.use_deterministic_algorithms(before)
    (v1, g1), (v2, g2) = runs
    assert torch.equal(v1, v2)
    assert len(g1) == len(g2) and all(torch.equal(a, b) for a, b in zip(g1, g2))


# ---------------------------------------------------------------------------- Sinkhorn
def _log_p(n, k, dtype, seed=0, scale=3.0):
    return (scale * R.randn(n, k, seed=seed, dtype=dtype)).log_softmax(-1)


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("lam", [1.0, 10.0, 100.0, 1000.0])
def test_sinkhorn_log_domain_plans_are_finite_up_to_lam_1e3(dtype, lam):
    log_p = _log_p(24, 4, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # convergence is not the point here
        res = sinkhorn_knopp(log_p, lam=lam, method="log", max_iter=200)
    assert res.plan.dtype == dtype
    for x in (res.plan, res.log_alpha, res.log_beta, res.marginal_error):
        assert bool(torch.isfinite(x).all()), f"non-finite output at lam={lam:g}, {dtype}"
    # rows are fixed by the last (sample) step: they sum to 1/N up to the rounding of the
    # exponents lam * log_p + log_alpha + log_beta, each off by about eps * |exponent|, which
    # is relative error in the plan: rtol = 4 eps (1 + lam max|log_p|)
    eps = torch.finfo(dtype).eps
    rtol = 4 * eps * (1 + lam * float(log_p.abs().max()))
    torch.testing.assert_close(res.plan.sum(1), torch.full((24,), 1 / 24, dtype=dtype),
                               rtol=rtol, atol=0)
    assert bool((res.plan >= 0).all()) and float(res.marginal_error) <= 2.0  # an L1 gap of two
    # probability vectors is at most 2


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("eps", [1.0, 0.1, 0.01, 0.001])
def test_general_sinkhorn_log_domain_plans_are_finite_down_to_eps_1e_3(dtype, eps):
    # the cost -log_p + 1e4: offsets are absorbed before any exponential (each row's minimum
    # cost is subtracted from x itself), so the float32 plan is finite and meets its marginals
    cost = -_log_p(24, 4, dtype) + BIG
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # convergence is not the point here
        res = sinkhorn(cost, eps, method="log", max_iter=200)
    assert res.plan.dtype == dtype
    for x in (res.plan, res.f, res.g, res.marginal_error, res.errors):
        assert bool(torch.isfinite(x).all()), f"non-finite output at eps={eps:g}, {dtype}"
    # rows are fixed by the last step, up to the rounding of the shifted exponents
    # (C_ij - min_j C_ij) / eps, each off by about u |exponent|
    unit = torch.finfo(dtype).eps
    shifted = (cost - cost.amin(1, keepdim=True)) / eps
    rtol = 4 * unit * (1 + float(shifted.abs().max()))
    torch.testing.assert_close(res.plan.sum(1), torch.full((24,), 1 / 24, dtype=dtype),
                               rtol=rtol, atol=0)
    assert bool((res.plan >= 0).all()) and float(res.marginal_error) <= 2.0


@pytest.mark.parametrize("method", ["log", "scaling"])
def test_sinkhorn_convergence_warning_says_what_to_change(method):
    log_p = _log_p(30, 4, F64, seed=17, scale=4.0)
    with pytest.warns(ConvergenceWarning) as record:
        res = sinkhorn_knopp(log_p, lam=25.0, max_iter=2, method=method)
    assert not res.converged
    msg = str(record[0].message)
    assert "max_iter=2" in msg  # how far it went
    assert "increase max_iter" in msg.lower() and "lower lam" in msg.lower()  # what to change


def test_sinkhorn_scaling_warning_suggests_the_log_domain():
    log_p = _log_p(30, 4, F64, seed=17, scale=4.0)
    with pytest.warns(ConvergenceWarning, match=r"method=['\"]log['\"]"):
        sinkhorn_knopp(log_p, lam=25.0, max_iter=2, method="scaling")


# ------------------------------------------------ (e) half precision and meta: linear algebra
# LAPACK / cuSOLVER have no float16 or bfloat16 kernels (Cholesky, eigh, QR, solve, lstsq,
# cdist raised NotImplementedError on such inputs). The library's rule (book/notation.md,
# reptutor/_precision.py): those steps run in float32 after an exact upcast and a tensor result
# comes back in the input's dtype; functions that must read values reject the meta device by
# name. Every public callable whose code (with the private helpers it calls, docstrings left
# out) reaches a linear-algebra routine is declared in LINALG of its test module; a meta-test
# finds them.
LINALG_CALL = re.compile(r"torch\.linalg\.|torch\.cdist\b|\bcholesky\w*|\bs?logdet\b|\.qr\(|\blstsq\b"
                         r"|\beigh\b|\beigvals\w*")
HALF_DTYPES = (torch.bfloat16, torch.float16)


#: "subpackage.name" -> LinalgCase, from every module's ``LINALG``; and where each is declared.
LINALG, LINALG_DECLARED_IN = merged("LINALG", harness=__file__, kind=LinalgCase)


def _linalg_object(name: str):
    sub, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(f"reptutor.{sub}"), attr)


def _public_callables():
    for sub in ("losses", "estimators", "metrics", "data", "solvers", "models"):
        mod = importlib.import_module(f"reptutor.{sub}")
        for name in mod.__all__:
            obj = getattr(mod, name)
            if callable(obj) and not (inspect.isclass(obj) and issubclass(obj, tuple)):
                yield f"{sub}.{name}", obj


def _code_without_docstrings(obj) -> str:
    tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            body[0] = ast.Pass()
    return ast.unparse(tree)


def _reaches_linalg(obj) -> bool:
    """Whether ``obj`` or a reptutor function / class it names (transitively) calls linear algebra."""
    seen, todo = set(), [obj]
    while todo:
        o = todo.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        try:
            code = _code_without_docstrings(o)
        except (OSError, TypeError):
            continue
        if LINALG_CALL.search(code):
            return True
        scope = sys.modules.get(getattr(o, "__module__", ""), None)
        for word in set(re.findall(r"[A-Za-z_]\w*", code)):
            ref = getattr(scope, word, None)
            if ((inspect.isfunction(ref) or inspect.isclass(ref))
                    and getattr(ref, "__module__", "").startswith("reptutor")):
                todo.append(ref)
    return False


def test_every_linear_algebra_function_is_registered():
    users = {name for name, obj in _public_callables() if _reaches_linalg(obj)}
    missing = sorted(users - set(LINALG))
    assert not missing, ("declare these linear-algebra users in LINALG of the test module that "
                         "mirrors each one:\n" + "\n".join(
                             f"  {n} -> tests/{mirror(_linalg_object(n).__module__)}" for n in missing))
    stale = sorted(set(LINALG) - users)
    assert not stale, f"LINALG entries that reach no linear algebra any more: {stale}"


def test_the_linalg_scan_can_fail():
    # the scan sees a helper's call through a name, and ignores a docstring that mentions one
    assert _reaches_linalg(M.ridge_probe_r2) and _reaches_linalg(L.mcr2_loss)
    assert not _reaches_linalg(L.vicreg_terms)  # its docstring example uses torch.linalg.inv


def _fields(out):
    if isinstance(out, tuple):
        return [x for x in out if isinstance(x, (torch.Tensor, float))]
    return [out]


@pytest.mark.parametrize("half", HALF_DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(LINALG))
def test_half_precision_inputs_run_the_linear_algebra_in_float32(name, half):
    case = LINALG[name]
    xs = case.make(half)
    out = case.call(*xs)  # raised NotImplementedError ("cholesky_cpu" ...) before
    if name == "data.make_global_local_sequences":
        assert out.x.dtype == half and bool(torch.isfinite(out.x).all())
        return
    ref = case.call(*(x.float() for x in xs))  # float32 on the same (rounded) values
    for got, want in zip(_fields(out), _fields(ref)):
        if isinstance(got, float):
            assert math.isfinite(got) and (not case.exact or got == want), (name, got, want)
            continue
        assert bool(torch.isfinite(got).all()), name
        # a metric's diagnostic tensors (dci's importances) may stay in float32
        assert got.dtype == (want.dtype if name.startswith("metrics.") else half), name
        if case.exact:
            assert torch.equal(got, want.to(got.dtype)), (name, got, want)


@pytest.mark.parametrize("name", sorted(LINALG))
def test_meta_inputs_are_supported_or_rejected_by_name(name):
    case = LINALG[name]
    if case.meta.startswith("n/a"):
        return
    xs = tuple(x.to("meta") for x in case.make(F32))
    call = case.meta_call or case.call
    if case.meta == "support":  # shapes and dtypes only, as torch's own functions on meta
        out = call(*xs)
        ref = case.call(*case.make(F32))
        for got, want in zip(_fields(out), _fields(ref)):
            assert (got.device.type, got.shape, got.dtype) == ("meta", want.shape, want.dtype), name
        return
    with pytest.raises(ValueError, match=r"^(\w+) is on the meta device, which holds no values; "
                                         r"\w+ needs them \(") as err:
        call(*xs)
    # the message names the function's first tensor argument
    assert re.match(r"^(\w+)", str(err.value)).group(1) in {"z", "cov", "codes", "z_train", "x", "x_a", "a", "adjacency",
                                                            "f", "laplacian"}, name
