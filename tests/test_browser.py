"""The rendered book, opened in a real browser (headless Chromium, over the DevTools protocol).

For each page of the executed book: math is typeset (every math element holds MathJax output,
no TeX error, no raw ``$$`` or ``\\(`` in the text), every image loads, every theorem box,
exercise and solution of the chapter's source renders as a visible box, no request leaves the
machine (all ``file:``; the launch links are links, not requests), the console has no error, and
outputs hold no stray repr or progress-bar state. Each box, figure and a sample of math
elements is also cut out of a screenshot and must show ink on a background (not a blank area).

The book. ``REPTUTOR_BOOK_HTML=<dir>`` tests an existing build (e.g. ``_build/html`` after
``make book``). Otherwise the fixture builds the book into a temporary folder, executing the
chapters through its own jupyter-cache (``_build/.jupyter_cache-browser``), which starts as a
copy of ``make book``'s (``_build/.jupyter_cache``) when that exists: chapters whose code has
not changed since the last build are not executed again (the whole test then takes about a
minute and a half), and the test never writes into ``make book``'s cache (its environment forces
ci scale and may set another seed). jupyter-cache keys a chapter on its code only, so a cache
filled against another version of the library is emptied (``tools/book_cache.py``, which
``make book`` runs too) and make book's is copied only when it is current. Chapters the cache
serves do not log their claims, so the claims page of this build says "not executed" for them.
Screenshots of a chapter and of the claims appendix are written to ``$REPTUTOR_SCREENSHOTS``
when it is set.

Chromium is Debian's ``chromium`` package (``make test`` installs it when it is missing and the
user is root); without it the tests skip.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_cache  # noqa: E402
import cdp  # noqa: E402

pytestmark = pytest.mark.slow

CHROMIUM = cdp.find_chromium()
if CHROMIUM is None:
    pytest.skip("no Chromium: install Debian's chromium package (`make test` does it as root: "
                "apt-get install -y chromium) to run the browser test", allow_module_level=True)

sys.path.insert(0, str(ROOT / "book" / "_ext"))
from reptutor_book import toc_chapters  # noqa: E402

CHAPTERS = [p.relative_to(ROOT).with_suffix("") for p in toc_chapters()]
OTHER_PAGES = ["book/intro", "book/how-to-use", "book/notation", "book/appendix/claims",
               "book/appendix/benchmarks", "book/appendix/execution-stats"]
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
DIRECTIVE = re.compile(r"^#\s*(?:`{3,}|:{3,})\{(prf:[a-z]+|exercise|exercise-start|solution|"
                       r"solution-start)\}", re.M)
STRAY_REPR = re.compile(r"^(<[\w.]+ (object )?at 0x[0-9a-f]+>|Text\(.*\)|\(np\.float64\(.*|"
                        r"-?\d+\.\d+(e[-+]?\d+)?)$")
PROGRESS_STATE = re.compile(r"\d+%\|.*\||\d+/\d+ \[\d\d:\d\d")
BUILD_TIMEOUT_S = 2400
BOOK_CACHE = ROOT / "_build" / ".jupyter_cache"            # make book's
TEST_CACHE = ROOT / "_build" / ".jupyter_cache-browser"    # this test's
MAX_SHOT_PX = 30000


# ------------------------------------------------------------------------------ fixtures
def _build(out: Path) -> Path:
    """Build the executed book into ``out`` through make book's jupyter-cache."""
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
    assert jb, "jupyter-book is not installed in this environment"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["sphinx"]["local_extensions"] = {
        name: str(ROOT / rel) for name, rel in config["sphinx"]["local_extensions"].items()}
    # The test's own cache, started from make book's: the test session's environment (ci
    # scale forced, maybe another REPTUTOR_SEED) must never leave outputs in make book's cache.
    # Both caches are emptied when the library changed since they were filled (jupyter-cache
    # keys on a chapter's code only): tools/book_cache.py.
    book_cache.guard(TEST_CACHE)
    if not TEST_CACHE.exists() and book_cache.is_current(BOOK_CACHE):
        shutil.copytree(BOOK_CACHE, TEST_CACHE)
        shutil.copyfile(book_cache.stamp_path(BOOK_CACHE), book_cache.stamp_path(TEST_CACHE))
    config["execute"]["cache"] = str(TEST_CACHE)
    cfg = out / "_config.yml"
    cfg.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # figures render inline
    env["REPTUTOR_CLAIMS_LOG"] = str(out / "claims.jsonl")
    start = time.perf_counter()
    proc = subprocess.run([jb, "build", str(ROOT), "--config", str(cfg), "--path-output",
                           str(out), "--keep-going"], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=BUILD_TIMEOUT_S)
    html = out / "_build" / "html"
    assert proc.returncode == 0 and (html / "index.html").exists(), (
        "the book build failed:\n" + (proc.stdout + proc.stderr)[-4000:])
    print(f"built the book in {time.perf_counter() - start:.0f} s")
    return html


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    given = os.environ.get("REPTUTOR_BOOK_HTML")
    if given:
        html = Path(given).resolve()
        assert (html / "index.html").exists(), f"REPTUTOR_BOOK_HTML={given} has no index.html"
        return html
    return _build(tmp_path_factory.mktemp("book"))


@pytest.fixture(scope="module")
def browser():
    with cdp.Browser(CHROMIUM, width=1280, height=900) as b:
        yield b


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    out = Path(os.environ.get("REPTUTOR_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


# ------------------------------------------------------------------------------ helpers
PAGE_STATE = r"""
(() => {
  const article = document.querySelector('article.bd-article') || document.body;
  const skip = 'pre, code, script, style, mjx-container, .highlight, .cell_input, svg, textarea';
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  const raw = [];
  while (walker.nextNode()) {
    const n = walker.currentNode;
    if (n.parentElement && n.parentElement.closest(skip)) continue;
    const t = n.textContent;
    for (const m of ['$$', '\\(', '\\[', '\\begin{', '{prf:', '{exercise', '{solution', '{glue',
                     '{cite}', '{doc}', '```{']) {
      if (t.includes(m)) raw.push(m + ' in: ' + t.trim().slice(0, 80));
    }
  }
  const math = [...article.querySelectorAll('span.math, div.math')];
  // shown on the page: not in a folded dropdown (togglebutton hides it with opacity/visibility)
  const shown = e => e.checkVisibility({checkOpacity: true, checkVisibilityCSS: true}) &&
    !e.closest('.toggle-hidden, details:not([open]) > :not(summary)') &&
    e.getBoundingClientRect().height > 0;
  const rect = e => { const r = e.getBoundingClientRect();
    return [r.left + scrollX, r.top + scrollY, r.width, r.height]; };
  const box = sel => [...article.querySelectorAll(sel)].map(e => ({
    id: e.id || '', cls: e.className, rect: rect(e),
    title: (e.querySelector('.admonition-title, summary, p') || {}).textContent || '',
    visible: e.getBoundingClientRect().height > 8 && getComputedStyle(e).display !== 'none'}));
  const outputs = [...article.querySelectorAll('.cell_output .output')].map(e => ({
    cls: e.className, text: (e.querySelector('pre') || e).textContent.trim()}));
  return {
    title: document.title,
    raw: raw,
    math: math.length,
    untypeset: math.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 60)),
    mathRects: math.map(e => e.querySelector('mjx-container')).filter(e => e && shown(e)).map(rect),
    texErrors: article.querySelectorAll('mjx-merror').length,
    images: [...article.querySelectorAll('img')].map(i => ({src: i.getAttribute('src'),
      ok: i.complete && i.naturalWidth > 0, rect: rect(i)})),
    svgs: [...article.querySelectorAll('svg[role=img]')].map(rect),
    proofs: box('div.proof'),
    exercises: box('div.exercise'),
    solutions: box('div.solution'),
    outputs: outputs,
    nanCells: [...article.querySelectorAll('td, th')].filter(c => /^(nan|NaN|None)$/.test(c.textContent.trim())).length,
    launch: [...document.querySelectorAll('.dropdown-launch-buttons a, a[href*="colab.research"]')].map(a => a.href),
    ipynb: [...document.querySelectorAll('.dropdown-download-buttons a')].map(a => a.getAttribute('href')).filter(h => h && h.endsWith('.ipynb')),
  };
})()
"""


def _ink(png: bytes) -> tuple[float, float]:
    """(fraction of pixels darker than the background, standard deviation of the grey levels)."""
    from PIL import Image, ImageStat

    im = Image.open(io.BytesIO(png)).convert("L")
    hist = im.histogram()
    background = max(range(256), key=hist.__getitem__)
    dark = sum(hist[: max(background - 60, 0)]) / max(sum(hist), 1)
    return dark, ImageStat.Stat(im).stddev[0]


def _clip(shot, rect, pad: float = 2.0) -> bytes:
    x, y, w, h = rect
    box = (int(max(x - pad, 0)), int(max(y - pad, 0)), int(min(x + w + pad, shot.width)),
           int(min(y + min(h, 1500) + pad, shot.height)))
    buf = io.BytesIO()
    shot.crop(box).save(buf, format="PNG")
    return buf.getvalue()


def _open(browser: cdp.Browser, html: Path, docname: str) -> tuple[cdp.Page, dict]:
    page_file = html / f"{docname}.html"
    assert page_file.exists(), f"{docname}.html was not rendered"
    page = browser.page()
    page.goto(page_file.as_uri())
    cdp.wait_for_mathjax(page)
    # One viewport as tall as the page: lazy images load, and one screenshot covers everything.
    height = page.evaluate("document.documentElement.scrollHeight")
    page.call("Emulation.setDeviceMetricsOverride", {
        "width": browser.width, "height": min(int(height), MAX_SHOT_PX), "deviceScaleFactor": 1,
        "mobile": False})
    page.evaluate("Promise.race([Promise.all([...document.images].filter(i => !i.complete)"
                  ".map(i => new Promise(r => { i.onload = i.onerror = r; }))),"
                  "new Promise(r => setTimeout(r, 10000))]).then(() => true)", await_promise=True)
    browser.pump(0.5)  # late requests (fonts, lazy scripts)
    return page, page.evaluate(PAGE_STATE)


def _screenshot(page: cdp.Page):
    """The whole page (up to MAX_SHOT_PX tall) as a PIL image."""
    import base64

    from PIL import Image

    data = page.call("Page.captureScreenshot", {"format": "png"}, timeout=120)
    return Image.open(io.BytesIO(base64.b64decode(data["data"]))).convert("RGB")


def _common_checks(page: cdp.Page, state: dict, docname: str) -> list[str]:
    problems = []
    off = [u for u in page.requests() if not u.startswith(LOCAL_SCHEMES)]
    problems += [f"request off the machine: {u}" for u in off]
    problems += [f"console: {e}" for e in page.errors()]
    problems += [f"raw markup: {r}" for r in state["raw"]]
    problems += [f"math not typeset: {m!r}" for m in state["untypeset"]]
    if state["texErrors"]:
        problems.append(f"{state['texErrors']} TeX errors (mjx-merror)")
    problems += [f"image did not load: {i['src']}" for i in state["images"] if not i["ok"]]
    if state["nanCells"]:
        problems.append(f"{state['nanCells']} table cells show nan/None")
    for out in state["outputs"]:
        if "text_plain" in out["cls"] and STRAY_REPR.match(out["text"]):
            problems.append(f"stray repr in an output: {out['text'][:80]!r}")
        if PROGRESS_STATE.search(out["text"]):
            problems.append(f"progress-bar state in an output: {out['text'][:80]!r}")
    return problems


def _screenshot_checks(page: cdp.Page, state: dict, shot=None) -> list[str]:
    shot = _screenshot(page) if shot is None else shot
    problems = []
    rects = state["mathRects"]
    sample = [rects[i] for i in sorted({0, len(rects) // 3, 2 * len(rects) // 3, len(rects) - 1})
              if 0 <= i < len(rects)] if rects else []
    for r in sample:
        dark, _ = _ink(_clip(shot, r))
        if dark < 0.01:
            problems.append(f"typeset math at {r[:2]} shows no ink on the screenshot")
    for img in state["images"]:
        if img["ok"] and img["rect"][2] > 20:
            _, spread = _ink(_clip(shot, img["rect"], pad=0))
            if spread < 5:
                problems.append(f"figure {img['src']} is blank on the screenshot")
    for kind in ("proofs", "exercises", "solutions"):
        for b in state[kind]:
            dark, spread = _ink(_clip(shot, b["rect"]))
            if dark < 0.005 or spread < 5:
                problems.append(f"{kind[:-1]} box {b['id'] or b['cls']} is blank on the screenshot")
    return problems


# ------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_page_renders_in_chromium(book, browser, shots, chapter):
    docname = chapter.as_posix()
    page, state = _open(browser, book, docname)
    problems = _common_checks(page, state, docname)
    source = (ROOT / f"{docname}.py").read_text(encoding="utf-8")
    wanted = DIRECTIVE.findall(source)
    n_proof = sum(d.startswith("prf:") for d in wanted)
    n_ex = sum(d.startswith("exercise") for d in wanted)
    n_sol = sum(d.startswith("solution") for d in wanted)
    for kind, n in (("proofs", n_proof), ("exercises", n_ex), ("solutions", n_sol)):
        if len(state[kind]) != n:
            problems.append(f"{n} {kind} in the source, {len(state[kind])} rendered")
        problems += [f"{kind[:-1]} {b['id']} is not visible or has no title"
                     for b in state[kind] if not b["visible"] or not b["title"].strip()]
    if state["math"] == 0:
        problems.append("no math on the page")
    if not any(i["ok"] for i in state["images"]):
        problems.append("no figure on the page")
    if not any("colab.research.google.com" in u and u.endswith(f"{docname}.ipynb")
               for u in state["launch"]):
        problems.append("no Colab launch link to the chapter's .ipynb")
    if not state["ipynb"]:
        problems.append("no .ipynb download link")
    else:
        twin = (book / f"{docname}.html").parent / state["ipynb"][0]
        if not twin.resolve().exists():
            problems.append(f"the .ipynb download {state['ipynb'][0]} is missing from the build")
    shot = _screenshot(page)
    problems += _screenshot_checks(page, state, shot)
    if chapter == CHAPTERS[0]:  # the first theorem box with its math; the first figure
        for name, y in (("chapter.png", min((b["rect"][1] for b in state["proofs"]), default=0) - 150),
                        ("chapter-figure.png", min((i["rect"][1] for i in state["images"]
                                                    if i["ok"]), default=0) - 700)):
            top = int(max(0, y))
            shot.crop((0, top, shot.width, min(shot.height, top + 1800))).save(shots / name)
    assert not problems, f"{docname}:\n" + "\n".join(problems[:40])


@pytest.mark.parametrize("docname", OTHER_PAGES)
def test_front_matter_and_appendix_render_in_chromium(book, browser, shots, docname):
    page, state = _open(browser, book, docname)
    problems = _common_checks(page, state, docname)
    if state["launch"]:
        problems.append(f"launch buttons on a page that is not a chapter: {state['launch'][:2]}")
    if docname == "book/intro" and not state["svgs"]:
        problems.append("no chapter dependency graph on the front page")
    if docname == "book/appendix/claims":
        width = page.evaluate("Math.max(...[...document.querySelectorAll('table.reptutor-claims')]"
                              ".map(t => t.scrollWidth - t.parentElement.clientWidth), 0)")
        if width > 1:
            problems.append(f"the claims table is {width} px wider than the page")
    shot = _screenshot(page)
    if docname == "book/appendix/claims":  # the summary line and the first tables
        top = int(max(0, page.evaluate(
            "document.querySelector('table.reptutor-claims').getBoundingClientRect().top"
            " + scrollY") - 260))
        shot.crop((0, top, shot.width, min(shot.height, top + 1800))).save(shots / "claims.png")
    problems += _screenshot_checks(page, state, shot)
    assert not problems, f"{docname}:\n" + "\n".join(problems[:40])
