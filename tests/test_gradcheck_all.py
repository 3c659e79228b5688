"""Every differentiable public loss and estimator has a float64 ``torch.autograd.gradcheck``.

How to add a public function. In the test module that mirrors its library module
(``reptutor/losses/foo.py`` -> ``tests/test_losses_foo.py``), not here: a float64 ``gradcheck``
test that names it (with ``chunk_size`` set if it has one), and an entry of the module-level
dict ``SECOND_ORDER`` (``import _gradcheck as G``): ``"foo_loss": ("exact", lambda:
G.one(L.foo_loss, *G.pair_xy()))``, ``("raises", ...)``, or ``("none", "why")`` for a public
function that computes nothing differentiable. This file collects the dicts of every
``tests/test_*.py`` (``tests/_declarations.py``); ``test_validation_matrix.py`` has the whole
recipe.

The meta-test reads the test files (``ast``, no import): a function counts as covered when a
test whose body calls ``gradcheck`` refers to it by name, directly or through a module-level
object of its test file (e.g. the ``LOSSES`` table of ``test_losses_chunked.py``). Functions
with a ``chunk_size`` argument must also be gradchecked with ``chunk_size`` set. The tests below
add the gradchecks that the per-module test files did not have; ``coverage()`` returns the map
(name -> the tests that check it), which the meta-test prints when something is missing.

gradcheck compares the analytic Jacobian with central differences (step 1e-6, float64) at
``atol=1e-5, rtol=1e-3`` (its defaults); inputs are chosen away from kinks (hinges, the
variance floor) so that the finite differences are valid.

Second derivatives (a gradient penalty, ``create_graph=True``). :data:`SECOND_ORDER` (collected
from the test modules) lists every differentiable public function with its double-backward
behaviour: ``"exact"`` (float64 ``torch.autograd.gradgradcheck`` passes on the small inputs its
entry builds, also with ``chunk_size`` set where the function has it) or ``"raises"`` (double
backward raises a ``RuntimeError`` that names the function and the alternative); a public
function that computes nothing differentiable is declared ``("none", why)`` instead. A public
function missing from the table, or declared outside its mirroring test module, fails a
meta-test; :func:`test_double_backward_table` prints the table.
"""
from __future__ import annotations

import ast
import inspect
from functools import lru_cache
from pathlib import Path

import pytest
import torch
from torch.autograd.gradcheck import GradcheckError

import reptutor.estimators as E
import reptutor.losses as L

import _gradcheck as G
from _declarations import merged, mirror

TESTS = Path(__file__).parent


def _all_functions() -> dict[str, object]:
    """Every public function of reptutor.losses and reptutor.estimators."""
    return {name: getattr(mod, name) for mod in (L, E) for name in mod.__all__
            if inspect.isfunction(getattr(mod, name))}


def _public_functions() -> dict[str, object]:
    """The differentiable ones: all but those declared ``("none", why)`` in ``SECOND_ORDER``."""
    return {name: f for name, f in _all_functions().items() if name not in NOT_DIFFERENTIABLE}


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}


@lru_cache(maxsize=1)
def _gradcheck_tests() -> tuple[tuple[str, frozenset[str], bool], ...]:
    """(test id, names it refers to, whether it sets chunk_size) for each gradcheck test."""
    found = []
    for path in sorted(TESTS.glob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        module_level = {}  # module-level assignments: name -> names in its value
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        module_level[t.id] = (_names(node.value), "chunk_size" in ast.unparse(node.value))
        for node in tree.body:
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test")):
                continue
            refs = _names(node)
            if not {"gradcheck", "gradgradcheck"} & refs:
                continue
            chunk = "chunk_size" in ast.unparse(node)
            for ref in list(refs):
                if ref in module_level:
                    refs |= module_level[ref][0]
                    chunk = chunk or module_level[ref][1]
            found.append((f"{path.name}::{node.name}", frozenset(refs), chunk))
    return tuple(found)


def coverage() -> dict[str, list[str]]:
    """Public differentiable function -> the gradcheck tests that refer to it."""
    tests = _gradcheck_tests()
    return {name: [t for t, refs, _ in tests if name in refs] for name in _public_functions()}


def test_every_differentiable_loss_and_estimator_is_gradchecked():
    cov = coverage()
    missing = sorted(name for name, tests in cov.items() if not tests)
    table = "\n".join(f"  {n}: {', '.join(t) or '-'}" for n, t in sorted(cov.items()))
    assert not missing, f"no float64 gradcheck for {missing}; coverage:\n{table}"


def test_chunked_variants_are_gradchecked():
    chunked = [n for n, f in _public_functions().items()
               if "chunk_size" in inspect.signature(f).parameters]
    assert chunked  # the streamed contrastive losses and the kNN entropy
    tests = _gradcheck_tests()
    missing = [n for n in chunked if not any(n in refs and chunk for _, refs, chunk in tests)]
    assert not missing, f"no gradcheck with chunk_size set for {missing}"


def test_the_meta_test_can_fail():
    # a name no test mentions is reported as uncovered
    assert not any("no_such_loss" in refs for _, refs, _ in _gradcheck_tests())


# ------------------------------------------------------------------ the missing gradchecks
def test_gradcheck_cmc_terms_pair_losses():
    a, b, c = G.x(5, 3, seed=1), G.x(5, 3, seed=2), G.x(5, 3, seed=3)
    assert torch.autograd.gradcheck(
        lambda *v: L.cmc_terms(list(v), graph="core", temperature=0.5, reduction="none").pair_losses,
        (a, b, c))


@pytest.mark.parametrize("denominator", ["separate", "shared"])
def test_gradcheck_generalized_nce_loss_with_several_positives(denominator):
    z = G.x(6, 3, seed=4)
    group = torch.tensor([0, 0, 0, 1, 1, 1])
    eye = torch.eye(6, dtype=torch.bool)
    positive = (group[:, None] == group[None, :]) & ~eye  # two positives per anchor
    compare = ~eye
    compare[0, 4] = compare[4, 0] = False  # a restricted denominator
    assert torch.autograd.gradcheck(
        lambda v: L.generalized_nce_loss(v, positive, compare, temperature=0.4,
                                         denominator=denominator, reduction="none"), (z,))


def test_gradcheck_global_local_terms_and_loss():
    xs = tuple(G.x(3, 4, 2, seed=s) for s in range(5, 9))
    assert torch.autograd.gradcheck(
        lambda *v: torch.stack(list(L.global_local_terms(*v, temperature=0.7, negatives="clip"))), xs)
    assert torch.autograd.gradcheck(
        lambda *v: L.global_local_loss(*v, global_weight=0.5, local_weight=2.0, normalize=True), xs)


def test_gradcheck_vicreg_terms_and_single_terms():
    a, b = G.x(7, 3, seed=9, scale=0.5), G.x(7, 3, seed=10, scale=0.5)  # std ~0.5: hinge active
    assert torch.autograd.gradcheck(lambda u, v: torch.stack(list(L.vicreg_terms(u, v))), (a, b))
    assert torch.autograd.gradcheck(L.invariance_term, (a, b))
    assert torch.autograd.gradcheck(lambda u: L.variance_term(u, gamma=1.0), (a,))


def test_gradcheck_dim_terms():
    g, s, p = G.x(4, 4, seed=11), G.x(4, 4, 3, seed=12), G.x((), seed=13)
    assert torch.autograd.gradcheck(
        lambda u, v, w: torch.stack(list(L.dim_terms(global_scores=u, local_scores=v, prior_loss=w,
                                                     global_weight=0.5, prior_weight=0.1,
                                                     estimator="dv"))),
        (g, s, p))


def test_gradcheck_hadamard_gap_bounds():
    x = G.x(3, 3, seed=14)
    assert torch.autograd.gradcheck(lambda v: torch.stack(list(E.hadamard_gap_bounds(G.spd(v)))), (x,))


def test_gradcheck_knn_entropy_chunked():
    z = G.x(9, 2, seed=15)
    assert torch.autograd.gradcheck(lambda v: E.knn_entropy(v, k=2, chunk_size=4), (z,))


@pytest.mark.skipif(not hasattr(L, "barlow_twins_terms"), reason="Barlow Twins not merged yet")
def test_gradcheck_barlow_twins():
    a, b = G.x(6, 3, seed=16), G.x(6, 3, seed=17)
    assert torch.autograd.gradcheck(lambda u, v: L.cross_correlation(u, v), (a, b))
    for form in ("features", "samples"):
        assert torch.autograd.gradcheck(
            lambda u, v: torch.stack(list(L.barlow_twins_terms(u, v, redundancy_weight=0.1, form=form))),
            (a, b))
    assert torch.autograd.gradcheck(lambda u, v: L.barlow_twins_loss(u, v), (a, b))


@pytest.mark.skipif(not hasattr(L, "mcr2_terms"), reason="MCR2 not merged yet")
def test_gradcheck_mcr2():
    z = G.x(8, 3, seed=18)
    y = torch.tensor([0, 1, 0, 1, 2, 2, 0, 1])
    for form in ("features", "samples"):
        assert torch.autograd.gradcheck(lambda v: L.coding_rate(v, form=form), (z,))
        assert torch.autograd.gradcheck(lambda v: L.class_coding_rate(v, y, form=form), (z,))
        assert torch.autograd.gradcheck(
            lambda v: torch.stack(list(L.mcr2_terms(v, y, form=form))), (z,))
    assert torch.autograd.gradcheck(lambda v: L.mcr2_loss(v, y), (z,))


# ------------------------------------------------------------------ second derivatives
def _flat(out):
    """A tensor result, or the tensor fields of a NamedTuple result, as one vector."""
    if isinstance(out, torch.Tensor):
        return out
    return torch.cat([t.reshape(-1) for t in out if isinstance(t, torch.Tensor)])


BEHAVIOURS = ("exact", "raises", "none")


def _well_formed(name, value):
    """A declared (behaviour, builder) pair, or ("none", reason); anything else fails collection."""
    where = f"{DECLARED_IN[name]}: SECOND_ORDER[{name!r}]"
    assert len(value) == 2 and value[0] in BEHAVIOURS, f"{where}: not (behaviour in {BEHAVIOURS}, ...)"
    if value[0] == "none":
        assert isinstance(value[1], str) and value[1].strip(), f"{where}: ('none', why) needs a reason"
    else:
        assert callable(value[1]), f"{where}: needs a builder of cases () -> [(label, fn, inputs)]"
    return value


#: name -> (behaviour, cases builder | reason), from every module's ``SECOND_ORDER``; and where
#: each is declared.
TABLE, DECLARED_IN = merged("SECOND_ORDER", harness=__file__, kind=tuple)
TABLE = {name: _well_formed(name, value) for name, value in TABLE.items()}
#: Public callables that compute no differentiable number (masks, schedules, in-place updates).
NOT_DIFFERENTIABLE = {name: why for name, (b, why) in TABLE.items() if b == "none"}
#: The differentiable ones with their double-backward behaviour.
SECOND_ORDER = {name: v for name, v in TABLE.items() if v[0] != "none"}


def test_double_backward_table():
    """Every differentiable public function has an entry; no stale entry; the table prints."""
    public = set(_public_functions())
    table = "\n".join(f"  {n:34s} {SECOND_ORDER[n][0] if n in SECOND_ORDER else 'MISSING'}"
                      for n in sorted(public | set(SECOND_ORDER)))
    print(f"double backward of the differentiable public functions:\n{table}")
    missing = sorted(public - set(SECOND_ORDER))
    assert not missing, (
        "declare these in SECOND_ORDER of the test module that mirrors each one (gradgradcheck, "
        "a clear error, or ('none', why) if nothing is differentiable):\n" + "\n".join(
            f"  {n} -> tests/{mirror(_all_functions()[n].__module__)}" for n in missing))
    stale = sorted(set(TABLE) - set(_all_functions()))
    assert not stale, f"SECOND_ORDER lists names that are not public functions: {stale}"
    assert all(b in BEHAVIOURS for b, _ in SECOND_ORDER.values())


def test_declarations_are_in_the_mirroring_test_module():
    functions = _all_functions()
    misplaced = [f"{n} is declared in {file}, belongs in tests/{mirror(functions[n].__module__)}"
                 for n, file in sorted(DECLARED_IN.items())
                 if n in functions and file != mirror(functions[n].__module__)]
    assert not misplaced, "\n".join(misplaced)


def test_double_backward_table_can_fail():
    # the meta-test reports a public function that has no entry
    assert "no_such_loss" not in SECOND_ORDER and set(_public_functions()) - {"no_such_loss"}


def _check_double_backward(name, behaviour, cases):
    """gradgradcheck every case ("exact"), or expect a RuntimeError naming ``name`` ("raises")."""
    for label, fn, inputs in cases:
        where = f"{name} {label}".strip()

        def vector_fn(*v, fn=fn):
            return _flat(fn(*v))

        if behaviour == "exact":
            assert torch.autograd.gradgradcheck(vector_fn, inputs), where
        else:  # asking for a differentiable first derivative, or differentiating it, raises
            with pytest.raises(RuntimeError, match=name):
                grads = torch.autograd.grad(vector_fn(*inputs).sum(), inputs, create_graph=True)
                torch.autograd.grad(sum(g.sum() for g in grads), inputs)


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_double_backward(name):
    behaviour, build = SECOND_ORDER[name]
    cases = build()
    if "chunk_size" in inspect.signature(_public_functions()[name]).parameters:
        assert any("chunk_size=2" in label for label, _, _ in cases), f"{name}: no streamed case"
    _check_double_backward(name, behaviour, cases)


class _SilentlyFirstOrder(torch.autograd.Function):
    """sum(x^3) whose backward detaches x: the bug class of issue 10 (a wrong second derivative)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.pow(3).sum()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x.detach().pow(2)


class _Refusing(_SilentlyFirstOrder):
    """The same, refusing double backward with a message that names it."""

    @staticmethod
    def backward(ctx, g):
        if torch.is_grad_enabled():
            raise RuntimeError("toy_cube has no double backward; use plain torch ops instead")
        return _SilentlyFirstOrder.backward(ctx, g)


def test_the_double_backward_checks_can_fail():
    x = G.x(3, seed=80)
    # a silently wrong second derivative fails the "exact" rung...
    with pytest.raises((AssertionError, GradcheckError)):
        _check_double_backward("toy_cube", "exact", [("", _SilentlyFirstOrder.apply, (x,))])
    # ...and is not taken for a clear refusal either (torch's own error does not name it)
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        _check_double_backward("toy_cube", "raises", [("", _SilentlyFirstOrder.apply, (x,))])
    # a refusal that names the function passes the "raises" rung, not the "exact" one
    _check_double_backward("toy_cube", "raises", [("", _Refusing.apply, (x,))])
    with pytest.raises(RuntimeError, match="toy_cube has no double backward"):
        _check_double_backward("toy_cube", "exact", [("", _Refusing.apply, (x,))])
