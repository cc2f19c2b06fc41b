"""The self-organization recipes (:mod:`hal9.experiments.organize`)."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from hal9.experiments.organize import (
    OrganizeConfig,
    ReferenceConfig,
    fit_organizer,
    run_organize,
    run_reference,
)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"neurons": 0}, "neurons"), ({"device": "tpu"}, "device"), ({"kernel": "jit"}, "kernel")],
)
def test_reference_config_errors_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        ReferenceConfig(**kwargs)


def test_reference_count_is_hal9s() -> None:
    out = run_reference(ReferenceConfig(neurons=1000))
    assert out["connections"] == 489_060  # the count HAL9's README prints for 1000 neurons
    assert out["neurons"] == 1000 and out["timings_s"]["total"] > 0
    # the exact sweep, reported beside the all-pairs loop, gives the same count
    assert out["sweep"] == {"connections": 489_060, "seconds": out["sweep"]["seconds"], "agrees": True}
    assert out["sweep"]["seconds"] > 0
    assert out["kernel"] == "eager" and out["timings_s"]["compile"] == 0.0  # auto: eager below 100k


def test_reference_reports_a_disagreement(monkeypatch: pytest.MonkeyPatch) -> None:
    """``agrees`` is computed, not assumed: a sweep that miscounts is reported as disagreeing."""
    import hal9.selforg.reference as ref_mod

    monkeypatch.setattr(ref_mod, "_sweep_count", lambda s, c: 7)
    out = run_reference(ReferenceConfig(neurons=300))
    assert out["sweep"]["connections"] == 7 and out["sweep"]["agrees"] is False


def test_fit_is_seeded_and_summary_is_measured() -> None:
    cfg = OrganizeConfig(neurons=300, k=6, n_null=2, mode="exact", seed=5)
    a, b = fit_organizer(cfg).organizer, fit_organizer(cfg).organizer
    assert torch.equal(a.layering_.labels, b.layering_.labels)
    s = run_organize(cfg, outputs=None, experiment=None)
    assert s["neurons"] == 300 and s["edges"] == 300 * 6
    assert sum(r["size"] for r in s["layers"]) == 300 and s["pm1_violation"] == 0.0
    assert s["mlflow"] is None and s["figures"] == [] and s["peak_rss_mb"] > 0
    stages = {k: v for k, v in s["timings_s"].items() if k != "total"}
    assert s["timings_s"]["total"] >= max(stages.values())
    assert "rewired/modularity" in s.get("null", {})
