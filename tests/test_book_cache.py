"""tools/book_cache.py empties a chapter cache filled against another version of the library."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_cache  # noqa: E402


def _tree(root: Path) -> Path:
    (root / "reptutor" / "calibration").mkdir(parents=True)
    (root / "reptutor" / "losses.py").write_text("def loss(): return 1\n")
    (root / "reptutor" / "calibration" / "P01.json").write_text("{}\n")
    (root / "pyproject.toml").write_text("[project]\n")
    return root


def test_cache_is_kept_until_the_library_changes(tmp_path):
    root = _tree(tmp_path / "repo")
    cache = root / "_build" / ".jupyter_cache"
    assert book_cache.guard(cache, root)  # no cache yet: nothing to empty, digest recorded
    cache.mkdir(parents=True)
    (cache / "outputs").write_text("executed")
    assert book_cache.is_current(cache, root)
    assert book_cache.guard(cache, root) and (cache / "outputs").exists()  # unchanged: kept
    (root / "reptutor" / "calibration" / "P01.json").write_text('{"x": 1}\n')
    assert not book_cache.is_current(cache, root)  # reading does not empty it
    assert cache.exists()
    assert not book_cache.guard(cache, root) and not cache.exists()  # changed: emptied
    cache.mkdir()
    assert book_cache.is_current(cache, root)  # the new digest was recorded


def test_digest_follows_library_code_not_caches(tmp_path):
    root = _tree(tmp_path / "repo")
    before = book_cache.library_digest(root)
    (root / "reptutor" / "__pycache__").mkdir()
    (root / "reptutor" / "__pycache__" / "x.py").write_text("stale")
    (root / "notebooks").mkdir()
    (root / "notebooks" / "chapter.py").write_text("# a chapter: jupyter-cache keys on it itself")
    assert book_cache.library_digest(root) == before
    (root / "reptutor" / "losses.py").write_text("def loss(): return 2\n")
    assert book_cache.library_digest(root) != before
