"""Reproducible experiment: a spiking ±1 hierarchy trained with surrogate gradients on digits, in MLflow.

Usage::

    python experiments/learning_digits.py experiments/configs/learning_digits.json [--json]

The config is a :class:`hal9.experiments.learning.DigitsConfig` (layer sizes, connectivity, LIF neuron,
training, seeds); every field becomes an MLflow param, the per-epoch curves metric series, the test
accuracy per seed and its mean ± sd and 95 % interval metrics. The figure goes to ``outputs/<config name>/``.
``experiments/configs/learning_digits_small.json`` is the CI-sized version (seconds).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hal9.experiments.learning import DigitsConfig, run_and_log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("config", type=Path, help="JSON DigitsConfig")
    parser.add_argument("--experiment", default="hal9-learning-digits")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cfg = DigitsConfig.model_validate_json(args.config.read_text())
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
        lo, hi = summary["accuracy_ci95"]
        print(
            f"test accuracy {summary['accuracy_mean']:.4f} ± {summary['accuracy_sd']:.4f} over "
            f"{len(cfg.seeds)} seeds (95% CI [{lo:.4f}, {hi:.4f}])"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
