"""Reproducible experiment: L4 tactical coordination, every scheduler on one seeded workload, in MLflow.

Usage::

    python experiments/tactical_schedulers.py experiments/configs/tactical_selforg.json [--json]

The config is a :class:`hal9.experiments.tactical.TacticalRunConfig` (tasks, units, unit source — random or
grouped from an emergent L3 layer —, load, failure and crash rates, schedulers, seed); every field becomes an
MLflow param, every scheduler's metrics are logged as ``<scheduler>.<metric>``. Figures go to
``outputs/<config name>/``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hal9.experiments.tactical import TacticalRunConfig, run_and_log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("config", type=Path, help="JSON TacticalRunConfig")
    parser.add_argument("--experiment", default="hal9-tactical-schedulers")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cfg = TacticalRunConfig.model_validate_json(args.config.read_text())
    summary = run_and_log(
        cfg,
        outputs=Path("outputs") / args.config.stem,
        experiment=args.experiment,
        tracking_uri=args.tracking_uri,
        progress=not args.json,
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for name, s in summary["schedulers"].items():
            m = s["metrics"]
            print(
                f"{name:<12} makespan {m['makespan']:.4g}  latency {m['latency_mean']:.4g}  "
                f"miss {m['deadline_miss_rate']:.3f}  Jain {m['jain_fairness']:.3f}  counts {s['counts']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
