r"""One small training loop for every chapter.

:func:`fit` runs ``loss_fn(model, batch)`` over mini-batches with an optimizer, shows a tqdm
progress bar (notebook widget or text), moves batches to the model's device, and returns a
:class:`History` of every logged term. A chapter that needs something unusual (alternating
updates, EMA targets) passes a ``callback`` instead of writing its own loop.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import torch
from torch import nn

from reptutor import _checks

__all__ = ["fit", "History", "iterate_minibatches"]

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
        progress: show a tqdm progress bar.
        desc: the progress bar's label.

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

    from tqdm.auto import tqdm

    history = History()
    model.train()
    start = time.perf_counter()
    bar = tqdm(total=total, desc=desc, disable=not progress, leave=False)
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
            bar.set_postfix(loss=f"{terms['loss']:.4g}", refresh=False)
        if callback is not None:
            callback(step, model, history)
        bar.update(1)
    bar.close()
    history.seconds = time.perf_counter() - start
    return history
