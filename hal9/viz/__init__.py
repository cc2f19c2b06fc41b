"""Matplotlib figures for hal9: hierarchy structure, weights, recorded activity, metrics, scheduling.

Every function takes plain arrays (numpy arrays or torch tensors on any device) and returns a
:class:`matplotlib.figure.Figure` built with the object-oriented API and an Agg canvas, so no pyplot
state and no GUI backend are involved. ``import hal9`` does not import this package; matplotlib is
loaded on first ``import hal9.viz``.

Conventions: every matrix ``M[target, source]`` is drawn with the source ``j`` (presynaptic) on x and the
target ``i`` (postsynaptic) on y; colour scales come from :func:`color_scale` (linear, or log / symlog
when the values span more than two decades; ``norm=`` overrides); every colour bar names its quantity
and unit.

>>> from hal9.viz import plot_hierarchy, plot_layer_activity, save_figure
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from hal9.core import module_aliases
from hal9.viz._common import NORMS, ColorScale, color_scale
from hal9.viz.activity import plot_layer_activity, subsample_indices
from hal9.viz.hierarchy import DEFAULT_LAYER_NAMES, plot_hierarchy
from hal9.viz.metrics import plot_compression, plot_cut_phis, plot_phi_partitions
from hal9.viz.selforg import plot_emergent_hierarchy, plot_feature_space, plot_null_comparison
from hal9.viz.tactical import plot_cooperation, plot_gantt, plot_scheduler_comparison, plot_utilization
from hal9.viz.weights import plot_weight_matrix

__all__ = [
    "DEFAULT_LAYER_NAMES",
    "NORMS",
    "ColorScale",
    "color_scale",
    "plot_compression",
    "plot_cooperation",
    "plot_cut_phis",
    "plot_emergent_hierarchy",
    "plot_feature_space",
    "plot_gantt",
    "plot_hierarchy",
    "plot_layer_activity",
    "plot_null_comparison",
    "plot_phi_partitions",
    "plot_scheduler_comparison",
    "plot_utilization",
    "plot_weight_matrix",
    "save_figure",
    "subsample_indices",
]

_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}

#: Old (British) spellings served with a ``DeprecationWarning`` until hal9 0.2.0.
__getattr__ = module_aliases(globals(), {"plot_utilisation": "plot_utilization"})


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path``, creating missing parent directories; the format follows the suffix.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to save (e.g. from :func:`plot_hierarchy` or :func:`plot_layer_activity`).
    path : str or pathlib.Path
        Destination ending in ``.png``, ``.pdf`` or ``.svg`` (case-insensitive). Overwritten if present.
    dpi : int, default 120
        Resolution for raster output (PNG, and rasterised artists inside PDF/SVG). Must be positive.

    Returns
    -------
    pathlib.Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    ValueError
        If the suffix of ``path`` is not one of ``.png``, ``.pdf``, ``.svg``, or ``dpi`` is not positive.

    Shape
    -----
    A PNG is ``(height_in * dpi, width_in * dpi)`` pixels for ``fig.get_size_inches() == (width_in,
    height_in)``.

    Examples
    --------
    >>> from hal9.viz import plot_hierarchy, save_figure
    >>> fig = plot_hierarchy([100, 10], [[1.0, 0.5], [0.5, 1.0]])
    >>> save_figure(fig, "outputs/figures/hierarchy.png")  # doctest: +SKIP
    PosixPath('outputs/figures/hierarchy.png')
    """
    out = Path(path)
    fmt = _FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ValueError(f"path must end in one of {sorted(_FORMATS)}; got {str(out)!r}")
    if isinstance(dpi, bool) or not isinstance(dpi, int | float) or not dpi > 0:
        raise ValueError(f"dpi must be positive; got {dpi!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "png" and _single_draw_ok(fig):
        _save_png_one_draw(fig, out, dpi)
    else:
        fig.savefig(out, dpi=dpi, format=fmt)
    return out


def _single_draw_ok(fig: Figure) -> bool:
    """Whether :func:`_save_png_one_draw` writes the same bytes as ``fig.savefig``: a plain Agg canvas
    (hal9's figures) and the default ``savefig.*`` settings that ``savefig`` would otherwise apply."""
    from matplotlib import rcParams
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    return (
        type(fig.canvas) is FigureCanvasAgg
        and getattr(fig.canvas, "_device_pixel_ratio", 1) == 1
        and str(rcParams["savefig.facecolor"]) == "auto"
        and str(rcParams["savefig.edgecolor"]) == "auto"
        and not rcParams["savefig.transparent"]
        and rcParams["savefig.bbox"] in (None, "standard")
    )


def _save_png_one_draw(fig: Figure, out: Path, dpi: float) -> None:
    """Render ``fig`` once at ``dpi`` and write the Agg buffer as PNG.

    ``Figure.savefig`` draws a figure with a layout engine twice: once with rendering disabled to run the
    layout (constrained layout measures every tick label), then again to render with the layout frozen.
    ``canvas.draw()`` runs the layout and renders in one pass, so this costs one draw instead of two;
    the file is written as ``savefig`` writes it (``matplotlib.image.imsave`` of the RGBA buffer, same
    metadata), byte for byte (``tests/viz/test_viz.py``). The figure's dpi is restored afterwards.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.image import imsave

    canvas = fig.canvas
    if not isinstance(canvas, FigureCanvasAgg):  # checked by _single_draw_ok
        raise TypeError(f"expected an Agg canvas, got {type(canvas).__name__}")
    old_dpi = fig.dpi
    fig.dpi = dpi
    try:
        canvas.draw()
        imsave(out, canvas.buffer_rgba(), format="png", origin="upper", dpi=fig.dpi)
    finally:
        fig.dpi = old_dpi
