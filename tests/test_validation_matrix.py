"""The validation matrix: every public callable x every kind of bad input.

How to add a public function. Declare it in the test module that mirrors its library module
(``reptutor/losses/foo.py`` -> ``tests/test_losses_foo.py``; create that file if it does not
exist yet), and nowhere else. In that module, with ``import _validation as V``:

* ``VALIDATION = [V.Entry("losses.foo_loss", valid, cells, na=...)]``: valid keyword arguments
  and one cell per way of getting them wrong (``V.rank``, ``V.shape``, ``V.choice``,
  ``V.boolean``, ... in ``tests/_validation.py``); the meta-tests below say which kinds its
  signature exposes, and each one needs a cell or a written reason in ``na``;
* a loss or estimator also goes into ``ROBUSTNESS`` (``import _robustness as R``; an
  ``nn.Module`` wrapper as ``R.wraps("foo_loss")``) and ``SECOND_ORDER`` (``import _gradcheck as
  G``), and gets a float64 ``gradcheck`` test; a function whose code reaches a factorisation,
  ``cdist`` or ``lstsq`` goes into ``LINALG``.

This file, ``test_robustness.py`` and ``test_gradcheck_all.py`` import every ``tests/test_*.py``
that assigns those names (``tests/_declarations.py``) and run their checks over the union; their
meta-tests fail, naming the file to edit, when a public function is missing, declared in
another module's test file, or has a kind neither tested nor explained.

The registry (:data:`REGISTRY`, collected from the ``VALIDATION`` lists) holds, for each public
callable of ``reptutor``, a set of valid example arguments and the *cells* that corrupt exactly
one thing about them. Each cell is one parametrized test with id ``"<qualified.name>-<kind>"``
(``":<arg>"`` is appended when one function has several cells of one kind) that asserts the
error type and a message naming the argument and what was expected or received (house style,
STYLE.md section 7).

Kinds (:data:`KINDS`):

* ``rank``: a tensor with the wrong number of dimensions;
* ``shape``: a mismatched pair or a wrong feature / view / class size;
* ``empty``: zero samples;
* ``nonfinite``: a NaN in a floating-point tensor input;
* ``nonpositive``: a numeric hyper-parameter at or below its lower bound (temperature, eps, k, n...);
* ``labels-range``, ``labels-dtype``: labels out of range, or not of an integer dtype;
* ``dtype-mismatch``, ``device-mismatch``: two tensors that disagree (``device="meta"``: no GPU);
* ``choice``: an invalid string option (the message must list every valid option);
* ``type``: a list / None / string where a tensor, number, module or generator is expected;
* ``range``: a value outside an interval or set that is not a positivity bound (a correlation
  of 1, a probability of 1.5, an index past the end, a malformed id). Never required by the
  signature reading; recorded where the function has such a constraint.

Which kinds *apply* to a callable is read off its signature (:func:`applicable_kinds`); every kind
that applies has either at least one cell or a written reason in the entry's ``na``; the meta-tests
fail when a public callable is missing from the registry or an applicable kind is neither tested
nor explained. ``tools/validation_table.py`` turns the collected ids into the table of the
reliability note.

Cells marked ``gap=...`` are known library gaps in modules another engineer owns right now;
they run as strict xfails, so a fix flips them to failures that ask for the mark to be removed.
"""
from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import pytest

import reptutor
from reptutor import runtime

import _validation as V
from _declarations import declared, mirror
from _validation import KINDS, Bad, Entry, match_of

SUBPACKAGES = ("losses", "estimators", "solvers", "metrics", "data", "models")
#: Single public callables outside the subpackages (functions of runtime that take arguments).
EXTRA_CALLABLES = (
    "train.fit", "train.iterate_minibatches", "train.progress", "claims.check", "claims.not_reproduced",
    "claims.glue_calibration", "claims.records", "claims.summary",
    "runtime.pick", "runtime.seed_everything", "runtime.generator", "runtime.glue",
    "evaluation.factor_vae_batches",
)


def _collect() -> list[tuple[str, Entry]]:
    """(test file, entry) for every entry of every module's ``VALIDATION`` list."""
    out = []
    for file, entries in declared("VALIDATION", harness=__file__):
        assert isinstance(entries, (list, tuple)), f"{file}: VALIDATION must be a list of V.Entry"
        for e in entries:
            assert isinstance(e, Entry), f"{file}: VALIDATION holds {e!r}, not a V.Entry"
            out.append((file, e))
    # the reliability note's table reads by subpackage (losses first), then by module
    order = [*SUBPACKAGES, *dict.fromkeys(q.partition(".")[0] for q in EXTRA_CALLABLES)]
    return sorted(out, key=lambda fe: (order.index(fe[1].name.partition(".")[0]), fe[0]))


#: (test file, entry): where each entry is declared.
DECLARED = _collect()
#: Every entry, from every test module's ``VALIDATION`` list.
REGISTRY: tuple[Entry, ...] = tuple(e for _, e in DECLARED)

#: Public names that are not validated callables: typed results (NamedTuples, dataclasses
#: built by the library), warnings, and constants.
NOT_VALIDATED_KINDS = (tuple, Warning)


# --------------------------------------------------------------------------------------------
# Which kinds apply to a signature
# --------------------------------------------------------------------------------------------
# free text, not options; ``device`` strings are torch's to parse ("cpu", "cuda:1", ...)
_FREE_TEXT = {"claim_id", "statement", "name", "desc", "prefix", "device"}


def _params(obj: Any) -> list[inspect.Parameter]:
    # a class is read from its constructor: its forward is one line over a function whose own
    # entry covers the tensor kinds (the meta-test still asks for one bad forward tensor)
    return list(inspect.signature(obj).parameters.values())


def applicable_kinds(obj: Any) -> set[str]:
    """The kinds of bad input that a callable's signature (a class: its constructor) exposes."""
    params = _params(obj)
    ann = {p.name: str(p.annotation) for p in params}
    tensors = [n for n, a in ann.items() if "Tensor" in a or a == "Views" or "Batch" in a]
    kinds: set[str] = set()
    if params:
        kinds.add("type")
    if tensors:
        kinds |= {"rank", "empty", "nonfinite"}
    if len(tensors) >= 2:
        kinds |= {"shape", "dtype-mismatch", "device-mismatch"}
    if any(re.fullmatch(r"(float|int)( \| None)?", a) for a in ann.values()):
        kinds.add("nonpositive")
    if any("label" in n or n in ("y_train", "y_test") for n in ann):
        kinds |= {"labels-range", "labels-dtype"}
    if any(("str" in a or a == "Graph") and n not in _FREE_TEXT for n, a in ann.items()):
        kinds.add("choice")
    return kinds


def public_callables() -> dict[str, Any]:
    """Every public callable to validate, from each subpackage's ``__all__`` (plus EXTRA)."""
    out = {}
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"reptutor.{sub}")
        for name in module.__all__:
            obj = getattr(module, name)
            if not callable(obj) or (inspect.isclass(obj) and issubclass(obj, NOT_VALIDATED_KINDS)):
                continue
            out[f"{sub}.{name}"] = obj
    for qual in EXTRA_CALLABLES:
        module, _, attr = qual.rpartition(".")
        out[qual] = getattr(importlib.import_module(f"reptutor.{module}"), attr)
    return out


def _cell_ids() -> list[tuple[Entry, Bad, str]]:
    out = []
    for entry in REGISTRY:
        counts: dict[str, int] = {}
        for cell in entry.cells:
            counts[cell.kind] = counts.get(cell.kind, 0) + 1
        seen: dict[str, int] = {}
        for cell in entry.cells:
            cid = f"reptutor.{entry.name}-{cell.kind}"
            if counts[cell.kind] > 1:
                seen[cell.kind] = seen.get(cell.kind, 0) + 1
                cid += f":{cell.arg}"
                if sum(c.kind == cell.kind and c.arg == cell.arg for c in entry.cells) > 1:
                    cid += f"#{seen[cell.kind]}"
            out.append((entry, cell, cid))
    return out


CELLS = _cell_ids()


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _no_claims_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPTUTOR_CLAIMS_LOG", raising=False)


@pytest.mark.parametrize(("entry", "cell"), [(e, c) for e, c, _ in CELLS], ids=[i for *_, i in CELLS])
def test_cell(entry: Entry, cell: Bad) -> None:
    valid = entry.valid()
    bad = cell.corrupt(valid)
    pattern = match_of(cell, valid)
    if cell.gap:
        try:
            entry.call(bad)
        except Exception as err:  # noqa: BLE001 - a cryptic error is still the gap
            if isinstance(err, cell.error) and re.search(pattern, str(err)):
                pytest.fail(f"known gap is fixed: remove gap= from the cell ({cell.gap})")
        pytest.xfail(cell.gap)
    with pytest.raises(cell.error, match=pattern):
        entry.call(bad)


@pytest.mark.parametrize("entry", [e for e in REGISTRY if e.call_valid], ids=lambda e: f"reptutor.{e.name}")
def test_valid_call(entry: Entry) -> None:
    # the cells corrupt exactly one argument of these: the untouched arguments must be valid
    entry.call(entry.valid())


def test_registry_covers_every_public_callable() -> None:
    registered = [e.name for e in REGISTRY]
    assert len(registered) == len(set(registered)), "an entry is registered twice"
    missing = sorted(set(public_callables()) - set(registered))
    assert not missing, ("public callables without an entry: add a V.Entry to VALIDATION in "
                         "the test module that mirrors each one:\n" + "\n".join(
                             f"  {n} -> tests/{mirror(public_callables()[n].__module__)}"
                             for n in missing))
    stale = sorted(set(registered) - set(public_callables()))
    assert not stale, f"REGISTRY entries that are not public callables: {stale}"


def _misplaced(declared_entries: list[tuple[str, Entry]]) -> list[str]:
    return [f"{e.name} is declared in {file}, belongs in tests/{mirror(e.obj.__module__)}"
            for file, e in declared_entries if file != mirror(e.obj.__module__)]


def test_entries_are_declared_in_the_mirroring_test_module() -> None:
    # reptutor/losses/vicreg.py -> tests/test_losses_vicreg.py: adding a function touches its
    # own test file only, and a reader finds its bad inputs next to its other tests
    misplaced = _misplaced(DECLARED)
    assert not misplaced, "\n".join(misplaced)


def test_the_collection_and_placement_checks_can_fail() -> None:
    # the entries really come from the test modules (this file declares none)...
    files = {file for file, _ in DECLARED}
    assert "test_losses_vicreg.py" in files and "test_validation_matrix.py" not in files
    # ...and an entry in another module's file is reported with the file it belongs in
    entry = next(e for e in REGISTRY if e.name == "losses.vicreg_loss")
    assert _misplaced([("test_losses_cmc.py", entry)]) == [
        "losses.vicreg_loss is declared in test_losses_cmc.py, belongs in tests/test_losses_vicreg.py"]
    assert not _misplaced([("test_losses_vicreg.py", entry)])


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda e: f"reptutor.{e.name}")
def test_entry_covers_applicable_kinds(entry: Entry) -> None:
    tested = {c.kind for c in entry.cells}
    assert tested <= set(KINDS), f"unknown kinds {tested - set(KINDS)}"
    assert set(entry.na) <= set(KINDS), f"unknown n/a kinds {set(entry.na) - set(KINDS)}"
    assert not tested & set(entry.na), f"kinds both tested and n/a: {tested & set(entry.na)}"
    assert all(reason.strip() for reason in entry.na.values()), "an n/a needs a reason"
    forward_kinds = {"rank", "shape", "empty", "nonfinite", "dtype-mismatch", "device-mismatch",
                     "type"} if inspect.isclass(entry.obj) else set()
    noise = set(entry.na) - applicable_kinds(entry.obj) - forward_kinds
    assert not noise, f"n/a recorded for kinds the signature does not expose: {sorted(noise)}"
    untested = applicable_kinds(entry.obj) - tested - set(entry.na)
    assert not untested, f"{entry.name}: applicable kinds neither tested nor n/a: {sorted(untested)}"
    if inspect.isclass(entry.obj):
        method = getattr(entry.obj, "forward" if entry.method == "__call__" else entry.method)
        forward_args = set(inspect.signature(method).parameters) - {"self"}
        assert any(c.arg in forward_args for c in entry.cells), "test one forward with a bad tensor"
        ctor_args = set(inspect.signature(entry.obj).parameters)
        assert any(c.arg in ctor_args for c in entry.cells), "test one constructor hyper-parameter"


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda e: f"reptutor.{e.name}")
def test_every_bool_option_has_a_boolean_cell(entry: Entry) -> None:
    # bool options used to accept normalize="yes" silently: each one read off the signature
    # (a class: its constructor) must have a cell that passes a string and expects a TypeError
    flags = {p.name for p in _params(entry.obj) if str(p.annotation) in ("bool", "<class 'bool'>")}
    tested = {c.arg for c in entry.cells if c.kind == "type" and c.match == V.all_of(
        V.named(c.arg), "must be a bool", "str 'yes'")}
    assert flags <= tested, f"{entry.name}: bool options without a boolean() cell: {sorted(flags - tested)}"
    if inspect.isclass(entry.obj):
        assert flags <= set(entry.ctor), f"{entry.name}: add {sorted(flags - set(entry.ctor))} to ctor"


def test_applicable_kinds_reads_signatures() -> None:
    # the meta-test is only as good as this reading of signatures: check it on known cases
    assert applicable_kinds(reptutor.losses.info_nce_loss) == {
        "type", "rank", "empty", "nonfinite", "shape", "dtype-mismatch", "device-mismatch",
        "nonpositive", "choice"}
    assert {"labels-range", "labels-dtype"} <= applicable_kinds(reptutor.losses.supcon_loss)
    assert applicable_kinds(runtime.pick) == {"type"}
    assert applicable_kinds(reptutor.losses.InfoNCELoss) == {"type", "nonpositive", "choice"}


def test_cell_ids_are_unique_and_parse() -> None:
    ids = [i for *_, i in CELLS]
    assert len(ids) == len(set(ids))
    for i in ids:
        m = re.fullmatch(r"reptutor\.([\w.]+)-([a-z-]+)(:.*)?", i)
        assert m is not None and m.group(2) in KINDS, i
