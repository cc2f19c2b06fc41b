"""The tables of docs/experiments.md ("HAL9's claims, measured") from finished sweep folders.

Run the sweeps of ``experiments/sweeps/`` first (``hal9 sweep experiments/sweeps/ratio_e.yaml`` …), then::

    python experiments/claims_report.py outputs/sweeps > claims.md
    python experiments/claims_report.py outputs/sweeps --figures docs/figures   # and the figures

Reads each sweep's ``trials/*.json`` (one finished trial per file) and prints, as Markdown:

1. ``ratio-e``: the main metrics per ratio, mean [95 % t CI] over seeds, and
   :func:`hal9.experiments.hierarchy_claims_metrics.peak_test` at e for each of them;
2. ``emergent-vs-designed``: the metrics per kind, and paired differences (same seed) with t CIs;
3. ``selforg-scaling*``: per size, and the fitted exponent of time ∝ N^α
   (:func:`hal9.experiments.scaling_claims.fit_exponent`) over all trials;
4. ``l4-failures``: per scheduler and failure rate (the larger workload), with the largest
   ``tasks_lost`` over every trial (the trials fail on a lost task, so it must be 0);
5. ``hal9-table``: per row, the measured time against HAL9's claimed one.

Sweeps that are missing are skipped with a note.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from scipy import stats

from hal9.experiments.hierarchy_claims_metrics import peak_test
from hal9.experiments.scaling_claims import fit_exponent
from hal9.experiments.sweep.aggregate import aggregate

PHI = (1 + 5**0.5) / 2


def _trials(folder: Path) -> list[dict[str, Any]]:
    return [
        rec
        for rec in (json.loads(p.read_text()) for p in sorted((folder / "trials").glob("*.json")))
        if rec.get("status") == "done"
    ]


def _ci(values: Sequence[float]) -> tuple[float, float, float]:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def _fmt(mean: float, low: float, high: float, digits: int = 3) -> str:
    if math.isnan(low):
        return f"{mean:.{digits}g}"
    return f"{mean:.{digits}g} [{low:.{digits}g}, {high:.{digits}g}]"


def _cell(row: Mapping[str, Any], metric: str) -> str:
    s = row["metrics"].get(metric)
    return "—" if s is None else _fmt(s["mean"], s["ci_low"], s["ci_high"])


def _table(head: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def _ratio_name(r: float) -> str:
    for name, value in (("φ", PHI), ("e", math.e)):
        if math.isclose(r, value, rel_tol=1e-9):
            return f"{name} = {value:.4f}"
    return f"{r:g}"


RATIO_METRICS = (
    "phi_star_excess.mean",
    "phi_wms_excess.mean",
    "cka_excess.mean",
    "mi_null_subtracted.mean",
    "pr_efficiency.mean",
    "lz.mean",
    "width_efficiency.mean",
)


def ratio_report(folder: Path) -> str:
    trials = _trials(folder)
    rows = sorted(aggregate(trials), key=lambda r: r["params"]["ratio"])
    lines = [
        [_ratio_name(r["params"]["ratio"]), str(r["n"]), *(_cell(r, m) for m in RATIO_METRICS)] for r in rows
    ]
    table = _table(["ratio", "seeds", *RATIO_METRICS], lines)
    tests = []
    for m in RATIO_METRICS:
        t = peak_test(rows, m)
        lo, hi = t["lower"], t["higher"]
        tests.append(
            [
                m,
                f"{t['mean_at']:.3g}",
                f"r = {lo['value']:.4g}: {lo['mean']:.3g} (CI high {lo['ci_high']:.3g})" if lo else "—",
                f"r = {hi['value']:.4g}: {hi['mean']:.3g} (CI high {hi['ci_high']:.3g})" if hi else "—",
                "**yes**" if t["peak"] else "no",
            ]
        )
    peaks = _table(
        ["metric", "mean at e", "nearest lower ratio", "nearest higher ratio", "peak at e?"], tests
    )
    intro = "Peak test at e (mean at e above both neighbours' 95 % CI):"
    return f"{len(trials)} trials.\n\n{table}\n\n{intro}\n\n{peaks}"


def ratio_task_report(folder: Path) -> str:
    trials = _trials(folder)
    rows = sorted(aggregate(trials), key=lambda r: r["params"]["ratio"])
    shown = ("test_accuracy", "final_train_loss", "top_layer_size")
    table = _table(
        ["ratio", "seeds", *shown],
        [[_ratio_name(r["params"]["ratio"]), str(r["n"]), *(_cell(r, m) for m in shown)] for r in rows],
    )
    t = peak_test(rows, "test_accuracy")
    lo, hi = t["lower"], t["higher"]
    verdict = (
        f"Peak test at e: accuracy {t['mean_at']:.4g} at e; "
        + (f"r = {lo['value']:.4g}: {lo['mean']:.4g} (CI high {lo['ci_high']:.4g}); " if lo else "")
        + (f"r = {hi['value']:.4g}: {hi['mean']:.4g} (CI high {hi['ci_high']:.4g}); " if hi else "")
        + ("**a peak at e**." if t["peak"] else "no peak at e.")
    )
    return f"{len(trials)} trials.\n\n{table}\n\n{verdict}"


EMERGENT_METRICS = (
    "phi_star_excess.mean",
    "phi_wms_excess.mean",
    "cka_excess.mean",
    "mi_null_subtracted.mean",
    "lz.mean",
    "n_layers",
)


def _paired(trials: list[dict[str, Any]], key: str, a: str, b: str, metric: str) -> str:
    by = {(t["params"][key], t["seed"]): t["metrics"].get(metric) for t in trials}
    seeds = sorted({s for (_, s) in by})
    diffs = [
        by[(a, s)] - by[(b, s)] for s in seeds if by.get((a, s)) is not None and by.get((b, s)) is not None
    ]
    return _fmt(*_ci(diffs)) if diffs else "—"


def emergent_report(folder: Path) -> str:
    trials = _trials(folder)
    order = {"emergent": 0, "designed": 1, "null": 2}
    rows = sorted(aggregate(trials), key=lambda r: order.get(r["params"]["kind"], 9))
    table = _table(
        ["kind", "seeds", *EMERGENT_METRICS],
        [[r["params"]["kind"], str(r["n"]), *(_cell(r, m) for m in EMERGENT_METRICS)] for r in rows],
    )
    pairs = [("emergent", "null"), ("designed", "emergent"), ("designed", "null")]
    diff = _table(
        ["metric", *(f"{a} − {b}" for a, b in pairs)],
        [[m, *(_paired(trials, "kind", a, b, m) for a, b in pairs)] for m in EMERGENT_METRICS[:-1]],
    )
    return f"{len(trials)} trials.\n\n{table}\n\nPaired by seed, mean difference [95 % t CI]:\n\n{diff}"


SCALING_METRICS = (
    "time.discovery",
    "time.layering",
    "peak_rss_mb",
    "discovery_exact",
    "n_layers",
    "null.modularity.margin",
    "null.modularity.z",
    "stability.ari",
)


def scaling_report(folder: Path) -> str:
    trials = _trials(folder)
    rows = sorted(aggregate(trials), key=lambda r: r["params"]["neurons"])
    present = [m for m in SCALING_METRICS if any(m in r["metrics"] for r in rows)]
    others = sorted({k for r in rows for k in r["metrics"]} - set(present))
    table = _table(
        ["neurons", "seeds", *present],
        [[f"{r['params']['neurons']:,}", str(r["n"]), *(_cell(r, m) for m in present)] for r in rows],
    )
    fits = []
    for m in [m for m in present if m.startswith("time.")]:
        # discovery switches method with the size (exact below, approximate above): fit each apart
        groups: dict[str, list[dict[str, Any]]] = {}
        for t in trials:
            exact = t["metrics"].get("discovery_exact")
            key = "" if m != "time.discovery" or exact is None else ("exact" if exact else "approximate")
            groups.setdefault(key, []).append(t)
        for key, members in sorted(groups.items()):
            pts = [(t["params"]["neurons"], t["metrics"][m]) for t in members if t["metrics"].get(m, 0) > 0]
            if len(pts) < 3 or len({p[0] for p in pts}) < 2:  # an interval needs 3 points
                continue
            f = fit_exponent([p[0] for p in pts], [p[1] for p in pts])
            sizes = f"{min(p[0] for p in pts):,}–{max(p[0] for p in pts):,}"
            alpha = _fmt(f["alpha"], f["alpha_ci_low"], f["alpha_ci_high"])
            fits.append([f"{m} {key}".strip(), sizes, alpha, f"{f['r2']:.3f}", str(int(f["n"]))])
    fit = _table(["time", "neurons", "α (time ∝ N^α) [95 % CI]", "R²", "trials"], fits)
    return f"{len(trials)} trials. Other metrics in the folder: {', '.join(others)}.\n\n{table}\n\n{fit}"


def _largest_workload(trials: list[dict[str, Any]]) -> tuple[list[Any], str]:
    """The aggregate rows of the largest swept workload (all rows when ``goals`` is not swept)."""
    swept = [t["params"]["goals"] for t in trials if "goals" in t["params"]]
    rows = aggregate(trials)
    if not swept:
        return rows, "the configured"
    return [r for r in rows if r["params"].get("goals") == max(swept)], str(max(swept))


L4_METRICS = ("completion_rate", "makespan", "deadline_miss_rate", "jain_fairness.unit_utilization")


def l4_report(folder: Path) -> str:
    trials = _trials(folder)
    lost = max(t["metrics"].get("tasks_lost", 0.0) for t in trials)
    rows, goals = _largest_workload(trials)
    rows.sort(key=lambda r: (r["params"]["scheduler"], r["params"]["failure_rate"]))
    table = _table(
        ["scheduler", "failure rate", "seeds", *L4_METRICS],
        [
            [
                r["params"]["scheduler"],
                f"{r['params']['failure_rate']:.0%}",
                str(r["n"]),
                *(_cell(r, m) for m in L4_METRICS),
            ]
            for r in rows
        ],
    )
    intro = f"{len(trials)} trials; largest tasks_lost over all of them: {lost:g}. Workload of {goals} goals:"
    return f"{intro}\n\n{table}"


def table_report(folder: Path) -> str:
    trials = _trials(folder)
    rows = sorted(aggregate(trials), key=lambda r: r["params"]["neurons"])
    lines = []
    for r in rows:
        m = r["metrics"]
        claimed = m.get("claimed_s", {}).get("mean")
        measured = m["measured_s"]
        lines.append(
            [
                f"{r['params']['neurons']:,}",
                str(r["n"]),
                f"{m['pairs_evaluated']['mean']:,.0f}",
                _fmt(measured["mean"], measured["ci_low"], measured["ci_high"]),
                "—" if claimed is None else f"{claimed:.3g}",
                "—" if claimed is None else f"{measured['mean'] / claimed:.3g}×",
                f"{m['connections']['mean']:,.0f}",
                "—" if "claimed_connections" not in m else f"{m['claimed_connections']['mean']:,.0f}",
            ]
        )
    head = ["neurons", "repeats", "pairs evaluated", "measured s", "HAL9 claimed s", "measured / claimed"]
    return _table([*head, "connections", "HAL9 claimed connections"], lines)


#: Sweep name prefix (the ``name`` of experiments/sweeps/*.yaml, its small and 100k variants share it)
#: → section title and report.
REPORTS: dict[str, tuple[str, Callable[[Path], str]]] = {
    "ratio-e": ("1. Is the compression ratio e special?", ratio_report),
    "ratio-task": ("1b. Task accuracy against the compression ratio", ratio_task_report),
    "emergent-vs-designed": ("2. Emergent vs designed vs null", emergent_report),
    "selforg-scaling": ("3. Self-organization scaling", scaling_report),
    "l4-failures": ("4. L4 under failures", l4_report),
    "hal9-table": ("5. HAL9's benchmark table, honestly", table_report),
}


def _errorbars(ax: Any, rows: list[Any], x: Callable[[Any], float], metric: str, **kw: Any) -> None:
    pts = sorted(((x(r), r["metrics"][metric]) for r in rows if metric in r["metrics"]), key=lambda p: p[0])
    ys = [p[1]["mean"] for p in pts]
    err = [
        [0.0 if math.isnan(p[1]["ci_low"]) else p[1]["mean"] - p[1]["ci_low"] for p in pts],
        [0.0 if math.isnan(p[1]["ci_high"]) else p[1]["ci_high"] - p[1]["mean"] for p in pts],
    ]
    ax.errorbar([p[0] for p in pts], ys, yerr=err, fmt="o-", capsize=3, **kw)


def draw_figures(root: Path, out: Path) -> list[Path]:
    """One PNG per experiment whose sweep folder exists: the answer's figure, means with 95 % CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=90)
        plt.close(fig)
        written.append(out / name)

    def folder(prefix: str) -> Path | None:  # the sweep of that experiment (full, 100k or small)
        found = sorted(p for p in root.glob(f"{prefix}*") if (p / "trials").is_dir())
        return found[0] if found else None

    ratio = folder("ratio-e")
    if ratio is not None:
        rows = aggregate(_trials(ratio))
        shown = ("phi_star_excess.mean", "cka_excess.mean", "mi_null_subtracted.mean", "pr_efficiency.mean")
        fig, axes = plt.subplots(1, len(shown), figsize=(13, 3.0))
        for ax, m in zip(axes, shown, strict=True):
            _errorbars(ax, rows, lambda r: r["params"]["ratio"], m)
            ax.axvline(math.e, color="0.6", ls="--", lw=1)
            ax.set_xlabel("compression ratio r (dashed: e)")
            ax.set_title(m, fontsize=9)
        save(fig, "claims_ratio_e.png")
    emergent = folder("emergent-vs-designed")
    if emergent is not None:
        rows = aggregate(_trials(emergent))
        kinds = ["emergent", "designed", "null"]
        by = {r["params"]["kind"]: r for r in rows}
        kind_metrics = ("phi_star_excess.mean", "cka_excess.mean", "mi_null_subtracted.mean")
        fig, axes = plt.subplots(1, len(kind_metrics), figsize=(10, 3.0))
        for ax, m in zip(axes, kind_metrics, strict=True):
            means = [by[k]["metrics"][m]["mean"] for k in kinds]
            half = [by[k]["metrics"][m]["ci_high"] - by[k]["metrics"][m]["mean"] for k in kinds]
            ax.bar(kinds, means, yerr=half, capsize=4, color=["C0", "C1", "0.6"])
            ax.axhline(0, color="k", lw=0.5)
            ax.set_title(m, fontsize=9)
        save(fig, "claims_emergent.png")
    scaling = sorted(p for p in root.glob("selforg-scaling*") if (p / "trials").is_dir())
    if scaling:
        trials = [t for p in scaling for t in _trials(p)]
        rows = aggregate(trials)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        for m in ("time.discovery", "time.layering"):
            _errorbars(axes[0], rows, lambda r: r["params"]["neurons"], m, label=m)
        axes[0].set(xscale="log", yscale="log", xlabel="neurons", ylabel="seconds")
        axes[0].legend(fontsize=7)
        _errorbars(
            axes[1], rows, lambda r: r["params"]["neurons"], "stability.ari", label="ARI after 10 % removal"
        )
        _errorbars(
            axes[1],
            rows,
            lambda r: r["params"]["neurons"],
            "null.modularity.margin",
            label="modularity − null",
        )
        axes[1].set(xscale="log", xlabel="neurons")
        axes[1].legend(fontsize=7)
        save(fig, "claims_scaling.png")
    l4 = folder("l4-failures")
    if l4 is not None:
        trials = _trials(l4)
        rows, goals = _largest_workload(trials)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        for sched in sorted({r["params"]["scheduler"] for r in rows}):
            mine = [r for r in rows if r["params"]["scheduler"] == sched]
            for ax, m in zip(axes, ("completion_rate", "makespan"), strict=True):
                _errorbars(ax, mine, lambda r: 100 * r["params"]["failure_rate"], m, label=sched)
        for ax, m in zip(axes, ("completion_rate", "makespan"), strict=True):
            ax.set(xlabel="attempt failure rate (%)", title=f"{m} ({goals} goals)")
        axes[1].legend(fontsize=7)
        save(fig, "claims_l4_failures.png")
    table = folder("hal9-table")
    if table is not None:
        rows = [r for r in aggregate(_trials(table)) if "claimed_s" in r["metrics"]]
        fig, ax = plt.subplots(figsize=(5, 3.4))
        _errorbars(
            ax, rows, lambda r: r["params"]["neurons"], "measured_s", label="hal9, every pair evaluated"
        )
        xs = sorted(r["params"]["neurons"] for r in rows)
        claimed = {r["params"]["neurons"]: r["metrics"]["claimed_s"]["mean"] for r in rows}
        ax.plot(xs, [claimed[x] for x in xs], "s--", label="HAL9 README, claimed")
        ax.set(xscale="log", yscale="log", xlabel="neurons", ylabel="seconds")
        ax.legend(fontsize=7)
        save(fig, "claims_hal9_table.png")
    return written


def main(argv: Sequence[str]) -> int:
    """Print one section per experiment, for every sweep folder under ``argv[0]`` named after it;
    ``--figures DIR`` also draws the figures of docs/experiments.md there."""
    args = list(argv)
    figures = None
    if "--figures" in args:
        i = args.index("--figures")
        figures = Path(args[i + 1])
        del args[i : i + 2]
    if len(args) != 1:
        print(__doc__)
        return 2
    root = Path(args[0])
    if figures is not None:
        for path in draw_figures(root, figures):
            print(f"<!-- figure: {path} -->")
    for prefix, (title, report) in REPORTS.items():
        folders = sorted(p for p in root.glob(f"{prefix}*") if (p / "trials").is_dir())
        if not folders:
            print(f"### {title}\n\n(no sweep folder {root / prefix}*)\n")
        for folder in folders:
            print(f"### {title} (`{folder.name}`)\n\n{report(folder)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
