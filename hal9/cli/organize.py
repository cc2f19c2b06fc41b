"""``hal9 organize``: self-organization of primordial neurons, or HAL9's reference benchmark."""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

__all__ = ["run_organize", "run_reference"]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_reference(neurons: int, device: str) -> dict[str, Any]:
    """HAL9's reference work (hashed features, pair rule, 5-bin layers) with every pair evaluated."""
    from hal9.selforg.reference import hal9_reference_run

    r = hal9_reference_run(neurons, device=device)
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
        },
        "device": str(r.device),
        "peak_rss_mb": _peak_rss_mb(),
    }


def run_organize(
    config: Any, *, outputs: Path, experiment: str, tracking_uri: str | None, progress: bool
) -> dict[str, Any]:
    """Fit :class:`~hal9.selforg.organizer.SelfOrganizer`, plot, log to MLflow; return the summary."""
    from hal9.cli._logging import log_run
    from hal9.selforg.organizer import SelfOrganizer
    from hal9.viz import plot_emergent_hierarchy, plot_feature_space, plot_null_comparison, save_figure

    t0 = time.perf_counter()
    org = SelfOrganizer(config).fit(progress=progress)
    total = time.perf_counter() - t0
    summary = org.summary()
    summary["timings_s"]["total"] = total
    summary["peak_rss_mb"] = _peak_rss_mb()
    lay, pop = org.layering_, org.population_
    outputs.mkdir(parents=True, exist_ok=True)
    figures = [
        save_figure(
            plot_emergent_hierarchy(lay.labels, pop.features, lay.connectivity), outputs / "emergent.png"
        ),
        save_figure(plot_feature_space(lay.labels, pop.features), outputs / "feature_space.png"),
    ]
    metrics: dict[str, float] = {
        "n_layers": lay.n_layers,
        "modularity": lay.modularity,
        "pm1_compliance": lay.compliance,
        "substrate_removed_weight_fraction": org.conversion_.removed_weight_fraction,
        "peak_rss_mb": summary["peak_rss_mb"],
        **{f"time.{k}": v for k, v in summary["timings_s"].items()},
    }
    if org.null_ is not None:
        stats = org.null_.stats
        real = {k: s.real for k, s in stats.items()}
        null = {k: list(s.null) for k, s in stats.items()}
        figures.append(save_figure(plot_null_comparison(real, null), outputs / "null_comparison.png"))
        for key, s in stats.items():
            metrics[f"null.{key}.margin"] = s.margin
            metrics[f"null.{key}.z"] = s.z
    metrics = {k: float(v) for k, v in metrics.items() if v == v and abs(float(v)) != float("inf")}
    summary["mlflow"] = log_run(
        experiment,
        config=config,
        run_name=f"organize-{config.neurons}",
        tracking_uri=tracking_uri,
        metrics=metrics,
        artifacts=figures,
    )
    summary["events"] = org.events.records()
    summary["figures"] = [str(f) for f in figures]
    return summary
