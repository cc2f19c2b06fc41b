"""Local folder that receives a run's data when the MLflow backend cannot be reached."""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hal9.tracking._values import safe_name

__all__ = ["FallbackSink", "Hal9TrackingWarning", "fallback_run_dir"]


class Hal9TrackingWarning(UserWarning):
    """Issued (once per run) when a run's results go to a local fallback folder instead of MLflow.

    The message says where the results were written and why the backend was not used.

    Examples
    --------
    >>> import warnings
    >>> warnings.simplefilter("error", Hal9TrackingWarning)  # make a dead tracking server fatal
    """


def fallback_run_dir(base: str | os.PathLike[str] | None, experiment: str, local_id: str) -> Path:
    """``<base>/<experiment>/<YYYYmmddTHHMMSS>-<local_id[:8]>``, ``base`` defaulting to ``./.hal9_fallback``.

    The experiment name is made filesystem-safe (characters other than letters, digits, ``._-`` become
    ``_``). The returned path is absolute; nothing is created.
    """
    root = Path(base) if base is not None else Path.cwd() / ".hal9_fallback"
    stamp = _dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    return (root / safe_name(experiment) / f"{stamp}-{local_id[:8]}").resolve()


class FallbackSink:
    """Write params, tags, metrics and artifacts of one run into a folder.

    Layout: ``params.json`` and ``tags.json`` (flat ``str -> str`` objects, rewritten on each update),
    ``metrics.jsonl`` (one ``{"key", "value", "step", "timestamp"}`` object per line, appended; NaN and
    infinities are written as ``NaN``/``Infinity`` as Python's ``json`` does), ``artifacts/`` and
    ``run.json`` (experiment, run name, status, times, the tracking URI and why it was not used).

    Parameters
    ----------
    path : Path
        The run folder; created with its parents. If that fails, a folder under the system temporary
        directory is used instead (see :attr:`path`).
    meta : Mapping[str, Any]
        Initial content of ``run.json``.
    """

    def __init__(self, path: Path, meta: Mapping[str, Any]) -> None:
        try:
            (path / "artifacts").mkdir(parents=True, exist_ok=True)
        except OSError:
            path = Path(tempfile.gettempdir()) / "hal9_fallback" / path.parent.name / path.name
            (path / "artifacts").mkdir(parents=True, exist_ok=True)
        self.path: Path = path
        self._params: dict[str, str] = {}
        self._tags: dict[str, str] = {}
        self._meta: dict[str, Any] = dict(meta)
        self._write_json("run.json", self._meta)
        self._write_json("params.json", self._params)
        self._write_json("tags.json", self._tags)
        (path / "metrics.jsonl").touch()

    def log_batch(
        self,
        params: Mapping[str, str],
        metrics: Sequence[tuple[str, float, int, int]],
        tags: Mapping[str, str],
    ) -> None:
        """Merge ``params``/``tags`` into their JSON files and append ``(key, value, step, ms)`` metrics."""
        if params:
            self._params.update(params)
            self._write_json("params.json", self._params)
        if tags:
            self._tags.update(tags)
            self._write_json("tags.json", self._tags)
        if metrics:
            lines = "".join(
                json.dumps({"key": k, "value": v, "step": s, "timestamp": t}) + "\n" for k, v, s, t in metrics
            )
            with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as handle:
                handle.write(lines)

    def log_artifact(self, local_path: Path, artifact_path: str | None) -> None:
        """Copy a file, or a directory tree, to ``artifacts/<artifact_path>/``."""
        target = self.path / "artifacts" / (artifact_path or "")
        target.mkdir(parents=True, exist_ok=True)
        if local_path.is_dir():
            shutil.copytree(local_path, target / local_path.name, dirs_exist_ok=True)
        else:
            shutil.copy2(local_path, target / local_path.name)

    def finish(self, status: str, end_time_ms: int) -> None:
        """Record the final status (``FINISHED``, ``FAILED``, ``KILLED``) and end time in ``run.json``."""
        self._meta.update(status=status, end_time=end_time_ms)
        self._write_json("run.json", self._meta)

    def _write_json(self, name: str, data: Mapping[str, Any]) -> None:
        tmp = self.path / f".{name}.tmp"
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path / name)


def new_local_id() -> str:
    """A random 32-hex-digit run id, the same shape as MLflow's."""
    return uuid.uuid4().hex
