"""The book's structure: table of contents, chapter twins, metadata, citations, the build.

These checks are what keep ~50 chapters consistent; each failure message says what to run.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
BIBKEY = re.compile(r"^@(?!comment)\w+\{\s*([^,\s]+)\s*,", re.M | re.I)
CLAIM = re.compile(r"""claims\.check\(\s*["'](P\d{2}\.[a-z0-9-]+)["']""")
#: a paper result measured and recorded as not reproduced counts as a measured claim too
NOT_REPRODUCED = re.compile(r"""claims\.not_reproduced\(\s*["'](P\d{2}\.[a-z0-9-]+)["']""")
PAPER_ID = re.compile(r"^P\d{2}$")


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    out = [toc["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                out.append(e["file"])
            walk(e.get("sections"))
            walk(e.get("chapters"))

    walk(toc.get("parts"))
    return out


def chapter_sources() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("*/*.py"))


CHAPTERS = chapter_sources()


def _resolve(entry: str) -> Path | None:
    for ext in (".md", ".py", ".ipynb"):
        p = ROOT / (entry + ext)
        if p.exists():
            return p
    return None


def test_toc_entries_exist():
    missing = [f for f in toc_files() if _resolve(f) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_toc_has_no_duplicates():
    files = toc_files()
    dup = sorted({f for f in files if files.count(f) > 1})
    assert not dup, f"_toc.yml lists these files more than once: {dup}"


def test_every_chapter_is_in_the_toc():
    listed = set(toc_files())
    orphans = [str(p.relative_to(ROOT)) for p in CHAPTERS
               if str(p.relative_to(ROOT).with_suffix("")) not in listed]
    assert not orphans, f"chapters missing from _toc.yml: {orphans}"


def test_there_are_chapters():
    assert len(CHAPTERS) >= 2, "expected at least the two template chapters under notebooks/"


@pytest.mark.parametrize("src", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_twin_in_sync(src: Path):
    """The .ipynb twin is generated from the .py, one-way, by `make twins` (tools/make_twins.py;
    tests/test_twins.py checks it byte for byte): the same code cells, no outputs."""
    twin = src.with_suffix(".ipynb")
    assert twin.exists(), f"{src.name} has no Colab twin {twin.name}: run `make twins`"
    from_py = jupytext.read(src)
    nb = nbformat.read(twin, as_version=4)
    a = [c.source for c in from_py.cells if c.cell_type == "code"]
    b = [c.source for c in nb.cells if c.cell_type == "code"]
    assert a == b, f"the code of {twin.name} differs from {src.name}: run `make twins`"
    assert from_py.metadata.get("reptutor") == nb.metadata.get("reptutor"), (
        f"the reptutor metadata of {twin.name} differs from {src.name}: run `make twins`")
    outputs = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("outputs")]
    assert not outputs, f"{twin.name} is committed with outputs in cells {outputs}: run `make twins`"


@pytest.mark.parametrize("src", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_metadata_and_claims(src: Path):
    meta = jupytext.read(src).metadata.get("reptutor")
    assert isinstance(meta, dict), f"{src.name}: the jupytext header needs a `reptutor:` block"
    papers = meta.get("papers")
    assert papers and all(PAPER_ID.match(str(p)) for p in papers), (
        f"{src.name}: reptutor.papers must list paper ids like [P07], got {papers!r}")
    budget = meta.get("budget_s")
    assert isinstance(budget, int) and 0 < budget <= 120, (
        f"{src.name}: reptutor.budget_s must be an integer in (0, 120], got {budget!r}")
    if budget > 60:
        assert re.search(r"budget", src.read_text(), re.I), (
            f"{src.name}: a budget above 60 s needs a written reason in the chapter")
    text = src.read_text(encoding="utf-8")
    checked = set(CLAIM.findall(text))
    ids = checked | set(NOT_REPRODUCED.findall(text))
    assert checked, f"{src.name} asserts no claim with claims.check"
    assert len(ids) >= 3, (
        f"{src.name} measures {len(ids)} claims (claims.check or claims.not_reproduced); "
        "at least 3 needed")
    stray = [i for i in ids if i.split(".")[0] not in papers]
    assert not stray, f"{src.name}: claim ids must start with the chapter's papers {papers}: {stray}"
    for required in ("seed_everything", "runtime.pick", "prf:theorem", "{exercise}", "{solution",
                     "{cite}", "claims.summary"):
        assert required in text, f"{src.name} lacks `{required}` (see the chapter anatomy)"


def test_claim_ids_are_unique_across_chapters():
    seen: dict[str, str] = {}
    for src in CHAPTERS:
        for cid in set(CLAIM.findall(src.read_text(encoding="utf-8"))):
            assert cid not in seen, f"claim id {cid} used in both {seen[cid]} and {src.name}"
            seen[cid] = src.name


def test_every_cite_key_is_in_the_bibliography():
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = set(BIBKEY.findall(bib))
    sources = [p for f in toc_files() if (p := _resolve(f)) is not None]
    missing = {}
    for src in sources:
        for group in CITE.findall(src.read_text(encoding="utf-8")):
            for key in (k.strip() for k in group.split(",")):
                if key not in keys:
                    missing.setdefault(str(src.relative_to(ROOT)), []).append(key)
    assert not missing, f"cite keys missing from book/references.bib: {missing}"


def test_bibliography_has_no_duplicate_keys():
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = BIBKEY.findall(bib)
    dup = sorted({k for k in keys if keys.count(k) > 1})
    assert not dup, f"duplicate keys in references.bib: {dup}"


@pytest.mark.slow
def test_book_builds_without_executing_with_warnings_as_errors(tmp_path: Path):
    """The whole book (chapters not executed) builds with Sphinx warnings treated as errors."""
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
    assert jb, "jupyter-book is not installed in this environment"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    # The copy lives in tmp_path: make the local extension's path absolute.
    config["sphinx"]["local_extensions"] = {
        name: str(ROOT / rel) for name, rel in config["sphinx"]["local_extensions"].items()}
    # Without execution there are no glued values to find; the executed build checks them.
    config["sphinx"]["config"]["suppress_warnings"].append("mystnb.glue")
    cfg = tmp_path / "_config.yml"
    cfg.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [jb, "build", str(ROOT), "--config", str(cfg), "--path-output", str(tmp_path / "out"),
         "-W", "-n", "--keep-going"],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
    )
    out = proc.stdout + proc.stderr
    problems = [line for line in out.splitlines()
                if any(w in line for w in ("WARNING", "ERROR", "Error", "Traceback"))]
    report = "\n".join(problems[:40]) or out[-4000:]
    assert proc.returncode == 0, f"the book build failed or warned:\n{report}"
    html = tmp_path / "out" / "_build" / "html"
    sys.path.insert(0, str(ROOT / "tools"))
    from check_links import broken_links

    broken = broken_links(html)  # every internal link and anchor of every page resolves
    assert not broken, "broken internal links:\n" + "\n".join(broken[:40])
    for src in CHAPTERS:
        page = html / src.relative_to(ROOT).with_suffix(".html")
        assert page.exists(), f"{page} was not rendered"
        text = page.read_text(encoding="utf-8")
        colab = "colab.research.google.com/github/"
        assert colab in text and str(src.relative_to(ROOT).with_suffix(".ipynb")) in text, (
            f"{page.name} has no Colab launch link to its .ipynb twin")
