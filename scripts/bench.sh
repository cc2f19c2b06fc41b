#!/usr/bin/env bash
# hal9 dynamics benchmarks: sparse `run` vs a dense torch.mm baseline (docs/benchmarks.md).
#
#   scripts/bench.sh                          # all sizes, device = cuda if available else cpu
#   scripts/bench.sh --bench-device cpu       # extra arguments go to pytest
#   scripts/bench.sh -k "sparse_run and 100000-" # a subset (pytest -k expression)
#   scripts/bench.sh -k bench_assign -s        # assignment only (tests/benchmarks/test_bench_assign.py)
#
# Prints pytest-benchmark's table and a sparse-vs-dense summary, and writes outputs/bench_dynamics.json.
# PYTHON overrides the interpreter (default: the repo's .venv, else python3 on PATH).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
exec "$PYTHON" -m pytest tests/benchmarks --benchmark-only --benchmark-columns=median,iqr,rounds \
    -p no:cacheprovider "$@"
