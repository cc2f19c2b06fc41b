"""Compatibility kernels: how strongly two neurons want to connect, from their features alone.

A kernel is any function ``kernel(a, b) -> Tensor`` with ``a: (..., B, F)``, ``b: (..., C, F)`` and output
``(..., B, C)`` in ``[0, 1]``. Exact discovery only calls it with 2-D blocks ``(B, F) × (C, F)``; approximate
discovery also calls it with one leading batch dimension, ``(R, 1, F) × (R, m, F) → (R, 1, m)``, to score
each neuron against its own candidates — write kernels with ``[..., :, None, :]`` broadcasting, as below.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal, get_args

from torch import Tensor

__all__ = ["KERNELS", "Kernel", "KernelName", "check_kernel_output", "gaussian_kernel", "hal9_kernel"]

Kernel = Callable[[Tensor, Tensor], Tensor]
#: Names of the built-in kernels (``OrganizeConfig.kernel``, ``hal9 organize --kernel``).
KernelName = Literal["hal9", "gaussian"]
KERNELS: tuple[str, ...] = get_args(KernelName)

# HAL9's complexity bonus b(|Δc|): too similar, too different, complementary.
_B_SIMILAR, _B_DISTANT, _B_COMPLEMENTARY = 0.7, 0.3, 1.0
_C_SIMILAR_BELOW, _C_DISTANT_ABOVE = 0.2, 0.7


def hal9_kernel(a: Tensor, b: Tensor) -> Tensor:
    r"""HAL9's compatibility rule on speed ``s``, complexity ``c`` and energy ``e`` (feature columns 0, 1, 2).

    .. math::

        \mathrm{compat}_{ij} = \operatorname{clamp}\big(0.4\,(1 - |s_i - s_j|) + 0.4\,\beta(|c_i - c_j|)
        + 0.2\,\sqrt{e_i e_j},\; 0,\; 1\big),\qquad
        \beta(d) = \begin{cases} 0.7 & d < 0.2 \\ 0.3 & d > 0.7 \\ 1.0 & \text{otherwise.} \end{cases}

    Neurons of similar speed and *complementary* (moderately different) complexity are most compatible.
    Negative energies give ``sqrt`` of a negative product; it is taken as 0 (no energy bonus).

    Shape
    -----
    * ``a``: ``(..., B, F)``, ``b``: ``(..., C, F)`` with ``F ≥ 3`` (extra columns are ignored).
    * Output: ``(..., B, C)`` in ``[0, 1]``, dtype of ``a``.

    Notes
    -----
    ``O(B·C)`` time; about five ``(B, C)`` temporaries. Only correctly rounded elementwise operations
    (no fused multiply-add, no ``alpha=``), so a pair's value is bit-identical whatever block it is
    computed in — discovery's tie-breaking relies on that.
    """
    if a.shape[-1] < 3 or b.shape[-1] < 3:
        raise ValueError(
            f"hal9_kernel needs F >= 3 feature columns (s, c, e), got {a.shape[-1]}, {b.shape[-1]}"
        )
    ds = (a[..., :, None, 0] - b[..., None, :, 0]).abs_()
    out = ds.neg_().add_(1.0).mul_(0.4)  # 0.4·(1 − |Δs|), in place
    dc = (a[..., :, None, 1] - b[..., None, :, 1]).abs_()
    similar, distant = dc < _C_SIMILAR_BELOW, dc > _C_DISTANT_ABOVE
    bonus = dc.fill_(_B_COMPLEMENTARY).masked_fill_(similar, _B_SIMILAR).masked_fill_(distant, _B_DISTANT)
    out.add_(bonus.mul_(0.4))
    energy = (a[..., :, None, 2] * b[..., None, :, 2]).clamp_(min=0.0).sqrt_()
    out.add_(energy.mul_(0.2))
    return out.clamp_(0.0, 1.0)


def gaussian_kernel(bandwidth: float, columns: Sequence[int] | None = (0, 1)) -> Kernel:
    r"""A distance-based kernel ``exp(−‖a_J − b_J‖² / (2h²))`` on feature columns ``J = columns``.

    Parameters
    ----------
    bandwidth : float
        ``h > 0``, in feature units.
    columns : sequence of int or None
        Feature columns the distance uses (default speed and complexity); ``None`` uses all of them.

    Returns
    -------
    Kernel
        ``kernel(a (..., B, F), b (..., C, F)) -> (..., B, C)`` in ``(0, 1]``; 1 on identical features.

    Notes
    -----
    The squared distance is summed column by column (no ``‖a‖² + ‖b‖² − 2a·b`` expansion, so no
    cancellation for close neurons): ``O(B·C·|J|)`` time, two ``(B, C)`` temporaries.
    """
    if not (isinstance(bandwidth, int | float) and math.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth must be a finite float > 0, got {bandwidth!r}")
    cols = None if columns is None else tuple(int(j) for j in columns)
    if cols is not None and (len(cols) == 0 or min(cols) < 0):
        raise ValueError(f"columns must be non-empty non-negative indices or None, got {columns!r}")
    scale = -0.5 / float(bandwidth) ** 2

    def kernel(a: Tensor, b: Tensor) -> Tensor:
        use = range(a.shape[-1]) if cols is None else cols
        if max(use, default=-1) >= min(a.shape[-1], b.shape[-1]):
            raise ValueError(f"gaussian_kernel: columns {cols} out of range for F = {a.shape[-1]}")
        sq = None
        for j in use:
            d = (a[..., :, None, j] - b[..., None, :, j]).square_()
            sq = d if sq is None else sq.add_(d)
        assert sq is not None
        return sq.mul_(scale).exp_()

    kernel.__name__ = f"gaussian_kernel(bandwidth={bandwidth}, columns={cols})"
    kernel.__qualname__ = kernel.__name__
    return kernel


def check_kernel_output(out: object, expected_shape: tuple[int, ...]) -> Tensor:
    """Return ``out`` if it is a ``expected_shape`` floating tensor in ``[0, 1]`` without NaN; else raise.

    Raises
    ------
    ValueError
        Naming ``kernel``, for a non-tensor, a wrong shape, a non-floating dtype, NaN or a value outside
        ``[0, 1]``.

    Notes
    -----
    One ``O(numel)`` reduction pass (two ``amin``/``amax`` calls; NaN propagates through both).
    """
    if not isinstance(out, Tensor):
        raise ValueError(f"kernel must return a Tensor, got {type(out).__name__}")
    if tuple(out.shape) != tuple(expected_shape):
        raise ValueError(f"kernel returned shape {tuple(out.shape)}, expected {tuple(expected_shape)}")
    if not out.dtype.is_floating_point:
        raise ValueError(f"kernel must return a floating tensor, got {out.dtype}")
    if out.numel() == 0:
        return out
    lo, hi = float(out.amin()), float(out.amax())
    if math.isnan(lo) or math.isnan(hi):
        raise ValueError("kernel returned NaN compatibilities")
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"kernel returned values outside [0, 1]: min {lo}, max {hi}")
    return out
