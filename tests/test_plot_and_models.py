"""reptutor.plot draws measurement and theory on one axes; reptutor.models.MLP shapes and errors."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from reptutor import plot, train  # noqa: E402
from reptutor.models import MLP  # noqa: E402


def teardown_function():
    plt.close("all")


def test_measured_vs_theory_draws_both():
    plot.set_theme()
    ax = plot.measured_vs_theory([1, 2, 3], torch.tensor([1.0, 2.0, 2.5]), spread=[0.1] * 3,
                                 theory=[1, 2, 3])
    lines = ax.get_lines()
    assert len(lines) == 2
    np.testing.assert_allclose(lines[1].get_ydata(), [1, 2, 3])
    ax2 = plot.measured_vs_theory([1, 2], [1, 2], theory=4.85)
    assert ax2.get_lines()[1].get_ydata()[0] == 4.85  # a constant becomes a horizontal line


def test_plot_errors():
    with pytest.raises(ValueError, match=r"x and measured must have the same shape, got \(2,\) and \(3,\)"):
        plot.measured_vs_theory([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="context must be one of"):
        plot.set_theme("huge")
    with pytest.raises(ValueError, match=r"z must be 2-D \(N, D\), got shape \(5,\)"):
        plot.embedding(np.zeros(5))
    with pytest.raises(ValueError, match=r"matrix must be 2-D, got shape \(2, 2, 2\)"):
        plot.heatmap(np.zeros((2, 2, 2)))


def test_embedding_projects_to_principal_components():
    z = torch.randn(50, 5)
    ax = plot.embedding(z, torch.arange(50) % 3)
    offsets = ax.collections[0].get_offsets()
    assert offsets.shape == (50, 2)
    assert abs(offsets[:, 0].mean()) < 1e-6  # centred projection
    assert ax.collections[0].get_cmap().name == "tab10"  # labels are categories by default
    ax = plot.embedding(z, torch.arange(50.0), cmap="viridis")
    assert ax.collections[-1].get_cmap().name == "viridis"  # a continuous label, for a colour bar


def test_history_and_heatmap():
    model = torch.nn.Linear(2, 1)
    hist = train.fit(model, lambda m, b: m(b).pow(2).mean(), torch.randn(8, 2), steps=3,
                     batch_size=4, progress=False)
    ax = plot.history(hist, theory={"loss": 0.0}, logy=True)
    assert len(ax.get_lines()) == 2
    plot.heatmap(torch.eye(3), title="plan", xlabel="k", ylabel="i")


def test_mlp():
    net = MLP(4, [8, 8], 3, activation="tanh", batch_norm=True)
    assert net(torch.randn(5, 4)).shape == (5, 3)
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in net.modules()) == 2
    with pytest.raises(ValueError, match=r"x must have shape \(N, 4\), got \(5, 3\)"):
        net(torch.randn(5, 3))
    with pytest.raises(ValueError, match="activation must be one of 'relu', 'gelu', 'tanh', 'silu'; got 'elu'"):
        MLP(4, [8], 3, activation="elu")
    with pytest.raises(TypeError, match="^hidden must be a sequence of integers, got int 8$"):
        MLP(4, 8, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^hidden\[1\] must be >= 1, got 0$"):
        MLP(4, [8, 0], 3)
    with pytest.raises(TypeError, match="^batch_norm must be a bool, got str 'yes'$"):
        MLP(4, [8], 3, batch_norm="yes")
    with pytest.raises(ValueError, match="in_dim must be >= 1, got 0"):
        MLP(0, [], 3)


def test_figures_fit_the_column_and_text_is_legible_there():
    plot.set_theme()
    fig, axes = plot.subplots(3, width=3.1, height=3.4)  # 9.3 in of panels: shrunk by 0.77
    assert axes.shape == (1, 3)
    assert fig.get_figwidth() == pytest.approx(plot.COLUMN_IN)
    assert plot.display_scale(fig) == pytest.approx(1.0)
    assert fig.get_figheight() == pytest.approx(3.4 * (plot.COLUMN_IN / 9.3) ** 0.5)
    axes[0, 0].plot([0, 1], label="a")
    legend = axes[0, 0].legend(fontsize=7)  # what a chapter may ask for
    title = axes[0, 1].set_title("t", fontsize=6)
    fig.canvas.draw()
    assert legend.get_texts()[0].get_fontsize() >= plot.MIN_FONT_PT
    assert title.get_fontsize() >= plot.MIN_FONT_PT
    assert min(t.get_fontsize() for t in axes[0, 2].get_xticklabels()) >= plot.MIN_FONT_PT
    small, _ = plot.subplots(1, width=3.0, height=2.0)
    assert small.get_size_inches() == pytest.approx((3.0, 2.0))  # narrower figures unchanged
    wide = plt.figure(figsize=(2 * plot.COLUMN_IN, 3), FigureClass=type(fig))
    assert plot.display_scale(wide) == pytest.approx(0.5)
    text = wide.text(0.5, 0.5, "x", fontsize=9)
    wide.canvas.draw()
    assert text.get_fontsize() == pytest.approx(2 * plot.MIN_FONT_PT)  # shrunk by 2 on the page


def test_a_row_too_wide_for_the_column_wraps_and_keeps_its_indices():
    plot.set_theme()
    fig, axes = plot.subplots(3, 2, width=4.4, height=3.0)  # 13.2 in per row: 2 panels per line
    assert axes.shape == (2, 3)
    assert fig.get_figwidth() == pytest.approx(plot.COLUMN_IN)
    boxes = [[ax.get_position() for ax in row] for row in axes]
    assert boxes[0][0].y0 == pytest.approx(boxes[0][1].y0)       # axes[0, 0] and [0, 1] side by side
    assert boxes[0][2].y0 < boxes[0][0].y0 and boxes[0][2].x0 == pytest.approx(boxes[0][0].x0)
    assert boxes[1][0].y0 < boxes[0][2].y0                         # the second row of panels below
    assert plot.subplots(1)[1].__class__.__name__.endswith("Axes")  # one panel: an Axes


def test_legend_below_hangs_under_the_panel_and_the_figure_makes_room():
    plot.set_theme()
    fig, axes = plot.subplots(2, width=3.3, height=3.0)
    height = fig.get_figheight()
    left, right = axes[0, 0], axes[0, 1]
    for k in range(4):
        left.plot([0, 1], [k, k + 1], label=f"curve {k}")
    left.set_xlabel("x")
    twin = right.twinx()
    right.plot([0, 1], label="loss")
    twin.plot([1, 0], label="bound")
    twin.legend()
    legend = plot.legend_below(left)
    joined = plot.legend_below(right, also=[twin])
    assert twin.get_legend() is None  # the twin's lines joined the panel's legend
    assert [t.get_text() for t in joined.get_texts()] == ["loss", "bound"]
    assert fig.get_figheight() > height  # room for the legends, not squeezed panels
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax, leg in ((left, legend), (right, joined)):
        box, panel = leg.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert box.y1 < panel.y0  # entirely below the data area
        assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 + 1  # and inside the figure
    # the panels are not squeezed: at least (nearly) the height of a figure without legends
    bare, bare_axes = plot.subplots(2, width=3.3, height=3.0)
    bare_axes[0, 0].set_xlabel("x")
    bare.canvas.draw()
    bare_height = bare_axes[0, 0].get_window_extent(bare.canvas.get_renderer()).height
    assert left.get_window_extent(renderer).height >= 0.9 * bare_height
    with pytest.raises(ValueError, match="no labelled artists"):
        plot.legend_below(plot.subplots(1)[1])
    with pytest.raises(ValueError, match="ncol"):
        plot.legend_below(left, ncol=0)
