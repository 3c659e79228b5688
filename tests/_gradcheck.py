"""The vocabulary of the double-backward table: small float64 inputs and the case builders.

A test module declares, for each public function of the losses / estimators module it mirrors,
an entry of its module-level ``SECOND_ORDER`` dict::

    SECOND_ORDER = {
        "vicreg_loss": ("exact", lambda: G.one(L.vicreg_loss, *G.pair_xy(7, 3, seed=9))),
        "view_pairs": ("none", "a list of index pairs: nothing to differentiate"),
    }

``"exact"``: float64 ``gradgradcheck`` passes on every case the builder returns (also with
``chunk_size`` set where the function takes one: use :func:`chunked`); ``"raises"``: double
backward raises a ``RuntimeError`` naming the function; ``"none"``: the function computes no
differentiable number (the second element is the reason). ``tests/test_gradcheck_all.py``
collects the dicts. Test modules import this module as ``import _gradcheck as G``.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from _helpers import randn

F64 = torch.float64


def x(*shape: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    """A float64 leaf of ``shape`` (``scale`` times standard normal) that requires grad."""
    return randn(*shape, seed=seed, scale=scale).requires_grad_(True)


def pair_xy(n: int = 5, d: int = 3, seed: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent ``(N, D)`` leaves, seeds ``seed`` and ``seed + 1``."""
    return x(n, d, seed=seed), x(n, d, seed=seed + 1)


def spd(v: torch.Tensor) -> torch.Tensor:
    """A symmetric positive-definite matrix from free entries (gradcheck moves one at a time)."""
    return v @ v.T + 0.5 * torch.eye(v.shape[0], dtype=F64)


def one(fn: Callable, *inputs: torch.Tensor) -> list[tuple[str, Callable, tuple]]:
    """A single case: ``fn(*inputs)``."""
    return [("", fn, inputs)]


def chunked(fn: Callable, *inputs: torch.Tensor) -> list[tuple[str, Callable, tuple]]:
    """Cases for a function with chunk_size: dense, and streamed in blocks of 2 rows."""
    return [(f"chunk_size={c}", lambda *v, c=c: fn(*v, chunk_size=c), inputs) for c in (None, 2)]
