"""Test-session set-up shared by unit tests, doctests and the chapters run by nbval.

* Everything runs at ci scale with one torch/OpenMP thread per process (the test command runs
  processes in parallel instead); chapters' kernels inherit these variables.
* Chapter sources (``notebooks/**/*.py``) are not imported as test modules; nbval executes
  their ``.ipynb`` twins.
* The chapter runner (CPU-time budgets, the same-seed rerun, per-chapter timings) is the plugin
  ``tools/pytest_chapters.py``, registered below.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("REPTUTOR_SCALE", "ci")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("REPTUTOR_PROGRESS", "summary")  # one line per training loop, no widget
os.environ.pop("REPTUTOR_CLAIMS_LOG", None)  # tests never write the book's claims log

try:  # property tests: the same examples on every run (no flaky CI), no example database on disk
    from hypothesis import settings as _hyp_settings

    _hyp_settings.register_profile("reptutor", derandomize=True, database=None, deadline=None,
                                   print_blob=True)
    _hyp_settings.load_profile("reptutor")
except ImportError:  # pragma: no cover
    pass

collect_ignore_glob = ["notebooks/*/*.py", "book/*", "tools/*", "_build/*", ".venv/*"]

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tools"))
pytest_plugins = ["pytest_chapters"]
