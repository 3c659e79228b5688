"""The ``reduction=`` argument shared by every per-sample loss and estimator (private).

``"mean"`` averages the per-sample values, ``"sum"`` adds them, ``"none"`` returns them as they are.
Under a :mod:`torch.distributed` group (``distributed=True``, set by the caller only when a group is
active) the sum and the mean run over the values of all ranks.
"""
from __future__ import annotations

import torch

from reptutor import _distributed

REDUCTIONS = ("mean", "sum", "none")


def reduce(values: torch.Tensor, reduction: str, *, distributed: bool = False,
           count: int | None = None) -> torch.Tensor:
    """Apply a validated ``reduction`` (one of :data:`REDUCTIONS`) to per-sample ``values``.

    Args:
        values: the per-sample values of this rank.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.
        distributed: sum over the values of all ranks (a gradient-carrying all-reduce, see
            :mod:`reptutor._distributed`); the caller passes ``_distributed.is_active()`` and the
            user's option combined.
        count: the number of values the mean divides by, when it is not ``values.numel()``
            (SupCon leaves out anchors without a positive); required with ``distributed`` (all
            ranks' values).
    """
    if reduction == "none":
        return values
    if not distributed and count is None:
        return values.mean() if reduction == "mean" else values.sum()
    total = values.sum()
    if distributed:
        assert count is not None or reduction == "sum", "a distributed mean needs the global count"
        total = _distributed.all_reduce_sum(total)
    if reduction == "sum":
        return total
    return total / count
