"""Smoke tests of the benchmark commands (tools/bench.py), end to end at tiny sizes.

Each command runs in a subprocess (``sys.executable``) into a temporary directory, once with the
optional peers as this environment has them and once with ``REPTUTOR_BENCH_NO_PEERS=1`` (every
peer import fails, as in a fresh ``make test`` environment). What is checked is the contract with
the book's Benchmarks page (book/appendix/benchmarks.md reads the committed CSVs): exit code 0,
the CSV with its committed columns in their order, reptutor's rows, the peers' rows when a peer
is importable and a "peer unavailable" note when it is not. The numbers themselves are timings
at toy sizes and are not checked, except the memory probe's answer (a number, not a failure).
"""
from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "tools" / "bench.py"
COMMITTED = ROOT / "book" / "appendix" / "benchmarks"

# The columns of the committed CSVs, in order (the schema the Benchmarks page reads).
COLUMNS = {
    "contrastive.csv": [
        "workload", "n_per_view", "d", "classes", "impl", "peer", "rounds", "threads",
        "time_ratio_median", "time_ratio_q25", "time_ratio_q75", "median_time_s", "peak_mib",
        "mem_ratio", "loss_abs_diff", "grad_max_abs_diff", "loss", "note", "same_numbers",
        "best_peer", "matmul_gflop", "gflops", "mm_rate_gflops"],
    "sinkhorn.csv": [
        "mode", "method", "n", "k", "dtype", "lam", "impl", "peer", "rounds", "threads",
        "median_time_s", "iters", "col_l1_err", "time_ratio_median", "time_ratio_q25",
        "time_ratio_q75", "per_iter_ratio", "peak_mib", "mem_ratio", "plan_max_abs_diff",
        "plan_rel_diff", "peer_iters", "note", "same_numbers", "best_peer"],
    "primitives.csv": ["k", "dtype", "op", "torch_s", "numpy_s", "ratio_torch_over_numpy"],
    "gram.csv": [
        "workload", "n", "d", "impl", "peer", "rounds", "threads", "time_ratio_median",
        "time_ratio_q25", "time_ratio_q75", "median_time_s", "peak_mib", "mem_ratio",
        "loss_abs_diff", "grad_max_abs_diff", "loss", "note", "matmul_gflop", "gflops",
        "mm_rate_gflops", "side", "same_numbers", "best_peer"],
    "disentanglement.csv": [
        "workload", "n", "d", "impl", "peer", "rounds", "threads", "time_ratio_median",
        "time_ratio_q25", "time_ratio_q75", "median_time_s", "peak_mib", "mem_ratio",
        "value_abs_diff", "value", "note", "same_numbers", "best_peer"],
}
# sinkhorn.csv gains a plan_finite column when a run has a failure row (the committed run has
# one: POT's scaling path in float32); a tiny run has none
EXTRA_COMMITTED = {"sinkhorn.csv": ["plan_finite"]}

FAST = ["--budget-s", "0.2", "--min-rounds", "1", "--max-rounds", "2"]
# command -> (arguments at tiny sizes, CSV, the peer's module, the prefix of the peer's impl names)
COMMANDS = {
    "contrastive": (["--sizes", "64", *FAST, "--memory-n", "0", "--no-memory"],
                    "contrastive.csv", "pytorch_metric_learning", "pml_"),
    "sinkhorn": (["--n", "128", "--ks", "8", "--modes", "fixed3", "--methods", "scaling",
                  "--dtypes", "float64", *FAST, "--no-memory"], "sinkhorn.csv", "ot", "pot_"),
    "gram": (["--n", "64", "--dims", "32", *FAST, "--no-memory"], "gram.csv",
             "pytorch_metric_learning", "pml_"),
    "disentanglement": ([*FAST[:-1], "1", "--no-memory"], "disentanglement.csv",
                        "disentanglement_lib", "disentanglement_lib"),
}


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _run(command: str, args: list[str], out: Path, no_peers: bool):
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("REPTUTOR_BENCH_NO_PEERS", None)
    if no_peers:
        env["REPTUTOR_BENCH_NO_PEERS"] = "1"
    proc = subprocess.run([sys.executable, str(BENCH), command, "--out", str(out), *args],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    assert path.exists(), f"{path.name} was not written"
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_expected_columns_are_the_committed_ones(name):
    header = (COMMITTED / name).read_text().splitlines()[0].split(",")
    assert header == COLUMNS[name] + EXTRA_COMMITTED.get(name, [])


@pytest.mark.parametrize("no_peers", [False, True], ids=["peers", "no_peers"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_runs_and_writes_its_csv(command, no_peers, tmp_path):
    args, csv_name, peer_module, peer_prefix = COMMANDS[command]
    probe = command == "sinkhorn" and no_peers
    if probe:
        # the memory probe subprocess runs here only: one probe (reptutor's), each imports torch
        # afresh, and with POT the probes cost about 8 s more
        args = [a for a in args if a != "--no-memory"]
    proc = _run(command, args, tmp_path, no_peers)
    header, rows = _read(tmp_path / csv_name)
    assert header == COLUMNS[csv_name]
    assert rows, "no rows"
    mine = [r for r in rows if r["impl"].startswith("reptutor")]
    assert mine, "no reptutor row"
    assert "reptutor" in proc.stdout  # the rows are printed too
    peer_rows = [r for r in rows if r["impl"].startswith(peer_prefix)
                 or r["peer"].startswith(peer_prefix)]
    if no_peers or not _has(peer_module):
        assert not peer_rows, f"{peer_module} rows although it is unavailable: {peer_rows[:1]}"
        if command != "gram":  # gram keeps its plain-torch transcriptions of the official code
            assert all("peer unavailable" in r["note"] for r in mine), [r["note"] for r in mine]
    else:
        # a reptutor row per peer, with its time ratio filled in
        assert any(r["impl"] == "reptutor" and r["peer"].startswith(peer_prefix)
                   and float(r["time_ratio_median"]) > 0 for r in rows)
    if command == "gram":
        assert {r["peer"] for r in mine} >= {"plain_official"}  # needs no peer package
        lightly = [r for r in rows if "lightly" in r["impl"] + r["peer"]]
        assert bool(lightly) == (not no_peers and importlib.util.find_spec("lightly") is not None)
    if probe:  # the probe answered with a peak (not a "memory probe failed" note)
        assert all(r["peak_mib"] != "" and float(r["peak_mib"]) >= 0 for r in mine), mine
        assert not any("memory probe" in r["note"] for r in rows), [r["note"] for r in rows]


def test_primitives_runs_at_a_tiny_shape(tmp_path):
    # no peer package: numpy is a dependency; the first of the 3 rounds is the warm-up
    proc = _run("primitives", ["--n", "64", "--ks", "8", "--rounds", "3"], tmp_path, no_peers=False)
    header, rows = _read(tmp_path / "primitives.csv")
    assert header == COLUMNS["primitives.csv"]
    assert len(rows) == 8  # 1 K x 2 dtypes x 4 operations
    assert {r["k"] for r in rows} == {"8"}
    assert "G alpha (matrix-vector)" in proc.stdout
