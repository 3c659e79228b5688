"""Execute chapters under several seeds and report their CPU time, wall time and claims.

    python tools/run_chapter.py notebooks/01_information/01_infonce_demi.py --seeds 0 1 2 3 4
    python tools/run_chapter.py --all --seeds 0 1 2 3 4 --jobs 2
    python tools/run_chapter.py notebooks/01_information/01_infonce_demi.py --calibrate
    python tools/run_chapter.py CHAPTER --seeds 0 1 2 3 4 --no-raise   # see every claim's value

--calibrate runs seeds 0-9 and writes the committed calibration record of each paper of the
chapter, reptutor/calibration/<paper>.json: every claim's values, its smallest margin to its bound
over seeds 0-4 (where thresholds are chosen) and, separately, over seeds 5-9 (held out), and its
null's values. It writes nothing unless every claim holds (and every null fails) on all ten seeds.
--no-raise reports failed claims instead of stopping the chapter at the first one (for choosing
thresholds on seeds 0-4; never used by tests or the book).
--scale full --record-full (on a GPU) runs the full configuration and, if every run passes, writes
its record into reptutor/calibration/full_runs.json (the configuration, the code digest, device,
wall time and claim values): from then on that configuration is what the chapter runs on a GPU
by default (reptutor.runtime.pick), and the execution-statistics page shows its time.

Each run executes the chapter's py:percent source (through jupytext, in memory) in a fresh
kernel inside a temporary working directory, with REPTUTOR_SCALE (default ci), REPTUTOR_SEED and
OMP_NUM_THREADS=1, and reads the claims it checked from a temporary REPTUTOR_CLAIMS_LOG.
Exit status 1 if any run fails or exceeds the chapter's budget (on the kernel's CPU time, user + system).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def chapter_meta(path: Path) -> dict:
    """The ``reptutor:`` block of a chapter's jupytext header (papers, budget_s)."""
    import jupytext

    nb = jupytext.read(path)
    meta = dict(nb.metadata.get("reptutor", {}))
    meta.setdefault("budget_s", 60)
    return meta


def toc_chapters() -> list[Path]:
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found: list[Path] = []

    def walk(entries):
        for e in entries or []:
            f = e.get("file")
            if f and f.startswith("notebooks/"):
                found.append(ROOT / (f + ".py"))
            walk(e.get("sections"))
            walk(e.get("chapters"))

    walk(toc.get("parts"))
    return found


def run_one(path: str, seed: int | None, scale: str, timeout: int, no_raise: bool = False,
            calibrating: bool = False) -> dict:
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "claims.jsonl")
        picks = os.path.join(tmp, "picks.jsonl")
        os.environ.update({"REPTUTOR_SCALE": scale, "OMP_NUM_THREADS": "1",
                           "REPTUTOR_CLAIMS_LOG": log, "MPLBACKEND": "Agg",
                           "REPTUTOR_PICK_LOG": picks,
                           "REPTUTOR_CHAPTER": os.path.relpath(path, ROOT),
                           "REPTUTOR_CLAIMS_NO_RAISE": "1" if no_raise else "0",
                           "REPTUTOR_CALIBRATING": "1" if calibrating else "0"})
        if seed is None:
            os.environ.pop("REPTUTOR_SEED", None)
        else:
            os.environ["REPTUTOR_SEED"] = str(seed)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": tmp}})
        t0 = time.perf_counter()
        error = None
        cpu = None
        try:
            cpu = _execute(client)
        except Exception as err:  # noqa: BLE001 - report any failure
            error = str(err).strip().splitlines()
            error = "\n".join(error[-12:])
        seconds = time.perf_counter() - t0
        claims = []
        if os.path.exists(log):
            claims = [json.loads(line) for line in open(log, encoding="utf-8")]
        configs = []
        if os.path.exists(picks):
            configs = [json.loads(line) for line in open(picks, encoding="utf-8")]
        leftovers = sorted(p for p in os.listdir(tmp) if p not in ("claims.jsonl", "picks.jsonl"))
    return {"path": path, "seed": seed, "seconds": seconds, "cpu_s": cpu, "error": error,
            "claims": claims, "leftovers": leftovers, "picks": configs}


def _execute(client) -> float | None:
    """Execute every cell (as NotebookClient.execute does); return the kernel's CPU seconds."""
    import psutil

    client.reset_execution_trackers()
    with client.setup_kernel():
        proc = psutil.Process(client.km.provisioner.process.pid)
        client.wait_for_reply(client.kc.kernel_info())
        for index, cell in enumerate(client.nb.cells):
            client.execute_cell(cell, index)
        t = proc.cpu_times()
        return t.user + t.system + t.children_user + t.children_system


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--all", action="store_true", help="every chapter listed in _toc.yml")
    ap.add_argument("--seeds", nargs="*", type=int, default=None)
    ap.add_argument("--scale", default="ci", choices=["ci", "full"])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--json", help="write all results to this file")
    ap.add_argument("--calibrate", action="store_true",
                    help="run seeds 0-9 and write reptutor/calibration/<paper>.json")
    ap.add_argument("--no-raise", action="store_true",
                    help="report failed claims without stopping the chapter")
    ap.add_argument("--record-full", action="store_true",
                    help="with --scale full on a GPU: record the runs in "
                         "reptutor/calibration/full_runs.json if all pass")
    args = ap.parse_args()
    paths = [Path(p).resolve() for p in args.paths]
    if args.all:
        paths += toc_chapters()
    if not paths:
        ap.error("give chapter paths or --all")
    if args.calibrate and (args.seeds or args.no_raise):
        ap.error("--calibrate runs seeds 0-9 itself and must raise on a failed claim")
    if args.record_full:
        import torch

        if args.scale != "full" or args.no_raise or args.calibrate:
            ap.error("--record-full needs --scale full, and neither --no-raise nor --calibrate")
        if not torch.cuda.is_available():
            ap.error("--record-full records a run on a GPU, and CUDA is not available here")
    seeds = list(range(10)) if args.calibrate else (args.seeds if args.seeds else [None])
    jobs = [(str(p), s, args.scale, args.timeout, args.no_raise, args.calibrate)
            for p in paths for s in seeds]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run_one, *zip(*jobs)))
    bad = 0
    for r in results:
        budget = chapter_meta(Path(r["path"]))["budget_s"]
        rel = os.path.relpath(r["path"], ROOT)
        cpu = r.get("cpu_s")
        over = args.scale == "ci" and cpu is not None and cpu > budget
        status = "FAIL" if r["error"] else ("OVER BUDGET" if over else "ok")
        bad += (status == "FAIL") if args.calibrate else (status != "ok")
        cpu_txt = "?" if cpu is None else f"{cpu:.1f}"
        print(f"{rel} seed={r['seed']} CPU {cpu_txt}s (budget {budget}s), wall {r['seconds']:.1f}s "
              f"{status}")
        for c in r["claims"]:
            mark = c.get("status", "passed" if c["passed"] else "FAIL")
            null = "" if c.get("null") is None else f"  null {c['null']:.6g} ({c['null_name']})"
            print(f"    {c['claim_id']:<40} {c['measured']:>12.6g}  {mark}{null}")
        if r["leftovers"]:
            print(f"    left files behind: {r['leftovers']}")
        if r["error"]:
            print("    " + r["error"].replace("\n", "\n    "))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.calibrate:
        if bad:
            print("calibration not written: a run failed")
            return 1
        write_calibration(results, args.scale)
    if args.record_full:
        if bad:
            print("full-scale record not written: a run failed")
            return 1
        write_full_runs(results)
    return 1 if bad else 0


def write_full_runs(results: list[dict]) -> None:
    """Record each chapter's full-scale runs (all passed) in reptutor/calibration/full_runs.json."""
    import datetime
    import platform

    import torch

    from reptutor import claims, runtime

    data = {"about": "", "runs": {}}
    if runtime.FULL_RUNS.exists():
        data = json.loads(runtime.FULL_RUNS.read_text(encoding="utf-8"))
    by_chapter: dict[str, list[dict]] = {}
    for r in results:
        by_chapter.setdefault(r["path"], []).append(r)
    for path, runs in by_chapter.items():
        rel = os.path.relpath(path, ROOT)
        configs = {json.dumps(p["config"], sort_keys=True) for r in runs for p in r["picks"]
                   if p["scale"] == "full"}
        if len(configs) != 1:
            raise SystemExit(f"{rel}: expected one full configuration from runtime.pick, got "
                             f"{len(configs)}")
        data["runs"][rel] = {
            "config": json.loads(configs.pop()),
            "code_sha256": claims.code_digest(path),
            "device": torch.cuda.get_device_name(0),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "date": datetime.date.today().isoformat(),
            "seeds": [r["seed"] for r in runs],  # null: the chapter's own seed
            "wall_s": round(max(r["seconds"] for r in runs), 1),
            "cpu_s": round(max(r["cpu_s"] or 0.0 for r in runs), 1),
            "claims": {c["claim_id"]: {k: c.get(k) for k in ("measured", "null", "status")}
                       for r in runs[:1] for c in r["claims"]},
            "claims_by_seed": {"default" if r["seed"] is None else str(r["seed"]):
                               {c["claim_id"]: c["measured"] for c in r["claims"]} for r in runs},
        }
        print(f"recorded the full-scale run of {rel} in {os.path.relpath(runtime.FULL_RUNS, ROOT)}")
    runtime.FULL_RUNS.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n",
                                 encoding="utf-8")


def write_calibration(results: list[dict], scale: str) -> None:
    """One record per paper of each chapter, from its ten runs (seeds 0-9)."""
    from reptutor import claims

    by_chapter: dict[str, dict[int, list[dict]]] = {}
    for r in results:
        by_chapter.setdefault(r["path"], {})[r["seed"]] = r["claims"]
    for path, runs in by_chapter.items():
        rel = os.path.relpath(path, ROOT)
        records = claims.build_calibration(rel, claims.code_digest(path), runs, scale=scale)
        papers = chapter_meta(Path(path)).get("papers", [])
        for paper, rec in records.items():
            if paper not in papers:
                raise SystemExit(f"{rel} checks claims of {paper}, not among its papers {papers}")
            out = claims.calibration_path(paper)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            n = len(rec["claims"])
            print(f"wrote {os.path.relpath(out, ROOT)} ({n} claims)")
            for cid, c in rec["claims"].items():
                if c["status"] == "claim":
                    null = "" if c["null_margin"] is None else f", null margin {c['null_margin']:.3g}"
                    print(f"    {cid:<40} margin 0-4 {c['margin_calibration']:.3g}, "
                          f"5-9 {c['margin_confirmation']:.3g}{null}")
                else:
                    print(f"    {cid:<40} not reproduced")


if __name__ == "__main__":
    sys.exit(main())
