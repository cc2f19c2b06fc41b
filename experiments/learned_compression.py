"""Reproducible experiment: does a hierarchy trained with local rules compress better than a random one?

Usage::

    python experiments/learned_compression.py experiments/configs/learned_compression.json [--json]

The config is a :class:`hal9.experiments.learned_compression.LearnedCompressionConfig` (data, layer sizes by
ratio, rule, training, noise, seeds); every field becomes an MLflow param, the per-boundary means of the
learned, random and norm-matched hierarchies and the paired 95 % intervals of their differences become
metrics. The figure goes to ``outputs/<config name>/``. ``experiments/configs/learned_compression_small.json``
is the CI-sized version (seconds).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hal9.experiments.learned_compression import LearnedCompressionConfig, run_and_log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("config", type=Path, help="JSON LearnedCompressionConfig")
    parser.add_argument("--experiment", default="hal9-learned-compression")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cfg = LearnedCompressionConfig.model_validate_json(args.config.read_text())
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
        print(summary["answer"])
        print(f"({summary['seconds']:.1f} s; figure: {', '.join(summary['figures'])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
