"""How much ``import hal9`` costs on top of ``import torch``, and whether it stays light.

Times ``python -c "import torch"`` and ``python -c "import hal9"`` in fresh processes (interleaved,
``--runs`` each, median reported), then checks in one more fresh process that ``import hal9`` did not
pull in the heavy optional dependencies (mlflow, matplotlib, fastapi).

Prints one JSON object; exits 1 if a heavy module was imported. Goal (docs/benchmarks.md): hal9 adds
at most 0.3 s over torch; the timing is reported, never enforced (timings on a shared machine are noisy).

Usage::

    .venv/bin/python scripts/import_time.py [--runs 5]
    .venv/bin/python scripts/import_time.py --check   # only the heavy-module check, no timing (make test)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY_MODULES = ("mlflow", "matplotlib", "fastapi")
GOAL_S = 0.3
REPO = Path(__file__).resolve().parent.parent


def _time_import(stmt: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", stmt], check=True, cwd=REPO)
    return time.perf_counter() - start


def _heavy_after_hal9() -> list[str]:
    probe = f"import hal9, sys, json; print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, cwd=REPO, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per import (default 5)")
    parser.add_argument("--check", action="store_true", help="only check the heavy modules; skip timing")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    if args.check:
        heavy = _heavy_after_hal9()
        print(json.dumps({"heavy_modules_after_import_hal9": heavy}))
        return 1 if heavy else 0

    _time_import("import hal9")  # warm the OS file cache once; not counted
    torch_s, hal9_s = [], []
    for _ in range(args.runs):
        torch_s.append(_time_import("import torch"))
        hal9_s.append(_time_import("import hal9"))
    heavy = _heavy_after_hal9()
    torch_med, hal9_med = statistics.median(torch_s), statistics.median(hal9_s)
    report = {
        "python": sys.executable,
        "runs": args.runs,
        "import_torch_median_s": round(torch_med, 4),
        "import_hal9_median_s": round(hal9_med, 4),
        "hal9_over_torch_s": round(hal9_med - torch_med, 4),
        "goal_s": GOAL_S,
        "goal_met": hal9_med - torch_med <= GOAL_S,
        "import_torch_s": [round(t, 4) for t in torch_s],
        "import_hal9_s": [round(t, 4) for t in hal9_s],
        "heavy_modules_after_import_hal9": heavy,
    }
    print(json.dumps(report, indent=2))
    return 1 if heavy else 0


if __name__ == "__main__":
    sys.exit(main())
