"""Every internal link of a built book resolves: the target file exists and so does its anchor.

    python tools/check_links.py [_build/html]

Checks ``href`` and ``src`` attributes of every HTML page that point inside the book (relative
URLs, with or without ``#anchor``); external URLs (``http:``, ``https:``, ``mailto:``, ...) are
not fetched. An anchor must be an ``id`` (or a legacy ``name``) on the target page. Sphinx's
``-n`` (nitpicky) mode already fails on unresolved cross-references; this catches what it does
not see: raw Markdown/HTML links, links into generated pages, and anchors.
"""
from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
# Theme and search machinery: their links are built by JavaScript or point at generated assets.
SKIP_PAGES = {"genindex.html", "search.html", "py-modindex.html"}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name"):
                self.ids.add(value)
            elif (name == "href" and tag in ("a", "link", "area")) or (name == "src" and tag in ("img", "script", "source", "iframe")):
                self.links.append(value)


def _parse(path: Path, cache: dict[Path, _Page]) -> _Page:
    if path not in cache:
        page = _Page()
        page.feed(path.read_text(encoding="utf-8", errors="replace"))
        cache[path] = page
    return cache[path]


def broken_links(html_root: Path) -> list[str]:
    """``"page: link (reason)"`` for every internal link of the book that does not resolve."""
    html_root = html_root.resolve()
    cache: dict[Path, _Page] = {}
    problems = []
    for page_path in sorted(html_root.rglob("*.html")):
        rel_page = page_path.relative_to(html_root)
        if rel_page.name in SKIP_PAGES or rel_page.parts[0].startswith("_"):
            continue
        for link in _parse(page_path, cache).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("javascript:", "data:")):
                continue  # external
            target = page_path if not parts.path else (page_path.parent / unquote(parts.path))
            target = target.resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{rel_page}: {link} (no file {target})")
                continue
            if parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in _parse(target, cache).ids:
                    problems.append(f"{rel_page}: {link} (no anchor #{parts.fragment} in "
                                    f"{target.relative_to(html_root) if target.is_relative_to(html_root) else target})")
    return problems


def main() -> int:
    html_root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build" / "html"
    problems = broken_links(html_root)
    for p in problems:
        print(f"BROKEN {p}")
    n_pages = sum(1 for _ in html_root.rglob("*.html"))
    print(f"{len(problems)} broken internal link(s) in {n_pages} pages under {html_root}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
