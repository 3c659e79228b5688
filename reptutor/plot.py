r"""One look for every figure, and the figures that recur across chapters.

Each plotting function takes an optional ``ax`` and returns it, and can draw the theory on the
same axes as the measurement (``theory=``), so the reader compares them directly. Matplotlib and
seaborn are imported lazily.

Legible at the column width. The book shows a figure at most :data:`COLUMN_IN` inches wide (the
width of the rendered page's output column, 688 CSS pixels at 96 px per inch) and never enlarges
it. So :func:`subplots` caps a figure's width at :data:`COLUMN_IN` (shrinking the panels, not the
text), the theme's text sizes are the sizes read on the page (legend and ticks 9 pt), and a
figure made by :func:`subplots` raises any smaller text (an explicit ``fontsize=7``) to
:data:`MIN_FONT_PT` times its display shrink factor when it is drawn. :func:`set_theme` also
makes notebooks emit SVG figures (sharp at any zoom; text as paths, so the page needs no font).
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
    "COLUMN_IN",
    "MIN_FONT_PT",
    "display_scale",
    "legend_below",
]

#: Colour roles used across the book (measurement, theory, baseline, highlight).
PALETTE = {"measured": "#1f77b4", "theory": "#d62728", "baseline": "#7f7f7f", "highlight": "#2ca02c"}


def _np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=float)


#: Width of the rendered book's output column, in inches at 96 CSS pixels per inch.
COLUMN_IN = 688 / 96
#: Smallest text size, in points as displayed on the page.
MIN_FONT_PT = 9.0

# Text sizes of the "notebook" context, in points at display scale 1 (a figure <= COLUMN_IN).
_BOOK_SIZES = {"font.size": 10.0, "axes.labelsize": 10.0, "axes.titlesize": 10.5,
               "xtick.labelsize": 9.0, "ytick.labelsize": 9.0, "legend.fontsize": 9.0,
               "legend.title_fontsize": 9.5, "figure.titlesize": 11.0}


def set_theme(context: str = "notebook") -> None:
    """Apply the book's theme: white grid, colour-blind palette, text legible at the column width.

    In an IPython kernel, figures are also emitted as SVG (see the module doc).
    """
    import seaborn as sns

    _checks.choice("context", context, ("paper", "notebook", "talk", "poster"))
    sns.set_theme(context=context, style="whitegrid", palette="colorblind")
    import matplotlib as mpl

    scale = {"paper": 0.9, "notebook": 1.0, "talk": 1.3, "poster": 1.6}[context]
    mpl.rcParams.update({k: v * scale for k, v in _BOOK_SIZES.items()})
    mpl.rcParams.update({"figure.dpi": 100, "savefig.dpi": 200, "axes.titleweight": "bold",
                         "figure.autolayout": True, "svg.fonttype": "path",
                         "svg.hashsalt": "reptutor"})
    _inline_svg()


def _inline_svg() -> None:
    try:
        ip = get_ipython()  # type: ignore[name-defined]  # noqa: F821
    except NameError:
        return
    if ip is None or ip.__class__.__name__ != "ZMQInteractiveShell":
        return
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # pragma: no cover - depends on the environment
        return
    set_matplotlib_formats("svg")


def display_scale(fig) -> float:
    """How much the book shrinks ``fig`` to fit the column: ``min(1, COLUMN_IN / width)``."""
    width = float(fig.get_figwidth())
    return min(1.0, COLUMN_IN / width) if width > 0 else 1.0


_FIGURE_CLASS: list = []


def _book_figure_class():
    if _FIGURE_CLASS:
        return _FIGURE_CLASS[0]
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    class BookFigure(Figure):
        """A Figure that raises text below :data:`MIN_FONT_PT` (as displayed) when drawn."""

        def draw(self, renderer):
            floor = MIN_FONT_PT / display_scale(self)
            for text in self.findobj(Text):
                if text.get_visible() and text.get_text() and text.get_fontsize() < floor:
                    text.set_fontsize(floor)
            return super().draw(renderer)

    _FIGURE_CLASS.append(BookFigure)
    return BookFigure


#: A row of panels is wrapped onto more rows, instead of shrunk, when its panels would come out
#: narrower than ``min(MIN_PANEL_IN, MIN_SHRINK * width)`` inches on the page.
MIN_PANEL_IN = 2.9
MIN_SHRINK = 0.75


def subplots(ncols: int = 1, nrows: int = 1, *, width: float = 4.2, height: float = 3.2):
    """``plt.subplots`` with the book's panel size; returns ``(fig, axes)``.

    ``width`` and ``height`` are one panel's size in inches; ``axes`` has shape
    ``(nrows, ncols)`` (a single Axes when both are 1). When the panels of a row are wider than
    the page's column (:data:`COLUMN_IN`) together, the figure is fitted to it so that its text
    keeps its size on the page: shrunk by a factor ``s`` (widths by ``s``, heights by
    ``sqrt(s)``), or, when that would leave panels narrower than ``min(MIN_PANEL_IN,
    MIN_SHRINK * width)``, with each row of panels wrapped onto as many rows as it takes
    (``axes[i, j]`` keeps its indices; only its place changes).
    """
    import matplotlib.pyplot as plt

    _checks.integer("ncols", ncols, minimum=1)
    _checks.integer("nrows", nrows, minimum=1)
    _checks.number("width", width, positive=True)
    _checks.number("height", height, positive=True)
    narrowest = min(MIN_PANEL_IN, MIN_SHRINK * width)
    per_row = ncols
    if min(width, COLUMN_IN / ncols) < narrowest:
        per_row = max(1, min(ncols, int(COLUMN_IN // narrowest)))
    wraps = -(-ncols // per_row)  # display rows per row of panels
    shrink = min(1.0, COLUMN_IN / (width * per_row))
    fig = plt.figure(figsize=(width * per_row * shrink, height * nrows * wraps * shrink ** 0.5),
                     FigureClass=_book_figure_class())
    grid = fig.add_gridspec(nrows * wraps, per_row)
    axes = np.empty((nrows, ncols), dtype=object)
    for i in range(nrows):
        for j in range(ncols):
            axes[i, j] = fig.add_subplot(grid[i * wraps + j // per_row, j % per_row])
    return fig, (axes[0, 0] if nrows * ncols == 1 else axes)


def _rc_points(key: str):
    import matplotlib as mpl

    value = mpl.rcParams[key]
    if isinstance(value, str):  # a named size ("small") -> points
        from matplotlib.font_manager import FontProperties

        return FontProperties(size=value).get_size_in_points()
    return value


def legend_below(ax, *, ncol: int | None = None, also=()):
    """Draw ``ax``'s legend under the panel, outside the data, in ``ncol`` columns; returns it.

    A legend inside a crowded panel hides the curves it names. This one hangs below the x-axis
    label (anchored a fixed number of points under the axes, so it does not depend on the panel's
    height), and the figure's layout makes room for it. ``also`` lists other Axes (a ``twinx``)
    whose lines join the same legend; their own legends are removed. ``ncol=None`` takes as
    many columns as fit the panel's width (the longest label sets the column width).
    """
    from matplotlib.transforms import offset_copy

    if ncol is not None:
        _checks.integer("ncol", ncol, minimum=1)
    handles, labels = ax.get_legend_handles_labels()
    for other in also:
        more_h, more_l = other.get_legend_handles_labels()
        handles, labels = handles + more_h, labels + more_l
        if other.get_legend() is not None:
            other.get_legend().remove()
    if not handles:
        raise ValueError("legend_below: ax has no labelled artists (pass label= when plotting)")
    if ncol is None:  # a column: handle + gap (~30 pt) + label at ~0.55 em per character
        size = float(_rc_points("legend.fontsize"))
        column_pt = 30.0 + 0.55 * size * max(len(str(t)) for t in labels)
        ncol = max(1, int(ax.get_position().width * ax.figure.get_figwidth() * 72 // column_pt))
    fig = ax.figure
    drop = 38.0 if ax.get_xlabel() else 24.0  # points: tick labels (+ the axis label) above it
    anchor = offset_copy(ax.transAxes, fig=fig, y=-drop, units="points")
    legend = ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                       bbox_transform=anchor, ncol=min(ncol, len(handles)), frameon=False,
                       borderaxespad=0.0, handlelength=1.6, columnspacing=1.2)
    # The figure grows by the legend's height (the largest legend of each row of panels), so
    # that the layout does not squeeze the panels to make room for it.
    try:
        renderer = fig.canvas.get_renderer()
    except AttributeError:  # pragma: no cover - a canvas without one
        renderer = fig._get_renderer()
    size = float(legend.get_texts()[0].get_fontsize())
    grow = max(1.0, MIN_FONT_PT / display_scale(fig) / size)  # BookFigure raises small text
    height = legend.get_window_extent(renderer).height / fig.dpi * grow + (drop - 12.0) / 72
    if not hasattr(fig, "_legend_rows"):
        fig._legend_rows = {"base": fig.get_figheight()}
    spec = ax.get_subplotspec()
    row = spec.rowspan.stop if spec is not None else 0
    rows = fig._legend_rows
    rows[row] = max(rows.get(row, 0.0), height)
    fig.set_figheight(rows["base"] + sum(v for k, v in rows.items() if k != "base"))
    return legend


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
              ax=None, title: str | None = None, s: float = 8.0, cmap: str = "tab10"):
    """Scatter a representation ``z`` (N, D): the first two principal components when D > 2.

    ``labels`` colour the points through ``cmap`` (the scatter is ``ax.collections[-1]``, for
    a colour bar)."""
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
    ax.scatter(zz[:, 0], zz[:, 1], c=c, s=s, cmap=cmap if c is not None else None, alpha=0.8)
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
