"""The registry of job kinds: each kind is a pydantic config schema plus a function that runs it.

The route layer knows nothing about simulations: it creates ``POST /api/v1/runs/{kind}`` for every
registered :class:`JobKind`. Adding a kind (e.g. the built-in ``tactical``) is one
:meth:`JobRegistry.register` call with a schema factory and a run function.

Examples
--------
>>> from pydantic import BaseModel, ConfigDict, Field
>>> class EchoConfig(BaseModel):
...     model_config = ConfigDict(extra="forbid")
...     value: int = Field(0, ge=0, le=10)
>>> registry = JobRegistry()
>>> registry.register(JobKind("echo", "returns its input", lambda limits: EchoConfig,
...                           lambda cfg, ctx: JobResult(summary=cfg.model_dump())))
>>> registry.names()
['echo']
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from hal9.serve.settings import JobLimits

__all__ = ["JobContext", "JobKind", "JobRegistry", "JobResult", "default_registry", "json_safe"]


def _no_checkpoint() -> None:
    return None


@dataclass(frozen=True)
class JobContext:
    """What a job function may know about its run (not the database, not the request).

    Attributes
    ----------
    run_id : str
    device : str
        torch device of the job.
    checkpoint : callable
        ``checkpoint()`` returns at once unless the run was cancelled (then it raises
        :class:`~hal9.serve.execute.JobCancelled`) or its worker is shutting down past its grace period
        (:class:`~hal9.serve.execute.HandBack`). Job functions call it at every step boundary where
        stopping leaves nothing half done; it costs a dictionary look-up, plus one indexed read every
        ``HAL9_JOB_CANCEL_POLL_S`` seconds.
    """

    run_id: str
    device: str
    checkpoint: Callable[[], None] = _no_checkpoint


@dataclass
class JobResult:
    """What a job function returns.

    Attributes
    ----------
    summary : dict
        JSON-ready result stored with the run and returned by ``GET /api/v1/runs/{id}``.
    metrics : dict[str, float]
        Logged to MLflow in one batch (non-finite values are dropped).
    neuron_steps : int
        Neurons × steps × batch simulated (the ``hal9_neuron_steps_simulated_total`` counter).
    layers : int or None
        Layers found by a self-organization job (the ``hal9_selforg_last_layer_count`` gauge).
    """

    summary: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    neuron_steps: int = 0
    layers: int | None = None


@dataclass(frozen=True)
class JobKind:
    """A kind of job.

    Parameters
    ----------
    name : str
        URL segment and ``kind`` column (``[a-z0-9-]``, at most 32 characters).
    summary : str
        One line shown in the API documentation.
    schema : callable
        ``schema(limits) -> type[BaseModel]``: the config model, with every numeric field bounded by
        ``limits`` and ``extra="forbid"``.
    run : callable
        ``run(config, context) -> JobResult``; runs in a worker thread or process; raising marks the run
        failed. It calls ``context.checkpoint()`` between steps, so a cancelled run stops there.
    """

    name: str
    summary: str
    schema: Callable[[JobLimits], type[BaseModel]]
    run: Callable[[Any, JobContext], JobResult]


class JobRegistry:
    """The job kinds an app serves (one registry per app; no global state)."""

    def __init__(self, kinds: Mapping[str, JobKind] | None = None) -> None:
        self._kinds: dict[str, JobKind] = dict(kinds or {})

    def register(self, kind: JobKind) -> None:
        """Add ``kind``; its name must be new, lower-case ``[a-z0-9-]`` and at most 32 characters."""
        if kind.name in self._kinds:
            raise ValueError(f"job kind {kind.name!r} is already registered")
        if (
            not kind.name
            or len(kind.name) > 32
            or any(c not in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in kind.name)
        ):
            raise ValueError(f"invalid job kind name {kind.name!r}")
        self._kinds[kind.name] = kind

    def __getitem__(self, name: str) -> JobKind:
        return self._kinds[name]

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __iter__(self) -> Iterator[JobKind]:
        return iter(self._kinds.values())

    def names(self) -> list[str]:
        """Registered kind names, in registration order."""
        return list(self._kinds)


def default_registry() -> JobRegistry:
    """A registry with the built-in kinds: ``simulation``, ``organize``, ``metrics``, ``tactical``."""
    from hal9.serve.job_kinds import METRICS, ORGANIZE, SIMULATION, TACTICAL

    registry = JobRegistry()
    for kind in (SIMULATION, ORGANIZE, METRICS, TACTICAL):
        registry.register(kind)
    return registry


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats replaced by ``None`` and tuples/NumPy scalars made JSON-ready."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):
        return json_safe(value.item())
    return str(value)
