"""Exercises, their solutions and the student version of the book (``tools/make_student.py``).

* Every chapter follows the exercise convention (the module docstring of ``make_student``): at
  least three ``{exercise}`` directives, at least one asking for code, each with exactly one
  folded solution in cells tagged ``solution``, after the chapter's last claim, with no other
  code cell after the first solution cell.
* Each chapter's student notebook (built in memory) has no solution left, and running it fails
  only at its stubs, with ``NotImplementedError`` and the hint. Running every chapter again would
  cost minutes, so each chapter's stubs run after its set-up cell alone (the chapter before its
  exercises is the chapter that nbval runs, cell for cell, and the structure checks guarantee the
  student notebook adds nothing else); one chapter, ``FULL_RUN``, runs in full
  (``REPTUTOR_STUDENT_FULL=all`` runs them all).
* The student book's chapter reader keeps the code cells that the book's execution cache matches.
"""
from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import jupytext
import nbformat
import pytest

import make_student as ms

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("*/*.py"))
#: the chapter whose student notebook runs from its first cell to its last (the cheapest one)
FULL_RUN = "01_infonce_demi"
CLAIM_CALLS = ("check", "not_reproduced")
DIRECTIVE = re.compile(r"^```\{(exercise|solution|solution-start|solution-end)\}\s*(\S*)", re.M)


def _ids(p: Path) -> str:
    return p.stem


def _is_claims_cell(cell) -> bool:
    if cell.cell_type != "code":
        return False
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in cell.source.splitlines())
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr in CLAIM_CALLS and isinstance(n.func.value, ast.Name)
               and n.func.value.id == "claims" for n in ast.walk(ast.parse(code)))


# ---- the stub transformation ---------------------------------------------------------------

def test_stub_source_replaces_each_block_by_a_raise_with_its_hint():
    src = ("import math\n\ndef f(x):\n    # HINT: square it\n    # BEGIN SOLUTION\n    y = x * x\n"
           "    return y\n    # END SOLUTION\n\n# HINT: call f\n# BEGIN SOLUTION\nz = f(3)\n"
           "# END SOLUTION\nprint(math.pi)")
    out, hints = ms.stub_source(src)
    assert hints == ["square it", "call f"]
    assert out == ('import math\n\ndef f(x):\n    raise NotImplementedError("square it")\n\n'
                   'raise NotImplementedError("call f")\nprint(math.pi)')


def test_make_student_doctests():
    import doctest

    failures, _ = doctest.testmod(ms, optionflags=doctest.ELLIPSIS)
    assert failures == 0


@pytest.mark.parametrize("src, message", [
    ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION", "without a # HINT: line"),
    ("# HINT: h\n# BEGIN SOLUTION\nx = 1", "without # END SOLUTION"),
    ("x = 1\n# END SOLUTION", "without # BEGIN SOLUTION"),
    ("# HINT: h\n# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "inside a solution block"),
    ("# HINT: h\nx = 1", "no # BEGIN SOLUTION after it"),
    ("# HINT:\n# BEGIN SOLUTION\nx = 1\n# END SOLUTION", "an empty # HINT: line"),
    ("if True:\n    # HINT: h\n# BEGIN SOLUTION\n    x = 1\n# END SOLUTION", "not valid Python"),
])
def test_stub_source_rejects_malformed_blocks(src, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ms.stub_source(src)


# ---- every chapter follows the convention ---------------------------------------------------

@pytest.mark.parametrize("src", CHAPTERS, ids=_ids)
def test_exercises_and_solutions_follow_the_convention(src: Path):
    nb = jupytext.read(src)
    papers = [p.lower() for p in nb.metadata.get("reptutor", {}).get("papers", [])]
    name = src.name
    exercises: list[str] = []
    solved: list[str] = []
    gated: str | None = None  # the label of the open gated solution
    for i, cell in enumerate(nb.cells):
        solution = ms.is_solution(cell)
        directives = DIRECTIVE.findall(cell.source) if cell.cell_type == "markdown" else []
        if gated is not None:
            assert solution, (f"{name} cell {i}: a cell between {{solution-start}} {gated} and "
                              f"its {{solution-end}} must be tagged 'solution'")
        for kind, arg in directives:
            if kind == "exercise":
                assert not solution, f"{name} cell {i}: an exercise inside a solution cell"
            else:
                assert solution, (f"{name} cell {i}: the {{{kind}}} directive must be in its own "
                                  f"cell tagged 'solution' (`# %% [markdown] tags=[\"solution\"]`)")
            if kind == "solution-start":
                assert gated is None, f"{name} cell {i}: nested {{solution-start}}"
                gated = arg
            elif kind == "solution-end":
                assert gated is not None, f"{name} cell {i}: {{solution-end}} without a start"
                gated = None
            if kind in ("solution", "solution-start"):
                assert arg in exercises, (f"{name} cell {i}: the solution of {arg!r} must follow "
                                          f"its exercise")
                solved.append(arg)
                block = cell.source[cell.source.index("{" + kind + "}"):].split("```")[0]
                assert re.search(r"^:class:\s*dropdown", block, re.M), (
                    f"{name} cell {i}: the solution of {arg} needs `:class: dropdown` (folded)")
        if cell.cell_type == "markdown":
            exercises += ms.EXERCISE.findall(cell.source)
        if solution and cell.cell_type == "markdown":
            assert directives or gated is not None, (
                f"{name} cell {i}: a markdown cell tagged 'solution' outside any solution")
        if solution and cell.cell_type == "code":
            assert gated is not None, (f"{name} cell {i}: a solution code cell must lie between "
                                       f"{{solution-start}} and {{solution-end}}")
            if ms.BEGIN in cell.source:
                ms.stub_source(cell.source)  # well-formed: raises ValueError otherwise
    assert gated is None, f"{name}: {{solution-start}} {gated} has no {{solution-end}}"
    assert len(exercises) >= 3, f"{name} has {len(exercises)} exercises; at least 3 needed"
    assert len(set(exercises)) == len(exercises), f"{name}: repeated exercise labels {exercises}"
    bad = [e for e in exercises if not re.fullmatch(rf"ex-({'|'.join(papers)})-\d+", e)]
    assert not bad, f"{name}: exercise labels must read ex-<paper>-<n> ({papers}): {bad}"
    assert sorted(solved) == sorted(exercises), (
        f"{name}: every exercise needs exactly one solution; exercises {exercises}, "
        f"solutions {solved}")
    code_exercises = [c for c in nb.cells if c.cell_type == "code" and ms.is_solution(c)
                      and ms.BEGIN in c.source]
    assert code_exercises, (f"{name}: no exercise asks for code (a solution code cell with "
                            f"{ms.HINT} / {ms.BEGIN} / {ms.END} lines)")
    # solutions come after the last claim (claims.code_digest leaves them out), and nothing
    # that the chapter computes comes after them (the student notebook is the chapter, then stubs)
    last_claim = max((i for i, c in enumerate(nb.cells) if _is_claims_cell(c)), default=-1)
    first_solution = min(i for i, c in enumerate(nb.cells) if ms.is_solution(c))
    assert first_solution > last_claim, (
        f"{name}: solution cell {first_solution} comes before the last claims cell {last_claim}")
    late = [i for i, c in enumerate(nb.cells) if i > first_solution and c.cell_type == "code"
            and not ms.is_solution(c)]
    assert not late, f"{name}: code cells {late} after the first solution cell are not solutions"


# ---- the student notebooks ------------------------------------------------------------------

def _student(src: Path):
    return ms.student_from_source(src)


@pytest.mark.parametrize("src", CHAPTERS, ids=_ids)
def test_student_notebook_has_no_solution(src: Path):
    nb = _student(src)
    text = "\n".join(c.source for c in nb.cells)
    for leak in ("Solution to", "{solution", ms.BEGIN, ms.END, ms.HINT):
        assert leak not in text, f"the student version of {src.name} still contains {leak!r}"
    assert not [c for c in nb.cells if ms.is_solution(c)]
    shown = re.findall(r"^#+\s*Exercise (\d+)", "\n".join(
        c.source for c in nb.cells if c.cell_type == "markdown"), re.M)
    assert len(shown) == len(ms.exercises(jupytext.read(src))), (
        f"the student version of {src.name} shows exercises {shown}")
    stubs = ms.stub_cells(nb)
    assert stubs and all("raise NotImplementedError(" in nb.cells[i].source for i in stubs)
    nbformat.validate(nb)


def _errors(cell) -> list[tuple[str, str]]:
    return [(o.get("ename"), o.get("evalue")) for o in cell.get("outputs", [])
            if o.get("output_type") == "error"]


def _run_and_check(nb, tmp_path: Path, name: str) -> None:
    """Execute every cell (errors allowed) and require errors exactly at the stubs."""
    import nbclient

    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    stubs = set(ms.stub_cells(nb))
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = _errors(cell)
        if i in stubs:
            hints = cell.metadata["reptutor"]["hints"]
            assert len(errors) == 1 and errors[0][0] == "NotImplementedError" \
                and errors[0][1] in hints, (
                    f"{name}: stub cell {i} should fail with NotImplementedError and its hint "
                    f"{hints}, got {errors or 'no error'}")
        else:
            assert not errors, f"{name}: cell {i} (not a stub) failed: {errors}"


@pytest.mark.parametrize("src", CHAPTERS, ids=_ids)
def test_student_stubs_fail_only_at_the_stub(src: Path, tmp_path: Path):
    """Each stub, run after the chapter's set-up cell, fails at its stub and nowhere else."""
    nb = _student(src)
    assert ms.stub_cells(nb), f"the student notebook of {src.name} has no stub"
    setup = [i for i in ms.setup_cells(nb) if "install" not in ms.tags(nb.cells[i])]
    keep = setup + ms.stub_cells(nb)
    nb.cells = [nb.cells[i] for i in sorted(keep)]
    _run_and_check(nb, tmp_path, f"{src.name} (set-up cell and stubs)")


FULL = [s for s in CHAPTERS if os.environ.get("REPTUTOR_STUDENT_FULL") == "all"
        or s.stem == FULL_RUN]


@pytest.mark.slow
@pytest.mark.parametrize("src", FULL, ids=_ids)
def test_student_notebook_runs_to_its_stubs(src: Path, tmp_path: Path):
    """The whole student notebook runs, failing only at its stubs."""
    _run_and_check(_student(src), tmp_path, f"the student notebook of {src.name}")


# ---- the student book -----------------------------------------------------------------------

@pytest.mark.parametrize("src", CHAPTERS, ids=_ids)
def test_student_book_reader_keeps_the_cached_code_cells(src: Path, tmp_path: Path):
    """The student book reuses the executed outputs of `make book`: its reader drops the
    markdown solution cells only, so the execution cache's hash of the notebook is unchanged."""
    from jupyter_cache import get_cache

    text = src.read_text(encoding="utf-8")
    full = jupytext.reads(text, fmt="py:percent")
    student = ms.reads(text, fmt="py:percent")
    assert not [c for c in student.cells if c.cell_type == "markdown" and ms.is_solution(c)]
    cache = get_cache(str(tmp_path / "cache"))
    assert cache.create_hashed_notebook(student)[1] == cache.create_hashed_notebook(full)[1]


def test_student_book_config(tmp_path: Path):
    import yaml

    config = yaml.safe_load(ms.student_config(tmp_path).read_text(encoding="utf-8"))
    sphinx = config["sphinx"]
    assert sphinx["config"]["hide_solutions"] is True
    assert Path(sphinx["local_extensions"]["make_student"]) == ROOT / "tools"
    assert all(Path(p).is_absolute() for p in sphinx["local_extensions"].values())
    assert sphinx["config"]["nb_custom_formats"][".py"][0] == "make_student.reads"
    assert Path(config["execute"]["cache"]) == ROOT / "_build" / ".jupyter_cache"
