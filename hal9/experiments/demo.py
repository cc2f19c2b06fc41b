"""The demo recipe: a 9-layer designed hierarchy driven through L1, simulated, measured, plotted and tracked.

``hal9 demo`` and ``experiments/rate_hierarchy.py`` run :func:`run_demo`; the service's ``simulation`` job
and ``hal9 metrics --hierarchy`` build the same network and input with :func:`demo_config` and
:func:`demo_inputs`.
"""

from __future__ import annotations

import math
import platform
import resource
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TypedDict

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import Tensor

from hal9.core import (
    MIN_NORMAL,
    ConnectivityConfig,
    HierarchyConfig,
    Network,
    RateConfig,
    adjacency_violation,
    build_network,
    check_device,
    layer_name,
    rate_params,
    run,
    sizes_for_total,
)
from hal9.experiments._tracking import MlflowRef

__all__ = [
    "DemoConfig",
    "DemoLayer",
    "DemoSummary",
    "NetworkSummary",
    "demo_config",
    "demo_inputs",
    "format_summary",
    "network_summary",
    "pm1_violation_of",
    "run_demo",
]


class DemoConfig(BaseModel):
    """Everything the demo does, logged to MLflow as params.

    Attributes
    ----------
    hierarchy, neuron : HierarchyConfig, RateConfig
        The network (sizes, connectivity) and the leaky rate neuron model (``tau``, ``dt`` in time units).
    steps, batch : int
        Simulation steps ``T`` and independent input trials.
    record_every : int
        Keep every ``record_every``-th state in the recordings.
    input_amplitude, input_period : float
        ``a`` and ``P`` (time units) of the L1 input, see :func:`demo_inputs`.
    seed : int
        Seeds the network (``seed``) and the input pattern (``seed + 1``).
    device, dtype : str
        Where and in which float type to simulate.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    hierarchy: HierarchyConfig
    neuron: RateConfig
    steps: int = Field(1000, ge=1)
    batch: int = Field(1, ge=1)
    record_every: int = Field(5, ge=1)
    input_amplitude: float = Field(1.5, allow_inf_nan=False)
    input_period: float = Field(
        200.0, ge=MIN_NORMAL, allow_inf_nan=False, description="period of the L1 input modulation, time units"
    )
    seed: int = 0
    device: str = "cpu"
    dtype: Literal["float32", "float64"] = "float32"

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        return check_device(v)


def demo_config(
    neurons: int = 100_000,
    steps: int = 1000,
    batch: int = 1,
    seed: int = 0,
    device: str | None = None,
    *,
    tau: float = 10.0,
    input_amplitude: float = 1.5,
    input_period: float = 200.0,
) -> DemoConfig:
    """The default demo: ``neurons`` in 9 designed layers (ratio e), fan-in 16 within + 16 bottom-up.

    Parameters
    ----------
    neurons : int
        Total neurons, split over 9 layers by :func:`hal9.core.sizes_for_total` (ratio e).
    steps, batch, seed : int
        As in :class:`DemoConfig`; ``record_every = max(1, steps // 200)``.
    device : str or None
        ``None``: ``"cuda"`` when available, else ``"cpu"``.
    tau : float
        Time constant of the tanh rate neurons (time units, ``dt = 1``).
    input_amplitude, input_period : float
        Of the L1 input (:func:`demo_inputs`).

    Raises
    ------
    pydantic.ValidationError
        A ``ValueError`` naming the field (e.g. ``steps`` < 1, an unknown ``device``).

    Examples
    --------
    >>> cfg = demo_config(900, steps=40, device="cpu")
    >>> sum(cfg.hierarchy.sizes), cfg.hierarchy.n_layers, cfg.record_every
    (900, 9, 1)
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    hierarchy = HierarchyConfig(
        sizes=sizes_for_total(neurons, 9, math.e),
        n_layers=9,
        connectivity=ConnectivityConfig(fan_in_within=16, fan_in_up=16, fan_in_policy="clip", gain=1.0),
    )
    return DemoConfig(
        hierarchy=hierarchy,
        neuron=RateConfig(tau=tau, activation="tanh", dt=1.0),
        steps=steps,
        batch=batch,
        seed=seed,
        device=device,
        record_every=max(1, steps // 200),
        input_amplitude=input_amplitude,
        input_period=input_period,
    )


def demo_inputs(cfg: DemoConfig, n1: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The L1 input: a fixed random pattern per neuron, amplitude-modulated by a slow raised cosine.

    ``I[t, b, i] = a · ½ (1 − cos(2π t·dt / P)) · p[b, i]`` with ``p ~ N(0, 1)`` drawn from a generator
    seeded with ``cfg.seed + 1``, ``a = cfg.input_amplitude``, ``P = cfg.input_period``.

    Parameters
    ----------
    cfg : DemoConfig
        ``steps`` (T), ``batch`` (B), ``seed``, ``neuron.dt`` and the input fields.
    n1 : int
        Size of L1.
    device, dtype : torch.device, torch.dtype
        Of the result (the pattern is drawn on ``device``).

    Returns
    -------
    Tensor, shape (T, B, n1)

    Examples
    --------
    >>> cfg = demo_config(900, steps=400, device="cpu")
    >>> x = demo_inputs(cfg, 5, torch.device("cpu"), torch.float64)
    >>> tuple(x.shape), float(x[0].abs().max())   # the envelope is 0 at t = 0
    ((400, 1, 5), 0.0)
    """
    gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    pattern = torch.randn((cfg.batch, n1), generator=gen, device=device, dtype=dtype)
    t = torch.arange(cfg.steps, device=device, dtype=dtype) * cfg.neuron.dt
    envelope = 0.5 * (1 - torch.cos(2 * math.pi * t / cfg.input_period))
    return cfg.input_amplitude * envelope[:, None, None] * pattern[None]


class DemoLayer(TypedDict):
    """One layer of a :class:`DemoSummary`."""

    layer: str
    size: int
    #: Mean over the recorded steps, trials and neurons of ``|x|`` (dimensionless rate).
    mean_abs_rate: float


class NetworkSummary(TypedDict):
    """The simulated hierarchy: sizes, run length and mean ``|rate|`` per layer, ±1 violation."""

    neurons: int
    synapses: int
    steps: int
    batch: int
    layers: list[DemoLayer]
    #: Fraction of synaptic weight that breaks the ±1 rule (:func:`hal9.core.adjacency_violation`).
    pm1_violation: float


def network_summary(
    net: Network, steps: int, batch: int, mean_abs: list[float], *, connectivity: Tensor | None = None
) -> NetworkSummary:
    """The :class:`NetworkSummary` of ``net`` after ``steps`` steps of ``batch`` trials (``mean_abs[k]``:
    mean ``|rate|`` of layer ``k``); shared by :func:`run_demo` and the service's simulation job.

    ``connectivity``: ``net.layer_connectivity()`` (``(K, K)`` total ``|w|``, target × source) when the
    caller has it already; the ±1 violation is then read from it, ``V = Σ_{|i−j|>1} C_ij / Σ C_ij``
    (:func:`pm1_violation_of`), instead of a second ``O(E)`` pass over the synapses
    (:func:`hal9.core.adjacency_violation`, the same quantity up to float64 rounding).
    """
    violation = (
        pm1_violation_of(connectivity)
        if connectivity is not None
        else float(adjacency_violation(net.weight, net.labels))
    )
    return {
        "neurons": net.n_neurons,
        "synapses": net.n_synapses,
        "steps": steps,
        "batch": batch,
        "layers": [
            {"layer": layer_name(k), "size": net.sizes[k], "mean_abs_rate": mean_abs[k]}
            for k in range(net.n_layers)
        ],
        "pm1_violation": violation,
    }


def pm1_violation_of(connectivity: Tensor) -> float:
    """Fraction of the total weight of a ``(K, K)`` layer connectivity matrix outside the ±1 band.

    ``V = Σ_{|i−j|>1} C_ij / Σ_{i,j} C_ij`` with ``C_ij ≥ 0`` the total ``|w|`` from layer ``j`` onto layer
    ``i`` (:meth:`hal9.core.Network.layer_connectivity`): the ``V`` of :func:`hal9.core.adjacency_violation`
    summed per layer pair first. ``0.0`` when ``C`` is all zero. ``O(K²)``.

    Raises
    ------
    ValueError
        If ``connectivity`` is not a square 2-D tensor.

    Examples
    --------
    >>> pm1_violation_of(torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    0.4
    """
    if connectivity.ndim != 2 or connectivity.shape[0] != connectivity.shape[1]:
        raise ValueError(
            f"connectivity must be a square (K, K) tensor, got shape {tuple(connectivity.shape)}"
        )
    k = connectivity.shape[0]
    idx = torch.arange(k, device=connectivity.device)
    outside = (idx[:, None] - idx[None, :]).abs() > 1
    total = float(connectivity.sum())
    return float(connectivity[outside].sum()) / total if total != 0.0 else 0.0


class DemoSummary(NetworkSummary):
    """What :func:`run_demo` measured (JSON-ready; times in seconds, rates per second)."""

    hal9_version: str
    device: str
    build_s: float
    run_s: float
    neuron_steps_per_s: float
    synaptic_updates_per_s: float
    peak_rss_mb: float
    #: ``None`` when the caller asked for no MLflow run.
    mlflow: MlflowRef | None
    figures: list[str]


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def run_demo(
    cfg: DemoConfig,
    *,
    outputs: Path | None = Path("outputs"),
    experiment: str | None = "hal9-demo",
    tracking_uri: str | None = None,
    progress: bool = True,
) -> DemoSummary:
    """Build, simulate (after one warm-up step), plot and log; return the measured summary.

    Parameters
    ----------
    cfg : DemoConfig
    outputs : Path or None
        Folder of ``hierarchy.png`` and ``activity.png``; ``None``: no figures.
    experiment : str or None
        MLflow experiment of the run (config as params, the summary's numbers as metrics, the figures and
        the layer means as artifacts); ``None``: no MLflow run (``summary["mlflow"]`` is ``None``).
    tracking_uri : str or None
        MLflow backend; ``None``: the environment or ``./mlflow.db``.
    progress : bool
        Show a progress bar of the simulation (stderr).

    Returns
    -------
    DemoSummary
        ``run_s`` times the whole ``(T, B)`` simulation (synchronised on CUDA); ``neuron_steps_per_s =
        neurons·B·T / run_s`` and ``synaptic_updates_per_s = synapses·B·T / run_s``; ``peak_rss_mb`` is
        the process's peak resident set size (MiB).
    """
    from hal9 import __version__

    device = torch.device(cfg.device)
    dtype = getattr(torch, cfg.dtype)
    t0 = time.perf_counter()
    net = build_network(cfg.hierarchy, seed=cfg.seed, device=device, dtype=dtype)
    if device.type == "cuda":
        torch.cuda.synchronize()
    build_s = time.perf_counter() - t0
    params = rate_params(cfg.neuron, net.sizes, device=device, dtype=dtype)
    inputs = demo_inputs(cfg, net.sizes[0], device, dtype)
    layers = list(range(net.n_layers))
    # warm-up step (allocator, MKL/cuSPARSE setup) so the timed run measures steady state
    run(net, params, inputs[:2])
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    res = run(net, params, inputs, record=layers, every=cfg.record_every, progress=progress)
    if device.type == "cuda":
        torch.cuda.synchronize()
    sim_s = time.perf_counter() - t0
    mean_abs = [float(res.recordings[k].abs().mean()) for k in layers]
    # one pass over the synapses for both the ±1 violation and the hierarchy figure
    connectivity = net.layer_connectivity()
    neuron_steps = net.n_neurons * cfg.batch * cfg.steps
    syn_updates = net.n_synapses * cfg.batch * cfg.steps
    summary: DemoSummary = {
        "hal9_version": __version__,
        "device": _device_name(device),
        **network_summary(net, cfg.steps, cfg.batch, mean_abs, connectivity=connectivity),
        "build_s": build_s,
        "run_s": sim_s,
        "neuron_steps_per_s": neuron_steps / sim_s,
        "synaptic_updates_per_s": syn_updates / sim_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
        "mlflow": None,
        "figures": [],
    }
    paths: list[Path] = []
    if outputs is not None:
        from hal9.viz import plot_hierarchy, plot_layer_activity, save_figure

        outputs.mkdir(parents=True, exist_ok=True)
        fig_h = plot_hierarchy(net.sizes, connectivity.cpu().numpy(), title="hal9 demo hierarchy")
        recs = {layer_name(k): res.recordings[k][:, 0] for k in layers}
        fig_a = plot_layer_activity(recs, dt=cfg.neuron.dt, every=cfg.record_every, kind="heatmap")
        paths = [save_figure(fig_h, outputs / "hierarchy.png"), save_figure(fig_a, outputs / "activity.png")]
    if experiment is not None:
        metrics = {k: v for k, v in summary.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        metrics |= {f"mean_abs_rate.L{k + 1}": mean_abs[k] for k in layers}
        summary["mlflow"] = _log_demo_run(
            cfg, experiment, tracking_uri, f"demo-{net.n_neurons}", metrics, res.layer_means, paths
        )
    summary["figures"] = [str(p) for p in paths]
    return summary


def _log_demo_run(
    cfg: DemoConfig,
    experiment: str,
    tracking_uri: str | None,
    run_name: str,
    metrics: Mapping[str, float],
    layer_means: Tensor,
    figures: list[Path],
) -> MlflowRef:
    """One MLflow run: params (``cfg``), ``metrics`` and the L1 series in one ``log_batch`` call, then the
    artifacts.

    The series ``mean_abs_rate.L1_t`` is ``|mean rate|`` of L1 in trial 0 per record; the artifacts are
    ``figures`` and ``layer_means.npy`` (``(T // every, B, K)``, converted to NumPy once).
    """
    from hal9.tracking import start_run

    means = layer_means.cpu().numpy()
    with start_run(experiment, run_name=run_name, tracking_uri=tracking_uri) as tr:
        tr.log_batch(params=cfg, metrics=metrics, series={"mean_abs_rate.L1_t": np.abs(means[:, 0, 0])})
        for p in figures:
            tr.log_artifact(p)
        tr.log_array("layer_means", means)
        return {
            "tracking_uri": tr.tracking_uri,
            "run_id": tr.run_id,
            "fallback_path": str(tr.fallback_path) if tr.is_fallback else None,
        }


def format_summary(summary: DemoSummary) -> str:
    """Human-readable table of a demo summary (a string; the caller prints it)."""
    lines = [
        f"hal9 {summary['hal9_version']} demo on {summary['device']}",
        f"{summary['neurons']:,} neurons, {summary['synapses']:,} synapses, "
        f"{summary['steps']} steps x batch {summary['batch']}",
        "",
        f"{'layer':<20} {'size':>9} {'mean |rate|':>12}",
    ]
    for row in summary["layers"]:
        lines.append(f"{row['layer']:<20} {row['size']:>9,} {row['mean_abs_rate']:>12.4f}")
    lines += [
        "",
        f"±1 rule violation      {summary['pm1_violation']:.3g} of synaptic weight",
        f"build time             {summary['build_s']:.3f} s",
        f"run time               {summary['run_s']:.3f} s",
        f"neuron-steps/s         {summary['neuron_steps_per_s']:.3e}",
        f"synaptic updates/s     {summary['synaptic_updates_per_s']:.3e}",
        f"peak RSS               {summary['peak_rss_mb']:.0f} MiB",
        f"figures                {', '.join(summary['figures']) or 'not written'}",
    ]
    ml = summary["mlflow"]
    if ml is None:
        lines.append("MLflow                 not logged")
    elif ml["fallback_path"]:
        lines.append(f"MLflow unreachable; results written to {ml['fallback_path']}")
    else:
        lines.append(f"MLflow run {ml['run_id']} in {ml['tracking_uri']}")
        uri = ml["tracking_uri"]
        lines.append(f"open the UI:            mlflow ui --backend-store-uri {uri}")
    return "\n".join(lines)
