"""The built-in job kinds: a bounded rate-network simulation, self-organization, Φ of a VAR(1) system and
L4 tactical coordination (``hal9 tactical simulate`` with one scheduler).

Each kind has a schema factory (bounds from :class:`~hal9.serve.settings.JobLimits`) and a run function
that imports torch-heavy code only when it runs. The run functions call the recipes of
:mod:`hal9.experiments` (the same code as the ``hal9`` CLI); option lists (schedulers, measures, criteria,
kernels) come from where they are declared, never from a copy here.
"""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hal9.core import MIN_NORMAL
from hal9.serve.jobs import JobContext, JobKind, JobResult
from hal9.serve.settings import JobLimits

__all__ = ["METRICS", "ORGANIZE", "SIMULATION", "TACTICAL"]

_SEED = Field(0, ge=0, le=2**31 - 1, description="random seed")
#: Simulation steps between two checkpoints (cancellation / shut-down boundaries) of a simulation job.
_CHUNK_STEPS = 50


def simulation_schema(limits: JobLimits) -> type[BaseModel]:
    """Config of a ``simulation`` job: the ``hal9 demo`` hierarchy, bounded, without figures."""

    class SimulationJobConfig(BaseModel):
        """A 9-layer designed hierarchy (ratio e) of leaky rate neurons driven through L1."""

        model_config = ConfigDict(extra="forbid", frozen=True)

        neurons: int = Field(900, ge=9, le=limits.max_neurons, description="total neurons")
        steps: int = Field(100, ge=1, le=limits.max_steps, description="simulation steps")
        batch: int = Field(1, ge=1, le=limits.max_batch, description="independent input trials")
        tau: float = Field(10.0, ge=1.0, le=1000.0, description="membrane time constant (steps)")
        input_amplitude: float = Field(1.5, ge=0.0, le=10.0, description="amplitude of the L1 input")
        input_period: float = Field(200.0, ge=2.0, le=100_000.0, description="period of the L1 input")
        seed: int = _SEED

    return SimulationJobConfig


def run_simulation(cfg: Any, ctx: JobContext) -> JobResult:
    """Build the demo network and L1 input (:mod:`hal9.experiments.demo`), simulate in cancellable chunks
    and summarise each layer."""
    import torch

    from hal9.core import build_network, rate_params, run
    from hal9.experiments.demo import demo_config, demo_inputs, network_summary

    demo = demo_config(
        cfg.neurons,
        cfg.steps,
        cfg.batch,
        cfg.seed,
        ctx.device,
        tau=cfg.tau,
        input_amplitude=cfg.input_amplitude,
        input_period=cfg.input_period,
    )
    device = torch.device(ctx.device)
    net = build_network(demo.hierarchy, seed=cfg.seed, device=device, dtype=torch.float32)
    params = rate_params(demo.neuron, net.sizes, device=device, dtype=torch.float32)
    inputs = demo_inputs(demo, net.sizes[0], device, torch.float32)
    layers = list(range(net.n_layers))
    every = demo.record_every
    # Chunks of whole recording periods: the checkpoint between chunks is the cancellation boundary,
    # and the concatenated recordings equal those of one run (the state is carried over).
    chunk = every * max(1, math.ceil(_CHUNK_STEPS / every))
    state = None
    parts: dict[int, list[torch.Tensor]] = {k: [] for k in layers}
    t0 = time.perf_counter()
    for start in range(0, cfg.steps, chunk):
        ctx.checkpoint()
        res = run(net, params, inputs[start : start + chunk], state=state, record=layers, every=every)
        state = res.final_state
        for k in layers:
            parts[k].append(res.recordings[k])
    run_s = time.perf_counter() - t0
    mean_abs = [float(torch.cat(parts[k]).abs().mean()) for k in layers]
    neuron_steps = net.n_neurons * cfg.batch * cfg.steps
    summary = {
        **network_summary(net, cfg.steps, cfg.batch, mean_abs),
        "run_s": run_s,
        "neuron_steps_per_s": neuron_steps / max(run_s, 1e-9),
    }
    metrics = {k: float(v) for k, v in summary.items() if isinstance(v, int | float)}
    metrics |= {f"mean_abs_rate.L{k + 1}": mean_abs[k] for k in layers}
    return JobResult(summary=summary, metrics=metrics, neuron_steps=neuron_steps)


def organize_schema(limits: JobLimits) -> type[BaseModel]:
    """Config of an ``organize`` job (a bounded :class:`~hal9.selforg.organizer.OrganizeConfig`)."""
    from hal9.experiments.options import literal_of
    from hal9.experiments.organize import KERNELS

    Kernel = literal_of(KERNELS)

    class OrganizeJobConfig(BaseModel):
        """Self-organize primordial neurons into an emergent, null-checked hierarchy."""

        model_config = ConfigDict(extra="forbid", frozen=True)

        neurons: int = Field(500, ge=10, le=limits.max_organize_neurons, description="primordial neurons")
        k: int = Field(8, ge=1, le=limits.max_k, description="partners kept per neuron")
        kernel: Kernel = "hal9"  # type: ignore[valid-type]
        bandwidth: float = Field(
            0.1, ge=MIN_NORMAL, le=100.0, allow_inf_nan=False, description="gaussian kernel bandwidth"
        )
        n_layers: int | None = Field(None, ge=2, le=9, description="force the number of layers")
        n_null: int = Field(0, ge=0, le=limits.max_null, description="null graphs per family (0 or >= 2)")
        seed: int = _SEED

        @model_validator(mode="after")
        def _consistent(self) -> OrganizeJobConfig:
            if self.k >= self.neurons:
                raise ValueError("k must be smaller than neurons")
            if self.n_null == 1:
                raise ValueError("n_null must be 0 or >= 2")
            return self

    return OrganizeJobConfig


def run_organize(cfg: Any, ctx: JobContext) -> JobResult:
    """Fit :class:`~hal9.selforg.organizer.SelfOrganizer` (:func:`hal9.experiments.organize.fit_organizer`)
    and return its summary."""
    from hal9.experiments.organize import OrganizeConfig, fit_organizer

    config = OrganizeConfig(**cfg.model_dump(), mode="exact", device=ctx.device)
    ctx.checkpoint()
    org = fit_organizer(config).organizer
    ctx.checkpoint()
    summary = org.summary()
    lay = org.layering_
    metrics = {
        "n_layers": float(lay.n_layers),
        "modularity": float(lay.modularity),
        "pm1_violation": float(lay.adjacency_violation),
        **{f"time.{k}": float(v) for k, v in summary["timings_s"].items()},
    }
    return JobResult(summary=summary, metrics=metrics, layers=int(lay.n_layers))


_Entry = Annotated[float, Field(ge=-10.0, le=10.0, allow_inf_nan=False)]


def metrics_schema(limits: JobLimits) -> type[BaseModel]:
    """Config of a ``metrics`` job: integrated information of ``X_t = A X_{t−1} + E_t``.

    ``measure`` and ``criterion`` are enums of the names :mod:`hal9.metrics` declares (read when the schema
    is built, so registered measures are included).
    """
    from hal9.experiments.options import criterion_aliases, criterion_names, literal_of, measure_names

    n_max = limits.max_metrics_n
    MeasureName = literal_of(measure_names())
    CriterionName = literal_of(criterion_names())

    class MetricsConfig(BaseModel):
        """Φ of a stable linear-Gaussian VAR(1) system with identity noise covariance."""

        model_config = ConfigDict(extra="forbid", frozen=True)

        A: list[Annotated[list[_Entry], Field(min_length=2, max_length=n_max)]] = Field(
            ..., min_length=2, max_length=n_max, description="square coupling matrix, spectral radius < 1"
        )
        measure: MeasureName = "wms"  # type: ignore[valid-type]
        criterion: CriterionName = "min"  # type: ignore[valid-type]

        @field_validator("criterion", mode="before")
        @classmethod
        def _old_spelling(cls, v: object) -> object:
            # "normalised" is accepted (as "normalized") until hal9 0.2.0.
            return criterion_aliases().get(v, v) if isinstance(v, str) else v

        @model_validator(mode="after")
        def _stable_square(self) -> MetricsConfig:
            import numpy as np

            n = len(self.A)
            if any(len(row) != n for row in self.A):
                raise ValueError("A must be square")
            radius = float(np.max(np.abs(np.linalg.eigvals(np.asarray(self.A, dtype=float)))))
            if not radius < 0.99:
                raise ValueError(f"spectral radius of A must be < 0.99 (is {radius:.4g})")
            return self

    return MetricsConfig


def run_metrics(cfg: Any, ctx: JobContext) -> JobResult:
    """Compute :func:`~hal9.metrics.integrated_information` of ``cfg.A``
    (:func:`hal9.experiments.metrics_report.measure_integration`)."""
    import torch

    from hal9.experiments.metrics_report import measure_integration

    data = {"A": torch.tensor(cfg.A, dtype=torch.float64)}
    row = measure_integration(data, cfg.measure, criterion=cfg.criterion)
    summary = {
        "value_nats": row["value_nats"],
        "measure": cfg.measure,
        "partition": row["partition"],
        "normalized": row["normalized"],
        "partitions_evaluated": row["partitions_evaluated"],
        "method": row["method"],
        "seconds": row["seconds"],
    }
    metrics = {"value_nats": float(row["value_nats"]), "seconds": row["seconds"]}
    return JobResult(summary=summary, metrics=metrics)


def tactical_schema(limits: JobLimits) -> type[BaseModel]:
    """Config of a ``tactical`` job: a bounded ``hal9.experiments.tactical.TacticalRunConfig``.

    Random units and one ``scheduler`` (:data:`hal9.tactical.Scheduler`).
    """
    from hal9.tactical.models import Scheduler

    class TacticalJobConfig(BaseModel):
        """L4 contract-net coordination of a seeded random workload on random L3 units."""

        model_config = ConfigDict(extra="forbid", frozen=True)

        tasks: int = Field(500, ge=1, le=limits.max_tactical_tasks, description="tasks in the workload")
        units: int = Field(16, ge=1, le=limits.max_tactical_units, description="L3 units (random)")
        scheduler: Scheduler = "auto"
        failure_rate: float = Field(0.0, ge=0.0, lt=1.0, description="P(a task attempt fails)")
        seed: int = _SEED

    return TacticalJobConfig


def run_tactical(cfg: Any, ctx: JobContext) -> JobResult:
    """Run :func:`hal9.experiments.tactical.run_tactical_experiment` with one scheduler and random units."""
    from hal9.experiments.tactical import TacticalRunConfig, run_tactical_experiment
    from hal9.serve.jobs import json_safe

    run_cfg = TacticalRunConfig(
        tasks=cfg.tasks,
        units=cfg.units,
        failure_rate=cfg.failure_rate,
        schedulers=(cfg.scheduler,),
        unit_source="random",
        seed=cfg.seed,
        device=ctx.device,
    )
    ctx.checkpoint()
    full, _ = run_tactical_experiment(run_cfg)
    ctx.checkpoint()
    only = full["schedulers"][cfg.scheduler]
    summary = json_safe(
        {
            "scheduler": cfg.scheduler,
            "tasks": full["tasks"],
            "units": full["units"],
            "goals": full["goals"],
            "counts": full["counts"],
            "metrics": full["metrics"],
            "seconds": only["seconds"],
        }
    )
    metrics = {
        **{f"count.{k}": float(v) for k, v in summary["counts"].items() if isinstance(v, int | float)},
        **{k: float(v) for k, v in summary["metrics"].items() if isinstance(v, int | float)},
        "seconds": float(only["seconds"]),
    }
    return JobResult(summary=summary, metrics=metrics)


SIMULATION = JobKind(
    "simulation", "simulate a bounded 9-layer rate network", simulation_schema, run_simulation
)
ORGANIZE = JobKind("organize", "self-organize primordial neurons into layers", organize_schema, run_organize)
METRICS = JobKind("metrics", "integrated information of a small VAR(1) system", metrics_schema, run_metrics)
TACTICAL = JobKind(
    "tactical", "L4 contract-net coordination of a seeded workload on L3 units", tactical_schema, run_tactical
)
