"""The demo recipe (:mod:`hal9.experiments.demo`): config errors, the L1 input, the summary, determinism."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from hal9.core import build_network, sizes_for_total
from hal9.experiments.demo import DemoConfig, demo_config, demo_inputs, format_summary, run_demo


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
