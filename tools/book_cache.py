"""Empty a jupyter-cache of executed chapters when the library it ran against has changed.

jupyter-cache keys a chapter's stored outputs on the chapter's code cells only. A change in
``reptutor/`` (or in the pinned environment) changes what a chapter computes without changing its
code, and the book would go on showing outputs of the old library. This records a digest of
everything a chapter's execution depends on besides its own code (``reptutor/**/*.py``, the
calibration records the chapters glue, ``requirements/lock.txt``, ``pyproject.toml``) beside the
cache, in ``<cache>.library-digest``, and deletes the cache when the digest differs.

    python tools/book_cache.py _build/.jupyter_cache      # run by `make book` before building

Exit status 0; prints one line saying whether the cache was kept or emptied.
"""
from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def library_files(root: Path = ROOT) -> list[Path]:
    """The files whose content a chapter's outputs depend on besides the chapter itself."""
    files = sorted((root / "reptutor").rglob("*.py")) + sorted(
        (root / "reptutor" / "calibration").glob("*.json"))
    files += [p for p in (root / "requirements" / "lock.txt", root / "pyproject.toml")
              if p.exists()]
    return [p for p in files if "__pycache__" not in p.parts]


def library_digest(root: Path = ROOT) -> str:
    h = hashlib.sha256()
    for path in library_files(root):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def stamp_path(cache: Path) -> Path:
    return cache.with_name(cache.name + ".library-digest")


def is_current(cache: Path, root: Path = ROOT) -> bool:
    """Whether ``cache`` exists and was filled against the current library (reads only)."""
    stamp = stamp_path(Path(cache))
    return (Path(cache).exists() and stamp.exists()
            and stamp.read_text().strip() == library_digest(root))


def guard(cache: Path, root: Path = ROOT) -> bool:
    """Empty ``cache`` if it was filled against another library; record the current digest.

    Returns True when the cache was kept (or did not exist), False when it was emptied.
    """
    cache = Path(cache)
    digest, stamp = library_digest(root), stamp_path(cache)
    recorded = stamp.read_text().strip() if stamp.exists() else None
    kept = True
    if cache.exists() and recorded != digest:
        shutil.rmtree(cache)
        kept = False
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest + "\n")
    return kept


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    cache = Path(argv[0])
    existed = cache.exists()
    kept = guard(cache)
    if not existed:
        print(f"book cache: {cache} is new (library digest recorded)")
    elif kept:
        print(f"book cache: {cache} kept (library unchanged since it was filled)")
    else:
        print(f"book cache: {cache} emptied: the library changed since its chapters ran")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
