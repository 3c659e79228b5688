"""Test-session set-up shared by unit tests, doctests and the chapters run by nbval.

* Everything runs at ci scale with one torch/OpenMP thread per process (the test command runs
  processes in parallel instead); chapters' kernels inherit these variables.
* Chapter sources (``notebooks/**/*.py``) are not imported as test modules; nbval executes
  their ``.ipynb`` twins.
* Each chapter has a wall-time budget (``reptutor: budget_s:`` in its metadata, default 60 s at
  ci scale): the time from starting its kernel to its last cell. Exceeding it fails the chapter,
  and so does leaving new files in the chapter's folder.
* Determinism: after nbval's run of a chapter, one more test item (``<chapter>.ipynb::rerun-same-
  seed``, on the same worker) executes the chapter again in a fresh kernel with the same seed and
  requires the same claims with bit-identical measured values; the claims of both runs are read
  from per-run ``REPTUTOR_CLAIMS_LOG`` files in a temporary directory. It also fails if either
  run created files in the repository (chapters write only to temporary directories).
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

os.environ.setdefault("REPTUTOR_SCALE", "ci")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.pop("REPTUTOR_CLAIMS_LOG", None)  # tests never write the book's claims log

try:  # property tests: the same examples on every run (no flaky CI), no example database on disk
    from hypothesis import settings as _hyp_settings

    _hyp_settings.register_profile("reptutor", derandomize=True, database=None, deadline=None,
                                   print_blob=True)
    _hyp_settings.load_profile("reptutor")
except ImportError:  # pragma: no cover
    pass

collect_ignore_glob = ["notebooks/*/*.py", "book/*", "tools/*", "_build/*", ".venv/*"]

DEFAULT_BUDGET_S = 60
_started: dict[str, float] = {}
_files_before: dict[str, set[str]] = {}
_last_item: dict[str, str] = {}


def _budget(path: Path) -> float:
    meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    return float(meta.get("reptutor", {}).get("budget_s", DEFAULT_BUDGET_S))


ROOT = Path(__file__).resolve().parent
_LOG_DIR = tempfile.mkdtemp(prefix="reptutor-claims-")
_failed_chapters: set[str] = set()


def _is_chapter_cell(item: pytest.Item) -> bool:
    return str(item.path).endswith(".ipynb") and not isinstance(item, ChapterRerun)


def _claims_log(path: Path, run: str) -> Path:
    return Path(_LOG_DIR) / f"{path.stem}.{run}.jsonl"


def _read_claims(log: Path) -> list[tuple[str, float, bool]]:
    if not log.exists():
        return []
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
    return [(r["claim_id"], r["measured"], r["passed"]) for r in rows]


def _repo_files() -> set[str]:
    """Untracked, not ignored files of the repository (what a chapter must never create)."""
    out = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    return set(out.stdout.split()) if out.returncode == 0 else set()


class ChapterRerun(pytest.Item):
    """Execute a chapter a second time with the same seed; its claims must not change."""

    def runtest(self) -> None:
        key = str(self.path)
        if key in _failed_chapters:
            pytest.skip("the first run of this chapter failed; nothing to compare")
        first = _read_claims(_claims_log(self.path, "first"))
        if not first:
            pytest.fail(f"the first run of {self.path.name} recorded no claims", pytrace=False)
        import nbclient
        import nbformat

        log = _claims_log(self.path, "second")
        log.unlink(missing_ok=True)
        before = _repo_files()
        nb = nbformat.read(self.path, as_version=4)
        os.environ["REPTUTOR_CLAIMS_LOG"] = str(log)
        try:
            nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                    resources={"metadata": {"path": str(self.path.parent)}}
                                    ).execute()
        finally:
            os.environ.pop("REPTUTOR_CLAIMS_LOG", None)
        second = _read_claims(log)
        problems = []
        created = sorted(_repo_files() - before)
        if created:
            problems.append(f"running {self.path.name} created files in the repository: {created}")
        if [c[0] for c in first] != [c[0] for c in second]:
            problems.append(f"the two runs checked different claims: {[c[0] for c in first]} "
                            f"vs {[c[0] for c in second]}")
        else:
            changed = [f"{a[0]}: {a[1]!r} then {b[1]!r}" for a, b in zip(first, second)
                       if a[1] != b[1] or a[2] != b[2]]
            if changed:
                problems.append("the same seed gave different checked numbers: " + "; ".join(changed))
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)

    def reportinfo(self):
        return self.path, None, f"{self.path.name}: rerun with the same seed gives the same claims"


def pytest_collection_modifyitems(session, config, items):
    last: dict[str, int] = {}
    for i, item in enumerate(items):
        if _is_chapter_cell(item):
            _last_item[str(item.path)] = item.nodeid
            last[str(item.path)] = i
    # one rerun item right after each chapter's last cell (same file: same xdist worker)
    for key, i in sorted(last.items(), key=lambda kv: -kv[1]):
        parent = items[i].parent
        items.insert(i + 1, ChapterRerun.from_parent(parent, name="rerun-same-seed"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    started_here = False
    if _is_chapter_cell(item):
        key = str(item.path)
        if key not in _started:  # first cell: the clock starts before the kernel does
            _started[key] = time.perf_counter()
            _files_before[key] = set(os.listdir(item.path.parent))
            # nbval starts the kernel during this set-up: it inherits a claims log of its own
            log = _claims_log(item.path, "first")
            log.unlink(missing_ok=True)
            os.environ["REPTUTOR_CLAIMS_LOG"] = str(log)
            started_here = True
    try:
        return (yield)
    finally:
        if started_here:
            os.environ.pop("REPTUTOR_CLAIMS_LOG", None)


def pytest_runtest_logreport(report):
    if report.failed and report.nodeid.split("::")[0].endswith(".ipynb"):
        _failed_chapters.add(str(ROOT / report.nodeid.split("::")[0]))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    result = yield
    key = str(item.path)
    if _is_chapter_cell(item) and _last_item.get(key) == item.nodeid and key in _started:
        elapsed = time.perf_counter() - _started[key]
        budget = _budget(item.path)
        problems = []
        new_files = sorted(set(os.listdir(item.path.parent)) - _files_before[key])
        if new_files:
            problems.append(f"{item.path.name} left files in {item.path.parent}: {new_files}; "
                            "chapters must write only to temporary directories")
        if elapsed > budget:
            problems.append(
                f"{item.path.name} took {elapsed:.1f} s at ci scale, over its budget of "
                f"{budget:.0f} s (reptutor: budget_s in its metadata)")
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)
    return result
