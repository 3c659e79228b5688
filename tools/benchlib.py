r"""Private helpers shared by the benchmark tools (``tools/bench.py`` and the modules it registers).

Not part of the library: no validation, no public API. What lives here is what every benchmark
command does the same way, so that the commands cannot drift apart:

* thread pinning (:func:`thread_env`) and the switch that hides the optional peers
  (:func:`block_peers`, honouring ``REPTUTOR_BENCH_NO_PEERS=1``);
* the timing protocol: the number of rounds a budget buys (:func:`n_rounds`) and rounds that
  time every implementation once in a rotating order (:func:`rotating_rounds`), summarised by
  the quartiles of per-round ratios (:func:`quartiles`);
* the peak-memory protocol, both ends of it: inside the probe subprocess :func:`measure_peak`
  resets the kernel's resident-set high-water mark, runs the call and returns ``VmHWM`` minus the
  resident set before the call, and :func:`emit_probe` prints it as the last stdout line, a JSON
  object with a ``peak_mib`` key; the parent runs the probe with :func:`run_probe`, which parses
  that line or returns why there is none;
* output: :func:`write_csv` (columns in the first row's key order) and :func:`fmt` ("-" for an
  empty cell) for the printed rows.
"""
from __future__ import annotations

import csv
import importlib.abc
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
NO_PEERS_VAR = "REPTUTOR_BENCH_NO_PEERS"
# top-level modules of the optional peers (pytorch-metric-learning, POT, lightly,
# disentanglement-lib); gin-config is only disentanglement-lib's dependency and is left alone
PEER_MODULES = ("pytorch_metric_learning", "ot", "lightly", "disentanglement_lib")


# ---------------------------------------------------------------------------------------------
# Environment.
# ---------------------------------------------------------------------------------------------
def thread_env(threads: int, names: Sequence[str] = THREAD_VARS) -> dict[str, str]:
    """The environment variables that pin OpenMP / MKL / OpenBLAS to ``threads`` threads.

    Args:
        threads: number of threads.
        names: which variables to set (default: all three).

    Returns:
        ``{name: str(threads)}``, to merge into ``os.environ`` before torch or NumPy load their
        BLAS, or into a subprocess's environment.
    """
    return {name: str(threads) for name in names}


def peers_disabled() -> bool:
    """Whether ``REPTUTOR_BENCH_NO_PEERS`` asks to run as if no optional peer were installed."""
    return os.environ.get(NO_PEERS_VAR, "") not in ("", "0")


class _PeerBlocker(importlib.abc.MetaPathFinder):
    """An import hook that makes every import of a peer module raise ``ModuleNotFoundError``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in PEER_MODULES:
            raise ModuleNotFoundError(f"No module named {fullname!r} ({NO_PEERS_VAR}=1)",
                                      name=fullname)
        return None  # not a peer: let the other finders look


def block_peers() -> bool:
    """With ``REPTUTOR_BENCH_NO_PEERS=1``, make the peers' imports fail as if not installed.

    Installs an import hook in front of ``sys.meta_path`` (once) and forgets any peer module
    already imported. Code that finds a peer by its installed distribution rather than by import
    (lightly's loss files loaded by path, versions read with ``importlib.metadata``) must check
    :func:`peers_disabled` itself. The variable is inherited by the probe subprocesses.

    Returns:
        Whether the peers are blocked.
    """
    if not peers_disabled():
        return False
    if not any(isinstance(f, _PeerBlocker) for f in sys.meta_path):
        sys.meta_path.insert(0, _PeerBlocker())
    for name in [m for m in sys.modules if m.split(".")[0] in PEER_MODULES]:
        del sys.modules[name]
    return True


# ---------------------------------------------------------------------------------------------
# Timing: rotating rounds, paired ratios.
# ---------------------------------------------------------------------------------------------
def n_rounds(budget_s: float, warm_s: float, min_rounds: int, max_rounds: int) -> int:
    """How many timing rounds a budget buys, clipped to ``[min_rounds, max_rounds]``.

    Args:
        budget_s: timing budget in seconds.
        warm_s: duration of one round, estimated by the warm-up calls (their sum).
        min_rounds: fewest rounds, whatever the budget.
        max_rounds: most rounds (applied last: it wins over ``min_rounds``).

    Returns:
        ``min(max_rounds, max(min_rounds, budget_s // warm_s))`` as an int.
    """
    return int(min(max_rounds, max(min_rounds, budget_s // max(warm_s, 1e-9))))


def rotating_rounds(calls: Mapping[str, Callable[[], object]], rounds: int,
                    clock: Callable[[], float] = time.process_time) -> dict[str, list[float]]:
    """Time every call once per round, the first call of round ``r`` being the ``r``-th one.

    Rotating who goes first spreads load from other processes on a shared machine, and any
    cache warmed by the previous call, over all implementations alike; ratios are then taken
    per round (:func:`quartiles` of ``t_a[r] / t_b[r]``). The default clock is the process's
    CPU time (``time.process_time``): with the benchmarks' one thread it is the time the call
    computed, and time spent waiting while other processes hold the shared cores does not count.

    Args:
        calls: name -> a call with no arguments (its result is discarded).
        rounds: number of rounds.
        clock: seconds, read before and after each call (``time.perf_counter`` for wall time).

    Returns:
        name -> the ``rounds`` durations in seconds, in round order.
    """
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate who goes first
            t0 = clock()
            calls[name]()
            times[name].append(clock() - t0)
    return times


def quartiles(x: Sequence[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile) of ``x``; all three equal ``x[0]`` for one value.

    Quartiles are ``statistics.quantiles(x, n=4)`` (the "exclusive" method).
    """
    q = statistics.quantiles(x, n=4) if len(x) >= 2 else [x[0]] * 3
    return q[0], statistics.median(x), q[2]


# ---------------------------------------------------------------------------------------------
# Peak memory in a fresh subprocess.
# ---------------------------------------------------------------------------------------------
def status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``, ...) as an int."""
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def measure_peak(call: Callable[[], object]) -> tuple[float, object]:
    """Run ``call`` once and return (the extra peak resident memory in MiB, its result).

    Resets the kernel's resident-set high-water mark (``echo 5 > /proc/self/clear_refs``),
    records the resident set, runs the call and returns ``VmHWM`` minus that resident set: the
    extra memory the call needed at its peak, tensors, temporaries and allocator slack included.
    Build the inputs and warm up (lazily initialised kernels) before calling this.
    """
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident set
    before = status_kib("VmRSS")
    result = call()
    peak = status_kib("VmHWM")
    return (peak - before) / 1024, result


def emit_probe(peak_mib: float, **extra) -> None:
    """Print a probe's answer: one JSON line ``{"peak_mib": ..., **extra}`` (read by run_probe)."""
    print(json.dumps({"peak_mib": peak_mib, **extra}))


def run_probe(cmd: Sequence[str], env: Mapping[str, str], timeout: float) -> tuple[float | None, str]:
    """Run a probe subprocess and read its peak from the last stdout line (see :func:`emit_probe`).

    Args:
        cmd: the probe's command line.
        env: variables added to this process's environment for the probe (thread pinning).
        timeout: seconds before the probe is killed.

    Returns:
        ``(peak_mib, "")``, or ``(None, why)`` when the probe timed out or failed (the last line
        of its stderr, 200 characters at most).
    """
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                             env=dict(os.environ, **env))
    except subprocess.TimeoutExpired:
        return None, f"memory probe timed out after {timeout:.0f} s"
    if out.returncode != 0:
        return None, "memory probe failed: " + (out.stderr.strip().splitlines() or ["?"])[-1][:200]
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"], ""


# ---------------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------------
def add_run_options(parser, *, budget_s: float, min_rounds: int, max_rounds: int = 31,
                    unit: str = "workload", min_rounds_help: str | None = None,
                    threads_help: str = "torch / BLAS threads (default 1: a shared 2-core machine)"
                    ) -> None:
    """Add the options every benchmark command takes to its ``argparse`` sub-parser.

    ``--out`` (required), ``--threads`` (default 1), ``--budget-s``, ``--min-rounds`` and
    ``--max-rounds`` (see :func:`n_rounds`), ``--no-memory`` (skip the memory probes).

    Args:
        parser: the command's sub-parser.
        budget_s: default timing budget per ``unit``, in seconds.
        min_rounds: default fewest rounds.
        max_rounds: default most rounds.
        unit: what the budget is spent on, for the help text ("workload", "case").
        min_rounds_help: help text of ``--min-rounds`` (none by default).
        threads_help: help text of ``--threads``.
    """
    parser.add_argument("--out", required=True, help="directory for the CSV and PNG files")
    parser.add_argument("--threads", type=int, default=1, help=threads_help)
    parser.add_argument("--budget-s", type=float, default=budget_s,
                        help=f"timing budget per {unit}; sets the number of rounds")
    parser.add_argument("--min-rounds", type=int, default=min_rounds, help=min_rounds_help)
    parser.add_argument("--max-rounds", type=int, default=max_rounds)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory probes")


# ---------------------------------------------------------------------------------------------
# Output.
# ---------------------------------------------------------------------------------------------
def write_csv(path: Path, rows: Sequence[Mapping[str, object]]) -> None:
    """Write ``rows`` (dicts with the same keys) to ``path``, columns in the first row's order."""
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def fmt(x: object, spec: str) -> str:
    """``format(x, spec)``, or "-" for an empty cell (``""``)."""
    return format(x, spec) if x != "" else "-"
