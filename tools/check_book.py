"""Check the executed, rendered book: every chapter page has its figures, glued numbers,
theorem boxes, exercises and a Colab link to its .ipynb twin, and every internal link of the
book resolves (tools/check_links.py). Run by `make book` after the build.

    python tools/check_book.py [_build/html]
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from check_links import broken_links  # noqa: E402
from run_chapter import toc_chapters  # noqa: E402


STRAY_REPR = re.compile(r"^(<[\w.]+ (object )?at 0x[0-9a-f]+>|Text\(.*\)|\(np\.float64\(.*|"
                        r"-?\d+\.\d+(e[-+]?\d+)?)$")


def stray_reprs(page_html: str) -> list[str]:
    """Text outputs (a cell's printed value) that are a bare repr or a bare number."""
    import html

    out = []
    for block in re.findall(r'<div class="output text_plain[^"]*">(.*?)</div>\s*</div>', page_html,
                            flags=re.S):
        text = html.unescape(re.sub(r"<[^>]+>", "", block)).strip()
        if STRAY_REPR.match(text):
            out.append(text)
    return out


def main() -> int:
    html_root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build" / "html"
    problems = []
    for src in toc_chapters():
        rel = src.relative_to(ROOT)
        page = html_root / rel.with_suffix(".html")
        if not page.exists():
            problems.append(f"{rel}: no rendered page {page}")
            continue
        text = page.read_text(encoding="utf-8")
        figures = len(re.findall(r'<img[^>]+src="[^"]*_images/', text))
        checks = {
            "a figure from an executed cell": figures >= 1,
            "a theorem box": 'class="proof' in text,
            "an exercise": 'class="exercise' in text,
            "a Colab link to its .ipynb": f"colab.research.google.com/github/" in text
            and str(rel.with_suffix(".ipynb")) in text,
            "no unresolved glue": "could not find" not in text.lower(),
            "an .ipynb download of its twin": f"_sources/{rel.with_suffix('.ipynb').as_posix()}" in text,
            "no widget JavaScript or state": "jupyter-widgets" not in text
            and "widget-state+json" not in text,
            "no stray repr in an output": not stray_reprs(text),
        }
        missing = [name for name, ok in checks.items() if not ok]
        if missing:
            problems.append(f"{rel}: missing {', '.join(missing)}")
        else:
            print(f"ok  {rel} ({figures} figures)")
    broken = broken_links(html_root)
    problems += [f"broken internal link: {b}" for b in broken]
    if not broken:
        print("ok  every internal link and anchor resolves")
    for p in problems:
        print("FAIL", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
