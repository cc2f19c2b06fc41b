"""Sweep recipes that test HAL9's scaling claims (issue 16, experiments 3 and 5).

* **Experiment 3 — self-organisation scaling, 1k → 1M neurons** (:class:`ScalingConfig`,
  :func:`scaling_sweep_run`): one trial fits :class:`~hal9.selforg.SelfOrganizer` on ``neurons``
  primordial neurons (one seed) and measures the wall time of discovery and of layering, the peak memory,
  the layers found, the modularity and its margin over degree-preserving rewired graphs
  (:func:`~hal9.selforg.null_comparison`), and the stability of the layering: the adjusted Rand index of the
  survivors' layers after 10 % of the neurons are removed, the graph healed and re-layered
  (:meth:`~hal9.selforg.SelfOrganizer.remove`). :func:`fit_exponent` fits ``time ∝ N^α`` over the trials
  of a sweep, with a 95 % confidence interval of ``α``.
* **Experiment 5 — HAL9's benchmark table, honestly** (:class:`Hal9TableConfig`,
  :func:`hal9_table_sweep_run`): one trial runs HAL9's reference work at one row size with every pair really
  evaluated (:func:`hal9.experiments.organize.run_reference`) and reports the measured time, the pairs
  evaluated, the connections counted, and HAL9's claimed time for that row (:data:`HAL9_README_CLAIMS`)
  as a separate metric where HAL9 published one.

Both follow the sweep recipe contract of :mod:`hal9.experiments.sweep.recipes`: a frozen pydantic config
with a ``seed``, ``*_sweep_default()`` (its JSON form) and ``*_sweep_run(config, context)`` → metrics.
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hal9.core import check_device
from hal9.selforg.kernels import KernelName
from hal9.selforg.reference import Kernel

if TYPE_CHECKING:
    from hal9.experiments.sweep.recipes import TrialContext, TrialOutput

__all__ = [
    "HAL9_README_CLAIMS",
    "HAL9_README_SOURCE",
    "Hal9Claim",
    "Hal9TableConfig",
    "ScalingConfig",
    "fit_exponent",
    "hal9_table_sweep_default",
    "hal9_table_sweep_run",
    "scaling_sweep_default",
    "scaling_sweep_run",
]


# -- memory -------------------------------------------------------------------------------------------


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux ≥ 4.0: ``5`` → ``/proc/self/clear_refs``).

    Returns whether it worked; when it did not, :func:`_peak_rss_mb` reports the process-lifetime peak.
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _peak_rss_mb() -> float:
    """Peak resident set size in MiB: ``VmHWM`` of ``/proc/self/status`` (since the last reset), else
    ``ru_maxrss`` (process lifetime; KiB on Linux)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Memory:
    """Peak host RSS (and CUDA allocator peak on ``cuda``) over a ``with`` block, in MiB."""

    def __init__(self, device: str) -> None:
        self.cuda = torch.device(device).type == "cuda"
        self.device = device

    def __enter__(self) -> _Memory:
        self.per_trial = _reset_peak_rss()
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc: object) -> None:
        self.rss_mb = _peak_rss_mb()
        if self.cuda:
            torch.cuda.synchronize(self.device)
            self.cuda_mb = torch.cuda.max_memory_allocated(self.device) / 2**20

    def metrics(self) -> dict[str, float]:
        out = {"peak_rss_mb": self.rss_mb, "peak_rss_per_trial": float(self.per_trial)}
        if self.cuda:
            out["cuda_peak_mb"] = self.cuda_mb
        return out


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    """The finite entries as floats (a null ``z`` is ``±inf`` when the null's sd is 0)."""
    return {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}


# -- experiment 3: self-organisation scaling ------------------------------------------------------------


class ScalingConfig(BaseModel):
    """One trial of the scaling experiment: :class:`~hal9.selforg.OrganizeConfig`'s options that matter.

    Attributes
    ----------
    neurons : int
        Primordial neurons ``N`` (1k → 1M; ``mode="auto"`` discovers exactly up to 20 000, approximately
        above).
    k, mode, kernel, bandwidth, n_layers, criterion :
        As in :class:`~hal9.selforg.OrganizeConfig`.
    n_null : int
        Rewired null graphs (0: no null comparison, else ≥ 2).
    removal_fraction : float
        Fraction of neurons removed for the stability measurement (default 10 %).
    seed : int
        Seeds the population, discovery, layering, null graphs and the removal.
    device : str
        ``"cpu"`` or ``"cuda"`` (a GPU given to the trial by the sweep overrides ``"cpu"``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    neurons: int = Field(2000, ge=100, le=10_000_000, description="primordial neurons N")
    k: int = Field(16, ge=1, le=256, description="partners kept per neuron")
    mode: Literal["auto", "exact", "approx"] = "auto"
    kernel: KernelName = "hal9"
    bandwidth: float = Field(0.1, gt=0, allow_inf_nan=False)
    n_layers: int | None = Field(None, ge=2, le=9)
    criterion: Literal["eigengap", "modularity"] = "eigengap"
    n_null: int = Field(3, ge=0, le=100, description="rewired null graphs (0 or >= 2)")
    removal_fraction: float = Field(0.1, gt=0, lt=1, description="neurons removed for the stability ARI")
    seed: int = Field(0, ge=0)
    device: str = "cpu"

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        return check_device(v)

    @field_validator("n_null")
    @classmethod
    def _n_null(cls, v: int) -> int:
        if v == 1:
            raise ValueError("n_null must be 0 (no null) or >= 2 (a null standard deviation needs two)")
        return v

    @model_validator(mode="after")
    def _k_below_n(self) -> ScalingConfig:
        if self.k >= self.neurons:
            raise ValueError(f"k ({self.k}) must be smaller than neurons ({self.neurons})")
        return self


def scaling_sweep_default() -> dict[str, Any]:
    """The default scaling trial (2 000 neurons, 3 null graphs; about 1 s on one core), as JSON."""
    return ScalingConfig().model_dump(mode="json")


def scaling_sweep_run(config: ScalingConfig, context: TrialContext) -> TrialOutput:
    """One scaling trial (one size, one seed): fit, null comparison, remove 10 % and re-layer.

    Metrics
    -------
    ``time.discovery``, ``time.layering`` (the real graph only), ``time.population``, ``time.substrate``,
    ``time.fit`` (the whole fit), ``time.null`` (the null comparison), ``time.remove`` (heal + re-layer):
    wall-clock seconds. ``peak_rss_mb`` (peak resident memory during the trial, MiB, including what the
    process already held, e.g. torch itself; ``peak_rss_per_trial`` = 1 when the peak mark could be reset
    at the start, 0 when it is the process-lifetime peak) and, on CUDA,
    ``cuda_peak_mb`` (allocator peak). ``n_layers``, ``modularity`` (Newman's ``Q`` of the layers),
    ``eigengap``, ``pm1_compliance``, ``edges``, ``discovery_exact`` (1 exact, 0 approximate).
    With ``n_null ≥ 2``: ``null.modularity.mean`` / ``.sd`` / ``.margin`` (= real − null mean) / ``.z`` over
    the degree-preserving rewired graphs (Maslov & Sneppen 2002). Stability: ``stability.ari`` (adjusted
    Rand index, Hubert & Arabie 1985, of the survivors' layers before vs after re-layering),
    ``stability.ari_same_k`` (re-layered at the original ``K``), ``stability.n_layers``,
    ``stability.removed``, ``stability.lost_edges``, ``stability.bypass_edges``.
    """
    from hal9.experiments.organize import OrganizeConfig, fit_organizer
    from hal9.selforg import null_comparison

    if context.device != "cpu":
        config = config.model_copy(update={"device": context.device})
    c = config
    org_cfg = OrganizeConfig(
        neurons=c.neurons,
        k=c.k,
        mode=c.mode,
        kernel=c.kernel,
        bandwidth=c.bandwidth,
        n_layers=c.n_layers,
        criterion=c.criterion,
        n_null=0,  # the null comparison is timed apart, so time.layering is the real graph's only
        seed=c.seed,
        device=c.device,
    )
    with _Memory(c.device) as mem:
        fitted = fit_organizer(org_cfg)
        org = fitted.organizer
        lay, graph, pop = org.layering_, org.graph_, org.population_
        metrics: dict[str, float] = {
            **{f"time.{k}": v for k, v in org.timings_.items()},
            "time.fit": fitted.seconds,
            "n_layers": lay.n_layers,
            "modularity": lay.modularity,
            "eigengap": lay.eigengap,
            "pm1_compliance": lay.compliance,
            "edges": int((graph.neighbors >= 0).sum()),
            "discovery_exact": float(org_cfg.discovery_mode(c.neurons) == "exact"),
        }
        if c.n_null:
            t0 = time.perf_counter()
            null = null_comparison(
                graph,
                pop.features,
                n_null=c.n_null,
                seed=c.seed,
                feature_names=pop.feature_names,
                n_layers=c.n_layers,
                criterion=c.criterion,
                order_by=org_cfg.order_by,
            )
            _sync(c.device)
            metrics["time.null"] = time.perf_counter() - t0
            s = null.stats["rewired/modularity"]
            metrics |= {
                "null.modularity.mean": s.mean,
                "null.modularity.sd": s.sd,
                "null.modularity.margin": s.margin,
                "null.modularity.z": s.z,
            }
        t0 = time.perf_counter()
        stab = org.remove(c.removal_fraction, seed=c.seed + 1)
        _sync(c.device)
        metrics["time.remove"] = time.perf_counter() - t0
        heal = stab.heal
        metrics |= {
            "stability.ari": stab.ari,
            "stability.ari_same_k": stab.ari_same_k,
            "stability.n_layers": stab.layering.n_layers,
            "stability.removed": stab.removed,
            "stability.lost_edges": heal.lost_edges if heal is not None else 0,
            "stability.bypass_edges": heal.bypass_edges if heal is not None else 0,
        }
    return {"metrics": _finite(metrics | mem.metrics()), "artifacts": {}}


def fit_exponent(sizes: Sequence[float], times: Sequence[float], *, level: float = 0.95) -> dict[str, float]:
    """Fit ``time = A · N^α`` by ordinary least squares in log–log space.

    ``log t_i = log A + α log N_i + ε_i``; ``α`` is the slope of :func:`scipy.stats.linregress` on
    ``(ln N, ln t)`` and its ``level`` confidence interval is ``α ± t_{(1+level)/2, n−2} · se(α)`` (Student
    ``t`` with ``n − 2`` degrees of freedom, ``se = sqrt(SSR / (n − 2) / Σ(ln N_i − mean)²)`` the slope's
    standard error).

    Parameters
    ----------
    sizes, times : sequence of float
        ``(n,)`` each, positive and finite; at least 3 points and 2 distinct sizes (repeated sizes, e.g.
        several seeds per size, are fine).
    level : float
        Confidence level in ``(0, 1)``.

    Returns
    -------
    dict
        ``alpha``, ``alpha_se``, ``alpha_ci_low``, ``alpha_ci_high``, ``prefactor`` (``A``, seconds at
        ``N = 1``), ``r2``, ``n``.

    Examples
    --------
    >>> fit = fit_exponent([1e3, 1e4, 1e5], [2e-3, 2e-1, 2e1])  # exactly t = 2e-9 · N²
    >>> round(fit["alpha"], 9), fit["alpha_ci_high"] - fit["alpha_ci_low"] < 1e-9
    (2.0, True)
    """
    import numpy as np
    from scipy import stats

    x = np.asarray(sizes, dtype=np.float64)
    y = np.asarray(times, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"sizes and times must be 1-D of equal length, got {x.shape} and {y.shape}")
    if x.size < 3:
        raise ValueError(f"sizes needs at least 3 points for a confidence interval, got {x.size}")
    for name, v in (("sizes", x), ("times", y)):
        if not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(f"{name} must be positive and finite")
    if np.unique(x).size < 2:
        raise ValueError("sizes needs at least 2 distinct values to fit an exponent")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    lx, ly = np.log(x), np.log(y)
    fit = stats.linregress(lx, ly)
    alpha, intercept = float(fit.slope), float(fit.intercept)
    # The slope's standard error sqrt(SSR / (n − 2) / Sxx) — linregress's estimator, computed from the
    # residuals, which keeps it at rounding level (not ~1e-8) for an exact power law.
    ssr = float(np.sum((ly - (intercept + alpha * lx)) ** 2))
    sxx = float(np.sum((lx - lx.mean()) ** 2))
    sst = float(np.sum((ly - ly.mean()) ** 2))
    se = math.sqrt(ssr / (x.size - 2) / sxx)
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 2)) * se
    return {
        "alpha": alpha,
        "alpha_se": se,
        "alpha_ci_low": alpha - half,
        "alpha_ci_high": alpha + half,
        "prefactor": math.exp(intercept),
        "r2": 1.0 - ssr / sst if sst > 0 else 1.0,
        "n": float(x.size),
    }


# -- experiment 5: HAL9's benchmark table ------------------------------------------------------------


@dataclass(frozen=True)
class Hal9Claim:
    """One row of HAL9's published table: ``total_s`` (the "Total" column, seconds), ``discovery_s`` (the
    "Discovery" column, ``None`` where HAL9 printed "-") and ``connections`` (``None`` where it printed
    "-")."""

    total_s: float
    discovery_s: float | None
    connections: int | None


#: Where :data:`HAL9_README_CLAIMS` is quoted from.
HAL9_README_SOURCE = (
    "2lab-ai/2hal9 README.md, commit 08ab7fcd506f9c1b89f6abda1ac350e4b04f4260, table 'Self-Organization "
    "Speed (Latest Benchmark Run: 2025-06-12)'; rows 1000-10000 also recorded in docs/hal9_reference.md, "
    "connection counts 25-2000 in tests/selforg/test_reference.py"
)

#: HAL9's "Self-Organization Speed" table, row by row (neurons → claim), quoted from
#: :data:`HAL9_README_SOURCE`; nothing here is measured by hal9. The same README's "Scalability Analysis"
#: table gives other times for the same sizes (e.g. 6.47 µs at 1 000 neurons); it is not used here.
HAL9_README_CLAIMS: dict[int, Hal9Claim] = {
    25: Hal9Claim(2.01e-6, 254e-9, 294),
    50: Hal9Claim(2.27e-6, 950e-9, 1_200),
    100: Hal9Claim(5.62e-6, 3.52e-6, 4_847),
    200: Hal9Claim(14.19e-6, 11.72e-6, 19_533),
    500: Hal9Claim(73.97e-6, 69.60e-6, 122_199),
    1_000: Hal9Claim(283.14e-6, 276.23e-6, 489_060),
    2_000: Hal9Claim(1.10e-3, 1.09e-3, 1_957_240),
    5_000: Hal9Claim(50.87e-3, None, 4_299_142),
    10_000: Hal9Claim(85.83e-6, None, None),
}


class Hal9TableConfig(BaseModel):
    """One row of HAL9's benchmark table, re-run: :class:`~hal9.experiments.organize.ReferenceConfig`.

    Attributes
    ----------
    neurons : int
        Row size ``N`` (HAL9's rows: the keys of :data:`HAL9_README_CLAIMS`; any other size runs without a
        claim). All ``N(N−1)/2`` pairs are evaluated: ``O(N²)`` time.
    kernel : {"auto", "eager", "compiled"}
        The all-pairs kernel (:func:`hal9.selforg.count_connected_pairs`).
    seed : int
        Replicate index only: the work is deterministic (hashed features), so seeds repeat the timing.
    device : str
        ``"cpu"`` or ``"cuda"`` (a GPU given to the trial by the sweep overrides ``"cpu"``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    neurons: int = Field(10_000, ge=2, le=1_000_000, description="row size N (all pairs evaluated)")
    kernel: Kernel = "auto"
    seed: int = Field(0, ge=0)
    device: str = "cpu"

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        return check_device(v)


def hal9_table_sweep_default() -> dict[str, Any]:
    """The default row: 10 000 neurons (HAL9 claims 85.83 µs; about 0.2–0.4 s on one core), as JSON."""
    return Hal9TableConfig().model_dump(mode="json")


def hal9_table_sweep_run(config: Hal9TableConfig, context: TrialContext) -> TrialOutput:
    """HAL9's reference work at one row size, every pair evaluated; HAL9's claim beside it.

    Metrics
    -------
    ``measured_s`` (features + all pairs + layering, wall-clock seconds, compilation excluded),
    ``time.features`` / ``time.connections`` / ``time.layering`` / ``time.compile``, ``pairs_evaluated``
    (``N(N−1)/2``: the all-pairs loop evaluates HAL9's rule on each), ``pairs_per_s``
    (= pairs / ``time.connections``), ``connections`` (connected pairs counted), ``layers``,
    ``sweep_s`` (the exact ``O(N log N)`` count of the same pairs; it must agree, else the trial fails),
    ``kernel_compiled`` (1/0), ``peak_rss_mb`` / ``peak_rss_per_trial`` (and ``cuda_peak_mb``). Only for a
    size HAL9 published: ``claimed_s`` (its "Total"), ``measured_over_claimed``, and where printed
    ``claimed_discovery_s`` and ``claimed_connections`` with ``connections_match_claim`` (1/0).
    """
    from hal9.experiments.organize import ReferenceConfig, run_reference

    if context.device != "cpu":
        config = config.model_copy(update={"device": context.device})
    n = config.neurons
    with _Memory(config.device) as mem:
        r = run_reference(ReferenceConfig(neurons=n, device=config.device, kernel=config.kernel))
    if not r["sweep"]["agrees"]:
        raise RuntimeError(
            f"the all-pairs count ({r['connections']}) and the exact sweep ({r['sweep']['connections']}) "
            f"differ at {n} neurons: both are exact, so this is a defect"
        )
    t = r["timings_s"]
    pairs = n * (n - 1) // 2
    metrics: dict[str, float] = {
        "measured_s": t["total"],
        **{f"time.{k}": t[k] for k in ("features", "connections", "layering", "compile")},
        "pairs_evaluated": pairs,
        "pairs_per_s": pairs / t["connections"] if t["connections"] > 0 else math.inf,
        "connections": r["connections"],
        "layers": len(r["layer_sizes"]),
        "sweep_s": r["sweep"]["seconds"],
        "kernel_compiled": float(r["kernel"] == "compiled"),
    }
    claim = HAL9_README_CLAIMS.get(n)
    if claim is not None:
        metrics["claimed_s"] = claim.total_s
        metrics["measured_over_claimed"] = t["total"] / claim.total_s
        if claim.discovery_s is not None:
            metrics["claimed_discovery_s"] = claim.discovery_s
        if claim.connections is not None:
            metrics["claimed_connections"] = claim.connections
            metrics["connections_match_claim"] = float(claim.connections == r["connections"])
    return {"metrics": _finite(metrics | mem.metrics()), "artifacts": {}}
