r"""One small training loop for every chapter.

:func:`fit` runs ``loss_fn(model, batch)`` over mini-batches with an optimizer, reports its
progress, moves batches to the model's device, and returns a :class:`History` of every logged
term. A chapter that needs something unusual (alternating updates, EMA targets) passes a
``callback`` instead of writing its own loop; a chapter with its own loop wraps it in
:func:`progress`.

Progress is shown in one of three modes, chosen by the environment variable
``REPTUTOR_PROGRESS``:

* ``bar``: a live tqdm bar (a notebook widget in Jupyter or Colab, text in a terminal) that is
  removed when the loop ends, followed by the one-line summary below;
* ``summary``: only one line at the end, ``"<desc>: <steps> steps in <s> s, final loss <l>"``;
  the rendered book uses this mode (its build sets the variable), so stored outputs hold no
  widget, no half-finished bar and no widget JavaScript;
* ``off``: nothing.

Without the variable the mode is ``bar`` in an interactive session (an IPython kernel or a
terminal) and ``summary`` otherwise.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import torch
from torch import nn

from reptutor import _checks

__all__ = ["fit", "History", "iterate_minibatches", "progress", "progress_mode"]

PROGRESS_MODES = ("bar", "summary", "off")

Batch = Union[torch.Tensor, tuple, list]
LossOutput = Union[torch.Tensor, Mapping[str, torch.Tensor]]


@dataclass
class History:
    """What :func:`fit` logged: one list per term, one entry per logged step.

    Attributes:
        step: the optimizer step of each entry (1-based).
        terms: ``{"loss": [...], "<other term>": [...]}`` as Python floats.
        seconds: wall-clock time of the whole run.
    """

    step: list[int] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def __getitem__(self, name: str) -> list[float]:
        if name not in self.terms:
            _checks.choice("name", name, sorted(self.terms))
        return self.terms[name]

    def last(self, name: str = "loss", n: int = 1) -> float:
        """Mean of the last ``n`` logged values of ``name``."""
        values = self[name]
        _checks.integer("n", n, minimum=1)
        tail = values[-n:]
        return sum(tail) / len(tail)

    def _log(self, step: int, terms: Mapping[str, float]) -> None:
        self.step.append(step)
        for k, v in terms.items():
            self.terms.setdefault(k, []).append(v)


def iterate_minibatches(
    data: Batch, batch_size: int, *, shuffle: bool = True, generator: torch.Generator | None = None,
    drop_last: bool = True,
) -> Iterable[Batch]:
    """Yield mini-batches (same structure as ``data``) of one epoch over tensors with N rows.

    The arguments are checked when this is called, not when the first batch is drawn.
    """
    tensors = data if isinstance(data, (tuple, list)) else (data,)
    if not tensors or not all(isinstance(t, torch.Tensor) and t.ndim >= 1 for t in tensors):
        raise TypeError(
            "data must be a tensor or a tuple/list of tensors with samples along dim 0, got "
            f"{_checks._describe(data)}"
        )
    n = tensors[0].shape[0]
    for i, t in enumerate(tensors):
        if t.shape[0] != n:
            raise ValueError(
                f"data[{i}] must have {n} rows like data[0], got shape {tuple(t.shape)}"
            )
    _checks.integer("batch_size", batch_size, minimum=1)
    _checks.boolean("shuffle", shuffle)
    _checks.boolean("drop_last", drop_last)
    if generator is not None:
        _checks.generator("generator", generator)
    return _minibatches(data, tensors, n, batch_size, shuffle, generator, drop_last)


def _minibatches(
    data: Batch, tensors: Sequence[torch.Tensor], n: int, batch_size: int, shuffle: bool,
    generator: torch.Generator | None, drop_last: bool,
) -> Iterator[Batch]:
    order = (
        torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    ).to(tensors[0].device)
    stop = n - n % batch_size if (drop_last and n >= batch_size) else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        out = tuple(t[idx] for t in tensors)
        yield out if isinstance(data, (tuple, list)) else out[0]


def _to_device(batch: Any, dev: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(dev, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, dev) for b in batch)
    return batch


def fit(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Any], LossOutput],
    data: Batch | Iterable[Any] | Callable[[int], Any],
    *,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int = 256,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    log_every: int = 1,
    callback: Callable[[int, nn.Module, History], None] | None = None,
    progress: bool = True,
    desc: str = "train",
) -> History:
    r"""Train ``model`` by minimizing ``loss_fn(model, batch)``.

    ``data`` may be

    * a tensor or a tuple of tensors with N rows: shuffled mini-batches of ``batch_size``
      (``generator`` makes the order reproducible), for ``epochs`` epochs or ``steps`` steps;
    * a callable ``step -> batch`` (fresh procedural data each step), for ``steps`` steps;
    * any other iterable of batches (e.g. a DataLoader), re-iterated for ``epochs`` epochs.

    ``loss_fn`` returns a scalar tensor, or a mapping with a ``"loss"`` entry plus named terms to
    log. Batches are moved to the device of the model's first parameter.

    Args:
        model: the module to train (put in train mode; left in train mode).
        loss_fn: ``(model, batch) -> loss`` or ``-> {"loss": ..., "term": ...}``.
        data: see above.
        steps: number of optimizer steps (required for a callable ``data``).
        epochs: number of passes over tensor / iterable data (default 1 when ``steps`` is None).
        batch_size: mini-batch size for tensor data.
        optimizer: defaults to Adam over ``model.parameters()`` with learning rate ``lr``.
        lr: learning rate of the default optimizer.
        generator: random generator for shuffling tensor data.
        log_every: log every this many steps (and always the last one).
        callback: called as ``callback(step, model, history)`` after each optimizer step.
        progress: report progress (a live bar and/or a one-line summary, see
            :func:`progress_mode`); ``False`` prints nothing.
        desc: the label of the bar and of the summary line.

    Returns:
        The :class:`History` of logged terms.

    Raises:
        ValueError: for a non-finite loss (names the step), bad step/epoch counts, or a
            ``loss_fn`` result without a ``"loss"`` entry.

    Examples:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> x = torch.randn(256, 3); w = torch.tensor([[1.0], [-2.0], [0.5]]); y = x @ w
        >>> model = nn.Linear(3, 1, bias=False)
        >>> hist = fit(model, lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(), (x, y),
        ...            epochs=60, batch_size=64, lr=0.05, progress=False)
        >>> hist.last() < 1e-4 < hist["loss"][0]
        True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (model, batch) -> loss, got {type(loss_fn).__name__}")
    if steps is not None:
        _checks.integer("steps", steps, minimum=1)
    if epochs is not None:
        _checks.integer("epochs", epochs, minimum=1)
    _checks.integer("batch_size", batch_size, minimum=1)
    _checks.integer("log_every", log_every, minimum=1)
    _checks.boolean("progress", progress)
    if generator is not None:
        _checks.generator("generator", generator)
    params = list(model.parameters())
    dev = params[0].device if params else torch.device("cpu")
    if optimizer is None:
        if not params:
            raise ValueError("model has no parameters to train; pass an optimizer over other tensors")
        optimizer = torch.optim.Adam(params, lr=_checks.number("lr", lr, positive=True))

    tensor_data = isinstance(data, torch.Tensor) or (
        isinstance(data, (tuple, list)) and len(data) > 0
        and all(isinstance(t, torch.Tensor) for t in data)
    )
    if tensor_data:
        first = data if isinstance(data, torch.Tensor) else data[0]
        n = first.shape[0]
        per_epoch = max(n // batch_size, 1)

        def batches() -> Iterable[Any]:
            while True:
                yield from iterate_minibatches(data, batch_size, generator=generator)

        total = steps if steps is not None else per_epoch * (epochs or 1)
        source: Iterable[Any] = batches()
    elif callable(data):
        if steps is None:
            raise ValueError("steps must be given when data is a callable step -> batch")
        total = steps
        source = (data(s) for s in range(steps))
    else:
        if steps is None:
            n_ep = epochs or 1
            total = None

            def repeat() -> Iterable[Any]:
                for _ in range(n_ep):
                    yield from data  # type: ignore[misc]

            source = repeat()
        else:
            total = steps

            def cycle() -> Iterable[Any]:
                while True:
                    yield from data  # type: ignore[misc]

            source = cycle()

    history = History()
    model.train()
    start = time.perf_counter()
    bar = _Progress(total, desc, enabled=progress)
    step = 0
    for batch in source:
        if total is not None and step >= total:
            break
        step += 1
        out = loss_fn(model, _to_device(batch, dev))
        if isinstance(out, Mapping):
            if "loss" not in out:
                raise ValueError(f"loss_fn returned a mapping without a 'loss' entry: {sorted(out)}")
            loss = out["loss"]
        else:
            loss = out
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError(f"loss_fn must return a scalar tensor, got {loss!r:.80}")
        if not torch.isfinite(loss):
            raise ValueError(
                f"the loss became {loss.item()} at step {step}; lower the learning rate or "
                "check the data"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % log_every == 0 or step == total:
            terms = {"loss": float(loss.detach())}
            if isinstance(out, Mapping):
                terms.update({k: float(v.detach()) for k, v in out.items() if k != "loss"})
            history._log(step, terms)
            bar.loss(terms["loss"])
        if callback is not None:
            callback(step, model, history)
        bar.update(1)
    history.seconds = time.perf_counter() - start
    bar.close(history.seconds)
    return history


def progress_mode() -> str:
    """How loops report progress: ``"bar"``, ``"summary"`` or ``"off"`` (see the module doc).

    ``REPTUTOR_PROGRESS`` decides when set; otherwise ``"bar"`` in an interactive session (an
    IPython kernel, a terminal) and ``"summary"`` elsewhere (a script writing to a file, a pipe).

    Examples:
        >>> import os; os.environ["REPTUTOR_PROGRESS"] = "summary"
        >>> progress_mode()
        'summary'
        >>> del os.environ["REPTUTOR_PROGRESS"]
    """
    import os
    import sys

    mode = os.environ.get("REPTUTOR_PROGRESS", "").strip().lower()
    if mode:
        return _checks.choice("REPTUTOR_PROGRESS", mode, PROGRESS_MODES)
    try:
        shell = get_ipython().__class__.__name__  # type: ignore[name-defined]  # noqa: F821
    except NameError:
        shell = ""
    if shell == "ZMQInteractiveShell" or "google.colab" in sys.modules:
        return "bar"
    return "bar" if getattr(sys.stderr, "isatty", lambda: False)() else "summary"


class _Progress:
    """A tqdm bar in ``bar`` mode, and the one-line summary in ``bar`` and ``summary`` modes."""

    def __init__(self, total: int | None, desc: str, *, enabled: bool = True) -> None:
        self.mode = progress_mode() if enabled else "off"
        self.desc, self.steps, self.last_loss = desc, 0, None
        self.start = time.perf_counter()
        self.bar = None
        if self.mode == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, leave=False)

    def loss(self, value: float) -> None:
        self.last_loss = value
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{value:.4g}", refresh=False)

    def update(self, n: int = 1) -> None:
        self.steps += n
        if self.bar is not None:
            self.bar.update(n)

    def close(self, seconds: float | None = None) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.mode == "off":
            return
        seconds = time.perf_counter() - self.start if seconds is None else seconds
        line = f"{self.desc}: {self.steps} steps in {seconds:.1f} s"
        if self.last_loss is not None:
            line += f", final loss {self.last_loss:.4g}"
        print(line, flush=True)
        self.mode = "off"  # once


def progress(iterable: Iterable[Any], *, desc: str = "loop", total: int | None = None,
             enabled: bool = True) -> Iterator[Any]:
    """Iterate over ``iterable`` reporting progress like :func:`fit` (a bar and/or one line).

    For a chapter's own training loop: ``for epoch in train.progress(range(n), desc="SeLa")``.
    The summary line counts the items and the seconds; it prints when the loop ends (also
    when it is left by ``break``).

    Examples:
        >>> import os; os.environ["REPTUTOR_PROGRESS"] = "summary"
        >>> sum(progress(range(4), desc="demo"))  # doctest: +ELLIPSIS
        demo: 4 steps in ... s
        6
        >>> del os.environ["REPTUTOR_PROGRESS"]
    """
    _checks.string("desc", desc)
    _checks.boolean("enabled", enabled)
    if total is not None:
        _checks.integer("total", total, minimum=1)
    elif hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    return _progress(iterable, _Progress(total, desc, enabled=enabled))


def _progress(iterable: Iterable[Any], bar: "_Progress") -> Iterator[Any]:
    try:
        for item in iterable:
            yield item
            bar.update(1)
    finally:
        bar.close()
