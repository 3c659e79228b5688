"""What the rendered book shows, checked without building it: no stray reprs in the chapters,
launch buttons only on chapter pages with the .ipynb twin offered for download, and the book
build's progress mode. (tests/test_browser.py checks the built book in Chromium.)"""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import reptutor_book  # noqa: E402
import silence_reprs  # noqa: E402

CHAPTERS = reptutor_book.toc_chapters()


@pytest.mark.parametrize("src", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_no_cell_ends_with_a_plotting_call_that_prints_a_repr(src):
    stray = silence_reprs.stray_cells(src)
    assert not stray, (
        f"{src.relative_to(ROOT)}: cells ending with a call whose value the page would print "
        f"(add a trailing ';'; `python tools/silence_reprs.py --fix {src.relative_to(ROOT)}`):\n"
        + "\n".join(s.split("\n")[line - 1].strip() for _, s, line, _ in stray))


def test_silence_reprs_fix_adds_a_semicolon_and_keeps_the_code_digest(tmp_path):
    from reptutor.claims import code_digest

    src = tmp_path / "ch.py"
    src.write_text('# %%\nimport matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n'
                   'ax.plot([1, 2])\nax.legend(frameon=False,\n          loc="best")  # note\n\n'
                   '# %%\nax.set_title("t");\n\n# %%\nax.set_title("…t")  # é\n\n# %%\nprint(1)\n')
    before = code_digest(src)
    assert [line for _, _, line, _ in silence_reprs.stray_cells(src)] == [5, 1]
    assert silence_reprs.fix(src) == 2
    assert '          loc="best");  # note' in src.read_text()
    assert 'ax.set_title("…t");  # é' in src.read_text()  # columns in characters, not bytes
    assert silence_reprs.stray_cells(src) == [] and code_digest(src) == before


def _app(docs: dict[str, str], tmp_path: Path):
    env = SimpleNamespace(found_docs=set(docs), doc2path=lambda d: docs[d])
    return SimpleNamespace(env=env, outdir=str(tmp_path / "html"))


def test_launch_buttons_stay_on_chapter_pages_only(tmp_path):
    chapter = ROOT / "notebooks" / "01_information" / "01_infonce_demi.py"
    app = _app({"notebooks/01_information/01_infonce_demi": str(chapter),
                "book/appendix/benchmarks": str(ROOT / "book" / "appendix" / "benchmarks.md")},
               tmp_path)
    for page, kept in (("notebooks/01_information/01_infonce_demi", True),
                       ("book/appendix/benchmarks", False)):
        ctx = {"header_buttons": [{"label": "download-buttons"}, {"label": "launch-buttons"}],
               "script_files": ["a.js", "a.js", "b.js"]}
        reptutor_book._launch_only_on_chapters(app, page, "page.html", ctx, None)
        assert ("launch-buttons" in [b["label"] for b in ctx["header_buttons"]]) is kept
        assert ctx["script_files"] == ["a.js", "b.js"]  # a script added twice is kept once
    from sphinx.builders.html._assets import _JavaScript

    ctx = {"script_files": [_JavaScript(None, body="const X = 1"), _JavaScript("", body="const X = 1"),
                            _JavaScript("", body="const Y = 1")]}
    reptutor_book._launch_only_on_chapters(app, "book/intro", "page.html", ctx, None)
    assert [js.attributes["body"] for js in ctx["script_files"]] == ["const X = 1", "const Y = 1"]


def test_chapter_pages_offer_their_ipynb_twin(tmp_path):
    chapter = ROOT / "notebooks" / "01_information" / "01_infonce_demi.py"
    page = "notebooks/01_information/01_infonce_demi"
    ctx: dict = {}
    reptutor_book._chapter_download(_app({page: str(chapter)}, tmp_path), page, "page.html", ctx, None)
    assert ctx["ipynb_source"] == f"{page}.ipynb"
    copied = tmp_path / "html" / "_sources" / f"{page}.ipynb"
    assert copied.read_bytes() == chapter.with_suffix(".ipynb").read_bytes()


def test_the_book_build_asks_for_one_summary_line_per_training_loop(monkeypatch):
    monkeypatch.delenv("REPTUTOR_PROGRESS", raising=False)
    config = SimpleNamespace(html_context={})
    reptutor_book._config(SimpleNamespace(), config)
    import os

    assert os.environ["REPTUTOR_PROGRESS"] == "summary"
    assert config.html_context["default_mode"] == "light"


@pytest.mark.parametrize("src", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapters_report_progress_through_reptutor_train(src):
    """A chapter's own loop uses ``train.progress`` (one summary line in the book), not tqdm,
    whose notebook widget would put widget state and CDN JavaScript into the page."""
    import re

    uses = re.findall(r"^\s*(?:from tqdm\b.*|import tqdm\b.*)$", src.read_text(encoding="utf-8"),
                      flags=re.M)
    assert not uses, (f"{src.relative_to(ROOT)} uses tqdm ({uses[0].strip()}): wrap the loop in "
                      "reptutor.train.progress(iterable, desc=...) instead")
