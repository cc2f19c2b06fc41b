"""The hierarchy-claims recipes (:mod:`hal9.experiments.hierarchy_claims`) and their measurements."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from hal9.experiments.hierarchy_claims import (
    EmergentConfig,
    RatioConfig,
    emergent_networks,
    emergent_sweep_default,
    emergent_sweep_run,
    ratio_sweep_default,
    ratio_sweep_run,
)
from hal9.experiments.hierarchy_claims_metrics import (
    boundary_partition,
    boundary_phi,
    centred_gram,
    circular_lags,
    hierarchy_metrics,
    layer_components,
    peak_test,
    shift_null,
    shifted_cka,
)
from hal9.experiments.sweep.recipes import TrialContext
from hal9.metrics import integrated_information, linear_cka

CTX = TrialContext()
#: A small designed hierarchy: 3 layers, 150 recorded samples, 2 components per layer.
SMALL: dict[str, Any] = {
    "neurons": 300,
    "n_layers": 3,
    "steps": 1500,
    "burn_in": 100,
    "record_every": 10,
    "components": 2,
    "n_surrogates": 4,
}

# -- synthetic data ------------------------------------------------------------------------------------

#: A 4-node VAR(1): nodes 0-1 are the lower layer, 2-3 the upper one, driven by 0 and 1.
A_COUPLED = torch.tensor(
    [[0.5, 0.2, 0, 0], [0.1, 0.4, 0, 0], [0.6, 0.0, 0.3, 0.1], [0.0, 0.7, 0.0, 0.5]], dtype=torch.float64
)


def _block_diagonal(a: torch.Tensor) -> torch.Tensor:
    out = a.clone()
    out[2:, :2] = 0
    return out


def _simulate_var(a: torch.Tensor, steps: int, seed: int) -> torch.Tensor:
    """``(steps, n)`` samples of ``x_t = A x_{t−1} + e_t``, ``e_t ~ N(0, I)``, after 100 burn-in steps."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(steps + 100, a.shape[0], generator=gen, dtype=torch.float64)
    x = torch.zeros_like(noise)
    for t in range(1, steps + 100):
        x[t] = a @ x[t - 1] + noise[t]
    return x[100:]


def _layered(a: torch.Tensor, seed: int, widths: tuple[int, int] = (30, 20)) -> dict[int, torch.Tensor]:
    """Two "layers" of neurons that read the lower (nodes 0-1) and upper (2-3) parts of a VAR(1)."""
    z = _simulate_var(a, 400, seed)
    gen = torch.Generator().manual_seed(seed + 100)
    mix = [torch.randn(2, w, generator=gen, dtype=torch.float64) for w in widths]
    noise = [0.05 * torch.randn(400, w, generator=gen, dtype=torch.float64) for w in widths]
    return {0: z[:, :2] @ mix[0] + noise[0], 1: z[:, 2:] @ mix[1] + noise[1]}


# -- Φ of a boundary -----------------------------------------------------------------------------------


@pytest.mark.parametrize("measure", ["wms", "star"])
def test_phi_of_a_block_diagonal_var_is_zero_across_the_boundary(measure: str) -> None:
    a = _block_diagonal(A_COUPLED)
    value = integrated_information(a, measure=measure, partition=boundary_partition(2, 2)).value
    assert abs(value) < 1e-9
    coupled = integrated_information(A_COUPLED, measure=measure, partition=boundary_partition(2, 2)).value
    assert coupled > 0.1  # the same partition sees the coupling


def test_boundary_partition_puts_the_lower_layer_first() -> None:
    assert boundary_partition(2, 3) == ((0, 1), (2, 3, 4))
    # x2 = 0.8 x1 + e: Φ_WMS = I(X_{t−1}; X_t) = ½ ln 1.64 across {lower | upper}
    a = torch.tensor([[0.0, 0.0], [0.8, 0.0]], dtype=torch.float64)
    value = integrated_information(a, measure="wms", partition=boundary_partition(1, 1)).value
    assert value == pytest.approx(0.5 * math.log(1.64), abs=1e-12)
    with pytest.raises(ValueError, match="at least one component"):
        boundary_partition(0, 2)


def test_boundary_phi_estimates_the_model_value_and_zero_without_coupling() -> None:
    x = _simulate_var(A_COUPLED, 10_000, seed=0)
    est = boundary_phi(x[:, :2], x[:, 2:])
    for measure, key in (("wms", "phi_wms"), ("star", "phi_star")):
        ref = integrated_information(A_COUPLED, measure=measure, partition=boundary_partition(2, 2)).value
        assert est[key] == pytest.approx(ref, abs=0.03)
    xb = _simulate_var(_block_diagonal(A_COUPLED), 10_000, seed=0)
    est0 = boundary_phi(xb[:, :2], xb[:, 2:])
    assert abs(est0["phi_wms"]) < 0.005 and abs(est0["phi_star"]) < 0.005


def test_shift_null_is_near_zero_while_the_coupled_value_is_not() -> None:
    x = _simulate_var(A_COUPLED, 10_000, seed=1)
    lags = circular_lags(10_000, 4, torch.Generator().manual_seed(0))
    assert all(2500 <= lag <= 7500 for lag in lags)
    null = shift_null(x[:, :2], x[:, 2:], lags)
    real = boundary_phi(x[:, :2], x[:, 2:])
    assert real["phi_star"] > 0.3 > 0.01 > null["phi_star"]
    assert real["phi_wms"] > 0.25 > 0.01 > abs(null["phi_wms"])


def test_boundary_phi_names_the_boundary_of_a_singular_fit() -> None:
    z = torch.randn(200, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with pytest.raises(ValueError, match="L2-L3"):
        boundary_phi(z, 2.0 * z, boundary="L2-L3")  # the upper layer is a copy of the lower one


# -- CKA, components, LZ -------------------------------------------------------------------------------


def test_cka_of_identical_layers_is_one_and_shifted_cka_matches_linear_cka() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(120, 30, generator=gen, dtype=torch.float64)
    y = x @ torch.randn(30, 10, generator=gen, dtype=torch.float64) + torch.randn(120, 10, generator=gen)
    gx, gy = centred_gram(x), centred_gram(y)
    assert shifted_cka(gx, gx, 0) == pytest.approx(1.0, abs=1e-12)
    assert shifted_cka(gx, gy, 0) == pytest.approx(float(linear_cka(x, y)), abs=1e-12)
    assert shifted_cka(gx, gy, 17) == pytest.approx(float(linear_cka(x, y.roll(17, 0))), abs=1e-12)


def test_layer_components_refuse_too_few_or_degenerate_components() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(100, 5, generator=gen, dtype=torch.float64)
    z = layer_components(x, 3)
    assert z.shape == (100, 3)
    assert torch.allclose(z.T @ z, torch.diag((z.T @ z).diagonal()), atol=1e-9)  # uncorrelated scores
    with pytest.raises(ValueError, match="components=6"):
        layer_components(x, 6)
    rank_two = x[:, :2] @ torch.randn(2, 5, generator=gen, dtype=torch.float64)
    with pytest.raises(ValueError, match="components=3: L4 has only 2"):
        layer_components(rank_two, 3, name="L4")


def test_hierarchy_metrics_on_coupled_layers_beat_their_nulls_and_independent_ones_do_not() -> None:
    m = hierarchy_metrics(_layered(A_COUPLED, 0), (30, 20), components=2, n_surrogates=8, seed=0)
    assert all(math.isfinite(v) for v in m.values())
    assert m["phi_star.L1-L2"] > m["phi_star_null.L1-L2"] + 0.1
    assert m["phi_star_excess.mean"] == pytest.approx(m["phi_star.L1-L2"] - m["phi_star_null.L1-L2"])
    assert m["cka_excess.L1-L2"] > 0.1
    assert m["width_ratio.L1-L2"] == 1.5
    assert m["width_efficiency.L1-L2"] == pytest.approx(1.5 / math.e)
    recs = _layered(_block_diagonal(A_COUPLED), 0)
    m0 = hierarchy_metrics(recs, (30, 20), components=2, n_surrogates=8, seed=0)
    assert m0["cka.L1-L2"] == pytest.approx(float(linear_cka(recs[0], recs[1])), abs=1e-12)
    assert abs(m0["phi_star_excess.L1-L2"]) < 0.05 < m["phi_star_excess.L1-L2"]


def test_lz_is_near_one_for_noise_and_low_for_slow_activity() -> None:
    gen = torch.Generator().manual_seed(3)
    white = torch.randn(400, 20, generator=gen, dtype=torch.float64)
    slow = torch.cumsum(torch.randn(400, 10, generator=gen, dtype=torch.float64), 0)  # random walks
    m = hierarchy_metrics({0: white, 1: slow}, (20, 10), components=2, n_surrogates=2, seed=0)
    assert 0.9 < m["lz.L1"] < 1.3
    assert m["lz.L2"] < 0.5
    assert m["lz.mean"] == pytest.approx((m["lz.L1"] + m["lz.L2"]) / 2)


def test_a_constant_layer_is_refused_by_name() -> None:
    white = torch.randn(200, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with pytest.raises(ValueError, match="L2"):
        hierarchy_metrics({0: white, 1: torch.ones(200, 4, dtype=torch.float64)}, (8, 4), components=2,
                          n_surrogates=2, seed=0)  # fmt: skip


# -- configs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ratio": 1.0}, "ratio"),
        ({"ratio": 0.5}, "ratio"),
        ({"components": 8, "neurons": 300, "n_layers": 5, "ratio": 3.0}, "components"),
        ({"steps": 100}, "steps"),
        ({"noise": -1.0}, "noise"),
        ({"device": "tpu"}, "device"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_ratio_config_errors_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        RatioConfig(**kwargs)


def test_components_larger_than_an_emergent_layer_are_refused_by_name() -> None:
    cfg = EmergentConfig(neurons=60, k=4, n_layers=9, components=8, steps=2000)
    with pytest.raises(ValueError, match="components=8 is larger than the smallest layer"):
        emergent_networks(cfg)
    with pytest.raises(ValidationError, match="kind"):
        EmergentConfig(kind="random")


def test_defaults_are_valid_configs_with_a_seed() -> None:
    for default, config_type in (
        (ratio_sweep_default, RatioConfig),
        (emergent_sweep_default, EmergentConfig),
    ):
        raw = default()
        assert raw["seed"] == 0 and json.loads(json.dumps(raw)) == raw
        assert config_type.model_validate(raw).model_dump(mode="json") == raw


# -- trials --------------------------------------------------------------------------------------------


def test_ratio_trial_is_deterministic_finite_and_beats_its_null() -> None:
    cfg = RatioConfig(ratio=2.0, **SMALL)
    a, b = ratio_sweep_run(cfg, CTX), ratio_sweep_run(cfg, CTX)
    assert a["metrics"] == b["metrics"]
    m = a["metrics"]
    assert all(isinstance(v, float) and math.isfinite(v) for v in m.values())
    assert {"phi_wms.L1-L2", "phi_star.L2-L3", "cka.mean", "pr_efficiency.mean", "lz.L3"} <= set(m)
    assert m["phi_star_excess.mean"] > 0.1  # the designed hierarchy couples its layers beyond the null
    assert m["cka_excess.mean"] > 0.05
    info = json.loads(a["artifacts"]["trial.json"])
    assert info["sizes"] == list(cfg.sizes()) and m["neurons"] == sum(cfg.sizes())
    other = ratio_sweep_run(cfg.model_copy(update={"seed": 1}), CTX)["metrics"]
    assert other["phi_star.L1-L2"] != m["phi_star.L1-L2"]


@pytest.mark.parametrize("kind", ["emergent", "designed", "null"])
def test_emergent_trials_share_layers_and_give_finite_metrics(kind: str) -> None:
    cfg = EmergentConfig(
        kind=kind,
        neurons=400,
        n_layers=3,
        **{k: v for k, v in SMALL.items() if k not in ("n_layers", "neurons")},
    )
    out = emergent_sweep_run(cfg, CTX)
    m = out["metrics"]
    assert all(math.isfinite(v) for v in m.values()) and m["n_layers"] == 3
    info = json.loads(out["artifacts"]["trial.json"])
    assert info["sizes"] == info["emergent_sizes"] and sum(info["sizes"]) == 400
    if kind == "null":
        assert m["substrate.removed_weight_fraction"] > 0  # rewiring made edges between L1 and L3
    else:
        assert m["substrate.removed_weight_fraction"] < 0.05


def test_simulation_does_not_depend_on_its_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    import hal9.experiments.hierarchy_claims_metrics as hcm
    from hal9.experiments.hierarchy_claims import ratio_network

    cfg = RatioConfig(**SMALL)
    net = ratio_network(cfg)

    def simulate() -> dict[int, torch.Tensor]:
        return hcm.simulate_noise_driven(
            net, cfg.neuron(), steps=1005, burn_in=230, record_every=10, noise=1.0, layer_noise=0.05, seed=4
        )

    one = simulate()
    monkeypatch.setattr(hcm, "SEGMENT_STEPS", 70)  # 3 burn-in segments, 15 recorded ones of 70 steps
    split = simulate()
    assert [tuple(v.shape) for v in one.values()] == [(100, n) for n in net.sizes]
    assert all(torch.equal(one[k], split[k]) for k in one)


# -- peak_test -----------------------------------------------------------------------------------------


def _row(ratio: float, mean: float, half: float, n: int = 3) -> dict[str, Any]:
    stats = {"mean": mean, "sd": half, "ci_low": mean - half, "ci_high": mean + half}
    return {"params": {"ratio": ratio, "neurons": 1500}, "n": n, "metrics": {"phi": stats}}


def test_peak_test_finds_a_peak_above_both_neighbours() -> None:
    rows = [_row(1.5, 9.0, 0.1), _row(2.0, 1.0, 0.2), _row(math.e, 2.0, 0.5), _row(3.0, 1.5, 0.4)]
    out = peak_test(rows, "phi")
    assert out["peak"] is True
    assert out["lower"] == {"value": 2.0, "n": 3, "mean": 1.0, "ci_high": 1.2}  # the nearest, not 1.5
    assert out["higher"]["value"] == 3.0 and out["higher"]["ci_high"] == pytest.approx(1.9)
    assert out["mean_at"] == 2.0 and out["ci_at"] == [1.5, 2.5] and out["n_at"] == 3
    assert "above both" in out["reason"]


def test_peak_test_no_peak_when_a_neighbours_interval_reaches_the_mean() -> None:
    rows = [_row(2.0, 1.0, 0.2), _row(math.e, 2.0, 0.5), _row(3.0, 1.9, 0.2)]
    out = peak_test(rows, "phi")
    assert out["peak"] is False and "not above both" in out["reason"]
    assert peak_test([_row(2.0, 3.0, 0.1), *rows[1:]], "phi")["peak"] is False  # higher on the left


def test_peak_test_missing_neighbour_or_interval() -> None:
    out = peak_test([_row(math.e, 2.0, 0.5), _row(3.0, 1.0, 0.1)], "phi")
    assert out["peak"] is False and out["lower"] is None and "no lower neighbour" in out["reason"]
    nan = _row(2.0, 1.0, 0.1, n=1)
    nan["metrics"]["phi"] |= {"ci_low": math.nan, "ci_high": math.nan}
    out = peak_test([nan, _row(math.e, 2.0, 0.5), _row(3.0, 1.0, 0.1)], "phi")
    assert out["peak"] is False and "fewer than 2 seeds" in out["reason"]
    with pytest.raises(ValueError, match=r"no row with ratio=2\.718"):
        peak_test([_row(2.0, 1.0, 0.1)], "phi")
    with pytest.raises(ValueError, match="'other'"):
        peak_test([_row(math.e, 1.0, 0.1)], "other")
