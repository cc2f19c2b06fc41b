"""Where the seconds of ``hal9 demo`` go, and what recording costs (issue 14, "recording and fixed costs").

Two benchmarks, each comparing against its baseline in the same process, interleaved (A B A B …):

* ``test_bench_demo_fixed_cost``: the real command, ``python -m hal9.cli.main demo --json``, run as a
  subprocess four ways per round: full (figures + MLflow) in a fresh folder, where MLflow first creates
  ``mlflow.db``; then, in a folder whose ``mlflow.db`` exists, full, ``--no-mlflow`` and
  ``--no-figures --no-mlflow``. Each call reports its own simulation time (``run_s``), so
  ``fixed = total − run_s`` is the cost around the simulation; the differences between the variants are the
  cost of the figures and of the MLflow run. Interpreter start and ``import hal9`` (torch, pydantic) are
  timed in subprocesses of their own (``python -c pass``, ``python -c "import hal9"``), and the in-process
  phases of the recipe (build, simulate, metrics, figures, tracking) once more with ``perf_counter``.
  Every call must report bitwise the same activity (CPU, same seed), whatever it skips.
* ``test_bench_recording``: ``hal9.core.run(..., record=all layers, every=k)`` against the same run
  without recording plus ``copy`` — ``T // k`` copies of the ``(batch, N)`` activity into a freshly
  allocated ``(T // k, batch, N)`` buffer, i.e. a copy of what is recorded. The ratio
  ``(record − plain) / copy`` is the median of the paired per-round differences; ≤ 1 means recording costs
  no more than a copy of its data. The recordings are checked against the final state.

Run with::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m pytest tests/benchmarks/test_bench_demo.py \\
        --benchmark-only -s -p no:cacheprovider

``HAL9_BENCH_DEMO_SIZES`` (default ``10000,100000``), ``HAL9_BENCH_DEMO_STEPS`` (default 1000, the demo's),
``HAL9_BENCH_DEMO_ROUNDS`` (default 3), ``HAL9_BENCH_REC_SIZES`` (default ``10000,100000``),
``HAL9_BENCH_REC_STEPS`` (default 200) and ``HAL9_BENCH_REC_ROUNDS`` (default 5) change the cases. The
figures go to ``outputs/bench_demo.json``. Timings are wall-clock; on a shared machine they are noisy,
so quote medians and ratios.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from hal9.core import (
    ConnectivityConfig,
    HierarchyConfig,
    RateConfig,
    build_network,
    layer_name,
    rate_params,
    run,
    sizes_for_total,
)


def _ints(var: str, default: str) -> tuple[int, ...]:
    return tuple(int(v) for v in os.environ.get(var, default).split(","))


DEMO_SIZES = _ints("HAL9_BENCH_DEMO_SIZES", "10000,100000")
DEMO_STEPS = int(os.environ.get("HAL9_BENCH_DEMO_STEPS", "1000"))
ROUNDS = int(os.environ.get("HAL9_BENCH_DEMO_ROUNDS", "3"))
REC_SIZES = _ints("HAL9_BENCH_REC_SIZES", "10000,100000")
REC_STEPS = int(os.environ.get("HAL9_BENCH_REC_STEPS", "200"))
REC_ROUNDS = int(os.environ.get("HAL9_BENCH_REC_ROUNDS", "5"))
VARIANTS: dict[str, tuple[str, ...]] = {
    "full_new_db": (),  # in a fresh folder: MLflow creates mlflow.db (its tables) first
    "full": (),
    "no_mlflow": ("--no-mlflow",),
    "no_figures_no_mlflow": ("--no-figures", "--no-mlflow"),
}
_REPORT: dict[str, Any] = {"demo": {}, "recording": {}}
_OUT = Path(__file__).resolve().parents[2] / "outputs" / "bench_demo.json"


def _env() -> dict[str, str]:
    """The caller's environment without tracking URIs (each call writes ``./mlflow.db`` in its folder)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HAL9_TRACKING_URI", "MLFLOW_TRACKING_URI")}
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def _timed_subprocess(args: list[str], cwd: Path) -> tuple[float, str]:
    """``(wall seconds, stdout)`` of ``python ARGS`` in ``cwd``; fails the test on a non-zero exit."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600
    )
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    return wall, proc.stdout


def _demo_call(n: int, variant: tuple[str, ...], cwd: Path | None) -> tuple[float, dict[str, Any]]:
    """One ``hal9 demo`` in ``cwd`` (its ``mlflow.db``), or in a fresh folder (a first-time user's)."""
    args = ["-m", "hal9.cli.main", "demo", "--neurons", str(n), "--steps", str(DEMO_STEPS)]
    args += ["--device", "cpu", "--json", "--no-progress", *variant]
    if cwd is not None:
        wall, out = _timed_subprocess(args, cwd)
        return wall, json.loads(out)
    with tempfile.TemporaryDirectory(prefix="hal9-bench-demo-") as tmp:
        wall, out = _timed_subprocess(args, Path(tmp))
    return wall, json.loads(out)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _import_costs(rounds: int) -> dict[str, float]:
    """Median wall seconds of ``python -c pass``, ``import hal9`` and ``hal9 demo --help``, interleaved."""
    cmds = {
        "python_start_s": ["-c", "pass"],
        "import_hal9_s": ["-c", "import hal9"],
        "demo_help_s": ["-m", "hal9.cli.main", "demo", "--help"],
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    with tempfile.TemporaryDirectory(prefix="hal9-bench-import-") as tmp:
        for _ in range(rounds):
            for name, args in cmds.items():
                times[name].append(_timed_subprocess(args, Path(tmp))[0])
    return {k: _median(v) for k, v in times.items()}


def _phases(n: int, db_folder: Path) -> dict[str, float]:
    """Seconds of each step of :func:`hal9.experiments.demo.run_demo`, timed in this process.

    The recipe's own functions in its order: build (network, params, input), simulate (after a warm-up
    step), metrics (mean ``|rate|``, layer connectivity, ±1 violation), figures (import, draw, save) and
    tracking (import MLflow, one run with the batch, the artifacts, in the existing
    ``db_folder/mlflow.db``). Imports already made by an earlier case are not counted again: the first case
    carries them.
    """
    from hal9.experiments.demo import demo_config, demo_inputs, network_summary

    cfg = demo_config(n, DEMO_STEPS, device="cpu")
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="hal9-bench-phases-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        net = build_network(cfg.hierarchy, seed=cfg.seed)
        params = rate_params(cfg.neuron, net.sizes)
        inputs = demo_inputs(cfg, net.sizes[0], torch.device("cpu"), torch.float32)
        out["build_s"] = time.perf_counter() - t
        layers = list(range(net.n_layers))
        run(net, params, inputs[:2])
        t = time.perf_counter()
        res = run(net, params, inputs, record=layers, every=cfg.record_every)
        out["simulate_s"] = time.perf_counter() - t
        t = time.perf_counter()
        mean_abs = [float(res.recordings[k].abs().mean()) for k in layers]
        conn = net.layer_connectivity()
        summary = network_summary(net, cfg.steps, cfg.batch, mean_abs, connectivity=conn)
        out["metrics_s"] = time.perf_counter() - t
        t = time.perf_counter()
        from hal9.viz import plot_hierarchy, plot_layer_activity, save_figure

        fig_h = plot_hierarchy(net.sizes, conn.numpy(), title="hal9 demo hierarchy")
        recs = {layer_name(k): res.recordings[k][:, 0] for k in layers}
        fig_a = plot_layer_activity(recs, dt=cfg.neuron.dt, every=cfg.record_every)
        paths = [save_figure(fig_h, folder / "hierarchy.png"), save_figure(fig_a, folder / "activity.png")]
        out["figures_s"] = time.perf_counter() - t
        t = time.perf_counter()
        from hal9.experiments.demo import _log_demo_run

        metrics = {f"mean_abs_rate.L{k + 1}": v for k, v in enumerate(mean_abs)}
        metrics |= {"neurons": summary["neurons"], "synapses": summary["synapses"]}
        uri = f"sqlite:///{db_folder / 'mlflow.db'}"
        ref = _log_demo_run(cfg, "bench", uri, "bench", metrics, res.layer_means, paths)
        out["tracking_s"] = time.perf_counter() - t
        assert ref["fallback_path"] is None
    return out


@pytest.mark.parametrize("n", DEMO_SIZES)
def test_bench_demo_fixed_cost(benchmark: Any, n: int, tmp_path: Path) -> None:
    _demo_call(n, VARIANTS["full"], tmp_path)  # creates tmp_path/mlflow.db: the later calls reuse it
    calls: dict[str, list[tuple[float, dict[str, Any]]]] = {name: [] for name in VARIANTS}
    for _ in range(ROUNDS):  # interleaved: full_new_db, full, no_mlflow, neither, full_new_db, ...
        for name, flags in VARIANTS.items():
            calls[name].append(_demo_call(n, flags, None if name == "full_new_db" else tmp_path))
    # every call simulated the same network and input: the activity is bitwise the same, whatever it skips
    reference = [row["mean_abs_rate"] for row in calls["full"][0][1]["layers"]]
    for name, results in calls.items():
        for _, summary in results:
            assert [row["mean_abs_rate"] for row in summary["layers"]] == reference, name
            assert (summary["mlflow"] is None) == ("--no-mlflow" in VARIANTS[name])
            assert (summary["figures"] == []) == ("--no-figures" in VARIANTS[name])
    total = {name: _median([w for w, _ in r]) for name, r in calls.items()}
    sim = {name: _median([s["run_s"] for _, s in r]) for name, r in calls.items()}
    fixed = {name: _median([w - s["run_s"] for w, s in r]) for name, r in calls.items()}
    build = _median([s["build_s"] for r in calls.values() for _, s in r])
    imports = _import_costs(ROUNDS)
    phases = _phases(n, tmp_path)
    call = VARIANTS["no_figures_no_mlflow"]
    benchmark.pedantic(lambda: _demo_call(n, call, tmp_path), rounds=1, iterations=1)
    row = {
        "neurons": calls["full"][0][1]["neurons"],
        "steps": DEMO_STEPS,
        "rounds": ROUNDS,
        "total_s": total,
        "run_s": sim,
        "fixed_s": fixed,
        "fixed_over_run": {k: fixed[k] / sim[k] for k in total},
        "build_s": build,
        "figures_s_by_difference": total["no_mlflow"] - total["no_figures_no_mlflow"],
        "mlflow_s_by_difference": total["full"] - total["no_mlflow"],
        "new_mlflow_db_s_by_difference": total["full_new_db"] - total["full"],
        **imports,
        "in_process_phases_s": phases,
    }
    _REPORT["demo"][str(n)] = row
    benchmark.extra_info.update(row)
    _write_report()
    print(f"\nhal9 demo, {row['neurons']:,} neurons x {DEMO_STEPS} steps (cpu, medians of {ROUNDS})")
    for name in VARIANTS:
        print(
            f"  {name:<22} total {total[name]:6.2f} s  run_s {sim[name]:6.2f} s  "
            f"fixed {fixed[name]:6.2f} s  fixed/run {fixed[name] / sim[name]:5.1f}"
        )
    print(
        f"  python start {imports['python_start_s']:.2f} s, import hal9 {imports['import_hal9_s']:.2f} s, "
        f"demo --help {imports['demo_help_s']:.2f} s; figures {row['figures_s_by_difference']:.2f} s, "
        f"MLflow {row['mlflow_s_by_difference']:.2f} s (+ {row['new_mlflow_db_s_by_difference']:.2f} s for a "
        "new mlflow.db; by difference)"
    )
    print("  in-process phases: " + ", ".join(f"{k} {v:.3f}" for k, v in phases.items()))


def _rec_cases(n: int, batch: int, every: int) -> tuple[dict[str, Callable[[], Any]], Any]:
    cfg = HierarchyConfig(
        sizes=sizes_for_total(n, 9, math.e), connectivity=ConnectivityConfig(fan_in_policy="clip")
    )
    net = build_network(cfg, seed=0)
    p = rate_params(RateConfig(tau=10.0), net.sizes)
    x = torch.randn((REC_STEPS, batch, net.sizes[0]), generator=torch.Generator().manual_seed(1))
    layers = list(range(net.n_layers))
    n_rec = REC_STEPS // every
    source = torch.randn((batch, net.n_neurons), generator=torch.Generator().manual_seed(2))

    def copy() -> torch.Tensor:
        buf = torch.empty((n_rec, batch, net.n_neurons))
        for r in range(n_rec):
            buf[r].copy_(source)
        return buf

    cases: dict[str, Callable[[], Any]] = {
        "plain": lambda: run(net, p, x, means=False),
        "record": lambda: run(net, p, x, record=layers, every=every, means=False),
        "copy": copy,
    }
    return cases, net


@pytest.mark.parametrize("every", [1, 5])
@pytest.mark.parametrize("batch", [1, 16])
@pytest.mark.parametrize("n", REC_SIZES)
def test_bench_recording(benchmark: Any, n: int, batch: int, every: int) -> None:
    cases, net = _rec_cases(n, batch, every)
    plain, rec = cases["plain"](), cases["record"]()  # warm-up, and the results to check
    assert torch.equal(plain.final_state.x, rec.final_state.x)  # recording does not change the run
    last = torch.cat([rec.recordings[k][-1] for k in range(net.n_layers)], dim=1)
    assert torch.equal(last, rec.final_state.x)  # T is a multiple of every: the last record is the end
    assert all(rec.recordings[k].shape == (REC_STEPS // every, batch, net.sizes[k]) for k in rec.recordings)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(REC_ROUNDS):  # interleaved, alternating the order of plain and record
        order = ("plain", "record", "copy") if i % 2 == 0 else ("record", "plain", "copy")
        for name in order:
            t0 = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - t0)
    overhead = [r - p for r, p in zip(times["record"], times["plain"], strict=True)]
    med = {name: _median(v) for name, v in times.items()}
    row = {
        "neurons": net.n_neurons,
        "batch": batch,
        "every": every,
        "steps": REC_STEPS,
        "ms": {name: 1e3 * m for name, m in med.items()},
        "overhead_ms": 1e3 * _median(overhead),
        "overhead_over_copy": _median(overhead) / med["copy"],
        "overhead_over_plain": _median(overhead) / med["plain"],
    }
    benchmark.pedantic(cases["record"], rounds=1, iterations=1)
    benchmark.extra_info.update(row)
    _REPORT["recording"][f"{n}-{batch}-{every}"] = row
    _write_report()
    print(
        f"\nrecording n={net.n_neurons:,} batch={batch} every={every}: plain {row['ms']['plain']:.1f} ms, "
        f"record {row['ms']['record']:.1f} ms, copy {row['ms']['copy']:.2f} ms; overhead "
        f"{row['overhead_ms']:.1f} ms = {row['overhead_over_copy']:.1f} copies "
        f"({100 * row['overhead_over_plain']:.1f}% of the run)"
    )


def _write_report() -> None:
    _OUT.parent.mkdir(parents=True, exist_ok=True)
    meta = {"threads": torch.get_num_threads(), "load_average_1_5_15_min": list(os.getloadavg())}
    _OUT.write_text(json.dumps({"machine": meta, **_REPORT}, indent=2) + "\n")
