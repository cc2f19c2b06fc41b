#!/usr/bin/env bash
# GPU check (≤ 5 min: the stage limits add up to 300 s): every CUDA test, then every GPU benchmark with bounded sizes, then
# one table of the figures (scripts/gpu_summary.py). Writes everything under ${OUT:-outputs}/.
#
#   scripts/gpu_check.sh            # on a machine with CUDA and a .venv holding a CUDA build of torch
#   PY=python3 scripts/gpu_check.sh # another interpreter
#
# Each stage has its own time limit, so one slow stage cannot starve the others; the exit code is
# non-zero when the CUDA tests fail or any stage fails or times out (its output says which).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-outputs}
mkdir -p "$OUT" outputs
export OMP_WAIT_POLICY=PASSIVE HAL9_BENCH_DEVICE=cuda
start=$SECONDS
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" \
  | tee -a "$OUT/gpu.txt"
failed=()

stage() {  # stage NAME LIMIT_S COMMAND...: run one stage under a time limit, log to $OUT/NAME.txt
    local name=$1 limit=$2
    shift 2
    echo "== $name (≤ ${limit} s, at $((SECONDS - start)) s)"
    timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
    local rc=$?
    tail -n 25 "$OUT/$name.txt"
    if [[ $rc -ne 0 ]]; then failed+=("$name(rc=$rc)"); fi
}

bench() {  # bench NAME LIMIT_S PYTEST_ARGS...: one benchmark file on CUDA, its pytest-benchmark JSON kept
    local name=$1 limit=$2
    shift 2
    stage "$name" "$limit" "$PY" -m pytest "$@" --benchmark-only -s -q -p no:cacheprovider \
        --bench-device cuda --benchmark-json="$OUT/$name.json"
}

stage gpu_tests 60 "$PY" -m pytest -m gpu tests -q -p no:cacheprovider -rs
HAL9_BENCH_RUN_SIZES=100000,1000000,4000000 HAL9_BENCH_RUN_STEPS=50 \
    bench bench_run_vs_loop 50 tests/benchmarks/test_bench_run_vs_loop.py
HAL9_BENCH_PROP_N=1000000 bench bench_propagation 25 tests/benchmarks/test_bench_propagation.py
HAL9_BENCH_SPIKING_STEPS=300 bench bench_spiking 35 tests/benchmarks/test_bench_spiking.py
bench bench_dynamics 25 tests/benchmarks/test_bench_dynamics.py --bench-json "$OUT/bench_dynamics.json"
HAL9_BENCH_LEARNING_SCALE_STEPS=100 bench bench_learning 20 tests/benchmarks/test_bench_learning.py -k gpu
bench bench_assign 25 tests/benchmarks/test_bench_assign.py
bench bench_phi 20 tests/benchmarks/test_bench_phi.py
bench bench_tactical 20 tests/benchmarks/test_bench_tactical.py
bench bench_reference 20 tests/benchmarks/test_bench_reference.py
cp outputs/bench_*.json "$OUT"/ 2>/dev/null
"$PY" scripts/gpu_summary.py "$OUT" | tee "$OUT/summary.txt"
echo "gpu check: $((SECONDS - start)) s; failed stages: ${failed[*]:-none}"
exit $(( ${#failed[@]} != 0 ))
