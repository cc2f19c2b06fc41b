"""Unreachable backends: the run still completes, into a local folder, with exactly one warning."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from hal9.tracking import Hal9TrackingWarning, start_run


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HAL9_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _warnings_of_type(record: pytest.WarningsRecorder) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, Hal9TrackingWarning)]


def test_unreachable_http_server_writes_local_folder(tmp_path: Path) -> None:
    start = time.perf_counter()
    with pytest.warns(Hal9TrackingWarning) as record:
        with start_run(
            "sweep/a",
            config={"lr": 0.1, "conn": {"fan_in": 8}},
            run_name="r",
            tags={"who": "test"},
            tracking_uri="http://127.0.0.1:9",
        ) as run:
            run.log_metrics({"loss": 0.5, "nan": float("nan")}, step=1)
            run.log_metric_series("rate", [1.0, 2.0], steps=[5, 6])
            run.log_array("w", np.eye(2))
            run.set_tags({"late": 1})
    assert time.perf_counter() - start < 10
    messages = _warnings_of_type(record)
    assert len(messages) == 1
    folder = run.fallback_path
    assert run.is_fallback and folder is not None
    assert folder.parent == tmp_path / ".hal9_fallback" / "sweep_a"
    assert str(folder) in messages[0] and "http://127.0.0.1:9" in messages[0]
    assert json.loads((folder / "params.json").read_text()) == {"lr": "0.1", "conn.fan_in": "8"}
    tags = json.loads((folder / "tags.json").read_text())
    assert tags["who"] == "test" and tags["late"] == "1" and "hal9.version" in tags
    lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [(m["key"], m["step"]) for m in lines] == [("loss", 1), ("nan", 1), ("rate", 5), ("rate", 6)]
    assert lines[0]["value"] == 0.5 and math.isnan(lines[1]["value"]) and lines[3]["value"] == 2.0
    assert all(isinstance(m["timestamp"], int) for m in lines)
    np.testing.assert_array_equal(np.load(folder / "artifacts" / "w.npy"), np.eye(2))
    meta = json.loads((folder / "run.json").read_text())
    assert meta["status"] == "FINISHED" and meta["run_name"] == "r" and meta["mlflow_run_id"] is None
    assert run.experiment_id is None and len(run.run_id) == 32


def test_failed_run_in_fallback_records_status(tmp_path: Path) -> None:
    with pytest.warns(Hal9TrackingWarning), pytest.raises(ZeroDivisionError):
        with start_run("e", tracking_uri="http://127.0.0.1:9", fallback_dir=tmp_path / "fb") as run:
            _ = 1 / 0
    assert run.fallback_path is not None and run.fallback_path.is_relative_to(tmp_path / "fb")
    assert json.loads((run.fallback_path / "run.json").read_text())["status"] == "FAILED"


@pytest.mark.parametrize(
    "uri",
    [
        "postgresql://postgres:secret@127.0.0.1:9/test",  # no server there (or no driver installed)
        "sqlite:///{blocked}/mlflow.db",  # parent is a regular file: not creatable, even as root
    ],
)
def test_unusable_database_falls_back_fast(uri: str, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file")
    start = time.perf_counter()
    with pytest.warns(Hal9TrackingWarning) as record:
        with start_run("db", config={"a": 1}, tracking_uri=uri.format(blocked=blocked.as_posix())) as run:
            run.log_metrics({"m": 1.0})
    assert time.perf_counter() - start < 10
    messages = _warnings_of_type(record)
    assert len(messages) == 1 and "secret" not in messages[0]
    assert run.fallback_path is not None
    assert json.loads((run.fallback_path / "params.json").read_text()) == {"a": "1"}


def test_warning_points_at_the_caller() -> None:
    with pytest.warns(Hal9TrackingWarning) as record:
        start_run("e", tracking_uri="http://127.0.0.1:9").end()
    assert record[0].filename == __file__
