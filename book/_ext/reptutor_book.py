"""Local Sphinx extension: how the rendered book behaves for readers, students and teachers.

* **Progress output.** The chapters' kernels inherit this process's environment, so setting
  ``REPTUTOR_PROGRESS=summary`` here makes every training loop print one summary line instead of
  a progress widget (no widget state, no widget JavaScript from a CDN, no stale bar).
* **Header buttons.** Launch buttons (Colab) only on chapter pages, the chapters being the
  jupytext sources under ``notebooks/``; every chapter page offers its committed ``.ipynb`` twin
  (what Colab opens) for download.
* **``{chapter-graph}``.** The chapter dependency graph, drawn from each chapter's
  ``reptutor: prerequisites: [...]`` metadata (paper ids of earlier chapters) as an inline SVG
  (matplotlib, no graphviz, no network); each node links to its chapter.
* Small fixes of the themes' JavaScript: a script added twice to a page (``const THEBE_JS_URL``
  declared twice is an error in the console) is kept once, and the colour mode has a default.
"""
from __future__ import annotations

import io
import os
import posixpath
import re
import shutil
import textwrap
from pathlib import Path

import sys

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
GRAPH_KEY = "reptutor_chapter_graph"


# ------------------------------------------------------------------------------ chapters
# The one reader of _toc.yml's chapter list lives with the chapter runner.
sys.path.insert(0, str(ROOT / "tools"))
from run_chapter import toc_chapters  # noqa: E402


def chapter_meta(path: Path) -> dict:
    """``{"paper", "papers", "prerequisites", "title", "docname"}`` of one chapter source."""
    import jupytext

    nb = jupytext.read(path)
    meta = nb.metadata.get("reptutor", {}) or {}
    papers = [str(p) for p in meta.get("papers", [])]
    title = ""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, flags=re.M)
            if m:
                title = m.group(1).strip()
                break
    return {"paper": papers[0] if papers else path.stem, "papers": papers,
            "prerequisites": [str(p) for p in meta.get("prerequisites", []) or []],
            "title": title, "docname": path.relative_to(ROOT).with_suffix("").as_posix()}


def _is_chapter(app: Sphinx, pagename: str) -> bool:
    if not pagename.startswith("notebooks/") or pagename not in app.env.found_docs:
        return False
    return Path(app.env.doc2path(pagename)).suffix == ".py"


# ------------------------------------------------------------------------------ header buttons
def _student_notebooks(app: Sphinx) -> str:
    """The student notebooks' folder when this is the student book (tools/make_student.py)."""
    return getattr(getattr(app, "config", None), "reptutor_student_notebooks", "") or ""


def _chapter_download(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Before the theme builds its buttons: offer the chapter's committed .ipynb twin."""
    if not _is_chapter(app, pagename):
        return
    student_dir = _student_notebooks(app)
    if student_dir:  # the student book offers the student notebook (tools/make_student.py)
        twin = Path(student_dir) / f"{pagename}.ipynb"
    else:
        twin = Path(app.env.doc2path(pagename)).with_suffix(".ipynb")
    if not twin.exists():
        return
    dest = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(twin, dest)
    context["ipynb_source"] = f"{pagename}.ipynb"


def _launch_only_on_chapters(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """After the theme built its buttons: drop the launch group from non-chapter pages, and from
    every page of the student book (Colab opens only committed notebooks, which have solutions:
    students download the student notebook instead)."""
    buttons = context.get("header_buttons")
    if buttons and (_student_notebooks(app) or not _is_chapter(app, pagename)):
        context["header_buttons"] = [b for b in buttons if b.get("label") != "launch-buttons"]
    scripts = context.get("script_files")
    if scripts:
        seen, kept = set(), []
        for js in scripts:
            key = (str(getattr(js, "filename", js) or ""),  # None and "" both mean inline
                   repr(sorted((getattr(js, "attributes", None) or {}).items())))
            if key not in seen:
                seen.add(key)
                kept.append(js)
        context["script_files"] = kept


# ------------------------------------------------------------------------------ chapter graph
class ChapterGraph(SphinxDirective):
    """``{chapter-graph}``: the written chapters and their prerequisites, as an inline SVG."""

    def run(self):
        self.env.metadata[self.env.docname][GRAPH_KEY] = True
        chapters = [chapter_meta(p) for p in toc_chapters() if p.exists()]
        for p in toc_chapters():
            self.env.note_dependency(str(p))
        svg = chapter_graph_svg(chapters, self.env.docname)
        captions = part_captions()
        legend = " ".join(
            f'<span style="white-space:nowrap"><span style="display:inline-block;width:0.9em;'
            f'height:0.9em;border:1px solid #555;background:{colour};vertical-align:-0.1em">'
            f'</span> {captions.get(part, part)}</span>'
            for part, colour in part_colours(chapters).items())
        html = (f'<figure class="reptutor-chapter-graph">{svg}<figcaption>{legend}. An arrow '
                "leads from a chapter to one that needs it; click a chapter to open it."
                "</figcaption></figure>")
        return [nodes.raw("", html, format="html")]


PART_COLOURS = ["#dbe9f6", "#fde3c8", "#dcefd9", "#efdcf2", "#f6dcdc", "#e8e8e8", "#f3efc8",
                "#d6f0f0", "#e3e0f5"]


def part_colours(chapters: list[dict]) -> dict[str, str]:
    """Part folder (``01_information``) -> fill colour, for the parts that have chapters."""
    parts = sorted({c["docname"].split("/")[1] for c in chapters})
    return {p: PART_COLOURS[(int(p[:2]) - 1) % len(PART_COLOURS)] if p[:2].isdigit() else "#eeeeee"
            for p in parts}


def part_captions() -> dict[str, str]:
    """Part folder -> its caption in _toc.yml (taken from the part's first chapter)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    out: dict[str, str] = {}

    def walk(entries, caption):
        for e in entries or []:
            f = e.get("file", "")
            if f.startswith("notebooks/"):
                out.setdefault(f.split("/")[1], caption)
            walk(e.get("sections"), caption)

    for part in toc.get("parts", []):
        walk(part.get("chapters"), part.get("caption", ""))
    return out


def graph_layers(chapters: list[dict]) -> dict[str, int]:
    """Paper id -> depth (0 for a chapter without prerequisites, else 1 + deepest one)."""
    by_id = {c["paper"]: c for c in chapters}
    depth: dict[str, int] = {}

    def d(pid: str, stack: tuple[str, ...] = ()) -> int:
        if pid in stack:
            raise ValueError(f"cycle in chapter prerequisites: {' -> '.join(stack + (pid,))}")
        if pid not in depth:
            pre = [q for q in by_id[pid]["prerequisites"] if q in by_id]
            depth[pid] = 1 + max((d(q, stack + (pid,)) for q in pre), default=-1)
        return depth[pid]

    for c in chapters:
        d(c["paper"])
    return depth


def chapter_graph_svg(chapters: list[dict], fromdoc: str) -> str:
    """Draw the graph with matplotlib: one column per depth, arrows from prerequisite to chapter."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    if not chapters:
        return "<p>No chapter is written yet.</p>"
    depth = graph_layers(chapters)
    columns: dict[int, list[dict]] = {}
    for c in chapters:  # toc order inside a column
        columns.setdefault(depth[c["paper"]], []).append(c)
    colours = part_colours(chapters)
    ncol, nrow = len(columns), max(len(v) for v in columns.values())
    box_w, box_h, gap_x, gap_y = 2.05, 0.66, 0.42, 0.16
    width = ncol * box_w + (ncol - 1) * gap_x
    height = nrow * box_h + (nrow - 1) * gap_y
    with plt.rc_context({"svg.fonttype": "path", "svg.hashsalt": "reptutor-graph"}):
        fig = plt.figure(figsize=(width + 0.2, height + 0.2))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(-0.1, width + 0.1)
        ax.set_ylim(height + 0.1, -0.1)
        ax.axis("off")
        pos: dict[str, tuple[float, float]] = {}
        for col, items in sorted(columns.items()):
            x = col * (box_w + gap_x)
            top = (height - (len(items) * box_h + (len(items) - 1) * gap_y)) / 2
            for i, c in enumerate(items):
                y = top + i * (box_h + gap_y)
                pos[c["paper"]] = (x, y)
                url = posixpath.relpath(c["docname"] + ".html", posixpath.dirname(fromdoc) or ".")
                patch = FancyBboxPatch((x, y), box_w, box_h, boxstyle="round,pad=0,rounding_size=0.08",
                                       facecolor=colours[c["docname"].split("/")[1]],
                                       edgecolor="#555555", linewidth=0.8)
                patch.set_url(url)
                ax.add_patch(patch)
                label = textwrap.shorten(c["title"], 54, placeholder="…")
                lines = textwrap.wrap(label, 27)[:2]
                t = ax.text(x + 0.07, y + 0.15, c["paper"], fontsize=9, fontweight="bold",
                            va="center", ha="left", color="#222222")
                t.set_url(url)
                t2 = ax.text(x + 0.07, y + 0.44, "\n".join(lines), fontsize=9, va="center",
                             ha="left", color="#222222", linespacing=1.0)
                t2.set_url(url)
        for c in chapters:
            for q in c["prerequisites"]:
                if q not in pos:
                    continue
                (x0, y0), (x1, y1) = pos[q], pos[c["paper"]]
                ax.add_patch(FancyArrowPatch(
                    (x0 + box_w, y0 + box_h / 2), (x1, y1 + box_h / 2), arrowstyle="-|>",
                    mutation_scale=9, color="#666666", linewidth=0.8,
                    connectionstyle="arc3,rad=0.0", shrinkA=1, shrinkB=1))
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML declaration and doctype (inline SVG)
    # scale with the column: the intrinsic size stays the maximum
    svg = re.sub(r'<svg([^>]*?) width="([\d.]+)pt" height="([\d.]+)pt"',
                 lambda m: (f'<svg{m.group(1)} width="{m.group(2)}pt" height="{m.group(3)}pt" '
                            'style="max-width:100%;height:auto" role="img" '
                            'aria-label="Chapter dependency graph"'), svg, count=1)
    return svg


def _graph_pages(app: Sphinx, env) -> list[str]:
    # The graph depends on every chapter's metadata: rewrite its page on every build.
    return [d for d, meta in env.metadata.items() if meta.get(GRAPH_KEY)]


def _config(app: Sphinx, config) -> None:
    os.environ.setdefault("REPTUTOR_PROGRESS", "summary")
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "light")  # pydata theme: no empty mode in the console
    config.html_context = context


def setup(app: Sphinx):
    app.add_config_value("reptutor_student_notebooks", "", "html")
    app.connect("config-inited", _config)
    app.connect("html-page-context", _chapter_download, priority=500)
    app.connect("html-page-context", _launch_only_on_chapters, priority=502)
    app.add_directive("chapter-graph", ChapterGraph)
    app.connect("env-updated", _graph_pages)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
