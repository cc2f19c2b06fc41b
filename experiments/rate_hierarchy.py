"""Reproducible experiment: a designed 9-layer rate hierarchy from a JSON config, logged to MLflow.

Usage::

    python experiments/rate_hierarchy.py experiments/configs/rate_hierarchy_100k.json [--json]

The config is a :class:`hal9.experiments.demo.DemoConfig` (hierarchy, neuron model, steps, batch, seed,
device); every field becomes an MLflow param. Figures go to ``outputs/<config name>/``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hal9.experiments.demo import DemoConfig, format_summary, run_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="JSON DemoConfig")
    parser.add_argument("--experiment", default="hal9-rate-hierarchy")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cfg = DemoConfig.model_validate_json(args.config.read_text())
    summary = run_demo(
        cfg,
        outputs=Path("outputs") / args.config.stem,
        experiment=args.experiment,
        tracking_uri=args.tracking_uri,
        progress=not args.json,
    )
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
