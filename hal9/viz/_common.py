"""Helpers shared by the ``hal9.viz`` figures: array conversion, figures, colour scales, matrix axes.

Conventions every figure of :mod:`hal9.viz` follows (see ``docs/viz.md``):

* **Matrix axes.** A weight, connectivity or adjacency matrix ``M[i, j]`` has rows = targets
  (postsynaptic ``i``) and columns = sources (presynaptic ``j``), as ``W_ij`` is the synapse from ``j``
  onto ``i``. It is drawn with the source ``j`` on the x axis and the target ``i`` on the y axis, index 0
  at the bottom left (``origin="lower"``), for neuron×neuron and layer×layer matrices alike.
* **Colour scales.** :func:`color_scale` picks a linear scale unless the non-zero magnitudes span more
  than :data:`DECADES_FOR_LOG` decades, then a log scale (non-negative data) or a symmetric-log scale
  (signed data); signed data get a diverging colour map centred on 0. ``norm=`` overrides the choice.
* **Colour bars** carry the quantity, its unit and the scale, e.g. ``"weight W_ij (a.u.); log scale"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colorbar import Colorbar
from matplotlib.colors import Colormap, LogNorm, Normalize, SymLogNorm
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

__all__ = [
    "DECADES_FOR_LOG",
    "LOW_PERCENTILE",
    "NORMS",
    "ColorScale",
    "NormName",
    "color_scale",
    "draw_matrix",
    "matrix_axis_labels",
    "subsample_indices",
]

#: Colour-scale choices of every matrix/heatmap function (``norm=`` argument); declared once here.
NormName = Literal["auto", "linear", "log", "symlog"]
NORMS: tuple[str, ...] = get_args(NormName)

#: ``norm="auto"`` switches to a log / symlog scale when ``max|v| / P5(|v| > 0) > 10 ** DECADES_FOR_LOG``.
DECADES_FOR_LOG = 2.0
#: Percentile of the non-zero magnitudes used as the low end of the span and as SymLogNorm's ``linthresh``.
LOW_PERCENTILE = 5.0

_SEQUENTIAL = "viridis"  # non-negative data
_DIVERGING = "RdBu_r"  # signed data, white at 0


def _as_numpy(x: Any) -> np.ndarray:
    """Return ``x`` as a numpy array; torch tensors are detached and copied to the CPU.

    Half-precision tensors (float16, bfloat16) are widened to float32 first, since numpy has no bfloat16.
    """
    if hasattr(x, "detach"):  # torch.Tensor, duck-typed so that this module never imports torch
        t = x.detach().cpu()
        if t.is_floating_point() and t.dtype.itemsize < 4:
            t = t.float()
        return t.numpy()
    return np.asarray(x)


def _new_figure(figsize: tuple[float, float]) -> Figure:
    """A figure with constrained layout and an Agg canvas attached (no pyplot involved)."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def subsample_indices(n: int, m: int) -> np.ndarray:
    """Return ``min(n, m)`` evenly spaced, strictly increasing indices into ``range(n)``, first and last kept.

    Parameters
    ----------
    n : int
        Number of items (``n >= 1``).
    m : int
        Largest number of indices to return (``m >= 1``).

    Returns
    -------
    numpy.ndarray
        int64 indices.

    Shape
    -----
    - output: ``(min(n, m),)``

    Examples
    --------
    >>> subsample_indices(10, 4).tolist()
    [0, 3, 6, 9]
    """
    if n <= m:
        return np.arange(n, dtype=np.int64)
    if m == 1:
        return np.zeros(1, dtype=np.int64)
    # spacing (n-1)/(m-1) > 1, so floor(x + 0.5) never maps two points onto the same index
    return np.floor(np.linspace(0.0, n - 1, m) + 0.5).astype(np.int64)


def matrix_axis_labels(what: str) -> tuple[str, str]:
    """``(xlabel, ylabel)`` of a matrix ``M[target, source]`` of ``what`` ("neuron", "layer").

    Examples
    --------
    >>> matrix_axis_labels("layer")
    ('source layer j (presynaptic)', 'target layer i (postsynaptic)')
    """
    return f"source {what} j (presynaptic)", f"target {what} i (postsynaptic)"


@dataclass(frozen=True)
class ColorScale:
    """A colour scale chosen by :func:`color_scale`.

    Attributes
    ----------
    norm : matplotlib.colors.Normalize
        ``Normalize``, ``LogNorm`` or ``SymLogNorm``.
    kind : {"linear", "log", "symlog"}
        The scale actually used.
    cmap : matplotlib.colors.Colormap
        ``viridis`` for non-negative data, ``RdBu_r`` (white at 0, symmetric limits) for signed data.
    span_decades : float
        ``log10(max|v| / P5(|v| > 0))`` of the data (0 when there is no non-zero value).
    """

    norm: Normalize
    kind: str
    cmap: Colormap
    span_decades: float

    def describe(self) -> str:
        """Scale suffix of a colour-bar label: ``"log scale"``, ``"symlog scale, linear for |v| < 0.01"``."""
        if isinstance(self.norm, SymLogNorm):
            return f"symlog scale, linear for |v| < {self.norm.linthresh:.2g}"
        return f"{self.kind} scale"


def color_scale(values: Any, norm: str = "auto", *, blank: str | None = None) -> ColorScale:
    """Choose the colour normalisation for plotting ``values``.

    Let ``a = |v|`` over the finite non-zero entries, ``hi = max(a)`` and ``lo = P5(a)`` (the 5th
    percentile, ``method="lower"``, so an actual data value; the minimum when fewer than 21 values).
    ``norm="auto"`` gives

    * ``"linear"`` when ``hi / lo <= 10 ** DECADES_FOR_LOG`` (at most two decades), with limits
      ``[0, hi]`` for non-negative data and ``[-hi, hi]`` for signed data;
    * ``"log"`` (:class:`~matplotlib.colors.LogNorm` on ``[min(a), hi]``) for non-negative data spanning more;
    * ``"symlog"`` (:class:`~matplotlib.colors.SymLogNorm`, ``linthresh = lo``, limits ``[-hi, hi]``) for
      signed data spanning more.

    The low percentile rather than the minimum sets the span so that one tiny entry does not flip a
    matrix to a log scale; the log scale's lower limit is still ``min(a)``, so no value is clipped.

    Parameters
    ----------
    values : array_like
        Data to be coloured, any shape; NaN/inf and masked entries are ignored.
    norm : {"auto", "linear", "log", "symlog"}, default "auto"
        Force a scale instead of choosing one.
    blank : str, optional
        Colour of masked / invalid cells (zeros under a log scale, absent synapses). Default: white for
        non-negative data, light grey (``"0.85"``) for signed data, whose diverging map is white at 0.

    Returns
    -------
    ColorScale

    Raises
    ------
    ValueError
        If ``norm`` is not one of :data:`NORMS`; if ``norm="log"`` and a value is negative; if ``norm`` is
        ``"log"`` or ``"symlog"`` and no value is non-zero.

    Examples
    --------
    >>> color_scale([0.0, 1.0, 5.0]).kind
    'linear'
    >>> color_scale([1e-3, 1.0, 5.0]).kind
    'log'
    >>> s = color_scale([-1e-3, 1e-2, 5.0])
    >>> s.kind, s.norm.linthresh
    ('symlog', 0.001)
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}; got {norm!r}")
    v = np.ma.masked_invalid(np.ma.asarray(values, dtype=np.float64)).compressed()
    signed = bool(np.any(v < 0))
    a = np.abs(v[v != 0])
    if a.size == 0:
        if norm in ("log", "symlog"):
            raise ValueError(f"norm={norm!r} needs at least one non-zero finite value to scale")
        return ColorScale(Normalize(0.0, 1.0), "linear", _cmap(_SEQUENTIAL, blank or "white"), 0.0)
    hi = float(a.max())
    lo = float(np.percentile(a, LOW_PERCENTILE, method="lower"))
    span = float(np.log10(hi / lo))
    kind = norm
    if norm == "auto":
        kind = ("symlog" if signed else "log") if span > DECADES_FOR_LOG else "linear"
    if kind == "log" and signed:
        raise ValueError("norm='log' needs non-negative values; use norm='symlog' for signed data")
    cmap = _cmap(_DIVERGING, blank or "0.85") if signed else _cmap(_SEQUENTIAL, blank or "white")
    chosen: Normalize
    if kind == "linear":
        chosen = Normalize(-hi if signed else 0.0, hi)
    elif kind == "log":
        amin = float(a.min())
        chosen = LogNorm(amin if amin < hi else hi / 10.0, hi)
    else:
        chosen = SymLogNorm(linthresh=lo, linscale=1.0, vmin=-hi if signed else 0.0, vmax=hi, base=10)
    return ColorScale(chosen, kind, cmap, span)


def _cmap(name: str, blank: str) -> Colormap:
    return colormaps[name].with_extremes(bad=blank)


def draw_matrix(
    ax: Axes,
    matrix: np.ndarray,
    *,
    what: str,
    quantity: str,
    norm: str = "auto",
    extent: tuple[float, float, float, float] | None = None,
) -> tuple[AxesImage, Colorbar, ColorScale]:
    """Draw ``matrix[target, source]`` on ``ax`` with the hal9 axis convention and a labelled colour bar.

    Source ``j`` (columns) on x, target ``i`` (rows) on y, index 0 at the bottom left. Zero entries are
    masked and drawn blank (white; light grey under a diverging map, whose 0 is white).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    matrix : numpy.ndarray
        ``(n_target, n_source)`` real values.
    what : str
        What the rows and columns index ("neuron", "layer"), used in the axis labels.
    quantity : str
        Colour-bar label with its unit, e.g. ``"weight W_ij (a.u.)"``; the scale is appended.
    norm : {"auto", "linear", "log", "symlog"}, default "auto"
        See :func:`color_scale`.
    extent : tuple of float, optional
        ``imshow`` extent ``(left, right, bottom, top)``; default: cell ``(i, j)`` centred on ``(j, i)``.

    Returns
    -------
    tuple
        The image, its colour bar and the :class:`ColorScale` used.
    """
    scale = color_scale(matrix, norm)
    image = ax.imshow(
        np.ma.masked_equal(matrix, 0.0),
        cmap=scale.cmap,
        norm=scale.norm,
        origin="lower",
        interpolation="nearest",
        aspect="auto" if extent is not None else "equal",
        extent=extent,
    )
    xlabel, ylabel = matrix_axis_labels(what)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    colourbar = ax.figure.colorbar(image, ax=ax, label=f"{quantity}; {scale.describe()}")
    return image, colourbar, scale
