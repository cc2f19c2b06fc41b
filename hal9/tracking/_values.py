"""Validation and conversion of keys, metric values and series before they reach a backend."""

from __future__ import annotations

import posixpath
import re
import time
from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import torch

__all__ = [
    "MAX_ENTITIES_PER_BATCH",
    "MAX_KEY_LENGTH",
    "MAX_METRICS_PER_BATCH",
    "MAX_PARAMS_TAGS_PER_BATCH",
    "MAX_PARAM_VALUE_LENGTH",
    "MAX_TAG_VALUE_LENGTH",
    "TRUNCATION_MARKER",
    "MetricValue",
    "chunks",
    "now_ms",
    "safe_name",
    "to_metric_value",
    "to_series",
    "truncate",
    "validate_key",
]

# MLflow's limits (mlflow.utils.validation); copied so that the fallback store enforces the same rules.
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_KEY_LENGTH = 250
TRUNCATION_MARKER = "...[truncated]"

#: What a metric value may be: a number, a NumPy scalar, or a one-element array or tensor.
MetricValue: TypeAlias = float | int | np.number | np.ndarray | torch.Tensor

_VALID_NAME = re.compile(r"^[/\w.\- :]*$")


def now_ms() -> int:
    """Wall-clock time in integer milliseconds since the epoch (MLflow's timestamp unit)."""
    return time.time_ns() // 1_000_000


def safe_name(name: str) -> str:
    """A file-system-safe folder name: runs of characters other than letters, digits, ``._-`` become ``_``."""
    return re.sub(r"[^\w.\-]+", "_", name).strip("._") or "experiment"


def truncate(text: str, limit: int) -> str:
    """Return ``text`` cut to ``limit`` characters, ending with :data:`TRUNCATION_MARKER` if it was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def validate_key(key: object, *, what: str) -> str:
    """Check that ``key`` is a valid MLflow metric/param name and return it.

    Raises
    ------
    ValueError
        Naming the offending key, when it is not a non-empty ``str`` of at most 250 characters made of
        letters, digits, ``_ - . / :`` and spaces that does not look like a relative path (``a/../b``).
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"{what} key must be a non-empty string, got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"{what} key {key[:40]!r}... is {len(key)} characters long; the limit is 250")
    if not _VALID_NAME.match(key):
        raise ValueError(
            f"{what} key {key!r} may only contain letters, digits, underscores, dashes, periods, "
            "spaces, colons and slashes"
        )
    norm = posixpath.normpath(key)
    if norm != key or norm.startswith(("..", "/")):
        raise ValueError(f"{what} key {key!r} must not look like a path that resolves to {norm!r}")
    return key


def to_metric_value(key: str, value: object) -> float:
    """Convert one metric value (Python/NumPy number, 1-element array or tensor) to ``float``.

    NaN and infinities are kept (MLflow stores NaN; it clips infinities to ``±1.797e308``).

    Raises
    ------
    ValueError
        Naming ``key``, when the value is not numeric or has more than one element.
    """
    if isinstance(value, torch.Tensor | np.ndarray):
        n = value.size if isinstance(value, np.ndarray) else value.numel()
        if n != 1:
            raise ValueError(f"metric {key!r} must be a scalar, got an array with {n} elements")
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str | bytes) or not isinstance(value, int | float):
        raise ValueError(f"metric {key!r} has a non-numeric value {value!r} ({type(value).__name__})")
    return float(value)


def to_series(
    name: str,
    values: Sequence[float] | np.ndarray | torch.Tensor,
    steps: Sequence[int] | np.ndarray | torch.Tensor | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Convert a metric series and its steps to float64 / int64 NumPy vectors of equal length.

    Raises
    ------
    ValueError
        Naming ``name``, when values are non-numeric or not 1-D, or steps are non-integer or of another
        length.
    """
    vals = _as_numpy(values)
    if vals.dtype.kind not in "biuf":
        raise ValueError(f"metric series {name!r} has non-numeric values (dtype {vals.dtype})")
    vals = vals.astype(np.float64, copy=False)
    if vals.ndim != 1:
        raise ValueError(f"metric series {name!r} must be 1-D, got shape {tuple(vals.shape)}")
    if steps is None:
        return vals, np.arange(vals.shape[0], dtype=np.int64)
    st = _as_numpy(steps)
    if st.ndim != 1 or st.shape[0] != vals.shape[0]:
        raise ValueError(
            f"steps for metric series {name!r} must be 1-D with {vals.shape[0]} entries, "
            f"got shape {tuple(st.shape)}"
        )
    if st.dtype.kind == "f" and np.all(np.isfinite(st)) and np.all(st == np.round(st)):
        st = st.astype(np.int64)
    if st.dtype.kind not in "iu":
        raise ValueError(f"steps for metric series {name!r} must be integers, got dtype {st.dtype}")
    return vals, st.astype(np.int64, copy=False)


def _as_numpy(data: Sequence[Any] | np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(data, torch.Tensor):
        data = data.detach()
        if data.is_floating_point():  # bfloat16/float16 have no NumPy equivalent
            data = data.to(dtype=torch.float64)
        return data.cpu().numpy()
    try:
        return np.asarray(data)
    except (TypeError, ValueError) as exc:  # ragged nested sequences
        raise ValueError(f"cannot convert {type(data).__name__} to an array: {exc}") from exc


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """Split ``items`` into consecutive slices of at most ``size`` elements (none when empty)."""
    return [items[i : i + size] for i in range(0, len(items), size)]
