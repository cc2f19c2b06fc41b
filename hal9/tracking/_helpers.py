"""Small helpers of ``TrackedRun``: the sink protocol, argument checks, URI redaction, warning location."""

from __future__ import annotations

import contextlib
import sys
import tempfile
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import FrameType
from typing import Any, Protocol

import numpy as np
import torch

__all__ = [
    "Sink",
    "check_step",
    "new_params",
    "redact",
    "saved_array",
    "saved_figure",
    "split_artifact_name",
    "user_stacklevel",
]

_PACKAGE_DIR = str(Path(__file__).parent)


class Sink(Protocol):
    """Where a run's data goes: ``MlflowSink`` or ``FallbackSink``."""

    def log_batch(
        self,
        params: Mapping[str, str],
        metrics: Sequence[tuple[str, float, int, int]],
        tags: Mapping[str, str],
    ) -> None: ...
    def log_artifact(self, local_path: Path, artifact_path: str | None) -> None: ...
    def finish(self, status: str, end_time_ms: int) -> None: ...


def check_step(step: Any) -> int:
    """Return ``step`` as ``int``; ``ValueError`` unless it is a Python or NumPy integer (not a bool)."""
    if isinstance(step, bool) or not isinstance(step, int | np.integer):
        raise ValueError(f"step must be an integer, got {step!r}")
    return int(step)


def new_params(logged: Mapping[str, str], params: Mapping[str, str]) -> dict[str, str]:
    """The entries of ``params`` not yet in ``logged``; ``ValueError`` if one would change a logged value."""
    for key, value in params.items():
        if key in logged and logged[key] != value:
            raise ValueError(f"param {key!r} was logged as {logged[key]!r}; cannot change it to {value!r}")
    return {k: v for k, v in params.items() if k not in logged}


def split_artifact_name(
    name: str, *, default_suffix: str, force_suffix: bool = False
) -> tuple[str | None, str]:
    """``"figures/a"`` -> ``("figures", "a.png")``; rejects empty, absolute and ``..`` names."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if not name or pure.is_absolute() or ".." in pure.parts or not pure.name:
        raise ValueError(f"artifact name must be a relative file name like 'figures/x.png', got {name!r}")
    file = pure.name
    if (force_suffix and not file.endswith(default_suffix)) or not pure.suffix:
        file += default_suffix
    folder = str(pure.parent) if str(pure.parent) != "." else None
    return folder, file


def redact(uri: str) -> str:
    """Hide a password in ``scheme://user:password@host`` URIs."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def user_stacklevel() -> int:
    """``stacklevel`` for ``warnings.warn`` in the caller: the first frame outside hal9.tracking."""
    frame: FrameType | None = sys._getframe(2)
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


@contextlib.contextmanager
def saved_figure(
    figure: Any, filename: str, savefig_kwargs: Mapping[str, Any]
) -> Iterator[tuple[Path, str | None]]:
    """Save ``figure`` in a temporary directory; yield ``(file, artifact folder)``, then delete the file."""
    folder, name = split_artifact_name(filename, default_suffix=".png")
    with tempfile.TemporaryDirectory(prefix="hal9-figure-") as tmp:
        local = Path(tmp) / name
        figure.savefig(local, **savefig_kwargs)
        yield local, folder


@contextlib.contextmanager
def saved_array(array: Any, name: str) -> Iterator[tuple[Path, str | None]]:
    """Save ``array`` (tensors moved to CPU) as ``.npy`` in a temporary directory; yield ``(file, dir)``."""
    folder, file = split_artifact_name(name, default_suffix=".npy", force_suffix=True)
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu()
        array = array.float() if array.dtype == torch.bfloat16 else array  # no NumPy bfloat16
    data = array.numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    with tempfile.TemporaryDirectory(prefix="hal9-array-") as tmp:
        local = Path(tmp) / file
        np.save(local, data, allow_pickle=False)
        yield local, folder
