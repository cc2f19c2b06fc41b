"""Benchmark options, shared fixtures and the end-of-session sparse-vs-dense report.

Options (only when ``tests/benchmarks`` is on the command line, as ``scripts/bench.sh`` does):

* ``--bench-device``: ``cpu``, ``cuda``, ``cuda:1``, … (default: ``$HAL9_BENCH_DEVICE``, else ``cuda`` when
  available, else ``cpu``).
* ``--bench-json``: where the report goes (default ``outputs/bench_dynamics.json`` under the repo root).

Each benchmark stores its figures in the session-wide ``bench_results`` dict (kept in ``config.stash``,
not in a module global); :func:`pytest_terminal_summary` joins sparse and dense medians of the same run
into one table, prints it and writes it as JSON.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

Results = dict[tuple[str, int, int], dict[str, Any]]
_RESULTS = pytest.StashKey[Results]()

SYN_GOAL_PER_S = 5e7  # synaptic updates/s at 100k neurons on the 2-core CPU
SYN_GOAL_N = 100_000
DENSE_GOAL_FROM_N = 20_000  # sparse must beat dense from this size up
HBM_GOAL_FRACTION = 0.5


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hal9 benchmarks")
    group.addoption("--bench-device", default=None, help="torch device for the hal9 benchmarks")
    group.addoption("--bench-json", default=None, help="path of the JSON report of the hal9 benchmarks")


def _results(config: pytest.Config) -> Results:
    return config.stash.setdefault(_RESULTS, {})


@pytest.fixture(scope="session")
def bench_device(pytestconfig: pytest.Config) -> torch.device:
    """The device the benchmarks run on."""
    name = pytestconfig.getoption("bench_device", None) or os.environ.get("HAL9_BENCH_DEVICE")
    if not name:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        pytest.skip(f"--bench-device={name} but CUDA is not available")
    return device


@pytest.fixture(scope="session")
def bench_results(pytestconfig: pytest.Config) -> Results:
    """Session-wide store: ``(kind, nominal N, batch) → extra_info`` of every finished benchmark."""
    return _results(pytestconfig)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_state(root: Path) -> dict[str, Any]:
    """Commit of the checkout and whether ``hal9/`` has uncommitted changes (``None`` outside git)."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    status = git("status", "--porcelain", "--", "hal9")
    return {"commit": git("rev-parse", "HEAD"), "hal9_modified": None if status is None else bool(status)}


def build_report(results: Results, root: Path | None = None) -> dict[str, Any]:
    """Join sparse and dense medians per ``(N, batch)`` and evaluate the speed goals."""
    rows = []
    for (kind, n, batch), info in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        if kind != "sparse":
            continue
        dense = results.get(("dense", n, batch), {})
        sparse_s, dense_s = info.get("median_s"), dense.get("median_s")
        row = {
            "n_nominal": n,
            "n_neurons": info["n_neurons"],
            "batch": batch,
            "nnz": info["nnz"],
            "steps": info["steps"],
            "sparse_median_s": sparse_s,
            "dense_median_s": dense_s,
            "sparse_min_s": info.get("min_s"),
            "dense_min_s": dense.get("min_s"),
            "speedup_vs_dense": dense_s / sparse_s if sparse_s and dense_s else None,
            "synaptic_updates_per_s": info.get("synaptic_updates_per_s"),
            "neuron_steps_per_s": info.get("neuron_steps_per_s"),
            "dense_synaptic_updates_per_s": dense.get("synaptic_updates_per_s"),
            "peak_rss_mb": info["peak_rss_mb"],
            "dense_peak_rss_mb": dense.get("peak_rss_mb"),
        }
        for key in (
            "bytes_per_step",
            "bytes_per_step_no_reuse",
            "effective_bandwidth_GBps",
            "effective_bandwidth_no_reuse_GBps",
            "peak_bandwidth_GBps",
            "hbm_fraction",
            "hbm_fraction_no_reuse",
        ):
            if key in info:
                row[key] = info[key]
        rows.append(row)

    at_goal_n = [r for r in rows if r["n_nominal"] == SYN_GOAL_N and r["synaptic_updates_per_s"]]
    vs_dense = [r for r in rows if r["n_nominal"] >= DENSE_GOAL_FROM_N and r["speedup_vs_dense"]]
    largest = max((r["n_nominal"] for r in rows), default=None)
    hbm = [r["hbm_fraction"] for r in rows if "hbm_fraction" in r and r["n_nominal"] == largest]
    goals: dict[str, Any] = {
        f"synaptic_updates_per_s_at_{SYN_GOAL_N}_ge_{SYN_GOAL_PER_S:.0e}": (
            all(r["synaptic_updates_per_s"] >= SYN_GOAL_PER_S for r in at_goal_n) if at_goal_n else None
        ),
        f"faster_than_dense_from_{DENSE_GOAL_FROM_N}": (
            all(r["speedup_vs_dense"] > 1.0 for r in vs_dense) if vs_dense else None
        ),
        "dense_sizes_compared": sorted({r["n_nominal"] for r in vs_dense}),
    }
    if hbm:  # judged at the largest size, where launch overheads do not dominate
        goals[f"hbm_fraction_at_{largest}_ge_{HBM_GOAL_FRACTION}"] = max(hbm) >= HBM_GOAL_FRACTION
    devices = sorted({info["device"] for info in results.values()})
    return {
        "machine": {
            "cpu_model": _cpu_model(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "devices": devices,
            # Other processes on the machine skew timings; the load at the end of the run shows how much.
            "load_average_1_5_15_min": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
        "git": _git_state(root) if root is not None else None,
        "command": " ".join(["python -m pytest", *sys.argv[1:]]),
        "rows": rows,
        "goals": goals,
    }


def _fmt(value: float | None, spec: str, scale: float = 1.0) -> str:
    """``format(value * scale, spec)``, or a dash of the same width for a missing value."""
    if value is None:
        return format("—", ">" + spec.split(".")[0])
    return format(value * scale, spec)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(_RESULTS, None)
    if not results:
        return
    report = build_report(results, Path(config.rootpath))
    out = config.getoption("bench_json", None) or Path(config.rootpath) / "outputs" / "bench_dynamics.json"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")

    tr = terminalreporter
    tr.section("hal9 sparse run vs dense torch.mm baseline")
    tr.write_line(f"device: {', '.join(report['machine']['devices'])}   torch {report['machine']['torch']}")
    header = (
        f"{'N':>10} {'batch':>5} {'nnz':>11} {'sparse ms':>10} {'dense ms':>10} {'speedup':>8} "
        f"{'syn-upd/s':>10} {'neuron-st/s':>11} {'peak RSS MB':>11}"
    )
    has_hbm = any("hbm_fraction" in r for r in report["rows"])
    tr.write_line(header + (f" {'HBM %':>6}" if has_hbm else ""))
    for r in report["rows"]:
        line = (
            f"{r['n_neurons']:>10,} {r['batch']:>5} {r['nnz']:>11,} "
            f"{_fmt(r['sparse_median_s'], '10.1f', 1e3)} {_fmt(r['dense_median_s'], '10.1f', 1e3)} "
            f"{_fmt(r['speedup_vs_dense'], '8.1f')} "
            f"{_fmt(r['synaptic_updates_per_s'], '10.2e')} {_fmt(r['neuron_steps_per_s'], '11.2e')} "
            f"{r['peak_rss_mb']:>11.0f}"
        )
        if has_hbm:
            line += f" {_fmt(r.get('hbm_fraction'), '6.1f', 100)}"
        tr.write_line(line)
    for goal, met in report["goals"].items():
        tr.write_line(f"goal {goal}: {met}")
    tr.write_line(f"report written to {out}")
