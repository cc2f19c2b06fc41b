"""The whole self-organization pipeline as one estimator: population → discovery → layers → null → substrate.

scikit-learn shape: ``__init__`` stores a validated :class:`OrganizeConfig`; :meth:`SelfOrganizer.fit`
learns and sets results with a trailing underscore; :meth:`SelfOrganizer.remove` fails neurons, heals the
graph, re-layers and measures stability. Every step is reported on :attr:`SelfOrganizer.events`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from hal9.core import MIN_NORMAL, check_device
from hal9.selforg.discovery import discover
from hal9.selforg.events import EventKind, EventLog
from hal9.selforg.graph import KnnGraph
from hal9.selforg.growth import extend_graph
from hal9.selforg.kernels import Kernel, KernelName, gaussian_kernel, hal9_kernel
from hal9.selforg.layering import LayeringResult, emergent_layers
from hal9.selforg.nullmodel import NullComparison, null_comparison
from hal9.selforg.population import Population, primordial_population
from hal9.selforg.reorganize import HealResult, adjusted_rand_index, remove_and_heal
from hal9.selforg.substrate import SubstrateConversion, to_network

__all__ = ["AUTO_EXACT_MAX_N", "OrganizeConfig", "SelfOrganizer", "StabilityResult"]

#: Largest population discovered exactly when ``mode="auto"`` (all-pairs cost grows as N²).
AUTO_EXACT_MAX_N = 20_000


class OrganizeConfig(BaseModel):
    """Configuration of :class:`SelfOrganizer` (flattens into MLflow params)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    neurons: int = Field(10_000, ge=2, description="primordial neurons N")
    k: int = Field(16, ge=1, description="partners kept per neuron")
    mode: Literal["auto", "exact", "approx"] = Field(
        "auto", description="discovery mode; auto: exact up to AUTO_EXACT_MAX_N neurons, approximate above"
    )
    kernel: KernelName | Kernel = Field(
        "hal9",
        description="compatibility kernel: 'hal9', 'gaussian' (with bandwidth) or a callable "
        "kernel(a, b) -> (n_a, n_b) scores, as discover() takes",
    )
    bandwidth: float = Field(
        0.1, ge=MIN_NORMAL, allow_inf_nan=False, description="gaussian kernel bandwidth (feature units)"
    )
    n_layers: int | None = Field(None, ge=2, le=9, description="force K; None: chosen by the data")
    criterion: Literal["eigengap", "modularity"] = "eigengap"
    order_by: str = "speed"
    n_null: int = Field(3, ge=0, description="null graphs per family (0: skip the null model)")
    seed: int = Field(0, ge=0, description="seed of the population, discovery, layering and null model")
    device: str = "cpu"

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        return check_device(v)

    @field_serializer("kernel")
    def _kernel_name(self, kernel: KernelName | Kernel) -> str:
        # MLflow params and JSON need a name, not a function object: "module.qualname" of a callable.
        if isinstance(kernel, str):
            return kernel
        return (
            f"{getattr(kernel, '__module__', '?')}.{getattr(kernel, '__qualname__', type(kernel).__name__)}"
        )

    @model_validator(mode="after")
    def _k_below_n(self) -> OrganizeConfig:
        if self.k >= self.neurons:
            raise ValueError(f"k ({self.k}) must be smaller than neurons ({self.neurons})")
        if self.n_null == 1:
            raise ValueError("n_null must be 0 (skip) or >= 2 (a null standard deviation needs two samples)")
        return self

    def discovery_mode(self, n: int) -> Literal["exact", "approx"]:
        if self.mode != "auto":
            return self.mode
        return "exact" if n <= AUTO_EXACT_MAX_N else "approx"

    def kernel_fn(self) -> Kernel:
        """The kernel callable: HAL9's, the Gaussian of ``bandwidth``, or the callable given."""
        if callable(self.kernel):
            return self.kernel
        return hal9_kernel if self.kernel == "hal9" else gaussian_kernel(self.bandwidth)


@dataclass(frozen=True)
class StabilityResult:
    """Outcome of :meth:`SelfOrganizer.remove` and :meth:`SelfOrganizer.add`: the new layering and
    ``ari`` = adjusted Rand index between the layers of the neurons present before *and* after
    (the survivors of a removal; the old neurons of a growth), before and after.

    ``ari_same_k`` separates the two ways a layering can change: it is the ARI after re-layering the new
    graph with the *original* number of layers ``n_layers_before`` (equal to ``ari`` when the data-chosen
    ``K`` did not change). A low ``ari`` with a high ``ari_same_k`` means the layers kept their place and
    only the choice of ``K`` moved. ``heal`` is the healing of a removal (``None`` after :meth:`add`).
    """

    heal: HealResult | None
    layering: LayeringResult
    ari: float
    removed: int
    ari_same_k: float
    n_layers_before: int
    added: int = 0


class SelfOrganizer:
    """Undifferentiated neurons → discovered compatibility graph → emergent, null-checked hierarchy.

    Parameters
    ----------
    config : OrganizeConfig
    events : EventLog, optional
        Where to report progress (a new log by default); subscribe callbacks to it before :meth:`fit`.

    Attributes
    ----------
    population_ : Population
    graph_ : KnnGraph
    layering_ : LayeringResult
    null_ : NullComparison or None
    conversion_ : SubstrateConversion
        The runnable :class:`hal9.core.Network` with synapses restricted to ±1.
    timings_ : dict[str, float]
        Seconds per stage (``population``, ``discovery``, ``layering`` (incl. null), ``substrate``).

    Notes
    -----
    Discovery costs ``O(N²)`` kernel evaluations in exact mode, ``O(N·m)`` in approximate mode; layering
    ``O(N·k)`` per solver iteration; the null model repeats layering ``n_null`` times per family.
    """

    population_: Population
    graph_: KnnGraph
    layering_: LayeringResult
    null_: NullComparison | None
    conversion_: SubstrateConversion
    timings_: dict[str, float]

    def __init__(self, config: OrganizeConfig, *, events: EventLog | None = None) -> None:
        self.config = config
        self.events = events if events is not None else EventLog()
        self._perturbations = 0

    def _layer_kwargs(self) -> dict[str, Any]:
        # The layering seed is the config's seed in every path (with or without the null model).
        c = self.config
        return {"n_layers": c.n_layers, "criterion": c.criterion, "order_by": c.order_by, "seed": c.seed}

    def _check_fitted(self, method: str) -> None:
        if not hasattr(self, "layering_"):
            raise ValueError(f"this SelfOrganizer is not fitted: call fit() before {method}()")

    def _perturbation_seed(self, seed: int | None, offset: int) -> int:
        """``seed``, or the config's seed + ``offset`` + the number of earlier add/remove calls."""
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
            return seed
        return self.config.seed + offset + self._perturbations

    def _relayer(
        self,
        graph: KnnGraph,
        pop: Population,
        before: torch.Tensor,
        kept: torch.Tensor,
    ) -> tuple[LayeringResult, float, float, int]:
        """Re-layer ``graph`` over ``pop``; ARI of the neurons ``kept`` (indices into the new population)
        between their labels ``before`` and after, also at the previous ``K``."""
        kwargs = self._layer_kwargs()
        layering = emergent_layers(graph, pop.features, feature_names=pop.feature_names, **kwargs)
        self._announce(layering)
        after = layering.labels[kept]
        ari = adjusted_rand_index(before, after)
        k_before = self.layering_.n_layers
        ari_same_k = ari
        if layering.n_layers != k_before and k_before >= 2:
            same_k = emergent_layers(
                graph, pop.features, feature_names=pop.feature_names, **{**kwargs, "n_layers": k_before}
            )
            ari_same_k = adjusted_rand_index(before, same_k.labels[kept])
        return layering, ari, ari_same_k, k_before

    def _update(self, pop: Population, graph: KnnGraph, layering: LayeringResult) -> None:
        self.population_, self.graph_, self.layering_ = pop, graph, layering
        self.conversion_ = to_network(graph, layering.labels)
        self._perturbations += 1

    def _announce(self, layering: LayeringResult) -> None:
        for name, size in zip(layering.layer_names, layering.sizes.tolist(), strict=True):
            self.events.emit(EventKind.LAYER_EMERGED, layer=name, size=int(size))

    def fit(self, population: Population | None = None, *, progress: bool = False) -> SelfOrganizer:
        """Run the pipeline on ``population`` (default: ``config.neurons`` primordial neurons).

        ``progress`` shows a progress bar during discovery.
        """
        c = self.config
        timings: dict[str, float] = {}
        t = time.perf_counter()
        pop = population or primordial_population(c.neurons, seed=c.seed, device=c.device)
        timings["population"] = time.perf_counter() - t
        self.events.emit(EventKind.NEURONS_ADDED, count=pop.n)
        t = time.perf_counter()
        mode = c.discovery_mode(pop.n)
        graph = discover(pop, c.k, kernel=c.kernel_fn(), mode=mode, seed=c.seed, progress=progress)
        timings["discovery"] = time.perf_counter() - t
        self.events.emit(EventKind.DISCOVERY_DONE, edges=int((graph.neighbors >= 0).sum()), mode=mode)
        t = time.perf_counter()
        null: NullComparison | None = None
        if c.n_null > 0:
            null = null_comparison(
                graph,
                pop.features,
                n_null=c.n_null,
                feature_names=pop.feature_names,
                **self._layer_kwargs(),
            )
            layering = null.real
        else:
            layering = emergent_layers(
                graph, pop.features, feature_names=pop.feature_names, **self._layer_kwargs()
            )
        timings["layering"] = time.perf_counter() - t
        self._announce(layering)
        t = time.perf_counter()
        conversion = to_network(graph, layering.labels)
        timings["substrate"] = time.perf_counter() - t
        self.events.emit(
            EventKind.HIERARCHY_STABILIZED,
            n_layers=layering.n_layers,
            modularity=layering.modularity,
            pm1_violation=layering.adjacency_violation,
            removed_weight_fraction=conversion.removed_weight_fraction,
        )
        self.population_, self.graph_, self.layering_ = pop, graph, layering
        self.null_, self.conversion_, self.timings_ = null, conversion, timings
        self._perturbations = 0
        return self

    def add(self, count: int, *, seed: int | None = None) -> StabilityResult:
        """Grow: add ``count`` primordial neurons, discover only the pairs involving them
        (:func:`~hal9.selforg.growth.extend_graph`), re-layer and convert.

        Follows the same rule as :meth:`remove`: the fitted attributes (``population_``, ``graph_``,
        ``layering_``, ``conversion_``) then describe the grown population (``null_`` and ``timings_``
        stay the null comparison and timings of :meth:`fit`, and so do those parts of :meth:`summary`),
        and the result gives the ARI of the old neurons' layers before and after. ``seed`` draws the new
        neurons; by default ``config.seed + 7919 + i`` for the ``i``-th
        add/remove since :meth:`fit`, so two calls never draw the same neurons.
        """
        self._check_fitted("add")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        draw_seed = self._perturbation_seed(seed, 7919)
        c, pop = self.config, self.population_
        new = primordial_population(count, seed=draw_seed, device=pop.device, dtype=pop.dtype)
        if new.feature_names != pop.feature_names:  # pragma: no cover - one feature set today
            raise ValueError("new neurons must have the same features as the population")
        self.events.emit(EventKind.NEURONS_ADDED, count=count)
        graph = extend_graph(self.graph_, pop.features, new.features, kernel=c.kernel_fn())
        self.events.emit(
            EventKind.DISCOVERY_DONE, edges=int((graph.neighbors >= 0).sum()), mode="incremental"
        )
        merged = Population(torch.cat([pop.features, new.features]), pop.feature_names)
        kept = torch.arange(pop.n, device=graph.neighbors.device)
        layering, ari, ari_same_k, k_before = self._relayer(graph, merged, self.layering_.labels, kept)
        self._update(merged, graph, layering)
        self.events.emit(
            EventKind.HIERARCHY_STABILIZED, n_layers=layering.n_layers, ari=ari, ari_same_k=ari_same_k
        )
        return StabilityResult(None, layering, ari, 0, ari_same_k, k_before, added=count)

    def remove(self, fraction: float = 0.1, *, seed: int | None = None) -> StabilityResult:
        """Fail a random ``fraction`` of neurons, heal by ±1-respecting bypass edges, re-layer and convert.

        Follows the same rule as :meth:`add`: the fitted attributes then describe the survivors, and the
        result gives the ARI between the survivors' layers before and after (also at the original ``K``,
        see :class:`StabilityResult`). ``seed`` draws the failed neurons; by default
        ``config.seed + 1 + i`` for the ``i``-th add/remove since :meth:`fit`.
        """
        self._check_fitted("remove")
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction < 1:
            raise ValueError(f"fraction must be a number in (0, 1), got {fraction!r}")
        draw_seed = self._perturbation_seed(seed, 1)
        n = self.graph_.n
        gen = torch.Generator().manual_seed(draw_seed)
        count = max(1, round(fraction * n))
        removed = torch.randperm(n, generator=gen)[:count].to(self.graph_.neighbors.device)
        self.events.emit(EventKind.NEURON_REMOVED, count=count)
        heal = remove_and_heal(self.graph_, self.layering_.labels, removed)
        self.events.emit(EventKind.HEALED, lost_edges=heal.lost_edges, bypass_edges=heal.bypass_edges)
        pop = self.population_
        survivors = Population(pop.features[heal.survivors], pop.feature_names)
        kept = torch.arange(survivors.n, device=heal.graph.neighbors.device)
        layering, ari, ari_same_k, k_before = self._relayer(heal.graph, survivors, heal.labels, kept)
        self._update(survivors, heal.graph, layering)
        self.events.emit(
            EventKind.HIERARCHY_STABILIZED, n_layers=layering.n_layers, ari=ari, ari_same_k=ari_same_k
        )
        return StabilityResult(heal, layering, ari, count, ari_same_k, k_before)

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures of the fitted pipeline."""
        self._check_fitted("summary")
        lay = self.layering_
        out: dict[str, Any] = {
            "neurons": self.graph_.n,
            "edges": int((self.graph_.neighbors >= 0).sum()),
            "n_layers": lay.n_layers,
            "layers": [
                {
                    "layer": name,
                    "size": int(size),
                    **{
                        f"mean_{f}": float(v)
                        for f, v in zip(lay.feature_names, lay.feature_means[i].tolist(), strict=False)
                    },
                }
                for i, (name, size) in enumerate(zip(lay.layer_names, lay.sizes.tolist(), strict=True))
            ],
            "modularity": lay.modularity,
            "pm1_violation": lay.adjacency_violation,
            "substrate_removed_weight_fraction": self.conversion_.removed_weight_fraction,
            "reason": lay.reason,
            "timings_s": dict(self.timings_),
        }
        if self.null_ is not None:
            out["null"] = {
                k: {"real": s.real, "null_mean": s.mean, "null_sd": s.sd, "z": s.z}
                for k, s in self.null_.stats.items()
            }
        return out
