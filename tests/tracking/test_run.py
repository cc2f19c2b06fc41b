"""start_run / TrackedRun / compare_runs against a real temporary SQLite MLflow store."""

from __future__ import annotations

import itertools
import json
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import pydantic
import pytest
import torch

from hal9.tracking import Hal9TrackingWarning, compare_runs, start_run

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

# MLflow 3.17's ORM uses a loader strategy that SQLAlchemy 2.1 deprecates; emitted once per process when
# the first SQLite store configures its mappers. Nothing hal9 can change.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"
)

_names = itertools.count()


class Conn(pydantic.BaseModel):
    fan_in: int = 8
    sigma: float = 0.5


class Cfg(pydantic.BaseModel):
    sizes: tuple[int, ...] = (9, 3)
    connectivity: Conn = Conn()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store per module: the first-time schema migration takes seconds."""
    return f"sqlite:///{tmp_path_factory.mktemp('store').as_posix()}/mlflow.db"


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Run in a temp dir (artifacts, fallback folders) with no tracking URI from the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HAL9_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield


def _experiment() -> str:
    return f"exp-{next(_names)}"


def test_params_metrics_tags_land_in_the_store(store: str) -> None:
    with start_run(
        _experiment(), config=Cfg(), run_name="r1", tags={"purpose": "test"}, tracking_uri=store
    ) as run:
        run.log_metrics({"loss": torch.tensor(0.25), "acc": np.float32(0.5), "n": 3}, step=2)
        run.log_metrics({"nan": float("nan")}, step=3)
        run.set_tags({"stage": 2})
        run.log_params({"extra": {"k": 1}})
        assert not run.is_fallback and run.fallback_path is None
    data = MlflowClient(store).get_run(run.run_id)
    assert data.info.status == "FINISHED"
    assert data.info.run_name == "r1"
    assert data.info.experiment_id == run.experiment_id
    assert data.data.params == {
        "sizes": "[9,3]",
        "connectivity.fan_in": "8",
        "connectivity.sigma": "0.5",
        "extra.k": "1",
    }
    assert {k: v for k, v in data.data.metrics.items() if k != "nan"} == {"loss": 0.25, "acc": 0.5, "n": 3.0}
    assert math.isnan(data.data.metrics["nan"])
    history = MlflowClient(store).get_metric_history(run.run_id, "loss")
    assert [(m.value, m.step) for m in history] == [(0.25, 2)]
    tags = data.data.tags
    assert tags["purpose"] == "test" and tags["stage"] == "2"
    assert tags["torch.version"] == str(torch.__version__)
    assert {"hal9.version", "device"} <= tags.keys()


def test_config_params_use_one_log_batch_call(store: str) -> None:
    config = {f"p{i}": i for i in range(250)}
    with mock.patch.object(
        MlflowClient, "log_batch", autospec=True, side_effect=MlflowClient.log_batch
    ) as spy:
        with start_run(_experiment(), config={"a": 1, "b": {"c": 2}}, tracking_uri=store):
            assert spy.call_count == 1
        with start_run(_experiment(), config=config, tracking_uri=store) as run:
            assert spy.call_count == 1 + 3  # MLflow accepts 100 params per call
    assert MlflowClient(store).get_run(run.run_id).data.params == {k: str(v) for k, v in config.items()}


def test_metric_series_is_batched(store: str) -> None:
    values = torch.linspace(0, 1, 2500, dtype=torch.float64)
    with start_run(_experiment(), tracking_uri=store) as run:
        with (
            mock.patch.object(
                MlflowClient, "log_batch", autospec=True, side_effect=MlflowClient.log_batch
            ) as spy,
            mock.patch.object(MlflowClient, "log_metric") as single,
        ):
            run.log_metric_series("rate", values)
            run.log_metric_series("short", np.array([3.0, 4.0]), steps=[10, 20])
        assert spy.call_count == 3 + 1  # 1000 metrics per call
        single.assert_not_called()
    client = MlflowClient(store)
    history = sorted(client.get_metric_history(run.run_id, "rate"), key=lambda m: m.step)
    assert [m.step for m in history] == list(range(2500))
    assert [m.value for m in history] == values.tolist()
    short = client.get_metric_history(run.run_id, "short")
    assert sorted((m.step, m.value) for m in short) == [(10, 3.0), (20, 4.0)]


def test_figure_and_array_artifacts(store: str, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    note = tmp_path / "note.txt"
    note.write_text("hello")
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "leaf.txt").write_text("leaf")
    name = _experiment()
    with start_run(name, tracking_uri=store) as run:
        run.log_figure(fig, "figures/line")
        run.log_array("weights/L2", torch.from_numpy(array))
        run.log_artifact(note)
        run.log_artifact(tmp_path / "tree", artifact_path="dirs")
    plt.close(fig)
    # Artifacts sit next to the SQLite file, not in the working directory.
    run_dir = Path(store.removeprefix("sqlite:///")).parent / "mlruns" / name / run.run_id / "artifacts"
    assert (run_dir / "figures" / "line.png").is_file()
    assert (run_dir / "dirs" / "tree" / "sub" / "leaf.txt").read_text() == "leaf"
    assert not (tmp_path / "mlruns").exists()
    client = MlflowClient(store)
    assert [a.path for a in client.list_artifacts(run.run_id, "figures")] == ["figures/line.png"]
    local = client.download_artifacts(run.run_id, "weights/L2.npy", str(tmp_path))
    np.testing.assert_array_equal(np.load(local), array)
    png = client.download_artifacts(run.run_id, "figures/line.png", str(tmp_path))
    assert Path(png).read_bytes().startswith(b"\x89PNG")
    assert "note.txt" in [a.path for a in client.list_artifacts(run.run_id)]


def test_exception_marks_run_failed(store: str) -> None:
    with pytest.raises(RuntimeError, match="boom"), start_run(_experiment(), tracking_uri=store) as run:
        raise RuntimeError("boom")
    assert MlflowClient(store).get_run(run.run_id).info.status == "FAILED"
    with pytest.raises(KeyboardInterrupt), start_run(_experiment(), tracking_uri=store) as killed:
        raise KeyboardInterrupt
    assert MlflowClient(store).get_run(killed.run_id).info.status == "KILLED"
    with pytest.raises(RuntimeError, match="has ended"):
        run.log_metrics({"x": 1.0})


@pytest.mark.parametrize(
    ("metrics", "match"),
    [
        ({"": 1.0}, "metric key must be a non-empty string"),
        ({"loss": "high"}, "metric 'loss' has a non-numeric value"),
        ({"loss": None}, "metric 'loss' has a non-numeric value"),
        ({"vec": torch.ones(3)}, "metric 'vec' must be a scalar"),
        ({"bad$": 1.0}, "metric key 'bad\\$'"),
    ],
)
def test_bad_metrics_name_the_field(store: str, metrics: dict, match: str) -> None:
    with start_run(_experiment(), tracking_uri=store) as run:
        with pytest.raises(ValueError, match=match):
            run.log_metrics(metrics)


def test_bad_series_and_params_name_the_field(store: str) -> None:
    with start_run(_experiment(), config={"lr": 0.1}, tracking_uri=store) as run:
        with pytest.raises(ValueError, match="series 'rate' has non-numeric"):
            run.log_metric_series("rate", ["a", "b"])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="steps for metric series 'rate'"):
            run.log_metric_series("rate", [1.0, 2.0], steps=[0])
        with pytest.raises(ValueError, match=r"param 'lr' was logged as '0\.1'"):
            run.log_params({"lr": 0.2})
        run.log_params({"lr": 0.1})  # same value: fine
        with pytest.raises(ValueError, match="step must be an integer"):
            run.log_metrics({"x": 1.0}, step=1.5)  # type: ignore[arg-type]


def test_deleted_experiment_raises(store: str) -> None:
    name = _experiment()
    with start_run(name, tracking_uri=store) as run:
        pass
    assert run.experiment_id is not None
    MlflowClient(store).delete_experiment(run.experiment_id)
    with pytest.raises(ValueError, match=f"experiment '{name}' .* is deleted"):
        start_run(name, tracking_uri=store)


def test_backend_failure_mid_run_falls_back_once(store: str, tmp_path: Path) -> None:
    with start_run(
        _experiment(), config={"lr": 0.1}, tracking_uri=store, fallback_dir=tmp_path / "fb"
    ) as run:
        run.log_metrics({"before": 1.0})
        with (
            mock.patch.object(MlflowClient, "log_batch", side_effect=MlflowException("database is gone")),
            pytest.warns(Hal9TrackingWarning, match="database is gone") as record,
        ):
            run.log_metrics({"loss": 0.5}, step=1)
            run.log_metrics({"loss": 0.25}, step=2)
            run.log_params({"late": "yes"})
        assert run.is_fallback
    assert len([w for w in record if issubclass(w.category, Hal9TrackingWarning)]) == 1
    folder = run.fallback_path
    assert folder is not None and folder.parent.parent == tmp_path / "fb"
    assert json.loads((folder / "params.json").read_text()) == {"lr": "0.1", "late": "yes"}
    lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [(m["key"], m["value"], m["step"]) for m in lines] == [("loss", 0.5, 1), ("loss", 0.25, 2)]
    assert json.loads((folder / "run.json").read_text())["mlflow_run_id"] == run.run_id
    assert MlflowClient(store).get_run(run.run_id).info.status == "FAILED"  # the MLflow copy is incomplete


def test_compare_runs(store: str) -> None:
    name = _experiment()
    ids = []
    for fan_in, phi in [(4, 0.1), (8, 0.3)]:
        with start_run(name, config={"fan_in": fan_in, "mode": "x"}, tracking_uri=store) as run:
            run.log_metrics({"phi": phi, "loss": 1.0})
        ids.append(run.run_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = compare_runs(name, tracking_uri=store)
    assert list(frame.columns) == [
        "run_id",
        "run_name",
        "status",
        "start_time",
        "params.fan_in",
        "params.mode",
        "metrics.loss",
        "metrics.phi",
    ]
    assert sorted(frame["run_id"]) == sorted(ids)
    rows = frame.set_index("run_id")
    assert rows.loc[ids[0], "params.fan_in"] == "4" and rows.loc[ids[1], "metrics.phi"] == 0.3
    assert set(frame["status"]) == {"FINISHED"}
    assert str(frame["start_time"].dt.tz) == "UTC"
    some = compare_runs(name, tracking_uri=store, metrics=["phi", "absent"], params=["fan_in"], max_results=1)
    base = ["run_id", "run_name", "status", "start_time"]
    assert list(some.columns) == [*base, "params.fan_in", "metrics.phi", "metrics.absent"]
    assert len(some) == 1 and math.isnan(some["metrics.absent"].iloc[0])
    with pytest.raises(ValueError, match="no experiment named 'missing'"):
        compare_runs("missing", tracking_uri=store)


def test_log_batch_sends_params_metrics_and_series_in_one_call(store: str) -> None:
    rates = torch.linspace(0.0, 1.0, 300, dtype=torch.float32)
    with start_run(_experiment(), tracking_uri=store) as run:
        with mock.patch.object(
            MlflowClient, "log_batch", autospec=True, side_effect=MlflowClient.log_batch
        ) as spy:
            run.log_batch(
                params=Cfg(), metrics={"loss": 0.5, "n": np.int64(7)}, series={"rate": rates}, step=3
            )
            assert spy.call_count == 1  # 4 params + 302 metrics fit in one MLflow call
            run.log_batch(params=Cfg())  # the same params again: nothing to send
            assert spy.call_count == 1
    client = MlflowClient(store)
    data = client.get_run(run.run_id).data
    # the same store contents as log_params + log_metrics + log_metric_series
    assert data.params == {"sizes": "[9,3]", "connectivity.fan_in": "8", "connectivity.sigma": "0.5"}
    assert data.metrics["loss"] == 0.5 and data.metrics["n"] == 7.0
    assert client.get_metric_history(run.run_id, "loss")[0].step == 3
    history = sorted(client.get_metric_history(run.run_id, "rate"), key=lambda m: m.step)
    assert [m.step for m in history] == list(range(300))
    assert [m.value for m in history] == rates.double().tolist()


def test_log_batch_equals_the_separate_calls(store: str) -> None:
    values = np.array([0.25, 2.0, -1.0])
    runs = []
    for batched in (True, False):
        with start_run(_experiment(), tracking_uri=store) as run:
            if batched:
                run.log_batch(
                    params={"lr": 0.1, "opt": {"name": "adam"}}, metrics={"a": 1.5}, series={"s": values}
                )
            else:
                run.log_params({"lr": 0.1, "opt": {"name": "adam"}})
                run.log_metrics({"a": 1.5})
                run.log_metric_series("s", values)
        runs.append(run.run_id)
    client = MlflowClient(store)
    got = [client.get_run(r).data for r in runs]
    assert got[0].params == got[1].params == {"lr": "0.1", "opt.name": "adam"}
    assert got[0].metrics == got[1].metrics
    hist = [sorted((m.step, m.value) for m in client.get_metric_history(r, "s")) for r in runs]
    assert hist[0] == hist[1] == [(0, 0.25), (1, 2.0), (2, -1.0)]


def test_log_batch_validates_everything_before_sending(store: str) -> None:
    with start_run(_experiment(), config={"lr": 0.1}, tracking_uri=store) as run:
        with mock.patch.object(MlflowClient, "log_batch", autospec=True) as spy:
            with pytest.raises(ValueError, match="'bad'"):
                run.log_batch(metrics={"ok": 1.0}, series={"bad": ["x", "y"]})  # type: ignore[dict-item]
            with pytest.raises(ValueError, match="'lr'"):
                run.log_batch(params={"lr": 0.2}, metrics={"ok": 1.0})
            with pytest.raises(ValueError, match="step"):
                run.log_batch(metrics={"ok": 1.0}, step=1.5)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="metric"):
                run.log_batch(metrics={"": 1.0})
            spy.assert_not_called()
    assert MlflowClient(store).get_run(run.run_id).data.metrics == {}


def test_child_runs_and_reopening_a_run(store: str) -> None:
    from hal9.tracking import child_runs, end_run

    parent = start_run("parent-child", tracking_uri=store, run_name="p")
    parent.end()
    parent_tags = MlflowClient(tracking_uri=store).get_run(parent.run_id).data.tags
    kids = []
    for i in range(3):
        with start_run("parent-child", tracking_uri=store, parent_run_id=parent.run_id, tags={"i": i}) as kid:
            kid.log_metrics({"m": float(i)})
        kids.append(kid.run_id)
    start_run("parent-child", tracking_uri=store).end()  # not a child
    found = child_runs(parent.run_id, tracking_uri=store)
    assert [c["run_id"] for c in found] == kids  # oldest first
    assert [c["metrics"]["m"] for c in found] == [0.0, 1.0, 2.0]
    assert all(c["tags"]["mlflow.parentRunId"] == parent.run_id and c["status"] == "FINISHED" for c in found)
    # reopen the parent: RUNNING again, new data lands in the same run
    again = start_run("parent-child", tracking_uri=store, run_id=parent.run_id, tags={"resumed": "yes"})
    client = MlflowClient(tracking_uri=store)
    assert client.get_run(parent.run_id).info.status == "RUNNING"
    again.log_metrics({"late": 1.0})
    again.end()
    run = client.get_run(parent.run_id)
    assert (
        run.info.status == "FINISHED"
        and run.data.metrics["late"] == 1.0
        and run.data.tags["resumed"] == "yes"
    )
    assert run.data.tags["hal9.version"] == parent_tags["hal9.version"]  # provenance kept on reopen
    with pytest.raises(ValueError, match="another experiment"):
        start_run("some-other-experiment", tracking_uri=store, run_id=parent.run_id)
    with pytest.raises(ConnectionError, match="cannot reopen run"):  # never a silent local fallback
        start_run("parent-child", tracking_uri=store, run_id="f" * 32)
    with pytest.raises(ConnectionError, match="cannot reopen run"):
        start_run("parent-child", tracking_uri="http://127.0.0.1:9", run_id=parent.run_id)
    # end_run closes a run left RUNNING (a dead process's) without touching its data
    left = start_run("parent-child", tracking_uri=store)
    left.log_metrics({"x": 1.0})
    end_run(left.run_id, "KILLED", tracking_uri=store)
    closed = client.get_run(left.run_id)
    assert closed.info.status == "KILLED" and closed.data.metrics["x"] == 1.0
    with pytest.raises(ValueError, match="status"):
        end_run(left.run_id, "DONE", tracking_uri=store)
    with pytest.raises(ValueError, match="no run"):
        child_runs("0" * 32, tracking_uri=store)
