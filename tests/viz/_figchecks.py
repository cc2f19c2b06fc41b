"""Checks on returned matplotlib Figures shared by the viz tests: readable axes, labelled colour bars."""

from __future__ import annotations

from itertools import combinations

from matplotlib.axes import Axes
from matplotlib.figure import Figure


def is_colourbar(ax: Axes) -> bool:
    return hasattr(ax, "_colorbar")


def data_axes(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if not is_colourbar(ax)]


def colourbar_labels(fig: Figure) -> list[str]:
    """Label of every colour bar (vertical bars carry it on the y axis)."""
    out = []
    for ax in fig.axes:
        if is_colourbar(ax):
            out.append(ax.get_ylabel() or ax.get_xlabel())
    return out


def n_artists(ax: Axes) -> int:
    return len(ax.lines) + len(ax.patches) + len(ax.collections) + len(ax.images) + len(ax.texts)


def assert_no_empty_axes(fig: Figure) -> None:
    """Every visible data axes has something drawn and a title or an axis label; every colour bar a label."""
    for ax in fig.axes:
        assert ax.get_visible()
        if is_colourbar(ax):
            assert (ax.get_ylabel() or ax.get_xlabel()).strip(), "unlabelled colour bar"
            continue
        assert n_artists(ax) > 0, f"empty axes {ax.get_title()!r}"
        assert (ax.get_title() + ax.get_xlabel() + ax.get_ylabel()).strip(), "axes without any label"


def assert_titles_do_not_overlap(fig: Figure) -> None:
    """No title overlaps another axes (frame, title, y label); every title lies inside the figure."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    fig_box = fig.bbox
    axes = data_axes(fig)
    for ax in axes:
        box = ax.title.get_window_extent(renderer)
        assert fig_box.x0 - 1 <= box.x0 and box.x1 <= fig_box.x1 + 1, f"title {ax.get_title()!r} cut off"
    for a, b in combinations(axes, 2):
        for first, second in ((a, b), (b, a)):
            title = first.title.get_window_extent(renderer)
            others = [
                second.title.get_window_extent(renderer),
                second.yaxis.label.get_window_extent(renderer),
                second.get_window_extent(renderer),
            ]
            for other in others:
                if other.width > 0 and title.width > 0:
                    assert not title.overlaps(other), f"title {first.get_title()!r} overlaps another axes"
