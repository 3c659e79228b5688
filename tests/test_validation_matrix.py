"""The validation matrix: every public callable x every kind of bad input.

A declarative registry (:data:`REGISTRY`) holds, for each public callable of ``reptutor``, a set of
valid example arguments and the *cells* that corrupt exactly one thing about them. Each cell is one
parametrized test with id ``"<qualified.name>-<kind>"`` (``":<arg>"`` is appended when one function
has several cells of one kind) that asserts the error type and a message naming the argument and
what was expected or received (house style, STYLE.md section 7).

Kinds (:data:`KINDS`):

* ``rank``: a tensor with the wrong number of dimensions;
* ``shape``: a mismatched pair or a wrong feature / view / class size;
* ``empty``: zero samples;
* ``nonfinite``: a NaN in a floating-point tensor input;
* ``nonpositive``: a numeric hyper-parameter at or below its lower bound (temperature, eps, k, n...);
* ``labels-range``, ``labels-dtype``: labels out of range, or not of an integer dtype;
* ``dtype-mismatch``, ``device-mismatch``: two tensors that disagree (``device="meta"``: no GPU);
* ``choice``: an invalid string option (the message must list every valid option);
* ``type``: a list / None / string where a tensor, number, module or generator is expected;
* ``range``: a value outside an interval or set that is not a positivity bound (a correlation
  of 1, a probability of 1.5, an index past the end, a malformed id). Never required by the
  signature reading; recorded where the function has such a constraint.

Which kinds *apply* to a callable is read off its signature (:func:`applicable_kinds`); every kind
that applies has either at least one cell or a written reason in the entry's ``na``; the meta-tests
fail when a public callable is missing from the registry or an applicable kind is neither tested
nor explained. ``tools/validation_table.py`` turns the collected ids into the table of the
reliability note.

Cells marked ``gap=...`` are known library gaps in modules another engineer owns right now
(``reptutor/solvers/sinkhorn.py``); they run as strict xfails, so a fix flips them to failures
that ask for the mark to be removed.
"""
from __future__ import annotations

import importlib
import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch import nn

import reptutor
from reptutor import claims, runtime, train

KINDS = (
    "rank", "shape", "empty", "nonfinite", "nonpositive", "labels-range", "labels-dtype",
    "dtype-mismatch", "device-mismatch", "choice", "type", "range",
)
SUBPACKAGES = ("losses", "estimators", "solvers", "metrics", "data", "models")
#: Single public callables outside the subpackages (functions of runtime that take arguments).
EXTRA_CALLABLES = (
    "train.fit", "train.iterate_minibatches", "claims.check", "claims.records", "claims.summary",
    "runtime.pick", "runtime.seed_everything", "runtime.generator", "runtime.glue",
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


def _named(arg: str) -> str:
    # the argument's name as a word of its own ("z" must not match inside "z_a" or "size")
    return r"(?<![\w.\[])" + re.escape(arg) + r"(?![\w])"


def _all_of(*patterns: str) -> str:
    # every pattern somewhere in the message, in any order
    return "(?s)" + "".join(f"(?=.*(?:{p}))" for p in patterns)


def _shape(x: torch.Tensor) -> str:
    return re.escape(str(tuple(x.shape)))


def _num(value: float) -> str:
    # _checks prints integers as "0" and floats as "0.0"; accept either spelling of the value
    return re.escape(str(int(value))) + r"(\.0)?\b"


def _replace(kw: dict, **new: Any) -> dict:
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
        return _replace(k, **{arg: bad(k[arg])})

    def match(k: dict) -> str:
        return _all_of(_named(arg), _shape(bad(k[arg])))

    return Bad("rank", arg, corrupt, match, **kw)


def shape(arg: str, bad: Callable[[dict], Any], **kw: Any) -> Bad:
    """``arg`` replaced by ``bad(kwargs)`` of a mismatched shape: names arg and received shape."""

    def corrupt(k: dict) -> dict:
        return _replace(k, **{arg: bad(k)})

    def match(k: dict) -> str:
        value, good = bad(k), k.get(arg)
        parts = [_named(arg)]
        if isinstance(value, torch.Tensor):
            # the received shape, or one of the sizes that differ from the valid input's
            sizes = {str(b) for a, b in zip(getattr(good, "shape", ()), value.shape) if a != b}
            parts.append("|".join([_shape(value), *(rf"\b{n}\b" for n in sorted(sizes))]))
        return _all_of(*parts)

    return Bad("shape", arg, corrupt, match, **kw)


def empty(arg: str, *also: str, **kw: Any) -> Bad:
    """``arg`` (and the arguments sharing its sample axis) with zero rows."""

    def corrupt(k: dict) -> dict:
        return _replace(k, **{a: k[a][:0] for a in (arg, *also)})

    return Bad("empty", arg, corrupt, _all_of(_named(arg), r"empty|at least", r"\(0[,)]"), **kw)


def nonfinite(arg: str, **kw: Any) -> Bad:
    """A NaN in ``arg``: the message names arg and says NaN."""
    return Bad("nonfinite", arg, lambda k: _replace(k, **{arg: _nan(k[arg])}),
               _all_of(_named(arg), "(?i:nan)"), **kw)


def nonpositive(arg: str, value: float = 0, **kw: Any) -> Bad:
    """``arg=value`` at or below its bound: names arg, the bound (``>`` / ``>=``), the value."""
    return Bad("nonpositive", arg, lambda k: _replace(k, **{arg: value}),
               _all_of(_named(arg), r">|positive", "got " + ("-" if value < 0 else "") + _num(abs(value))),
               **kw)


def labels_range(arg: str, value: int = -1, **fixed: Any) -> Bad:
    """One label set to ``value`` (negative, or the number of classes given in ``fixed``)."""
    kw = {k: fixed.pop(k) for k in ("error", "gap") if k in fixed}

    def corrupt(k: dict) -> dict:
        y = k[arg].clone()
        y.view(-1)[0] = value
        return _replace(k, **{arg: y}, **fixed)

    expect = "non-negative" if value < 0 else "<"
    return Bad("labels-range", arg, corrupt,
               _all_of(_named(arg), expect, r"got (minimum|maximum) " + re.escape(str(value))), **kw)


def labels_dtype(arg: str, **kw: Any) -> Bad:
    """Float labels: names arg, asks for an integer dtype, names the received dtype."""
    kw.setdefault("error", TypeError)
    return Bad("labels-dtype", arg, lambda k: _replace(k, **{arg: k[arg].float()}),
               _all_of(_named(arg), "integer", "float32"), **kw)


def dtype_mismatch(a: str, b: str, **kw: Any) -> Bad:
    """``b`` in float64 while ``a`` is float32: names both and both dtypes."""
    kw.setdefault("error", TypeError)
    return Bad("dtype-mismatch", b, lambda k: _replace(k, **{b: k[b].double()}),
               _all_of(_named(a), _named(b), "dtype", "float32", "float64"), **kw)


def device_mismatch(a: str, b: str, **kw: Any) -> Bad:
    """``b`` on the meta device: names both arguments and the received device."""
    return Bad("device-mismatch", b, lambda k: _replace(k, **{b: k[b].to("meta")}),
               _all_of(_named(a), _named(b), "device", "meta"), **kw)


def choice(arg: str, options: tuple, bad: Any = "bogus", shown: str = "bogus", **kw: Any) -> Bad:
    """An invalid option: names arg, the bad value (``shown``) and *every* valid option."""
    return Bad("choice", arg, lambda k: _replace(k, **{arg: bad}),
               _all_of(_named(arg), "one of", re.escape(repr(shown)),
                       *(re.escape(repr(o)) for o in options)), **kw)


def wrong_type(arg: str, bad: Callable[[Any], Any] | None = None, expect: str = "torch.Tensor",
               **kw: Any) -> Bad:
    """A list (default: ``x.tolist()``) or another wrong type: names arg and what was expected."""
    bad = bad or (lambda x: x.tolist())
    kw.setdefault("error", TypeError)
    return Bad("type", arg, lambda k: _replace(k, **{arg: bad(k[arg])}),
               _all_of(_named(arg), re.escape(expect)), **kw)


def number_type(arg: str, **kw: Any) -> Bad:
    """A numeric hyper-parameter passed as a string: names arg and asks for a real number."""
    return wrong_type(arg, lambda x: str(x), "real number", **kw)


def out_of_range(arg: str, value: Any, *expect: str, **kw: Any) -> Bad:
    """``arg=value`` outside its allowed interval: names arg, the bound text(s), the value."""
    return Bad("range", arg, lambda k: _replace(k, **{arg: value}),
               _all_of(_named(arg), *expect, "got " + re.escape(str(value))), **kw)


def custom(kind: str, arg: str, value: Callable[[dict], Any], match: str, **kw: Any) -> Bad:
    """Any other corruption of ``arg`` with an explicit message pattern."""
    return Bad(kind, arg, lambda k: _replace(k, **{arg: value(k)}), match, **kw)


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


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=_g(seed))


def _labels(n: int, k: int, seed: int = 0) -> torch.Tensor:
    y = torch.arange(n) % k  # every class present
    return y[torch.randperm(n, generator=_g(seed))]


def _spd(d: int, seed: int = 0) -> torch.Tensor:
    a = _randn(2 * d, d, seed=seed)
    return a.T @ a / (2 * d) + 0.1 * torch.eye(d)  # (D, D) well-conditioned covariance


def _pair(n: int = 8, d: int = 4) -> dict:
    return {"z_a": _randn(n, d, seed=1), "z_b": _randn(n, d, seed=2)}


def _pair_cells(a: str = "z_a", b: str = "z_b", *, feature_dim: int = -1) -> tuple[Bad, ...]:
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


def _grid() -> dict:
    from reptutor.data import transform_grid

    grid = transform_grid(4, [2])  # N = 8 samples: 4 source clips x 2 transformations
    return {"z": _randn(8, 4), "sample_index": grid.sample_index, "params": grid.params,
            "modes": ("invariant",)}


def _masks() -> dict:
    from reptutor.losses import gdt_masks

    m = gdt_masks(**{k: v for k, v in _grid().items() if k != "z"})
    return {"z": _randn(8, 4), "positive": m.positive, "compare": m.compare}


def _scenes() -> dict:
    from reptutor.data import make_scenes, random_resized_crop

    s = make_scenes(2, _g(), image_size=16, min_size=4.0, max_size=6.0)
    v = random_resized_crop(s.x, _g(1), output_size=8)
    return {"images": s.x, "boxes": s.boxes, "crop": v.crop, "flip": v.flip, "output_size": 8}


def _pick(d: dict, *names: str, **extra: Any) -> dict:
    out = {n: d[n] for n in names}
    out.update(extra)
    return out


class _Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 1)


def _fit_kwargs() -> dict:
    model = _Linear()
    return {"model": model, "loss_fn": lambda m, batch: m.lin(batch).pow(2).mean(),
            "data": _randn(16, 2), "steps": 1, "batch_size": 8, "progress": False,
            "generator": _g()}


_INTEGER_FACTORS = "integer factors only: a float tensor is refused by its dtype (see labels-dtype)"
_HOT_FORWARD = ("a building block inside a training step: its forward skips the O(N D) NaN scan "
                "(the loss it feeds checks its inputs), and NaN propagates as in torch.nn")


REGISTRY: tuple[Entry, ...] = (
    # ---------------------------------------------------------------- losses: contrastive
    Entry("losses.info_nce_loss", _pair, (
        *_pair_cells(), nonpositive("temperature"), nonpositive("chunk_size"),
        choice("reduction", REDUCTIONS))),
    Entry("losses.nt_xent_loss", _pair, (
        *_pair_cells(), nonpositive("temperature"), nonpositive("chunk_size"),
        choice("reduction", REDUCTIONS),
        Bad("empty", "z_a", lambda k: _replace(k, z_a=k["z_a"][:1], z_b=k["z_b"][:1]),
            _all_of("z_a", "at least 2 rows", r"\(1, 4\)")),
    )),
    Entry("losses.InfoNCELoss", lambda: {**_pair(), "temperature": 0.1},
          (number_type("temperature"), nonpositive("temperature"), choice("reduction", REDUCTIONS), rank("z_a"),
           shape("z_b", lambda k: k["z_b"][:, :3])),
          ctor=("temperature", "reduction"), na={}),
    Entry("losses.NTXentLoss", lambda: {**_pair(), "temperature": 0.1},
          (number_type("temperature"), nonpositive("temperature"), choice("reduction", REDUCTIONS), rank("z_a")),
          ctor=("temperature", "reduction")),
    Entry("losses.supcon_loss", lambda: {"z": _randn(8, 2, 4), "labels": _labels(8, 3)}, (
        rank("z"), shape("labels", lambda k: k["labels"][:7]), empty("z", "labels"),
        nonfinite("z"), nonpositive("temperature"), labels_range("labels"),
        labels_dtype("labels"), device_mismatch("z", "labels"), choice("reduction", REDUCTIONS),
        wrong_type("z"), wrong_type("labels"),
    ), na={"dtype-mismatch": "labels are integer by contract (see labels-dtype); one float input"}),
    Entry("losses.class_conditional_info_nce_loss",
          lambda: {**_pair(), "labels": _labels(8, 3)}, (
              *_pair_cells(), shape("labels", lambda k: k["labels"][:7]),
              nonpositive("temperature"), labels_range("labels"), labels_dtype("labels"),
              device_mismatch("z_a", "labels"), choice("reduction", REDUCTIONS))),
    Entry("losses.SupConLoss", lambda: {"z": _randn(8, 2, 4), "labels": _labels(8, 3),
                                        "temperature": 0.1},
          (number_type("temperature"), nonpositive("temperature"), choice("reduction", REDUCTIONS), rank("z"),
           labels_range("labels")),
          ctor=("temperature", "reduction")),
    Entry("losses.ClassConditionalInfoNCELoss",
          lambda: {**_pair(), "labels": _labels(8, 3), "temperature": 0.1},
          (number_type("temperature"), nonpositive("temperature"), choice("reduction", REDUCTIONS), rank("z_a"),
           labels_dtype("labels")),
          ctor=("temperature", "reduction")),
    # ---------------------------------------------------------------- losses: CMC
    *(Entry(f"losses.{name}", lambda: {"views": _randn(3, 8, 4)}, (
        rank("views", lambda x: x[0]), shape("views", lambda k: k["views"][:1]),
        custom("empty", "views", lambda k: k["views"][:, :0], _all_of("views", r"\(3, 0, 4\)")),
        nonfinite("views"), nonpositive("temperature"), choice("graph", ("full", "core")),
        choice("reduction", REDUCTIONS), wrong_type("views", lambda x: None, "tensor"),
    )) for name in ("cmc_loss", "cmc_terms")),
    Entry("losses.CMCLoss", lambda: {"views": _randn(3, 8, 4), "temperature": 0.07}, (
        number_type("temperature"), nonpositive("temperature"), choice("graph", ("full", "core")),
        choice("reduction", REDUCTIONS), rank("views", lambda x: x[0])),
        ctor=("temperature", "graph", "reduction")),
    Entry("losses.view_pairs", lambda: {"n_views": 3}, (
        nonpositive("n_views", 1), choice("graph", ("full", "core")),
        wrong_type("n_views", lambda x: "3", "integer"),
        Bad("range", "core_view", lambda k: _replace(k, core_view=3, graph="core"),
            _all_of("core_view", "< 3|<= 2", "got 3")),
    )),
    Entry("losses.cross_view_prediction_loss",
          lambda: {"prediction": _randn(8, 4), "target": _randn(8, 4, seed=1)}, (
              *_pair_cells("prediction", "target"), choice("distance", ("l2", "l1")),
              choice("reduction", REDUCTIONS))),
    # ---------------------------------------------------------------- losses: GDT
    Entry("losses.gdt_loss", _grid, (
        rank("z"), shape("sample_index", lambda k: k["sample_index"][:7]),
        shape("params", lambda k: k["params"][:7]),
        empty("z", "sample_index", "params"), nonfinite("z"), nonpositive("temperature"),
        labels_dtype("sample_index"),
        device_mismatch("z", "sample_index"), choice("modes", TRANSFORM_MODES, ("bogus",)),
        choice("reduction", REDUCTIONS), wrong_type("z"),
    ), na={"dtype-mismatch": "sample_index and params are integer; one float input"}),
    Entry("losses.gdt_masks", lambda: {k: v for k, v in _grid().items() if k != "z"}, (
        rank("sample_index"), shape("params", lambda k: k["params"][:7]),
        empty("sample_index", "params"),
        labels_dtype("sample_index"), device_mismatch("sample_index", "params"),
        choice("modes", TRANSFORM_MODES, ("bogus",)), wrong_type("sample_index"),
        out_of_range("cross_factor", 1, "<= 0"),
    ), na={"nonfinite": "integer inputs only", "dtype-mismatch": "integer inputs only",
           "nonpositive": "cross_factor is a column index: 0 is valid (see range)"}),
    Entry("losses.generalized_nce_loss", _masks, (
        rank("z"), shape("positive", lambda k: k["positive"][:7, :7]),
        shape("compare", lambda k: k["compare"][:, :7]), empty("z", "positive", "compare"),
        nonfinite("z"), nonpositive("temperature"), device_mismatch("z", "positive"),
        choice("reduction", REDUCTIONS), wrong_type("z"),
        custom("dtype-mismatch", "positive", lambda k: k["positive"].float(),
               _all_of("positive", "bool", "float32"), error=TypeError),
    )),
    Entry("losses.mask_conflicts", lambda: {k: v for k, v in _masks().items() if k != "z"}, (
        rank("positive"), shape("compare", lambda k: k["compare"][:, :7]),
        Bad("empty", "positive",
            lambda k: _replace(k, positive=k["positive"][:0, :0], compare=k["compare"][:0, :0]),
            _all_of("positive", "empty|at least", r"\(0, 0\)")),
        device_mismatch("positive", "compare"),
        wrong_type("positive"),
        custom("dtype-mismatch", "compare", lambda k: k["compare"].float(),
               _all_of("compare", "bool", "float32"), error=TypeError),
    ), na={"nonfinite": "boolean masks only"}),
    Entry("losses.GDTLoss", lambda: {**_grid(), "temperature": 0.07}, (
        number_type("temperature"), nonpositive("temperature"), choice("modes", TRANSFORM_MODES, ("bogus",)),
        choice("reduction", REDUCTIONS), rank("z")),
        ctor=("modes", "temperature", "reduction", "cross_factor", "normalize")),
    # ---------------------------------------------------------------- losses: VICReg
    *(Entry(f"losses.{name}", _pair, (
        *_pair_cells(), nonpositive("eps", -1), nonpositive("gamma", -1), nonpositive("inv_weight", -1),
        nonpositive("var_weight", -1), nonpositive("cov_weight", -1),
        custom("empty", "z_a", lambda k: k["z_a"][:1], _all_of("z_a", r"at least 2", r"\(1, 4\)")),
    )) for name in ("vicreg_loss", "vicreg_terms")),
    Entry("losses.VICRegLoss", lambda: {**_pair(), "eps": 1e-4}, (
        number_type("eps"), nonpositive("eps", -1), nonpositive("var_weight", -1), rank("z_a")),
        ctor=("eps", "var_weight")),
    Entry("losses.invariance_term", _pair, _pair_cells()),
    Entry("losses.variance_term", lambda: {"z": _randn(8, 4)}, (
        rank("z"), empty("z"), nonfinite("z"), nonpositive("eps", -1), nonpositive("gamma", -1),
        wrong_type("z"))),
    Entry("losses.covariance_term", lambda: {"z": _randn(8, 4)}, (
        rank("z"), empty("z"), nonfinite("z"), choice("form", ("auto", "features", "samples")),
        wrong_type("z"))),
    # ---------------------------------------------------------------- losses: DIM
    Entry("losses.dim_global_loss", lambda: {"scores": _randn(6, 6)}, (
        rank("scores"), shape("scores", lambda k: k["scores"][:, :5]), empty("scores"),
        nonfinite("scores"), choice("estimator", ("jsd", "dv", "infonce")), wrong_type("scores"))),
    Entry("losses.dim_local_loss", lambda: {"scores": _randn(6, 6, 3)}, (
        rank("scores"), shape("scores", lambda k: k["scores"][:, :5]), empty("scores"),
        nonfinite("scores"), choice("estimator", ("jsd", "dv", "infonce")), wrong_type("scores"))),
    Entry("losses.dim_terms",
          lambda: {"global_scores": _randn(6, 6), "local_scores": _randn(6, 6, 3, seed=1),
                   "prior_loss": torch.tensor(0.5)}, (
              rank("global_scores"), shape("local_scores", lambda k: k["local_scores"][:5, :5]),
              empty("global_scores", "local_scores"), nonfinite("global_scores"),
              nonfinite("local_scores"), nonfinite("prior_loss"),
              nonpositive("alpha", -1), nonpositive("beta", -1), nonpositive("gamma", -1),
              dtype_mismatch("global_scores", "local_scores"),
              device_mismatch("global_scores", "local_scores"),
              choice("estimator", ("jsd", "dv", "infonce")), wrong_type("global_scores"))),
    Entry("losses.DeepInfoMaxLoss", lambda: {"global_scores": _randn(6, 6), "alpha": 1.0,
                                             "beta": 0.0, "gamma": 0.0}, (
        number_type("beta"), nonpositive("beta", -1), choice("estimator", ("jsd", "dv", "infonce")),
        rank("global_scores")), ctor=("alpha", "beta", "gamma", "estimator")),
    Entry("losses.prior_matching_terms",
          lambda: {"prior_logits": _randn(6), "code_logits": _randn(5, seed=1)}, (
              rank("prior_logits"), empty("prior_logits"), nonfinite("prior_logits"),
              nonfinite("code_logits"), dtype_mismatch("prior_logits", "code_logits"),
              device_mismatch("prior_logits", "code_logits"), wrong_type("code_logits")),
          na={"shape": "N and M may differ: any two 1-D tensors are a valid pair"}),
    # ---------------------------------------------------------------- losses: global-local
    Entry("losses.global_contrastive_loss",
          lambda: {"z_a": _randn(4, 3, 5), "z_b": _randn(4, 2, 5, seed=1)}, (
              *_pair_cells(), nonpositive("temperature"), choice("reduction", REDUCTIONS))),
    Entry("losses.local_contrastive_loss",
          lambda: {"z_a": _randn(4, 3, 5), "z_b": _randn(4, 3, 5, seed=1)}, (
              *_pair_cells(), nonpositive("temperature"), choice("negatives", ("batch", "clip")),
              choice("reduction", REDUCTIONS))),
    *(Entry(f"losses.{name}",
            lambda: {"za_global": _randn(4, 3, 5), "zb_global": _randn(4, 2, 5, seed=1),
                     "za_local": _randn(4, 3, 6, seed=2), "zb_local": _randn(4, 3, 6, seed=3)}, (
                *_pair_cells("za_global", "zb_global"), *_pair_cells("za_local", "zb_local")[1:6],
                nonpositive("temperature"), choice("negatives", ("batch", "clip"))))
      for name in ("global_local_terms", "global_local_loss")),
    Entry("losses.GlobalLocalLoss",
          lambda: {"za_global": _randn(4, 3, 5), "zb_global": _randn(4, 2, 5, seed=1),
                   "za_local": _randn(4, 3, 6, seed=2), "zb_local": _randn(4, 3, 6, seed=3),
                   "temperature": 1.0}, (
              number_type("temperature"), nonpositive("temperature"), nonpositive("global_weight", -1),
              choice("negatives", ("batch", "clip")), rank("za_local")),
          ctor=("temperature", "global_weight", "negatives")),
    # ---------------------------------------------------------------- losses: BYOL / SCRL
    Entry("losses.byol_loss", lambda: {"p": _randn(8, 4), "z": _randn(8, 4, seed=1)}, (
        *_pair_cells("p", "z"), nonpositive("eps"), choice("reduction", REDUCTIONS))),
    Entry("losses.BYOLLoss", lambda: {"p": _randn(8, 4), "z": _randn(8, 4, seed=1), "eps": 1e-12},
          (number_type("eps"), nonpositive("eps"), choice("reduction", REDUCTIONS), rank("p")),
          ctor=("eps", "reduction")),
    Entry("losses.ema_update",
          lambda: {"target": nn.Linear(2, 2), "online": nn.Linear(2, 2), "momentum": 0.99}, (
              nonpositive("momentum", -1), out_of_range("momentum", 1.5, "<= 1"),
              custom("type", "target", lambda k: None, _all_of("target", r"nn\.Module", "NoneType"),
                     error=TypeError),
              custom("shape", "online", lambda k: nn.Linear(2, 3),
                     _all_of("online", "target", "shape|parameters")),
          )),
    Entry("losses.byol_momentum", lambda: {"step": 3, "total_steps": 10}, (
        nonpositive("total_steps"), nonpositive("step", -1),
        out_of_range("base", 1.5, "<= 1"),
        wrong_type("step", lambda x: 3.5, "integer"))),
    Entry("losses.scrl_loss",
          lambda: {"p": _randn(4, 3, 5), "z": _randn(4, 3, 5, seed=1),
                   "valid": torch.ones(4, 3, dtype=torch.bool)}, (
              *_pair_cells("p", "z"), shape("valid", lambda k: k["valid"][:, :2]),
              device_mismatch("p", "valid"), nonpositive("eps"), choice("reduction", REDUCTIONS),
              custom("dtype-mismatch", "valid", lambda k: k["valid"].float(),
                     _all_of("valid", "bool", "float32"), error=TypeError))),
    Entry("losses.SCRLLoss", lambda: {"p": _randn(4, 3, 5), "z": _randn(4, 3, 5, seed=1), "eps": 1e-12},
          (number_type("eps"), nonpositive("eps"), choice("reduction", REDUCTIONS), rank("p")),
          ctor=("eps", "reduction")),
    # ---------------------------------------------------------------- losses: Barlow Twins, MCR2
    *(Entry(f"losses.{name}", _pair, (
        *_pair_cells(), nonpositive("eps", -1),
        *((nonpositive("lambda_offdiag", -1), choice("form", FORMS)) if name != "cross_correlation" else ()),
        Bad("empty", "z_a", lambda k: _replace(k, z_a=k["z_a"][:1], z_b=k["z_b"][:1]),
            _all_of("z_a", "at least 2 rows", r"\(1, 4\)")),
    )) for name in ("barlow_twins_loss", "barlow_twins_terms", "cross_correlation")),
    Entry("losses.BarlowTwinsLoss", lambda: {**_pair(), "eps": 1e-5}, (
        number_type("eps"), nonpositive("eps", -1), choice("form", FORMS), rank("z_a")),
        ctor=("eps", "form")),
    Entry("losses.coding_rate", lambda: {"z": _randn(8, 4)}, (
        rank("z"), empty("z"), nonfinite("z"), nonpositive("eps_sq"), choice("form", FORMS),
        wrong_type("z"))),
    *(Entry(f"losses.{name}", lambda: {"z": _randn(8, 4), "labels": _labels(8, 3)}, (
        rank("z"), shape("labels", lambda k: k["labels"][:7]), empty("z", "labels"),
        nonfinite("z"), nonpositive("eps_sq"), nonpositive("num_classes"),
        labels_range("labels"), labels_range("labels", 3, num_classes=3),
        labels_dtype("labels"), device_mismatch("z", "labels"), choice("form", FORMS),
        wrong_type("z"), wrong_type("labels")),
        na={"dtype-mismatch": "labels are integer by contract (see labels-dtype); one float input"})
      for name in ("class_coding_rate", "mcr2_loss", "mcr2_terms")),
    Entry("losses.MCR2Loss", lambda: {"z": _randn(8, 4), "labels": _labels(8, 3), "eps_sq": 0.5}, (
        number_type("eps_sq"), nonpositive("eps_sq"), choice("form", FORMS), rank("z")),
        ctor=("eps_sq", "form")),
    # ---------------------------------------------------------------- estimators
    *(Entry(f"estimators.{name}", lambda: {"scores": _randn(6, 6)}, (
        rank("scores", lambda x: x[0]), shape("scores", lambda k: k["scores"][:, :5]),
        empty("scores"), nonfinite("scores"), choice("reduction", REDUCTIONS),
        wrong_type("scores"))) for name in ("infonce", "nwj", "jsd")),
    Entry("estimators.dv", lambda: {"scores": _randn(6, 6)}, (
        rank("scores", lambda x: x[0]), shape("scores", lambda k: k["scores"][:, :5]),
        empty("scores"), nonfinite("scores"), wrong_type("scores"))),
    Entry("estimators.conditional_infonce",
          lambda: {"pos_scores": _randn(6), "neg_scores": _randn(6, 4, seed=1)}, (
              *_pair_cells("pos_scores", "neg_scores", feature_dim=0)[:1],
              shape("neg_scores", lambda k: k["neg_scores"][:5]),
              *_pair_cells("pos_scores", "neg_scores")[2:],
              choice("reduction", REDUCTIONS))),
    *(Entry(f"estimators.{name}",
            lambda: {"pos_scores": _randn(6, 2), "neg_scores": _randn(6, 2, 4, seed=1)}, (
                *_pair_cells("pos_scores", "neg_scores", feature_dim=1),
                *((choice("reduction", REDUCTIONS),) if name == "demi" else ()))) for name in ("demi", "demi_terms")),
    *(Entry(f"estimators.{name}", lambda: {"cov": _spd(4)}, (
        rank("cov"), shape("cov", lambda k: k["cov"][:, :3]),
        custom("empty", "cov", lambda k: k["cov"][:0, :0], _all_of("cov", r"empty|at least", r"\(0, 0\)")),
        nonfinite("cov"), wrong_type("cov")))
      for name in ("gaussian_entropy", "hadamard_gap", "hadamard_gap_bounds")),
    Entry("estimators.gaussian_mutual_information", lambda: {"cov": _spd(4), "dim_a": 2}, (
        rank("cov"), shape("cov", lambda k: k["cov"][:, :3]),
        custom("empty", "cov", lambda k: k["cov"][:0, :0], _all_of("cov", r"empty|at least", r"\(0, 0\)")),
        nonfinite("cov"), nonpositive("dim_a"),
        custom("range", "dim_a", lambda k: 4, _all_of("dim_a", "<", "got 4")),
        wrong_type("cov"))),
    Entry("estimators.vicreg_information_bound",
          lambda: {"cov": _spd(4), "invariance": torch.tensor(0.3)}, (
              rank("cov"), shape("cov", lambda k: k["cov"][:, :3]),
              custom("empty", "cov", lambda k: k["cov"][:0, :0], _all_of("cov", r"empty|at least", r"\(0, 0\)")),
              nonfinite("cov"), nonfinite("invariance"), nonpositive("invariance", -1),
              wrong_type("cov")),
          na={"dtype-mismatch": "invariance is a scalar (number or 0-d tensor) read as a float",
              "device-mismatch": "invariance is a scalar (number or 0-d tensor) read as a float"}),
    Entry("estimators.logdet_entropy", lambda: {"z": _randn(8, 4)}, (
        rank("z"), empty("z"), nonfinite("z"), nonpositive("ridge", -1), wrong_type("z"))),
    Entry("estimators.knn_entropy", lambda: {"z": _randn(8, 2)}, (
        rank("z"), empty("z"), nonfinite("z"), nonpositive("k"), nonpositive("chunk_size"),
        custom("range", "k", lambda k: 8, _all_of(r"\bk\b", "8")), wrong_type("z"))),
    # ---------------------------------------------------------------- solvers
    Entry("solvers.sinkhorn_knopp", lambda: {"log_p": _randn(6, 3).log_softmax(-1)}, (
        rank("log_p"), empty("log_p"), nonfinite("log_p"),
        nonpositive("lam"), nonpositive("max_iter"), nonpositive("tol", -1),
        choice("method", ("log", "scaling")), wrong_type("log_p"),
        shape("r", lambda k: torch.full((4,), 0.25)),
        custom("dtype-mismatch", "r", lambda k: torch.full((3,), 1 / 3, dtype=torch.float64),
               _all_of("r", "log_p", "dtype", "float64"), error=TypeError),
        custom("device-mismatch", "r", lambda k: torch.full((3,), 1 / 3, device="meta"),
               _all_of("r", "log_p", "device", "meta")),
    )),
    Entry("solvers.equipartition_labels", lambda: {"log_p": _randn(6, 3).log_softmax(-1)}, (
        rank("log_p"), empty("log_p"),
        nonfinite("log_p"),
        nonpositive("lam"), nonpositive("max_iter"), choice("method", ("log", "scaling")),
        wrong_type("log_p"))),
    Entry("solvers.exact_equipartition", lambda: {"cost": _randn(6, 3)}, (
        rank("cost"), shape("cost", lambda k: k["cost"][:5]), empty("cost"),
        nonfinite("cost"), wrong_type("cost"))),
    # ---------------------------------------------------------------- metrics
    Entry("metrics.linear_probe_accuracy",
          lambda: {"z_train": _randn(12, 3), "y_train": _labels(12, 3),
                   "z_test": _randn(6, 3, seed=1), "y_test": _labels(6, 3, seed=1), "max_iter": 5}, (
              rank("z_train"), shape("z_test", lambda k: k["z_test"][:, :2]),
              shape("y_train", lambda k: k["y_train"][:11]), empty("z_train", "y_train"),
              nonfinite("z_train"), nonfinite("z_test"), nonpositive("weight_decay", -1),
              nonpositive("max_iter"), labels_range("y_train"), labels_dtype("y_test"),
              dtype_mismatch("z_train", "z_test"), device_mismatch("z_train", "z_test"),
              wrong_type("z_train"))),
    Entry("metrics.ridge_probe_r2",
          lambda: {"z_train": _randn(12, 3), "t_train": _randn(12, seed=2),
                   "z_test": _randn(6, 3, seed=1), "t_test": _randn(6, seed=3)}, (
              rank("z_train"), shape("z_test", lambda k: k["z_test"][:, :2]),
              shape("t_train", lambda k: k["t_train"][:11]), empty("z_train", "t_train"),
              nonfinite("z_train"), nonfinite("t_test"), nonpositive("alpha", -1),
              dtype_mismatch("z_train", "z_test"), device_mismatch("z_train", "z_test"),
              wrong_type("z_train"))),
    Entry("metrics.nmi", lambda: {"labels_true": _labels(9, 3), "labels_pred": _labels(9, 3, seed=1)}, (
        rank("labels_true"), shape("labels_pred", lambda k: k["labels_pred"][:8]),
        empty("labels_true", "labels_pred"), labels_range("labels_pred"),
        labels_dtype("labels_true"), device_mismatch("labels_true", "labels_pred"),
        wrong_type("labels_true", expect="torch.Tensor")),
        na={"nonfinite": "integer labels only", "dtype-mismatch": "integer labels only"}),
    *(Entry(f"metrics.{name}", lambda: {"labels": _labels(9, 3), "num_clusters": 3}, (
        rank("labels"), empty("labels"), labels_range("labels"), labels_range("labels", 3),
        labels_dtype("labels"), nonpositive("num_clusters"),
        wrong_type("labels", expect="torch.Tensor")),
        na={"nonfinite": "integer labels only"})
      for name in ("cluster_size_entropy", "largest_cluster_fraction")),
    # ---------------------------------------------------------------- metrics: disentanglement
    Entry("metrics.discretize", lambda: {"codes": _randn(6, 3), "bins": 4}, (
        rank("codes"), empty("codes"), nonfinite("codes"), nonpositive("bins"),
        wrong_type("codes"), wrong_type("bins", lambda x: 2.5, "integer"))),
    Entry("metrics.discrete_entropy", lambda: {"factors": _labels(6, 3)[:, None].repeat(1, 2)}, (
        rank("factors"), empty("factors"), labels_dtype("factors"), wrong_type("factors")),
        na={"nonfinite": _INTEGER_FACTORS}),
    Entry("metrics.discrete_mutual_info",
          lambda: {"codes_discrete": _labels(6, 2)[:, None].repeat(1, 3),
                   "factors": _labels(6, 3, seed=1)[:, None].repeat(1, 2)}, (
              rank("codes_discrete"), shape("factors", lambda k: k["factors"][:5]),
              empty("codes_discrete", "factors"), labels_dtype("codes_discrete"),
              labels_dtype("factors"), device_mismatch("codes_discrete", "factors"),
              wrong_type("codes_discrete"), wrong_type("factors")),
          na={"nonfinite": _INTEGER_FACTORS,
              "dtype-mismatch": "any two integer dtypes are a valid pair: each column is "
                                "renumbered to 0..K-1 before counting (see labels-dtype)"}),
    Entry("metrics.mig", lambda: {"codes": _randn(8, 3), "factors": _labels(8, 2)[:, None].repeat(1, 2),
                                  "bins": 4}, (
        rank("codes"), shape("factors", lambda k: k["factors"][:7]),
        custom("shape", "codes", lambda k: k["codes"][:, :1],
               _all_of("codes", "at least 2 dimensions", r"\(8, 1\)")),
        empty("codes", "factors"), nonfinite("codes"), nonpositive("bins"),
        labels_dtype("factors"), device_mismatch("codes", "factors"),
        wrong_type("codes"), wrong_type("factors"),
        custom("range", "factors", lambda k: torch.zeros_like(k["factors"]),
               _all_of("factors", "not be constant", r"\[0, 1\]"))),
        na={"dtype-mismatch": "codes are float and factors integer by contract (see labels-dtype)"}),
    Entry("metrics.factor_vae_score",
          lambda: {"codes": _randn(6, 4, 3), "fixed_factor": _labels(6, 2),
                   "global_codes": _randn(10, 3, seed=1), "num_factors": 2, "num_train": 4}, (
              rank("codes", lambda x: x[0]), shape("global_codes", lambda k: k["global_codes"][:, :2]),
              shape("fixed_factor", lambda k: k["fixed_factor"][:5]),
              custom("empty", "codes", lambda k: k["codes"][:, :1],
                     _all_of("codes", "at least 2 codes per batch", r"\(6, 1, 3\)")),
              empty("codes", "fixed_factor"), nonfinite("codes"), nonfinite("global_codes"),
              nonpositive("num_factors"), nonpositive("num_train"), nonpositive("threshold", -1),
              out_of_range("num_train", 6, "<= 5"),
              labels_range("fixed_factor"), labels_range("fixed_factor", 2),
              labels_dtype("fixed_factor"), dtype_mismatch("codes", "global_codes"),
              device_mismatch("codes", "global_codes"), device_mismatch("codes", "fixed_factor"),
              wrong_type("codes"), wrong_type("num_factors", lambda x: 2.0, "integer"))),
    Entry("metrics.factor_vae_batches",
          lambda: {"sample_factors": lambda n, gen: torch.randint(0, 3, (n, 2), generator=gen),
                   "encode": lambda v: v.float(), "num_factors": 2, "num_batches": 3,
                   "batch_size": 4, "generator": _g()}, (
              custom("rank", "encode", lambda k: lambda v: v.float().sum(1),
                     _all_of("encode", r"\(12, L\)", r"\(12,\)")),
              custom("shape", "sample_factors",
                     lambda k: lambda n, gen: torch.randint(0, 3, (n, 3), generator=gen),
                     _all_of("sample_factors", r"\(12, 2\)", r"\(12, 3\)")),
              nonpositive("num_factors"), nonpositive("num_batches"), nonpositive("batch_size", 1),
              wrong_type("generator", lambda x: None, "torch.Generator"),
              wrong_type("sample_factors", lambda x: None, "callable"),
              wrong_type("encode", lambda x: None, "callable")),
          na={"empty": "num_batches >= 1 and batch_size >= 2 (see nonpositive): no empty batch "
                       "can be asked for",
              "nonfinite": "the codes are returned, not computed with: factor_vae_score checks "
                           "them (its nonfinite cell)",
              "dtype-mismatch": "integer factors and float codes by design; no two outputs must "
                                "share a dtype",
              "device-mismatch": "the callables' outputs are returned side by side, never "
                                 "combined: factor_vae_score checks codes against fixed_factor"}),
    Entry("metrics.dci_from_importance", lambda: {"importance": _randn(3, 2).abs()}, (
        rank("importance"), empty("importance"), nonfinite("importance"), wrong_type("importance"),
        custom("shape", "importance", lambda k: k["importance"][:, :1],
               _all_of("importance", "at least 2 columns", r"\(3, 1\)")),
        custom("range", "importance", lambda k: -k["importance"],
               _all_of("importance", "non-negative", "got minimum -")))),
    Entry("metrics.dci",
          lambda: {"codes": _randn(20, 3), "factors": _randn(20, 2, seed=1),
                   "eval_codes": _randn(10, 3, seed=2), "eval_factors": _randn(10, 2, seed=3),
                   "max_iter": 50}, (
              rank("codes"), shape("factors", lambda k: k["factors"][:19]),
              shape("eval_codes", lambda k: k["eval_codes"][:, :2]),
              shape("eval_factors", lambda k: k["eval_factors"][:9]),
              empty("codes", "factors"), empty("eval_codes", "eval_factors"),
              nonfinite("codes"), nonfinite("factors"), nonfinite("eval_codes"),
              nonfinite("eval_factors"),
              nonpositive("alpha", -1), nonpositive("max_iter"), nonpositive("tol"),
              choice("importance", ("lasso", "ridge")),
              dtype_mismatch("codes", "factors"), dtype_mismatch("codes", "eval_codes"),
              dtype_mismatch("codes", "eval_factors"),
              device_mismatch("codes", "factors"), device_mismatch("codes", "eval_codes"),
              device_mismatch("codes", "eval_factors"),
              wrong_type("codes"), wrong_type("factors"), wrong_type("eval_factors"),
              custom("type", "eval_factors", lambda k: None,
                     _all_of("eval_codes", "eval_factors", "together")))),
    # ---------------------------------------------------------------- data
    Entry("data.CorrelatedGaussian", lambda: {"dim": 2, "rho": 0.5,
                                              "x": _randn(5, 2), "y": _randn(5, 2, seed=1)}, (
        nonpositive("dim"), out_of_range("rho", 1.0, "between -1 and 1"), empty("x", "y"),
        wrong_type("dim", lambda x: 2.0, "integer"),
        shape("y", lambda k: k["y"][:, :1]), nonfinite("x"), rank("x", lambda x: x[0, 0]),
        dtype_mismatch("x", "y"), device_mismatch("x", "y")),
        ctor=("dim", "rho"), method="log_density_ratio"),
    Entry("data.ar1_covariance", lambda: {"dim": 3, "phi": 0.5}, (
        nonpositive("dim"), out_of_range("phi", 1.0, "between -1 and 1"),
        wrong_type("dim", lambda x: 3.0, "integer"))),
    Entry("data.make_multiview", lambda: {"n": 8, "generator": _g()}, (
        nonpositive("n"), nonpositive("n_views"), nonpositive("obs_noise", -1),
        wrong_type("generator", lambda x: None, "torch.Generator"))),
    Entry("data.make_clips", lambda: {"n": 8, "generator": _g()}, (
        nonpositive("n"), nonpositive("spread", -1), nonpositive("length"),
        wrong_type("generator", lambda x: None, "torch.Generator"))),
    Entry("data.time_reverse", lambda: {"x": _randn(4, 6), "reverse": torch.tensor([True, False] * 2)}, (
        rank("x"), shape("reverse", lambda k: k["reverse"][:3]), empty("x", "reverse"),
        nonfinite("x"), device_mismatch("x", "reverse"), wrong_type("x"),
        custom("dtype-mismatch", "reverse", lambda k: k["reverse"].float(),
               _all_of("reverse", "bool", "float32"), error=TypeError))),
    Entry("data.time_shift", lambda: {"x": _randn(4, 6), "steps": torch.tensor([0, 1, 2, 3])}, (
        rank("x"), shape("steps", lambda k: k["steps"][:3]), empty("x", "steps"),
        nonfinite("x"), device_mismatch("x", "steps"), wrong_type("x"),
        custom("dtype-mismatch", "steps", lambda k: k["steps"].float(),
               _all_of("steps", "integer", "float32"), error=TypeError))),
    Entry("data.transform_grid", lambda: {"n": 3, "sizes": [2, 2]}, (
        nonpositive("n"), custom("nonpositive", "sizes", lambda k: [2, 0],
                                 _all_of(r"sizes\[1\]", ">= 1", "got 0")),
        wrong_type("sizes", lambda x: 2, "sequence"))),
    Entry("data.random_sensor", lambda: {"channels": 3, "generator": _g()}, (
        nonpositive("channels"), nonpositive("bias_scale", -1),
        wrong_type("generator", lambda x: None, "torch.Generator"))),
    Entry("data.observe", lambda: {"x": _randn(4, 6), "sensor": reptutor.data.random_sensor(3, _g()),
                                   "generator": _g(1)}, (
        rank("x"), empty("x"), nonfinite("x"), nonpositive("noise", -1), wrong_type("x"),
        custom("shape", "sensor", lambda k: reptutor.data.Sensor(k["sensor"].weight, k["sensor"].bias[:2]),
               _all_of("sensor", r"\(2,\)")),
        custom("dtype-mismatch", "sensor", lambda k: reptutor.data.Sensor(k["sensor"].weight.double(), k["sensor"].bias.double()),
               _all_of("x", "sensor", "dtype", "float64"), error=TypeError),
        custom("device-mismatch", "sensor", lambda k: reptutor.data.Sensor(k["sensor"].weight.to("meta"), k["sensor"].bias.to("meta")),
               _all_of("x", "sensor", "device", "meta")))),
    Entry("data.load_digits_tensors", lambda: {}, (
        custom("type", "dtype", lambda k: torch.long, _all_of("dtype", "floating", "int64"),
               error=TypeError),)),
    Entry("data.augment_digits", lambda: {"x": _randn(4, 64), "generator": _g()}, (
        rank("x"), custom("shape", "x", lambda k: k["x"][:, :63], _all_of("x", "64", r"\(4, 63\)")),
        empty("x"), nonfinite("x"), nonpositive("max_shift", -1), nonpositive("noise_std", -1),
        wrong_type("x"), wrong_type("generator", lambda x: None, "torch.Generator"))),
    Entry("data.make_shapes", lambda: {"n": 4, "generator": _g()}, (
        nonpositive("n"), nonpositive("noise_std", -1), nonpositive("min_radius"),
        out_of_range("num_classes", 7, "<= 6"),
        wrong_type("generator", lambda x: None, "torch.Generator"))),
    Entry("data.make_textures", lambda: {"n": 4, "generator": _g()}, (
        nonpositive("n"), nonpositive("noise_std", -1), nonpositive("min_wavelength"),
        wrong_type("generator", lambda x: None, "torch.Generator"))),
    Entry("data.make_global_local_sequences", lambda: {"n": 4, "generator": _g()}, (
        nonpositive("n"), nonpositive("noise", -1), nonpositive("length"),
        choice("event_types", ("random", "distinct")),
        wrong_type("generator", lambda x: None, "torch.Generator"))),
    Entry("data.make_scenes", lambda: {"n": 2, "generator": _g(), "image_size": 16,
                                       "min_size": 4.0, "max_size": 6.0}, (
        nonpositive("n"), nonpositive("min_size"), nonpositive("noise_std", -1),
        wrong_type("generator", lambda x: None, "torch.Generator"))),
    Entry("data.random_resized_crop", lambda: {**_pick(_scenes(), "images", "output_size"), "generator": _g()}, (
        rank("images"), empty("images"), nonfinite("images"), nonpositive("output_size"),
        nonpositive("brightness", -1),
        out_of_range("flip_prob", 1.5, "<= 1"),
        wrong_type("images"), wrong_type("generator", lambda x: None, "torch.Generator"))),
    Entry("data.crop_resize", lambda: _pick(_scenes(), "images", "crop", "flip", "output_size"), (
        rank("images"), shape("crop", lambda k: k["crop"][:, :3]), empty("images", "crop", "flip"),
        nonfinite("images"), nonfinite("crop"), nonpositive("output_size"),
        dtype_mismatch("images", "crop"), device_mismatch("crop", "images"), wrong_type("images"))),
    Entry("data.map_boxes", lambda: _pick(_scenes(), "boxes", "crop", "flip", "output_size"), (
        rank("boxes"), shape("crop", lambda k: k["crop"][:, :3]), empty("boxes", "crop", "flip"),
        nonfinite("boxes"), nonpositive("output_size"),
        dtype_mismatch("boxes", "crop"), device_mismatch("crop", "boxes"), wrong_type("boxes"))),
    Entry("data.crop_intersection", lambda: {"crop_a": _scenes()["crop"],
                                             "crop_b": _scenes()["crop"].flip(0)}, (
        rank("crop_a"), shape("crop_b", lambda k: k["crop_b"][:1]), empty("crop_a", "crop_b"),
        nonfinite("crop_a"), dtype_mismatch("crop_a", "crop_b"), device_mismatch("crop_a", "crop_b"),
        wrong_type("crop_a"))),
    Entry("data.visible_fraction", lambda: _pick(_scenes(), "boxes", "crop"), (
        rank("boxes"), shape("crop", lambda k: k["crop"][:1]), empty("boxes", "crop"),
        nonfinite("crop"), dtype_mismatch("boxes", "crop"), device_mismatch("boxes", "crop"),
        wrong_type("boxes"))),
    Entry("data.sample_boxes", lambda: {"region": _scenes()["crop"], "k": 2, "generator": _g(),
                                        "min_size": 1.0}, (
        rank("region"), empty("region"), nonfinite("region"), nonpositive("k"),
        nonpositive("min_size"), wrong_type("region"),
        wrong_type("generator", lambda x: None, "torch.Generator"))),
    Entry("data.grid_boxes", lambda: {"region": _scenes()["crop"], "k": 2}, (
        rank("region"), empty("region"), nonfinite("region"), nonpositive("k"), wrong_type("region"))),
    # ---------------------------------------------------------------- models
    Entry("models.MLP", lambda: {"in_dim": 4, "hidden": [8], "out_dim": 2, "x": _randn(5, 4)}, (
        nonpositive("in_dim"), choice("activation", ("relu", "gelu", "tanh", "silu")),
        rank("x"), shape("x", lambda k: k["x"][:, :3]),
        wrong_type("x")), ctor=("in_dim", "hidden", "out_dim", "activation"),
        na={"nonfinite": _HOT_FORWARD,
            "empty": "zero samples give a (0, out_dim) output, as in torch.nn.Linear"}),
    *(Entry(f"models.{name}", lambda name=name: {"dx": 3, "dy": 2, "hidden": 8, **({"out": 4} if "Sep" in name else {}),
                                       "x": _randn(5, 3), "y": _randn(6, 2, seed=1)}, (
        nonpositive("dx"), wrong_type("dx", lambda x: "3", "integer"),
        choice("activation", ("relu", "gelu", "tanh", "silu")),
        rank("x"), shape("y", lambda k: k["y"][:, :1]), dtype_mismatch("x", "y"),
        device_mismatch("x", "y"), nonfinite("y"), empty("x")),
        ctor=("dx", "dy", "hidden", "out", "activation"))
      for name in ("SeparableCritic", "ConcatCritic")),
    Entry("models.ConvEncoder", lambda: {"image_size": 8, "channels": (4, 4, 4), "hidden": 8,
                                         "out_dim": 4, "x": _randn(2, 1, 8, 8)}, (
        nonpositive("out_dim"), out_of_range("image_size", 6, "multiple of 4"),
        rank("x", lambda x: x[0]), shape("x", lambda k: k["x"][..., :7]), wrong_type("x"),
        nonfinite("x"), empty("x")),
        ctor=("image_size", "channels", "hidden", "out_dim")),
    *(Entry(f"models.{name}", lambda name=name: {"local_channels": 3, **({"grid": 2} if "Global" in name else {}),
                                       "global_dim": 4, "hidden": 8, "embed_dim": 5,
                                       "feature_map": _randn(2, 3, 2, 2), "y": _randn(2, 4, seed=1)}, (
        nonpositive("local_channels"), nonpositive("embed_dim"), rank("feature_map", lambda x: x[0]),
        shape("y", lambda k: k["y"][:, :3]), dtype_mismatch("feature_map", "y"),
        device_mismatch("feature_map", "y"), wrong_type("feature_map"), nonfinite("feature_map"),
        empty("feature_map", "y")),
        ctor=("local_channels", "grid", "global_dim", "hidden", "embed_dim"))
      for name in ("GlobalCritic", "LocalCritic")),
    Entry("models.PriorDiscriminator", lambda: {"dim": 4, "hidden": (8,), "y": _randn(3, 4)}, (
        nonpositive("dim"), rank("y"), shape("y", lambda k: k["y"][:, :3]), wrong_type("y"),
        nonfinite("y"), empty("y")),
        ctor=("dim", "hidden")),
    *(Entry(f"models.{name}", lambda name=name: {"in_dim": 3, "hidden": 4, "out_dim": 5,
                                       **({"proj_dim": 2} if "Local" in name else {}),
                                       "x": _randn(2, 6, 3)}, (
        nonpositive("in_dim"), nonpositive("kernel_size"), rank("x", lambda x: x[0]),
        shape("x", lambda k: k["x"][..., :2]), wrong_type("x")),
        ctor=("in_dim", "hidden", "out_dim", "proj_dim", "kernel_size"),
        na={"nonfinite": _HOT_FORWARD, "empty": "zero samples give zero outputs, as in torch.nn"})
      for name in ("TemporalConvEncoder", "GlobalLocalEncoder")),
    Entry("models.roi_align", lambda: {"feature_map": _randn(2, 3, 4, 4),
                                       "boxes": _scenes()["boxes"][:, :2], "image_size": 16}, (
        rank("feature_map", lambda x: x[0]), shape("boxes", lambda k: k["boxes"][:1]),
        empty("feature_map", "boxes"), nonfinite("boxes"), nonpositive("output_size"),
        nonpositive("sampling_ratio"), nonpositive("image_size"),
        dtype_mismatch("feature_map", "boxes"), device_mismatch("feature_map", "boxes"),
        wrong_type("feature_map"))),
    Entry("models.RoIAlign", lambda: {"feature_map": _randn(2, 3, 4, 4),
                                      "boxes": _scenes()["boxes"][:, :2], "image_size": 16}, (
        nonpositive("image_size"), nonpositive("output_size"), rank("boxes", lambda x: x[0]),
        wrong_type("image_size", lambda x: "16", "integer")),
        ctor=("image_size", "output_size", "sampling_ratio")),
    # ---------------------------------------------------------------- train, claims, runtime
    Entry("train.fit", _fit_kwargs, (
        nonpositive("steps"), nonpositive("batch_size"), nonpositive("lr"),
        wrong_type("model", lambda x: None, "torch.nn.Module"),
        wrong_type("loss_fn", lambda x: None, "callable"),
    ), na={"rank": "data is any batch structure; its shape is the model's business",
           "empty": "data is any batch structure; see iterate_minibatches",
           "nonfinite": "a NaN loss is reported by fit's own check on the loss (test_train.py)"}),
    Entry("train.iterate_minibatches", lambda: {"data": _randn(8, 2), "batch_size": 4}, (
        nonpositive("batch_size"), wrong_type("data", lambda x: None, "tensor"),
        shape("data", lambda k: (k["data"], k["data"][:7])),
    ), na={"rank": "any rank >= 1 is a valid batch (samples along dim 0)",
           "nonfinite": "batches are data, not numbers to check", "empty": "an empty batch yields nothing"}),
    Entry("claims.check", lambda: {"claim_id": "P99.validation-matrix", "measured": 1.0,
                                   "expected": 1.0, "tol": 0.1, "statement": "x equals 1"}, (
        nonpositive("tol", -1), wrong_type("measured", lambda x: "1.0", "real number"),
        custom("range", "claim_id", lambda k: "bad id", _all_of("claim_id", "P07.short-name", "'bad id'")),
        custom("nonfinite", "expected", lambda k: float("nan"), _all_of("expected", "finite", "nan")),
        custom("shape", "measured", lambda k: torch.ones(2), _all_of("measured", "single number", r"\(2,\)")),
    ), na={}),
    *(Entry(f"claims.{name}", lambda: {"prefix": "P99."}, (
        wrong_type("prefix", lambda x: 3, "string"),))
      for name in ("records", "summary")),
    Entry("runtime.pick", lambda: {"ci": 1, "full": 2}, (),
          na={"type": "ci and full may be any values: pick only chooses between them"}),
    Entry("runtime.seed_everything", lambda: {"seed": 0}, (
        nonpositive("seed", -1), nonpositive("threads"), wrong_type("seed", lambda x: 0.5, "integer")),
        call_valid=False),
    Entry("runtime.generator", lambda: {"seed": 0}, (
        nonpositive("seed", -1), wrong_type("seed", lambda x: "0", "integer"))),
    Entry("runtime.glue", lambda: {"name": "validation_matrix", "value": 1.0}, (
        wrong_type("name", lambda x: None, "string"),),
        call_valid=False),
)

#: Public names that are not validated callables: typed results (NamedTuples, dataclasses
#: built by the library), warnings, and constants.
NOT_VALIDATED_KINDS = (tuple, Warning)


# --------------------------------------------------------------------------------------------
# Which kinds apply to a signature
# --------------------------------------------------------------------------------------------
# free text, not options; ``device`` strings are torch's to parse ("cpu", "cuda:1", ...)
_FREE_TEXT = {"claim_id", "statement", "name", "desc", "prefix", "device"}


def _params(obj: Any) -> list[inspect.Parameter]:
    # a class is read from its constructor: its forward is one line over a function whose own
    # entry covers the tensor kinds (the meta-test still asks for one bad forward tensor)
    return list(inspect.signature(obj).parameters.values())


def applicable_kinds(obj: Any) -> set[str]:
    """The kinds of bad input that a callable's signature (a class: its constructor) exposes."""
    params = _params(obj)
    ann = {p.name: str(p.annotation) for p in params}
    tensors = [n for n, a in ann.items() if "Tensor" in a or a == "Views" or "Batch" in a]
    kinds: set[str] = set()
    if params:
        kinds.add("type")
    if tensors:
        kinds |= {"rank", "empty", "nonfinite"}
    if len(tensors) >= 2:
        kinds |= {"shape", "dtype-mismatch", "device-mismatch"}
    if any(re.fullmatch(r"(float|int)( \| None)?", a) for a in ann.values()):
        kinds.add("nonpositive")
    if any("label" in n or n in ("y_train", "y_test") for n in ann):
        kinds |= {"labels-range", "labels-dtype"}
    if any(("str" in a or a == "Graph") and n not in _FREE_TEXT for n, a in ann.items()):
        kinds.add("choice")
    return kinds


def public_callables() -> dict[str, Any]:
    """Every public callable to validate, from each subpackage's ``__all__`` (plus EXTRA)."""
    out = {}
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"reptutor.{sub}")
        for name in module.__all__:
            obj = getattr(module, name)
            if not callable(obj) or (inspect.isclass(obj) and issubclass(obj, NOT_VALIDATED_KINDS)):
                continue
            out[f"{sub}.{name}"] = obj
    for qual in EXTRA_CALLABLES:
        module, _, attr = qual.rpartition(".")
        out[qual] = getattr(importlib.import_module(f"reptutor.{module}"), attr)
    return out


def _cell_ids() -> list[tuple[Entry, Bad, str]]:
    out = []
    for entry in REGISTRY:
        counts: dict[str, int] = {}
        for cell in entry.cells:
            counts[cell.kind] = counts.get(cell.kind, 0) + 1
        seen: dict[str, int] = {}
        for cell in entry.cells:
            cid = f"reptutor.{entry.name}-{cell.kind}"
            if counts[cell.kind] > 1:
                seen[cell.kind] = seen.get(cell.kind, 0) + 1
                cid += f":{cell.arg}"
                if sum(c.kind == cell.kind and c.arg == cell.arg for c in entry.cells) > 1:
                    cid += f"#{seen[cell.kind]}"
            out.append((entry, cell, cid))
    return out


CELLS = _cell_ids()


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _no_claims_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPTUTOR_CLAIMS_LOG", raising=False)


@pytest.mark.parametrize(("entry", "cell"), [(e, c) for e, c, _ in CELLS], ids=[i for *_, i in CELLS])
def test_cell(entry: Entry, cell: Bad) -> None:
    valid = entry.valid()
    bad = cell.corrupt(valid)
    pattern = match_of(cell, valid)
    if cell.gap:
        try:
            entry.call(bad)
        except Exception as err:  # noqa: BLE001 - a cryptic error is still the gap
            if isinstance(err, cell.error) and re.search(pattern, str(err)):
                pytest.fail(f"known gap is fixed: remove gap= from the cell ({cell.gap})")
        pytest.xfail(cell.gap)
    with pytest.raises(cell.error, match=pattern):
        entry.call(bad)


@pytest.mark.parametrize("entry", [e for e in REGISTRY if e.call_valid], ids=lambda e: f"reptutor.{e.name}")
def test_valid_call(entry: Entry) -> None:
    # the cells corrupt exactly one argument of these: the untouched arguments must be valid
    entry.call(entry.valid())


def test_registry_covers_every_public_callable() -> None:
    registered = [e.name for e in REGISTRY]
    assert len(registered) == len(set(registered)), "an entry is registered twice"
    missing = sorted(set(public_callables()) - set(registered))
    assert not missing, f"public callables missing from REGISTRY: {missing}"
    stale = sorted(set(registered) - set(public_callables()))
    assert not stale, f"REGISTRY entries that are not public callables: {stale}"


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda e: f"reptutor.{e.name}")
def test_entry_covers_applicable_kinds(entry: Entry) -> None:
    tested = {c.kind for c in entry.cells}
    assert tested <= set(KINDS), f"unknown kinds {tested - set(KINDS)}"
    assert set(entry.na) <= set(KINDS), f"unknown n/a kinds {set(entry.na) - set(KINDS)}"
    assert not tested & set(entry.na), f"kinds both tested and n/a: {tested & set(entry.na)}"
    assert all(reason.strip() for reason in entry.na.values()), "an n/a needs a reason"
    forward_kinds = {"rank", "shape", "empty", "nonfinite", "dtype-mismatch", "device-mismatch",
                     "type"} if inspect.isclass(entry.obj) else set()
    noise = set(entry.na) - applicable_kinds(entry.obj) - forward_kinds
    assert not noise, f"n/a recorded for kinds the signature does not expose: {sorted(noise)}"
    untested = applicable_kinds(entry.obj) - tested - set(entry.na)
    assert not untested, f"{entry.name}: applicable kinds neither tested nor n/a: {sorted(untested)}"
    if inspect.isclass(entry.obj):
        method = getattr(entry.obj, "forward" if entry.method == "__call__" else entry.method)
        forward_args = set(inspect.signature(method).parameters) - {"self"}
        assert any(c.arg in forward_args for c in entry.cells), "test one forward with a bad tensor"
        ctor_args = set(inspect.signature(entry.obj).parameters)
        assert any(c.arg in ctor_args for c in entry.cells), "test one constructor hyper-parameter"


def test_applicable_kinds_reads_signatures() -> None:
    # the meta-test is only as good as this reading of signatures: check it on known cases
    assert applicable_kinds(reptutor.losses.info_nce_loss) == {
        "type", "rank", "empty", "nonfinite", "shape", "dtype-mismatch", "device-mismatch",
        "nonpositive", "choice"}
    assert {"labels-range", "labels-dtype"} <= applicable_kinds(reptutor.losses.supcon_loss)
    assert applicable_kinds(runtime.pick) == {"type"}
    assert applicable_kinds(reptutor.losses.InfoNCELoss) == {"type", "nonpositive", "choice"}


def test_cell_ids_are_unique_and_parse() -> None:
    ids = [i for *_, i in CELLS]
    assert len(ids) == len(set(ids))
    for i in ids:
        m = re.fullmatch(r"reptutor\.([\w.]+)-([a-z-]+)(:.*)?", i)
        assert m is not None and m.group(2) in KINDS, i


_ = (claims, runtime, train, typing)  # imported for the registry's lazy lookups
