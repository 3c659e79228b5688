r"""Benchmark: Gram-matrix losses (VICReg, Barlow Twins, MCR^2 coding rate) against their peers.

    .venv/bin/python tools/bench.py gram --out DIR [--threads 1] [--budget-s 20]

Workloads: N = 1024 samples, D in {512, 2048}, float32, CPU, forward + backward, one thread
(torch, OpenMP, MKL/OpenBLAS pinned before torch loads).

* ``vicreg`` (two views): reptutor ``vicreg_loss``; peers ``pml_VICRegLoss``
  (pytorch-metric-learning 2.9.0, called as ``loss(z_a, ref_emb=z_b)``; its per-element mean
  reducers give the official normalisation), ``lightly_VICRegLoss`` (lightly's loss file, see
  below) and ``plain_official``: the formula of ``facebookresearch/vicreg``'s ``main_vicreg.py``
  written out here in plain torch (``x.var`` std hinge averaged over the branches, covariance
  ``x.T @ x / (N-1)`` with its off-diagonal taken by the flatten/view trick, weights 25/25/1).
* ``barlow`` (two views): reptutor ``barlow_twins_loss`` (lambda = 5e-3); peers
  ``lightly_BarlowTwinsLoss(lambda_param=5e-3)`` and ``plain_official``, the formula of
  ``facebookresearch/barlowtwins``' ``main.py`` on one device (``BatchNorm1d(affine=False)``
  standardisation, ``c = A.T @ B / N``, on- and off-diagonal sums). pytorch-metric-learning has
  no Barlow Twins loss.
* ``coding_rate`` (one input): reptutor ``coding_rate(z, eps_sq=0.5)``; peer ``plain_official``,
  the MCR^2 official code's ``compute_discrimn_loss_empirical`` written out in plain torch,
  ``0.5 * torch.logdet(I_D + D / (N * eps_sq) * W @ W.T)`` with ``W = z.T`` (a D x D product
  and an LU log-determinant). The inputs are L2-normalised rows, as MCR^2's networks produce.

lightly. ``import lightly`` (and ``import lightly.loss``) imports torchvision, which has no CPU
build for the pinned torch here. Its two loss files need only torch: ``barlow_twins_loss.py``
imports nothing from lightly, ``vicreg_loss.py`` imports ``lightly.utils.dist.gather`` (used only
when gathering across processes). So, when ``import lightly.loss`` fails, the files of the
installed wheel (``pip install --no-deps lightly==1.6.0``) are executed by path with
``importlib``, after putting empty ``lightly`` and ``lightly.utils`` package modules and the real
``lightly/utils/dist.py`` (plain torch) in ``sys.modules``; the stubs are removed afterwards.

Timing as ``tools/bench.py``: each round times every implementation once, in a rotating order;
the ratio reptutor / peer is the median of the per-round ratios, with its inter-quartile range.
Agreement (from the warm-up call): |loss difference| and the largest absolute gradient
difference against reptutor. Peak memory: one call in a fresh subprocess (``VmHWM`` after
resetting it, minus the resident set before the call). Matmul accounting: each row gives the
forward + backward matrix-product flops of its implementation (analytic, ``matmul_gflop``), the
rate the whole call achieves on them (``gflops``) and the rate of the dominant product alone,
timed in the same run (``mm_rate_gflops``): when ``gflops`` is close to ``mm_rate_gflops`` the
implementation is bound by its matrix products and only fewer flops can make it faster.
Output: ``DIR/gram.csv`` (the columns of ``contrastive.csv`` plus those three) and
``DIR/gram_time_ratio.png``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import types
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchlib import (add_run_options, emit_probe, fmt, measure_peak, n_rounds, peers_disabled,  # noqa: E402
                      quartiles, rotating_rounds, run_probe, thread_env, write_csv)

N = 1024
DIMS = (512, 2048)
WORKLOADS = ("vicreg", "barlow", "coding_rate")
LAMBDA = 5e-3  # Barlow Twins' paper value
EPS_SQ = 0.5  # MCR^2 experiments
TARGET = 1.5  # acceptance: reptutor at least 1.5x faster than the fastest agreeing peer


# ---------------------------------------------------------------------------------------------
# Peers.
# ---------------------------------------------------------------------------------------------
def _load_lightly():
    """(barlow module, vicreg module, status line), or (None, None, why) when unavailable."""
    import importlib.metadata
    import importlib.util

    try:
        from lightly.loss import barlow_twins_loss, vicreg_loss

        return barlow_twins_loss, vicreg_loss, "imported normally"
    except Exception as err:  # noqa: BLE001 - report why the normal import fails, as it is
        why = f"import lightly.loss failed ({type(err).__name__}: {err})"
    if peers_disabled():  # the by-path loading below would find the installed files
        return None, None, why
    try:
        dist = importlib.metadata.distribution("lightly")
    except importlib.metadata.PackageNotFoundError:
        return None, None, (f"{why}; lightly not installed "
                            f"(pip install --no-deps lightly==1.6.0)")

    def load(name: str, rel: str):
        spec = importlib.util.spec_from_file_location(name, dist.locate_file(rel))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    stubs = [name for name in ("lightly", "lightly.utils", "lightly.utils.dist")
             if name not in sys.modules]
    try:
        for name in ("lightly", "lightly.utils"):
            if name in stubs:
                sys.modules[name] = types.ModuleType(name)
        load("lightly.utils.dist", "lightly/utils/dist.py")
        barlow = load("_lightly_barlow_twins_loss", "lightly/loss/barlow_twins_loss.py")
        vicreg = load("_lightly_vicreg_loss", "lightly/loss/vicreg_loss.py")
    except Exception as err:  # noqa: BLE001
        return None, None, f"{why}; loading its loss files by path failed too: {err!r}"
    finally:
        for name in stubs:
            sys.modules.pop(name, None)
    return barlow, vicreg, (f"lightly {dist.version}: loss files loaded by path ({why})")


def _off_diagonal(x):
    # the flattened off-diagonal of a square matrix, as both official repositories take it
    n = x.shape[0]
    return x.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def _official_vicreg(x, y):
    """facebookresearch/vicreg main_vicreg.py's loss on one device, weights 25 / 25 / 1."""
    import torch
    import torch.nn.functional as F

    n, d = x.shape
    repr_loss = F.mse_loss(x, y)
    x = x - x.mean(dim=0)
    y = y - y.mean(dim=0)
    std_x = torch.sqrt(x.var(dim=0) + 1e-4)
    std_y = torch.sqrt(y.var(dim=0) + 1e-4)
    std_loss = F.relu(1 - std_x).mean() / 2 + F.relu(1 - std_y).mean() / 2
    cov_x = x.T @ x / (n - 1)
    cov_y = y.T @ y / (n - 1)
    cov_loss = (_off_diagonal(cov_x).pow(2).sum() + _off_diagonal(cov_y).pow(2).sum()) / d
    return 25.0 * repr_loss + 25.0 * std_loss + 1.0 * cov_loss


def _official_barlow(z1, z2):
    """facebookresearch/barlowtwins main.py's loss on one device (batch size = N), lambda 5e-3."""
    import torch
    import torch.nn.functional as F

    n = z1.shape[0]
    bn = lambda z: F.batch_norm(z, None, None, training=True, eps=1e-5)  # noqa: E731 affine=False
    c = bn(z1).T @ bn(z2) / n
    on_diag = (torch.diagonal(c) - 1).pow(2).sum()
    off_diag = _off_diagonal(c).pow(2).sum()
    return on_diag + LAMBDA * off_diag


def _official_coding_rate(z):
    """MCR^2 official compute_discrimn_loss_empirical (gam1 = 1) with W = z.T, eps = eps^2."""
    import torch

    w = z.T  # (D, N): the paper's columns-as-samples layout
    p, m = w.shape
    eye = torch.eye(p, dtype=z.dtype, device=z.device)
    return 0.5 * torch.logdet(eye + p / (m * EPS_SQ) * w @ w.T)


def _implementations(workload: str):
    """name -> fn(inputs) returning a scalar loss; and the lightly status line."""
    from reptutor.losses import barlow_twins_loss, coding_rate, vicreg_loss

    lightly_barlow, lightly_vicreg, lightly_status = _load_lightly()
    impls = {}
    if workload == "vicreg":
        impls["reptutor"] = lambda a, b: vicreg_loss(a, b)
        try:
            from pytorch_metric_learning.losses import VICRegLoss

            pml = VICRegLoss()  # defaults 25 / 25 / 1, eps 1e-4
            impls["pml_VICRegLoss"] = lambda a, b: pml(a, ref_emb=b)
        except ImportError:
            pass
        if lightly_vicreg is not None:
            lv = lightly_vicreg.VICRegLoss()  # defaults 25 / 25 / 1, eps 1e-4
            impls["lightly_VICRegLoss"] = lambda a, b: lv(a, b)
        impls["plain_official"] = _official_vicreg
    elif workload == "barlow":
        impls["reptutor"] = lambda a, b: barlow_twins_loss(a, b, redundancy_weight=LAMBDA)
        if lightly_barlow is not None:
            lb = lightly_barlow.BarlowTwinsLoss(lambda_param=LAMBDA)
            impls["lightly_BarlowTwinsLoss"] = lambda a, b: lb(a, b)
        impls["plain_official"] = _official_barlow
    else:
        impls["reptutor"] = lambda a, b: coding_rate(a, eps_sq=EPS_SQ)
        impls["plain_official"] = lambda a, b: _official_coding_rate(a)
    return impls, lightly_status


def _block_fraction(rows: int) -> float:
    """Share of a full product that reptutor's block-triangular Gram forward computes."""
    b = 4 if rows >= 1024 else 2 if rows >= 512 else 1  # as reptutor.losses._gram
    return (b + 1) / (2 * b)


def _matmul_gflop(workload: str, impl: str, n: int, d: int) -> float:
    """Forward + backward matrix-product flops (2 m n k per product), factorisations excluded.

    reptutor's Gram matrices (``reptutor.losses._gram.gram``): the forward forms the upper block
    triangle only (``_block_fraction`` of the product), the backward is one product.
    """
    nd2, n2d = 2.0 * n * d * d, 2.0 * n * n * d
    if impl == "reptutor":
        if workload == "barlow" and not 3 * d > 4 * n:
            return 3 * nd2  # c = A^T B (not symmetric) and its two backward products
        samples = 3 * d > 4 * n if workload == "barlow" else d > n
        full, rows = (n2d, n) if samples else (nd2, d)
        per_gram = (_block_fraction(rows) + 1) * full  # forward share + one backward product
        return (2 if workload in ("vicreg", "barlow") else 1) * per_gram
    if workload == "vicreg":
        return 2 * 3 * nd2  # two views; autograd runs two products in the backward of x.T @ x
    return 3 * nd2  # barlow: c = A^T B and two backward products; coding rate: W W^T likewise


def _dominant_side(workload: str, impl: str, n: int, d: int) -> str:
    if impl != "reptutor":
        return "features"
    if workload == "barlow":
        return "samples" if 3 * d > 4 * n else "features"
    return "samples" if d > n else "features"


def _inputs(workload: str, n: int, d: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, d, generator=g)
    b = a + 0.5 * torch.randn(n, d, generator=g)  # two correlated views
    if workload == "coding_rate":
        a = torch.nn.functional.normalize(a, dim=1)  # MCR^2 features live on the sphere
    return a.requires_grad_(), b.requires_grad_()


def _run_once(fn, a, b):
    a.grad = b.grad = None
    loss = fn(a, b)
    loss.backward()
    return loss


def _grads(a, b):
    import torch

    return tuple(x.grad.clone() if x.grad is not None else torch.zeros_like(x) for x in (a, b))


def _mm_rate(n: int, d: int, side: str, reps: int = 5) -> float:
    """GFLOP/s of the product alone: (D, N) @ (N, D) for "features", (N, D) @ (D, N) for "samples"."""
    import torch

    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    f = (lambda: x.T @ y) if side == "features" else (lambda: x @ y.T)
    f()
    times = []
    for _ in range(reps):  # process CPU time, as the rounds (benchlib.rotating_rounds)
        t0 = time.process_time()
        f()
        times.append(time.process_time() - t0)
    flop = 2.0 * n * d * d if side == "features" else 2.0 * n * n * d
    return flop / statistics.median(times) / 1e9


# ---------------------------------------------------------------------------------------------
# Peak memory in a fresh subprocess.
# ---------------------------------------------------------------------------------------------
def _probe(args) -> int:
    """Internal: one forward + backward; print the extra peak resident memory in MiB as JSON."""
    import torch

    torch.set_num_threads(args.threads)
    fn = _implementations(args.workload)[0][args.impl]
    _run_once(fn, *_inputs(args.workload, 64, 32, seed=1))  # warm-up: lazily initialised kernels
    _run_once(fn, *_inputs(args.workload, 64, 128, seed=1))  # both Gram sides
    a, b = _inputs(args.workload, args.n, args.d)
    peak, loss = measure_peak(lambda: _run_once(fn, a, b))
    emit_probe(peak, loss=float(loss.detach()))
    return 0


def _peak_mib(workload, impl, n, d, threads, timeout=300.0):
    cmd = [sys.executable, str(ROOT / "tools" / "bench.py"), "_gram_probe", "--workload", workload,
           "--impl", impl, "--n", str(n), "--d", str(d), "--threads", str(threads)]
    return run_probe(cmd, thread_env(threads), timeout)


# ---------------------------------------------------------------------------------------------
# The `gram` command.
# ---------------------------------------------------------------------------------------------
def _case(args, workload, d):
    impls, _ = _implementations(workload)
    a, b = _inputs(workload, args.n, d)
    losses, grads, warm = {}, {}, {}
    for name, fn in impls.items():  # warm-up call, also the agreement check
        t0 = time.perf_counter()
        loss = _run_once(fn, a, b)
        warm[name] = time.perf_counter() - t0
        losses[name] = float(loss.detach())
        grads[name] = _grads(a, b)
    rounds = n_rounds(args.budget_s, sum(warm.values()), args.min_rounds, args.max_rounds)
    names = list(impls)
    times = rotating_rounds({name: partial(_run_once, fn, a, b) for name, fn in impls.items()},
                            rounds)
    rates = {side: _mm_rate(args.n, d, side) for side in ("features", "samples")}
    peaks, notes = {}, {}
    for name in names:
        if not args.no_memory:
            peaks[name], why = _peak_mib(workload, name, args.n, d, args.threads)
            if why:
                notes[name] = why
    rows = []
    for name in names:
        side = _dominant_side(workload, name, args.n, d)
        gflop = _matmul_gflop(workload, name, args.n, d) / 1e9
        med = statistics.median(times[name])
        base = dict(workload=workload, n=args.n, d=d, impl=name, peer="", rounds=rounds,
                    threads=args.threads, time_ratio_median="", time_ratio_q25="",
                    time_ratio_q75="", median_time_s=med,
                    peak_mib=peaks.get(name) if peaks.get(name) is not None else "",
                    mem_ratio="", loss_abs_diff="", grad_max_abs_diff="", loss=losses[name],
                    note=notes.get(name, ""), matmul_gflop=gflop, gflops=gflop / med,
                    mm_rate_gflops=rates[side], side=side, same_numbers="", best_peer="")
        if name != "reptutor":
            rows.append(base)
            continue
        for peer in [p for p in names if p != "reptutor"]:
            row = dict(base, peer=peer)
            q1, q2, q3 = quartiles([t / p for t, p in zip(times[name], times[peer])])
            row.update(time_ratio_median=q2, time_ratio_q25=q1, time_ratio_q75=q3)
            row["loss_abs_diff"] = abs(losses[name] - losses[peer])
            row["grad_max_abs_diff"] = max(float((x - y).abs().max())
                                           for x, y in zip(grads[name], grads[peer]))
            scale = max(float(x.abs().max()) for x in grads[name])
            # the same numbers: loss within --tol (relative), gradient within --grad-rtol
            row["same_numbers"] = bool(
                row["loss_abs_diff"] <= args.tol * max(1.0, abs(losses[name]))
                and row["grad_max_abs_diff"] <= args.grad_rtol * scale)
            if peaks.get(name) and peaks.get(peer):
                row["mem_ratio"] = peaks[name] / peaks[peer]
            rows.append(row)
    same = [r for r in rows if r["peer"] and r["same_numbers"]]
    if same:  # the best peer: the fastest of those that give the same numbers
        fastest = min(same, key=lambda r: statistics.median(times[r["peer"]]))["peer"]
        for r in rows:
            if r["peer"]:
                r["best_peer"] = r["peer"] == fastest
    return rows


def _print_row(row) -> None:
    head = f"{row['workload']:11s} D={row['d']:5d} {row['impl']:24s}"
    tail = (f"{row['median_time_s'] * 1e3:8.1f} ms  {row['gflops']:6.1f} GFLOP/s on "
            f"{row['matmul_gflop']:5.1f} GFLOP of products ({row['side']} side; product alone "
            f"{row['mm_rate_gflops']:.0f})  peak {fmt(row['peak_mib'], '.0f')} MiB")
    if not row["peer"]:
        print(f"{head} (peer) {tail} {row['note']}", flush=True)
        return
    print(f"{head} vs {row['peer']:24s} time ratio {row['time_ratio_median']:.3f} "
          f"[IQR {row['time_ratio_q25']:.3f}-{row['time_ratio_q75']:.3f}, {row['rounds']} r] "
          f"mem {fmt(row['mem_ratio'], '.2f')} |dloss| {row['loss_abs_diff']:.1e} "
          f"max|dgrad| {row['grad_max_abs_diff']:.1e}\n{'':44s}{tail} {row['note']}", flush=True)


def _plot(rows, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [r for r in rows if r["peer"]]
    if not cases:
        return
    labels = list(dict.fromkeys((r["workload"], r["d"]) for r in cases))
    peers = list(dict.fromkeys(r["peer"] for r in cases))
    width = 0.8 / len(peers)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(labels)), 4), constrained_layout=True)
    for j, peer in enumerate(peers):
        for i, lab in enumerate(labels):
            hit = [r for r in cases if r["peer"] == peer and (r["workload"], r["d"]) == lab]
            if hit:
                r = hit[0]
                ax.bar(i + j * width, r["time_ratio_median"], width, color=f"C{j}",
                       yerr=[[r["time_ratio_median"] - r["time_ratio_q25"]],
                             [r["time_ratio_q75"] - r["time_ratio_median"]]],
                       label=peer if peer not in ax.get_legend_handles_labels()[1] else None)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhline(1.0 / TARGET, color="k", lw=0.8, ls="--", label=f"{TARGET}x faster")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))],
                  [f"{w}\nD={d}" for w, d in labels], fontsize=8)
    ax.set(yscale="log", ylabel="time reptutor / peer (median, IQR)",
           title=f"forward + backward, N={rows[0]['n']}, float32, {rows[0]['threads']} thread(s)")
    ax.legend(fontsize=7)
    fig.savefig(out / "gram_time_ratio.png", dpi=120)
    plt.close(fig)


def run(args) -> int:
    os.environ.update(thread_env(args.threads))  # before torch loads its BLAS
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _, status = _implementations("barlow")
    try:
        import pytorch_metric_learning

        pml = pytorch_metric_learning.__version__
    except ImportError:
        pml = "not installed (pip install --no-deps pytorch-metric-learning==2.9.0)"
    print(f"torch {torch.__version__}, {args.threads} thread(s), float32, CPU, N={args.n}")
    print(f"pytorch-metric-learning: {pml}")
    print(f"lightly: {status}")
    rows = []
    for workload in args.workloads:
        for d in args.dims:
            case = _case(args, workload, d)
            for row in case:
                _print_row(row)
            rows += case
    write_csv(out / "gram.csv", rows)
    _plot(rows, out)
    print(f"wrote {out / 'gram.csv'}, {out / 'gram_time_ratio.png'}")
    bad = [r for r in rows if r["peer"] and r["loss_abs_diff"] > args.tol * max(1.0, abs(r["loss"]))]
    if bad:
        print(f"DISAGREEMENT above tol={args.tol}: "
              f"{[(r['workload'], r['d'], r['peer']) for r in bad]}")
        return 1
    return 0


def register(subparsers) -> None:
    """Add the ``gram`` command (and its hidden memory probe) to ``tools/bench.py``."""
    g = subparsers.add_parser("gram", help="VICReg, Barlow Twins, MCR^2 coding rate vs peers")
    add_run_options(g, budget_s=20.0, min_rounds=7)
    g.add_argument("--n", type=int, default=N, help="number of samples N")
    g.add_argument("--dims", type=int, nargs="+", default=list(DIMS), help="embedding dims D")
    g.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    g.add_argument("--tol", type=float, default=1e-4,
                   help="largest accepted |loss difference| / max(1, |loss|) against a peer")
    g.add_argument("--grad-rtol", type=float, default=1e-3,
                   help="largest accepted max|gradient difference| / max|gradient| against a peer")
    g.set_defaults(func=run)
    p = subparsers.add_parser("_gram_probe", help=argparse.SUPPRESS)
    p.add_argument("--workload", required=True, choices=WORKLOADS)
    p.add_argument("--impl", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--d", type=int, required=True)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=_probe)
