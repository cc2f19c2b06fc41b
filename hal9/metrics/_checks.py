"""Argument checks shared by the metrics (clear ``ValueError`` naming the argument)."""

from __future__ import annotations

__all__ = ["optional_positive_int", "positive_int", "positive_number"]


def positive_int(name: str, value: object) -> int:
    """``value`` if it is an ``int`` ≥ 1 (not a ``bool``), else ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def optional_positive_int(name: str, value: object) -> int | None:
    """``None`` or a positive ``int`` (see :func:`positive_int`)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return value


def positive_number(name: str, value: object) -> float:
    """``value`` if it is a real number > 0, else ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not (isinstance(value, int | float) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)
