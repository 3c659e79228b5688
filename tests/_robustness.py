r"""The vocabulary of the robustness checks: a :class:`Case` per public loss or estimator, and a
:class:`LinalgCase` per public function that reaches linear algebra.

A test module declares, for the public names of the library module it mirrors,

* ``ROBUSTNESS``: ``{name: Case(...)}`` (valid float32 inputs, how they are pushed to
  :math:`10^4`, what the value must then be, the bf16 tolerance); a one-line ``nn.Module``
  wrapper is declared as ``wraps("its_function")`` and a public callable that computes no number
  from tensors (an update, a schedule, a mask) as ``not_numeric("why")``;
* ``LINALG``: ``{"subpackage.name": LinalgCase(...)}`` for each function whose code reaches a
  factorisation, ``cdist`` or ``lstsq`` (half-precision inputs and the ``meta`` device).

``tests/test_robustness.py`` collects them; its docstring states the checks and the tolerances
(depth and scale of the bf16 bound). Test modules import this module as ``import _robustness as R``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from _helpers import gen
from _helpers import randn as _randn

F32, F64 = torch.float32, torch.float64
BIG = 1e4  # the magnitude large inputs are pushed to
N, D = 8, 5  # the default batch: N samples of dimension D
LABELS = torch.tensor([0, 1, 0, 2, 1, 0, 2, 1])  # N labels, three classes


@dataclass(frozen=True)
class Case:
    """One public function with valid inputs.

    make(dtype) -> differentiable input tensors; call(*xs, t) -> scalar (t=None: defaults);
    big: "scale" | "add" (how inputs are pushed to 1e4); expect(ref, xs) -> the value the big
    input must give (None: no claim, finiteness only); tau: whether t applies;
    bf16: (depth, scale(xs, out)) for the autocast tolerance ``depth * u * scale``.
    """

    make: Callable[[torch.dtype], tuple]
    call: Callable[..., torch.Tensor]
    big: str
    expect: Callable | None
    bf16: tuple[float, Callable]
    tau: bool = True
    logit_scale: Callable = field(default=lambda xs: 1.0)  # S for the "scale" tolerance
    overflows_to_minus_inf: bool = False  # documented limit (NWJ)
    centred: bool = False  # "add" inputs go through a centring before quadratic terms


@dataclass(frozen=True)
class Wraps:
    """A public ``nn.Module`` whose forward is one line over ``function`` (itself a Case)."""

    function: str


@dataclass(frozen=True)
class NotNumeric:
    """A public callable that computes no number from tensors (an update, a schedule, a mask)."""

    why: str


def wraps(function: str) -> Wraps:
    return Wraps(function)


def not_numeric(why: str) -> NotNumeric:
    return NotNumeric(why)


@dataclass(frozen=True)
class LinalgCase:
    """``call(*xs)`` on ``make(dtype)``; ``exact``: equal to float32 on the same values, rounded."""

    make: Callable[[torch.dtype], tuple]
    call: Callable[..., object]
    exact: bool = True
    meta: str = "reject"  # "reject" (ValueError naming the argument) | "support" | "n/a: why"
    meta_call: Callable[..., object] | None = None  # call with every tensor on meta (labels too)


SAME = lambda ref, xs: ref  # noqa: E731  the math says: invariant
VALUE = lambda xs, out: abs(float(out))  # noqa: E731  bf16 scale = |value| (no matmul)


def randn(*shape: int, seed: int, dtype: torch.dtype) -> torch.Tensor:
    return _randn(*shape, seed=seed, dtype=dtype)


def pair(dtype):  # two correlated views, (N, D) each
    a = randn(N, D, seed=1, dtype=dtype)
    return a, a + 0.5 * randn(N, D, seed=2, dtype=dtype)


def spd(dtype, d=4):
    m = randn(d, d, seed=3, dtype=dtype)
    return m @ m.T / d + 0.5 * torch.eye(d, dtype=dtype)  # well conditioned, correlated


def seqs(dtype, n=4, t=3, d=3, seed=4):
    a = randn(n, t, d, seed=seed, dtype=dtype)
    return a, a + 0.5 * randn(n, t, d, seed=seed + 1, dtype=dtype)


def norms(x):
    return float(torch.linalg.vector_norm(x.detach().double(), dim=-1).max())


def swept(t, default):
    """The swept value ``t`` (temperature, score or data scale), or ``default`` (t=None)."""
    return default if t is None else t


def sum_fields(res) -> torch.Tensor:
    """The sum of every floating tensor field of a NamedTuple result: one scalar to check."""
    return sum(v.sum() for v in res if isinstance(v, torch.Tensor) and v.is_floating_point())


def scores_case(fn, expect, *, k=6, seed=5, **kw):
    """An estimator of a (K, K) critic matrix: scores + 1e4, the sweep divides the scores."""
    return Case(make=lambda dt: (randn(k, k, seed=seed, dtype=dt),),
                call=lambda f, t=None: fn(f / swept(t, 1.0)), big="add", expect=expect,
                bf16=(1, VALUE), **kw)


def cosine(fn, tau0, depth=3, make=None):
    """A loss on L2-normalised embeddings (default: :func:`pair`) at temperature ``tau0``."""
    return Case(make=make or (lambda dt: pair(dt)),
                call=lambda *xs, t=None: fn(*xs, temperature=swept(t, tau0)),
                big="scale", expect=SAME, bf16=(depth, lambda xs, out: 1 / tau0),
                logit_scale=lambda xs: depth / tau0)


def raw_seq(fn, tau0=1.0, depth=3, n_in=2, **kw):
    """A loss on raw dot products of (N, T, D) sequences: large inputs must stay finite."""
    def make(dt):
        a, b = seqs(dt)
        c, d = seqs(dt, seed=7)
        return (a, b, c, d)[:n_in]

    def scale(xs, out):
        pooled = [x.mean(1) for x in xs]  # the global term's operands are time means
        return max(norms(xs[0]) * norms(xs[1]), norms(pooled[0]) * norms(pooled[1])) / tau0
    return Case(make=make, call=lambda *xs, t=None: fn(*xs, temperature=swept(t, tau0), **kw),
                big="scale", expect=None, bf16=(depth, scale))

