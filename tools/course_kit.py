"""Keep the course kit true: the syllabus in book/how-to-use.md marks and links written chapters.

Each row of the 12-week syllabus lists papers as ``P07 Title; P38 Title; ...``. A paper whose
chapter is in ``_toc.yml`` (a written chapter, found by the ``papers`` in its metadata) is
written as a link to the chapter followed by ✓; any other paper is followed by *(planned)*; the
``written`` column counts them. ``tests/test_course_kit.py`` fails when the committed syllabus
differs from what this tool writes.

    python tools/course_kit.py            # rewrite book/how-to-use.md in place
    python tools/course_kit.py --check    # exit 1 and show the difference if it is stale
"""
from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYLLABUS = ROOT / "book" / "how-to-use.md"
sys.path.insert(0, str(ROOT / "book" / "_ext"))
from reptutor_book import chapter_meta, toc_chapters  # noqa: E402

HEADER = "| week | part | chapters | written | what students do |"
RULE = "|---|---|---|---|---|"
ROW = re.compile(r"^\|\s*(\d+)\s*\|")
# one entry of the chapters cell, in any of the three forms this tool reads or writes
ENTRY = re.compile(
    r"^(?:\{doc\}`(?P<linked>P\d{2}\b[^<`]*?)\s*<[^>`]+>`\s*✓"
    r"|(?P<plain>P\d{2}\b.*?)(?:\s*\*\(planned\)\*)?)$")


def written_chapters() -> dict[str, str]:
    """Paper id -> docname of its chapter, for every chapter in _toc.yml."""
    out: dict[str, str] = {}
    for path in toc_chapters():
        meta = chapter_meta(path)
        for paper in meta["papers"] or [meta["paper"]]:
            out[paper] = meta["docname"]
    return out


def _entry(raw: str, written: dict[str, str]) -> tuple[str, bool]:
    m = ENTRY.match(raw.strip())
    if not m:
        raise ValueError(f"syllabus entry {raw.strip()!r} does not start with a paper id (Pnn)")
    text = (m.group("linked") or m.group("plain")).strip()
    paper = text[:3]
    if paper in written:
        return f"{{doc}}`{text} </{written[paper]}>` ✓", True
    return f"{text} *(planned)*", False


def render(text: str, written: dict[str, str] | None = None) -> str:
    """The syllabus text with every row's chapters marked and linked and its count updated."""
    written = written_chapters() if written is None else written
    lines = text.split("\n")
    out = []
    in_syllabus = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("| week | part | chapters |"):
            out.append(HEADER)
            in_syllabus = True
            continue
        if not stripped.startswith("|"):
            in_syllabus = False
        if in_syllabus and stripped.startswith("|---"):
            out.append(RULE)
            continue
        if in_syllabus and ROW.match(stripped):
            cells = [c.strip() for c in stripped.strip("|").split(" | ")]
            if len(cells) == 4:  # week, part, chapters, work: add the written column
                cells.insert(3, "")
            if len(cells) != 5:
                raise ValueError(f"a syllabus row must have 5 cells: {line!r}")
            entries = [_entry(e, written) for e in cells[2].split("; ")]
            cells[2] = "; ".join(e for e, _ in entries)
            cells[3] = f"{sum(w for _, w in entries)} of {len(entries)}"
            out.append("| " + " | ".join(cells) + " |")
            continue
        out.append(line)
    return "\n".join(out)


def syllabus_papers(text: str) -> list[str]:
    """Paper ids named in the syllabus, in order."""
    ids = []
    in_syllabus = False
    for line in text.split("\n"):
        if line.strip().startswith("| week | part | chapters |"):
            in_syllabus = True
        elif not line.strip().startswith("|"):
            in_syllabus = False
        elif in_syllabus and ROW.match(line.strip()):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            ids += [_entry(e, {})[0][:3] for e in cells[2].split("; ")]
    return ids


def main(argv: list[str]) -> int:
    text = SYLLABUS.read_text(encoding="utf-8")
    new = render(text)
    if "--check" in argv:
        if new != text:
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(True), new.splitlines(True), str(SYLLABUS), "generated"))
            return 1
        print("the syllabus is up to date")
        return 0
    if new != text:
        SYLLABUS.write_text(new, encoding="utf-8")
        print(f"rewrote {SYLLABUS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
