"""reptutor.train.fit: the three data forms, logged terms, errors."""
import pytest
import torch
from torch import nn

from reptutor import train

import _validation as V


def _regression(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    w = torch.tensor([[1.0], [-2.0], [0.5]])
    return x, x @ w, w


def mse(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def test_fits_least_squares_to_the_closed_form():
    torch.manual_seed(0)
    x, y, w = _regression()
    model = nn.Linear(3, 1, bias=False)
    hist = train.fit(model, mse, (x, y), epochs=80, batch_size=64, lr=0.05, progress=False,
                     generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(model.weight.detach().T, w, atol=1e-3, rtol=0)
    assert len(hist.step) == 80 * 4 and hist.step[-1] == 320 and hist.seconds > 0


def test_same_generator_same_run():
    x, y, _ = _regression()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        m = nn.Linear(3, 1)
        train.fit(m, mse, (x, y), steps=10, batch_size=32, progress=False,
                  generator=torch.Generator().manual_seed(7))
        runs.append(m.weight.detach().clone())
    assert torch.equal(*runs)


def test_callable_data_and_named_terms():
    torch.manual_seed(0)
    model = nn.Linear(2, 1)

    def batch(step):
        return torch.full((4, 2), float(step))

    def loss_fn(m, b):
        out = m(b).pow(2).mean()
        return {"loss": out, "half": out / 2}

    hist = train.fit(model, loss_fn, batch, steps=5, lr=1e-3, log_every=2, progress=False)
    assert hist.step == [2, 4, 5]
    assert hist["half"] == pytest.approx([v / 2 for v in hist["loss"]], rel=1e-6)
    assert hist.last("loss", n=2) == pytest.approx(sum(hist["loss"][-2:]) / 2)


def test_iterable_data_epochs():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x, y, _ = _regression(64)
    loader = [(x[:32], y[:32]), (x[32:], y[32:])]
    hist = train.fit(model, mse, loader, epochs=3, progress=False)
    assert hist.step[-1] == 6


def test_errors():
    model = nn.Linear(2, 1)
    x = torch.randn(8, 2)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str"):
        train.fit("net", mse, x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        train.fit(model, 3, x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="steps must be given when data is a callable"):
        train.fit(model, mse, lambda s: x)
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        train.fit(model, mse, x, steps=0)
    with pytest.raises(ValueError, match="lr must be > 0, got -1.0"):
        train.fit(model, mse, x, lr=-1.0)
    with pytest.raises(ValueError, match="the loss became nan at step 1"):
        train.fit(model, lambda m, b: m(b).sum() * float("nan"), x, steps=1, batch_size=4,
                  progress=False)
    with pytest.raises(ValueError, match="loss_fn returned a mapping without a 'loss' entry"):
        train.fit(model, lambda m, b: {"l": m(b).sum()}, x, steps=1, batch_size=4, progress=False)
    with pytest.raises(ValueError, match=r"data\[1\] must have 8 rows like data\[0\], got shape \(7, 1\)"):
        train.fit(model, mse, (x, torch.zeros(7, 1)), steps=1, batch_size=4, progress=False)
    hist = train.fit(model, lambda m, b: m(b).pow(2).mean(), x, steps=1, batch_size=4, progress=False)
    with pytest.raises(ValueError, match="name must be one of 'loss'; got 'acc'"):
        hist["acc"]


# ---------------------------------------------------------------- progress: a bar or one line
def _tiny_fit(**kw):
    model = nn.Linear(2, 1)
    return train.fit(model, lambda m, b: m(b).pow(2).mean(), torch.randn(16, 2), steps=3,
                     batch_size=8, desc="tiny", **kw)


def test_summary_mode_prints_one_line_with_steps_seconds_and_final_loss(monkeypatch, capsys):
    monkeypatch.setenv("REPTUTOR_PROGRESS", "summary")
    hist = _tiny_fit()
    out, err = capsys.readouterr()
    assert err == ""  # no bar, no stale "96% 386/400" state
    (line,) = out.splitlines()
    assert line.startswith("tiny: 3 steps in ") and line.endswith(f"final loss {hist.last():.4g}")


def test_off_mode_and_progress_false_print_nothing(monkeypatch, capsys):
    monkeypatch.setenv("REPTUTOR_PROGRESS", "off")
    _tiny_fit()
    monkeypatch.setenv("REPTUTOR_PROGRESS", "summary")
    _tiny_fit(progress=False)
    assert capsys.readouterr() == ("", "")


def test_bar_mode_removes_its_bar_and_ends_with_the_summary(monkeypatch, capsys):
    monkeypatch.setenv("REPTUTOR_PROGRESS", "bar")
    _tiny_fit()
    out, _ = capsys.readouterr()
    assert out.startswith("tiny: 3 steps in ")


def test_progress_mode_default_and_bad_value(monkeypatch):
    import io
    import sys

    monkeypatch.delenv("REPTUTOR_PROGRESS", raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal, not a kernel
    assert train.progress_mode() == "summary"
    monkeypatch.setenv("REPTUTOR_PROGRESS", "widget")
    with pytest.raises(ValueError, match="REPTUTOR_PROGRESS must be one of 'bar', 'summary', 'off'"):
        train.progress_mode()


def test_progress_wraps_a_loop_and_reports_at_break(monkeypatch, capsys):
    monkeypatch.setenv("REPTUTOR_PROGRESS", "summary")
    for i in train.progress(range(10), desc="own loop"):
        if i == 3:
            break
    assert capsys.readouterr().out.startswith("own loop: 3 steps in ")
    assert list(train.progress(iter([1, 2]), desc="gen")) == [1, 2]


# ---------------------------------------------------------------- declarations for the harnesses
class _Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 1)


def _fit_kwargs() -> dict:
    model = _Linear()
    return {"model": model, "loss_fn": lambda m, batch: m.lin(batch).pow(2).mean(),
            "data": V.randn(16, 2), "steps": 1, "batch_size": 8, "progress": False,
            "generator": V.gen()}


VALIDATION = [
    V.Entry("train.fit", _fit_kwargs, (
        V.nonpositive("steps"), V.nonpositive("batch_size"), V.nonpositive("lr"),
        V.wrong_type("model", lambda x: None, "torch.nn.Module"),
        V.wrong_type("loss_fn", lambda x: None, "callable"), *V.boolean("progress"),
        V.custom("type", "generator", lambda k: 0, V.all_of("generator", "torch.Generator", "int 0"),
                 error=TypeError),
    ), na={"rank": "data is any batch structure; its shape is the model's business",
           "empty": "data is any batch structure; see iterate_minibatches",
           "nonfinite": "a NaN loss is reported by fit's own check on the loss (test_train.py)"}),
    V.Entry("train.progress", lambda: {"iterable": range(2), "desc": "loop", "total": 2}, (
        V.nonpositive("total"), *V.boolean("enabled"),
    )),
    V.Entry("train.iterate_minibatches", lambda: {"data": V.randn(8, 2), "batch_size": 4}, (
        V.nonpositive("batch_size"), V.wrong_type("data", lambda x: None, "tensor"),
        V.shape("data", lambda k: (k["data"], k["data"][:7])), *V.boolean("shuffle", "drop_last"),
    ), na={"rank": "any rank >= 1 is a valid batch (samples along dim 0)",
           "nonfinite": "batches are data, not numbers to check", "empty": "an empty batch yields nothing"}),
]
