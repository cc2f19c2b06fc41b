"""The built-in job kinds: a bounded rate-network simulation, self-organization, Φ of a VAR(1) system and
L4 tactical coordination (``hal9 tactical simulate`` with one scheduler).

Each kind has a schema factory (bounds from :class:`~hal9.serve.settings.JobLimits`) and a run function
that imports torch-heavy code only when it runs.
"""

from __future__ import annotations

import math
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hal9.core.config import MIN_NORMAL
from hal9.serve.jobs import JobContext, JobKind, JobResult
from hal9.serve.settings import JobLimits

__all__ = ["METRICS", "ORGANIZE", "SIMULATION", "TACTICAL"]

_SEED = Field(0, ge=0, le=2**31 - 1, description="random seed")
#: Simulation steps between two checkpoints (cancellation / shut-down boundaries) of a simulation job.
_CHUNK_STEPS = 50


def simulation_schema(limits: JobLimits) -> type[BaseModel]:
    """Config of a ``simulation`` job: the ``hal9 demo`` hierarchy, bounded, without figures."""

    class SimulationConfig(BaseModel):
        """A 9-layer designed hierarchy (ratio e) of leaky rate neurons driven through L1."""

        model_config = ConfigDict(extra="forbid", frozen=True)

        neurons: int = Field(900, ge=9, le=limits.max_neurons, description="total neurons")
        steps: int = Field(100, ge=1, le=limits.max_steps, description="simulation steps")
        batch: int = Field(1, ge=1, le=limits.max_batch, description="independent input trials")
        tau: float = Field(10.0, ge=1.0, le=1000.0, description="membrane time constant (steps)")
        input_amplitude: float = Field(1.5, ge=0.0, le=10.0, description="amplitude of the L1 input")
        input_period: float = Field(200.0, ge=2.0, le=100_000.0, description="period of the L1 input")
        seed: int = _SEED

    return SimulationConfig


def run_simulation(cfg: Any, ctx: JobContext) -> JobResult:
    """Build the network, drive L1 with a modulated pattern, simulate and summarise each layer."""
    import torch

    from hal9.cli.demo import demo_config
    from hal9.core import adjacency_violation, build_network, layer_name, rate_params, run

    demo = demo_config(cfg.neurons, cfg.steps, cfg.batch, cfg.seed, ctx.device)
    neuron = demo.neuron.model_copy(update={"tau": cfg.tau})
    device = torch.device(ctx.device)
    net = build_network(demo.hierarchy, seed=cfg.seed, device=device, dtype=torch.float32)
    params = rate_params(neuron, net.sizes, device=device, dtype=torch.float32)
    gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    pattern = torch.randn((cfg.batch, net.sizes[0]), generator=gen, device=device)
    t = torch.arange(cfg.steps, device=device, dtype=torch.float32) * neuron.dt
    envelope = 0.5 * (1 - torch.cos(2 * math.pi * t / cfg.input_period))
    inputs = cfg.input_amplitude * envelope[:, None, None] * pattern[None]
    layers = list(range(net.n_layers))
    every = max(1, cfg.steps // 200)
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
        "neurons": net.n_neurons,
        "synapses": net.n_synapses,
        "steps": cfg.steps,
        "batch": cfg.batch,
        "layers": [
            {"layer": layer_name(k), "size": net.sizes[k], "mean_abs_rate": mean_abs[k]} for k in layers
        ],
        "pm1_violation": float(adjacency_violation(net.weight, net.labels)),
        "run_s": run_s,
        "neuron_steps_per_s": neuron_steps / max(run_s, 1e-9),
    }
    metrics = {k: float(v) for k, v in summary.items() if isinstance(v, int | float)}
    metrics |= {f"mean_abs_rate.L{k + 1}": mean_abs[k] for k in layers}
    return JobResult(summary=summary, metrics=metrics, neuron_steps=neuron_steps)


def organize_schema(limits: JobLimits) -> type[BaseModel]:
    """Config of an ``organize`` job (a bounded :class:`~hal9.selforg.organizer.OrganizeConfig`)."""

    class OrganizeJobConfig(BaseModel):
        """Self-organize primordial neurons into an emergent, null-checked hierarchy."""

        model_config = ConfigDict(extra="forbid", frozen=True)

        neurons: int = Field(500, ge=10, le=limits.max_organize_neurons, description="primordial neurons")
        k: int = Field(8, ge=1, le=limits.max_k, description="partners kept per neuron")
        kernel: Literal["hal9", "gaussian"] = "hal9"
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
    """Fit :class:`~hal9.selforg.organizer.SelfOrganizer` and return its summary."""
    from hal9.selforg.organizer import OrganizeConfig, SelfOrganizer

    config = OrganizeConfig(**cfg.model_dump(), mode="exact", device=ctx.device)
    ctx.checkpoint()
    org = SelfOrganizer(config).fit()
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
    """Config of a ``metrics`` job: integrated information of ``X_t = A X_{t−1} + E_t``."""
    n_max = limits.max_metrics_n

    class MetricsConfig(BaseModel):
        """Φ of a stable linear-Gaussian VAR(1) system with identity noise covariance."""

        model_config = ConfigDict(extra="forbid", frozen=True)

        A: list[Annotated[list[_Entry], Field(min_length=2, max_length=n_max)]] = Field(
            ..., min_length=2, max_length=n_max, description="square coupling matrix, spectral radius < 1"
        )
        measure: Literal["mi", "wms", "r", "si", "geometric", "star"] = "wms"
        criterion: Literal["min", "normalised"] = "min"

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
    """Compute :func:`~hal9.metrics.integrated_information` of ``cfg.A``."""
    import torch

    from hal9.metrics import integrated_information

    t0 = time.perf_counter()
    res = integrated_information(
        torch.tensor(cfg.A, dtype=torch.float64), measure=cfg.measure, criterion=cfg.criterion
    )
    seconds = time.perf_counter() - t0
    summary = {
        "value_nats": res.value,
        "measure": res.measure,
        "partition": [list(p) for p in res.partition],
        "normalised": res.normalised,
        "partitions_evaluated": res.n_partitions_evaluated,
        "method": res.method,
        "seconds": seconds,
    }
    return JobResult(summary=summary, metrics={"value_nats": float(res.value), "seconds": seconds})


def tactical_schema(limits: JobLimits) -> type[BaseModel]:
    """Config of a ``tactical`` job: a bounded subset of :class:`hal9.cli.tactical.TacticalRunConfig`."""

    class TacticalJobConfig(BaseModel):
        """L4 contract-net coordination of a seeded random workload on random L3 units."""

        model_config = ConfigDict(extra="forbid", frozen=True)

        tasks: int = Field(500, ge=1, le=limits.max_tactical_tasks, description="tasks in the workload")
        units: int = Field(16, ge=1, le=limits.max_tactical_units, description="L3 units (random)")
        scheduler: Literal["auto", "auction", "hungarian", "greedy", "edf", "round_robin"] = "auto"
        failure_rate: float = Field(0.0, ge=0.0, lt=1.0, description="P(a task attempt fails)")
        seed: int = _SEED

    return TacticalJobConfig


def run_tactical(cfg: Any, ctx: JobContext) -> JobResult:
    """Run :func:`hal9.cli.tactical.run_tactical_experiment` with one scheduler and random units."""
    from hal9.cli.tactical import TacticalRunConfig, run_tactical_experiment
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
