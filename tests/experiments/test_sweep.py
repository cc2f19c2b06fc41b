"""Sweeps (hal9.experiments.sweep): expansion, bad configs, and on a real Ray — MLflow parent/child runs,
resources, a failing trial, a worker killed mid-trial, a driver killed and resumed, a two-node cluster.

Every Ray here listens on loopback, every wait is bounded, and what a test started is stopped by
process id.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hal9.experiments.sweep import RandomParam, SweepConfig, expand_trials, load_sweep_config
from hal9.experiments.sweep.config import merge_overrides

HAL9 = [sys.executable, "-m", "hal9.cli.main"]


# -- expansion -----------------------------------------------------------------------------------------


def test_grid_times_seeds_with_stable_ids() -> None:
    cfg = SweepConfig(
        name="s", recipe="probe", grid={"seconds": [0.0, 0.5, 1.0], "fail": [False, True]}, seeds=[1, 2]
    )
    trials = expand_trials(cfg)
    assert len(trials) == 3 * 2 * 2
    assert len({t.id for t in trials}) == 12
    assert [t.index for t in trials] == list(range(12))
    assert trials[0].params == {"seconds": 0.0, "fail": False} and trials[0].seed == 1
    assert trials[1].seed == 2 and trials[2].params == {"seconds": 0.0, "fail": True}  # last axis fastest
    assert all(t.config["seed"] == t.seed for t in trials)
    again = expand_trials(SweepConfig.model_validate(json.loads(cfg.model_dump_json())))
    assert [t.id for t in again] == [t.id for t in trials]  # what --resume matches on


def test_random_samples_are_seeded_and_combine_with_the_grid() -> None:
    spec = {"seconds": {"low": 0.001, "high": 1.0, "log": True}, "fail": {"choices": [False]}}
    a = expand_trials(SweepConfig(name="s", recipe="probe", random=spec, samples=5, random_seed=3))
    b = expand_trials(SweepConfig(name="s", recipe="probe", random=spec, samples=5, random_seed=3))
    c = expand_trials(SweepConfig(name="s", recipe="probe", random=spec, samples=5, random_seed=4))
    assert [t.params for t in a] == [t.params for t in b] != [t.params for t in c]
    assert all(0.001 <= t.params["seconds"] <= 1.0 for t in a)
    ints = expand_trials(
        SweepConfig(
            name="s", recipe="demo", random={"steps": {"low": 2, "high": 9, "integer": True}}, samples=4
        )
    )
    assert all(isinstance(t.params["steps"], int) and t.config["steps"] == t.params["steps"] for t in ints)
    mixed = SweepConfig(
        name="s",
        recipe="probe",
        grid={"fail": [False, True]},
        random={"seconds": {"low": 0, "high": 1}},
        samples=3,
    )
    assert len(expand_trials(mixed)) == 2 * 3


def test_integer_draws_are_uniform_and_in_range() -> None:
    import random

    p = RandomParam(low=0.6, high=3.4, integer=True)
    rng = random.Random(0)
    draws = Counter(p.draw(rng) for _ in range(6000))
    assert set(draws) == {1, 2, 3}  # ceil(0.6) … floor(3.4): never 0 or 4
    assert all(abs(n / 6000 - 1 / 3) < 0.03 for n in draws.values())  # each integer equally likely
    logp = RandomParam(low=1, high=1000, log=True, integer=True)
    assert all(1 <= logp.draw(rng) <= 1000 for _ in range(500))
    with pytest.raises(ValidationError, match="no integer lies in"):
        RandomParam(low=1.2, high=1.8, integer=True)
    with pytest.raises(ValidationError, match="either choices"):
        RandomParam(choices=[1, 2], integer=True)


def test_points_that_validate_to_the_same_config_are_one_trial() -> None:
    trials = expand_trials(SweepConfig(name="s", recipe="probe", grid={"seconds": [1, 1.0, 2]}))
    assert [t.params["seconds"] for t in trials] == [1, 2]


def test_base_and_dotted_overrides_reach_the_recipe_config() -> None:
    cfg = SweepConfig(
        name="s",
        recipe="demo",
        base={"steps": 20, "hierarchy": {"connectivity": {"gain": 0.5}}},
        grid={"hierarchy.connectivity.fan_in_up": [4, 8]},
    )
    trials = expand_trials(cfg)
    assert [t.config["hierarchy"]["connectivity"]["fan_in_up"] for t in trials] == [4, 8]
    assert all(
        t.config["steps"] == 20 and t.config["hierarchy"]["connectivity"]["gain"] == 0.5 for t in trials
    )
    assert merge_overrides({"a": {"b": 1, "c": 2}}, {"a.b": 5, "d": {"e": 1}}) == {
        "a": {"b": 5, "c": 2},
        "d": {"e": 1},
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"recipe": "no-such"}, "unknown recipe 'no-such'"),
        ({"grid": {"seconds": []}}, "grid axis 'seconds' is empty"),
        ({"resources": {"cpus": -1}}, "resources.cpus"),
        ({"resources": {"gpus": -0.5}}, "resources.gpus"),
        ({"resources": {"memory_mb": 0}}, "resources.memory_mb"),
        ({"seeds": [1, 1]}, "seeds must be distinct"),
        ({"seeds": []}, "seeds"),
        ({"grid": {"seed": [1]}}, "sweep seeds with 'seeds'"),
        ({"random": {"seconds": {"low": 2, "high": 1}}}, "high (1.0) must be ≥ low"),
        ({"name": "../x"}, "name"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_configs_name_what_is_wrong(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        SweepConfig.model_validate({"name": "s", "recipe": "probe", **data})
    assert field in str(err.value)


def test_a_trial_that_does_not_validate_fails_before_anything_runs() -> None:
    cfg = SweepConfig(name="s", recipe="demo", grid={"steps": [10, 0]})
    with pytest.raises(ValueError, match=r"trial \{'steps': 0\} \(seed 0\): steps: Input should be greater"):
        expand_trials(cfg)


def test_cli_bad_config_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: s\nrecipe: probe\nresources:\n  cpus: -2\n")
    out = subprocess.run([*HAL9, "sweep", str(bad)], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hal9 sweep: error:") and "cpus" in lines[0], out.stderr
    missing = subprocess.run(
        [*HAL9, "sweep", str(tmp_path / "none.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert missing.returncode == 2 and "cannot read sweep config" in missing.stderr


def test_yaml_and_json_configs_load_alike(tmp_path: Path) -> None:
    data = {"name": "s", "recipe": "probe", "grid": {"seconds": [0.1]}, "seeds": [0, 1]}
    (tmp_path / "a.json").write_text(json.dumps(data))
    (tmp_path / "a.yml").write_text("name: s\nrecipe: probe\ngrid:\n  seconds: [0.1]\nseeds: [0, 1]\n")
    assert load_sweep_config(tmp_path / "a.json") == load_sweep_config(tmp_path / "a.yml")


def test_aggregate_pools_seeds_per_point_with_t_intervals(tmp_path: Path) -> None:
    from hal9.experiments.sweep.aggregate import aggregate, draw_aggregate, write_aggregate

    recs = [
        {"params": {"r": 2.0, "on": True}, "metrics": {"m": 1.0}},
        {"params": {"r": 2.0, "on": True}, "metrics": {"m": 3.0}},
        {"params": {"r": 3.0, "on": True}, "metrics": {"m": 5.0, "only_here": 1.0}},
    ]
    rows = aggregate(recs)
    assert [r["params"]["r"] for r in rows] == [2.0, 3.0] and [r["n"] for r in rows] == [2, 1]
    m = rows[0]["metrics"]["m"]
    # mean 2, sd √2, half-width t(0.975, 1) · √2 / √2 = 12.7062…
    assert m["mean"] == 2.0 and m["sd"] == pytest.approx(2**0.5)
    assert m["ci_high"] - m["mean"] == pytest.approx(12.706204736, rel=1e-9)
    assert math.isnan(rows[1]["metrics"]["m"]["sd"])  # one seed: no spread to report
    assert "only_here" not in rows[0]["metrics"]
    paths = write_aggregate(rows, tmp_path)
    assert json.loads(paths[0].read_text())[0]["n"] == 2
    assert len(paths[1].read_text().splitlines()) == 1 + 1 + 2  # header, one metric at r=2, two at r=3
    assert draw_aggregate(rows, ["m"], tmp_path / "a.png") == tmp_path / "a.png"
    only_bool = aggregate([{"params": {"on": True}, "metrics": {"m": 1.0}}])
    assert draw_aggregate(only_bool, ["m"], tmp_path / "b.png") is None  # no numeric axis


def test_every_shipped_sweep_config_expands() -> None:
    configs = sorted((Path(__file__).resolve().parents[2] / "experiments" / "sweeps").glob("*.y*ml"))
    assert configs
    for path in configs:
        assert expand_trials(load_sweep_config(path)), path


def test_importing_the_sweep_package_does_not_import_ray() -> None:
    code = "import sys, hal9.experiments.sweep; print('ray' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "False"


# -- on Ray --------------------------------------------------------------------------------------------

ray = pytest.importorskip("ray")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update({"OMP_NUM_THREADS": "1", "HAL9_DEBUG": "0", **extra})
    return env


def _write(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"name": name, **data}))
    return path


def _children(parent_run_id: str, uri: str) -> list[dict[str, Any]]:
    from hal9.tracking import child_runs

    return child_runs(parent_run_id, tracking_uri=uri)


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant (a driver and the local Ray it started)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)


def _communicate(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """Wait for ``proc``; on a timeout kill it and what it started (its local Ray), then fail. A process
    that exited is never signalled (its pid may be reused)."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        proc.communicate(timeout=30)
        raise


def _cli(args: list[str], timeout: float = 180, **env: str) -> tuple[int, str, str]:
    proc = subprocess.Popen(
        [*HAL9, "sweep", *args, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(**env),
        text=True,
    )
    out, err = _communicate(proc, timeout)
    return proc.returncode, out, err


def _run_cli(args: list[str], timeout: float = 180, **env: str) -> dict[str, Any]:
    code, out, err = _cli(args, timeout, **env)
    assert code in (0, 1), err[-3000:]
    summary: dict[str, Any] = json.loads(out)
    return summary


def test_sweep_logs_parent_and_child_runs_and_survives_a_failing_trial(tmp_path: Path) -> None:
    from hal9.experiments.sweep import run_sweep

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = SweepConfig(
        name="probe-sweep",
        recipe="probe",
        grid={"seconds": [0.05, 0.1], "fail": [False, True]},
        seeds=[0, 1],
        resources={"cpus": 1, "memory_mb": 64},
        experiment="sweep-test",
    )
    lines: list[str] = []
    s = run_sweep(cfg, out=tmp_path / "sweeps", tracking_uri=uri, progress=False, log=lines.append)
    assert (s["planned"], s["done"], s["failed"], s["retried"], s["skipped"]) == (8, 4, 4, 0, 0)
    assert s["ray"]["local"] and not ray.is_initialized()  # stopped what it started
    failed = [r for r in s["trials"] if r["status"] == "failed"]
    assert len(failed) == 4 and all("failed on purpose" in r["error"] for r in failed)
    assert all(r["attempts"] == 1 for r in failed)  # the recipe's own error is not retried
    assert sum("FAILED" in line for line in lines) == 4
    # aggregate per point over the two seeds
    agg = {json.dumps(r["params"], sort_keys=True): r for r in s["aggregate"]}
    row = agg[json.dumps({"fail": False, "seconds": 0.1}, sort_keys=True)]
    assert row["n"] == 2 and 0.1 <= row["metrics"]["slept_s"]["mean"] < 1.0
    assert (
        row["metrics"]["slept_s"]["ci_low"]
        <= row["metrics"]["slept_s"]["mean"]
        <= row["metrics"]["slept_s"]["ci_high"]
    )
    # MLflow: one parent, one child per trial, tagged with its trial id and node; statuses follow
    children = _children(s["parent_run_id"], uri)
    assert len(children) == 8
    assert sorted(c["tags"]["hal9.trial_id"] for c in children) == sorted(r["id"] for r in s["trials"])
    assert Counter(c["status"] for c in children) == {"FINISHED": 4, "FAILED": 4}
    done = next(c for c in children if c["status"] == "FINISHED")
    assert done["params"]["seconds"] in ("0.05", "0.1") and "slept_s" in done["metrics"]
    assert done["tags"]["hal9.node"] and done["tags"]["mlflow.parentRunId"] == s["parent_run_id"]
    from mlflow import MlflowClient

    parent = MlflowClient(tracking_uri=uri).get_run(s["parent_run_id"])
    assert parent.data.metrics["trials_planned"] == 8 and parent.data.metrics["trials_failed"] == 4
    assert parent.data.params["recipe"] == "probe" and parent.info.status == "FAILED"  # not every trial done
    artifacts = {a.path for a in MlflowClient(tracking_uri=uri).list_artifacts(s["parent_run_id"])}
    assert {"aggregate.json", "aggregate.csv", "aggregate.png"} <= artifacts
    # the folder refuses a second fresh start
    with pytest.raises(ValueError, match="holds a sweep already"):
        run_sweep(cfg, out=tmp_path / "sweeps", tracking_uri=uri, progress=False)
    # resume after a driver died between logging a child run and writing its JSON, and while logging
    # another: the finished one is adopted from MLflow, the cut-off one closed, only failed trials rerun
    trial_dir = tmp_path / "sweeps" / "probe-sweep" / "trials"
    lost = next(r for r in s["trials"] if r["status"] == "done")
    (trial_dir / f"{lost['id']}.json").unlink()
    cut = next(r for r in s["trials"] if r["status"] == "failed")
    from hal9.tracking import start_run

    stale = start_run(
        "sweep-test", tracking_uri=uri, parent_run_id=s["parent_run_id"], tags={"hal9.trial_id": cut["id"]}
    )
    r = run_sweep(cfg, out=tmp_path / "sweeps", tracking_uri=uri, progress=False, resume=True)
    assert (r["skipped"], r["ran"], r["done"], r["failed"]) == (4, 4, 4, 4)
    assert r["parent_run_id"] == s["parent_run_id"]
    adopted = json.loads((trial_dir / f"{lost['id']}.json").read_text())
    assert adopted["status"] == "done" and adopted["child_run_id"] == lost["child_run_id"]
    statuses = {c["run_id"]: c["status"] for c in _children(s["parent_run_id"], uri)}
    assert statuses[stale.run_id] == "KILLED" and len(statuses) == 8 + 1 + 4
    # resuming without MLflow logs nothing there, even though the folder names a parent run
    (trial_dir / f"{cut['id']}.json").unlink()
    quiet = run_sweep(cfg, out=tmp_path / "sweeps", mlflow=False, progress=False, resume=True)
    assert quiet["parent_run_id"] is None and quiet["ran"] == 4
    assert len(_children(s["parent_run_id"], uri)) == 8 + 1 + 4
    with pytest.raises(ValueError, match="config differs"):
        run_sweep(
            cfg.model_copy(update={"seeds": [0, 1, 2]}),
            out=tmp_path / "sweeps",
            tracking_uri=uri,
            resume=True,
        )
    with pytest.raises(ValueError, match="nothing to resume"):
        run_sweep(cfg, out=tmp_path / "elsewhere", tracking_uri=uri, resume=True)


def test_resources_reach_ray_and_a_small_simulation_runs(tmp_path: Path) -> None:
    """The demo recipe (a small designed hierarchy) as a trial; the sweep's task options carry its
    resources, and Ray honours them: a task asking for more CPUs than the cluster has stays pending, and
    a sweep asking for that is refused before it would wait forever."""
    from hal9.experiments.sweep import TrialResources, run_sweep
    from hal9.experiments.sweep.recipes import get_recipe
    from hal9.experiments.sweep.runner import _execute, _start_ray, _task_options

    cfg = SweepConfig(name="demo-sweep", recipe="demo", base={"steps": 30}, grid={"batch": [1, 2]})
    s = run_sweep(cfg, out=tmp_path, mlflow=False, progress=False)
    assert s["done"] == 2 and all(r["metrics"]["run_s"] > 0 for r in s["trials"])
    assert all(r["metrics"]["neurons"] == 900 for r in s["trials"]) and s["parent_run_id"] is None
    assert all(r["metrics"]["mean_abs_rate.L1"] > 0 for r in s["trials"])

    opts = _task_options(TrialResources(cpus=1.5, gpus=0.5, memory_mb=64))
    assert opts == {
        "num_cpus": 1.5,
        "num_gpus": 0.5,
        "memory": 64 * 1024 * 1024,
        "max_retries": 0,
        "retry_exceptions": False,
    }
    started, _, _ = _start_ray(None)
    try:
        cpus = ray.cluster_resources()["CPU"]
        big = ray.remote(_execute).options(**_task_options(TrialResources(cpus=cpus + 1)))
        ref = big.remote(get_recipe("probe"), {"seconds": 0.0}, "x", 1, 1.0)
        ready, _ = ray.wait([ref], timeout=3)
        assert not ready  # unschedulable: asks for more CPUs than the cluster has
        ray.cancel(ref, force=True)
        ok = ray.remote(_execute).options(**_task_options(TrialResources(cpus=1, memory_mb=64)))
        assert ray.get(ok.remote(get_recipe("probe"), {"seconds": 0.0}, "y", 1, 1.0), timeout=60)
    finally:
        if started:
            ray.shutdown()
    for i, too_much in enumerate(({"gpus": 1}, {"cpus": 4096})):
        greedy = SweepConfig(name=f"greedy{i}", recipe="probe", resources=too_much)
        with pytest.raises(ValueError, match="asks for more than this machine's Ray has"):
            run_sweep(greedy, out=tmp_path, mlflow=False, progress=False)


@pytest.mark.faults
def test_a_worker_killed_mid_trial_is_retried_and_the_sweep_completes(tmp_path: Path) -> None:
    pid_file = tmp_path / "victim.pid"
    cfg = _write(
        tmp_path,
        "kill-worker",
        {
            "recipe": "probe",
            "base": {"seconds": 4.0},
            "grid": {"pid_file": [str(pid_file), None]},
            "max_attempts": 3,
        },
    )
    proc = subprocess.Popen(
        [*HAL9, "sweep", str(cfg), "--outputs", str(tmp_path / "out"), "--no-mlflow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not pid_file.exists():
            assert time.monotonic() < deadline, "the trial never started"
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        victim = int(pid_file.read_text())
        assert victim != proc.pid
        os.kill(victim, signal.SIGKILL)  # the Ray worker process running the trial
    except BaseException:
        _kill_tree(proc.pid)
        proc.communicate(timeout=30)
        raise
    out, err = _communicate(proc, 120)
    assert proc.returncode == 0, err[-3000:]
    s = json.loads(out)
    assert (s["planned"], s["done"], s["retried"], s["failed"]) == (2, 2, 1, 0)
    retried = next(r for r in s["trials"] if r["params"]["pid_file"])
    assert retried["attempts"] == 2 and retried["pid"] != victim


@pytest.mark.faults
def test_a_killed_driver_resumes_without_repeating_finished_trials(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # three short and three long trials: the driver is killed after two short ones, before any long one
    spec = {"recipe": "probe", "grid": {"seconds": [0.3, 6.0]}, "seeds": [0, 1, 2]}
    cfg = _write(tmp_path, "resume", spec)
    trials = tmp_path / "out" / "resume" / "trials"
    args = [str(cfg), "--outputs", str(tmp_path / "out"), "--tracking-uri", uri]
    proc = subprocess.Popen(
        [*HAL9, "sweep", *args, "--json"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env()
    )
    try:
        deadline = time.monotonic() + 120
        while len(list(trials.glob("*.json"))) < 2:
            assert time.monotonic() < deadline, "no trial finished"
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
    finally:
        _kill_tree(proc.pid)  # the driver and the local Ray it started, mid-sweep
        proc.communicate(timeout=30)  # reap it, close its pipe
    finished_before = {p.stem for p in trials.glob("*.json")}
    assert 2 <= len(finished_before) <= 3
    code, _, err = _cli(args)  # a fresh start into the same folder is refused, in one line
    assert code == 2 and "holds a sweep already" in err
    s = _run_cli([*args, "--resume"])
    assert s["planned"] == 6 and s["done"] == 6 and s["failed"] == 0
    assert s["skipped"] >= len(finished_before) and s["ran"] == 6 - s["skipped"]
    children = _children(s["parent_run_id"], uri)
    finished = Counter(c["tags"]["hal9.trial_id"] for c in children if c["status"] == "FINISHED")
    assert len(finished) == 6 and set(finished.values()) == {1}  # each trial finished exactly once
    assert not [c for c in children if c["status"] == "RUNNING"]  # a child cut off by the kill is closed
    again = _run_cli([*args, "--resume"])
    assert again["ran"] == 0 and again["skipped"] == 6


@pytest.mark.faults
def test_two_node_cluster_runs_trials_on_both_nodes(tmp_path: Path) -> None:
    from tests.experiments._ray_cluster import two_node_cluster

    cfg = _write(tmp_path, "cluster", {"recipe": "probe", "base": {"seconds": 1.5}, "seeds": [0, 1, 2, 3]})
    try:
        cluster_cm = two_node_cluster()
        cluster = cluster_cm.__enter__()
    except RuntimeError as exc:  # CI sets HAL9_REQUIRE_RAY=1: there the cluster must start
        if os.environ.get("HAL9_REQUIRE_RAY") == "1":
            raise
        pytest.skip(f"Ray cannot start a cluster here: {exc}")
    try:
        token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": cluster.env["RAY_AUTH_TOKEN"]}
        s = _run_cli(
            [str(cfg), "--outputs", str(tmp_path / "out"), "--no-mlflow", "--address", cluster.address],
            **token,
        )
    finally:
        cluster_cm.__exit__(None, None, None)
    assert s["done"] == 4 and s["ray"]["local"] is False  # it used the cluster
    assert len(s["ray"]["nodes_used"]) == 2  # one CPU per node: the four trials spread over both
