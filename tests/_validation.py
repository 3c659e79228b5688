"""The vocabulary of the validation matrix: bad-input cells, entries, and small valid inputs.

A test module declares, for each public callable of the library module it mirrors, one
:class:`Entry` in a module-level list ``VALIDATION``: a function returning valid keyword
arguments, the cells (:class:`Bad`, built with :func:`rank`, :func:`shape`, :func:`choice`,
...) that corrupt exactly one thing about them, and a written reason for each applicable kind
that does not apply (``na``). ``tests/test_validation_matrix.py`` collects every module's list
and runs the cells; its docstring says how to add a public function. Test modules import this
module as ``import _validation as V`` (``tests/`` is on ``sys.path`` under pytest).
"""
from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from _helpers import gen
from _helpers import randn as _randn

KINDS = (
    "rank", "shape", "empty", "nonfinite", "nonpositive", "labels-range", "labels-dtype",
    "dtype-mismatch", "device-mismatch", "choice", "type", "range",
)
REDUCTIONS = ("mean", "sum", "none")
TRANSFORM_MODES = ("invariant", "distinctive")
FORMS = ("auto", "features", "samples")  # which side of the Gram matrix (Barlow, MCR2)


# --------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bad:
    """One bad input: which argument, how it is corrupted, what error and message to expect."""

    kind: str
    arg: str
    corrupt: Callable[[dict], dict]  # valid kwargs -> kwargs with exactly one thing wrong
    match: str | Callable[[dict], str]  # a pattern, or valid kwargs -> pattern
    error: type[Exception] = ValueError
    gap: str | None = None  # a known library gap (strict xfail), with the reason


def named(arg: str) -> str:
    # the argument's name as a word of its own ("z" must not match inside "z_a" or "size")
    return r"(?<![\w.\[])" + re.escape(arg) + r"(?![\w])"


def all_of(*patterns: str) -> str:
    # every pattern somewhere in the message, in any order
    return "(?s)" + "".join(f"(?=.*(?:{p}))" for p in patterns)


def _shape(x: torch.Tensor) -> str:
    return re.escape(str(tuple(x.shape)))


def _num(value: float) -> str:
    # _checks prints integers as "0" and floats as "0.0"; accept either spelling of the value
    return re.escape(str(int(value))) + r"(\.0)?\b"


def replace(kw: dict, **new: Any) -> dict:
    out = dict(kw)
    out.update(new)
    return out


def _nan(x: torch.Tensor) -> torch.Tensor:
    y = x.detach().clone()
    y.view(-1)[0] = float("nan")
    return y


def rank(arg: str, bad: Callable[[torch.Tensor], torch.Tensor] | None = None, **kw: Any) -> Bad:
    """``arg`` with two extra leading dims (or ``bad(x)``): message names arg and received shape."""
    bad = bad or (lambda x: x[None, None])

    def corrupt(k: dict) -> dict:
        return replace(k, **{arg: bad(k[arg])})

    def match(k: dict) -> str:
        return all_of(named(arg), _shape(bad(k[arg])))

    return Bad("rank", arg, corrupt, match, **kw)


def shape(arg: str, bad: Callable[[dict], Any], **kw: Any) -> Bad:
    """``arg`` replaced by ``bad(kwargs)`` of a mismatched shape: names arg and received shape."""

    def corrupt(k: dict) -> dict:
        return replace(k, **{arg: bad(k)})

    def match(k: dict) -> str:
        value, good = bad(k), k.get(arg)
        parts = [named(arg)]
        if isinstance(value, torch.Tensor):
            # the received shape, or one of the sizes that differ from the valid input's
            sizes = {str(b) for a, b in zip(getattr(good, "shape", ()), value.shape) if a != b}
            parts.append("|".join([_shape(value), *(rf"\b{n}\b" for n in sorted(sizes))]))
        return all_of(*parts)

    return Bad("shape", arg, corrupt, match, **kw)


def empty(arg: str, *also: str, **kw: Any) -> Bad:
    """``arg`` (and the arguments sharing its sample axis) with zero rows."""

    def corrupt(k: dict) -> dict:
        return replace(k, **{a: k[a][:0] for a in (arg, *also)})

    return Bad("empty", arg, corrupt, all_of(named(arg), r"empty|at least", r"\(0[,)]"), **kw)


def nonfinite(arg: str, **kw: Any) -> Bad:
    """A NaN in ``arg``: the message names arg and says NaN."""
    return Bad("nonfinite", arg, lambda k: replace(k, **{arg: _nan(k[arg])}),
               all_of(named(arg), "(?i:nan)"), **kw)


def nonpositive(arg: str, value: float = 0, **kw: Any) -> Bad:
    """``arg=value`` at or below its bound: names arg, the bound (``>`` / ``>=``), the value."""
    return Bad("nonpositive", arg, lambda k: replace(k, **{arg: value}),
               all_of(named(arg), r">|positive", "got " + ("-" if value < 0 else "") + _num(abs(value))),
               **kw)


def labels_range(arg: str, value: int = -1, **fixed: Any) -> Bad:
    """One label set to ``value`` (negative, or the number of classes given in ``fixed``)."""
    kw = {k: fixed.pop(k) for k in ("error", "gap") if k in fixed}

    def corrupt(k: dict) -> dict:
        y = k[arg].clone()
        y.view(-1)[0] = value
        return replace(k, **{arg: y}, **fixed)

    expect = "non-negative" if value < 0 else "<"
    return Bad("labels-range", arg, corrupt,
               all_of(named(arg), expect, r"got (minimum|maximum) " + re.escape(str(value))), **kw)


def labels_dtype(arg: str, **kw: Any) -> Bad:
    """Float labels: names arg, asks for an integer dtype, names the received dtype."""
    kw.setdefault("error", TypeError)
    return Bad("labels-dtype", arg, lambda k: replace(k, **{arg: k[arg].float()}),
               all_of(named(arg), "integer", "float32"), **kw)


def dtype_mismatch(a: str, b: str, **kw: Any) -> Bad:
    """``b`` in float64 while ``a`` is float32: names both and both dtypes."""
    kw.setdefault("error", TypeError)
    return Bad("dtype-mismatch", b, lambda k: replace(k, **{b: k[b].double()}),
               all_of(named(a), named(b), "dtype", "float32", "float64"), **kw)


def device_mismatch(a: str, b: str, **kw: Any) -> Bad:
    """``b`` on the meta device: names both arguments and the received device."""
    return Bad("device-mismatch", b, lambda k: replace(k, **{b: k[b].to("meta")}),
               all_of(named(a), named(b), "device", "meta"), **kw)


def choice(arg: str, options: tuple, bad: Any = "bogus", shown: str = "bogus", **kw: Any) -> Bad:
    """An invalid option: names arg, the bad value (``shown``) and *every* valid option."""
    return Bad("choice", arg, lambda k: replace(k, **{arg: bad}),
               all_of(named(arg), "one of", re.escape(repr(shown)),
                       *(re.escape(repr(o)) for o in options)), **kw)


def wrong_type(arg: str, bad: Callable[[Any], Any] | None = None, expect: str = "torch.Tensor",
               **kw: Any) -> Bad:
    """A list (default: ``x.tolist()``) or another wrong type: names arg and what was expected."""
    bad = bad or (lambda x: x.tolist())
    kw.setdefault("error", TypeError)
    return Bad("type", arg, lambda k: replace(k, **{arg: bad(k[arg])}),
               all_of(named(arg), re.escape(expect)), **kw)


def number_type(arg: str, **kw: Any) -> Bad:
    """A numeric hyper-parameter passed as a string: names arg and asks for a real number."""
    return wrong_type(arg, lambda x: str(x), "real number", **kw)


def boolean(*args: str) -> tuple[Bad, ...]:
    """A string ``"yes"`` for each bool option: names arg, asks for a bool, shows ``'yes'``."""
    return tuple(Bad("type", arg, lambda k, arg=arg: replace(k, **{arg: "yes"}),
                     all_of(named(arg), "must be a bool", "str 'yes'"), error=TypeError)
                 for arg in args)


def out_of_range(arg: str, value: Any, *expect: str, **kw: Any) -> Bad:
    """``arg=value`` outside its allowed interval: names arg, the bound text(s), the value."""
    return Bad("range", arg, lambda k: replace(k, **{arg: value}),
               all_of(named(arg), *expect, "got " + re.escape(str(value))), **kw)


def custom(kind: str, arg: str, value: Callable[[dict], Any], match: str, **kw: Any) -> Bad:
    """Any other corruption of ``arg`` with an explicit message pattern."""
    return Bad(kind, arg, lambda k: replace(k, **{arg: value(k)}), match, **kw)


def match_of(cell: Bad, kwargs: dict) -> str:
    return cell.match(kwargs) if callable(cell.match) else cell.match


# --------------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------------
@dataclass
class Entry:
    """One public callable: how to call it validly, its bad-input cells, its n/a kinds."""

    name: str  # "losses.info_nce_loss" (qualified with "reptutor." in ids)
    valid: Callable[[], dict]
    cells: tuple[Bad, ...]
    na: dict[str, str] = field(default_factory=dict)  # kind -> why it does not apply
    ctor: tuple[str, ...] = ()  # for classes: kwargs that go to the constructor
    method: str = "__call__"  # for classes: the method called with the remaining kwargs
    call_valid: bool = True  # False: the valid call has global side effects (reason in na)

    @property
    def obj(self) -> Any:
        module, _, attr = self.name.rpartition(".")
        return getattr(importlib.import_module(f"reptutor.{module}"), attr)

    def call(self, kwargs: dict) -> Any:
        obj = self.obj
        if not inspect.isclass(obj):
            return obj(**kwargs)
        instance = obj(**{k: v for k, v in kwargs.items() if k in self.ctor})
        rest = {k: v for k, v in kwargs.items() if k not in self.ctor}
        return getattr(instance, self.method)(**rest)



# --------------------------------------------------------------------------------------------
# Valid inputs shared by several modules' entries (float32: the dtype-mismatch cells add float64)
# --------------------------------------------------------------------------------------------
def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    """Standard normal float32 draws of ``shape`` from ``gen(seed)``."""
    return _randn(*shape, seed=seed, dtype=torch.float32)


def labels(n: int, k: int, seed: int = 0) -> torch.Tensor:
    """``n`` labels in ``0..k-1``, every class present, in a seeded random order."""
    y = torch.arange(n) % k  # every class present
    return y[torch.randperm(n, generator=gen(seed))]


def spd(d: int, seed: int = 0) -> torch.Tensor:
    """A well-conditioned ``(D, D)`` covariance."""
    a = randn(2 * d, d, seed=seed)
    return a.T @ a / (2 * d) + 0.1 * torch.eye(d)  # (D, D) well-conditioned covariance


def pair(n: int = 8, d: int = 4) -> dict:
    """Valid ``z_a, z_b`` keyword arguments of a two-view loss, ``(N, D)`` each."""
    return {"z_a": randn(n, d, seed=1), "z_b": randn(n, d, seed=2)}


def pair_cells(a: str = "z_a", b: str = "z_b", *, feature_dim: int = -1) -> tuple[Bad, ...]:
    """rank, shape (b loses one feature), empty, nonfinite, dtype, device, type for an (a, b) pair."""
    return (
        rank(a),
        shape(b, lambda k: k[b].narrow(feature_dim, 0, k[b].shape[feature_dim] - 1)),
        empty(a, b),
        nonfinite(a),
        nonfinite(b),
        dtype_mismatch(a, b),
        device_mismatch(a, b),
        wrong_type(a),
    )


def scenes() -> dict:
    """Two 16x16 scenes with boxes, and one random resized crop (8x8) of them."""
    from reptutor.data import make_scenes, random_resized_crop

    s = make_scenes(2, gen(), image_size=16, min_size=4.0, max_size=6.0)
    v = random_resized_crop(s.x, gen(1), output_size=8)
    return {"images": s.x, "boxes": s.boxes, "crop": v.crop, "flip": v.flip, "output_size": 8}


def pick(d: dict, *names: str, **extra: Any) -> dict:
    """The ``names`` of ``d`` (plus ``extra``): a valid call's arguments out of a shared input."""
    out = {n: d[n] for n in names}
    out.update(extra)
    return out
