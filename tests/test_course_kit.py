"""The course kit stays true: syllabus marks and links, chapter prerequisites and their graph."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import course_kit  # noqa: E402
import reptutor_book  # noqa: E402

CHAPTERS = [reptutor_book.chapter_meta(p) for p in reptutor_book.toc_chapters()]


def test_syllabus_marks_and_links_match_the_table_of_contents():
    text = course_kit.SYLLABUS.read_text(encoding="utf-8")
    assert course_kit.render(text) == text, (
        "the syllabus in book/how-to-use.md is stale: run `python tools/course_kit.py`")


def test_every_written_chapter_is_in_the_syllabus():
    named = set(course_kit.syllabus_papers(course_kit.SYLLABUS.read_text(encoding="utf-8")))
    missing = [c["paper"] for c in CHAPTERS if c["paper"] not in named]
    assert not missing, f"written chapters the syllabus does not schedule: {missing}"


def test_render_marks_planned_and_written_entries():
    text = ("| week | part | chapters | what students do |\n|---|---|---|---|\n"
            "| 1 | I | P07 InfoNCE; P99 Future paper | work |")
    out = course_kit.render(text, {"P07": "notebooks/01_information/01_infonce_demi"})
    assert out.splitlines()[2] == (
        "| 1 | I | {doc}`P07 InfoNCE </notebooks/01_information/01_infonce_demi>` ✓; "
        "P99 Future paper *(planned)* | 1 of 2 | work |")
    assert course_kit.render(out, {"P07": "notebooks/01_information/01_infonce_demi"}) == out
    # a chapter that disappears from the toc goes back to planned
    assert "P07 InfoNCE *(planned)*" in course_kit.render(out, {})


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c["paper"] for c in CHAPTERS])
def test_chapter_declares_prerequisites_among_earlier_chapters(chapter):
    src = ROOT / f"{chapter['docname']}.py"
    import jupytext

    meta = jupytext.read(src).metadata.get("reptutor", {})
    assert "prerequisites" in meta, (
        f"{src.relative_to(ROOT)}: add `prerequisites: [...]` (paper ids of earlier chapters, "
        "[] for none) to the reptutor block of its jupytext header")
    earlier = [c["paper"] for c in CHAPTERS[: CHAPTERS.index(chapter)]]
    later = [p for p in meta["prerequisites"] if p not in earlier]
    assert not later, (f"{chapter['paper']} lists prerequisites that are not earlier chapters in "
                       f"_toc.yml: {later}")


def test_chapter_graph_has_a_linked_node_per_chapter_and_an_edge_per_prerequisite():
    svg = reptutor_book.chapter_graph_svg(CHAPTERS, "book/intro")
    for c in CHAPTERS:
        assert f'xlink:href="../{c["docname"]}.html"' in svg, c["paper"]
    edges = sum(len(c["prerequisites"]) for c in CHAPTERS)
    assert svg.count('id="patch_') >= len(CHAPTERS) + edges
    depth = reptutor_book.graph_layers(CHAPTERS)
    for c in CHAPTERS:
        assert all(depth[q] < depth[c["paper"]] for q in c["prerequisites"])


def test_chapter_graph_rejects_a_cycle():
    fake = [{"paper": "P01", "prerequisites": ["P02"], "docname": "notebooks/01_x/a", "title": "a"},
            {"paper": "P02", "prerequisites": ["P01"], "docname": "notebooks/01_x/b", "title": "b"}]
    with pytest.raises(ValueError, match="cycle in chapter prerequisites"):
        reptutor_book.graph_layers(fake)


def test_render_leaves_other_tables_alone():
    other = "| variable | values | effect |\n|---|---|---|\n| 1 | a | b |\n\n"
    syllabus = ("| week | part | chapters | what students do |\n|---|---|---|---|\n"
                "| 1 | I | P07 InfoNCE | work |\n")
    out = course_kit.render(other + syllabus, {})
    assert out.startswith(other)
    assert out.endswith("|---|---|---|---|---|\n| 1 | I | P07 InfoNCE *(planned)* | 0 of 1 | work |\n")
