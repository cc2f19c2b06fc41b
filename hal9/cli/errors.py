"""One error style for the command line: one line naming the flag as the user typed it, exit status 2.

:func:`one_line` turns a pydantic ``ValidationError`` (fields mapped to flags), a ``ValueError`` or an
``OSError`` into that line; :func:`check_outputs` and :func:`check_tracking_uri` refuse a folder that
cannot be written and a tracking URI MLflow cannot use *before* the computation starts.
``HAL9_DEBUG=1`` re-raises instead, with the traceback.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["check_outputs", "check_tracking_uri", "flags_of", "one_line"]


def flags_of(parser: argparse.ArgumentParser) -> dict[str, str]:
    """``dest`` → the first long option string, for every option of ``parser`` and its sub-parsers."""
    out: dict[str, str] = {}
    for action in parser._actions:  # argparse keeps no public list of its actions
        longs = [s for s in action.option_strings if s.startswith("--")]
        if longs:
            out.setdefault(action.dest, longs[0])
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                for dest, flag in flags_of(sub).items():
                    out.setdefault(dest, flag)
    return out


def _flag(loc: tuple[Any, ...], flags: Mapping[str, str]) -> str:
    """The flag of a pydantic error location: the deepest field with a flag, else the dotted path."""
    names = [str(p) for p in loc if isinstance(p, str)]
    for name in reversed(names):
        if name in flags:
            return flags[name]
    return ".".join(str(p) for p in loc) or "arguments"


def one_line(exc: BaseException, flags: Mapping[str, str] | None = None) -> str:
    """One line describing ``exc`` for the user; pydantic fields are named by their flag in ``flags``."""
    from pydantic import ValidationError

    flags = flags or {}
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors():
            msg = str(err["msg"]).removeprefix("Value error, ")
            shown = err.get("input")
            got = (
                ""
                if err["type"] == "missing" or isinstance(shown, dict) or repr(shown) in msg
                else f", got {shown!r}"
            )
            parts.append(f"{_flag(tuple(err['loc']), flags)}: {msg}{got}")
        return "; ".join(parts)
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror or type(exc).__name__}: {exc.filename}"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def check_outputs(path: Path, flag: str = "--outputs") -> None:
    """Check that a file can be written in folder ``path``; ``ValueError`` naming ``flag`` otherwise.

    Folders the check had to create are removed again, so a command refused later leaves nothing behind
    (``os.access`` alone is not enough: it answers yes to root for ``/proc``).
    """
    target = path.expanduser().absolute()
    missing = []
    probe = target
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target, prefix=".hal9-write-check-"):
            pass
    except OSError as exc:
        raise ValueError(f"{flag}: cannot write to {str(path)!r} ({exc.strerror or exc})") from None
    finally:
        for folder in missing:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break


def check_tracking_uri(uri: str | None, flag: str = "--tracking-uri") -> None:
    """Refuse a tracking URI MLflow cannot use, before the work (:func:`hal9.tracking.check_tracking_uri`)."""
    from hal9.tracking import check_tracking_uri as check

    try:
        check(uri)
    except ValueError as exc:
        raise ValueError(f"{flag}: {str(exc).removeprefix('tracking URI ')}") from None
