"""The demo recipe (:mod:`hal9.experiments.demo`): config errors, the L1 input, the summary, determinism."""

from __future__ import annotations

import math
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hal9.core import adjacency_violation, build_network, sizes_for_total
from hal9.experiments.demo import (
    DemoConfig,
    demo_config,
    demo_inputs,
    format_summary,
    network_summary,
    pm1_violation_of,
    run_demo,
)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"steps": 0}, "steps"), ({"batch": 0}, "batch"), ({"device": "tpu"}, "device")],
)
def test_config_errors_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        demo_config(900, **{"device": "cpu", **kwargs})


def test_config_rejects_unknown_and_non_finite_fields() -> None:
    cfg = demo_config(900, 10, device="cpu")
    with pytest.raises(ValidationError, match="stepz"):
        DemoConfig.model_validate({**cfg.model_dump(), "stepz": 3})
    with pytest.raises(ValidationError, match="input_period"):
        demo_config(900, 10, device="cpu", input_period=float("nan"))


def test_inputs_follow_the_raised_cosine_formula() -> None:
    cfg = demo_config(900, steps=100, batch=3, seed=7, device="cpu", input_amplitude=2.0, input_period=40.0)
    x = demo_inputs(cfg, 11, torch.device("cpu"), torch.float64)
    assert x.shape == (100, 3, 11)
    # at t = P/2 the envelope ½(1 − cos π) = 1, so the input there is a · pattern
    pattern = x[20] / 2.0
    gen = torch.Generator().manual_seed(7 + 1)
    assert torch.equal(pattern * 2.0, 2.0 * torch.randn((3, 11), generator=gen, dtype=torch.float64))
    for t in (0, 5, 13, 39, 99):
        envelope = 0.5 * (1 - math.cos(2 * math.pi * t / 40.0))
        torch.testing.assert_close(x[t], 2.0 * envelope * pattern, rtol=1e-12, atol=1e-12)


def test_summary_without_figures_or_mlflow_is_measured_and_seeded(tmp_path: Path) -> None:
    cfg = demo_config(900, steps=30, seed=3, device="cpu")
    a = run_demo(cfg, outputs=None, experiment=None, progress=False)
    b = run_demo(cfg, outputs=None, experiment=None, progress=False)
    assert a["mlflow"] is None and a["figures"] == []
    assert a["neurons"] == sum(sizes_for_total(900, 9, math.e)) == sum(r["size"] for r in a["layers"])
    net = build_network(cfg.hierarchy, seed=3)
    assert a["synapses"] == net.n_synapses
    assert a["pm1_violation"] == 0.0
    assert a["neuron_steps_per_s"] == pytest.approx(a["neurons"] * 30 / a["run_s"])
    assert a["synaptic_updates_per_s"] == pytest.approx(a["synapses"] * 30 / a["run_s"])
    # same seed → the same activity, bitwise on the CPU; another seed → another activity
    assert [r["mean_abs_rate"] for r in a["layers"]] == [r["mean_abs_rate"] for r in b["layers"]]
    c = run_demo(cfg.model_copy(update={"seed": 4}), outputs=None, experiment=None, progress=False)
    assert [r["mean_abs_rate"] for r in a["layers"]] != [r["mean_abs_rate"] for r in c["layers"]]
    assert "MLflow                 not logged" in format_summary(a)


def test_figures_and_mlflow_run(tmp_path: Path) -> None:
    cfg = demo_config(600, steps=10, device="cpu")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    s = run_demo(cfg, outputs=tmp_path / "out", experiment="t-demo", tracking_uri=uri, progress=False)
    assert s["mlflow"] is not None and s["mlflow"]["fallback_path"] is None
    from mlflow import MlflowClient

    run = MlflowClient(uri).get_run(s["mlflow"]["run_id"])
    assert run.data.metrics["synapses"] == s["synapses"]
    assert run.data.metrics["mean_abs_rate.L1"] == s["layers"][0]["mean_abs_rate"]
    for f in s["figures"]:
        assert Path(f).stat().st_size > 1000


def test_pm1_violation_of_a_hand_computed_matrix() -> None:
    # weight 2 from L3 onto L1 lies outside the band; total 5 → V = 2/5
    conn = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    assert pm1_violation_of(conn) == 0.4
    assert pm1_violation_of(torch.zeros(4, 4)) == 0.0
    assert pm1_violation_of(torch.diag(torch.ones(9)) + torch.diag(torch.ones(8), 1)) == 0.0
    with pytest.raises(ValueError, match="connectivity"):
        pm1_violation_of(torch.ones(3, 4))


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(1, 6),
    edges=st.lists(
        st.tuples(st.integers(0, 29), st.integers(0, 29), st.floats(-5, 5, allow_nan=False)), max_size=60
    ),
    seed=st.integers(0, 2**16),
)
def test_pm1_violation_of_matches_adjacency_violation(k: int, edges: list, seed: int) -> None:
    # the reference: hal9.core.adjacency_violation over the synapses; here summed per layer pair first
    labels = torch.randint(0, k, (30,), generator=torch.Generator().manual_seed(seed))
    tgt = torch.tensor([e[0] for e in edges], dtype=torch.long)
    src = torch.tensor([e[1] for e in edges], dtype=torch.long)
    w = torch.tensor([e[2] for e in edges], dtype=torch.float64)
    conn = torch.zeros(k * k, dtype=torch.float64).index_add_(0, labels[tgt] * k + labels[src], w.abs())
    expected = adjacency_violation((tgt, src, w), labels)
    assert pm1_violation_of(conn.view(k, k)) == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_network_summary_reads_the_violation_from_the_connectivity() -> None:
    cfg = demo_config(900, steps=5, device="cpu")
    net = build_network(cfg.hierarchy, seed=0)
    means = [0.5] * 9
    fast = network_summary(net, 5, 1, means, connectivity=net.layer_connectivity())
    assert fast == network_summary(net, 5, 1, means)
    assert fast["pm1_violation"] == 0.0


def test_mlflow_run_is_one_batch_plus_artifacts(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from hal9.tracking import flatten_config

    cfg = demo_config(600, steps=20, device="cpu")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with (
        mock.patch.object(
            MlflowClient, "log_batch", autospec=True, side_effect=MlflowClient.log_batch
        ) as spy,
        mock.patch.object(
            MlflowClient, "log_artifact", autospec=True, side_effect=MlflowClient.log_artifact
        ) as arts,
    ):
        s = run_demo(cfg, outputs=tmp_path / "out", experiment="t-batch", tracking_uri=uri, progress=False)
    assert spy.call_count == 1  # params, metrics and the L1 series together
    assert arts.call_count == 3  # hierarchy.png, activity.png, layer_means.npy
    assert s["mlflow"] is not None
    client = MlflowClient(uri)
    run_id = s["mlflow"]["run_id"]
    run = client.get_run(run_id)
    assert run.data.params == flatten_config(cfg)
    expected = {f"mean_abs_rate.L{k + 1}": row["mean_abs_rate"] for k, row in enumerate(s["layers"])}
    expected |= {"neurons": s["neurons"], "run_s": s["run_s"], "pm1_violation": 0.0}
    assert expected.items() <= run.data.metrics.items()
    means = np.load(client.download_artifacts(run_id, "layer_means.npy", str(tmp_path)))
    assert means.shape == (20, 1, 9)
    series = sorted(client.get_metric_history(run_id, "mean_abs_rate.L1_t"), key=lambda m: m.step)
    assert [m.value for m in series] == np.abs(means[:, 0, 0]).astype(np.float64).tolist()
    # triangle inequality per record, |mean_i r_i| <= mean_i |r_i|: the series is bounded by L1's mean |rate|
    assert np.abs(means[:, 0, 0]).mean() <= s["layers"][0]["mean_abs_rate"] + 1e-7
