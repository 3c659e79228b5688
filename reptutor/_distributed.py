r"""Gradient-carrying collectives for losses whose candidates span all ranks (private).

A contrastive loss under data parallelism must see the embeddings of every rank as candidates,
and the gradient of a rank's loss must reach the embeddings of the *other* ranks. Here:

* :func:`gather_rows` concatenates the rows of all ranks in rank order. Its backward all-reduces
  (sums) the incoming gradient over ranks and returns this rank's slice: the gradient of the sum
  of every rank's loss with respect to this rank's rows. Ranks may hold different numbers of
  rows (they are padded to the largest for the collective).
* :func:`all_reduce_sum` sums a tensor over ranks; its backward sums the incoming gradients over
  ranks too.

Both follow the convention of ``torch.distributed.nn``: the backward of a collective is the
gradient of the sum of all ranks' outputs. When every rank returns the same global loss
:math:`L`, each rank's inputs therefore receive ``world_size`` times :math:`\partial L/\partial z`;
``DistributedDataParallel`` averages gradients over ranks, which divides it back.

:func:`is_active` is the only switch: with no initialised group, or a group of one rank, the
losses never call a collective. Every public function that can use the group takes
``distributed: bool = False`` (off by default: a collective that only some ranks reach, e.g. a
loss logged on rank 0, would wait forever) and acts on ``distributed and is_active()``.
:class:`Ranks` bundles the cross-rank reductions for code that needs several of them.

The backward of each collective is written with the collectives themselves (as in
``torch.distributed.nn``), so it is differentiable again: second derivatives (a gradient penalty
under data parallelism) follow the same sum-over-ranks convention.
"""
from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = ["is_active", "gather_rows", "gather_labels", "all_reduce_sum", "all_reduce_max",
           "total_rows", "Ranks"]


def is_active() -> bool:
    """True when a :mod:`torch.distributed` group with more than one rank is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _row_counts(n_local: int, device: torch.device) -> list[int]:
    """The number of rows every rank holds (one small all-gather)."""
    mine = torch.tensor([n_local], dtype=torch.long, device=device)
    counts = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, mine)
    return [int(c) for c in counts]


def _gather_padded(x: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """All-gather rows of possibly different counts: pad to the largest, gather, then unpad."""
    largest = max(counts)
    if x.shape[0] < largest:
        pad = x.new_zeros((largest - x.shape[0],) + tuple(x.shape[1:]))
        x = torch.cat([x, pad])
    parts = [torch.empty_like(x) for _ in counts]
    dist.all_gather(parts, x.contiguous())
    return torch.cat([p[:c] for p, c in zip(parts, counts)])


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, counts):  # type: ignore[override]
        ctx.counts = counts
        ctx.rank = dist.get_rank()
        return _gather_padded(x, counts)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        # The rows of this rank were used by every rank's loss: sum the gradients over ranks,
        # then keep this rank's slice. Written with _AllReduceSum (not an in-place all_reduce)
        # so that under create_graph=True the result is differentiable again.
        grad = _AllReduceSum.apply(grad)
        start = sum(ctx.counts[: ctx.rank])
        return grad[start : start + ctx.counts[ctx.rank]], None


def total_rows(n_local: int, device: torch.device) -> int:
    """The number of rows over all ranks, when each rank holds ``n_local``."""
    return sum(_row_counts(n_local, device))


def gather_rows(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Concatenate ``x`` (n_r, ...) of all ranks in rank order, with a gradient to each rank.

    Returns:
        The gathered tensor (sum of n_r, ...) and the offset of this rank's rows in it.
    """
    counts = _row_counts(x.shape[0], x.device)
    offset = sum(counts[: dist.get_rank()])
    return _GatherRows.apply(x, counts), offset


def gather_labels(y: torch.Tensor) -> torch.Tensor:
    """Concatenate the (n_r,) integer labels of all ranks in rank order (no gradient)."""
    counts = _row_counts(y.shape[0], y.device)
    return _gather_padded(y, counts)


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        out = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        # d(sum over ranks of outputs)/dx is the all-reduce of the incoming gradients; applying
        # the function itself keeps it differentiable (double backward, create_graph=True).
        return _AllReduceSum.apply(grad)


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum ``x`` over ranks; the backward sums the incoming gradients over ranks."""
    return _AllReduceSum.apply(x)


def all_reduce_max(x: torch.Tensor) -> torch.Tensor:
    """Element-wise maximum of ``x`` over ranks, detached (for constants that cancel out)."""
    out = x.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.MAX)
    return out


class Ranks:
    """The cross-rank reductions of an algorithm over rows split across ranks.

    Each is the identity when not ``active`` (no group, one rank, or ``distributed=False``), so
    the algorithm is written once: ``ranks = Ranks(distributed and is_active())``.
    """

    def __init__(self, active: bool) -> None:
        self.active = active

    def total(self, n: int, device: torch.device) -> int:
        """The number of rows over all ranks when this rank holds ``n``."""
        return total_rows(n, device) if self.active else n

    def sum(self, x: torch.Tensor) -> torch.Tensor:
        """Sum over ranks, with a gradient (the sum of the ranks' incoming gradients)."""
        return all_reduce_sum(x) if self.active else x

    def max(self, x: torch.Tensor) -> torch.Tensor:
        """Maximum over ranks, no gradient (used for constants that cancel out)."""
        return all_reduce_max(x) if self.active else x

    def logsumexp(self, x: torch.Tensor) -> torch.Tensor:
        """``log(sum over ranks of exp(x))``, element-wise, with a gradient."""
        if not self.active:
            return x
        m = self.max(x)
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        return m + self.sum(torch.exp(x - m)).log()
