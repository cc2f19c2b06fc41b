"""Two sweep recipes that put HAL9's hierarchy claims to the test (issue 16, experiments 1 and 2).

Experiment 1 — "is the compression ratio e special?" (:class:`RatioConfig`, :func:`ratio_sweep_run`): a
designed hierarchy whose layer sizes shrink by ``ratio`` (:func:`hal9.core.sizes_for_total`) is driven by
noise into L1 and measured per boundary (:func:`~hal9.experiments.hierarchy_claims_metrics.hierarchy_metrics`:
Φ_WMS and Φ* of a reduced VAR(1) with a circular-shift null, adjacent CKA, compression efficiency, LZ76).
A sweep over ``ratio`` × seeds is then aggregated, and
:func:`~hal9.experiments.hierarchy_claims_metrics.peak_test` asks whether a metric at ``ratio = e`` lies
above the 95 % CIs of both neighbouring ratios.

Experiment 2 — "emergent vs designed vs null" (:class:`EmergentConfig`, :func:`emergent_sweep_run`): for a
seed, self-organisation (:func:`hal9.experiments.organize.fit_organizer`) finds layers in a primordial
population; ``kind`` picks the network simulated:

* ``"emergent"`` — the discovered graph, max-symmetrised (:func:`hal9.selforg.degree_preserving_rewire`
  with 0 swaps), restricted to ±1 over the emergent layers (:func:`hal9.selforg.to_network`);
* ``"null"`` — the same graph after ``rewire_swaps`` degree-preserving double-edge swaps per edge, with the
  same layers and the same weight scale (edges that now join non-adjacent layers are dropped by ±1 and
  counted in ``substrate.removed_weight_fraction``). The emergent graph is symmetrised too so that the two
  differ only in wiring;
* ``"designed"`` — a designed hierarchy (sparse random fan-in, as in experiment 1) with the emergent
  layer sizes.

The compatibilities of the discovered graph are positive (in ``[0, 1]``); emergent and null weights are
multiplied by ``emergent_gain / s̄``, ``s̄`` the emergent network's mean in-strength ``Σ_j w_ij``, so the
Perron root of the positive weight matrix is about ``emergent_gain``. The default 0.7 is about the spectral
radius ``gain · √(F_within / F)`` of a designed layer's own random weights (``F = F_within + F_up``).

Both recipes follow the sweep contract of :mod:`hal9.experiments.sweep.recipes`: a frozen config with a
``seed``, ``*_sweep_default() -> dict`` and ``*_sweep_run(config, context) -> TrialOutput``. Metrics are
deterministic for a seed on a device; wall-clock times go to the ``trial.json`` artifact.
"""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hal9.core import (
    ConnectivityConfig,
    HierarchyConfig,
    Network,
    RateConfig,
    build_network,
    check_device,
    sizes_for_total,
)
from hal9.experiments.hierarchy_claims_metrics import (
    hierarchy_metrics,
    peak_test,
    simulate_noise_driven,
    stream_seed,
)
from hal9.selforg.kernels import KernelName

if TYPE_CHECKING:  # the sweep package may import this module to register the recipes
    from hal9.experiments.sweep.recipes import TrialContext, TrialOutput

__all__ = [
    "EmergentConfig",
    "RatioConfig",
    "emergent_networks",
    "emergent_sweep_default",
    "emergent_sweep_run",
    "peak_test",
    "ratio_network",
    "ratio_sweep_default",
    "ratio_sweep_run",
]

#: Fewest recorded samples (``steps // record_every``) per Φ dimension (``2 · components``).
SAMPLES_PER_DIMENSION = 10
#: Fewest recorded samples overall (the compression report keeps up to 10 components per layer and
#: needs 4 samples per component).
MIN_SAMPLES = 50


class _Simulation(BaseModel):
    """Fields shared by both recipes: the noise-driven simulation and the measurements.

    Attributes
    ----------
    steps : int
        Recorded simulation steps (after ``burn_in``), ``dt = 1``.
    burn_in : int
        Steps simulated from rest and discarded first.
    record_every : int
        Keep every ``record_every``-th state: ``S = steps // record_every`` samples. Φ is a one-sample-lag
        quantity, so this is its time step; consecutive states of leaky neurons (``tau = 10``) are so
        similar that the VAR(1) of the top components fitted on every step is not stationary.
    noise : float
        S.d. of the i.i.d. Gaussian input into every L1 neuron at every step.
    layer_noise : float
        S.d. of the private i.i.d. Gaussian input into every neuron of L2..LK (0: none). It keeps every
        layer's VAR(1) innovations non-degenerate: without it, a layer the signal hardly reaches is a
        near-deterministic, near-silent function of the layer below and Φ across that boundary diverges.
    tau : float
        Time constant of the leaky tanh rate neurons (steps).
    fan_in_within, fan_in_up, gain : int, int, float
        Of the designed hierarchy (:class:`hal9.core.ConnectivityConfig`, ``fan_in_policy="clip"``).
    components : int
        ``d``: principal components per layer for Φ (≤ the smallest layer).
    n_surrogates : int
        Circular-shift surrogates of the Φ null.
    seed : int
        Seeds the network (stream 0), the input (stream 1) and the surrogates (stream 2).
    device : str
        Where to simulate (``"cpu"``, ``"cuda[:i]"``); measurements run on the CPU in float64.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: int = Field(4000, ge=1, description="recorded steps (dt = 1)")
    burn_in: int = Field(200, ge=0, description="steps simulated from rest and discarded")
    record_every: int = Field(10, ge=1, description="keep every n-th state (the time step of Φ)")
    noise: float = Field(1.0, gt=0, allow_inf_nan=False, description="s.d. of the L1 noise input")
    layer_noise: float = Field(
        0.05, ge=0, allow_inf_nan=False, description="s.d. of the private noise into L2..LK"
    )
    tau: float = Field(10.0, gt=0, allow_inf_nan=False, description="rate-neuron time constant (steps)")
    fan_in_within: int = Field(16, ge=0, description="designed: partners inside the own layer")
    fan_in_up: int = Field(16, ge=1, description="designed: partners in the layer below")
    gain: float = Field(1.0, gt=0, allow_inf_nan=False, description="designed: weight gain")
    components: int = Field(4, ge=1, le=8, description="principal components per layer for Φ")
    n_surrogates: int = Field(10, ge=1, description="circular-shift surrogates of the Φ null")
    seed: int = Field(0, ge=0)
    device: str = "cpu"

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        return check_device(v)

    @model_validator(mode="after")
    def _enough_samples(self) -> _Simulation:
        samples = self.steps // self.record_every
        need = max(MIN_SAMPLES, SAMPLES_PER_DIMENSION * 2 * self.components)
        if samples < need:
            raise ValueError(
                f"steps // record_every = {samples} recorded samples; components={self.components} needs "
                f"at least {need}: raise steps or lower record_every"
            )
        return self

    def neuron(self) -> RateConfig:
        """The leaky tanh rate neuron simulated."""
        return RateConfig(tau=self.tau, activation="tanh", dt=1.0)

    def connectivity(self) -> ConnectivityConfig:
        """Connectivity of a designed hierarchy: within + bottom-up, fan-in clipped to small layers."""
        return ConnectivityConfig(
            fan_in_within=self.fan_in_within,
            fan_in_up=self.fan_in_up,
            fan_in_policy="clip",
            gain=self.gain,
        )


def _check_components(components: int, sizes: tuple[int, ...]) -> None:
    smallest = min(sizes)
    if components > smallest:
        layer = sizes.index(smallest) + 1
        raise ValueError(
            f"components={components} is larger than the smallest layer (L{layer}, {smallest} neurons) of "
            f"sizes {list(sizes)}"
        )


class RatioConfig(_Simulation):
    """Experiment 1: a designed hierarchy of ``neurons`` in ``n_layers`` layers shrinking by ``ratio``.

    Attributes
    ----------
    ratio : float
        Compression ratio ``r > 1``: ``sizes = sizes_for_total(neurons, n_layers, ratio)``.
    neurons : int
        Total neurons (the sizes' sum is the closest achievable).
    n_layers : int
        Layers, 2..9.

    And the simulation fields of ``_Simulation`` (``steps``, ``burn_in``, ``record_every``, ``noise``,
    ``layer_noise``, ``tau``, ``fan_in_within``, ``fan_in_up``, ``gain``, ``components``,
    ``n_surrogates``, ``seed``, ``device``).

    Raises
    ------
    pydantic.ValidationError
        Naming the field: ``ratio ≤ 1``, ``components`` larger than the smallest layer, too few samples.
    """

    ratio: float = Field(math.e, gt=1.0, allow_inf_nan=False, description="layer-size ratio n_k / n_k+1")
    neurons: int = Field(1500, ge=2, description="total neurons")
    n_layers: int = Field(5, ge=2, le=9, description="layers")

    @model_validator(mode="after")
    def _sizes_fit(self) -> RatioConfig:
        if self.neurons < self.n_layers:
            raise ValueError(f"neurons ({self.neurons}) must be at least n_layers ({self.n_layers})")
        _check_components(self.components, self.sizes())
        return self

    def sizes(self) -> tuple[int, ...]:
        """Layer sizes ``L1..LK``."""
        return sizes_for_total(self.neurons, self.n_layers, self.ratio)


def ratio_network(cfg: RatioConfig) -> Network:
    """The designed hierarchy of ``cfg`` (seeded with stream 0 of ``cfg.seed``)."""
    hier = HierarchyConfig(sizes=cfg.sizes(), n_layers=cfg.n_layers, connectivity=cfg.connectivity())
    return build_network(hier, seed=stream_seed(cfg.seed, 0), device=cfg.device)


def _measure(cfg: _Simulation, net: Network) -> tuple[dict[str, float], dict[str, float]]:
    """Simulate ``net`` and measure it: ``(metrics, seconds)``."""
    t0 = time.perf_counter()
    recs = simulate_noise_driven(
        net,
        cfg.neuron(),
        steps=cfg.steps,
        burn_in=cfg.burn_in,
        record_every=cfg.record_every,
        noise=cfg.noise,
        layer_noise=cfg.layer_noise,
        seed=cfg.seed,
    )
    t1 = time.perf_counter()
    _check_components(cfg.components, net.sizes)
    metrics = hierarchy_metrics(
        recs, net.sizes, components=cfg.components, n_surrogates=cfg.n_surrogates, seed=cfg.seed
    )
    metrics |= {"neurons": float(net.n_neurons), "n_layers": float(net.n_layers)}
    return metrics, {"simulate": t1 - t0, "measure": time.perf_counter() - t1}


def _artifact(net: Network, seconds: dict[str, float], **extra: Any) -> dict[str, bytes]:
    info = {"sizes": list(net.sizes), "synapses": net.n_synapses, "seconds": seconds, **extra}
    return {"trial.json": json.dumps(info, indent=1).encode()}


def ratio_sweep_default() -> dict[str, Any]:
    """Small defaults of experiment 1 (1500 neurons, 5 layers, ratio e, 4000 steps recorded every 10).

    One trial took 1.0–2.4 s on one thread of the project's shared 2-core machine (ratios 2, e, 3 × seeds
    0–2).
    """
    return RatioConfig().model_dump(mode="json")


def ratio_sweep_run(config: RatioConfig, context: TrialContext) -> TrialOutput:
    """One trial of experiment 1: build, simulate and measure one ratio for one seed.

    Parameters
    ----------
    config : RatioConfig
    context : hal9.experiments.sweep.recipes.TrialContext
        ``device`` other than ``"cpu"`` overrides ``config.device``.

    Returns
    -------
    TrialOutput
        ``metrics`` of :func:`~hal9.experiments.hierarchy_claims_metrics.hierarchy_metrics` plus
        ``neurons`` and ``n_layers``; artifact ``trial.json`` (sizes, synapses, seconds).
    """
    t0 = time.perf_counter()
    if context.device != "cpu":
        config = config.model_copy(update={"device": context.device})
    net = ratio_network(config)
    build_s = time.perf_counter() - t0
    metrics, seconds = _measure(config, net)
    return {"metrics": metrics, "artifacts": _artifact(net, {"build": build_s, **seconds})}


# -- experiment 2 -------------------------------------------------------------------------------------


class EmergentConfig(_Simulation):
    """Experiment 2: one ``kind`` of network on the layers that self-organisation finds for ``seed``.

    Attributes
    ----------
    kind : {"emergent", "designed", "null"}
        Which network is simulated (module docstring).
    neurons : int
        Primordial neurons.
    k, kernel, bandwidth, n_layers, criterion
        Of :class:`hal9.selforg.OrganizeConfig` (partners per neuron, compatibility kernel, Gaussian
        bandwidth, a forced number of layers or ``None`` for the data's choice, how ``K`` is chosen).
    rewire_swaps : int
        Degree-preserving double-edge swaps per edge of the ``"null"`` graph.
    emergent_gain : float
        Perron root the positive emergent/null weights are scaled to (module docstring).

    And the simulation fields of ``_Simulation``; the designed kind uses ``fan_in_within``,
    ``fan_in_up`` and ``gain``.
    """

    kind: Literal["emergent", "designed", "null"] = "emergent"
    neurons: int = Field(1500, ge=20, description="primordial neurons")
    k: int = Field(16, ge=1, description="partners kept per neuron in discovery")
    kernel: KernelName = "hal9"
    bandwidth: float = Field(0.1, gt=0, allow_inf_nan=False, description="gaussian kernel bandwidth")
    n_layers: int | None = Field(None, ge=2, le=9, description="force K; None: chosen by the data")
    criterion: Literal["eigengap", "modularity"] = "eigengap"
    rewire_swaps: int = Field(10, ge=1, description="null: double-edge swaps per edge")
    emergent_gain: float = Field(
        0.7, gt=0, allow_inf_nan=False, description="Perron root of emergent weights"
    )

    @model_validator(mode="after")
    def _k_below_neurons(self) -> EmergentConfig:
        if self.k >= self.neurons:
            raise ValueError(f"k ({self.k}) must be smaller than neurons ({self.neurons})")
        return self


def emergent_networks(cfg: EmergentConfig) -> tuple[Network, dict[str, Any]]:
    """The network of ``cfg.kind`` and a description (``sizes``, ``reason`` of the layering, ``scale``,
    ``removed_weight_fraction``).

    Raises
    ------
    ValueError
        Naming ``components`` when it is larger than the smallest emergent layer.
    """
    from hal9.experiments.organize import fit_organizer
    from hal9.selforg import OrganizeConfig, degree_preserving_rewire, to_network

    org = fit_organizer(
        OrganizeConfig(
            neurons=cfg.neurons,
            k=cfg.k,
            kernel=cfg.kernel,
            bandwidth=cfg.bandwidth,
            n_layers=cfg.n_layers,
            criterion=cfg.criterion,
            n_null=0,
            seed=cfg.seed,
            device=cfg.device,
        )
    ).organizer
    labels = org.layering_.labels
    sym = to_network(degree_preserving_rewire(org.graph_, n_swaps_per_edge=0), labels)
    strength = float(sym.network.weight.values().double().sum()) / sym.network.n_neurons
    if not strength > 0:
        raise ValueError("the emergent network has no synaptic weight after the ±1 rule")
    scale = cfg.emergent_gain / strength
    sizes = sym.network.sizes
    _check_components(cfg.components, sizes)
    info: dict[str, Any] = {"reason": org.layering_.reason, "emergent_sizes": list(sizes), "scale": scale}
    if cfg.kind == "designed":
        hier = HierarchyConfig(sizes=sizes, n_layers=len(sizes), connectivity=cfg.connectivity())
        info["removed_weight_fraction"] = 0.0
        return build_network(hier, seed=stream_seed(cfg.seed, 0), device=cfg.device), info
    graph = org.graph_
    if cfg.kind == "null":
        graph = degree_preserving_rewire(
            graph, n_swaps_per_edge=cfg.rewire_swaps, seed=stream_seed(cfg.seed, 3)
        )
    else:
        graph = degree_preserving_rewire(graph, n_swaps_per_edge=0)
    conv = to_network(graph, labels, weight_scale=scale)
    info["removed_weight_fraction"] = conv.removed_weight_fraction
    return conv.network, info


def emergent_sweep_default() -> dict[str, Any]:
    """Small defaults of experiment 2 (1500 primordial neurons, kind ``"emergent"``).

    With the organizer's defaults (HAL9's kernel, eigengap) the data chose ``K = 2`` layers for seeds
    0–2; one trial took 0.7–1.0 s on one thread of the project's shared 2-core machine.
    """
    return EmergentConfig().model_dump(mode="json")


def emergent_sweep_run(config: EmergentConfig, context: TrialContext) -> TrialOutput:
    """One trial of experiment 2: one ``kind`` for one seed, measured like experiment 1.

    Returns
    -------
    TrialOutput
        The metrics of :func:`~hal9.experiments.hierarchy_claims_metrics.hierarchy_metrics`, plus
        ``neurons``, ``n_layers``, ``synapses`` and ``substrate.removed_weight_fraction`` (0 for
        ``"designed"``); artifact ``trial.json`` (sizes, the layering's reason, weight scale, seconds).
    """
    t0 = time.perf_counter()
    if context.device != "cpu":
        config = config.model_copy(update={"device": context.device})
    net, info = emergent_networks(config)
    build_s = time.perf_counter() - t0
    metrics, seconds = _measure(config, net)
    metrics["synapses"] = float(net.n_synapses)
    metrics["substrate.removed_weight_fraction"] = float(info["removed_weight_fraction"])
    return {
        "metrics": metrics,
        "artifacts": _artifact(net, {"build": build_s, **seconds}, kind=config.kind, **info),
    }
