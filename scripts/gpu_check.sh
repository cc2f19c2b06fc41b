#!/usr/bin/env bash
# GPU check (≤ 5 min on an H100): CUDA tests, then the GPU benchmarks. Writes results under ${OUT:-outputs}/.
# Usage on a machine with CUDA: scripts/gpu_check.sh   (expects .venv with a CUDA torch; see README "CUDA")
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-outputs}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" \
  | tee -a "$OUT/gpu.txt"
"$PY" -m pytest -m gpu tests -q -p no:cacheprovider 2>&1 | tee "$OUT/gpu_tests.txt"
tests_rc=${PIPESTATUS[0]}
timeout 240 scripts/bench.sh --bench-device cuda --bench-json "$OUT/bench_dynamics.json" \
  --benchmark-json="$OUT/bench_gpu.json" 2>&1 | tee "$OUT/bench_gpu.txt"
bench_rc=${PIPESTATUS[0]}
echo "gpu tests rc=$tests_rc bench rc=$bench_rc"
exit $(( tests_rc != 0 || bench_rc != 0 ))
