import numpy as np
import pytest
import torch

from hal9.viz import plot_emergent_hierarchy, plot_feature_space, plot_null_comparison, save_figure


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    feats = rng.random((100, 3))
    return labels, feats


def test_emergent_hierarchy_panels(tmp_path) -> None:
    labels, feats = _data()
    conn = np.array([[5.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 2.0]])
    fig = plot_emergent_hierarchy(torch.as_tensor(labels), feats, conn, title="t")
    bars = [p.get_width() for p in fig.axes[0].patches]
    assert bars == [50, 30, 20]
    assert len(fig.axes) == 5  # sizes, 2 feature panels, heatmap, colour bar
    assert save_figure(fig, tmp_path / "h.png").stat().st_size > 1000


def test_feature_space_subsamples() -> None:
    labels, feats = _data()
    fig = plot_feature_space(labels, feats, max_points=40)
    assert fig.axes[0].collections[0].get_offsets().shape == (40, 2)
    assert "40 shown" in fig.axes[0].get_title()
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("speed (a.u.)", "complexity (a.u.)")
    assert fig.axes[1].get_ylabel() == "layer index (0 = L1)"  # the colour bar


def test_null_comparison() -> None:
    fig = plot_null_comparison(
        {"modularity": 0.6, "eigengap": 0.2}, {"modularity": [0.1, 0.12], "eigengap": [0.05]}
    )
    assert len(fig.axes) == 2
    assert fig.axes[0].lines[-1].get_ydata()[0] == pytest.approx(0.6)
    assert fig.axes[0].get_ylabel() == "statistic value (dimensionless)"
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["null runs", "mean ± sd"]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: plot_emergent_hierarchy([0, 1], np.zeros((3, 2)), np.zeros((2, 2))), "features"),
        (lambda: plot_emergent_hierarchy([0, 1], np.zeros((2, 2)), np.zeros((3, 3))), "connectivity"),
        (lambda: plot_feature_space([0, 1], np.zeros((2, 2)), x=5), "x and y"),
        (lambda: plot_null_comparison({"a": 1.0}, {"b": [1.0]}), "share"),
    ],
)
def test_bad_input(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
