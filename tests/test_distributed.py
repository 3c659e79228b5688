"""Contrastive losses and Sinkhorn under torch.distributed: two gloo processes on CPU vs one.

Each rank holds a shard of one fixed batch (6 and 4 rows: uneven on purpose). On every rank:

* the loss value equals the single-process loss on the concatenated batch;
* the gradient that reaches the rank's rows is ``world_size`` times the single-process gradient
  (collectives follow the torch.distributed.nn convention: gradient of the sum of the ranks'
  outputs), so that after DistributedDataParallel's averaging a shared parameter gets exactly
  the single-process gradient, checked with a linear encoder;
* ``reduction="none"`` returns the rank's own rows of the single-process per-sample losses;
* second derivatives (a gradient penalty, ``create_graph=True``) follow the same convention: the
  penalty gradient on a rank is ``world_size**2`` times the single-process one (see
  :func:`_gradient_penalty_checks`);
* ``distributed=False`` (the default) ignores the group (the loss of the local shard alone).

The processes talk over 127.0.0.1 on a free port and the test is bounded in time.
"""
from __future__ import annotations

import datetime
import os
import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORLD = 2
N, DIM = 10, 4
SHARDS = [slice(0, 6), slice(6, 10)]
TIMEOUT_S = 90  # generous bound for a heavily loaded machine; a normal run takes a few seconds


def _data():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(N, DIM, generator=g, dtype=torch.float64)
    b = torch.randn(N, DIM, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 2, 1, 0, 2, 2, 1, 0])
    return a, b, y


def _cases():
    from reptutor.losses import (
        class_conditional_info_nce_loss,
        info_nce_loss,
        nt_xent_loss,
        supcon_loss,
    )

    # Each case: (name, fn(a, b, y, **kw) -> loss, per-sample rows of this shard from the full
    # batch's reduction="none" output).
    def rows_nt(full, sl):  # nt_xent "none" is [a rows; b rows] of whatever batch it gets
        return torch.cat([full[:N][sl], full[N:][sl]])

    def rows(full, sl):
        return full[sl]

    def rows_views(full, sl):  # supcon on (V, N, D) views: "none" is (V, N)
        return full[:, sl]

    return [
        ("info_nce", lambda a, b, y, **kw: info_nce_loss(a, b, temperature=0.3, **kw), rows),
        ("info_nce_one_way",
         lambda a, b, y, **kw: info_nce_loss(a, b, temperature=0.3, symmetric=False, **kw), rows),
        ("nt_xent", lambda a, b, y, **kw: nt_xent_loss(a, b, temperature=0.3, **kw), rows_nt),
        ("supcon_views",
         lambda a, b, y, **kw: supcon_loss(torch.stack([a, b]), y, temperature=0.3, **kw), rows_views),
        ("supcon_single", lambda a, b, y, **kw: supcon_loss(a, y, temperature=0.3, **kw), rows),
        ("cond_info_nce",
         lambda a, b, y, **kw: class_conditional_info_nce_loss(a, b, y, temperature=0.3, **kw), rows),
    ]


def _worker(rank: int, port: int) -> None:
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=WORLD, timeout=datetime.timedelta(seconds=60))
    try:
        a, b, y = _data()
        sl = SHARDS[rank]
        close = dict(rtol=1e-10, atol=1e-12)  # float64; only the summation order differs
        for name, fn, rows in _cases():
            for chunk in (None, 3):
                # Single-process reference on the whole batch, computed on this rank.
                fa, fb = a.clone().requires_grad_(), b.clone().requires_grad_()
                ref = fn(fa, fb, y, chunk_size=chunk)  # distributed=False by default
                ref_ga, ref_gb = torch.autograd.grad(ref, (fa, fb), allow_unused=True)
                ref_none = fn(a, b, y, chunk_size=chunk, reduction="none")
                ref_sum = fn(a, b, y, chunk_size=chunk, reduction="sum")

                la, lb = a[sl].clone().requires_grad_(), b[sl].clone().requires_grad_()
                loss = fn(la, lb, y[sl], chunk_size=chunk, distributed=True)
                loss.backward()
                where = f"{name}, chunk_size={chunk}, rank {rank}"
                torch.testing.assert_close(loss, ref, **close, msg=f"value: {where}")
                for got, want in ((la.grad, ref_ga), (lb.grad, ref_gb)):
                    if want is None:
                        assert got is None or bool((got == 0).all()), where
                    else:
                        torch.testing.assert_close(got, WORLD * want[sl], **close,
                                                   msg=f"gradient: {where}")
                torch.testing.assert_close(fn(a[sl], b[sl], y[sl], chunk_size=chunk, reduction="none",
                                              distributed=True),
                                           rows(ref_none, sl), **close, msg=f"none: {where}")
                torch.testing.assert_close(fn(a[sl], b[sl], y[sl], chunk_size=chunk, reduction="sum",
                                              distributed=True),
                                           ref_sum, **close, msg=f"sum: {where}")
        # DDP-style check on a shared linear encoder: averaged parameter gradients equal the
        # single-process gradient.
        from reptutor.losses import nt_xent_loss, supcon_loss

        theta0 = torch.randn(DIM, DIM, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
        for loss_fn in (lambda p, q, yy, **kw: nt_xent_loss(p, q, temperature=0.3, **kw),
                        lambda p, q, yy, **kw: supcon_loss(torch.stack([p, q]), yy, chunk_size=4,
                                                           **kw)):
            theta = theta0.clone().requires_grad_()
            loss_fn(a @ theta, b @ theta, y).backward()
            single = theta.grad.clone()
            theta.grad = None
            loss_fn(a[sl] @ theta, b[sl] @ theta, y[sl], distributed=True).backward()
            dist.all_reduce(theta.grad)
            torch.testing.assert_close(theta.grad / WORLD, single, rtol=1e-10, atol=1e-12)
        local = nt_xent_loss(a[sl], b[sl], temperature=0.3)  # the default ignores the group
        assert not torch.isclose(local, nt_xent_loss(a, b, temperature=0.3)), "default is local"
        _gradient_penalty_checks(rank)
        _sinkhorn_checks(rank)
    finally:
        dist.destroy_process_group()


def _gradient_penalty_checks(rank: int) -> None:
    """A gradient penalty through the gathered losses: double backward across ranks.

    Rank r's first-order gradient is ``R * dL/dz`` on its rows (R = world size, L the loss of
    the concatenated batch), so its penalty ``P_r = ||grad_r||^2`` sums over ranks to
    ``R**2 * ||dL/dz||^2``; the collectives' backward (gradient of the sum over ranks) hands
    each rank ``R**2`` times the single-process gradient of ``||dL/dz||^2`` on its rows.
    """
    from reptutor.losses import class_conditional_info_nce_loss, info_nce_loss, nt_xent_loss

    a, b, y = _data()
    sl = SHARDS[rank]
    for name, fn in (("info_nce", lambda p, q, yy, **kw: info_nce_loss(p, q, temperature=0.3, **kw)),
                     ("nt_xent", lambda p, q, yy, **kw: nt_xent_loss(p, q, temperature=0.3, **kw)),
                     ("cond_info_nce", lambda p, q, yy, **kw: class_conditional_info_nce_loss(
                         p, q, yy, temperature=0.3, **kw))):
        for chunk in (None, 3):
            where = f"gradient penalty {name}, chunk_size={chunk}, rank {rank}"
            fa, fb = a.clone().requires_grad_(), b.clone().requires_grad_()
            ga, gb = torch.autograd.grad(fn(fa, fb, y, chunk_size=chunk), (fa, fb), create_graph=True)
            ref = torch.autograd.grad(ga.pow(2).sum() + gb.pow(2).sum(), (fa, fb))
            la, lb = a[sl].clone().requires_grad_(), b[sl].clone().requires_grad_()
            loss = fn(la, lb, y[sl], chunk_size=chunk, distributed=True)
            ga, gb = torch.autograd.grad(loss, (la, lb), create_graph=True)
            got = torch.autograd.grad(ga.pow(2).sum() + gb.pow(2).sum(), (la, lb))
            for g, want in zip(got, ref):
                torch.testing.assert_close(g, WORLD**2 * want[sl], rtol=1e-9, atol=1e-11, msg=where)


def _sinkhorn_checks(rank: int) -> None:
    """Sinkhorn with rows split over ranks equals Sinkhorn on the concatenated rows."""
    from reptutor.solvers import sinkhorn_knopp

    sl = SHARDS[rank]
    g = torch.Generator().manual_seed(1)
    log_p = torch.randn(N, 3, generator=g, dtype=torch.float64).mul(2.0).log_softmax(1)
    log_pb = torch.randn(2, N, 3, generator=g, dtype=torch.float64).log_softmax(-1)  # batched
    weights = torch.randn(N, 3, generator=g, dtype=torch.float64)
    c = torch.rand(N, generator=g, dtype=torch.float64) + 0.5
    c = c / c.sum()
    close = dict(rtol=1e-10, atol=1e-13)
    for method in ("log", "scaling"):
        for kw in (dict(tol=None, max_iter=3), dict(tol=1e-9, max_iter=500)):
            where = f"sinkhorn {method} {kw}, rank {rank}"
            full = log_p.clone().requires_grad_()
            ref = sinkhorn_knopp(full, lam=5.0, method=method, distributed=False, **kw)
            (ref.plan * weights).sum().backward()
            mine = log_p[sl].clone().requires_grad_()
            res = sinkhorn_knopp(mine, lam=5.0, method=method, distributed=True, **kw)
            assert res.n_iter == ref.n_iter and res.converged == ref.converged, where
            torch.testing.assert_close(res.plan, ref.plan[sl], **close, msg=where)
            torch.testing.assert_close(res.log_beta, ref.log_beta[sl], **close, msg=where)
            torch.testing.assert_close(res.log_alpha, ref.log_alpha, **close, msg=where)
            torch.testing.assert_close(res.marginal_error, ref.marginal_error, rtol=1e-6,
                                       atol=1e-15, msg=where)
            # each rank's loss is its rows' share of the global objective; the collective's
            # backward sums over ranks, so the gradient is the single-process gradient's rows.
            (res.plan * weights[sl]).sum().backward()
            torch.testing.assert_close(mine.grad, full.grad[sl], **close, msg=f"grad {where}")
        # a non-uniform sample marginal, split like the rows; and a batch of problems
        ref_c = sinkhorn_knopp(log_p, lam=5.0, c=c, method=method, distributed=False)
        res = sinkhorn_knopp(log_p[sl], lam=5.0, c=c[sl], method=method, distributed=True)
        torch.testing.assert_close(res.plan, ref_c.plan[sl], **close)
        ref_b = sinkhorn_knopp(log_pb, lam=5.0, tol=None, max_iter=3, method=method,
                               distributed=False)
        res = sinkhorn_knopp(log_pb[:, sl], lam=5.0, tol=None, max_iter=3, method=method,
                             distributed=True)
        torch.testing.assert_close(res.plan, ref_b.plan[:, sl], **close)
        # the default (distributed=False) solves the local rows alone: their own
        # equipartition, a different plan
        alone = sinkhorn_knopp(log_p[sl], lam=5.0, method=method)
        torch.testing.assert_close(alone.plan.sum(0), torch.full((3,), 1 / 3, dtype=torch.float64),
                                   rtol=0, atol=1e-5)
        shared = sinkhorn_knopp(log_p, lam=5.0, method=method, distributed=False).plan[sl]
        assert not torch.allclose(alone.plan, shared), "opt-out is local"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                    reason="torch built without the gloo backend")
def test_two_gloo_ranks_equal_single_process():
    # fork (where the platform has it): the workers inherit the imported torch instead of
    # paying its import again, which on a loaded 2-core machine is most of the test's time.
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    ctx = mp.start_processes(_worker, args=(_free_port(),), nprocs=WORLD, join=False,
                             start_method=method)
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not ctx.join(timeout=max(0.1, deadline - time.monotonic())):
            if time.monotonic() > deadline:
                pytest.fail(f"distributed workers did not finish within {TIMEOUT_S} s")
    finally:
        for p in ctx.processes:  # only the two workers this test started
            if p.is_alive():
                p.kill()
                p.join()


def test_the_maybe_distributed_option_has_one_name_and_one_default():
    # One idiom everywhere: a public callable that can use a process group takes
    # ``distributed: bool = False`` (it was ``gather_distributed=True`` in the contrastive losses
    # and ``distributed=True`` in Sinkhorn). Off by default: a collective that only some ranks
    # reach (a loss logged on rank 0) would block.
    import importlib
    import inspect

    found = []
    for sub in ("losses", "estimators", "solvers", "metrics", "data", "models"):
        mod = importlib.import_module(f"reptutor.{sub}")
        for name in mod.__all__:
            obj = getattr(mod, name)
            if not callable(obj):
                continue
            try:
                params = inspect.signature(obj).parameters
            except (TypeError, ValueError):
                continue
            for p in params.values():
                if "distributed" in p.name or "gather" in p.name:
                    found.append(name)
                    where = f"{sub}.{name}({p.name}=...)"
                    assert p.name == "distributed", where
                    assert p.default is False, where
                    assert p.kind is p.KEYWORD_ONLY, where
    assert {"info_nce_loss", "nt_xent_loss", "supcon_loss", "class_conditional_info_nce_loss",
            "InfoNCELoss", "NTXentLoss", "SupConLoss", "ClassConditionalInfoNCELoss",
            "sinkhorn_knopp"} <= set(found)
