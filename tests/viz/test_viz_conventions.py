"""Figure conventions of hal9.viz: colour-scale choice, source→target matrix axes, labelled colour bars."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.colors import LogNorm, Normalize, SymLogNorm

from hal9.viz import (
    NORMS,
    color_scale,
    plot_emergent_hierarchy,
    plot_feature_space,
    plot_hierarchy,
    plot_layer_activity,
    plot_weight_matrix,
)
from tests.viz._figchecks import assert_no_empty_axes, assert_titles_do_not_overlap, colourbar_labels

SOURCE_NEURON, TARGET_NEURON = "source neuron j (presynaptic)", "target neuron i (postsynaptic)"
SOURCE_LAYER, TARGET_LAYER = "source layer j (presynaptic)", "target layer i (postsynaptic)"


# --- color_scale -----------------------------------------------------------------------------------------


def test_auto_is_linear_within_two_decades() -> None:
    s = color_scale([0.0, 0.5, 1.0, 2.0, 40.0])  # non-zero span 40 / 0.5 = 80 < 100
    assert s.kind == "linear" and type(s.norm) is Normalize
    assert (s.norm.vmin, s.norm.vmax) == (0.0, 40.0)
    assert s.span_decades == pytest.approx(np.log10(80.0))
    assert s.cmap.name.startswith("viridis")


def test_auto_is_log_for_non_negative_data_spanning_decades() -> None:
    s = color_scale(np.array([[0.0, 1e-3], [1.0, 5.0]]))  # span 5 / 1e-3 = 5000
    assert s.kind == "log" and isinstance(s.norm, LogNorm)
    assert (s.norm.vmin, s.norm.vmax) == (1e-3, 5.0)
    assert s.norm(1e-3) == pytest.approx(0.0) and s.norm(5.0) == pytest.approx(1.0)
    # geometric midpoint sqrt(1e-3 * 5) sits half-way on a log scale
    assert s.norm(np.sqrt(5e-3)) == pytest.approx(0.5)


def test_auto_is_symlog_for_signed_data_spanning_decades_with_linthresh_from_data() -> None:
    s = color_scale([-1e-3, 0.0, 1e-2, 5.0])  # three non-zero magnitudes: P5 (lower) = the minimum
    assert s.kind == "symlog" and isinstance(s.norm, SymLogNorm)
    assert s.norm.linthresh == pytest.approx(1e-3)
    assert (s.norm.vmin, s.norm.vmax) == (-5.0, 5.0)
    assert s.norm(0.0) == pytest.approx(0.5)  # symmetric: 0 in the middle of the diverging map
    assert s.cmap.name.startswith("RdBu_r")


def test_signed_data_within_decades_get_symmetric_linear_limits() -> None:
    s = color_scale([-1.0, 0.5, 2.0])
    assert s.kind == "linear" and (s.norm.vmin, s.norm.vmax) == (-2.0, 2.0)
    assert s.cmap.name.startswith("RdBu_r")


def test_span_uses_the_fifth_percentile_so_one_tiny_value_does_not_switch_to_log() -> None:
    values = np.concatenate([np.linspace(1.0, 2.0, 100), [1e-6]])  # min/max rule would say 6.3 decades
    s = color_scale(values)
    # 101 non-zero values sorted: rank floor(0.05 * 100) = 5 is linspace[4] = 1 + 4/99
    assert s.span_decades == pytest.approx(np.log10(2.0 / (1.0 + 4.0 / 99.0)))
    assert s.kind == "linear"
    signed = np.concatenate([values, -(10.0 ** np.arange(1, 5))])  # now |v| reaches 1e4: 4 decades above P5
    t = color_scale(signed)
    # 105 values: rank floor(0.05 * 104) = 5 -> linspace[4] again
    assert t.kind == "symlog" and t.norm.linthresh == pytest.approx(1.0 + 4.0 / 99.0)


def test_two_values_three_decades_apart_are_log() -> None:
    assert color_scale([1e-3, 1.0]).kind == "log"
    assert color_scale([1e-2, 1.0]).kind == "linear"  # exactly two decades: not more than two


def test_overrides_nan_and_errors() -> None:
    assert set(NORMS) == {"auto", "linear", "log", "symlog"}
    decades = [1e-4, 1.0, 10.0]
    assert type(color_scale(decades, "linear").norm) is Normalize
    forced = color_scale([1.0, 2.0], "symlog")
    assert isinstance(forced.norm, SymLogNorm) and forced.norm.vmin == 0.0
    assert isinstance(color_scale([1.0, 2.0], "log").norm, LogNorm)
    assert color_scale([np.nan, 1e-4, np.inf, 1.0]).kind == "log"  # non-finite ignored
    assert color_scale(np.zeros(3)).kind == "linear"
    with pytest.raises(ValueError, match="norm"):
        color_scale(decades, "logarithmic")
    with pytest.raises(ValueError, match=r"norm='log'.*symlog"):
        color_scale([-1.0, 1.0], "log")
    with pytest.raises(ValueError, match="norm='symlog'"):
        color_scale(np.zeros(4), "symlog")


# --- plot_hierarchy / plot_emergent_hierarchy: layer × layer matrices ------------------------------------


def test_hierarchy_chooses_norm_from_the_data_and_can_be_overridden() -> None:
    ii, jj = np.indices((3, 3))
    narrow = np.where(np.abs(ii - jj) <= 1, 1.0 + ii, 0.0)  # 1..3
    wide = np.where(np.abs(ii - jj) <= 1, 10.0 ** (-2.0 * ii), 0.0)  # 1 .. 1e-4
    img = plot_hierarchy([3, 2, 1], narrow).axes[1].images[0]
    assert type(img.norm) is Normalize
    fig = plot_hierarchy([3, 2, 1], wide)
    assert isinstance(fig.axes[1].images[0].norm, LogNorm)
    assert colourbar_labels(fig) == ["total |w| per layer pair (a.u.); log scale"]
    forced = plot_hierarchy([3, 2, 1], wide, norm="linear").axes[1].images[0]
    assert type(forced.norm) is Normalize
    with pytest.raises(ValueError, match="norm"):
        plot_hierarchy([3, 2, 1], wide, norm="sqrt")  # type: ignore[arg-type]


def _emergent_inputs() -> tuple[np.ndarray, np.ndarray]:
    labels = np.repeat([0, 1, 2], [40, 20, 10])
    feats = np.random.default_rng(0).random((70, 2))
    return labels, feats


def test_emergent_hierarchy_puts_source_on_x_and_target_on_y() -> None:
    labels, feats = _emergent_inputs()
    conn = np.array([[5.0, 0.0, 0.0], [2.0, 3.0, 0.0], [0.0, 1.0, 4.0]])  # asymmetric on purpose
    fig = plot_emergent_hierarchy(labels, feats, conn)
    ax = fig.axes[3]
    assert (ax.get_xlabel(), ax.get_ylabel()) == (SOURCE_LAYER, TARGET_LAYER)
    image = ax.images[0]
    assert image.origin == "lower"
    # cell (row i, column j) is drawn at (x = j, y = i): row index = target, column = source
    np.testing.assert_array_equal(np.ma.getdata(image.get_array()), conn)
    np.testing.assert_array_equal(np.ma.getmaskarray(image.get_array()), conn == 0.0)
    assert colourbar_labels(fig) == ["summed edge weight (a.u.); linear scale"]
    assert [fig.axes[k].get_xlabel() for k in (1, 2)] == ["speed (a.u.)", "complexity (a.u.)"]
    assert_no_empty_axes(fig)


def test_emergent_hierarchy_uses_log_scale_when_weights_span_decades() -> None:
    labels, feats = _emergent_inputs()
    conn = np.array([[5e3, 10.0, 0.0], [10.0, 3e2, 0.05], [0.0, 0.05, 2.0]])
    fig = plot_emergent_hierarchy(labels, feats, conn)
    assert isinstance(fig.axes[3].images[0].norm, LogNorm)
    assert (
        type(plot_emergent_hierarchy(labels, feats, conn, norm="linear").axes[3].images[0].norm) is Normalize
    )
    with pytest.raises(ValueError, match="finite"):
        plot_emergent_hierarchy(labels, feats, np.full((3, 3), np.nan))


# --- plot_weight_matrix ----------------------------------------------------------------------------------


def _sparse_signed(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n)) * (rng.random((n, n)) < 0.1)


def test_weight_matrix_axes_follow_source_x_target_y() -> None:
    w = np.zeros((4, 4))
    w[3, 0] = 2.0  # synapse from source j = 0 onto target i = 3
    fig = plot_weight_matrix(w)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == (SOURCE_NEURON, TARGET_NEURON)
    image = ax.images[0]
    assert image.origin == "lower" and image.get_extent() == [-0.5, 3.5, -0.5, 3.5]
    data = image.get_array()
    assert data[3, 0] == 2.0 and np.ma.getmaskarray(data).sum() == 15  # zeros blank
    assert "target i ← source j" in ax.get_title()
    assert colourbar_labels(fig) == ["weight W_ij (a.u.); linear scale"]


def test_weight_matrix_sparse_tensor_matches_dense_and_subsamples() -> None:
    w = _sparse_signed(60, 0)
    dense = plot_weight_matrix(w, max_neurons=25).axes[0].images[0].get_array()
    csr = torch.tensor(w, dtype=torch.float64).to_sparse_csr()
    sparse = plot_weight_matrix(csr, max_neurons=25).axes[0].images[0].get_array()
    assert dense.shape == (25, 25)
    idx = np.floor(np.linspace(0, 59, 25) + 0.5).astype(int)  # evenly spaced, first and last kept
    np.testing.assert_array_equal(np.ma.getdata(dense), w[np.ix_(idx, idx)])
    np.testing.assert_array_equal(np.ma.getdata(sparse), np.ma.getdata(dense))
    fig = plot_weight_matrix(csr, max_neurons=25)
    assert "25 of 60 neurons shown" in fig.axes[0].get_title()


def test_weight_matrix_norm_auto_symlog_for_decades_linear_for_gaussian() -> None:
    w = _sparse_signed(40, 1)
    gaussian = plot_weight_matrix(w).axes[0].images[0].norm
    amax = np.abs(w).max()
    assert type(gaussian) is Normalize and (gaussian.vmin, gaussian.vmax) == (-amax, amax)
    spread = np.sign(w) * np.abs(w) ** 6  # |w|^6 spans many decades
    fig = plot_weight_matrix(spread)
    norm = fig.axes[0].images[0].norm
    assert isinstance(norm, SymLogNorm)
    nz = np.sort(np.abs(spread[spread != 0]))
    assert norm.linthresh == pytest.approx(nz[int(np.floor(0.05 * (nz.size - 1)))])
    assert colourbar_labels(fig)[0].startswith("weight W_ij (a.u.); symlog scale, linear for |v| <")
    assert isinstance(plot_weight_matrix(np.abs(spread)).axes[0].images[0].norm, LogNorm)
    assert type(plot_weight_matrix(spread, norm="linear").axes[0].images[0].norm) is Normalize


def test_weight_matrix_layer_boundaries_and_bad_input() -> None:
    w = _sparse_signed(30, 2)
    ax = plot_weight_matrix(w, sizes=[20, 10]).axes[0]
    adjacency = plot_weight_matrix(w != 0).axes[0].images[0].get_array()  # bool adjacency: 1 where a synapse
    np.testing.assert_array_equal(np.ma.getdata(adjacency), (w != 0).astype(float))
    vertical, horizontal = ax.lines  # one layer boundary, after neuron 19, drawn on both axes
    assert list(vertical.get_xdata()) == [19.5, 19.5] and list(horizontal.get_ydata()) == [19.5, 19.5]
    for bad, field in [
        (np.ones((3, 4)), "square"),
        (np.ones(5), "square"),
        (np.full((2, 2), np.nan), "finite"),
        (np.ones((2, 2), dtype=complex), "real"),
    ]:
        with pytest.raises(ValueError, match=field):
            plot_weight_matrix(bad)
    with pytest.raises(ValueError, match="sizes"):
        plot_weight_matrix(w, sizes=[20, 11])
    with pytest.raises(ValueError, match="max_neurons"):
        plot_weight_matrix(w, max_neurons=0)
    with pytest.raises(ValueError, match="norm"):
        plot_weight_matrix(w, norm="log")  # signed weights cannot take a log scale


# --- colour bars of the other figures --------------------------------------------------------------------


def test_activity_colour_bars_name_quantity_unit_and_scale() -> None:
    rng = np.random.default_rng(3)
    spikes = (rng.random((30, 50)) < 0.1).astype(float)
    rates = np.tanh(rng.normal(size=(30, 20)))
    wide = 10.0 ** rng.uniform(-5, 0, size=(30, 10))  # 5 decades
    fig = plot_layer_activity({"L1": spikes, "L2": rates, "L3": wide}, kind="heatmap")
    assert colourbar_labels(fig) == [
        "spikes / step\nlinear scale",
        "rate r (a.u.)\nlinear scale",
        "rate r (a.u.)\nlog scale",
    ]
    norms = [ax.images[0].norm for ax in fig.axes[:3]]
    assert type(norms[0]) is Normalize and (norms[0].vmin, norms[0].vmax) == (0.0, 1.0)
    assert norms[1].vmin == pytest.approx(-np.abs(rates).max()) and norms[1].vmax == -norms[1].vmin
    assert isinstance(norms[2], LogNorm)
    forced = plot_layer_activity({"L3": wide}, kind="heatmap", norm="linear", value_label="r (Hz)")
    assert type(forced.axes[0].images[0].norm) is Normalize
    assert colourbar_labels(forced) == ["r (Hz)\nlinear scale"]
    means = plot_layer_activity({"L1": spikes, "L2": rates}, kind="mean", time_unit="ms")
    assert [ax.get_ylabel() for ax in means.axes] == ["L1\nspikes / neuron / step", "L2\nmean rate r (a.u.)"]
    assert means.axes[0].get_xlabel().startswith("time (ms;")
    with pytest.raises(ValueError, match="norm"):
        plot_layer_activity({"L1": spikes}, norm="sqrt")  # type: ignore[arg-type]


def test_every_colour_bar_is_labelled() -> None:
    labels, feats = _emergent_inputs()
    figs = [
        plot_hierarchy([3, 2], np.ones((2, 2))),
        plot_emergent_hierarchy(labels, feats, np.eye(3)),
        plot_feature_space(labels, feats),
        plot_layer_activity({"L1": np.eye(4)}, kind="heatmap"),
        plot_weight_matrix(np.eye(4)),
    ]
    for fig in figs:
        labels_ = colourbar_labels(fig)
        assert labels_ and all(label.strip() for label in labels_)
        assert_no_empty_axes(fig)


def test_figure_checks_catch_empty_panels_and_overlapping_titles() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 2.5), layout="constrained")
    FigureCanvasAgg(fig)
    a, b, c = fig.subplots(1, 3)
    a.plot([0, 1])
    b.plot([0, 1])
    a.set_title("a title much too long for a narrow panel of this figure")
    b.set_title("another long title that runs into its neighbours")
    with pytest.raises(AssertionError, match="empty axes"):
        assert_no_empty_axes(fig)  # c: nothing drawn
    with pytest.raises(AssertionError, match="title"):
        assert_titles_do_not_overlap(fig)
    c.remove()
    a.set_title("a")
    b.set_title("b")
    assert_no_empty_axes(fig)
    assert_titles_do_not_overlap(fig)
