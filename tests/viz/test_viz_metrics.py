import numpy as np
import pytest
import torch

from hal9.viz import plot_compression, plot_phi_partitions, save_figure


def test_phi_partitions_sorted_and_mib_highlighted(tmp_path) -> None:
    values = [0.3, 0.1, 0.2]
    fig = plot_phi_partitions(values, ["0|1,2", "0,1|2", "0,2|1"], best=1, measure="wms")
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == sorted(values)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0,1|2", "0,2|1", "0|1,2"]
    assert "MIB 0,1|2" in ax.get_title()
    assert save_figure(fig, tmp_path / "phi.png").stat().st_size > 1000
    many = plot_phi_partitions(torch.arange(100.0), [str(i) for i in range(100)])
    assert len(many.axes[0].get_xticks()) == 0


def test_compression_panels() -> None:
    fig = plot_compression(["L1-L2", "L2-L3"], np.array([2.7, 2.8]), [1.0, 0.9], [0.9, 0.5])
    top, bottom = fig.axes[:2]
    assert list(top.lines[0].get_ydata()) == [2.7, 2.8]
    assert [p.get_height() for p in bottom.patches] == [0.9, 0.5]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: plot_phi_partitions([], []), "non-empty"),
        (lambda: plot_phi_partitions([1.0], ["a", "b"]), "equal length"),
        (lambda: plot_phi_partitions([1.0], ["a"], best=2), "best"),
        (lambda: plot_compression(["a"], [1.0, 2.0], [1.0], [1.0]), "equal length"),
    ],
)
def test_bad_input(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_axes_name_their_quantity_and_unit() -> None:
    from tests.viz._figchecks import assert_no_empty_axes

    fig = plot_compression(["L1→L2", "L2→L3"], [2.7, 2.8], [1.0, 0.9], [0.9, 0.5])
    top, bottom = fig.axes[:2]
    assert top.get_ylabel() == "ratio (dimensionless)"
    assert bottom.get_xlabel() == "layer boundary L_k → L_k+1"
    assert "dimensionless" in bottom.get_ylabel()
    phi = plot_phi_partitions([0.2, 0.1], ["0|1", "1|0"], measure="Φ_WMS")
    assert phi.axes[0].get_ylabel() == "Φ_WMS (nats)"
    assert phi.axes[0].get_xlabel() == "bipartition (sorted by Φ_WMS)"
    for f in (fig, phi):
        assert_no_empty_axes(f)
