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
