"""Run a sweep on Ray: trials as Ray tasks, retried when their worker dies, each an MLflow child run
under the sweep's parent run, resumable from the sweep folder.

The driver (this process) expands the config, submits one Ray task per unfinished trial with the
config's resources, and as each finishes writes ``<out>/<name>/trials/<id>.json`` and logs the trial's
child run (params, metrics, artifacts, tags ``hal9.trial_id`` and ``hal9.node``). A task whose worker
process or node dies (``WorkerCrashedError``, ``NodeDiedError``, …) is submitted again, up to
``max_attempts``; Ray's own task retries are off, so the driver counts every retry. An error raised by
the recipe fails the trial (its message kept) without stopping the sweep.

Resume (``resume=True``, ``hal9 sweep --resume``) reads ``sweep.json`` (the config, which must be the
same, and the parent run id), counts a trial finished when its JSON says so or when the parent already
has a FINISHED child run for it (the driver died between the two writes: the result is adopted from
MLflow, not run again), and runs only the rest.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

from hal9.experiments.sweep.aggregate import AggregateRow, aggregate, draw_aggregate, write_aggregate
from hal9.experiments.sweep.config import SweepConfig, Trial, expand_trials
from hal9.experiments.sweep.recipes import SweepRecipe, get_recipe

__all__ = ["SweepSummary", "TrialRecord", "run_sweep"]

#: Object store of the Ray instance a sweep starts itself (small trials exchange small results).
_LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024


class TrialRecord(TypedDict, total=False):
    """One trial's outcome, as written to ``trials/<id>.json``."""

    id: str
    index: int
    params: dict[str, Any]
    seed: int
    status: str  # "done" or "failed"
    metrics: dict[str, float]
    attempts: int
    node: str
    hostname: str
    pid: int
    device: str
    wall_s: float
    error: str
    child_run_id: str | None


class SweepSummary(TypedDict):
    """What :func:`run_sweep` did (JSON-ready)."""

    name: str
    recipe: str
    planned: int
    done: int
    failed: int
    retried: int
    skipped: int
    ran: int
    wall_s: float
    sweep_dir: str
    parent_run_id: str | None
    tracking_uri: str | None
    ray: dict[str, Any]
    trials: list[TrialRecord]
    aggregate: list[AggregateRow]


def _execute(
    recipe: SweepRecipe, config: dict[str, Any], trial_id: str, attempt: int, cpus: float
) -> dict[str, Any]:
    """Run one trial in a Ray worker; returns metrics, artifacts and where it ran."""
    import ray
    import torch

    from hal9.experiments.sweep.recipes import TrialContext

    t0 = time.perf_counter()
    threads = max(1, int(cpus))
    torch.set_num_threads(threads)
    device = "cuda" if ray.get_gpu_ids() else "cpu"
    out = recipe.run(
        recipe.config_type.model_validate(config),
        TrialContext(device=device, threads=threads, trial_id=trial_id, attempt=attempt),
    )
    metrics = {str(k): float(v) for k, v in out["metrics"].items()}
    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
    if bad:
        raise ValueError(f"recipe {recipe.name!r} returned non-finite metrics: {bad}")
    return {
        "metrics": metrics,
        "artifacts": dict(out["artifacts"]),
        "node": ray.get_runtime_context().get_node_id(),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "device": device,
        "wall_s": time.perf_counter() - t0,
    }


def _config_hash(config: SweepConfig) -> str:
    import hashlib

    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def _retriable(exc: BaseException) -> bool:
    """A failure of the worker, its node or the object store (not of the recipe's code)."""
    import ray.exceptions as rex

    if isinstance(exc, rex.RayTaskError):
        return False
    names = ("WorkerCrashedError", "NodeDiedError", "ObjectLostError", "OutOfMemoryError", "RaySystemError")
    kinds = tuple(getattr(rex, n) for n in names if hasattr(rex, n))
    return isinstance(exc, kinds)


def _error_text(exc: BaseException) -> str:
    import ray.exceptions as rex

    if isinstance(exc, rex.RayTaskError):
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        return f"{type(cause).__name__}: {cause}".splitlines()[0][:500]
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:500]


def _start_ray(address: str | None) -> tuple[bool, str]:
    """Connect to ``address`` (or ``$RAY_ADDRESS``), or start a local Ray with this machine's cores;
    returns (whether this call started it, the address)."""
    import ray

    if ray.is_initialized():
        return False, str(ray.get_runtime_context().gcs_address)
    target = address or os.environ.get("RAY_ADDRESS") or None
    common: dict[str, Any] = {
        "include_dashboard": False,
        "configure_logging": False,
        "log_to_driver": False,
    }
    if target is None:
        ctx = ray.init(
            num_cpus=os.cpu_count() or 1,
            object_store_memory=_LOCAL_OBJECT_STORE_BYTES,
            _node_ip_address="127.0.0.1",  # a local sweep listens on loopback only
            **common,
        )
    else:
        ctx = ray.init(address=target, **common)
    info = getattr(ctx, "address_info", {})
    return True, str(info.get("gcs_address", target or "local"))


def run_sweep(
    config: SweepConfig,
    *,
    out: Path = Path("outputs/sweeps"),
    resume: bool = False,
    address: str | None = None,
    tracking_uri: str | None = None,
    mlflow: bool = True,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> SweepSummary:
    """Run every unfinished trial of ``config`` on Ray and log them to MLflow.

    Parameters
    ----------
    config : SweepConfig
        The sweep.
    out : Path
        Parent of the sweep folder ``out / config.name`` (state, trial results, aggregate, figure).
    resume : bool
        Continue the sweep in that folder (same config required); without it the folder must not hold
        a sweep yet.
    address : str or None
        Ray cluster to use (``host:port``); ``None``: ``$RAY_ADDRESS``, else a local Ray started here
        with this machine's cores (and stopped at the end). A Ray already initialised in this process
        is used as it is.
    tracking_uri : str or None
        MLflow backend (default: the environment or ``./mlflow.db``); ``mlflow=False``: no runs.
    progress : bool
        One progress bar over the trials.
    log : callable or None
        Receives one line per trial event (finished, retried, failed); default: none.

    Returns
    -------
    SweepSummary
        Counts (planned, done, failed, retried, skipped as already finished, ran now), wall time, the
        trial records, the aggregate per parameter point, the parent run id.

    Raises
    ------
    ValueError
        A bad config (a trial that does not validate), a folder that holds another sweep, or a resume
        with nothing to resume or a changed config.
    """
    import ray

    from hal9.tracking import child_runs, start_run

    say = log or (lambda _line: None)
    trials = expand_trials(config)
    folder = Path(out) / config.name
    state_path = folder / "sweep.json"
    trial_dir = folder / "trials"
    parent_id: str | None = None
    uri: str | None = None
    if resume:
        if not state_path.exists():
            raise ValueError(f"nothing to resume: {state_path} does not exist")
        state = json.loads(state_path.read_text())
        if state["config_hash"] != _config_hash(config):
            raise ValueError(f"the config differs from the one {folder} was started with (resume needs it)")
        parent_id, uri = state.get("parent_run_id"), state.get("tracking_uri")
    elif state_path.exists():
        raise ValueError(f"{folder} holds a sweep already: pass resume=True (--resume) or another name/out")
    trial_dir.mkdir(parents=True, exist_ok=True)

    parent = None
    if mlflow:
        parent = start_run(
            config.experiment,
            config=config,
            run_name=config.name,
            tracking_uri=uri or tracking_uri,
            tags={"hal9.sweep": config.name, "hal9.sweep_dir": str(folder.resolve())},
            run_id=parent_id,
        )
        parent_id, uri = parent.run_id, parent.tracking_uri
    if not resume:
        _write_json(
            state_path,
            {
                "config": config.model_dump(mode="json"),
                "config_hash": _config_hash(config),
                "parent_run_id": parent_id,
                "tracking_uri": uri,
                "created": time.time(),
            },
        )

    records: dict[str, TrialRecord] = {}
    for t in trials:
        path = trial_dir / f"{t.id}.json"
        if path.exists():
            found: TrialRecord = json.loads(path.read_text())
            if found.get("status") == "done":
                records[t.id] = found
    if resume and parent_id is not None and parent is not None and not parent.is_fallback:
        by_id = {t.id: t for t in trials}
        for child in child_runs(parent_id, tracking_uri=uri):
            tid = child["tags"].get("hal9.trial_id")
            if child["status"] == "RUNNING" and tid in by_id:
                # cut off when the driver died while logging it: closed, the trial runs again
                start_run(config.experiment, run_id=child["run_id"], tracking_uri=uri).end("KILLED")
                continue
            if child["status"] == "FINISHED" and tid in by_id and tid not in records:
                t = by_id[tid]
                adopted: TrialRecord = {
                    "id": t.id,
                    "index": t.index,
                    "params": t.params,
                    "seed": t.seed,
                    "status": "done",
                    "metrics": child["metrics"],
                    "attempts": int(child["tags"].get("hal9.attempts", "1")),
                    "node": child["tags"].get("hal9.node", ""),
                    "child_run_id": child["run_id"],
                }
                _write_json(trial_dir / f"{t.id}.json", adopted)
                records[t.id] = adopted
    skipped = len(records)
    todo = [t for t in trials if t.id not in records]

    t_start = time.perf_counter()
    started, ray_address = _start_ray(address) if todo else (False, "")
    retried = failed = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(trials), initial=skipped, desc=f"sweep {config.name}", unit="trial")
    try:
        res = config.resources
        options: dict[str, Any] = {
            "num_cpus": res.cpus,
            "num_gpus": res.gpus,
            "max_retries": 0,
            "retry_exceptions": False,
        }
        if res.memory_mb is not None:
            options["memory"] = res.memory_mb * 1024 * 1024
        remote = ray.remote(_execute).options(**options) if todo else None
        recipe = get_recipe(config.recipe)  # sent by value: workers import its module, not a registry
        pending: dict[Any, tuple[Trial, int]] = {}
        rec: TrialRecord

        def submit(trial: Trial, attempt: int) -> None:
            assert remote is not None
            ref = remote.remote(recipe, trial.config, trial.id, attempt, res.cpus)
            pending[ref] = (trial, attempt)

        for t in todo:
            submit(t, 1)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                trial, attempt = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:
                    again = attempt < config.max_attempts and (_retriable(exc) or config.retry_errors)
                    text = _error_text(exc)
                    if again:
                        retried += 1
                        say(f"trial {trial.index} ({trial.id}) attempt {attempt} failed, retrying: {text}")
                        submit(trial, attempt + 1)
                        continue
                    failed += 1
                    rec = {
                        "id": trial.id,
                        "index": trial.index,
                        "params": trial.params,
                        "seed": trial.seed,
                        "status": "failed",
                        "metrics": {},
                        "attempts": attempt,
                        "error": text,
                    }
                    rec["child_run_id"] = _log_child(config, trial, rec, {}, parent_id, uri, trial_dir)
                    _write_json(trial_dir / f"{trial.id}.json", rec)
                    say(f"trial {trial.index} ({trial.id}) FAILED after {attempt} attempt(s): {text}")
                else:
                    rec = {
                        "id": trial.id,
                        "index": trial.index,
                        "params": trial.params,
                        "seed": trial.seed,
                        "status": "done",
                        "metrics": result["metrics"],
                        "attempts": attempt,
                        "node": result["node"],
                        "hostname": result["hostname"],
                        "pid": result["pid"],
                        "device": result["device"],
                        "wall_s": result["wall_s"],
                    }
                    rec["child_run_id"] = _log_child(
                        config, trial, rec, result["artifacts"], parent_id, uri, trial_dir
                    )
                    _write_json(trial_dir / f"{trial.id}.json", rec)
                    records[trial.id] = rec
                    say(
                        f"trial {trial.index} ({trial.id}) done in {result['wall_s']:.2f} s on "
                        f"{result['hostname']} pid {result['pid']}"
                        + (f" after {attempt} attempts" if attempt > 1 else "")
                    )
                if bar is not None:
                    bar.update(1)
        nodes = sorted({r.get("node", "") for r in records.values() if r.get("node")})
        ray_info = {"address": ray_address, "started_here": started, "nodes_used": nodes}
    finally:
        if bar is not None:
            bar.close()
        if started:
            ray.shutdown()
    wall = time.perf_counter() - t_start

    done_records = [records[t.id] for t in trials if t.id in records]
    rows = aggregate(done_records)
    artifacts = write_aggregate(rows, folder)
    names = sorted({k for r in done_records for k in r["metrics"]})
    figure = draw_aggregate(rows, names, folder / "aggregate.png")
    summary: SweepSummary = {
        "name": config.name,
        "recipe": config.recipe,
        "planned": len(trials),
        "done": len(done_records),
        "failed": failed,
        "retried": retried,
        "skipped": skipped,
        "ran": len(todo),
        "wall_s": wall,
        "sweep_dir": str(folder),
        "parent_run_id": parent_id,
        "tracking_uri": uri,
        "ray": ray_info,
        "trials": done_records + [_failed_record(trial_dir, t) for t in trials if t.id not in records],
        "aggregate": rows,
    }
    _write_json(folder / "summary.json", {k: v for k, v in summary.items() if k != "trials"})
    if parent is not None:
        parent.log_metrics(
            {
                "trials_planned": len(trials),
                "trials_done": len(done_records),
                "trials_failed": failed,
                "trials_retried": retried,
                "trials_skipped": skipped,
                "sweep_wall_s": wall,
            }
        )
        for path in [*artifacts, *([figure] if figure is not None else [])]:
            parent.log_artifact(path)
        parent.end("FINISHED" if len(done_records) == len(trials) else "FAILED")
    return summary


def _failed_record(trial_dir: Path, trial: Trial) -> TrialRecord:
    path = trial_dir / f"{trial.id}.json"
    if path.exists():
        rec: TrialRecord = json.loads(path.read_text())
        return rec
    rec = {"id": trial.id, "index": trial.index, "params": trial.params, "seed": trial.seed}
    return {**rec, "status": "failed"}  # type: ignore[typeddict-item]


def _log_child(
    config: SweepConfig,
    trial: Trial,
    rec: TrialRecord,
    artifacts: dict[str, bytes],
    parent_id: str | None,
    uri: str | None,
    trial_dir: Path,
) -> str | None:
    """The trial's MLflow child run (``None`` without MLflow)."""
    if parent_id is None:
        return None
    from hal9.tracking import start_run

    tags = {
        "hal9.sweep": config.name,
        "hal9.trial_id": trial.id,
        "hal9.trial_index": trial.index,
        "hal9.attempts": rec.get("attempts", 1),
        "hal9.node": rec.get("node", ""),
        "hal9.hostname": rec.get("hostname", ""),
        "hal9.sweep_params": json.dumps(trial.params, sort_keys=True),
    }
    if "error" in rec:
        tags["hal9.error"] = rec["error"]
    run = start_run(
        config.experiment,
        config=trial.config,
        run_name=f"{config.name}/{trial.index}",
        tags=tags,
        tracking_uri=uri,
        parent_run_id=parent_id,
    )
    try:
        if rec.get("metrics"):
            run.log_metrics(rec["metrics"])
        if artifacts:
            folder = trial_dir / trial.id
            folder.mkdir(parents=True, exist_ok=True)
            for name, data in artifacts.items():
                path = folder / Path(name).name
                path.write_bytes(data)
                run.log_artifact(path)
    finally:
        run.end("FINISHED" if rec["status"] == "done" else "FAILED")
    return run.run_id
