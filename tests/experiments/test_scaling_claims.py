"""Sweep recipes of experiments 3 (self-organisation scaling) and 5 (HAL9's benchmark table)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from hal9.experiments.organize import OrganizeConfig, fit_organizer
from hal9.experiments.scaling_claims import (
    HAL9_README_CLAIMS,
    Hal9TableConfig,
    ScalingConfig,
    fit_exponent,
    hal9_table_sweep_default,
    hal9_table_sweep_run,
    scaling_sweep_default,
    scaling_sweep_run,
)
from hal9.experiments.sweep.recipes import TrialContext
from hal9.selforg import count_connections, modularity

CTX = TrialContext()
SMALL = {"neurons": 300, "k": 6, "mode": "exact", "n_null": 2}


# -- fit_exponent -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("alpha", "prefactor"), [(1.0, 1e-6), (2.0, 3e-9), (0.5, 0.2), (1.37, 4e-5)])
def test_fit_exponent_recovers_exact_power_laws(alpha: float, prefactor: float) -> None:
    sizes = [1e3, 3e3, 1e4, 1e5, 1e6]
    fit = fit_exponent(sizes, [prefactor * n**alpha for n in sizes])
    assert fit["alpha"] == pytest.approx(alpha, abs=1e-12)
    assert fit["prefactor"] == pytest.approx(prefactor, rel=1e-9)
    assert fit["alpha_ci_high"] - fit["alpha_ci_low"] < 1e-9 and fit["r2"] == pytest.approx(1.0)
    assert fit["n"] == 5


def test_fit_exponent_standard_error_and_t_interval_by_hand() -> None:
    """se from numpy's least-squares covariance (χ²/dof scaled), the half-width from the t quantile."""
    from scipy import stats

    rng = np.random.default_rng(3)
    sizes = np.repeat([1e3, 1e4, 1e5, 1e6], 2)
    times = 2e-7 * sizes**1.2 * np.exp(rng.normal(0, 0.2, sizes.size))
    fit = fit_exponent(sizes.tolist(), times.tolist())
    coef, cov = np.polyfit(np.log(sizes), np.log(times), 1, cov=True)
    assert fit["alpha"] == pytest.approx(coef[0], rel=1e-10)
    assert fit["alpha_se"] == pytest.approx(math.sqrt(cov[0, 0]), rel=1e-8)
    assert fit["alpha_se"] == pytest.approx(stats.linregress(np.log(sizes), np.log(times)).stderr, rel=1e-8)
    half = stats.t.ppf(0.975, sizes.size - 2) * fit["alpha_se"]
    assert fit["alpha_ci_high"] - fit["alpha"] == pytest.approx(half, rel=1e-12)
    assert fit["alpha"] - fit["alpha_ci_low"] == pytest.approx(half, rel=1e-12)


def test_fit_exponent_interval_covers_at_its_level() -> None:
    """With 4 noisy points the t interval (t₀.₉₇₅,₂ = 4.30) covers α about 95 % of the time; a normal
    quantile (1.96) would cover only about 75 %, so this test fails for the wrong quantile."""
    rng = np.random.default_rng(0)
    sizes = np.array([1e3, 1e4, 1e5, 1e6])
    trials = 400
    covered = 0
    for _ in range(trials):
        times = 1e-8 * sizes**1.5 * np.exp(rng.normal(0, 0.3, sizes.size))
        fit = fit_exponent(sizes.tolist(), times.tolist())
        covered += fit["alpha_ci_low"] <= 1.5 <= fit["alpha_ci_high"]
    assert 0.92 <= covered / trials <= 0.98


@pytest.mark.parametrize(
    ("sizes", "times", "match"),
    [
        ([1e3, 1e4], [1.0, 2.0], "at least 3"),
        ([1e3, 1e4, 1e5], [1.0, 2.0], "equal length"),
        ([1e3, 0.0, 1e5], [1.0, 2.0, 3.0], "sizes must be positive"),
        ([1e3, 1e4, 1e5], [1.0, math.nan, 3.0], "times must be positive"),
        ([1e3, 1e3, 1e3], [1.0, 2.0, 3.0], "2 distinct"),
    ],
)
def test_fit_exponent_rejects_bad_input(sizes: list[float], times: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit_exponent(sizes, times)


# -- experiment 3 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"neurons": 10}, "neurons"),
        ({"neurons": 300, "k": 300}, "k"),
        ({"n_null": 1}, "n_null"),
        ({"removal_fraction": 1.0}, "removal_fraction"),
        ({"device": "tpu"}, "device"),
        ({"kernel": "cosine"}, "kernel"),
        ({"neuronz": 3}, "neuronz"),
    ],
)
def test_scaling_config_errors_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        ScalingConfig(**kwargs)


def test_scaling_default_is_a_valid_small_config() -> None:
    cfg = ScalingConfig.model_validate(scaling_sweep_default())
    assert cfg == ScalingConfig() and cfg.seed == 0 and 1000 <= cfg.neurons <= 5000


def test_scaling_trial_measures_what_an_independent_fit_gives() -> None:
    cfg = ScalingConfig(**SMALL, seed=4)
    m = scaling_sweep_run(cfg, CTX)["metrics"]
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())
    # the same fit, done here by hand
    org = fit_organizer(OrganizeConfig(neurons=300, k=6, mode="exact", n_null=0, seed=4)).organizer
    lay = org.layering_
    assert m["n_layers"] == lay.n_layers and m["edges"] == 300 * 6 and m["discovery_exact"] == 1.0
    assert m["modularity"] == pytest.approx(modularity(org.graph_, lay.labels), abs=1e-9)
    assert m["null.modularity.margin"] == pytest.approx(m["modularity"] - m["null.modularity.mean"])
    assert m["null.modularity.margin"] > 0  # the emergent layers beat degree-preserving rewiring here
    stab = org.remove(0.1, seed=5)
    assert m["stability.ari"] == pytest.approx(stab.ari) and m["stability.removed"] == 30
    assert -1 <= m["stability.ari"] <= 1 and m["stability.bypass_edges"] <= m["stability.lost_edges"]
    assert m["time.discovery"] > 0 and m["time.layering"] > 0 and m["time.null"] > 0
    assert m["time.fit"] >= m["time.discovery"] + m["time.layering"]
    assert m["peak_rss_mb"] > 10 and m["peak_rss_per_trial"] in (0.0, 1.0)
    assert "cuda_peak_mb" not in m


def test_scaling_trial_is_seeded() -> None:
    cfg = ScalingConfig(**SMALL, seed=1)

    def untimed(c: ScalingConfig) -> dict[str, float]:
        m = scaling_sweep_run(c, CTX)["metrics"]
        return {k: v for k, v in m.items() if not k.startswith(("time.", "peak_"))}

    a = untimed(cfg)
    assert a == untimed(cfg)
    assert a != untimed(cfg.model_copy(update={"seed": 2}))


def test_scaling_trial_without_null() -> None:
    m = scaling_sweep_run(ScalingConfig(**{**SMALL, "n_null": 0}), CTX)["metrics"]
    assert not any(k.startswith("null.") for k in m) and "time.null" not in m
    assert "stability.ari" in m


# -- experiment 5 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"neurons": 1}, "neurons"),
        ({"kernel": "jit"}, "kernel"),
        ({"device": "tpu"}, "device"),
        ({"n": 5}, "n"),
    ],
)
def test_table_config_errors_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Hal9TableConfig(**kwargs)


def test_claims_are_the_ones_recorded_in_the_repository() -> None:
    """The timing rows hal9's docs quote from HAL9's README, and the connection counts HAL9 printed."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "hal9_reference.md").read_text()
    assert "283.14 µs total, 276.23 µs discovery, 489 060 connections" in doc
    assert "1.10 ms total, 1.09 ms discovery, 1 957 240 connections" in doc
    assert "50.87 ms, 4 299 142 connections" in doc and "**85.83 µs**" in doc
    c = HAL9_README_CLAIMS
    assert (c[1000].total_s, c[1000].discovery_s, c[1000].connections) == (283.14e-6, 276.23e-6, 489_060)
    assert (c[2000].total_s, c[2000].discovery_s, c[2000].connections) == (1.10e-3, 1.09e-3, 1_957_240)
    assert (c[5000].total_s, c[5000].connections) == (50.87e-3, 4_299_142)
    assert (c[10_000].total_s, c[10_000].connections) == (85.83e-6, None)
    # HAL9's rule reproduces every count HAL9 printed up to 2000 neurons (and not the 5000 one)
    for n, claim in c.items():
        if claim.connections is not None and n <= 2000:
            assert count_connections(n) == claim.connections, n


def test_table_row_with_a_claim() -> None:
    m = hal9_table_sweep_run(Hal9TableConfig(neurons=1000), CTX)["metrics"]
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())
    assert m["pairs_evaluated"] == 1000 * 999 / 2 and m["connections"] == 489_060 and m["layers"] == 4
    assert m["claimed_s"] == 283.14e-6 and m["claimed_discovery_s"] == 276.23e-6
    assert m["claimed_connections"] == 489_060 and m["connections_match_claim"] == 1.0
    assert m["measured_over_claimed"] == pytest.approx(m["measured_s"] / 283.14e-6)
    assert m["pairs_per_s"] == pytest.approx(m["pairs_evaluated"] / m["time.connections"])
    assert m["measured_s"] >= m["time.connections"] > 0 and m["kernel_compiled"] == 0.0


def test_table_row_whose_claimed_count_is_wrong() -> None:
    m = hal9_table_sweep_run(Hal9TableConfig(neurons=5000), CTX)["metrics"]
    assert m["connections"] == 12_236_500 and m["claimed_connections"] == 4_299_142
    assert m["connections_match_claim"] == 0.0 and "claimed_discovery_s" not in m


def test_table_row_without_a_claim_and_seeds_repeat_the_work() -> None:
    a = hal9_table_sweep_run(Hal9TableConfig(neurons=300, seed=0), CTX)["metrics"]
    b = hal9_table_sweep_run(Hal9TableConfig(neurons=300, seed=1), CTX)["metrics"]
    assert not any(k.startswith(("claimed", "measured_over", "connections_match")) for k in a)
    assert a["connections"] == b["connections"] == count_connections(300)


def test_table_trial_fails_when_the_two_exact_counts_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    import hal9.selforg.reference as ref_mod

    monkeypatch.setattr(ref_mod, "_sweep_count", lambda s, c: 7)
    with pytest.raises(RuntimeError, match="defect"):
        hal9_table_sweep_run(Hal9TableConfig(neurons=200), CTX)


def test_table_default() -> None:
    cfg = Hal9TableConfig.model_validate(hal9_table_sweep_default())
    assert cfg == Hal9TableConfig() and cfg.neurons in HAL9_README_CLAIMS
