r"""Benchmark: reptutor's vectorized MIG and FactorVAE score against disentanglement_lib.

    .venv/bin/python tools/bench.py disentanglement --out DIR [--threads 1] [--budget-s 20]

Peer: google-research/disentanglement_lib 1.5, its own metric code (``evaluation/metrics/mig.py``,
``factor_vae.py``, ``utils.py``), run unchanged. It is an optional peer, installed without its
dependencies (TensorFlow would replace nothing here but is not needed by these three modules)::

    pip install --no-deps disentanglement-lib==1.5 gin-config==0.4.0 absl-py six

The modules import ``gin.tf`` only to register TensorFlow-specific configurables; ``gin.tf``
needs TensorFlow, so when it cannot be imported an empty ``gin.tf`` module is put in
``sys.modules`` first. Nothing numerical lives there: the metrics use NumPy and scikit-learn.
gin-config 0.5 renamed the ``blacklist`` argument the modules use, hence 0.4.0. The MIG
configuration of disentanglement_lib's studies is bound as in its ``.gin`` files
(``discretizer.discretizer_fn = @histogram_discretizer``, ``discretizer.num_bins = 20``).

Workloads (float32 codes, one thread for torch, NumPy and BLAS):

* ``mig``: N = 10,000 samples (disentanglement_lib's ``mig.num_train``), L = 10 code dimensions,
  M = 5 factors with dSprites' sizes (3, 6, 40, 32, 32). reptutor: ``mig(codes, factors)``;
  peer: ``mig._compute_mig(codes.T, factors.T)`` (the function ``compute_mig`` calls after
  sampling), on NumPy arrays that share the tensors' memory.
* ``factor_vae``: disentanglement_lib's configuration: 10,000 training votes, 5,000 evaluation
  votes, batches of 64, 10,000 codes for the global variances, pruning threshold 0.05. The peer's
  ``compute_factor_vae`` samples through a ``GroundTruthData`` object and a NumPy random state;
  here both are replaced by replay objects that hand out precomputed factor indices and code
  batches, in the order the peer asks for them, with the identity as representation function.
  So the peer runs its real loop (one vote per iteration) on exactly the codes that reptutor's
  ``factor_vae_score`` receives as one ``(15000, 64, 10)`` tensor, and both must give the same
  accuracies. The sampling and encoding, the same work for both, are not timed.

Codes come from a fixed noisy linear encoder of the standardised factors (dimension j mostly
reads factor j, with leakage from the others, plus 5 mixed or noise dimensions), so the scores are
in the middle of their range rather than at a degenerate 0 or 1.

Timing as ``tools/bench.py``: every round times each implementation once in a rotating order;
the ratio reptutor / peer is the median of the per-round ratios with its inter-quartile range.
Peak memory: each implementation once in a fresh subprocess (``VmHWM`` after resetting it, minus
the resident set before the call: the extra memory the call needed). Output:
``DIR/disentanglement.csv`` and ``DIR/disentanglement_time_ratio.png``.
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

from benchlib import (add_run_options, emit_probe, fmt, measure_peak, n_rounds, quartiles,  # noqa: E402
                      rotating_rounds, run_probe, thread_env, write_csv)

N = 10_000
L = 10
FACTOR_SIZES = (3, 6, 40, 32, 32)  # dSprites: shape, scale, orientation, x, y
FVAE = dict(num_train=10_000, num_eval=5_000, batch_size=64, num_variance_estimate=10_000,
            threshold=0.05)
WORKLOADS = ("mig", "factor_vae", "dci")
DCI_ALPHA = 0.02  # the released DCI code's Lasso strength (reptutor's default)


# ---------------------------------------------------------------------------------------------
# The peer.
# ---------------------------------------------------------------------------------------------
def _load_peer():
    """(mig module, factor_vae module, version) or (None, None, why it cannot run)."""
    try:
        import gin
    except ImportError:
        return None, None, "gin-config not installed (pip install --no-deps gin-config==0.4.0)"
    try:
        import gin.tf  # noqa: F401
    except Exception:  # noqa: BLE001 - needs TensorFlow; register an empty stand-in instead
        stub = types.ModuleType("gin.tf")
        sys.modules["gin.tf"] = stub
        gin.tf = stub
    try:
        import logging as _logging
        _logging.getLogger().setLevel(_logging.ERROR)  # gin 0.4 warns "blacklist is deprecated"
        from disentanglement_lib.evaluation.metrics import factor_vae, mig
        from importlib.metadata import version
    except Exception as err:  # noqa: BLE001 - report any import failure as it is
        return None, None, f"disentanglement_lib unavailable: {type(err).__name__}: {err}"
    gin.clear_config()
    gin.parse_config("discretizer.discretizer_fn = @histogram_discretizer\n"
                     "discretizer.num_bins = 20")
    return mig, factor_vae, version("disentanglement-lib")


class _ReplayData:
    """A GroundTruthData stand-in that hands out precomputed codes in the peer's order."""

    def __init__(self, votes, fixed, global_codes):
        self.votes, self.fixed, self.global_codes = votes, fixed, global_codes  # NumPy
        self.num_factors = len(FACTOR_SIZES)
        self.t = 0

    def sample_observations(self, num, random_state):
        return self.global_codes[:num]

    def sample_factors(self, num, random_state):
        import numpy as np

        return np.zeros((num, self.num_factors), dtype=np.int64)  # fixed in place by the peer

    def sample_observations_from_factors(self, factors, random_state):
        out = self.votes[self.t]  # (64, L) codes of the batch whose factor fixed[t] is held
        self.t += 1
        return out


class _ReplayState:
    """A RandomState stand-in whose randint returns the precomputed fixed factors."""

    def __init__(self, fixed):
        self.fixed, self.i = fixed, 0

    def randint(self, high):
        k = int(self.fixed[self.i])
        self.i += 1
        return k


# ---------------------------------------------------------------------------------------------
# Inputs.
# ---------------------------------------------------------------------------------------------
def _encoder(seed: int = 0):
    import torch

    m = len(FACTOR_SIZES)
    g = torch.Generator().manual_seed(seed)
    sizes = torch.tensor(FACTOR_SIZES, dtype=torch.float32)
    mix = torch.eye(m, L)  # (M, L): code j < M reads factor j ...
    mix += 0.3 * torch.randn(m, L, generator=g)  # ... with leakage, and mixed extra dims
    noise_g = torch.Generator().manual_seed(seed + 1)

    def encode(factors):  # (n, M) integer factors -> (n, L) float32 codes
        v = (factors.float() / (sizes - 1) - 0.5) * 3.4  # about unit variance
        return v @ mix + 0.3 * torch.randn(factors.shape[0], L, generator=noise_g)

    def sample(n, gen):
        cols = [torch.randint(0, s, (n,), generator=gen) for s in FACTOR_SIZES]
        return torch.stack(cols, dim=1)  # (n, M)

    return sample, encode


def _inputs(workload: str, seed: int = 0, small: bool = False):
    import torch

    from reptutor.evaluation import factor_vae_batches

    sample, encode = _encoder(seed)
    g = torch.Generator().manual_seed(seed + 2)
    if workload == "dci":
        factors = sample(200 if small else N, g)
        return {"codes": encode(factors).double(), "factors": factors}
    if workload == "mig":
        factors = sample(200 if small else N, g)
        return {"codes": encode(factors), "factors": factors}
    num_train = 20 if small else FVAE["num_train"]
    num_eval = 10 if small else FVAE["num_eval"]
    votes, fixed = factor_vae_batches(sample, encode, num_factors=len(FACTOR_SIZES),
                                      num_batches=num_train + num_eval,
                                      batch_size=FVAE["batch_size"], generator=g)
    global_codes = encode(sample(200 if small else FVAE["num_variance_estimate"], g))
    return {"votes": votes, "fixed": fixed, "global_codes": global_codes,
            "num_train": num_train, "num_eval": num_eval}


def _plain_mig(codes, factors, bins: int = 20) -> float:
    """MIG in plain NumPy, vectorized: np.histogram's edges, np.digitize, one bincount for all
    (code, factor) joint histograms, the plug-in mutual information of the counts."""
    import numpy as np

    n, n_codes = codes.shape
    n_factors = factors.shape[1]
    lo, hi = codes.min(0), codes.max(0)
    binned = np.stack([np.digitize(codes[:, j], np.linspace(lo[j], hi[j], bins + 1)[:-1]) - 1
                       for j in range(n_codes)], 1)  # (N, L) bin of each code
    ids = np.stack([np.unique(factors[:, k], return_inverse=True)[1].reshape(-1)
                    for k in range(n_factors)], 1)  # (N, M) factor values renumbered
    k = int(ids.max()) + 1
    cell = ((np.arange(n_codes) * bins + binned)[:, :, None] * (n_factors * k)
            + (np.arange(n_factors) * k + ids)[:, None, :])  # (N, L, M) joint cell index
    counts = np.bincount(cell.ravel(), minlength=n_codes * bins * n_factors * k)
    counts = counts.reshape(n_codes, bins, n_factors, k).astype(float)
    n_a, n_b = counts.sum(3, keepdims=True), counts.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(counts > 0, counts / n * np.log(n * counts / (n_a * n_b)), 0.0)
    mi = terms.sum((1, 3))  # (L, M) nats
    p = n_b[0, 0] / n  # (M, K) factor value frequencies
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(p > 0, p * np.log(p), 0.0).sum(1)  # (M,)
    top = np.sort(mi, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / entropy))


def _plain_mig_loops(codes, factors, bins: int = 20) -> float:
    """MIG in plain NumPy as disentanglement_lib writes it: one histogram per code dimension,
    one contingency table per (code, factor) pair (np.bincount instead of scikit-learn)."""
    import numpy as np

    n = codes.shape[0]
    binned = [np.digitize(z, np.histogram(z, bins)[1][:-1]) for z in codes.T]

    def mutual_info(a, b):
        a, b = np.unique(a, return_inverse=True)[1], np.unique(b, return_inverse=True)[1]
        kb = b.max() + 1
        c = np.bincount(a * kb + b, minlength=(a.max() + 1) * kb).reshape(-1, kb).astype(float)
        outer, nz = np.outer(c.sum(1), c.sum(0)), c > 0
        return float((c[nz] / n * np.log(n * c[nz] / outer[nz])).sum())

    mi = np.array([[mutual_info(d, v) for v in factors.T] for d in binned])  # (L, M)
    entropy = np.array([mutual_info(v, v) for v in factors.T])
    top = np.sort(mi, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / entropy))


def _plain_dci(codes, factors, alpha: float = DCI_ALPHA) -> float:
    """DCI disentanglement as the paper's code computes it: standardised variables, one
    scikit-learn ``Lasso`` per factor (the paper's linear regressor), importance |W|, and
    disentanglement_lib's entropy scores (scipy.stats.entropy of R + 1e-11)."""
    import numpy as np
    import scipy.stats
    from sklearn.linear_model import Lasso

    z = (codes - codes.mean(0)) / codes.std(0)
    v = (factors - factors.mean(0)) / factors.std(0)
    importance = np.stack([np.abs(Lasso(alpha=alpha, fit_intercept=False, tol=1e-10,
                                        max_iter=100_000).fit(z, v[:, m]).coef_)
                           for m in range(v.shape[1])], 1)  # (L, M)
    per_code = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=importance.shape[1])
    rho = importance.sum(1) / importance.sum()
    return float((rho * per_code).sum())


def _implementations(workload: str):
    """name -> fn(inputs) returning the score; the peer's entries only when it imports."""
    from reptutor.metrics import dci, factor_vae_score, mig

    if workload == "dci":  # disentanglement_lib's DCI fits boosted trees: a different number
        return {"reptutor": lambda x: dci(x["codes"], x["factors"]).disentanglement,
                "plain_sklearn": lambda x: _plain_dci(x["codes"].double().numpy(),
                                                      x["factors"].double().numpy())}

    impls = {}
    if workload == "mig":
        impls["reptutor"] = lambda x: mig(x["codes"], x["factors"]).score
        impls["plain_numpy"] = lambda x: _plain_mig(x["codes"].numpy(), x["factors"].numpy())
        impls["plain_numpy_loops"] = lambda x: _plain_mig_loops(x["codes"].numpy(),
                                                                x["factors"].numpy())
    else:
        impls["reptutor"] = lambda x: factor_vae_score(
            x["votes"], x["fixed"], global_codes=x["global_codes"],
            num_factors=len(FACTOR_SIZES), num_train=x["num_train"],
            threshold=FVAE["threshold"]).score
    peer_mig, peer_fvae, _ = _load_peer()
    if peer_mig is None:
        return impls
    if workload == "mig":
        def run_peer(x):
            codes, factors = x["codes"].numpy(), x["factors"].numpy()  # views, no copy
            return float(peer_mig._compute_mig(codes.T, factors.T)["discrete_mig"])
    else:
        def run_peer(x):
            data = _ReplayData(x["votes"].numpy(), x["fixed"].numpy(), x["global_codes"].numpy())
            scores = peer_fvae.compute_factor_vae(
                data, lambda obs: obs, _ReplayState(x["fixed"].numpy()),
                batch_size=FVAE["batch_size"], num_train=x["num_train"],
                num_eval=x["num_eval"], num_variance_estimate=len(x["global_codes"]))
            assert data.t == x["num_train"] + x["num_eval"]  # every batch consumed, in order
            return float(scores["eval_accuracy"])
    impls["disentanglement_lib"] = run_peer
    return impls


# ---------------------------------------------------------------------------------------------
# Memory probe in a fresh subprocess.
# ---------------------------------------------------------------------------------------------
def _probe(args) -> int:
    """Internal: one call of the metric; print the extra peak resident memory in MiB as JSON."""
    import torch

    torch.set_num_threads(args.threads)
    fn = _implementations(args.workload)[args.impl]
    fn(_inputs(args.workload, seed=5, small=True))  # warm-up: lazily initialised kernels
    x = _inputs(args.workload)
    emit_probe(measure_peak(lambda: fn(x))[0])
    return 0


def _peak_mib(workload: str, impl: str, threads: int, timeout: float = 600.0):
    cmd = [sys.executable, str(ROOT / "tools" / "bench.py"), "_dis_probe", "--workload", workload,
           "--impl", impl, "--threads", str(threads)]
    return run_probe(cmd, thread_env(threads), timeout)


# ---------------------------------------------------------------------------------------------
# The `disentanglement` command.
# ---------------------------------------------------------------------------------------------
def run(args) -> int:
    os.environ.update(thread_env(args.threads))  # before NumPy / torch load their BLAS
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    peer_mig, _, peer_info = _load_peer()
    print(f"torch {torch.__version__}, {args.threads} thread(s), float32, CPU")
    print(f"disentanglement_lib: {peer_info if peer_mig is not None else 'not run: ' + peer_info}")
    rows = []
    for workload in args.workloads:
        x = _inputs(workload)
        impls = _implementations(workload)
        values, warm = {}, {}
        for name, fn in impls.items():  # first call: warm-up and the agreement check
            t0 = time.perf_counter()
            values[name] = fn(x)
            warm[name] = time.perf_counter() - t0
        rounds = n_rounds(args.budget_s, sum(warm.values()), args.min_rounds, args.max_rounds)
        names = list(impls)
        times = rotating_rounds({name: partial(fn, x) for name, fn in impls.items()}, rounds)
        peaks, notes = {}, {}
        if not args.no_memory:
            for name in names:
                peaks[name], notes[name] = _peak_mib(workload, name, args.threads)
        n = N if workload in ("mig", "dci") else FVAE["num_train"]
        # the best peer: the fastest of those that give the same score (within --tol)
        fastest = min((p for p in names if p != "reptutor"
                       and abs(values[p] - values["reptutor"]) <= args.tol), default=None,
                      key=lambda p: statistics.median(times[p]))
        for name in names:
            peers = [p for p in names if p != "reptutor"] if name == "reptutor" else []
            for peer in peers or [""]:
                row = dict(workload=workload, n=n, d=L, impl=name, peer=peer, rounds=rounds,
                           threads=args.threads, time_ratio_median="", time_ratio_q25="",
                           time_ratio_q75="", median_time_s=statistics.median(times[name]),
                           peak_mib="" if peaks.get(name) is None else peaks[name], mem_ratio="",
                           value_abs_diff="", value=values[name], note=notes.get(name, ""),
                           same_numbers="", best_peer="")
                if peer:
                    q1, med, q3 = quartiles([t / p for t, p in zip(times[name], times[peer])])
                    diff = abs(values[name] - values[peer])
                    row.update(time_ratio_median=med, time_ratio_q25=q1, time_ratio_q75=q3,
                               value_abs_diff=diff, same_numbers=bool(diff <= args.tol),
                               best_peer=peer == fastest)
                    if peaks.get(name) and peaks.get(peer):
                        row["mem_ratio"] = peaks[name] / peaks[peer]
                    elif peaks.get(peer) == 0.0:
                        row["note"] = (row["note"] + " no mem ratio: the peer's extra peak is 0 "
                                       "MiB (it fits in pages the process already holds)").strip()
                if name == "reptutor" and peer_mig is None:
                    row["note"] = (row["note"] + " peer unavailable: " + peer_info).strip()
                rows.append(row)
                _print_row(row)
    write_csv(out / "disentanglement.csv", rows)
    _plot(rows, out)
    print(f"wrote {out / 'disentanglement.csv'}, {out / 'disentanglement_time_ratio.png'}")
    bad = [r["workload"] for r in rows if r["value_abs_diff"] != "" and r["value_abs_diff"] > args.tol]
    if bad:
        print(f"DISAGREEMENT above tol={args.tol}: {bad}")
        return 1
    return 0


def _print_row(row) -> None:
    head = f"{row['workload']:10s} n={row['n']:6d} {row['impl']:20s}"
    if not row["peer"]:
        print(f"{head} median {row['median_time_s'] * 1e3:9.2f} ms  peak {fmt(row['peak_mib'], '.1f')} "
              f"MiB  value {row['value']:.6f}  {row['note']}", flush=True)
        return
    print(f"{head} median {row['median_time_s'] * 1e3:9.2f} ms  peak {fmt(row['peak_mib'], '.1f')} MiB  "
          f"vs {row['peer']}: time ratio {fmt(row['time_ratio_median'], '.4f')} "
          f"[IQR {fmt(row['time_ratio_q25'], '.4f')}-{fmt(row['time_ratio_q75'], '.4f')}, "
          f"{row['rounds']} rounds]  mem ratio {fmt(row['mem_ratio'], '.3f')}  "
          f"|dvalue| {fmt(row['value_abs_diff'], '.2e')}  value {row['value']:.6f}", flush=True)


def _plot(rows, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratio_rows = [r for r in rows if r["time_ratio_median"] != ""]
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(ratio_rows)), 3))
    if ratio_rows:
        labels = [f"{r['workload']}\nvs {r['peer']}" for r in ratio_rows]
        med = [r["time_ratio_median"] for r in ratio_rows]
        err = [[m - r["time_ratio_q25"] for m, r in zip(med, ratio_rows)],
               [r["time_ratio_q75"] - m for m, r in zip(med, ratio_rows)]]
        ax.bar(labels, med, yerr=err, capsize=4, color="tab:blue")
        ax.axhline(1 / 1.5, color="tab:red", ls="--", lw=1, label="1/1.5 (acceptance)")
        ax.set_yscale("log")
        ax.set_ylabel("time reptutor / peer")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "peer unavailable", ha="center", va="center")
    ax.set_title(f"{rows[0]['threads']} thread(s), float32, CPU", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "disentanglement_time_ratio.png", dpi=120)
    plt.close(fig)


def register(subparsers) -> None:
    """Add the ``disentanglement`` command (and its hidden memory probe) to ``tools/bench.py``."""
    d = subparsers.add_parser("disentanglement",
                              help="MIG and FactorVAE score vs disentanglement_lib")
    add_run_options(d, budget_s=20.0, min_rounds=5)
    d.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    d.add_argument("--tol", type=float, default=1e-6,
                   help="largest accepted |score difference| against the peer")
    d.set_defaults(func=run)
    p = subparsers.add_parser("_dis_probe", help=argparse.SUPPRESS)
    p.add_argument("--workload", required=True, choices=WORKLOADS)
    p.add_argument("--impl", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=_probe)
