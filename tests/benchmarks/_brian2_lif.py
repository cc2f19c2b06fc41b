"""hal9's LIF network in Brian2, run in a worker process: the reference of ``test_bench_spiking.py``.

Why a worker process
--------------------
Brian2 2.9 (the last release for Python 3.11) does not import with NumPy ≥ 2.4 (``np.ndarray.ptp`` is
gone), and Brian2 ≥ 2.10 needs Python ≥ 3.12. So Brian2 runs under its own interpreter —
``$HAL9_BRIAN2_PYTHON``, else this interpreter when it can import Brian2 — with nothing but NumPy and
Brian2: :class:`Brian2LIF` (the client, hal9's side) writes the network to an ``.npz`` file, starts
``python _brian2_lif.py DIR`` and sends it one JSON line per command; this file, run as a script, builds
the Brian2 network once and answers each ``run`` command with its timings and spike counts.

The model: exactly hal9's step (:func:`hal9.core.neurons.lif.lif_step`)
-----------------------------------------------------------------------
hal9, at step ``t`` (``α = dt/τ_m``, ``s_{t−1}`` the spikes of the previous step, ``x_t = inputs[t]``)::

    non-refractory:  v ← v + α (v_rest − v + Σ_j W_ij s_j,t−1 + x_t + b);  spike if v ≥ v_th
    spike:           v ← v_reset, clamped (input ignored) for the next R = round(refractory/dt) steps

Brian2 (``NeuronGroup`` + ``Synapses`` with ``on_pre``), per time step::

    groups:      dv/dt = (v_rest − v + b)/τ_m (unless refractory), forward Euler
                 → v ← v + α (v_rest − v + b)
    synapses:    on_pre  v_post += α w   for each spike of step t−1 (recurrent, w = W_ij)
                 on_pre  v_post += α a   for each input event of step t (a = the input amplitude)
    thresholds:  v ≥ v_th and not_refractory
    resets:      v ← v_reset; nspk += 1

Differences in sequencing, and how they are removed:

* Brian2's default schedule runs ``synapses`` *after* ``thresholds``: the increment of step ``t−1``
  would then be decayed by ``(1 − α)`` in step ``t``'s Euler update before being compared with the
  threshold (a synaptic efficacy 5 % lower at τ_m = 20 dt). The network's schedule is therefore
  ``start, groups, synapses, thresholds, resets, end``: the increment lands after the leak and before
  the threshold, as in hal9 (sum of the same terms; only the rounding order differs).
* hal9 clamps a refractory neuron at ``v_reset`` and ignores its input. In Brian2 ``(unless
  refractory)`` makes ``v`` conditionally written, which also gates the ``on_pre`` writes to ``v``
  (verified: the float64 spike trains are identical, ``test_brian2_spike_trains_equal_hal9``).
  Brian2's ``not_refractory`` is ``timestep(t − lastspike) ≥ timestep(refractory)``, so
  ``refractory = (R + 1) dt`` clamps the ``R`` steps after a spike, as hal9 does.
* hal9 adds ``inputs[t]`` to the drive of step ``t``. A ``SpikeGeneratorGroup`` event emitted at step
  ``t − 1`` (thresholds slot) is delivered in the synapses slot of step ``t``, so an input event of
  step ``t`` is emitted at time ``(t − 1) dt``; the inputs must therefore be ``{0, a}``-valued with
  ``inputs[0] = 0`` (:func:`input_events` checks it).

What is timed: ``wall_s`` is the whole ``Network.run(T dt)`` call on a network restored (``restore``)
to its initial state after a first, untimed run that generated and compiled the code (Brian2 still
re-runs its code generation front end, ~0.5 s, in every ``run``); ``loop_s`` is Brian2's own time of
its main loop (``device._last_run_time``), without that per-call set-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["Brian2LIF", "Brian2Run", "LIFSpec", "brian2_python", "input_events"]

_MARK = "@@hal9-brian2@@ "
_TARGETS = ("cython", "numpy")
_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class LIFSpec:
    """Scalar LIF parameters in hal9's units (``dt``, ``tau_mem`` in the same time unit; Brian2 maps
    that unit to 1 ms). ``refractory_steps`` is hal9's ``R`` (``LIFParams.refractory_steps``)."""

    tau_mem: float
    v_rest: float
    v_reset: float
    v_th: float
    bias: float
    refractory_steps: int
    dt: float

    def __post_init__(self) -> None:
        for name in ("tau_mem", "dt"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        for name in ("v_rest", "v_reset", "v_th", "bias"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)!r}")
        if self.v_th <= self.v_reset:
            raise ValueError(f"v_th ({self.v_th}) must be greater than v_reset ({self.v_reset})")
        if isinstance(self.refractory_steps, bool) or self.refractory_steps < 0:
            raise ValueError(f"refractory_steps must be a non-negative int, got {self.refractory_steps!r}")


@dataclass(frozen=True)
class Brian2Run:
    """One Brian2 run: ``wall_s`` (whole ``run()`` call, s), ``loop_s`` (Brian2's main loop only, s),
    ``layer_counts`` (spikes per layer over the run), and, when the worker records, ``spike_steps`` and
    ``spike_neurons`` (``(n_spikes,)`` int arrays: step index and neuron index of every spike)."""

    wall_s: float
    loop_s: float
    layer_counts: tuple[int, ...]
    spike_steps: np.ndarray | None = None
    spike_neurons: np.ndarray | None = None


def input_events(inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Input events of a ``(T, n_1)`` array whose entries are all 0 or one amplitude ``a``.

    Returns ``(steps, neurons, a)``: the step ``t`` and L1 neuron ``i`` of every nonzero entry, in
    ``(t, i)`` order, and ``a`` (``0.0`` when there is no event). Brian2 emits the event of step ``t`` at
    time ``(t − 1) dt`` (see the module notes), so ``inputs[0]`` must be zero.

    Raises
    ------
    ValueError
        ``inputs`` not 2-D, not finite, with two different nonzero values, or nonzero at step 0.
    """
    x = np.asarray(inputs)
    if x.ndim != 2:
        raise ValueError(f"inputs must be a (T, n_1) array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("inputs contains NaN or Inf")
    steps, neurons = np.nonzero(x)
    if steps.size == 0:
        return steps.astype(np.int64), neurons.astype(np.int64), 0.0
    values = np.unique(x[steps, neurons])
    if values.size != 1:
        raise ValueError(
            f"inputs must take one nonzero value (the amplitude), got {values.size}: {values[:4].tolist()}…"
        )
    if steps[0] == 0:
        raise ValueError("inputs[0] must be zero: Brian2 delivers an input event one step after emitting it")
    return steps.astype(np.int64), neurons.astype(np.int64), float(values[0])


def _can_import_brian2(python: str) -> bool:
    try:
        out = subprocess.run(
            [python, "-c", "import brian2, Cython"], capture_output=True, timeout=120, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0


def brian2_python() -> str | None:
    """The interpreter that runs Brian2: ``$HAL9_BRIAN2_PYTHON``, else this one; ``None`` when it cannot
    import ``brian2`` and ``Cython``."""
    python = os.environ.get("HAL9_BRIAN2_PYTHON") or sys.executable
    return python if _can_import_brian2(python) else None


class Brian2LIF:
    """A Brian2 copy of a hal9 LIF hierarchy, built once in a worker process; ``run()`` runs it again
    from its initial state.

    Parameters
    ----------
    pre, post, weight : np.ndarray
        ``(nnz,)`` synapses ``pre → post`` with weight ``W[post, pre]`` (hal9's CSR row is ``post``).
    sizes : tuple of int
        Layer sizes; neurons ``0..sizes[0]−1`` form L1, which receives the inputs.
    spec : LIFSpec
    inputs : np.ndarray
        ``(T, n_1)`` input of every step (0 or one amplitude, ``inputs[0] = 0``); ``T`` is the run length.
    python : str
        Interpreter with Brian2 (:func:`brian2_python`).
    target : {"cython", "numpy"}
        Brian2's code generation target (``prefs.codegen.target``).
    dtype : {"float32", "float64"}
        ``prefs.core.default_float_dtype``.
    record : bool
        Add a ``SpikeMonitor`` and return every spike (for the exactness test; not for timing).
    """

    def __init__(
        self,
        *,
        pre: np.ndarray,
        post: np.ndarray,
        weight: np.ndarray,
        sizes: tuple[int, ...],
        spec: LIFSpec,
        inputs: np.ndarray,
        python: str,
        target: str = "cython",
        dtype: str = "float32",
        record: bool = False,
    ) -> None:
        if target not in _TARGETS:
            raise ValueError(f"target must be one of {_TARGETS}, got {target!r}")
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
        n = int(sum(sizes))
        if not (pre.shape == post.shape == weight.shape and pre.ndim == 1):
            raise ValueError(
                f"pre, post, weight must be (nnz,) arrays, got {pre.shape}, {post.shape}, {weight.shape}"
            )
        if pre.size and (min(pre.min(), post.min()) < 0 or max(pre.max(), post.max()) >= n):
            raise ValueError(f"pre and post must be neuron indices in 0..{n - 1}")
        if inputs.ndim != 2 or inputs.shape[1] != sizes[0]:
            raise ValueError(f"inputs must be (T, {sizes[0]}), got {inputs.shape}")
        ev_steps, ev_neurons, amplitude = input_events(inputs)
        self._dir = tempfile.TemporaryDirectory(prefix="hal9-brian2-")
        order = np.lexsort((post, pre))  # synapses grouped by presynaptic neuron, as Brian2 queues them
        np.savez(
            Path(self._dir.name) / "net.npz",
            pre=pre[order].astype(np.int32),
            post=post[order].astype(np.int32),
            weight=weight[order].astype(np.float64),
            ev_steps=ev_steps.astype(np.int32),
            ev_neurons=ev_neurons.astype(np.int32),
        )
        config = {
            "sizes": [int(s) for s in sizes],
            "spec": asdict(spec),
            "amplitude": amplitude,
            "steps": int(inputs.shape[0]),
            "target": target,
            "dtype": dtype,
            "record": record,
        }
        (Path(self._dir.name) / "config.json").write_text(json.dumps(config))
        self._stderr: IO[str] = open(Path(self._dir.name) / "stderr.log", "w+")
        self._proc = subprocess.Popen(
            [python, str(Path(__file__).resolve()), self._dir.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
        )
        try:
            built = self._ask({"cmd": "build"})
        except BaseException:
            self.close()
            raise
        #: seconds to build the Brian2 objects (``Synapses.connect`` etc.), measured in the worker
        self.build_s: float = float(built["build_s"])
        #: Brian2's version in the worker
        self.version: str = str(built["version"])

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(command) + "\n")
        self._proc.stdin.flush()
        for line in self._proc.stdout:
            if line.startswith(_MARK):
                reply: dict[str, Any] = json.loads(line[len(_MARK) :])
                if "error" in reply:
                    raise RuntimeError(f"Brian2 worker failed: {reply['error']}\n{self._stderr_tail()}")
                return reply
        raise RuntimeError(f"Brian2 worker exited (status {self._proc.wait()})\n{self._stderr_tail()}")

    def _stderr_tail(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()[-4000:]

    def run(self) -> Brian2Run:
        """Restore the initial state and run ``T`` steps; timings and spike counts of that run."""
        reply = self._ask({"cmd": "run"})
        steps = neurons = None
        if reply.get("spikes"):
            with np.load(reply["spikes"]) as f:
                steps, neurons = f["steps"], f["neurons"]
        return Brian2Run(
            float(reply["wall_s"]), float(reply["loop_s"]), tuple(reply["layer_counts"]), steps, neurons
        )

    def close(self) -> None:
        """Stop the worker and remove its files."""
        if self._proc.poll() is None:
            try:
                self._ask({"cmd": "quit"})
            except (RuntimeError, OSError):
                pass
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                stream.close()
        self._stderr.close()
        self._dir.cleanup()

    def __enter__(self) -> Brian2LIF:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------------
# The worker: runs under the Brian2 interpreter (NumPy and Brian2 only; no torch, no hal9).


def _build(folder: Path) -> tuple[Any, Any, dict[str, Any], float]:
    """Build the Brian2 network described in ``folder``; returns ``(net, group, config, build_s)``."""
    import brian2 as b2

    config = json.loads((folder / "config.json").read_text())
    arrays = np.load(folder / "net.npz")
    spec = LIFSpec(**config["spec"])
    b2.prefs.codegen.target = config["target"]
    b2.prefs.core.default_float_dtype = getattr(np, config["dtype"])
    t0 = time.perf_counter()
    dt = spec.dt * b2.ms
    b2.defaultclock.dt = dt  # one clock for every object: Brian2's single-clock main loop
    alpha = spec.dt / spec.tau_mem
    namespace = {
        "tau_m": spec.tau_mem * b2.ms,
        "v_rest": spec.v_rest,
        "v_reset": spec.v_reset,
        "v_th": spec.v_th,
        "bias": spec.bias,
        "alpha": alpha,
        "a_in": config["amplitude"],
    }
    sizes = config["sizes"]
    group = b2.NeuronGroup(
        int(sum(sizes)),
        "dv/dt = (v_rest - v + bias) / tau_m : 1 (unless refractory)\nnspk : integer",
        threshold="v >= v_th",
        reset="v = v_reset\nnspk += 1",
        refractory=(spec.refractory_steps + 1) * dt,
        method="euler",
        namespace=namespace,
    )
    group.v = spec.v_rest
    recurrent = b2.Synapses(group, group, "w : 1", on_pre="v_post += alpha * w", namespace=namespace)
    recurrent.connect(i=arrays["pre"], j=arrays["post"])
    recurrent.w = arrays["weight"]
    objects: list[Any] = [group, recurrent]
    if arrays["ev_steps"].size:
        source = b2.SpikeGeneratorGroup(
            sizes[0], arrays["ev_neurons"], (arrays["ev_steps"] - 1) * dt, sorted=True
        )
        feed = b2.Synapses(source, group, on_pre="v_post += alpha * a_in", namespace=namespace)
        feed.connect(j="i")
        objects += [source, feed]
    monitor = b2.SpikeMonitor(group) if config["record"] else None
    if monitor is not None:
        objects.append(monitor)
    net = b2.Network(*objects)
    # synaptic increments after the leak and before the threshold, as in hal9 (module notes)
    net.schedule = ["start", "groups", "synapses", "thresholds", "resets", "end"]
    net.store("initial")
    build_s = time.perf_counter() - t0
    config["_monitor"] = monitor
    return net, group, config, build_s


def _serve(folder: Path, stdin: IO[str], stdout: IO[str]) -> None:
    import brian2 as b2

    net = group = None
    config: dict[str, Any] = {}

    def reply(obj: dict[str, Any]) -> None:
        stdout.write(_MARK + json.dumps(obj) + "\n")
        stdout.flush()

    for line in stdin:
        command = json.loads(line)
        try:
            if command["cmd"] == "build":
                net, group, config, build_s = _build(folder)
                reply({"build_s": build_s, "version": b2.__version__})
            elif command["cmd"] == "run":
                assert net is not None and group is not None
                net.restore("initial")
                t0 = time.perf_counter()
                net.run(config["steps"] * config["spec"]["dt"] * b2.ms)
                wall_s = time.perf_counter() - t0
                counts = np.asarray(group.nspk[:], dtype=np.int64)
                offsets = np.cumsum([0, *config["sizes"][:-1]])
                out: dict[str, Any] = {
                    "wall_s": wall_s,
                    "loop_s": float(b2.get_device()._last_run_time),
                    "layer_counts": np.add.reduceat(counts, offsets).tolist(),
                }
                monitor = config["_monitor"]
                if monitor is not None:
                    path = folder / "spikes.npz"
                    dt_s = config["spec"]["dt"] * 1e-3
                    steps = np.round(np.asarray(monitor.t[:] / b2.second) / dt_s).astype(np.int64)
                    np.savez(path, steps=steps, neurons=np.asarray(monitor.i[:], dtype=np.int64))
                    out["spikes"] = str(path)
                reply(out)
            elif command["cmd"] == "quit":
                reply({})
                return
            else:
                reply({"error": f"unknown command {command['cmd']!r}"})
        except Exception as exc:  # reported to the client, which raises with the worker's stderr
            reply({"error": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    _serve(Path(sys.argv[1]), sys.stdin, sys.stdout)
