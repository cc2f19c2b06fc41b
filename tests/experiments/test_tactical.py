"""The tactical recipe (:mod:`hal9.experiments.tactical`) and the one list of scheduler names."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import ValidationError

from hal9.experiments.tactical import (
    COMPARED,
    TacticalRunConfig,
    arrival_rate,
    build_units,
    make_workload,
    run_and_log,
    run_tactical_experiment,
)
from hal9.tactical import SCHEDULERS, Scheduler, SimulationConfig, Unit


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tasks": 0}, "tasks"),
        ({"failure_rate": 1.0}, "failure_rate"),
        ({"schedulers": ("magic",)}, "schedulers"),
        ({"schedulers": ()}, "schedulers"),
        ({"layers": 2}, "layers"),
        ({"unit_source": "file"}, "unit_source"),
        ({"taskz": 3}, "taskz"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        TacticalRunConfig(**kwargs)


def test_scheduler_names_are_declared_once() -> None:
    assert SCHEDULERS == get_args(Scheduler) and "auto" in SCHEDULERS
    assert COMPARED == tuple(s for s in SCHEDULERS if s != "auto")
    assert SimulationConfig.model_fields["scheduler"].annotation == Scheduler
    assert get_args(TacticalRunConfig.model_fields["schedulers"].annotation) == (Scheduler, ...)
    from hal9.cli.main import _parser

    parser = _parser()
    args = parser.parse_args(["tactical", "simulate", "--scheduler", "round_robin"])
    assert args.scheduler == "round_robin"
    with pytest.raises(SystemExit):
        parser.parse_args(["tactical", "simulate", "--scheduler", "magic"])


def test_arrival_rate_by_hand() -> None:
    units = [Unit(id="a", speed=1.0, capacity=(0.55, 1.1)), Unit(id="b", speed=3.0, capacity=(2.2, 1.1))]
    # slots: 1·min(1, 2) + 3·min(4, 2) = 7 average tasks at once; 7 / 5.5 tasks per time unit
    cfg = TacticalRunConfig(load=0.8, tasks_per_goal=4)
    assert arrival_rate(units, cfg) == pytest.approx(0.8 * 7 / 5.5 / 4, rel=1e-12)


def test_same_seed_same_run() -> None:
    cfg = TacticalRunConfig(tasks=120, units=6, failure_rate=0.05, schedulers=("auction", "edf"), seed=9)
    (a, res_a), (b, _) = run_tactical_experiment(cfg), run_tactical_experiment(cfg)
    assert a["goals"] == len(make_workload(build_units(cfg)[0], cfg)) == 12
    for name in ("auction", "edf"):
        sa, sb = a["schedulers"][name], b["schedulers"][name]
        assert sa["counts"] == sb["counts"] and sa["metrics"] == sb["metrics"]
        c = sa["counts"]
        assert c["lost"] == 0 and c["completed"] + c["failed"] + c["cancelled"] == 120
    assert set(res_a) == {"auction", "edf"} and "counts" not in a  # several schedulers: no top-level counts
    other = run_tactical_experiment(cfg.model_copy(update={"seed": 10}))[0]
    assert other["schedulers"]["edf"]["metrics"] != a["schedulers"]["edf"]["metrics"]


def test_run_and_log_without_outputs_or_mlflow() -> None:
    cfg = TacticalRunConfig(tasks=40, units=4, schedulers=("greedy",))
    s = run_and_log(cfg, outputs=None, experiment=None)
    assert s.get("figures") == [] and s.get("mlflow") is None
    assert s.get("counts") == s["schedulers"]["greedy"]["counts"]
