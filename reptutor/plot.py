r"""One look for every figure, and the figures that recur across chapters.

Each plotting function takes an optional ``ax`` and returns it, and can draw the theory on the
same axes as the measurement (``theory=``), so the reader compares them directly. Matplotlib and
seaborn are imported lazily.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from reptutor import _checks

__all__ = [
    "set_theme",
    "subplots",
    "measured_vs_theory",
    "reference_line",
    "history",
    "embedding",
    "heatmap",
    "PALETTE",
]

#: Colour roles used across the book (measurement, theory, baseline, highlight).
PALETTE = {"measured": "#1f77b4", "theory": "#d62728", "baseline": "#7f7f7f", "highlight": "#2ca02c"}


def _np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=float)


def set_theme(context: str = "notebook") -> None:
    """Apply the book's seaborn theme (white grid, colour-blind palette, readable sizes)."""
    import seaborn as sns

    _checks.choice("context", context, ("paper", "notebook", "talk", "poster"))
    sns.set_theme(context=context, style="whitegrid", palette="colorblind")
    import matplotlib as mpl

    mpl.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "axes.titleweight": "bold",
                         "figure.autolayout": True})


def subplots(ncols: int = 1, nrows: int = 1, *, width: float = 4.2, height: float = 3.2):
    """``plt.subplots`` with the book's panel size; returns ``(fig, axes)``."""
    import matplotlib.pyplot as plt

    _checks.integer("ncols", ncols, minimum=1)
    _checks.integer("nrows", nrows, minimum=1)
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=nrows * ncols == 1)


def reference_line(ax, y: float, label: str, *, color: str = PALETTE["theory"], style: str = "--"):
    """A horizontal line for a theoretical constant (a bound, a ceiling, an optimum)."""
    ax.axhline(_checks.number("y", y), color=color, linestyle=style, linewidth=1.5, label=label)
    return ax


def measured_vs_theory(
    x: Sequence[float] | np.ndarray | torch.Tensor,
    measured: Sequence[float] | np.ndarray | torch.Tensor,
    *,
    spread: Sequence[float] | np.ndarray | torch.Tensor | None = None,
    theory: Sequence[float] | np.ndarray | torch.Tensor | float | None = None,
    label: str = "measured",
    theory_label: str = "theory",
    ax=None,
    marker: str = "o",
):
    """Plot a measured curve (with an optional ±spread band) and the theory on the same axes.

    Args:
        x: positions, shape (P,).
        measured: measured values, shape (P,).
        spread: optional half-width of a band around ``measured`` (e.g. one std over seeds).
        theory: predicted values at ``x`` (shape (P,)) or one constant.
    """
    if ax is None:
        _, ax = subplots()
    xs, ys = _np(x), _np(measured)
    if xs.shape != ys.shape:
        raise ValueError(f"x and measured must have the same shape, got {xs.shape} and {ys.shape}")
    ax.plot(xs, ys, marker=marker, color=PALETTE["measured"], label=label)
    if spread is not None:
        s = _np(spread)
        ax.fill_between(xs, ys - s, ys + s, color=PALETTE["measured"], alpha=0.2, linewidth=0)
    if theory is not None:
        t = _np(theory)
        if t.ndim == 0:
            reference_line(ax, float(t), theory_label)
        else:
            ax.plot(xs, t, linestyle="--", color=PALETTE["theory"], label=theory_label)
    ax.legend(frameon=False)
    return ax


def history(hist, terms: Sequence[str] = ("loss",), *, theory: Mapping[str, float] | None = None,
            ax=None, logy: bool = False):
    """Plot logged terms of a :class:`reptutor.train.History` against the step.

    ``theory`` maps a term name to its predicted optimum, drawn as a dashed line.
    """
    _checks.boolean("logy", logy)
    if ax is None:
        _, ax = subplots()
    for name in terms:
        ax.plot(hist.step, hist[name], label=name)
        if theory and name in theory:
            reference_line(ax, theory[name], f"{name}: theory")
    ax.set_xlabel("step")
    if logy:
        ax.set_yscale("log")
    ax.legend(frameon=False)
    return ax


def embedding(z: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray | None = None, *,
              ax=None, title: str | None = None, s: float = 8.0):
    """Scatter a representation ``z`` (N, D): the first two principal components when D > 2."""
    if ax is None:
        _, ax = subplots()
    zz = _np(z)
    if zz.ndim != 2 or zz.shape[1] < 1:
        raise ValueError(f"z must be 2-D (N, D), got shape {zz.shape}")
    if zz.shape[1] == 1:
        zz = np.concatenate([zz, np.zeros_like(zz)], axis=1)
    elif zz.shape[1] > 2:
        zc = zz - zz.mean(0)
        _, _, vt = np.linalg.svd(zc, full_matrices=False)
        zz = zc @ vt[:2].T  # (N, 2) principal components
    c = None if labels is None else _np(labels)
    ax.scatter(zz[:, 0], zz[:, 1], c=c, s=s, cmap="tab10" if c is not None else None, alpha=0.8)
    if title:
        ax.set_title(title)
    return ax


def heatmap(matrix: torch.Tensor | np.ndarray, *, ax=None, title: str | None = None,
            cmap: str = "viridis", xlabel: str | None = None, ylabel: str | None = None):
    """Show a matrix (a transport plan, a similarity or importance matrix) with a colour bar."""
    if ax is None:
        _, ax = subplots()
    m = _np(matrix)
    if m.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {m.shape}")
    im = ax.imshow(m, aspect="auto", cmap=cmap, interpolation="nearest")
    ax.figure.colorbar(im, ax=ax)
    ax.grid(False)
    if title:
        ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    return ax
