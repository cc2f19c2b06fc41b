"""Experiment 1b (hal9.experiments.ratio_task): the sizes a ratio gives, bad configs, and one short
training run that is deterministic under its seed."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from hal9.experiments.ratio_task import RatioTaskConfig, ratio_task_run, ratio_task_sizes
from hal9.experiments.sweep.recipes import TrialContext


def test_sizes_keep_input_and_l2_and_shrink_by_the_ratio() -> None:
    assert ratio_task_sizes(RatioTaskConfig(ratio=2.0, width=256, n_layers=5)) == (64, 256, 128, 64, 32)
    assert ratio_task_sizes(RatioTaskConfig(ratio=math.e, width=256, n_layers=4)) == (64, 256, 94, 35)
    assert ratio_task_sizes(RatioTaskConfig(ratio=16.0, width=4, n_layers=4)) == (64, 4, 1, 1)  # ≥ 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("ratio", 1.0), ("ratio", float("nan")), ("n_layers", 2), ("width", 1), ("epochs", 0), ("surprise", 1)],
)
def test_bad_configs_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        RatioTaskConfig.model_validate({field: value})


def test_one_trial_is_deterministic_under_its_seed() -> None:
    cfg = RatioTaskConfig(ratio=2.0, width=16, epochs=1, seed=3)
    a = ratio_task_run(cfg, TrialContext())["metrics"]
    b = ratio_task_run(cfg, TrialContext())["metrics"]
    c = ratio_task_run(cfg.model_copy(update={"seed": 4}), TrialContext())["metrics"]
    assert a["top_layer_size"] == 4.0 and a["neurons"] == 64 + 16 + 8 + 4
    assert 0.0 <= a["test_accuracy"] <= 1.0 and math.isfinite(a["final_train_loss"])
    assert (a["test_accuracy"], a["final_train_loss"]) == (b["test_accuracy"], b["final_train_loss"])
    assert a["final_train_loss"] != c["final_train_loss"]
