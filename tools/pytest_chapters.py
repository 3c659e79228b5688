"""pytest plugin: runs the book's chapters (nbval) with budgets, a determinism rerun, timings.

Registered by the root ``conftest.py``. For every chapter ``.ipynb`` that nbval executes:

* **Budget on the chapter's own CPU time.** Each chapter has a budget (``reptutor: budget_s:`` in
  its metadata, default 60 s at ci scale) on the CPU time of its kernel process (user + system,
  children included, read with psutil when its last cell ends): what the chapter costs, whatever
  else runs on the machine. Wall time (from starting the kernel to the last cell) is only a fuse,
  ``WALL_FUSE`` times the budget, against a chapter that hangs. Both are reported: one line per
  chapter at the end of the session (``chapter times``), also under pytest-xdist.
* **No files left behind.** A chapter that leaves files in its folder fails.
* **Determinism.** After nbval's run of a chapter, one more test item
  (``<chapter>.ipynb::rerun-same-seed``, on the same xdist worker) executes the chapter again in a
  fresh kernel with the same seed and requires the same claims with bit-identical measured
  values; the claims of both runs are read from per-run ``REPTUTOR_CLAIMS_LOG`` files in a
  temporary directory. It also fails if either run created files in the repository.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

DEFAULT_BUDGET_S = 60
#: a chapter whose wall time exceeds WALL_FUSE x its CPU budget has hung: it fails
WALL_FUSE = 5
_cpu_start: dict[str, float] = {}
_kernel_pid: dict[str, int] = {}
_TIMES_KEY = "reptutor_chapter_times"
_times: list[dict] = []
_started: dict[str, float] = {}
_files_before: dict[str, set[str]] = {}
_last_item: dict[str, str] = {}


def _budget(path: Path) -> float:
    meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    return float(meta.get("reptutor", {}).get("budget_s", DEFAULT_BUDGET_S))


ROOT = Path(__file__).resolve().parents[1]
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
        result = yield
        if started_here:  # nbval has started the chapter's kernel: remember its process
            pid = _kernel_process_id(item)
            if pid is not None:
                _kernel_pid[key] = pid
        return result
    finally:
        if started_here:
            os.environ.pop("REPTUTOR_CLAIMS_LOG", None)


def _kernel_process_id(item: pytest.Item) -> int | None:
    """The pid of the kernel nbval runs this chapter in (None if it cannot be found)."""
    try:
        return int(item.parent.kernel.km.provisioner.process.pid)
    except AttributeError:  # pragma: no cover - another nbval / jupyter_client layout
        return None


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process and its finished children, or None."""
    if pid is None:
        return None
    import psutil

    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return t.user + t.system + t.children_user + t.children_system


def pytest_runtest_logreport(report):
    if report.failed and report.nodeid.split("::")[0].endswith(".ipynb"):
        _failed_chapters.add(str(ROOT / report.nodeid.split("::")[0]))
    # (under xdist this runs in the controller too, with the workers' user_properties)
    if report.when == "teardown":
        for name, value in getattr(report, "user_properties", ()):
            if name == _TIMES_KEY and value not in _times:
                _times.append(value)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line per chapter: CPU time against its budget, and wall time."""
    if not _times or hasattr(config, "workerinput"):
        return
    tr = terminalreporter
    tr.write_sep("-", "chapter times (CPU: the kernel process, user + system; budget on CPU)")
    for t in sorted(_times, key=lambda t: t["chapter"]):
        cpu = "?" if t["cpu_s"] is None else f"{t['cpu_s']:5.1f}"
        over = t["cpu_s"] is None or t["cpu_s"] > t["budget_s"]
        tr.write_line(f"{t['chapter']:<52} CPU {cpu} s / budget {t['budget_s']:.0f} s, "
                      f"wall {t['wall_s']:5.1f} s" + ("  OVER BUDGET" if over else ""))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    result = yield
    key = str(item.path)
    if _is_chapter_cell(item) and _last_item.get(key) == item.nodeid and key in _started:
        elapsed = time.perf_counter() - _started[key]
        cpu = _cpu_seconds(_kernel_pid.get(key))
        budget = _budget(item.path)
        times = {"chapter": str(item.path.relative_to(ROOT)), "cpu_s": cpu, "wall_s": elapsed,
                 "budget_s": budget}
        item.user_properties.append((_TIMES_KEY, times))
        problems = []
        new_files = sorted(set(os.listdir(item.path.parent)) - _files_before[key])
        if new_files:
            problems.append(f"{item.path.name} left files in {item.path.parent}: {new_files}; "
                            "chapters must write only to temporary directories")
        if cpu is None:
            problems.append(f"could not read the CPU time of {item.path.name}'s kernel process")
        elif cpu > budget:
            problems.append(
                f"{item.path.name} used {cpu:.1f} s of CPU (its kernel process, user + system) "
                f"at ci scale, over its budget of {budget:.0f} s (reptutor: budget_s in its "
                f"metadata); wall time {elapsed:.1f} s")
        if elapsed > WALL_FUSE * budget:
            problems.append(
                f"{item.path.name} ran {elapsed:.1f} s of wall time, over the fuse of "
                f"{WALL_FUSE} x its budget ({WALL_FUSE * budget:.0f} s): it is hanging or the "
                "machine is overloaded")
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)
    return result
