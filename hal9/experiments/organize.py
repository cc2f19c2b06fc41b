"""The self-organization recipes: primordial neurons → an emergent, null-checked hierarchy; HAL9's reference.

``hal9 organize`` runs :func:`run_organize` (or :func:`run_reference` with ``--hal9-reference``); the
service's ``organize`` job runs :func:`fit_organizer`.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NotRequired, TypedDict, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hal9.core import check_device
from hal9.experiments._tracking import MlflowRef, log_run
from hal9.experiments.options import kernel_names
from hal9.selforg.organizer import OrganizeConfig, SelfOrganizer
from hal9.selforg.reference import Kernel

__all__ = [
    "KERNELS",
    "OrganizeConfig",
    "OrganizeRun",
    "OrganizeSummary",
    "ReferenceConfig",
    "ReferenceSummary",
    "SweepSummary",
    "fit_organizer",
    "run_organize",
    "run_reference",
]

#: The named compatibility kernels of :class:`~hal9.selforg.organizer.OrganizeConfig` (``kernel``).
KERNELS: tuple[str, ...] = kernel_names()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


class ReferenceConfig(BaseModel):
    """HAL9's reference work at one size (see :func:`hal9.selforg.reference.hal9_reference_run`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    neurons: int = Field(1000, ge=1, description="neurons n (all n(n−1)/2 pairs are evaluated)")
    device: str = "cpu"
    #: The all-pairs kernel (:func:`hal9.selforg.reference.count_connected_pairs`): ``"auto"`` compiles
    #: from 100 000 neurons on (CPU), ``"eager"`` never, ``"compiled"`` always (eager if compiling fails).
    kernel: Kernel = "auto"

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        return check_device(v)


class SweepSummary(TypedDict):
    """The exact ``O(N log N)`` count (``method="sweep"``) beside the all-pairs one."""

    connections: int
    seconds: float
    #: Whether it equals the all-pairs count (both are exact: ``False`` is a defect).
    agrees: bool


class ReferenceSummary(TypedDict):
    """What :func:`run_reference` measured (times in seconds, memory in MiB)."""

    mode: str
    neurons: int
    #: Connected pairs from the all-pairs loop (every pair evaluated: HAL9's work, really done).
    connections: int
    layer_sizes: list[int]
    #: ``features``, ``connections``, ``layering``, ``total`` (the three phases) and ``compile`` (the
    #: compiled kernel's one-off compilation, outside ``total``) wall-clock seconds.
    timings_s: dict[str, float]
    #: The all-pairs kernel that ran: ``"eager"`` or ``"compiled"``.
    kernel: str
    sweep: SweepSummary
    device: str
    peak_rss_mb: float


def run_reference(cfg: ReferenceConfig) -> ReferenceSummary:
    """HAL9's reference work (hashed features, pair rule, 5-bin layers) with every pair evaluated, and
    the same pairs counted exactly in ``O(N log N)`` (``sweep``), both timed.

    Examples
    --------
    >>> out = run_reference(ReferenceConfig(neurons=1000))
    >>> out["connections"], out["sweep"]["connections"]  # the count HAL9's README prints, twice
    (489060, 489060)
    """
    from hal9.selforg.reference import hal9_reference_run

    r = hal9_reference_run(cfg.neurons, device=cfg.device, kernel=cfg.kernel, sweep=True)
    sweep_count, sweep_s = cast(int, r.sweep_connections), cast(float, r.sweep_s)  # set by sweep=True
    return {
        "mode": "hal9-reference",
        "neurons": r.n,
        "connections": r.connections,
        "layer_sizes": [int(s) for s in r.layer_sizes],
        "timings_s": {
            "features": r.features_s,
            "connections": r.connections_s,
            "layering": r.layering_s,
            "total": r.total_s,
            "compile": r.compile_s,
        },
        "kernel": r.kernel,
        "sweep": {
            "connections": sweep_count,
            "seconds": sweep_s,
            "agrees": sweep_count == r.connections,
        },
        "device": str(r.device),
        "peak_rss_mb": _peak_rss_mb(),
    }


@dataclass(frozen=True)
class OrganizeRun:
    """A fitted organizer and the wall-clock seconds of its :meth:`~SelfOrganizer.fit`."""

    organizer: SelfOrganizer
    seconds: float


class OrganizeSummary(TypedDict):
    """What :func:`run_organize` returns: :meth:`SelfOrganizer.summary` plus this run's measurements."""

    neurons: int
    edges: int
    n_layers: int
    #: Per emergent layer: ``layer`` (name), ``size`` and ``mean_<feature>`` of its neurons.
    layers: list[dict[str, Any]]
    modularity: float
    pm1_violation: float
    substrate_removed_weight_fraction: float
    reason: str
    #: Seconds per stage, and ``total``: wall-clock seconds of the whole fit.
    timings_s: dict[str, float]
    #: Per statistic: ``real``, ``null_mean``, ``null_sd``, ``z`` (absent without null graphs).
    null: NotRequired[dict[str, dict[str, float]]]
    peak_rss_mb: float
    mlflow: MlflowRef | None
    #: The organizer's event log (:meth:`hal9.selforg.events.EventLog.records`).
    events: list[dict[str, Any]]
    figures: list[str]


def fit_organizer(cfg: OrganizeConfig, *, progress: bool = False) -> OrganizeRun:
    """Fit :class:`~hal9.selforg.organizer.SelfOrganizer` on ``cfg.neurons`` primordial neurons.

    Parameters
    ----------
    cfg : OrganizeConfig
        Validated config (``k < neurons``, ``n_null`` 0 or ≥ 2, …).
    progress : bool
        Progress bar during discovery (stderr).
    """
    t0 = time.perf_counter()
    org = SelfOrganizer(cfg).fit(progress=progress)
    return OrganizeRun(organizer=org, seconds=time.perf_counter() - t0)


def run_organize(
    cfg: OrganizeConfig,
    *,
    outputs: Path | None = Path("outputs"),
    experiment: str | None = "hal9-organize",
    tracking_uri: str | None = None,
    progress: bool = False,
) -> OrganizeSummary:
    """Fit, plot, log to MLflow; return :meth:`SelfOrganizer.summary` plus what this run measured.

    Parameters
    ----------
    cfg : OrganizeConfig
    outputs : Path or None
        Folder of ``emergent.png``, ``feature_space.png`` (and ``null_comparison.png`` with nulls);
        ``None``: no figures.
    experiment : str or None
        MLflow experiment; ``None``: no MLflow run (``"mlflow"`` is ``None``).
    tracking_uri : str or None
        MLflow backend; ``None``: the environment or ``./mlflow.db``.
    progress : bool
        Progress bar during discovery.

    Returns
    -------
    OrganizeSummary
        The organizer's summary (neurons, edges, layers, modularity, ``pm1_violation``, null statistics,
        ``timings_s`` with ``total`` = wall-clock seconds of the fit) plus ``peak_rss_mb`` (MiB),
        ``mlflow``, ``events`` and ``figures``.
    """
    fitted = fit_organizer(cfg, progress=progress)
    org = fitted.organizer
    summary = cast(OrganizeSummary, org.summary())
    summary["timings_s"]["total"] = fitted.seconds
    summary["peak_rss_mb"] = _peak_rss_mb()
    lay, pop = org.layering_, org.population_
    figures: list[Path] = []
    if outputs is not None:
        from hal9.viz import plot_emergent_hierarchy, plot_feature_space, plot_null_comparison, save_figure

        outputs.mkdir(parents=True, exist_ok=True)
        figures = [
            save_figure(
                plot_emergent_hierarchy(lay.labels, pop.features, lay.connectivity), outputs / "emergent.png"
            ),
            save_figure(plot_feature_space(lay.labels, pop.features), outputs / "feature_space.png"),
        ]
        if org.null_ is not None:
            stats = org.null_.stats
            real = {k: s.real for k, s in stats.items()}
            null = {k: list(s.null) for k, s in stats.items()}
            figures.append(save_figure(plot_null_comparison(real, null), outputs / "null_comparison.png"))
    metrics: dict[str, float] = {
        "n_layers": lay.n_layers,
        "modularity": lay.modularity,
        "pm1_compliance": lay.compliance,
        "substrate_removed_weight_fraction": org.conversion_.removed_weight_fraction,
        "peak_rss_mb": summary["peak_rss_mb"],
        **{f"time.{k}": v for k, v in summary["timings_s"].items()},
    }
    if org.null_ is not None:
        for key, s in org.null_.stats.items():
            metrics[f"null.{key}.margin"] = s.margin
            metrics[f"null.{key}.z"] = s.z
    metrics = {k: float(v) for k, v in metrics.items() if v == v and abs(float(v)) != float("inf")}
    ml: MlflowRef | None = None
    if experiment is not None:
        ml = log_run(
            experiment,
            config=cfg,
            run_name=f"organize-{cfg.neurons}",
            tracking_uri=tracking_uri,
            metrics=metrics,
            artifacts=figures,
        )
    summary["mlflow"] = ml
    summary["events"] = org.events.records()
    summary["figures"] = [str(f) for f in figures]
    return summary
