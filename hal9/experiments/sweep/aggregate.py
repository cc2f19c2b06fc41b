"""The sweep's aggregate: trials grouped by parameter point (seeds pooled), each metric's mean, standard
deviation and Student-t 95 % confidence interval; written as JSON/CSV and drawn for the parent run."""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

__all__ = ["AggregateRow", "aggregate", "draw_aggregate", "write_aggregate"]


class AggregateRow(TypedDict):
    """One parameter point: its values, the number of finished trials (seeds) and per metric
    ``{"mean", "sd", "ci_low", "ci_high"}`` (``sd`` and the interval are NaN with one trial)."""

    params: dict[str, Any]
    n: int
    metrics: dict[str, dict[str, float]]


def _interval(values: Sequence[float], level: float = 0.95) -> dict[str, float]:
    from scipy import stats

    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean, "sd": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    sd = statistics.stdev(values)
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1)) * sd / math.sqrt(len(values))
    return {"mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half}


def aggregate(records: Sequence[Mapping[str, Any]]) -> list[AggregateRow]:
    """Group finished trial records (``params``, ``metrics``) by ``params``; rows in first-seen order."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for rec in records:
        groups.setdefault(json.dumps(rec["params"], sort_keys=True), []).append(rec)
    rows: list[AggregateRow] = []
    for recs in groups.values():
        names = sorted({k for r in recs for k in r["metrics"]})
        metrics = {
            name: _interval([r["metrics"][name] for r in recs if name in r["metrics"]]) for name in names
        }
        rows.append({"params": recs[0]["params"], "n": len(recs), "metrics": metrics})
    return rows


def write_aggregate(rows: Sequence[AggregateRow], folder: Path) -> list[Path]:
    """``aggregate.json`` and ``aggregate.csv`` (one line per point and metric) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    as_json = folder / "aggregate.json"
    as_json.write_text(json.dumps(list(rows), indent=1, default=float))
    as_csv = folder / "aggregate.csv"
    with as_csv.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["params", "n", "metric", "mean", "sd", "ci_low", "ci_high"])
        for row in rows:
            for name, s in row["metrics"].items():
                writer.writerow(
                    [json.dumps(row["params"], sort_keys=True), row["n"], name, *(s[k] for k in s)]
                )
    return [as_json, as_csv]


def draw_aggregate(rows: Sequence[AggregateRow], metrics: Sequence[str], path: Path) -> Path | None:
    """Each of ``metrics`` (at most 6) against the first numeric parameter, one line per combination of
    the other parameters (at most 8), with 95 % CIs as error bars; ``None`` when no parameter is numeric
    or no metric is present."""
    axis = next(
        (
            k
            for k in (rows[0]["params"] if rows else {})
            if all(
                isinstance(r["params"].get(k), (int, float)) and not isinstance(r["params"].get(k), bool)
                for r in rows
            )
        ),
        None,
    )
    shown = [m for m in metrics if any(m in r["metrics"] for r in rows)][:6]
    if axis is None or not shown:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.0), squeeze=False)
    series: dict[str, list[AggregateRow]] = {}
    for r in rows:  # one line per combination of the other parameters (at most 8 drawn)
        rest = {k: v for k, v in r["params"].items() if k != axis}
        series.setdefault(json.dumps(rest, sort_keys=True), []).append(r)
    for ax, name in zip(axes[0], shown, strict=True):
        for label, members in list(series.items())[:8]:
            pts = sorted(
                ((r["params"][axis], r["metrics"][name]) for r in members if name in r["metrics"]),
                key=lambda p: p[0],
            )
            xs = [p[0] for p in pts]
            means = [p[1]["mean"] for p in pts]
            err = [
                [0.0 if math.isnan(p[1]["ci_low"]) else p[1]["mean"] - p[1]["ci_low"] for p in pts],
                [0.0 if math.isnan(p[1]["ci_high"]) else p[1]["ci_high"] - p[1]["mean"] for p in pts],
            ]
            ax.errorbar(xs, means, yerr=err, fmt="o-", capsize=3, label=label if label != "{}" else None)
        ax.set_xlabel(axis)
        ax.set_title(name, fontsize=9)
    if len(series) > 1:
        axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
