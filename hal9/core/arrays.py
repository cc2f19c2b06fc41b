"""One converter for array arguments across hal9: tensors, numpy arrays and nested lists.

Tensors pass through unchanged (dtype and device kept; only their number of dimensions is checked).
Anything else goes through :func:`numpy.asarray` and becomes a ``float64`` tensor (or ``dtype``), so
``integrated_information(np.eye(3) * 0.5, measure="wms")`` and the same call with a list of lists give
the result of the tensor call. Ragged, non-numeric, complex or wrongly shaped input raises a
``ValueError`` that names the argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["as_tensor"]

#: numpy dtype kinds accepted as numbers: bool, signed and unsigned integers, floats.
_NUMERIC_KINDS = "biuf"


def _shape_text(ndim: int | Sequence[int]) -> str:
    dims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    return " or ".join(f"{d}-D" for d in dims)


def as_tensor(
    x: object,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """``x`` as a tensor: tensors unchanged, numpy arrays and (nested) sequences of numbers converted.

    Parameters
    ----------
    x : Tensor, numpy.ndarray or nested sequence of numbers
        The argument to convert.
    name : str
        Argument name used in error messages.
    ndim : int or sequence of int, optional
        Accepted numbers of dimensions (checked for tensors too).
    dtype : torch.dtype, optional
        dtype of a converted (non-tensor) input; default ``torch.float64``. ``torch.bool`` accepts boolean
        input only (no silent cast of numbers to truth values).
    device : torch.device or str, optional
        Device of a converted input (default CPU). Tensors stay where they are.

    Returns
    -------
    Tensor
        ``x`` itself if it is a tensor, else a new tensor of dtype ``dtype`` (default float64).

    Raises
    ------
    ValueError
        Naming ``name`` if ``x`` is ragged, not numeric (strings, ``None``, objects), complex, boolean
        where numbers were expected or vice versa, or has the wrong number of dimensions.

    Examples
    --------
    >>> as_tensor([[1, 2], [3, 4]], "A").dtype
    torch.float64
    >>> as_tensor([[1.0], [2.0, 3.0]], "A")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: A must be a rectangular array of numbers ... got a ragged nested sequence
    """
    if isinstance(x, Tensor):
        out = x
    else:
        if x is None or isinstance(x, str | bytes):
            raise ValueError(f"{name} must be an array of numbers, got {type(x).__name__}")
        try:
            arr = np.asarray(x)
        except ValueError as exc:  # numpy >= 1.24 refuses ragged nested sequences
            raise ValueError(
                f"{name} must be a rectangular array of numbers (nested sequences of equal length), "
                "got a ragged nested sequence"
            ) from exc
        kind = arr.dtype.kind
        if kind == "c":
            raise ValueError(f"{name} must be real, got complex values")
        if kind not in _NUMERIC_KINDS:
            raise ValueError(
                f"{name} must be an array of numbers, got numpy dtype {arr.dtype} from {x!r:.80}"
            )
        want = torch.float64 if dtype is None else dtype
        if (want == torch.bool) != (kind == "b"):
            expected = "boolean" if want == torch.bool else "numeric (not boolean)"
            raise ValueError(f"{name} must be {expected}, got numpy dtype {arr.dtype}")
        out = torch.from_numpy(np.ascontiguousarray(arr)).to(device=device, dtype=want)
    if ndim is not None:
        dims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if out.ndim not in dims:
            raise ValueError(f"{name} must be {_shape_text(dims)}, got shape {tuple(out.shape)}")
    return out
