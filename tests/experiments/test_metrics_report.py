"""The metrics recipe (:mod:`hal9.experiments.metrics_report`): config errors, values against hand-computed
Gaussian information, the Φ_WMS note, the serve job's row."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from scipy.linalg import solve_discrete_lyapunov

from hal9.experiments.metrics_report import (
    WMS_NOTE,
    MetricsReportConfig,
    measure_integration,
    run_metrics,
)


def _wms_by_hand(a: np.ndarray, noise: np.ndarray) -> float:
    """Φ_WMS over the singleton bipartition of a VAR(1), from its stationary covariance (independent code).

    Σ = A Σ Aᵀ + N; the whole: I = ½ ln(det Σ / det N); node k alone: lag-1 autocovariance c = (AΣ)_kk,
    variance v = Σ_kk, I_k = −½ ln(1 − (c/v)²).
    """
    sigma = solve_discrete_lyapunov(a, noise)
    whole = 0.5 * math.log(np.linalg.det(sigma) / np.linalg.det(noise))
    lag = a @ sigma
    parts = [-0.5 * math.log(1 - (lag[k, k] / sigma[k, k]) ** 2) for k in range(len(a))]
    return whole - sum(parts)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"hierarchy": 5}, "hierarchy"),
        ({"hierarchy": 900, "steps": 1}, "steps"),
        ({"hierarchy": 900, "noise": -1.0}, "noise"),
        ({"input": "x.npy", "measures": ("wms", "magic")}, "measures"),
        ({"input": "x.npy", "measures": ()}, "measures"),
        ({"input": "x.npy", "criterion": "max"}, "criterion"),
        ({"input": "x.npy", "seeed": 1}, "seeed"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        MetricsReportConfig(**kwargs)


def test_config_needs_exactly_one_source() -> None:
    for kwargs in ({}, {"input": "x.npy", "hierarchy": 900}):
        with pytest.raises(ValidationError, match="exactly one of 'input'"):
            MetricsReportConfig(**kwargs)


def test_feed_forward_pair_and_the_note(tmp_path: Path) -> None:
    np.savez(tmp_path / "ff.npz", A=np.array([[0.0, 0.0], [0.8, 0.0]]))
    cfg = MetricsReportConfig(input=tmp_path / "ff.npz", measures=("mi", "wms"))
    s = run_metrics(cfg, outputs=None, experiment=None)
    expected = 0.5 * math.log(1.64)  # I(X_{t−1}; X_t) of the feed-forward pair; Φ_WMS equals it
    assert s["measures"]["mi"]["value_nats"] == pytest.approx(expected, rel=1e-9)
    assert s["measures"]["wms"]["value_nats"] == pytest.approx(expected, rel=1e-9)
    assert s["notes"] == [WMS_NOTE] and s["mlflow"] is None and s["figures"] == []
    only_mi = run_metrics(cfg.model_copy(update={"measures": ("mi",)}), outputs=None, experiment=None)
    assert only_mi["notes"] == []


def test_wms_can_be_negative_as_the_note_says() -> None:
    a = np.full((2, 2), 0.4)
    noise = np.array([[1.0, 0.9], [0.9, 1.0]])
    row = measure_integration({"A": torch.tensor(a), "noise_cov": torch.tensor(noise)}, "wms")
    assert row["value_nats"] == pytest.approx(_wms_by_hand(a, noise), rel=1e-9)
    assert row["value_nats"] < -0.4  # the parts' shared past is counted twice by the sum
    assert row["partition"] == [[0], [1]] and row["method"] == "exhaustive"
    assert "negative" in WMS_NOTE and "Barrett & Seth 2011" in WMS_NOTE


def test_hierarchy_report_is_seeded_and_noted(tmp_path: Path) -> None:
    cfg = MetricsReportConfig(hierarchy=600, steps=80, seed=2)
    a = run_metrics(cfg, outputs=None, experiment=None, progress=False)
    b = run_metrics(cfg, outputs=None, experiment=None, progress=False)
    assert a["input"] == {"kind": "hierarchy", "neurons": 600, "steps": 80, "noise": 0.5}
    assert a.get("boundaries") == b.get("boundaries") and a.get("lempel_ziv") == b.get("lempel_ziv")
    assert len(a.get("boundaries", [])) == 8
    phi = a.get("phi")
    assert phi is not None and phi["measure"] == "wms" and a["notes"] == [WMS_NOTE]


def test_missing_or_bad_input_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        run_metrics(MetricsReportConfig(input=tmp_path / "no.npy"), outputs=None, experiment=None)
    np.save(tmp_path / "x3.npy", np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"\(T, n\)"):
        run_metrics(MetricsReportConfig(input=tmp_path / "x3.npy"), outputs=None, experiment=None)
