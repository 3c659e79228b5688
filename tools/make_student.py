"""The student version of the book: the exercises without their solutions.

    python tools/make_student.py                 # both: the student notebooks and the student book
    python tools/make_student.py --notebooks     # only the notebooks (seconds)
    python tools/make_student.py --book          # only the book

Writes, under ``_build/student`` (``--out``):

* ``notebooks/<part>/<chapter>.ipynb``: each chapter's Colab notebook (plain Markdown, made by
  ``tools/make_twins.py``) without outputs, its solutions removed and the code that an exercise
  asks for replaced by a stub that raises ``NotImplementedError`` with a hint (run by
  ``tests/test_student.py``);
* ``_build/html``: the book without solutions (``index.html``). The build reuses the executed
  outputs of ``make book`` from its cache (``_build/.jupyter_cache``): the chapters' code cells
  are unchanged, so nothing is executed again unless the main build has not run. The rendered
  chapters are checked to carry their exercises and no trace of a solution.

**The convention** (what the chapters follow, checked by ``tests/test_student.py``):

* an exercise is a markdown cell with a sphinx-exercise ``{exercise}`` directive labelled
  ``ex-<pxx>-<n>``; its solution follows in its own cells, every one tagged ``solution``: a
  markdown cell opening a gated solution (``{solution-start} ex-<pxx>-<n>`` with
  ``:class: dropdown``), code cells, and a markdown cell ``{solution-end}``; a text-only solution
  may be one markdown cell with a ``{solution}`` directive;
* in a code solution the part the student writes lies between a ``# BEGIN SOLUTION`` and a
  ``# END SOLUTION`` line, with a ``# HINT: ...`` line before it: the student version replaces
  the part by ``raise NotImplementedError("<hint>")``; the rest of the cell (the data, the check
  against the library) stays;
* solution cells come after the chapter's last claim (so that ``claims.code_digest`` can leave
  them out), no other code cell comes after the first of them, and a code exercise needs only
  the chapter's set-up cell (its imports) before it: the student notebook is the chapter up to
  its exercises, then the stubs.

The module is also the Sphinx extension of the student book (:func:`setup`) and its chapter
reader (:func:`reads`).
"""
from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_TAG = "solution"
#: the tag of a stub cell in a student notebook
STUB_TAG = "exercise-stub"
BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
HINT = "# HINT:"
EXERCISE = re.compile(r"^```\{exercise\}[^\n]*\n:label:\s*(\S+)", re.M)
DEFAULT_OUT = ROOT / "_build" / "student"
#: where `make book` builds (its execution cache and claims log are reused)
MAIN_BUILD = ROOT / "_build"


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def is_solution(cell) -> bool:
    return SOLUTION_TAG in tags(cell)


def stub_source(source: str) -> tuple[str, list[str]]:
    """Replace every ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` block by a stub.

    The block becomes ``raise NotImplementedError("<hint>")`` at the indentation of its ``BEGIN``
    line, the hint being the last ``# HINT:`` line before it (``# HINT:`` lines are dropped).
    Returns the new source and the hints, one per stub.

    Examples:
        >>> src = "def f(x):\\n    # HINT: square x\\n    # BEGIN SOLUTION\\n    return x * x\\n"\\
        ...       "    # END SOLUTION\\n\\nf(2)"
        >>> print(stub_source(src)[0])
        def f(x):
            raise NotImplementedError("square x")
        <BLANKLINE>
        f(2)
    """
    out: list[str] = []
    hints: list[str] = []
    hint: str | None = None
    inside = False
    for number, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if inside:
            if stripped == END:
                inside = False
            elif stripped == BEGIN or stripped.startswith(HINT):
                raise ValueError(f"line {number}: {stripped!r} inside a solution block")
            continue
        if stripped.startswith(HINT):
            hint = stripped[len(HINT):].strip()
            if not hint:
                raise ValueError(f"line {number}: an empty {HINT} line")
            continue
        if stripped == BEGIN:
            if hint is None:
                raise ValueError(f"line {number}: {BEGIN} without a {HINT} line before it")
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}raise NotImplementedError({json.dumps(hint, ensure_ascii=False)})")
            hints.append(hint)
            hint = None
            inside = True
            continue
        if stripped == END:
            raise ValueError(f"line {number}: {END} without {BEGIN}")
        out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without {END}")
    if hint is not None:
        raise ValueError(f"a {HINT} line with no {BEGIN} after it")
    text = "\n".join(out)
    try:
        ast.parse(text)
    except SyntaxError as err:
        raise ValueError(f"the stubbed cell is not valid Python: {err}") from err
    return text, hints


def student_notebook(nb):
    """The student version of a chapter notebook (a copy; outputs cleared).

    Markdown cells tagged ``solution`` and code cells tagged ``solution`` without a
    ``# BEGIN SOLUTION`` block are removed; code cells with one become stubs (tag
    :data:`STUB_TAG`, hints in their metadata under ``reptutor.hints``).
    """
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if not is_solution(cell):
            cells.append(cell)
            continue
        if cell.cell_type != "code" or BEGIN not in cell.source:
            continue
        cell.source, hints = stub_source(cell.source)
        cell.metadata["tags"] = [t for t in tags(cell) if t != SOLUTION_TAG] + [STUB_TAG]
        cell.metadata.setdefault("reptutor", {})["hints"] = hints
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("jupytext", None)  # a plain notebook, not paired with a source
    return nb


def stub_cells(nb) -> list[int]:
    """Indices of the stub cells of a student notebook."""
    return [i for i, c in enumerate(nb.cells) if STUB_TAG in tags(c)]


def setup_cells(nb) -> list[int]:
    """Indices of a chapter's code cells up to and including its first one not tagged ``install``
    (the imports and configuration): all that a code exercise may use."""
    out = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        out.append(i)
        if "install" not in tags(c):
            break
    return out


def exercises(nb) -> list[str]:
    """Labels of the ``{exercise}`` directives of a notebook, in order."""
    return [m for c in nb.cells if c.cell_type == "markdown" for m in EXERCISE.findall(c.source)]


def chapters() -> list[Path]:
    sys.path.insert(0, str(ROOT / "tools"))
    from run_chapter import toc_chapters

    return toc_chapters()


STUDENT_NOTE = (
    "**Student version.** The solutions of this chapter's exercises are removed. A code cell that "
    "raises `NotImplementedError` is an exercise's code for you to write: replace the `raise` by "
    "your code (its message is a hint) and run the cell; the rest of the cell checks your answer "
    "against the library. Everything before the exercises runs as in the book.")


def student_from_source(src: Path):
    """The student notebook of a chapter source: its Colab notebook (``tools/make_twins.py``:
    plain Markdown, Colab metadata) made into the student version, with a note after the title."""
    import nbformat

    sys.path.insert(0, str(ROOT / "tools"))
    import make_twins

    cfg = make_twins.project_config()
    nb = student_notebook(make_twins.Chapter(Path(src).resolve(), cfg,
                                             make_twins.Bibliography(cfg)).twin())
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(STUDENT_NOTE))
    for i, cell in enumerate(nb.cells):  # unique, stable cell ids after the changes
        cell["id"] = f"student-{i:03d}"
    return nb


def write_notebooks(out: Path) -> list[Path]:
    import jupytext
    import nbformat

    written = []
    for src in chapters():
        nb = student_from_source(src)
        dest = out / src.relative_to(ROOT).with_suffix(".ipynb")
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest)
        written.append(dest)
        shown = dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest
        print(f"ok  {shown}: {len(exercises(jupytext.read(src)))} exercises, "
              f"{len(stub_cells(nb))} code stubs")
    return written


# ---- the student book ---------------------------------------------------------------------

def reads(text: str, fmt: str = "py:percent", **kwargs):
    """Chapter reader of the student book (``nb_custom_formats``): the chapter without its
    markdown solution cells. Its code cells are kept as they are, so that the book's execution
    cache matches them; :func:`setup` removes the solution code cells from the page."""
    import jupytext

    nb = jupytext.reads(text, fmt=fmt, **kwargs)
    nb.cells = [c for c in nb.cells if not (c.cell_type == "markdown" and is_solution(c))]
    return nb


def _drop_solution_cells(app, doctree) -> None:
    from docutils import nodes

    for node in list(doctree.findall(nodes.container)):
        if f"tag_{SOLUTION_TAG}" in node.get("classes", []):
            node.parent.remove(node)


def setup(app):
    """Sphinx extension of the student book: code cells tagged ``solution`` are not rendered."""
    app.connect("doctree-read", _drop_solution_cells)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}


def student_config(out: Path, book_build: Path = MAIN_BUILD) -> Path:
    """Write the student book's ``_config.yml``: the book's, with solutions left out, and the
    execution cache of the book built in ``book_build`` (``make book``: ``_build``)."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["title"] = f"{config.get('title', '')} (student edition)"
    sphinx = config.setdefault("sphinx", {})
    sphinx["local_extensions"] = {name: str((ROOT / rel).resolve()) for name, rel in
                                  (sphinx.get("local_extensions") or {}).items()}
    sphinx["local_extensions"]["make_student"] = str(ROOT / "tools")
    cfg = sphinx.setdefault("config", {})
    cfg["hide_solutions"] = True  # sphinx-exercise drops any {solution} directive left
    # chapter pages offer the student notebooks (written by write_notebooks into `out`) for
    # download, and no Colab button (it would open the committed twin, solutions included)
    cfg["reptutor_student_notebooks"] = str(out.resolve())
    formats = cfg.setdefault("nb_custom_formats", {})
    formats[".py"] = ["make_student.reads", {"fmt": "py:percent"}]
    execute = config.setdefault("execute", {})
    execute["cache"] = str(Path(book_build).resolve() / ".jupyter_cache")  # the book's outputs
    out.mkdir(parents=True, exist_ok=True)
    path = out / "_config.yml"
    path.write_text("# Generated by tools/make_student.py from _config.yml; do not edit.\n"
                    + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def check_student_html(html: Path) -> list[str]:
    """Problems of a built student book: a chapter page without exercises or with a solution."""
    problems = []
    for src in chapters():
        rel = src.relative_to(ROOT)
        page = html / rel.with_suffix(".html")
        if not page.exists():
            problems.append(f"{rel}: no rendered page {page}")
            continue
        text = page.read_text(encoding="utf-8")
        if 'class="exercise' not in text:
            problems.append(f"{rel}: no exercise on the student page")
        leaks = [s for s in ('class="solution', "tag_solution", BEGIN, "solution-start")
                 if s in text]
        if leaks:
            problems.append(f"{rel}: the student page shows solutions ({', '.join(leaks)})")
        if "colab.research.google.com" in text:
            problems.append(f"{rel}: the student page has a Colab button (it opens the twin "
                            "with its solutions)")
        download = html / "_sources" / rel.with_suffix(".ipynb")
        if not download.exists():
            problems.append(f"{rel}: no .ipynb download on the student page")
        elif BEGIN in download.read_text(encoding="utf-8"):
            problems.append(f"{rel}: the page's .ipynb download is not the student notebook")
    sys.path.insert(0, str(ROOT / "tools"))
    from check_links import broken_links

    problems += [f"broken internal link: {b}" for b in broken_links(html)]
    return problems


def build_book(out: Path, book_build: Path = MAIN_BUILD) -> int:
    config = student_config(out, book_build)
    jb = Path(sys.executable).parent / "jupyter-book"
    env = dict(os.environ)
    # the claims table reads the claims that `make book` logged while executing the chapters
    env.setdefault("REPTUTOR_CLAIMS_LOG", str(Path(book_build).resolve() / "claims.jsonl"))
    cmd = [str(jb), "build", str(ROOT), "--config", str(config), "--path-output", str(out),
           "-W", "-n", "--keep-going"]
    print("+", " ".join(cmd), flush=True)
    rc = subprocess.run(cmd, cwd=ROOT, env=env).returncode
    if rc:
        return rc
    html = out / "_build" / "html"
    problems = check_student_html(html)
    for p in problems:
        print("FAIL", p)
    if not problems:
        print(f"ok  student book: every chapter has its exercises and no solution; "
              f"open {html.relative_to(ROOT) if html.is_relative_to(ROOT) else html}/index.html")
    return 1 if problems else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notebooks", action="store_true", help="only the student notebooks")
    ap.add_argument("--book", action="store_true", help="only the student book")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--book-build", type=Path, default=MAIN_BUILD,
                    help="the build folder of the book whose executed outputs are reused "
                         "(default _build, where `make book` builds)")
    args = ap.parse_args()
    out = args.out.resolve()
    both = not (args.notebooks or args.book)
    if args.notebooks or both:
        write_notebooks(out)
    if args.book or both:
        if not both:  # the book's download buttons serve the student notebooks
            write_notebooks(out)
        return build_book(out, args.book_build)
    return 0


if __name__ == "__main__":
    sys.exit(main())
