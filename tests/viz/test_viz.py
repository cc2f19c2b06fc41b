"""Tests for hal9.viz: figure structure, saved output, subsampling, tensors, and input validation."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from hal9.viz import (
    DEFAULT_LAYER_NAMES,
    plot_hierarchy,
    plot_layer_activity,
    save_figure,
    subsample_indices,
)


def _band_connectivity(k: int, *, scale: float = 1.0) -> np.ndarray:
    """Non-zero only on |i - j| <= 1, like a hal9 network."""
    ii, jj = np.indices((k, k))
    return np.where(np.abs(ii - jj) <= 1, scale * (1.0 + ii + jj), 0.0)


def _recordings(rng: np.random.Generator, t_rec: int = 20) -> dict[str, np.ndarray]:
    return {
        "L1": rng.random((t_rec, 30)),
        "L2": rng.random((t_rec, 3, 12)),  # (T_rec, batch, n)
        "L3": rng.random((t_rec, 5)),
    }


# --- plot_hierarchy ---------------------------------------------------------------------------------------


def test_plot_hierarchy_returns_figure_with_bars_heatmap_and_colorbar() -> None:
    sizes = [400, 200, 100, 50]
    fig = plot_hierarchy(sizes, _band_connectivity(4), title="t")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3  # bar chart, heatmap, colour bar
    ax_sizes, ax_conn = fig.axes[:2]
    assert [p.get_width() for p in ax_sizes.patches] == sizes
    # L1 at the bottom: bar i sits at y = i
    assert [p.get_y() + p.get_height() / 2 for p in ax_sizes.patches] == pytest.approx([0, 1, 2, 3])
    assert [t.get_text() for t in ax_sizes.get_yticklabels()] == list(DEFAULT_LAYER_NAMES[:4])
    assert ax_sizes.get_xscale() == "linear"
    assert ax_conn.get_xlabel() == "source layer j (presynaptic)"
    assert ax_conn.get_ylabel() == "target layer i (postsynaptic)"
    assert fig.axes[2].get_ylabel() == "total |w| per layer pair (a.u.); linear scale"
    assert len(ax_conn.images) == 1
    assert any(isinstance(p, Polygon) for p in ax_conn.patches)  # the ±1 band outline
    assert "outside ±1 band: 0" in ax_conn.get_title()


def test_plot_hierarchy_log_scales_zeros_blank_and_custom_names() -> None:
    sizes = [10_000, 1_000, 10]  # max/min = 1000 > 100 -> log x
    conn = np.array([[1e3, 1e-1, 0.0], [1.0, 5.0, 2.0], [0.0, 3.0, 4.0]])  # spans 4 decades -> LogNorm
    fig = plot_hierarchy(sizes, conn, names=["a", "b", "c"])
    ax_sizes, ax_conn = fig.axes[:2]
    assert ax_sizes.get_xscale() == "log"
    assert [p.get_width() for p in ax_sizes.patches] == sizes
    assert [t.get_text() for t in ax_sizes.get_yticklabels()] == ["a", "b", "c"]
    image = ax_conn.images[0]
    assert isinstance(image.norm, LogNorm)
    data = image.get_array()
    assert np.ma.is_masked(data)
    np.testing.assert_array_equal(np.ma.getmaskarray(data), conn == 0.0)


def test_plot_hierarchy_reports_weight_outside_band() -> None:
    conn = _band_connectivity(4)
    conn[3, 0] = 2.5
    fig = plot_hierarchy([8, 4, 2, 1], conn)
    assert "outside ±1 band: 2.5" in fig.axes[1].get_title()


def test_plot_hierarchy_accepts_tensors_and_all_zero_connectivity() -> None:
    fig = plot_hierarchy(torch.tensor([5, 3]), torch.zeros(2, 2, dtype=torch.bfloat16))
    assert len(fig.axes) == 3
    assert np.ma.getmaskarray(fig.axes[1].images[0].get_array()).all()  # everything blank


@pytest.mark.parametrize(
    ("sizes", "conn", "field"),
    [
        ([3, 2], np.ones((3, 3)), "connectivity"),
        ([3, 2], np.ones((2, 3)), "connectivity"),
        ([3, 2], np.ones(4), "connectivity"),
        ([3, 2], -np.ones((2, 2)), "connectivity"),
        ([3, 2], np.full((2, 2), np.nan), "connectivity"),
        ([3, 0], np.ones((2, 2)), "sizes"),
        ([3, -1], np.ones((2, 2)), "sizes"),
        ([3, 2.5], np.ones((2, 2)), "sizes"),
        ([], np.ones((0, 0)), "sizes"),
    ],
)
def test_plot_hierarchy_rejects_bad_input(sizes: list, conn: np.ndarray, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        plot_hierarchy(sizes, conn)


def test_plot_hierarchy_rejects_wrong_number_of_names() -> None:
    with pytest.raises(ValueError, match="names"):
        plot_hierarchy([3, 2], np.ones((2, 2)), names=["only one"])


def test_default_names_match_core_layer_names() -> None:
    # hal9.viz keeps its own copy so it imports nothing from hal9; this guards against drift.
    from hal9 import LAYER_NAMES

    assert tuple(f"L{i + 1} {name}" for i, name in enumerate(LAYER_NAMES)) == DEFAULT_LAYER_NAMES


# --- plot_layer_activity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "axes_per_layer"), [("heatmap", 2), ("raster", 1), ("mean", 1)])
def test_plot_layer_activity_axes_count_and_order(kind: str, axes_per_layer: int) -> None:
    rec = _recordings(np.random.default_rng(0))
    fig = plot_layer_activity(rec, kind=kind, title="activity")  # type: ignore[arg-type]
    assert isinstance(fig, Figure)
    assert len(fig.axes) == axes_per_layer * len(rec)
    data_axes = fig.axes[: len(rec)]
    assert [ax.get_ylabel().split("\n")[0] for ax in data_axes] == list(rec)
    # first key in the bottom row, last key (top layer) on top
    heights = [ax.get_position().y0 for ax in data_axes]
    assert heights == sorted(heights)


def test_heatmap_subsamples_neurons_and_uses_batch_zero() -> None:
    rng = np.random.default_rng(1)
    big = rng.random((10, 1000))
    batched = rng.random((10, 4, 7))
    fig = plot_layer_activity({"big": big, "batched": batched}, kind="heatmap", max_neurons=50)
    big_img, batched_img = (ax.images[0].get_array() for ax in fig.axes[:2])
    assert big_img.shape == (50, 10)
    np.testing.assert_allclose(big_img, big[:, subsample_indices(1000, 50)].T)
    np.testing.assert_allclose(batched_img, batched[:, 0, :].T)


def test_time_axis_is_index_times_every_times_dt() -> None:
    t_rec, dt, every = 12, 0.25, 4
    rng = np.random.default_rng(2)
    fig = plot_layer_activity({"L1": rng.random((t_rec, 3))}, dt=dt, every=every, kind="mean")
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_xdata(), np.arange(t_rec) * every * dt)
    fig = plot_layer_activity({"L1": rng.random((t_rec, 3))}, dt=dt, every=every, kind="heatmap")
    left, right, _, _ = fig.axes[0].images[0].get_extent()
    step = every * dt
    assert (left, right) == pytest.approx((-0.5 * step, (t_rec - 0.5) * step))


def test_mean_line_averages_all_neurons() -> None:
    data = np.random.default_rng(3).random((15, 500))
    fig = plot_layer_activity({"L1": data}, kind="mean", max_neurons=10)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), data.mean(axis=1))


def test_raster_has_one_dot_per_nonzero_entry() -> None:
    rng = np.random.default_rng(4)
    spikes = (rng.random((25, 2, 8)) < 0.2).astype(np.float32)
    fig = plot_layer_activity({"L1": spikes, "L2": np.zeros((25, 3))}, kind="raster", dt=0.1)
    offsets = fig.axes[0].collections[0].get_offsets()
    assert offsets.shape[0] == np.count_nonzero(spikes[:, 0, :])
    t_idx, neuron = np.nonzero(spikes[:, 0, :])
    np.testing.assert_allclose(offsets[:, 0], t_idx * 0.1)
    np.testing.assert_array_equal(offsets[:, 1], neuron)
    assert fig.axes[1].collections[0].get_offsets().shape[0] == 0


def test_plot_layer_activity_accepts_torch_tensors() -> None:
    spikes = torch.rand(10, 2, 6, generator=torch.Generator().manual_seed(0)) < 0.3
    rates = torch.rand(10, 40, generator=torch.Generator().manual_seed(1)).to(torch.float16)
    for kind in ("heatmap", "raster", "mean"):
        fig = plot_layer_activity({"L1": spikes, "L2": rates}, kind=kind)  # type: ignore[arg-type]
        assert len(fig.axes) == (4 if kind == "heatmap" else 2)
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), rates.float().mean(dim=1).numpy(), rtol=1e-6)
    fig = plot_layer_activity({"L1": torch.ones(3, 4, requires_grad=True) * 2.0}, kind="raster")
    assert fig.axes[0].collections[0].get_offsets().shape[0] == 12


@pytest.mark.parametrize(
    ("recordings", "kwargs", "field"),
    [
        ({}, {}, "recordings"),
        ({"L1": np.ones((3, 2))}, {"kind": "violin"}, "kind"),
        ({"L1": np.ones((3, 2)), "L7 top": np.ones(3)}, {}, "L7 top"),
        ({"L2": np.ones((3, 2, 2, 2))}, {}, "L2"),
        ({"L3": np.ones((0, 2))}, {}, "L3"),
        ({"L1": np.ones((3, 2))}, {"dt": 0.0}, "dt"),
        ({"L1": np.ones((3, 2))}, {"every": 0}, "every"),
        ({"L1": np.ones((3, 2))}, {"max_neurons": 0}, "max_neurons"),
    ],
)
def test_plot_layer_activity_rejects_bad_input(recordings: dict, kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        plot_layer_activity(recordings, **kwargs)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 5000), m=st.integers(1, 400))
def test_subsample_indices_are_even_unique_and_in_range(n: int, m: int) -> None:
    idx = subsample_indices(n, m)
    assert idx.shape == (min(n, m),)
    assert idx[0] == 0
    assert np.all(np.diff(idx) > 0)
    assert idx[-1] == (n - 1 if min(n, m) > 1 else 0)


# --- save_figure ------------------------------------------------------------------------------------------


def test_save_figure_writes_nonuniform_png_and_creates_parents(tmp_path: Path) -> None:
    fig = plot_hierarchy([64, 16, 4], _band_connectivity(3))
    out = save_figure(fig, tmp_path / "nested" / "dir" / "hierarchy.png", dpi=50)
    assert out == tmp_path / "nested" / "dir" / "hierarchy.png"
    assert out.stat().st_size > 0
    pixels = mpimg.imread(out)
    width, height = fig.get_size_inches() * 50
    assert pixels.shape[:2] == (round(height), round(width))
    assert pixels.std() > 0


@pytest.mark.parametrize("suffix", [".pdf", ".svg"])
def test_save_figure_vector_formats(tmp_path: Path, suffix: str) -> None:
    fig = plot_layer_activity({"L1": np.eye(5)}, kind="raster")
    out = save_figure(fig, str(tmp_path / f"raster{suffix}"))
    assert isinstance(out, Path)
    assert out.stat().st_size > 0


def test_save_figure_rejects_unknown_suffix(tmp_path: Path) -> None:
    fig = plot_layer_activity({"L1": np.eye(3)}, kind="mean")
    with pytest.raises(ValueError, match="path"):
        save_figure(fig, tmp_path / "figure.jpeg")
    with pytest.raises(ValueError, match="dpi"):
        save_figure(fig, tmp_path / "figure.png", dpi=0)


def _savefig_bytes(fig: Figure, path: Path, dpi: int) -> bytes:
    """The independent reference: matplotlib's own ``savefig`` (two draws) of the same figure."""
    fig.savefig(path, dpi=dpi, format="png")
    return path.read_bytes()


@pytest.mark.parametrize("dpi", [50, 120])
def test_save_figure_png_is_byte_identical_to_savefig(tmp_path: Path, dpi: int) -> None:
    rng = np.random.default_rng(3)
    rec = {"L1": rng.standard_normal((40, 300)) * np.logspace(-4, 0, 300), "L2": rng.random((40, 2, 9))}
    makers = [
        lambda: plot_hierarchy([4096, 1024, 256, 64], _band_connectivity(4, scale=10.0), title="t"),
        lambda: plot_layer_activity(rec, every=5, title="activity"),  # symlog colour bars, 4 axes
    ]
    for i, make in enumerate(makers):
        # saved three times: constrained layout refines itself on a second pass, under savefig as here
        ref_fig, fig = make(), make()
        reference = [_savefig_bytes(ref_fig, tmp_path / f"ref{i}{r}.png", dpi) for r in range(3)]
        for r in range(3):
            save_figure(fig, tmp_path / f"new{i}{r}.png", dpi=dpi)
            assert (tmp_path / f"new{i}{r}.png").read_bytes() == reference[r], (i, r)
            assert fig.dpi == ref_fig.dpi == 100.0  # restored, as savefig restores it


def test_save_figure_png_follows_savefig_rc_settings(tmp_path: Path) -> None:
    import matplotlib as mpl

    with mpl.rc_context({"savefig.facecolor": "0.5", "savefig.transparent": False}):
        reference = _savefig_bytes(plot_layer_activity({"L1": np.eye(6)}), tmp_path / "ref.png", 80)
        save_figure(plot_layer_activity({"L1": np.eye(6)}), tmp_path / "new.png", dpi=80)
    assert (tmp_path / "new.png").read_bytes() == reference
    assert mpimg.imread(tmp_path / "new.png")[0, 0, 0] == pytest.approx(0.5, abs=0.01)  # grey border


def test_save_figure_png_of_a_figure_without_agg_canvas(tmp_path: Path) -> None:
    fig = Figure(figsize=(2.0, 1.5))  # plain FigureCanvasBase: saved through savefig
    fig.add_subplot().plot([0, 1], [1, 0])
    out = save_figure(fig, tmp_path / "plain.png", dpi=40)
    assert mpimg.imread(out).shape[:2] == (60, 80)


@pytest.mark.parametrize("kind", ["heatmap", "raster", "mean"])
def test_activity_figure_does_not_depend_on_the_input_float_type(tmp_path: Path, kind: str) -> None:
    # float32 recordings are widened only where drawn: the same file as from float64 input
    rng = np.random.default_rng(5)
    rec32 = {"L1": (rng.random((30, 500)) > 0.7).astype(np.float32), "L2": rng.standard_normal((30, 40))}
    rec32["L2"] = rec32["L2"].astype(np.float32)
    rec64 = {k: v.astype(np.float64) for k, v in rec32.items()}
    for name, rec in (("f32", rec32), ("f64", rec64)):
        save_figure(plot_layer_activity(rec, kind=kind, max_neurons=50), tmp_path / f"{name}.png", dpi=40)
    assert (tmp_path / "f32.png").read_bytes() == (tmp_path / "f64.png").read_bytes()
    if kind != "raster":  # the spike test runs on the float32 data: L1 (0s and 1s) is labelled spikes
        fig = plot_layer_activity(rec32, kind=kind, max_neurons=50)
        bars = [ax for ax in fig.axes if hasattr(ax, "_colorbar")]
        label = bars[0].get_ylabel() if kind == "heatmap" else fig.axes[0].get_ylabel()
        assert "spikes" in label
