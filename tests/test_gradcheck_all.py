"""Every differentiable public loss and estimator has a float64 ``torch.autograd.gradcheck``.

The meta-test reads the test files (``ast``, no import): a function counts as covered when a
test whose body calls ``gradcheck`` refers to it by name, directly or through a module-level
object of its test file (e.g. the ``LOSSES`` table of ``test_losses_chunked.py``). Functions
with a ``chunk_size`` argument must also be gradchecked with ``chunk_size`` set. The tests below
add the gradchecks that the per-module test files did not have; ``coverage()`` returns the map
(name -> the tests that check it), which the meta-test prints when something is missing.

gradcheck compares the analytic Jacobian with central differences (step 1e-6, float64) at
``atol=1e-5, rtol=1e-3`` (its defaults); inputs are chosen away from kinks (hinges, the
variance floor) so that the finite differences are valid.
"""
from __future__ import annotations

import ast
import inspect
from functools import lru_cache
from pathlib import Path

import pytest
import torch

import reptutor.estimators as E
import reptutor.losses as L

F64 = torch.float64
TESTS = Path(__file__).parent
# Public callables that compute no differentiable number (masks, schedules, in-place updates).
NOT_DIFFERENTIABLE = {"view_pairs", "gdt_masks", "mask_conflicts", "ema_update", "byol_momentum"}


def _public_functions() -> dict[str, object]:
    out = {}
    for mod in (L, E):
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isfunction(obj) and name not in NOT_DIFFERENTIABLE:
                out[name] = obj
    return out


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
def _x(*shape, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=g, dtype=F64)).requires_grad_(True)


def _spd(x):  # a symmetric positive-definite matrix from free entries (gradcheck moves one)
    return x @ x.T + 0.5 * torch.eye(x.shape[0], dtype=F64)


def test_gradcheck_cmc_terms_pair_losses():
    a, b, c = _x(5, 3, seed=1), _x(5, 3, seed=2), _x(5, 3, seed=3)
    assert torch.autograd.gradcheck(
        lambda *v: L.cmc_terms(list(v), graph="core", temperature=0.5, reduction="none").pair_losses,
        (a, b, c))


def test_gradcheck_generalized_nce_loss_with_several_positives():
    z = _x(6, 3, seed=4)
    group = torch.tensor([0, 0, 0, 1, 1, 1])
    eye = torch.eye(6, dtype=torch.bool)
    positive = (group[:, None] == group[None, :]) & ~eye  # two positives per anchor
    compare = ~eye
    compare[0, 4] = compare[4, 0] = False  # a restricted denominator
    assert torch.autograd.gradcheck(
        lambda v: L.generalized_nce_loss(v, positive, compare, temperature=0.4,
                                         reduction="none"), (z,))


def test_gradcheck_global_local_terms_and_loss():
    xs = tuple(_x(3, 4, 2, seed=s) for s in range(5, 9))
    assert torch.autograd.gradcheck(
        lambda *v: torch.stack(list(L.global_local_terms(*v, temperature=0.7, negatives="clip"))), xs)
    assert torch.autograd.gradcheck(
        lambda *v: L.global_local_loss(*v, global_weight=0.5, local_weight=2.0, normalize=True), xs)


def test_gradcheck_vicreg_terms_and_single_terms():
    a, b = _x(7, 3, seed=9, scale=0.5), _x(7, 3, seed=10, scale=0.5)  # std ~0.5: hinge active
    assert torch.autograd.gradcheck(lambda u, v: torch.stack(list(L.vicreg_terms(u, v))), (a, b))
    assert torch.autograd.gradcheck(L.invariance_term, (a, b))
    assert torch.autograd.gradcheck(lambda u: L.variance_term(u, gamma=1.0), (a,))


def test_gradcheck_dim_terms():
    g, s, p = _x(4, 4, seed=11), _x(4, 4, 3, seed=12), _x((), seed=13)
    assert torch.autograd.gradcheck(
        lambda u, v, w: torch.stack(list(L.dim_terms(global_scores=u, local_scores=v, prior_loss=w,
                                                     alpha=0.5, gamma=0.1, estimator="dv"))),
        (g, s, p))


def test_gradcheck_hadamard_gap_bounds():
    x = _x(3, 3, seed=14)
    assert torch.autograd.gradcheck(lambda v: torch.stack(list(E.hadamard_gap_bounds(_spd(v)))), (x,))


def test_gradcheck_knn_entropy_chunked():
    z = _x(9, 2, seed=15)
    assert torch.autograd.gradcheck(lambda v: E.knn_entropy(v, k=2, chunk_size=4), (z,))


@pytest.mark.skipif(not hasattr(L, "barlow_twins_terms"), reason="Barlow Twins not merged yet")
def test_gradcheck_barlow_twins():
    a, b = _x(6, 3, seed=16), _x(6, 3, seed=17)
    assert torch.autograd.gradcheck(lambda u, v: L.cross_correlation(u, v), (a, b))
    for form in ("features", "samples"):
        assert torch.autograd.gradcheck(
            lambda u, v: torch.stack(list(L.barlow_twins_terms(u, v, lambda_offdiag=0.1, form=form))),
            (a, b))
    assert torch.autograd.gradcheck(lambda u, v: L.barlow_twins_loss(u, v), (a, b))


@pytest.mark.skipif(not hasattr(L, "mcr2_terms"), reason="MCR2 not merged yet")
def test_gradcheck_mcr2():
    z = _x(8, 3, seed=18)
    y = torch.tensor([0, 1, 0, 1, 2, 2, 0, 1])
    for form in ("features", "samples"):
        assert torch.autograd.gradcheck(lambda v: L.coding_rate(v, form=form), (z,))
        assert torch.autograd.gradcheck(lambda v: L.class_coding_rate(v, y, form=form), (z,))
        assert torch.autograd.gradcheck(
            lambda v: torch.stack(list(L.mcr2_terms(v, y, form=form))), (z,))
    assert torch.autograd.gradcheck(lambda v: L.mcr2_loss(v, y), (z,))
