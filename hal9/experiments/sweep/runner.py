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
from hal9.experiments.sweep.config import SweepConfig, Trial, TrialResources, expand_trials
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


def _start_ray(address: str | None) -> tuple[bool, bool, str]:
    """Connect to ``address`` (or ``$RAY_ADDRESS``), or start a local Ray on loopback with the cores
    this process may use; returns (whether this call initialised Ray — then the caller shuts it down —,
    whether the Ray is a local one started here, its address). A Ray already initialised in this process
    is used as it is."""
    import ray

    if ray.is_initialized():
        return False, False, str(ray.get_runtime_context().gcs_address)
    target = address or os.environ.get("RAY_ADDRESS") or None
    common: dict[str, Any] = {
        "include_dashboard": False,
        "configure_logging": False,
        "log_to_driver": False,
    }
    if target is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        ctx = ray.init(
            num_cpus=cpus or 1,
            object_store_memory=_LOCAL_OBJECT_STORE_BYTES,
            _node_ip_address="127.0.0.1",  # a local sweep listens on loopback only
            **common,
        )
    else:
        ctx = ray.init(address=target, **common)
    info = getattr(ctx, "address_info", {})
    return True, target is None, str(info.get("gcs_address", target or "local"))


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
        A bad config (a trial that does not validate), a folder that holds another sweep, a resume with
        nothing to resume or a changed config, or trials that ask for more than a Ray started here has.
    ConnectionError
        A resume whose MLflow parent run cannot be reopened (backend unreachable, run gone): resuming
        without it could repeat finished trials.

    Notes
    -----
    If this call fails or is interrupted after the parent run started, the parent is ended KILLED
    (``KeyboardInterrupt``/``SystemExit``) or FAILED before the exception propagates; a Ray started
    here is always shut down.
    """
    from hal9.tracking import start_run

    say = log or (lambda _line: None)
    trials = expand_trials(config)
    folder = Path(out) / config.name
    state_path = folder / "sweep.json"
    trial_dir = folder / "trials"
    state: dict[str, Any] = {}
    if resume:
        if not state_path.exists():
            raise ValueError(f"nothing to resume: {state_path} does not exist")
        state = json.loads(state_path.read_text())
        if state["config_hash"] != _config_hash(config):
            raise ValueError(f"the config differs from the one {folder} was started with (resume needs it)")
    elif state_path.exists():
        raise ValueError(f"{folder} holds a sweep already: pass resume=True (--resume) or another name/out")
    trial_dir.mkdir(parents=True, exist_ok=True)

    parent = None
    parent_id: str | None = state.get("parent_run_id") if mlflow else None
    uri: str | None = (state.get("tracking_uri") or tracking_uri) if mlflow else None
    if mlflow:
        parent = start_run(
            config.experiment,
            config=None if parent_id else config,
            run_name=config.name,
            tracking_uri=uri,
            tags={"hal9.sweep": config.name, "hal9.sweep_dir": str(folder.resolve())},
            run_id=parent_id,  # reopening raises ConnectionError when the run cannot be reached
        )
        if parent.is_fallback:  # the backend is down: results stay in the folder, no child runs
            say(f"MLflow unreachable: parent run in {parent.fallback_path}, no child runs")
            parent_id, uri = None, None
        else:
            parent_id, uri = parent.run_id, parent.tracking_uri
    if not resume or (parent_id and parent_id != state.get("parent_run_id")):
        _write_json(
            state_path,
            {
                "config": config.model_dump(mode="json"),
                "config_hash": _config_hash(config),
                "parent_run_id": parent_id,
                "tracking_uri": uri,
                "created": state.get("created", time.time()),
            },
        )
    try:
        summary = _run(config, trials, folder, resume, address, parent_id, uri, progress, say)
    except BaseException as exc:
        if parent is not None:
            parent.end("KILLED" if isinstance(exc, (KeyboardInterrupt, SystemExit)) else "FAILED")
        raise
    if parent is not None:
        try:
            parent.log_metrics(
                {
                    "trials_planned": summary["planned"],
                    "trials_done": summary["done"],
                    "trials_failed": summary["failed"],
                    "trials_retried": summary["retried"],
                    "trials_skipped": summary["skipped"],
                    "sweep_wall_s": summary["wall_s"],
                }
            )
            for name in ("aggregate.json", "aggregate.csv", "aggregate.png"):
                if (folder / name).exists():
                    parent.log_artifact(folder / name)
        except BaseException:
            parent.end("FAILED")
            raise
        parent.end("FINISHED" if summary["done"] == summary["planned"] else "FAILED")
    return summary


def _adopt_from_mlflow(
    config: SweepConfig,
    trials: list[Trial],
    records: dict[str, TrialRecord],
    parent_id: str,
    uri: str | None,
    trial_dir: Path,
) -> None:
    """On resume: close child runs a dead driver left RUNNING, and adopt FINISHED ones whose JSON is
    missing (the driver died between logging the child and writing the JSON)."""
    from hal9.tracking import child_runs, end_run

    by_id = {t.id: t for t in trials}
    for child in child_runs(parent_id, tracking_uri=uri):
        tid = child["tags"].get("hal9.trial_id")
        if tid not in by_id:
            continue
        if child["status"] == "RUNNING":  # cut off while it was logged: closed, the trial runs again
            end_run(child["run_id"], "KILLED", tracking_uri=uri)
        elif child["status"] == "FINISHED" and tid not in records:
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


def _task_options(resources: TrialResources) -> dict[str, Any]:
    """Ray task options of a trial: its resources (memory in bytes), Ray's own retries off (the driver
    counts and makes every retry)."""
    options: dict[str, Any] = {
        "num_cpus": resources.cpus,
        "num_gpus": resources.gpus,
        "max_retries": 0,
        "retry_exceptions": False,
    }
    if resources.memory_mb is not None:
        options["memory"] = resources.memory_mb * 1024 * 1024
    return options


def _check_fits(resources: TrialResources, local: bool, say: Callable[[str], None]) -> None:
    """Refuse trials no node of a Ray started here can ever run (they would wait forever); on a cluster
    (which may scale up) only warn."""
    import ray

    total = ray.cluster_resources()
    asks = {"CPU": resources.cpus, "GPU": resources.gpus}
    if resources.memory_mb is not None:
        asks["memory"] = resources.memory_mb * 1024 * 1024
    short = {k: (v, total.get(k, 0.0)) for k, v in asks.items() if v > 0 and v > total.get(k, 0.0)}
    if not short:
        return
    text = ", ".join(f"{k} {need:g} > {have:g}" for k, (need, have) in short.items())
    if local:
        raise ValueError(f"resources: a trial asks for more than this machine's Ray has ({text})")
    say(f"warning: no node of the cluster has what a trial asks for now ({text}); trials wait for one")


def _run(
    config: SweepConfig,
    trials: list[Trial],
    folder: Path,
    resume: bool,
    address: str | None,
    parent_id: str | None,
    uri: str | None,
    progress: bool,
    say: Callable[[str], None],
) -> SweepSummary:
    """The trials not finished yet, on Ray; the aggregate; the summary (see :func:`run_sweep`)."""
    import ray

    trial_dir = folder / "trials"
    records: dict[str, TrialRecord] = {}
    for t in trials:
        path = trial_dir / f"{t.id}.json"
        if path.exists():
            found: TrialRecord = json.loads(path.read_text())
            if found.get("status") == "done":
                records[t.id] = found
    if resume and parent_id is not None:
        _adopt_from_mlflow(config, trials, records, parent_id, uri, trial_dir)
    skipped = len(records)
    todo = [t for t in trials if t.id not in records]

    t_start = time.perf_counter()
    retried = failed = 0
    started, local, ray_address = False, False, ""
    bar = None
    try:
        if todo:
            started, local, ray_address = _start_ray(address)
            _check_fits(config.resources, local, say)
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(trials), initial=skipped, desc=f"sweep {config.name}", unit="trial")
        remote = ray.remote(_execute).options(**_task_options(config.resources)) if todo else None
        recipe = get_recipe(config.recipe)  # sent by value: workers import its module, not a registry
        pending: dict[Any, tuple[Trial, int]] = {}
        rec: TrialRecord

        def submit(trial: Trial, attempt: int) -> None:
            assert remote is not None
            ref = remote.remote(recipe, trial.config, trial.id, attempt, config.resources.cpus)
            pending[ref] = (trial, attempt)

        for t in todo:
            submit(t, 1)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                trial, attempt = pending.pop(ref)
                base: TrialRecord = {
                    "id": trial.id,
                    "index": trial.index,
                    "params": trial.params,
                    "seed": trial.seed,
                }
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
                    rec = {**base, "status": "failed", "metrics": {}, "attempts": attempt, "error": text}
                    rec["child_run_id"] = _log_child(config, trial, rec, {}, parent_id, uri, trial_dir)
                    _write_json(trial_dir / f"{trial.id}.json", rec)
                    say(f"trial {trial.index} ({trial.id}) FAILED after {attempt} attempt(s): {text}")
                else:
                    rec = {
                        **base,
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
    finally:
        if bar is not None:
            bar.close()
        if started:
            ray.shutdown()
    wall = time.perf_counter() - t_start
    nodes = sorted({r.get("node", "") for r in records.values() if r.get("node")})

    done_records = [records[t.id] for t in trials if t.id in records]
    rows = aggregate(done_records)
    write_aggregate(rows, folder)
    names = sorted({k for r in done_records for k in r["metrics"]})
    draw_aggregate(rows, names, folder / "aggregate.png")
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
        "ray": {"address": ray_address, "local": local, "nodes_used": nodes},
        "trials": done_records + [_failed_record(trial_dir, t) for t in trials if t.id not in records],
        "aggregate": rows,
    }
    _write_json(folder / "summary.json", {k: v for k, v in summary.items() if k != "trials"})
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
    except BaseException:  # never FINISHED without its data: resume would adopt an empty result
        run.end("KILLED")
        raise
    run.end("FINISHED" if rec["status"] == "done" else "FAILED")
    return run.run_id
