#!/usr/bin/env python
r"""Benchmarks of reptutor against installable peers, side by side in one run.

    .venv/bin/python tools/bench.py all --out DIR            # every workload (make bench)
    .venv/bin/python tools/bench.py contrastive --out DIR [--threads 1] [--budget-s 60]
    .venv/bin/python tools/bench.py sinkhorn --out DIR [--threads 1] [--all-tol]

``contrastive``: forward + backward of NT-Xent and SupCon (2 views, 100 classes) at
N in {256, 1024, 4096} samples per view, D = 128, float32, CPU, against pytorch-metric-learning
(PML). For each workload it prints and writes to ``DIR/contrastive.csv``:

* the time ratio reptutor / peer: the median over rounds of the per-round ratio (each round times
  every implementation once, in a rotating order, so that load on a shared machine hits all of
  them alike), with its inter-quartile range;
* the peak-memory ratio reptutor / peer, each peak measured in a fresh subprocess (below);
* the agreement: |loss_reptutor - loss_peer| and the largest absolute gradient difference.

and draws ``DIR/time_vs_n.png`` and ``DIR/memory_vs_n.png``. A second table compares the dense
path with the streamed one (``chunk_size``) at N = 16,384 per view (``--memory-n``).

Peak memory. PyTorch's CPU allocator has no statistics, and ``tracemalloc`` only sees Python's
own allocator (not tensor storage), so the peak is read from the kernel: each measurement runs in
a fresh subprocess which builds its inputs, runs a small warm-up (so that lazily initialised
kernels do not count), resets the resident-set high-water mark (``echo 5 >
/proc/self/clear_refs``), records the resident set, runs forward + backward once, and reports
``VmHWM`` minus the recorded resident set: the extra memory the call needed at its peak, tensors,
temporaries and allocator slack included.

Conventions matched explicitly: PML's ``NTXentLoss`` defaults to tau = 0.07, reptutor to 0.1;
both run at tau = 0.1 here. PML takes the 2N views stacked with labels (pair ids for NT-Xent,
classes for SupCon) and normalises with its default ``CosineSimilarity``; its NT-Xent mean is over
positive pairs (2N) and its SupCon reducer averages over anchors with a positive, the same
normalisations as reptutor's. PML's SupConLoss with pair-id labels is the same quantity as
NT-Xent (one positive per anchor) and is timed as a second NT-Xent peer, since PML's own
NTXentLoss builds a (2N) x (2N)(2N-2) mask and cannot run at N >= 1024 (about 136 GiB).

``sinkhorn``: ``reptutor.solvers.sinkhorn_knopp`` (``method`` auto, the default, scaling and log)
against the plain transcriptions a user writes (Cuturi's algorithm in numpy and in plain torch,
and SwAV's three-iteration ``distributed_sinkhorn`` loop; no package needed) and POT's
``ot.sinkhorn`` (optional peer:
``pip install --no-deps pot==0.9.7.post1``, it needs only numpy and scipy), at N = 4096 samples,
K in {300, 3000} clusters, float64 and float32, lam = 25 (SeLa), log_p = log_softmax of Gaussian
logits of scale 3. Correspondence: POT's cost M = -log_p, reg = 1/lam, source marginal a = 1/N
(reptutor's c), target marginal b = 1/K (reptutor's r); both plans are (N, K). Paths: reptutor
``method="scaling"`` against POT ``method="sinkhorn"``, ``"log"`` against ``"sinkhorn_log"``; POT
runs on its torch backend (torch tensors in) and on its numpy backend. Both libraries do the
column (cluster) update then the row (sample) update in each iteration, from the same start up to
a constant, so their iterates give the same plans. Modes: ``fixed3``, exactly 3 iterations
(reptutor ``tol=None, max_iter=3``; POT ``numItermax=3, stopThr=0``); ``tol``, to 1e-6 on the
cluster marginal. The stopping tests differ and are not changed: reptutor and the plain
transcriptions test the L1 error every iteration (from their own vectors), POT the L2 error
(looser, up to sqrt(K)) every 10th iteration (0, 10, 20, ...); every ratio is end to end (the
whole call), the table reports both iteration counts and the L1 error each plan reaches, and a
``reptutor_check10`` row (``check_every=10``) isolates the cost of the test. A peer "gives the
same numbers" (``same_numbers``) when after 3 iterations its plan is within 1e-9 (float64) or
1e-5 (float32) of reptutor's, relative to the largest entry, and to tolerance when its plan
meets the tolerance too; ``best_peer`` marks the fastest such peer of each case (the plain
transcriptions exponentiate ``lam * log_p`` unshifted, as the papers' code does, and underflow in
float32). To tolerance each call takes hundreds of iterations (15 s to
minutes at K = 3000 on one core), so by default the ``tol`` mode runs at the smallest K only, and
the log path there in float64 only (``--all-tol`` runs every case, about 30 minutes).
Memory (same subprocess probe as below) is measured in the ``fixed3`` mode. Output:
``DIR/sinkhorn.csv`` and ``DIR/sinkhorn_time_ratio.png``.

The peer is optional (not in requirements/lock.txt):
``pip install --no-deps pytorch-metric-learning==2.9.0`` (``--no-deps`` keeps the pinned torch).
lightly is probed too: ``import lightly.loss`` needs torchvision, which has no CPU build for
the pinned torch here, so it is reported as unavailable when that import fails.

Without peers. Every command runs without its peers (pytorch-metric-learning, POT, lightly,
disentanglement-lib): it times reptutor alone (and the plain-torch transcriptions of the official
code in ``gram``), writes the same CSV columns, and says in the ``note`` column of reptutor's rows
that the peer is unavailable. ``REPTUTOR_BENCH_NO_PEERS=1`` makes every import of a peer fail (and
lightly's by-path loading give up) as if none were installed, for testing that path in an
environment that has them (``tests/test_bench_smoke.py``). The helpers the commands share (thread
pinning, timing rounds, the memory probe, CSV writing) live in ``tools/benchlib.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchlib import (THREAD_VARS, add_run_options, block_peers, emit_probe, fmt, measure_peak,  # noqa: E402
                      n_rounds, peers_disabled, quartiles, rotating_rounds, run_probe,
                      thread_env, write_csv)

D = 128
CLASSES = 100
TAU = 0.1
SIZES = (256, 1024, 4096, 8192)
SUPCON_MAX_N = 4096  # SupCon runs the sizes up to this one


# ---------------------------------------------------------------------------------------------
# Workloads: each implementation is a function of (a, b, y) returning a scalar loss.
# ---------------------------------------------------------------------------------------------
def _implementations(workload: str, chunk: int):
    import torch

    from reptutor.losses import nt_xent_loss, supcon_loss

    impls = {}
    if workload == "nt_xent":
        impls["reptutor"] = lambda a, b, y: nt_xent_loss(a, b, temperature=TAU)
        impls["reptutor_chunked"] = lambda a, b, y: nt_xent_loss(a, b, temperature=TAU,
                                                                 chunk_size=chunk)
        impls["plain_torch"] = _plain_nt_xent
    else:
        impls["reptutor"] = lambda a, b, y: supcon_loss(torch.stack([a, b]), y, temperature=TAU)
        impls["reptutor_chunked"] = lambda a, b, y: supcon_loss(torch.stack([a, b]), y,
                                                                temperature=TAU, chunk_size=chunk)
        impls["plain_official"] = _plain_supcon_official
        impls["plain_torch"] = _plain_supcon
    try:
        from pytorch_metric_learning import losses as pml
    except ImportError:
        return impls
    pairs = lambda n, dev: torch.arange(n, device=dev).repeat(2)  # noqa: E731  view k of sample i -> i
    if workload == "nt_xent":
        ntx, sup = pml.NTXentLoss(temperature=TAU), pml.SupConLoss(temperature=TAU)
        impls["pml_NTXentLoss"] = lambda a, b, y: ntx(torch.cat([a, b]), pairs(a.shape[0], a.device))
        impls["pml_SupConLoss_pairs"] = lambda a, b, y: sup(torch.cat([a, b]), pairs(a.shape[0], a.device))
    else:
        sup = pml.SupConLoss(temperature=TAU)
        impls["pml_SupConLoss"] = lambda a, b, y: sup(torch.cat([a, b]), torch.cat([y, y]))
    return impls


PEERS = {"nt_xent": ("plain_torch", "pml_SupConLoss_pairs", "pml_NTXentLoss"),
         "supcon": ("plain_torch", "plain_official", "pml_SupConLoss")}


def _plain_nt_xent(a, b, y):
    """NT-Xent as the paper writes it: cross-entropy over the 2N x 2N logits, self masked."""
    import torch
    import torch.nn.functional as F

    n = a.shape[0]
    w = F.normalize(torch.cat([a, b]), dim=1)  # (2N, D)
    logits = (w @ w.T / TAU).masked_fill(torch.eye(2 * n, dtype=torch.bool, device=w.device),
                                         float("-inf"))
    target = (torch.arange(2 * n, device=w.device) + n) % (2 * n)  # the other view
    return F.cross_entropy(logits, target)


def _plain_supcon(a, b, y):
    """SupCon L_out (Khosla et al., eq. 2) in plain torch: masked log-softmax, mean over positives."""
    import torch
    import torch.nn.functional as F

    n = a.shape[0]
    w = F.normalize(torch.cat([a, b]), dim=1)  # (2N, D), view-major
    lab = torch.cat([y, y])
    eye = torch.eye(2 * n, dtype=torch.bool, device=w.device)
    logits = (w @ w.T / TAU).masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = (lab[:, None] == lab[None, :]) & ~eye
    count = pos.sum(1)
    mean_pos = log_prob.masked_fill(~pos, 0.0).sum(1) / count.clamp(min=1)
    return -mean_pos[count > 0].mean()


def _plain_supcon_official(a, b, y):
    """The official SupConLoss (HobbitLong/SupContrast losses.py, contrast_mode="all") on
    normalised features, base_temperature = temperature (the factor tau / base_tau is 1)."""
    import torch
    import torch.nn.functional as F

    n = a.shape[0]
    feats = F.normalize(torch.cat([a, b]), dim=1)  # torch.cat(torch.unbind(features, 1))
    logits = torch.div(feats @ feats.T, TAU)
    logits = logits - torch.max(logits, dim=1, keepdim=True)[0].detach()
    mask = torch.eq(y[:, None], y[None, :]).float().repeat(2, 2)
    logits_mask = torch.scatter(torch.ones_like(mask), 1,
                                torch.arange(2 * n, device=a.device).view(-1, 1), 0)
    mask = mask * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    pairs = mask.sum(1)
    pairs = torch.where(pairs < 1e-6, 1, pairs)
    mean_log_prob_pos = (mask * log_prob).sum(1) / pairs
    return (-mean_log_prob_pos).view(2, n).mean()


def _pml_predicted_bytes(impl: str, n: int) -> float:
    """Rough lower bound on a PML call's peak, to skip what cannot fit."""
    m = 2 * n
    if impl == "pml_NTXentLoss":
        # a (2N) x (2N)(2N-2) float mask, its product with the negatives, bool copies, and the
        # same again in backward: measured 2.2 GiB at N = 256, i.e. about 17 bytes per entry.
        return 17.0 * m * m * (m - 2)
    if impl.startswith("plain"):  # logits, masked copy, log-probabilities, masks, gradients
        return (32.0 if impl == "plain_official" else 20.0) * m * m
    return 40.0 * m * m  # matrices, two float masks, index tensors of all pairs


def _inputs(n: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, D, generator=g).requires_grad_()
    b = torch.randn(n, D, generator=g).requires_grad_()
    y = torch.randint(0, CLASSES, (n,), generator=g)
    return a, b, y


def _run_once(fn, a, b, y):
    a.grad = b.grad = None
    loss = fn(a, b, y)
    loss.backward()
    return loss


# ---------------------------------------------------------------------------------------------
# Peak memory in a fresh subprocess.
# ---------------------------------------------------------------------------------------------
def _probe(args) -> None:
    """Internal: one forward + backward, print the extra peak resident memory in MiB as JSON."""
    import torch

    torch.set_num_threads(args.threads)
    if args.loss == "info_nce":
        from reptutor.losses import info_nce_loss

        fn = lambda a, b, y: info_nce_loss(a, b, temperature=TAU, chunk_size=args.chunk)  # noqa: E731
    else:
        impls = _implementations(args.loss, args.chunk or 1)
        if args.impl == "reptutor":
            fn = impls["reptutor"] if args.chunk is None else impls["reptutor_chunked"]
        else:
            fn = impls[args.impl]
    warm = _inputs(64, seed=1)
    _run_once(fn, *warm)
    a, b, y = _inputs(args.n)
    peak, loss = measure_peak(lambda: _run_once(fn, a, b, y))
    emit_probe(peak, loss=float(loss.detach()))


def _peak_mib(loss: str, impl: str, n: int, chunk: int | None, threads: int,
              timeout: float = 900) -> tuple[float | None, str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "_probe", "--loss", loss, "--impl", impl,
           "--n", str(n), "--threads", str(threads)]
    if chunk is not None:
        cmd += ["--chunk", str(chunk)]
    return run_probe(cmd, thread_env(threads, THREAD_VARS[:2]), timeout)  # OpenMP and MKL


def _available_bytes() -> float:
    text = Path("/proc/meminfo").read_text()
    return int(re.search(r"MemAvailable:\s+(\d+)", text).group(1)) * 1024.0


# ---------------------------------------------------------------------------------------------
# Timing: rotating rounds (benchlib), paired ratios.
# ---------------------------------------------------------------------------------------------
def _time_workload(workload, n, impls, budget_s, max_rounds, min_rounds):
    import torch

    a, b, y = _inputs(n)
    ref_name = "reptutor"
    losses, grads, warm = {}, {}, {}
    for name, fn in impls.items():  # warm-up run, also the agreement check
        t0 = time.perf_counter()
        loss = _run_once(fn, a, b, y)
        warm[name] = time.perf_counter() - t0
        losses[name] = float(loss.detach())
        grads[name] = (a.grad.clone(), b.grad.clone())
    agreement = {}
    for name in impls:
        ga = max(float((grads[name][0] - grads[ref_name][0]).abs().max()),
                 float((grads[name][1] - grads[ref_name][1]).abs().max()))
        scale = max(float(g.abs().max()) for g in grads[ref_name])
        agreement[name] = (abs(losses[name] - losses[ref_name]), ga, scale)
    rounds = n_rounds(budget_s, sum(warm.values()), min_rounds, max_rounds)
    times = rotating_rounds({name: partial(_run_once, fn, a, b, y) for name, fn in impls.items()},
                            rounds)
    del a, b, y, grads
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return times, agreement, losses, rounds


def _contrastive_mm_rate(m: int, reps: int = 5) -> float:
    """GFLOP/s of the products an InfoNCE-family loss performs on M views, timed alone.

    The forward's (M, D) @ (D, M) and the backward's (M, M) @ (M, D) and (M, M)^T @ (M, D)
    (process CPU time, median of ``reps``), each 2 M^2 D flops: their total flops over their
    total time, the rate a loss made only of these products would reach.
    """
    import torch

    g = torch.Generator().manual_seed(1)
    w = torch.randn(m, D, generator=g)
    e = torch.rand(m, m, generator=g)
    total = 0.0
    for f in (lambda: w @ w.T, lambda: e @ w, lambda: e.T @ w):
        f()
        ts = []
        for _ in range(reps):
            t0 = time.process_time()
            f()
            ts.append(time.process_time() - t0)
        total += statistics.median(ts)
    del e
    return 3 * 2.0 * m * m * D / total / 1e9


# ---------------------------------------------------------------------------------------------
# The `contrastive` command.
# ---------------------------------------------------------------------------------------------
def contrastive(args) -> int:
    import torch

    torch.set_num_threads(args.threads)
    os.environ.update(thread_env(args.threads, THREAD_VARS[:2]))  # OpenMP and MKL
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        import pytorch_metric_learning

        pml_version = pytorch_metric_learning.__version__
    except ImportError:
        pml_version = None
    try:
        import lightly.loss  # noqa: F401

        lightly_status = "importable (not benchmarked here)"
    except Exception as err:  # noqa: BLE001 - report any import failure as it is
        lightly_status = f"unavailable: {type(err).__name__}: {err}"
    print(f"torch {torch.__version__}, {args.threads} torch thread(s), float32, CPU, D={D}, tau={TAU}")
    print(f"pytorch-metric-learning: {pml_version or 'not installed (pip install --no-deps pytorch-metric-learning==2.9.0)'}")
    print(f"lightly: {lightly_status}")
    rows = []
    for workload in ("nt_xent", "supcon"):
        for n in args.sizes:
            if workload == "supcon" and n > args.supcon_max_n:
                continue
            impls = _implementations(workload, args.chunk)
            notes = {}
            for name in list(impls):
                budget = args.pml_budget_gb if name.startswith("pml") else args.plain_budget_gb
                if not name.startswith("reptutor") and _pml_predicted_bytes(name, n) > budget * 2**30:
                    option = "--pml-budget-gb" if name.startswith("pml") else "--plain-budget-gb"
                    notes[name] = (f"skipped: needs about {_pml_predicted_bytes(name, n) / 2**30:.0f} GiB "
                                   f"(> {option} {budget})")
                    del impls[name]
            times, agreement, losses, rounds = _time_workload(
                workload, n, impls, args.budget_s, args.max_rounds, args.min_rounds)
            mm_rate = _contrastive_mm_rate(2 * n)  # GFLOP/s of the three products alone
            peaks = {}
            if not args.no_memory:
                for name in impls:
                    chunk = args.chunk if name == "reptutor_chunked" else None
                    impl = "reptutor" if name.startswith("reptutor") else name
                    peaks[name], why = _peak_mib(workload, impl, n, chunk, args.threads)
                    if why:
                        notes[name] = why
            peer_names = [p for p in PEERS[workload] if p in impls]
            # the same numbers: loss within --tol (relative), gradient within --grad-rtol
            same = {p: bool(agreement[p][0] <= args.tol * max(1.0, abs(losses["reptutor"]))
                            and agreement[p][1] <= args.grad_rtol * agreement[p][2])
                    for p in peer_names}
            # the best peer: the fastest of those that give the same numbers
            fastest = min((p for p in peer_names if same[p]), default=None,
                          key=lambda p: statistics.median(times[p]))
            for name in list(impls) + [k for k in notes if k not in impls]:
                # reptutor rows: one per peer (the ratios); a peer's row: its own time and memory.
                pairs = peer_names if name.startswith("reptutor") and peer_names else [None]
                for peer in pairs:
                    row = dict(workload=workload, n_per_view=n, d=D,
                               classes=CLASSES if workload == "supcon" else "", impl=name,
                               peer=peer or "", rounds=rounds, threads=args.threads,
                               time_ratio_median="", time_ratio_q25="", time_ratio_q75="",
                               median_time_s="", peak_mib="", mem_ratio="",
                               loss_abs_diff="", grad_max_abs_diff="", loss="", note=notes.get(name, ""),
                               same_numbers="", best_peer="", matmul_gflop="", gflops="",
                               mm_rate_gflops=mm_rate)
                    if name.startswith("reptutor") and pml_version is None:
                        row["note"] = (row["note"] + " peer unavailable: pytorch-metric-learning "
                                       "not installed").strip()
                    if name in impls:
                        row["median_time_s"] = statistics.median(times[name])
                        row["loss"] = losses[name]
                        if not name.startswith("pml"):  # 3 products of 2 (2N)^2 D flops
                            row["matmul_gflop"] = 3 * 2.0 * (2 * n) ** 2 * D / 1e9
                            row["gflops"] = row["matmul_gflop"] / row["median_time_s"]
                        if peaks.get(name) is not None:
                            row["peak_mib"] = peaks[name]
                        if peer is not None:
                            ratios = [t / p for t, p in zip(times[name], times[peer])]
                            q1, med, q3 = quartiles(ratios)
                            row.update(time_ratio_median=med, time_ratio_q25=q1, time_ratio_q75=q3)
                            row["loss_abs_diff"], row["grad_max_abs_diff"] = agreement[peer][:2]
                            row["same_numbers"] = same[peer]
                            row["best_peer"] = peer == fastest
                            if peaks.get(name) and peaks.get(peer):
                                row["mem_ratio"] = peaks[name] / peaks[peer]
                    rows.append(row)
                    _print_row(row)
    write_csv(out / "contrastive.csv", rows)
    _plots(rows, out)
    mem_rows = [] if args.memory_n <= 0 else _memory_at_scale(args)
    if mem_rows:
        write_csv(out / "contrastive_memory_at_scale.csv", mem_rows)
    bad = [r for r in rows if r["loss_abs_diff"] != "" and r["loss_abs_diff"] > args.tol * max(1.0, abs(r["loss"]))]
    if bad:
        print(f"DISAGREEMENT above tol={args.tol}: {[(r['workload'], r['n_per_view'], r['peer']) for r in bad]}")
        return 1
    print(f"wrote {out / 'contrastive.csv'}, {out / 'time_vs_n.png'}, {out / 'memory_vs_n.png'}")
    return 0


def _print_row(row) -> None:
    if not row["peer"]:  # a peer's own row (or reptutor's without a peer): no ratio
        alone = "no peer" if row["impl"].startswith("reptutor") else "peer"
        print(f"{row['workload']:8s} N={row['n_per_view']:5d} {row['impl']:22s} ({alone}; peak "
              f"{fmt(row['peak_mib'], '.0f')} MiB) {row['note']}", flush=True)
        return
    print(f"{row['workload']:8s} N={row['n_per_view']:5d} {row['impl']:22s} vs {row['peer']:22s} "
          f"time ratio {fmt(row['time_ratio_median'], '.3f')} "
          f"[IQR {fmt(row['time_ratio_q25'], '.3f')}-{fmt(row['time_ratio_q75'], '.3f')}, {row['rounds']} rounds]  "
          f"mem ratio {fmt(row['mem_ratio'], '.3f')}  |dloss| {fmt(row['loss_abs_diff'], '.2e')}  "
          f"max|dgrad| {fmt(row['grad_max_abs_diff'], '.2e')} "
          f"{'BEST' if row['best_peer'] else ('same' if row['same_numbers'] else 'DIFF')}  "
          f"{fmt(row['gflops'], '.1f')} GFLOP/s (products alone {row['mm_rate_gflops']:.1f})  "
          f"{row['note']}", flush=True)


def _plots(rows, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    for key, ylabel, fname in (("median_time_s", "forward + backward, median s", "time_vs_n.png"),
                               ("peak_mib", "peak extra memory, MiB", "memory_vs_n.png")):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
        for ax, workload in zip(axes, ("nt_xent", "supcon")):
            seen = set()
            for impl in dict.fromkeys(r["impl"] for r in rows if r["workload"] == workload):
                pts = sorted({(r["n_per_view"], r[key]) for r in rows
                              if r["workload"] == workload and r["impl"] == impl and r[key] != ""})
                if not pts or impl in seen:
                    continue
                seen.add(impl)
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=impl)
            ax.set(xscale="log", yscale="log", xlabel="N per view (2 views, D=128)", ylabel=ylabel,
                   title={"nt_xent": "NT-Xent", "supcon": f"SupCon, {CLASSES} classes"}[workload])
            sizes = sorted({r["n_per_view"] for r in rows})
            ax.set_xticks(sizes, [str(n) for n in sizes])
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.legend(fontsize=8)
        fig.savefig(out / fname, dpi=120)
        plt.close(fig)


def _memory_at_scale(args):
    """Dense vs streamed peak memory at N = args.memory_n per view, for the three losses."""
    rows = []
    n = args.memory_n
    for loss in ("info_nce", "nt_xent", "supcon"):
        m = n if loss == "info_nce" else 2 * n
        dense_bytes = 4.0 * m * m
        if _available_bytes() < 1.5 * dense_bytes:
            print(f"{loss}: skipped at N={n}: the dense matrix needs {dense_bytes / 2**30:.1f} GiB, "
                  f"only {_available_bytes() / 2**30:.1f} GiB available")
            continue
        dense, why_d = _peak_mib(loss, "reptutor", n, None, args.threads)
        streamed, why_s = _peak_mib(loss, "reptutor", n, args.memory_chunk, args.threads)
        ratio = streamed / dense if dense and streamed else ""
        row = dict(loss=loss, n_per_view=n, d=D, chunk_size=args.memory_chunk,
                   logits_matrix_mib=dense_bytes / 2**20, dense_peak_mib=dense or "",
                   chunked_peak_mib=streamed or "", chunked_over_dense=ratio,
                   note=(why_d + " " + why_s).strip())
        rows.append(row)
        print(f"memory at N={n}/view: {loss:9s} dense {row['dense_peak_mib']!s:>10.10} MiB, "
              f"chunk {args.memory_chunk}: {row['chunked_peak_mib']!s:>10.10} MiB, "
              f"ratio {ratio if ratio == '' else format(ratio, '.4f')}  {row['note']}", flush=True)
    return rows


# ---------------------------------------------------------------------------------------------
# The `sinkhorn` command: reptutor.solvers.sinkhorn_knopp against POT (Python Optimal Transport).
# ---------------------------------------------------------------------------------------------
SK_N = 4096
SK_KS = (300, 3000)
SK_LAM = 25.0  # SeLa's official code
SK_SCALE = 3.0  # log_p = log_softmax(SK_SCALE * Gaussian logits)
SK_TOL = 1e-6
SK_MAX_ITER = 5000
SK_POT_METHOD = {"log": "sinkhorn_log", "scaling": "sinkhorn", "auto": "sinkhorn"}
# a peer "gives the same numbers" when its plan is within this of reptutor's (max |difference| /
# max entry) after 3 iterations: float64 round-off (1e-9) or float32's (1e-5); to tolerance, when
# its plan also meets the tolerance on the cluster marginal (its L1 error, in float64)
SK_SAME = {"float64": 1e-9, "float32": 1e-5}


def _sk_plain_numpy(log_p, lam, max_iter, tol):
    """Cuturi's algorithm (NeurIPS 2013, Alg. 1) as a user writes it in numpy, on SeLa's problem:
    kernel exp(lam * log_p) (POT's exp(-M / reg)), column (cluster) step then row (sample) step
    from u = 1/N. To tolerance it stops when the L1 error of the cluster marginal, measured
    from its own vectors in float64 (no extra pass), is at most ``tol``; returns (plan, iters)."""
    import numpy as np

    n, k = log_p.shape
    a, b = np.full(n, 1.0 / n, dtype=log_p.dtype), np.full(k, 1.0 / k, dtype=log_p.dtype)
    kernel = np.exp(lam * log_p)
    u, it = a, 0
    ktu = u @ kernel
    while True:
        if it > 0 and tol is not None and np.abs(v.astype(np.float64) * ktu - 1.0 / k).sum() <= tol:
            break
        if it == max_iter:
            break
        v = b / ktu
        u = a / (kernel @ v)
        ktu = u @ kernel
        it += 1
    return u[:, None] * kernel * v[None, :], it


def _sk_plain_torch(log_p, lam, max_iter, tol):
    """The same transcription in plain torch (see :func:`_sk_plain_numpy`)."""
    import torch

    n, k = log_p.shape
    a = torch.full((n,), 1.0 / n, dtype=log_p.dtype)
    b = torch.full((k,), 1.0 / k, dtype=log_p.dtype)
    kernel = torch.exp(lam * log_p)
    u, it = a, 0
    ktu = u @ kernel
    while True:
        if it > 0 and tol is not None and float((v.double() * ktu - 1.0 / k).abs().sum()) <= tol:
            break
        if it == max_iter:
            break
        v = b / ktu
        u = a / (kernel @ v)
        ktu = u @ kernel
        it += 1
    return u[:, None] * kernel * v[None, :], it


def _sk_swav(log_p, lam, n_iter):
    """SwAV's ``distributed_sinkhorn`` on one process (github.com/facebookresearch/swav,
    main_swav.py), scores = log_p, epsilon = 1/lam: normalise Q = exp(scores / epsilon)^T by its
    sum, then alternately its rows (clusters) and columns (samples). Returns the plan (samples
    first, total mass 1: SwAV's codes divided by B) and the iteration count."""
    import torch

    with torch.no_grad():
        q = torch.exp(log_p * lam).t()  # (K, B)
        k, bsz = q.shape
        q /= torch.sum(q)
        for _ in range(n_iter):
            q /= torch.sum(q, dim=1, keepdim=True)
            q /= k
            q /= torch.sum(q, dim=0, keepdim=True)
            q /= bsz
        return q.t(), n_iter


def _sk_inputs(n: int, k: int, dtype: str, seed: int = 0):
    """log_p (reptutor) and the POT arguments (a, b, M) in both backends, built untimed."""
    import torch

    g = torch.Generator().manual_seed(seed)
    log_p = torch.log_softmax(SK_SCALE * torch.randn(n, k, generator=g, dtype=torch.float64), 1)
    log_p = log_p.to(getattr(torch, dtype))
    cost = -log_p  # POT's M
    a = torch.full((n,), 1.0 / n, dtype=log_p.dtype)  # sample marginal (reptutor's c)
    b = torch.full((k,), 1.0 / k, dtype=log_p.dtype)  # cluster marginal (reptutor's r)
    return dict(log_p=log_p, log_p_numpy=log_p.numpy().copy(), torch=(a, b, cost),
                numpy=(a.numpy(), b.numpy(), cost.numpy().copy()))


def _sk_implementations(method: str, mode: str):
    """name -> fn(inputs) returning (plan, iterations, note); plan in its own backend."""
    import warnings

    from reptutor.solvers import sinkhorn_knopp

    fixed = mode == "fixed3"
    opts = dict(max_iter=3, tol=None) if fixed else dict(max_iter=SK_MAX_ITER, tol=SK_TOL)

    def rep(check_every):
        def fn(x):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = sinkhorn_knopp(x["log_p"], lam=SK_LAM, method=method,
                                     check_every=check_every, **opts)
            return res.plan, res.n_iter, "; ".join(str(w.message)[:80] for w in caught)
        return fn

    impls = {"reptutor": rep(1)}
    if not fixed:  # the same stopping test as POT's cadence, to measure what the test costs
        impls["reptutor_check10"] = rep(10)
    # the plain transcriptions a user writes (no package needed); they run the scaling
    # iterations whatever reptutor's method, and are compared when they give the same numbers
    it_opts = dict(max_iter=3, tol=None) if fixed else dict(max_iter=SK_MAX_ITER, tol=SK_TOL)
    impls["plain_numpy"] = lambda x: (*_sk_plain_numpy(x["log_p_numpy"], SK_LAM, **it_opts), "")
    impls["plain_torch"] = lambda x: (*_sk_plain_torch(x["log_p"], SK_LAM, **it_opts), "")
    if fixed:
        impls["swav_loop"] = lambda x: (*_sk_swav(x["log_p"], SK_LAM, 3), "")
    try:
        import ot
    except ImportError:
        return impls

    def pot(backend):
        def fn(x):
            a, b, cost = x[backend]
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                plan, log = ot.sinkhorn(a, b, cost, 1.0 / SK_LAM, method=SK_POT_METHOD[method],
                                        numItermax=3 if fixed else SK_MAX_ITER,
                                        stopThr=0.0 if fixed else SK_TOL, log=True, warn=False)
            # log["niter"] is the 0-based index of the last iteration run
            return plan, int(log["niter"]) + 1, "; ".join(str(w.message)[:80] for w in caught)
        return fn

    impls["pot_torch"] = pot("torch")
    impls["pot_numpy"] = pot("numpy")
    return impls


def _sk_probe(args) -> None:
    """Internal: one solve, print the extra peak resident memory in MiB as JSON."""
    import torch

    torch.set_num_threads(args.threads)
    impls = _sk_implementations(args.method, args.mode)
    fn = impls[args.impl]
    fn(_sk_inputs(64, 8, args.dtype, seed=1))  # warm-up: lazily initialised kernels
    x = _sk_inputs(args.n, args.k, args.dtype)
    emit_probe(measure_peak(lambda: fn(x))[0])


def _sk_peak_mib(impl, method, mode, n, k, dtype, threads, timeout=300.0):
    cmd = [sys.executable, str(Path(__file__).resolve()), "_sk_probe", "--impl", impl,
           "--method", method, "--mode", mode, "--n", str(n), "--k", str(k), "--dtype", dtype,
           "--threads", str(threads)]
    return run_probe(cmd, thread_env(threads), timeout)


def _pot_version() -> str | None:
    """POT's version, or None when it cannot be imported (the optional peer is missing)."""
    try:
        import ot
    except ImportError:
        return None
    return ot.__version__


def _sk_col_l1(plan, b) -> float:
    """L1 error of the cluster (column) marginal, reptutor's stopping quantity, in float64."""
    return float((plan.double().sum(0) - b.double()).abs().sum())


def sinkhorn(args) -> int:
    os.environ.update(thread_env(args.threads))  # before numpy / torch load their BLAS
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pot_version = _pot_version()
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU, N={args.n}, lam={SK_LAM} "
          f"(POT reg={1 / SK_LAM}), log_p = log_softmax({SK_SCALE} * randn)")
    print(f"POT: {pot_version or 'not installed (pip install --no-deps pot==0.9.7.post1)'}")
    rows = []
    t_start = time.perf_counter()
    for mode in args.modes:
        for method in args.methods:
            for k in args.ks:
                for dtype in args.dtypes:
                    if mode == "tol" and not args.all_tol and (
                            k != min(args.ks) or (method == "log" and dtype != "float64")):
                        print(f"{mode:6s} {method:7s} K={k:5d} {dtype}: skipped (hundreds of "
                              f"iterations of a full-matrix pass, 15 s to minutes per call on one "
                              f"core; --all-tol runs it)", flush=True)
                        continue
                    rows += _sk_case(args, mode, method, k, dtype)
    print(f"total {time.perf_counter() - t_start:.0f} s")
    keys = dict.fromkeys(key for row in rows for key in row)  # failure rows are short
    rows = [{key: row.get(key, "") for key in keys} for row in rows]
    write_csv(out / "sinkhorn.csv", rows)
    _sk_plot(rows, out)
    print(f"wrote {out / 'sinkhorn.csv'}, {out / 'sinkhorn_time_ratio.png'}")
    # a peer that reported its own numerical failure (POT's scaling path underflows in float32)
    # is listed in the note, not counted as a disagreement
    # (float32 plain transcriptions and SwAV's loop exponentiate lam * log_p without a shift
    # and underflow: reported as not giving the same numbers, not as a disagreement)
    bad = [r for r in rows if r["peer"] and r["mode"] == "fixed3" and r["dtype"] == "float64"
           and "numerical errors" not in r["note"] and not r["plan_rel_diff"] <= args.tol]
    if bad:
        print(f"DISAGREEMENT above tol={args.tol} (fixed iterations): "
              f"{[(r['method'], r['k'], r['dtype'], r['peer']) for r in bad]}")
        return 1
    return 0


def _sk_case(args, mode, method, k, dtype):
    import torch

    x = _sk_inputs(args.n, k, dtype)
    impls = _sk_implementations(method, mode)
    plans, iters, notes, warm, failed = {}, {}, {}, {}, {}
    for name, fn in list(impls.items()):  # warm-up run, also the agreement check
        t0 = time.perf_counter()
        try:
            plan, iters[name], notes[name] = fn(x)
        except (FloatingPointError, RuntimeError, ValueError) as err:
            failed[name] = f"raised {type(err).__name__}: {str(err)[:90]}"
            del impls[name]
            continue
        warm[name] = time.perf_counter() - t0
        plans[name] = torch.as_tensor(plan).double()
    for name, why in failed.items():
        print(f"{mode:6s} {method:7s} K={k:5d} {dtype:7s} {name:16s} {why}", flush=True)
    if "reptutor" not in impls:  # nothing to compare: report what each peer returned, untimed
        rows = [dict(mode=mode, method=method, n=args.n, k=k, dtype=dtype, lam=SK_LAM, impl=name,
                     peer="", note=why) for name, why in failed.items()]
        for name in impls:
            rows.append(dict(mode=mode, method=method, n=args.n, k=k, dtype=dtype, lam=SK_LAM,
                             impl=name, peer="", iters=iters[name],
                             col_l1_err=_sk_col_l1(plans[name], x["torch"][1]),
                             plan_finite=bool(torch.isfinite(plans[name]).all()),
                             note=notes[name]))
            print(f"{mode:6s} {method:7s} K={k:5d} {dtype:7s} {name:16s} (peer, untimed) "
                  f"{iters[name]} it, col L1 err {rows[-1]['col_l1_err']:.2e}, finite plan "
                  f"{rows[-1]['plan_finite']} {notes[name]}", flush=True)
        return rows
    min_rounds = args.min_rounds if mode == "fixed3" else args.tol_rounds
    rounds = n_rounds(args.budget_s, sum(warm.values()), min_rounds, args.max_rounds)
    names = list(impls)
    times = rotating_rounds({name: partial(fn, x) for name, fn in impls.items()}, rounds)
    peaks = {}
    if not args.no_memory and mode == "fixed3":
        for name in names:
            peaks[name], why = _sk_peak_mib(name, method, mode, args.n, k, dtype, args.threads)
            if why:
                notes[name] = (notes[name] + " " + why).strip()
    b = x["torch"][1]
    rows = []
    peers = [p for p in names if not p.startswith("reptutor")]
    if _pot_version() is None:
        for name in names:  # reptutor's paths: no library peer to compare with
            if name.startswith("reptutor"):
                notes[name] = (notes[name] + " peer unavailable: POT not installed").strip()
    # "same numbers": after 3 iterations the plan within SK_SAME of reptutor's; to tolerance the
    # peer's plan meets the tolerance too (stopping rules differ, so plans differ within it)
    same = {}
    for peer in peers:
        diff = float((plans["reptutor"] - plans[peer]).abs().max()) / float(
            plans["reptutor"].abs().max())
        same[peer] = bool(diff <= SK_SAME[dtype]) if mode == "fixed3" else bool(
            _sk_col_l1(plans[peer], b) <= SK_TOL * (1 + 1e-9) and diff <= 1e-3)
    fastest = min((p for p in peers if same[p]), key=lambda p: statistics.median(times[p]),
                  default=None)
    for name in names:
        for peer in (peers if name.startswith("reptutor") and peers else [""]):
            row = dict(mode=mode, method=method, n=args.n, k=k, dtype=dtype, lam=SK_LAM,
                       impl=name, peer=peer, rounds=rounds, threads=args.threads,
                       median_time_s=statistics.median(times[name]), iters=iters[name],
                       col_l1_err=_sk_col_l1(plans[name], b), time_ratio_median="",
                       time_ratio_q25="", time_ratio_q75="", per_iter_ratio="", peak_mib=peaks.get(name, ""),
                       mem_ratio="", plan_max_abs_diff="", plan_rel_diff="", peer_iters="",
                       note=notes[name], same_numbers="", best_peer="")
            if row["peak_mib"] is None:
                row["peak_mib"] = ""
            if peer:
                # end to end: the whole call, whatever the number of iterations each needed
                ratios = [t / p for t, p in zip(times[name], times[peer])]
                q1, med, q3 = quartiles(ratios)
                row.update(time_ratio_median=med, time_ratio_q25=q1, time_ratio_q75=q3,
                           peer_iters=iters[peer], same_numbers=same[peer],
                           best_peer=peer == fastest)
                diff = float((plans[name] - plans[peer]).abs().max())
                row["plan_max_abs_diff"] = diff
                row["plan_rel_diff"] = diff / float(plans[name].abs().max())  # nan stays nan
                if peaks.get(name) and peaks.get(peer):
                    row["mem_ratio"] = peaks[name] / peaks[peer]
                if notes[peer]:
                    row["note"] = (row["note"] + f" [{peer}: {notes[peer]}]").strip()
            rows.append(row)
            _sk_print_row(row)
    return rows


def _sk_print_row(row) -> None:
    head = f"{row['mode']:6s} {row['method']:7s} K={row['k']:5d} {row['dtype']:7s} {row['impl']:16s}"
    if not row["peer"]:
        alone = "no peer" if row["impl"].startswith("reptutor") else "peer"
        print(f"{head} ({alone}) median {row['median_time_s']:.4f} s, {row['iters']} it, "
              f"col L1 err {row['col_l1_err']:.2e}, peak {fmt(row['peak_mib'], '.0f')} MiB "
              f"{row['note']}", flush=True)
        return
    tag = "BEST" if row["best_peer"] else ("same" if row["same_numbers"] else "DIFF")
    print(f"{head} vs {row['peer']:11s} {tag} time ratio {row['time_ratio_median']:.3f} "
          f"[IQR {row['time_ratio_q25']:.3f}-{row['time_ratio_q75']:.3f}, {row['rounds']} r] "
          f"it {row['iters']}/{row['peer_iters']} "
          f"mem {fmt(row['mem_ratio'], '.2f')} max|dplan| {row['plan_max_abs_diff']:.1e} "
          f"(rel {row['plan_rel_diff']:.1e}) col L1 err {row['col_l1_err']:.1e} "
          f"{row['note']}", flush=True)


def _sk_plot(rows, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [r for r in rows if r["impl"] == "reptutor" and r["peer"] and r["same_numbers"]]
    if not cases:
        return
    labels = sorted({(r["mode"], r["method"], r["k"], r["dtype"]) for r in cases},
                    key=lambda c: (c[0], c[1], c[2], c[3]))
    peers = sorted({r["peer"] for r in cases})
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels)), 4), constrained_layout=True)
    width = 0.8 / len(peers)
    for j, peer in enumerate(peers):
        for i, lab in enumerate(labels):
            hit = [r for r in cases if r["peer"] == peer and
                   (r["mode"], r["method"], r["k"], r["dtype"]) == lab]
            if not hit:
                continue
            r = hit[0]
            ax.bar(i + j * width, r["time_ratio_median"], width,
                   yerr=[[r["time_ratio_median"] - r["time_ratio_q25"]],
                         [r["time_ratio_q75"] - r["time_ratio_median"]]],
                   color=f"C{j}", label=peer if i == 0 else None)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))],
                  [f"{m}\n{me}\nK={k}\n{d}" for m, me, k, d in labels], fontsize=7)
    ax.set(yscale="log", ylabel="time reptutor / peer (median, IQR)",
           title=f"sinkhorn_knopp vs peers giving the same plan, N={rows[0]['n']}, lam={SK_LAM}")
    ax.legend(fontsize=8)
    fig.savefig(out / "sinkhorn_time_ratio.png", dpi=120)
    plt.close(fig)


ALL_COMMANDS = ("contrastive", "sinkhorn", "primitives", "gram", "disentanglement")


def primitives(args) -> int:
    """The two primitives every Sinkhorn scaling iteration is made of, torch against numpy.

    The scaling path (reptutor's and POT's) is one exponential pass over the (N, K) kernel and
    then matrix-vector products; this times those primitives alone, in the same rotating
    rounds as the workloads, so the Benchmarks page can say what bounds the scaling path:
    ``exp`` in place on the kernel's entries (values of lam * (log_p - row max), as the solver
    sees them) and the two matrix-vector products of an iteration (G^T beta and G alpha).
    Output: ``DIR/primitives.csv`` (k, dtype, op, torch_s, numpy_s, ratio torch / numpy).
    ``--n`` and ``--ks`` (defaults: the ``sinkhorn`` workloads' N = 4096, K in {300, 3000}) set
    the kernel's shape; the first round is a warm-up and is left out of the medians.
    """
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for k in args.ks:
        for dtype in ("float64", "float32"):
            g = torch.Generator().manual_seed(0)
            tdt = getattr(torch, dtype)
            log_p = (SK_SCALE * torch.randn(args.n, k, generator=g, dtype=tdt)).log_softmax(1)
            arg = SK_LAM * (log_p - log_p.amax(1, keepdim=True))  # the kernel's exponent
            floor = float(np.log(np.finfo(dtype).tiny)) + 1.0
            kern = torch.exp(arg.clamp_min(floor))
            alpha, beta = torch.rand(k, dtype=tdt), torch.rand(args.n, dtype=tdt)
            buf_t, arg_n = torch.empty_like(arg), arg.numpy()
            buf_n, kern_n = np.empty_like(arg_n), kern.numpy()
            alpha_n, beta_n = alpha.numpy(), beta.numpy()
            ops = {
                "exp (kernel entries, in place)": (
                    lambda: torch.exp(arg, out=buf_t), lambda: np.exp(arg_n, out=buf_n)),
                "exp of the clamped exponent (reptutor)": (
                    lambda: torch.clamp_min(arg, floor, out=buf_t).exp_(), None),
                "G^T beta (vector-matrix)": (
                    lambda: beta.unsqueeze(0) @ kern, lambda: beta_n @ kern_n),
                "G alpha (matrix-vector)": (
                    lambda: alpha.unsqueeze(0) @ kern.T, lambda: kern_n @ alpha_n),
            }
            for op, (f_t, f_n) in ops.items():
                impls = {"torch": f_t} | ({"numpy": f_n} if f_n else {})
                times = rotating_rounds(impls, args.rounds)
                t_t = statistics.median(times["torch"][1:])
                t_n = statistics.median(times["numpy"][1:]) if "numpy" in times else float("nan")
                row = dict(k=k, dtype=dtype, op=op, torch_s=t_t, numpy_s=t_n,
                           ratio_torch_over_numpy=t_t / t_n if f_n else "")
                rows.append(row)
                print(f"K={k:5d} {dtype} {op:42s} torch {t_t * 1e3:8.3f} ms  numpy "
                      f"{t_n * 1e3:8.3f} ms  ratio {row['ratio_torch_over_numpy'] or '-'}", flush=True)
    write_csv(out / "primitives.csv", rows)
    return 0


def _environment(threads: int = 1) -> dict:
    """What the book's Benchmarks page prints about the run: machine, versions, date."""
    import platform
    from datetime import datetime, timezone
    from importlib import metadata

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    env = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "cpu": cpu,
           "cores": os.cpu_count(), "torch threads": threads, "torch": torch.__version__,
           "device": "cpu (no GPU in this run)" if not torch.cuda.is_available()
           else torch.cuda.get_device_name()}
    for dist in ("numpy", "pytorch-metric-learning", "pot", "lightly", "disentanglement-lib"):
        try:
            env[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            env[dist] = "not installed"
        if dist != "numpy" and peers_disabled():
            env[dist] = "not used (REPTUTOR_BENCH_NO_PEERS=1)"
    return env


def run_all(args) -> int:
    """Run every workload with its defaults into one directory, then record the environment."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    status = 0
    for command in args.only:
        print(f"=== {command}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.run([sys.executable, __file__, command, "--out", str(out)],
                            env={**os.environ, **thread_env(1)}).returncode
        print(f"=== {command}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
        status = status or rc
    (out / "env.json").write_text(json.dumps(_environment(), indent=1) + "\n")
    return status


def main(argv=None) -> int:
    block_peers()  # REPTUTOR_BENCH_NO_PEERS=1: run as if no peer were installed
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    from bench_disentanglement import register as register_disentanglement
    register_disentanglement(sub)
    from bench_gram import register as register_gram
    register_gram(sub)
    a = sub.add_parser("all", help="every workload, with env.json (what `make bench` runs)")
    a.add_argument("--out", required=True, help="directory for every CSV / PNG and env.json")
    a.add_argument("--only", nargs="+", default=list(ALL_COMMANDS), choices=ALL_COMMANDS)
    pr = sub.add_parser("primitives", help="exp and matrix-vector products, torch vs numpy")
    pr.add_argument("--out", required=True)
    pr.add_argument("--threads", type=int, default=1)
    pr.add_argument("--rounds", type=int, default=21,
                    help="timing rounds, the first one a warm-up (at least 2)")
    pr.add_argument("--n", type=int, default=SK_N, help="kernel rows N")
    pr.add_argument("--ks", type=int, nargs="+", default=list(SK_KS), help="kernel columns K")
    c = sub.add_parser("contrastive", help="NT-Xent and SupCon vs pytorch-metric-learning")
    add_run_options(c, budget_s=60.0, min_rounds=5,
                    threads_help="torch intra-op threads (default 1: a shared 2-core machine)")
    c.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="N per view")
    c.add_argument("--chunk", type=int, default=1024, help="chunk_size of the streamed rows")
    c.add_argument("--pml-budget-gb", type=float, default=4.0,
                   help="skip a PML call predicted to need more memory than this")
    c.add_argument("--plain-budget-gb", type=float, default=12.0,
                   help="skip a plain-torch call predicted to need more memory than this")
    c.add_argument("--supcon-max-n", type=int, default=SUPCON_MAX_N,
                   help="SupCon runs the --sizes up to this one")
    c.add_argument("--grad-rtol", type=float, default=1e-3,
                   help="largest accepted max|gradient difference| / max|gradient| against a peer")
    c.add_argument("--memory-n", type=int, default=16384,
                   help="N per view of the dense-vs-streamed memory table (0 skips it)")
    c.add_argument("--memory-chunk", type=int, default=512,
                   help="chunk_size of the streamed path in the N = --memory-n table")
    c.add_argument("--tol", type=float, default=1e-4,
                   help="largest accepted |loss difference| / max(1, |loss|) against a peer")
    p = sub.add_parser("_probe", help=argparse.SUPPRESS)
    p.add_argument("--loss", required=True, choices=("info_nce", "nt_xent", "supcon"))
    p.add_argument("--impl", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--chunk", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    s = sub.add_parser("sinkhorn", help="sinkhorn_knopp vs POT (Python Optimal Transport)")
    add_run_options(s, budget_s=4.0, min_rounds=7, unit="case",
                    min_rounds_help="minimum rounds, fixed3 mode")
    s.add_argument("--n", type=int, default=SK_N, help="number of samples N")
    s.add_argument("--ks", type=int, nargs="+", default=list(SK_KS), help="numbers of clusters K")
    s.add_argument("--dtypes", nargs="+", default=["float64", "float32"],
                   choices=("float64", "float32"))
    s.add_argument("--methods", nargs="+", default=["auto", "scaling", "log"],
                   choices=("auto", "scaling", "log"), help="reptutor's method (auto: the default)")
    s.add_argument("--modes", nargs="+", default=["fixed3", "tol"], choices=("fixed3", "tol"),
                   help="fixed3: exactly 3 iterations; tol: to tol 1e-6 on the cluster marginal")
    s.add_argument("--all-tol", action="store_true",
                   help="tol mode at every K and dtype (default: smallest K; log path in "
                        "float64 only); about 30 minutes")
    s.add_argument("--tol-rounds", type=int, default=3, help="minimum rounds, tol mode")
    s.add_argument("--tol", type=float, default=1e-9,
                   help="largest accepted max|plan difference| / max(plan), fixed3 mode, "
                        "float64 (float32: 1e4 times this)")
    q = sub.add_parser("_sk_probe", help=argparse.SUPPRESS)
    q.add_argument("--impl", required=True)
    q.add_argument("--method", required=True, choices=("auto", "scaling", "log"))
    q.add_argument("--mode", required=True, choices=("fixed3", "tol"))
    q.add_argument("--n", type=int, required=True)
    q.add_argument("--k", type=int, required=True)
    q.add_argument("--dtype", required=True, choices=("float64", "float32"))
    q.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "all":
        return run_all(args)
    if args.command == "primitives":
        return primitives(args)
    if getattr(args, "func", None) is not None:  # commands added by register(subparsers)
        return args.func(args)
    if args.command == "_probe":
        _probe(args)
        return 0
    if args.command == "_sk_probe":
        _sk_probe(args)
        return 0
    if args.command == "sinkhorn":
        return sinkhorn(args)
    return contrastive(args)


if __name__ == "__main__":
    sys.exit(main())
