"""Exact IIT 3.0: hal9's :func:`hal9.metrics.iit.sia` against PyPhi 1.2.0's ``pyphi.compute.sia``, in one run.

* ``test_bench_iit_vs_pyphi`` — 5-node networks: the four 5-node records of
  ``tests/metrics/data/pyphi_iit3.json`` (sparse: 1–3 inputs per node, PyPhi 0.2–3 s) and, unless
  ``HAL9_BENCH_IIT_DENSE=0``, two denser ones from :func:`random_network` (each edge ``i → j``, self-loops
  included, drawn with probability 0.6; seeds 5050 deterministic and 5150 noisy, the first seed of each kind;
  PyPhi ~25 s and ~50–60 s). Contenders, interleaved A B A B for ``HAL9_BENCH_IIT_ROUNDS`` rounds (default 3;
  rounds outer, networks inner):

  * **hal9**: ``sia(network, state)`` in this process, one torch thread, after one warm-up call per network
    (imports, index tables and first-call costs excluded); the first call of the process (cold) is reported
    too, and ``test_bench_iit_scaling`` times import + first call in a fresh interpreter;
  * **PyPhi**: ``pyphi.compute.sia`` in a persistent worker (``tests/benchmarks/_pyphi_worker.py``, run by
    ``$HAL9_PYPHI_PYTHON``), a fresh ``Network`` and ``Subsystem`` per call (caches empty), timed around
    ``sia`` only (building the ``Network``/``Subsystem`` is not timed, nor is hal9's ``IITNetwork``). PyPhi's
    own default ``PARALLEL_CUT_EVALUATION=True`` forks a worker per core: before the rounds, one extra round
    times every sparse network both ways and the faster setting (sum over those networks) is "PyPhi's best",
    used for all the rounds and the ratios. One small call warms the worker up first (its time is reported).

  Φ must agree within 1e-5 in every round (and with the stored reference where there is one). Reported:
  medians, the ratio ``PyPhi / hal9`` per network, its min and median over networks.
  Without ``HAL9_PYPHI_PYTHON`` the PyPhi contender is skipped (with a message) and only hal9 is timed.

* ``test_bench_iit_scaling`` — hal9 only, each network in a fresh subprocess of this interpreter: two 5-node
  records (det5_s5000, noisy5_s5100) and 6- and 7-node networks from :func:`random_network`'s sparse recipe
  (deterministic and noisy, seeds ``1000 n + 100 (noisy)``). Per network: import time, first (cold) call,
  then the median of ``HAL9_BENCH_IIT_ROUNDS`` warm calls (7 nodes: one warm call unless the cold one took
  under 10 s), and the peak RSS against a subprocess that only imports torch and ``hal9.metrics.iit``. A
  subprocess past 300 s is stopped and reported as timed out. Peak RSS is ``VmHWM`` of ``/proc/self/status``
  (``ru_maxrss`` where there is none): Linux carries ``ru_maxrss`` over fork and exec, so in a child of this
  pytest process (~0.5 GB after the 5-node test) it never reads below the parent's RSS; ``ru_maxrss`` is
  recorded too (``ru_maxrss_mib``).

Both write ``outputs/bench_iit.json`` (merged per test) with a hardware line. Run with::

    HAL9_PYPHI_PYTHON=/work/pyphi_env/venv/bin/python OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE \\
        .venv/bin/python -m pytest tests/benchmarks/test_bench_iit.py --benchmark-only -s -p no:cacheprovider

About 5.5 minutes on a 2-core machine with the defaults, most of it PyPhi on the two dense networks.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest
import torch

from hal9.metrics.iit import IITNetwork, SystemIrreducibility, sia
from tests.benchmarks.conftest import _cpu_model, _git_state

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "metrics" / "data" / "pyphi_iit3.json"
WORKER = Path(__file__).resolve().with_name("_pyphi_worker.py")
OUT = ROOT / "outputs" / "bench_iit.json"

ROUNDS = int(os.environ.get("HAL9_BENCH_IIT_ROUNDS", "3"))
DENSE = os.environ.get("HAL9_BENCH_IIT_DENSE", "1") not in ("0", "", "false", "no")
PYPHI_PYTHON = os.environ.get("HAL9_PYPHI_PYTHON") or None

P_DENSE = 0.6  # probability of each edge i -> j in the dense recipe
MAX_SPARSE_INPUTS = 3  # sparse recipe: k ~ uniform{1..3} inputs per node
DENSE_SEEDS = (("deterministic", 5050), ("noisy", 5150))
PHI_TOL = 1e-5
PYPHI_TIMEOUT_S = 300.0  # one pyphi.compute.sia call
SUBPROCESS_TIMEOUT_S = 300.0  # one hal9 scaling subprocess (import, cold call and warm calls)
FAST_COLD_S = 10.0  # 7 nodes: ROUNDS warm calls only if the cold call took less
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

Json = dict[str, Any]


# ------------------------------------------------------------------------------------------------------------
# Networks
# ------------------------------------------------------------------------------------------------------------


def _strongly_connected(cm: np.ndarray) -> bool:
    """Whether the directed graph ``cm`` (edge i -> j where ``cm[i, j]``) is strongly connected."""
    n = cm.shape[0]
    reach = cm.astype(bool) | np.eye(n, dtype=bool)
    for k in range(n):  # Warshall
        reach = reach | (reach[:, [k]] & reach[[k], :])
    return bool(reach.all())


def random_network(n: int, kind: str, density: str, seed: int) -> Json:
    """Draw a strongly connected binary network and a reachable state from ``default_rng(seed)``.

    In this order: (1) connectivity — ``"sparse"``: for each node j, ``k ~ uniform{1..3}`` distinct inputs
    among all n nodes (self-loops allowed); ``"dense"``: each edge ``i → j`` (self-loops included) with
    probability :data:`P_DENSE`; redrawn until every node has an input and the graph is strongly connected;
    (2) per node j, one value per pattern of its inputs (pattern index ``Σ_b s_{input_b} << b``, inputs
    increasing): a fair random bit (``"deterministic"``) or ``round(uniform[0, 1), 3)`` (``"noisy"``);
    (3) a uniform 0/1 state, redrawn until some previous state leads to it. The sparse recipe is
    ``scripts/pyphi_reference.py``'s with three inputs at most (it reproduces its det4/det5 records).
    """
    rng = np.random.default_rng(seed)
    while True:
        if density == "dense":
            cm = (rng.random((n, n)) < P_DENSE).astype(int)
        else:
            cm = np.zeros((n, n), dtype=int)
            for j in range(n):
                k = int(rng.integers(1, MAX_SPARSE_INPUTS + 1))
                cm[rng.choice(n, size=k, replace=False), j] = 1
        if cm.sum(0).all() and _strongly_connected(cm):
            break
    bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1  # LOLI rows
    tpm = np.zeros((2**n, n))
    for j in range(n):
        inputs = np.flatnonzero(cm[:, j])
        size = 2 ** len(inputs)
        table = (
            rng.integers(0, 2, size).astype(float) if kind == "deterministic" else rng.random(size).round(3)
        )
        tpm[:, j] = table[(bits[:, inputs] << np.arange(len(inputs))).sum(1)]
    while True:
        state = rng.integers(0, 2, n)
        if (np.where(state == 1, tpm, 1 - tpm).prod(1) > 0).any():
            break
    prefix = "det" if kind == "deterministic" else "noisy"
    return {
        "name": f"{prefix}{n}_{density}_s{seed}",
        "n": n,
        "kind": kind,
        "density": density,
        "seed": seed,
        "tpm": tpm.tolist(),
        "cm": cm.tolist(),
        "state": [int(s) for s in state],
        "edges": int(cm.sum()),
        "ref_phi": None,
        "ref_pyphi_s": None,
    }


def _reference(n: int) -> list[Json]:
    """The ``n``-node records of the stored PyPhi reference data, as network specs."""
    keep = ("name", "n", "kind", "seed", "tpm", "cm", "state")
    return [
        {k: rec[k] for k in keep}
        | {"density": "sparse", "edges": int(np.sum(rec["cm"])), "ref_phi": rec["sia"]["phi"]}
        | {"ref_pyphi_s": rec["sia"]["seconds"]}
        for rec in json.loads(DATA.read_text())["networks"]
        if rec["n"] == n
    ]


def _network(spec: Json) -> IITNetwork:
    return IITNetwork.from_tpm(torch.tensor(spec["tpm"], dtype=torch.float64), spec["cm"])


# ------------------------------------------------------------------------------------------------------------
# Reporting
# ------------------------------------------------------------------------------------------------------------


def _machine() -> Json:
    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": 1,
        "python": platform.python_version(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_average_1_5_15_min": list(os.getloadavg()),
    }


def _code_state() -> Json:
    """Commit, and the hash of ``git diff HEAD -- hal9`` (uncommitted work in hal9/ is timed too)."""
    diff = subprocess.run(["git", "diff", "HEAD", "--", "hal9"], cwd=ROOT, capture_output=True, timeout=30)
    return {**_git_state(ROOT), "hal9_diff_sha1": hashlib.sha1(diff.stdout).hexdigest()}


def _record(key: str, info: Json, code_at_start: Json) -> str | None:
    """Merge one test's figures into :data:`OUT` with the hardware line; warn if hal9 changed meanwhile."""
    report: Json = json.loads(OUT.read_text()) if OUT.exists() else {}
    report["machine"] = _machine()
    report["command"] = " ".join(["python -m pytest", *sys.argv[1:]])
    report["git"] = _code_state()
    info["code_at_start"] = code_at_start
    info["code_changed_during_test"] = code_at_start != report["git"]
    report["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    report.setdefault("results", {})[key] = info
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1) + "\n")
    if info["code_changed_during_test"]:
        return "WARNING: hal9's code (commit or diff) changed during this test; its figures mix versions"
    return None


def _say(capsys: pytest.CaptureFixture[str], *lines: str) -> None:
    with capsys.disabled():
        print("\n".join(lines), flush=True)


def _hardware_line() -> str:
    m = _machine()
    return (
        f"hardware: {m['platform']} | {m['cpu']} | {m['cpu_count']} CPUs | torch {m['torch']} (1 thread) | "
        f"Python {m['python']} | load {', '.join(f'{x:.2f}' for x in m['load_average_1_5_15_min'])}"
    )


def _times(ratio: float | None) -> str:
    """A ratio as ``12x`` (``3.4x`` under 10, a dash when missing)."""
    if ratio is None:
        return "—"
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:.0f}x"


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------------------------------------------------
# PyPhi worker
# ------------------------------------------------------------------------------------------------------------


class PyPhiWorker:
    """``_pyphi_worker.py`` under ``python``, in its own temporary directory; one JSON line per request."""

    def __init__(self, python: str) -> None:
        self.dir = tempfile.mkdtemp(prefix="hal9_bench_iit_")
        self.err_path = Path(self.dir) / "worker.stderr"
        self._err: IO[bytes] = open(self.err_path, "wb")  # closed in close()
        self.proc = subprocess.Popen(
            [python, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            cwd=self.dir,
            # TMPDIR: the worker's own temporary directory lands in ours, deleted even if it is killed
            env={**os.environ, **WORKER_ENV, "TMPDIR": self.dir},
            start_new_session=True,  # its own process group: PyPhi's parallel workers die with it
        )

    def _stderr_tail(self) -> str:
        self._err.flush()
        return self.err_path.read_text(errors="replace")[-2000:]

    def ask(self, request: Json, timeout: float = PYPHI_TIMEOUT_S) -> Json:
        """Send one request and wait for its reply; kill the worker and fail past ``timeout``."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.close(kill=True)
            pytest.fail(f"PyPhi took more than {timeout:.0f} s on one sia call; worker stopped")
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the PyPhi worker exited: {self._stderr_tail()}")
        reply: Json = json.loads(line)
        if "error" in reply:
            raise AssertionError(f"PyPhi failed: {reply['error']}\n{self._stderr_tail()}")
        return reply

    def sia(self, spec: Json, parallel: bool) -> Json:
        return self.ask({"tpm": spec["tpm"], "cm": spec["cm"], "state": spec["state"], "parallel": parallel})

    def close(self, kill: bool = False) -> None:
        """End the worker (end of input, or kill) and delete its directory."""
        if self.proc.poll() is None:
            if kill:
                os.killpg(self.proc.pid, signal.SIGKILL)
            else:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
        self._err.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _timed_sia(net: IITNetwork, state: list[int]) -> tuple[float, SystemIrreducibility]:
    t0 = time.perf_counter()
    res = sia(net, state)
    return time.perf_counter() - t0, res


def _cut(res: SystemIrreducibility) -> Json | None:
    return None if res.cut is None else res.cut.to_dict()


# ------------------------------------------------------------------------------------------------------------
# 5 nodes: hal9 against PyPhi
# ------------------------------------------------------------------------------------------------------------


def test_bench_iit_vs_pyphi(benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code = _code_state()
    sparse = _reference(5)
    dense = [random_network(5, kind, "dense", seed) for kind, seed in DENSE_SEEDS] if DENSE else []
    specs = sparse + dense
    check = random_network(5, "deterministic", "sparse", 5000)  # the documented recipe is the reference's
    assert (check["tpm"], check["cm"], check["state"]) == (specs[0]["tpm"], specs[0]["cm"], specs[0]["state"])
    nets = {s["name"]: _network(s) for s in specs}
    hal9_s: dict[str, list[float]] = {s["name"]: [] for s in specs}
    pyphi_s: dict[str, list[float]] = {s["name"]: [] for s in specs}
    phis: dict[str, Json] = {}
    info: Json = {"rounds": ROUNDS, "dense_included": DENSE, "phi_tolerance": PHI_TOL}
    worker = PyPhiWorker(PYPHI_PYTHON) if PYPHI_PYTHON else None
    if worker is None:
        info["pyphi_skipped"] = "HAL9_PYPHI_PYTHON is not set"
        _say(
            capsys,
            "\nPyPhi contender SKIPPED: HAL9_PYPHI_PYTHON is not set (an interpreter with "
            "pyphi==1.2.0, see scripts/pyphi_reference.py); timing hal9 only.",
        )
    try:
        with _one_torch_thread():
            cold_s, _ = _timed_sia(nets[specs[0]["name"]], specs[0]["state"])  # first call of the process
            info["hal9_cold_in_process"] = {"network": specs[0]["name"], "seconds": cold_s}
            for s in specs:  # warm-up: one call per network, untimed
                sia(nets[s["name"]], s["state"])
            parallel = False
            if worker is not None:
                info["pyphi_meta"] = worker.ask({"cmd": "meta"})
                small = min(sparse, key=lambda s: s["ref_pyphi_s"])
                info["pyphi_cold_in_fresh_worker"] = {
                    "network": small["name"],
                    "seconds": worker.sia(small, parallel=False)["seconds"],
                }
                extra: Json = {}
                for s in sparse:  # the extra round: both settings of PARALLEL_CUT_EVALUATION
                    ser, par = worker.sia(s, parallel=False), worker.sia(s, parallel=True)
                    for reply in (ser, par):
                        assert abs(reply["phi"] - s["ref_phi"]) <= PHI_TOL, (s["name"], reply)
                    extra[s["name"]] = {"serial_s": ser["seconds"], "parallel_s": par["seconds"]}
                ser_total = sum(e["serial_s"] for e in extra.values())
                par_total = sum(e["parallel_s"] for e in extra.values())
                parallel = par_total < ser_total
                info["pyphi_parallel_cut_evaluation"] = {
                    "per_network": extra,
                    "serial_total_s": ser_total,
                    "parallel_total_s": par_total,
                    "faster": "parallel" if parallel else "serial",
                }
                info["pyphi_best_setting"] = {"PARALLEL_CUT_EVALUATION": parallel}
            for _ in range(ROUNDS):  # A B A B: rounds outer, networks inner
                for s in specs:
                    name = s["name"]
                    t, res = _timed_sia(nets[name], s["state"])
                    hal9_s[name].append(t)
                    if s["ref_phi"] is not None:
                        assert abs(res.phi - s["ref_phi"]) <= PHI_TOL, (name, res.phi, s["ref_phi"])
                    phis[name] = {"hal9_phi": res.phi, "hal9_cut": _cut(res), "counts": dict(res.counts)}
                    if worker is not None:
                        reply = worker.sia(s, parallel=parallel)
                        pyphi_s[name].append(reply["seconds"])
                        assert abs(res.phi - reply["phi"]) <= PHI_TOL, (name, res.phi, reply["phi"])
                        phis[name].update(pyphi_phi=reply["phi"], pyphi_cut=reply["cut"])
                        phis[name]["cut_agrees"] = reply["cut"] == _cut(res)
    finally:
        if worker is not None:
            worker.close()
    assert not (ROOT / "__pyphi_cache__").exists()

    rows = []
    for s in specs:
        name = s["name"]
        h = statistics.median(hal9_s[name])
        p = statistics.median(pyphi_s[name]) if pyphi_s[name] else None
        rows.append(
            {
                "network": name,
                "kind": s["kind"],
                "density": s["density"],
                "seed": s["seed"],
                "edges": s["edges"],
                "state": s["state"],
                "hal9_median_s": h,
                "hal9_s": hal9_s[name],
                "pyphi_median_s": p,
                "pyphi_s": pyphi_s[name],
                "ratio_pyphi_over_hal9": p / h if p is not None else None,
                **phis[name],
            }
        )
    ratios = [r["ratio_pyphi_over_hal9"] for r in rows if r["ratio_pyphi_over_hal9"] is not None]
    info["networks"] = rows
    info["ratio_min"] = min(ratios) if ratios else None
    info["ratio_median"] = statistics.median(ratios) if ratios else None
    benchmark.extra_info.update(info)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    warning = _record("vs_pyphi_5_nodes", info, code)

    lines = [
        f"\nexact IIT 3.0 sia, 5 nodes, medians of {ROUNDS} interleaved rounds (hal9 in-process, 1 thread; "
        + (
            f"PyPhi 1.2.0 in a worker, PARALLEL_CUT_EVALUATION={parallel})"
            if worker is not None
            else "PyPhi skipped)"
        ),
        _hardware_line(),
        f"{'network':<22} {'edges':>5} {'Φ':>9} {'hal9 ms':>9} {'PyPhi s':>9} {'PyPhi/hal9':>11} "
        f"{'cut =':>5}",
    ]
    for r in rows:
        p, q = r["pyphi_median_s"], r["ratio_pyphi_over_hal9"]
        lines.append(
            f"{r['network']:<22} {r['edges']:>5} {r['hal9_phi']:>9.6f} {r['hal9_median_s'] * 1e3:>9.1f} "
            f"{'—' if p is None else f'{p:.2f}':>9} {_times(q):>11} "
            f"{r.get('cut_agrees', '—')!s:>5}"
        )
    if ratios:
        med = statistics.median(ratios)
        lines.append(f"ratio PyPhi/hal9 over networks: min {_times(min(ratios))}, median {_times(med)}")
    cold = info["hal9_cold_in_process"]
    lines.append(f"hal9 first call in this process (cold, {cold['network']}): {cold['seconds']:.2f} s")
    if worker is not None:
        pc = info["pyphi_parallel_cut_evaluation"]
        lines.append(
            f"PyPhi first call in a fresh worker ({info['pyphi_cold_in_fresh_worker']['network']}): "
            f"{info['pyphi_cold_in_fresh_worker']['seconds']:.2f} s"
        )
        per_net = ", ".join(
            f"{k} {v['serial_s']:.2f}/{v['parallel_s']:.2f}" for k, v in pc["per_network"].items()
        )
        lines.append(
            "PyPhi PARALLEL_CUT_EVALUATION, one round on the sparse networks: serial "
            f"{pc['serial_total_s']:.2f} s, parallel {pc['parallel_total_s']:.2f} s -> {pc['faster']} "
            f"is faster (serial/parallel s: {per_net})"
        )
    lines.append(f"written to {OUT}")
    _say(capsys, *lines, *([warning] if warning else []))


# ------------------------------------------------------------------------------------------------------------
# 5-7 nodes: hal9 alone, time and peak memory per fresh process
# ------------------------------------------------------------------------------------------------------------

#: Program of the scaling subprocesses (this interpreter). Without input it only imports (the RSS baseline);
#: given ``{"tpm", "cm", "state", "rounds", "fast_s"}`` it times a cold call, then warm calls, one line each.
_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import torch
torch.set_num_threads(1)
from hal9.metrics.iit import IITNetwork, sia
import_s = time.perf_counter() - t0
def emit(**kw):
    kw["ru_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    kw["peak_mib"] = kw["ru_maxrss_mib"]
    try:  # VmHWM: the peak RSS of this process image only (ru_maxrss inherits the parent's)
        with open("/proc/self/status") as f:
            kw["peak_mib"] = [int(x.split()[1]) / 1024.0 for x in f if x.startswith("VmHWM:")][0]
    except (OSError, IndexError):
        pass
    print(json.dumps(kw), flush=True)
emit(event="imported", import_s=import_s)
line = sys.stdin.readline()
if line.strip():
    req = json.loads(line)
    net = IITNetwork.from_tpm(torch.tensor(req["tpm"], dtype=torch.float64), req["cm"])
    calls = 1 + req["rounds"]
    i = 0
    while i < calls:
        t = time.perf_counter()
        res = sia(net, req["state"])
        s = time.perf_counter() - t
        emit(event="call", i=i, seconds=s, phi=res.phi, counts=res.counts)
        if i == 0 and req["fast_s"] is not None and s >= req["fast_s"]:
            calls = 2
        i += 1
"""


def _run_child(spec: Json | None, rounds: int, fast_s: float | None) -> Json:
    """Run :data:`_CHILD` once; return its events, and whether it was stopped at the time limit."""
    payload = "" if spec is None else json.dumps({**spec, "rounds": rounds, "fast_s": fast_s}) + "\n"
    timed_out = False
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=payload.encode(),
            capture_output=True,
            cwd=ROOT,
            env={**os.environ, **WORKER_ENV},
            timeout=SUBPROCESS_TIMEOUT_S,
        )
        out, err = proc.stdout, proc.stderr
        assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    except subprocess.TimeoutExpired as exc:
        timed_out = True
        out = exc.stdout if isinstance(exc.stdout, bytes) else (exc.stdout or "").encode()
    events = [json.loads(x) for x in out.decode().splitlines() if x.strip()]
    return {"events": events, "timed_out": timed_out}


def test_bench_iit_scaling(benchmark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code = _code_state()
    by_name = {s["name"]: s for s in _reference(5)}
    specs = [by_name["det5_s5000"], by_name["noisy5_s5100"]]
    for n in (6, 7):
        for kind in ("deterministic", "noisy"):
            specs.append(random_network(n, kind, "sparse", 1000 * n + 100 * (kind == "noisy")))
    base = _run_child(None, 0, None)["events"][0]
    baseline_mib = base["peak_mib"]
    rows = []
    for s in specs:
        rounds = ROUNDS
        fast_s = FAST_COLD_S if s["n"] >= 7 else None
        run = _run_child(s, rounds, fast_s)
        calls = [e for e in run["events"] if e["event"] == "call"]
        imported = [e for e in run["events"] if e["event"] == "imported"]
        warm = [c["seconds"] for c in calls[1:]]
        peak = max((e["peak_mib"] for e in run["events"]), default=None)
        if s["ref_phi"] is not None and calls:
            assert abs(calls[0]["phi"] - s["ref_phi"]) <= PHI_TOL, (s["name"], calls[0]["phi"])
        rows.append(
            {
                "network": s["name"],
                "n": s["n"],
                "kind": s["kind"],
                "seed": s["seed"],
                "edges": s["edges"],
                "state": s["state"],
                "phi": calls[0]["phi"] if calls else None,
                "counts": calls[-1]["counts"] if calls else None,
                "import_s": imported[0]["import_s"] if imported else None,
                "cold_s": calls[0]["seconds"] if calls else None,
                "warm_s": warm,
                "warm_median_s": statistics.median(warm) if warm else None,
                "peak_rss_mib": peak,
                "ru_maxrss_mib": max((e["ru_maxrss_mib"] for e in run["events"]), default=None),
                "growth_over_baseline_mib": None if peak is None else peak - baseline_mib,
                "timed_out": run["timed_out"],
                "time_limit_s": SUBPROCESS_TIMEOUT_S,
            }
        )
    growth: dict[int, float] = {}
    for n in sorted({r["n"] for r in rows}):
        g = [r["growth_over_baseline_mib"] for r in rows if r["n"] == n and r["growth_over_baseline_mib"]]
        if g:
            growth[n] = statistics.fmean(g)
    factors = {f"{n}->{n + 1}": growth[n + 1] / growth[n] for n in growth if n + 1 in growth}
    info: Json = {
        "rounds": ROUNDS,
        "baseline_rss_mib": baseline_mib,
        "baseline_ru_maxrss_mib": base["ru_maxrss_mib"],
        "parent_ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "baseline_import_s": base["import_s"],
        "networks": rows,
        "mean_growth_mib_by_n": growth,
        "growth_factor_per_node": factors,
    }
    benchmark.extra_info.update(info)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    warning = _record("hal9_scaling", info, code)

    lines = [
        "\nhal9 exact IIT 3.0 sia in fresh subprocesses (1 torch thread): cold call, then median of warm "
        "calls; "
        f"peak RSS (VmHWM) vs {baseline_mib:.0f} MiB for importing torch + hal9.metrics.iit "
        f"({base['import_s']:.2f} s)",
        _hardware_line(),
        f"{'network':<24} {'n':>2} {'edges':>5} {'Φ':>9} {'import s':>8} {'cold s':>8} {'warm s':>8} "
        f"{'calls':>5} {'peak MiB':>9} {'+MiB':>7}",
    ]
    for r in rows:
        phi, cold, wm = r["phi"], r["cold_s"], r["warm_median_s"]
        lines.append(
            f"{r['network']:<24} {r['n']:>2} {r['edges']:>5} {'—' if phi is None else f'{phi:.6f}':>9} "
            f"{r['import_s'] or 0:>8.2f} {'—' if cold is None else f'{cold:.2f}':>8} "
            f"{'—' if wm is None else f'{wm:.2f}':>8} {len(r['warm_s']):>5} "
            f"{r['peak_rss_mib'] or 0:>9.0f} {r['growth_over_baseline_mib'] or 0:>7.0f}"
            + (f"  STOPPED after {SUBPROCESS_TIMEOUT_S:.0f} s" if r["timed_out"] else "")
        )
    lines.append(
        "mean RSS growth over the baseline: "
        + ", ".join(f"{n} nodes {g:.0f} MiB" for n, g in growth.items())
        + "; per node: "
        + ", ".join(f"{k} x{v:.1f}" for k, v in factors.items())
    )
    lines.append(f"written to {OUT}")
    _say(capsys, *lines, *([warning] if warning else []))
