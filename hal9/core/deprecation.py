"""Renames with a grace period: the old name keeps working for one release and warns.

hal9's public names use American spelling (``normalized``, ``stabilized``, ``utilization``, as in
``organize`` and ``binarize``). Names first published in British spelling stay available until the next
minor release (:data:`REMOVED_IN`), each use raising a :class:`DeprecationWarning` that names the new
spelling:

* functions and classes: :func:`renamed` (a wrapper) or a module ``__getattr__`` from :func:`module_aliases`;
* option values (``criterion="normalised"``): :func:`renamed_value` inside a pydantic ``BeforeValidator``
  or at a function's boundary;
* enum members: :class:`RenamingEnumType` as the metaclass, with ``__renamed__`` mapping old to new names.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from enum import EnumType
from typing import Any, TypeVar

__all__ = [
    "REMOVED_IN",
    "RenamedKeys",
    "RenamingEnumType",
    "module_aliases",
    "renamed",
    "renamed_value",
    "warn_renamed",
]

#: The release in which the old spellings disappear.
REMOVED_IN = "0.2.0"

F = TypeVar("F", bound=Callable[..., Any])


def warn_renamed(old: str, new: str, *, what: str = "name", stacklevel: int = 3) -> None:
    """Warn that ``old`` is now ``new`` (``DeprecationWarning``, attributed to the caller's caller)."""
    warnings.warn(
        f"the {what} {old!r} is deprecated and will be removed in hal9 {REMOVED_IN}; use {new!r}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def renamed(old: str, func: F) -> F:
    """``func`` under its old name ``old``: same behaviour, plus a :class:`DeprecationWarning` per call."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        warn_renamed(old, func.__name__, what="function")
        return func(*args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = old
    return wrapper  # type: ignore[return-value]


def module_aliases(namespace: Mapping[str, Any], aliases: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that serves each old name in ``aliases`` (old → new) with a warning.

    Use as ``__getattr__ = module_aliases(globals(), {"plot_utilisation": "plot_utilization"})``; names
    not in ``aliases`` raise ``AttributeError`` as usual.
    """
    module = namespace.get("__name__", "?")

    def __getattr__(name: str) -> Any:
        if name in aliases:
            warn_renamed(f"{module}.{name}", f"{module}.{aliases[name]}")
            return namespace[aliases[name]]
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


def renamed_value(value: Any, aliases: Mapping[str, str], *, field: str, stacklevel: int = 4) -> Any:
    """``aliases[value]`` with a warning when ``value`` is an old spelling; otherwise ``value`` unchanged.

    ``stacklevel`` counts from this function's caller (2) up to the user's call the warning should name.
    """
    if isinstance(value, str) and value in aliases:
        warn_renamed(value, aliases[value], what=f"value of {field}", stacklevel=stacklevel)
        return aliases[value]
    return value


class RenamingEnumType(EnumType):
    """Enum metaclass: ``Kind.OLD`` and ``Kind("old_value")`` resolve to the renamed member, with a warning.

    The enum declares ``__renamed__ = {"OLD_NAME": "NEW_NAME"}`` (a dunder name, so not a member);
    old *values* are derived from the old names lower-cased, as hal9's enums spell their values.
    """

    def __getattr__(cls, name: str) -> Any:
        renames: Mapping[str, str] = cls.__dict__.get("__renamed__", {})
        if name in renames:
            warn_renamed(f"{cls.__name__}.{name}", f"{cls.__name__}.{renames[name]}")
            return cls[renames[name]]
        raise AttributeError(name)

    def __call__(cls, value: Any, *args: Any, **kwargs: Any) -> Any:
        renames: Mapping[str, str] = cls.__dict__.get("__renamed__", {})
        if not args and not kwargs and isinstance(value, str):
            for old, new in renames.items():
                if value == old.lower():
                    warn_renamed(value, cls[new].value, what=f"{cls.__name__} value")
                    return cls[new]
        return super().__call__(value, *args, **kwargs)


class RenamedKeys(dict[str, Any]):
    """A ``dict`` whose renamed keys can still be read by their old name, with a warning.

    Only the new keys are stored (so ``json.dumps``, iteration and ``in`` see the new names); ``d[old]``
    and ``d.get(old)`` return ``d[new]`` and raise a :class:`DeprecationWarning`.
    """

    def __init__(self, data: Any = (), aliases: Mapping[str, str] | None = None) -> None:
        super().__init__(data)  # (``dataclasses.asdict`` and ``copy`` rebuild it from the pairs alone)
        self._aliases = dict(aliases or {})

    def __missing__(self, key: str) -> Any:
        new = self._aliases.get(key)
        if new is None or new not in self:
            raise KeyError(key)
        warn_renamed(key, new, what="key")
        return self[new]

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        """``d[key]`` (an old key with a warning), or ``default``."""
        if key in self:
            return dict.__getitem__(self, key)
        new = self._aliases.get(key)
        if new is None or new not in self:
            return default
        warn_renamed(key, new, what="key")
        return dict.__getitem__(self, new)
