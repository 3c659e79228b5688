"""The Colab twins (tools/make_twins.py) and the one place for the repository and version.

* each chapter's committed ``.ipynb`` is exactly what ``make twins`` generates from its ``.py``
  (regenerated in memory here), with plain Markdown (no MyST left), the source's code cells, no
  outputs and Colab GPU metadata; nothing pairs a source with its twin (no ``jupytext --sync``);
* every install cell is the one ``pyproject.toml`` ``[tool.reptutor]`` gives (the pinned ref,
  ``--no-deps`` so Colab's torch stays), the launch buttons use the same repository and ref,
  and every package a chapter or the library imports is declared.
"""
from __future__ import annotations

import ast
import json
import sys
import textwrap
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import make_twins  # noqa: E402

CHAPTERS = make_twins.chapter_sources()
CFG = make_twins.project_config()


@pytest.fixture(scope="module")
def bib():
    return make_twins.Bibliography(CFG)


def _twin(src: Path) -> dict:
    return json.loads(src.with_suffix(".ipynb").read_text(encoding="utf-8"))


# --- the twins -----------------------------------------------------------------------------


@pytest.mark.parametrize("src", CHAPTERS, ids=lambda p: p.stem)
def test_twin_is_generated_from_its_source(src: Path, bib):
    twin = src.with_suffix(".ipynb")
    assert twin.exists(), f"{src.name} has no Colab twin: run `make twins`"
    expected = make_twins.twin_text(src, CFG, bib)
    assert twin.read_text(encoding="utf-8") == expected, (
        f"{twin.relative_to(ROOT)} is stale (or was edited by hand): run `make twins`")


@pytest.mark.parametrize("src", CHAPTERS, ids=lambda p: p.stem)
def test_twin_markdown_has_no_myst_left(src: Path):
    for i, cell in enumerate(_twin(src)["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        raw = [m for m in make_twins.RAW_MARKERS if m in text]
        assert not raw, f"{src.stem}.ipynb cell {i} still shows MyST markup {raw}: fix make_twins"


@pytest.mark.parametrize("src", CHAPTERS, ids=lambda p: p.stem)
def test_twin_code_is_the_source_code_without_outputs(src: Path):
    ours = [c.source for c in jupytext.read(src).cells if c.cell_type == "code"]
    nb = _twin(src)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert ["".join(c["source"]) for c in code] == ours, f"{src.stem}.ipynb: code cells differ"
    assert not any(c["outputs"] or c["execution_count"] for c in code), (
        f"{src.stem}.ipynb is committed with outputs")


@pytest.mark.parametrize("src", CHAPTERS, ids=lambda p: p.stem)
def test_twin_asks_colab_for_a_gpu(src: Path):
    meta = _twin(src)["metadata"]
    assert meta.get("accelerator") == "GPU", f"{src.stem}.ipynb: no accelerator: GPU metadata"
    assert "provenance" in meta.get("colab", {}), f"{src.stem}.ipynb: no colab metadata"
    assert meta.get("reptutor") == jupytext.read(src).metadata.get("reptutor")
    assert "jupytext" not in meta, f"{src.stem}.ipynb must not carry jupytext pairing metadata"


@pytest.mark.parametrize("src", CHAPTERS, ids=lambda p: p.stem)
def test_source_is_not_paired_with_its_twin(src: Path):
    """`jupytext --sync` could copy a (converted) twin back into the source; nothing pairs them."""
    formats = jupytext.read(src).metadata.get("jupytext", {}).get("formats")
    assert not formats, (f"{src.name} declares jupytext formats {formats!r}: remove the line "
                         f"(`python tools/make_twins.py --fix-sources {src.relative_to(ROOT)}`)")


def test_check_mode_reports_nothing_stale():
    assert make_twins.stale_twins() == [], "stale twins: run `make twins`"


# --- the converter, on a made-up chapter ---------------------------------------------------

SAMPLE = '''\
# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   reptutor:
#     budget_s: 60
#     papers:
#     - P07
# ---

# %% [markdown]
# # A title
#
# Cited {cite}`sordoni2021decomposed`, with the book's macro $\\E x$.
#
# ```{prf:theorem} The bound
# :label: p99-thm
#
# $$
# a \\le b
# $$
# ```
#
# ```{prf:proof}
# Obvious.
# ```
#
# By {prf:ref}`p99-thm`, with K = {glue:text}`P07.k:.1f` and {glue:text}`P07.c.seeds-0-4`.

# %% tags=["install"]
INSTALL

# %%
from reptutor import claims, runtime
runtime.glue("P07.k", 3.0)

# %%
claims.check("P07.c", 1.0, kind="theorem", expected=1.0, tol=0.1, statement="s")
for cid in ["P07.c"]:
    claims.glue_calibration(cid)

# %% [markdown]
# ```{exercise}
# :label: ex-p99-1
#
# Do it.
# ```
#
# ```{solution} ex-p99-1
# :class: dropdown
#
# Done, see {ref}`Exercise 1 <ex-p99-1>`.
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-p99-1
# :class: dropdown
# ```

# %% tags=["solution"]
x = 1

# %% [markdown] tags=["solution"]
# ```{solution-end}
# ```
#
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
'''


@pytest.fixture
def sample(tmp_path):
    src = tmp_path / "99_sample.py"
    src.write_text(SAMPLE.replace("INSTALL", make_twins.install_cell_source(CFG)))
    return src


def test_converter_turns_myst_into_plain_markdown(sample, bib):
    nb = json.loads(make_twins.twin_text(sample, CFG, bib))
    md = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    first = md[0]
    assert "[Sordoni et al., 2021](" in first and "references.bib#L" in first
    assert "$\\mathbb{E} x$" in first  # the book's MathJax macros, which Colab lacks
    assert "**Theorem 1** (The bound)." in first and "$$\na \\le b\n$$" in first
    assert "*Proof.*\n\nObvious. $\\blacksquare$" in first
    assert "By Theorem 1, with K = `{k}`" in first
    # each glued value points at the cell that computes it
    assert "`{k}`: computed in the 2nd code cell below" in first
    assert "`{c.seeds-0-4}`: ranges over seeds 0-4, 5-9 and the null's over 0-9, from the " \
        "committed calibration record (`reptutor/calibration/P07.json`), read in the claims " \
        "cell below" in first
    assert md[1].startswith("> **On Colab.**")  # the generated note after the title
    exercise = md[2]
    assert exercise.startswith("#### Exercise 1\n\nDo it.")
    assert "<details>\n<summary><b>Solution to Exercise 1</b></summary>" in exercise
    assert "Done, see Exercise 1." in exercise
    assert "<summary><b>Solution to Exercise 1</b></summary>" in md[3] and "code cell" in md[3]
    assert md[4].startswith("*(End of the solution to Exercise 1.)*")
    assert "* Alessandro Sordoni" in md[4]  # the chapter's reference list
    for text in md:
        assert not [m for m in make_twins.RAW_MARKERS if m in text], text


def test_converter_refuses_what_it_cannot_convert(tmp_path, bib):
    src = tmp_path / "98_bad.py"
    src.write_text(SAMPLE.replace("# ```{prf:proof}", "# ```{mystery}"))
    with pytest.raises(ValueError, match="no Colab conversion for the directive {mystery}"):
        make_twins.twin_text(src, CFG, bib)
    src.write_text(SAMPLE.replace("{glue:text}`P07.k:.1f`", "{glue:text}`P07.nowhere`"))
    with pytest.raises(ValueError, match="'P07.nowhere' is computed by no code cell"):
        make_twins.twin_text(src, CFG, bib)


# --- one place for the repository and the version ------------------------------------------


def test_config_names_a_repository_and_a_pinned_ref():
    assert CFG["repository"].startswith("https://github.com/"), CFG["repository"]
    ref = CFG["ref"]
    assert ref not in ("main", "master", "HEAD"), "pin a tag or a commit, not a branch"
    if ref.startswith("v"):
        assert ref == f"v{CFG['version']}", (
            f"[tool.reptutor] ref {ref} is a tag: it must be the package version v{CFG['version']}")


def test_launch_buttons_use_the_config():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repo = config.get("repository", {})
    url, branch = repo.get("url", "").rstrip("/"), repo.get("branch")
    assert url == CFG["repository"] and branch == CFG["ref"], (
        f"_config.yml repository {repo} must be pyproject.toml [tool.reptutor] "
        f"({CFG['repository']}, {CFG['ref']})")


def test_install_cell_pins_the_ref_and_keeps_colab_torch():
    source = make_twins.install_cell_source(CFG)
    assert f"git+{CFG['repository']}@{CFG['ref']}\"" in source
    assert '["--no-deps", package]' in source
    assert not any(make_twins._dist_name(p) == "torch" for p in make_twins.install_packages(CFG))
    ast.parse(source)
    assert max(len(line) for line in source.splitlines()) <= 100


@pytest.mark.parametrize("src", CHAPTERS, ids=lambda p: p.stem)
def test_every_install_cell_matches_the_config(src: Path):
    cells = [c for c in jupytext.read(src).cells
             if c.cell_type == "code" and "install" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{src.name}: expected one code cell tagged install, got {len(cells)}"
    assert cells[0].source == make_twins.install_cell_source(CFG), (
        f"{src.name}: its install cell is not the one pyproject.toml [tool.reptutor] gives: run "
        f"`python tools/make_twins.py --fix-sources {src.relative_to(ROOT)}` then `make twins`")


def _imported_modules(sources: list[str]) -> set[str]:
    found = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "reptutor"}


def _module_of(requirement: str) -> str:
    dist = make_twins._dist_name(requirement)
    inverse = {v: k for k, v in make_twins.DIST_OF_MODULE.items()}
    return inverse.get(dist, dist.replace("-", "_"))


@pytest.mark.parametrize("src", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_imports_are_installed_by_its_install_cell(src: Path):
    """Colab has torch; everything else a chapter imports must be in its install cell."""
    code = [c.source for c in jupytext.read(src).cells if c.cell_type == "code"]
    declared = {_module_of(p) for p in make_twins.install_packages(CFG)} | {"torch"}
    missing = _imported_modules(code) - declared
    assert not missing, f"{src.name} imports {sorted(missing)}, which its install cell lacks"


def test_library_imports_are_declared_dependencies():
    """pandas (claims.summary) and every other package the library imports is in pyproject."""
    sources = [p.read_text(encoding="utf-8") for p in (ROOT / "reptutor").rglob("*.py")]
    declared = {_module_of(r) for r in CFG["dependencies"]}
    # the book, the tools, and IPython's inline backend (Jupyter and Colab have it): all guarded
    optional = {"myst_nb", "jupytext", "nbformat", "psutil", "IPython", "matplotlib_inline"}
    missing = _imported_modules(sources) - declared - optional
    assert not missing, f"reptutor imports {sorted(missing)}: add them to [project] dependencies"


def test_install_cell_source_is_stable_text():
    """What `--fix-sources` writes: one block, readable, ending without a blank line."""
    text = make_twins.install_cell_source(CFG)
    assert text == textwrap.dedent(text) and not text.endswith("\n")
