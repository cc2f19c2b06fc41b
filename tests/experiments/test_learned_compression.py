"""The learned-compression recipe (:mod:`hal9.experiments.learned_compression`): end to end with and without
MLflow, the trained weights against independent numpy PCA, the measured steady state against the dense
linear map, the norm-matched control, determinism and config errors."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hal9.core import ConnectivityConfig, HierarchyConfig, Network, build_network, csr_matrix, designed_sizes
from hal9.experiments.learned_compression import (
    BOUNDARY_METRICS,
    CONDITIONS,
    KEEP_METRICS,
    BoundaryStats,
    LearnedCompressionConfig,
    Stats,
    _verdict,
    load_inputs,
    measure,
    norm_matched,
    run_and_log,
    run_learned_compression,
    train_hierarchy,
)

CONFIGS = Path(__file__).resolve().parents[2] / "experiments" / "configs"


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """These networks have ≤ 100 neurons: intra-op threads only add contention (10–50× slower on a busy
    2-core machine), so run the module on one thread and restore the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny(**kw: object) -> LearnedCompressionConfig:
    base: dict[str, object] = {
        "data": "gaussian",
        "base_size": 16,
        "n_layers": 3,
        "ratios": (2.0,),
        "train_steps": 300,
        "batch": 16,
        "lr": 0.02,
        "noise_sd": 0.1,
        "n_components": 4,
        "n_surrogates": 3,
        "seeds": (0, 1),
        "n_train": 512,
        "n_test": 128,
        "spectrum_decay": 2.0,
    }
    return LearnedCompressionConfig(**{**base, **kw})


def _network(cfg: LearnedCompressionConfig, seed: int) -> Network:
    sizes = designed_sizes(cfg.base_size, cfg.n_layers, cfg.ratios[0])
    conn = ConnectivityConfig(
        within=False, bottom_up=True, feedback=False, fan_in_up=cfg.base_size, fan_in_policy="clip"
    )
    hcfg = HierarchyConfig(sizes=sizes, n_layers=cfg.n_layers, connectivity=conn)
    return build_network(hcfg, seed=seed, dtype=torch.float64)


def _block(weight: torch.Tensor, sizes: tuple[int, ...], k: int) -> np.ndarray:
    """Dense ``(n_{k+1}, n_k)`` block of a tiny test matrix (fine at ≤ 30 neurons)."""
    off = np.concatenate([[0], np.cumsum(sizes)])
    dense = weight.to_dense().numpy()
    return dense[off[k + 1] : off[k + 2], off[k] : off[k + 1]]


def test_small_config_end_to_end_without_mlflow(tmp_path: Path) -> None:
    cfg = LearnedCompressionConfig.model_validate_json(
        (CONFIGS / "learned_compression_small.json").read_text()
    )
    s = run_and_log(cfg, outputs=tmp_path, experiment=None)
    assert s["mlflow"] is None and len(s["figures"]) == 1 and Path(s["figures"][0]).stat().st_size > 1000
    json.dumps(s)  # JSON-serialisable
    (res,) = s["results"]
    assert res["sizes"] == [64, 24, 9, 3] and len(res["boundaries"]) == 3 and len(res["seeds"]) == 2
    for b in res["boundaries"]:
        assert set(b["metrics"]) == set(BOUNDARY_METRICS)
        for st_ in b["metrics"].values():
            assert set(st_) == {*CONDITIONS, "diff_random", "diff_norm_matched"}
    for seed in res["seeds"]:
        b1 = seed["boundaries"][0]
        # PCA keeps far more of L1's principal activity than a random projection
        assert b1["mi_corrected"]["learned"] > b1["mi_corrected"]["random"] + 1.0
        assert b1["subspace_alignment"]["learned"] > 0.8 > 0.5 > b1["subspace_alignment"]["random"]
        assert seed["weight_change"] > 0.3
    assert s["answer"].startswith("ratio 2.718 (64→24→9→3), 2 seeds")


def test_mlflow_run_and_ratio_prefix(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = _tiny(ratios=(2.0, 3.0), train_steps=100)
    s = run_and_log(cfg, outputs=tmp_path / "out", experiment="t-lc", tracking_uri=uri)
    assert s["mlflow"] is not None and s["mlflow"]["fallback_path"] is None
    from mlflow import MlflowClient

    run = MlflowClient(uri).get_run(s["mlflow"]["run_id"])
    m = run.data.metrics
    st0 = s["results"][0]["boundaries"][0]["metrics"]["mi_corrected"]
    assert m["b1.mi_corrected.learned_mean"] == pytest.approx(st0["learned"]["mean"])
    assert m["b1.mi_corrected.random_mean"] == pytest.approx(st0["random"]["mean"])
    assert m["b1.mi_corrected.diff_ci_low"] == pytest.approx(st0["diff_random"]["ci95"][0])
    assert m["b1.mi_corrected.diff_ci_high"] == pytest.approx(st0["diff_random"]["ci95"][1])
    st1 = s["results"][1]["boundaries"][1]["metrics"]["reconstruction_r2"]
    assert m["r3.b2.reconstruction_r2.learned_mean"] == pytest.approx(st1["learned"]["mean"])
    assert run.data.params["rule"] == "oja_subspace" and run.data.params["noise_sd"] == "0.1"


def test_training_keeps_the_structure_and_changes_the_weights() -> None:
    cfg = _tiny()
    net = _network(cfg, 3)
    x_train, _ = load_inputs(cfg)
    learned = train_hierarchy(cfg, net, x_train, seed=3)
    w0, w1 = net.weight, learned.weight
    assert torch.equal(w0.crow_indices(), w1.crow_indices())
    assert torch.equal(w0.col_indices(), w1.col_indices())
    assert float((w1.values() - w0.values()).norm() / w0.values().norm()) > 0.3
    assert learned.sizes == net.sizes


def test_the_rule_finds_the_principal_subspace_of_numpy_pca() -> None:
    cfg = _tiny(n_layers=2, train_steps=2000, seeds=(0, 1))
    net = _network(cfg, 0)
    x_train, x_test = load_inputs(cfg)
    learned = train_hierarchy(cfg, net, x_train, seed=0)
    sizes = net.sizes
    _, evecs = np.linalg.eigh(np.cov(x_train.numpy().T))
    u = evecs[:, ::-1][:, : sizes[1]]  # top-8 principal directions, computed independently
    for weight, low, high in ((learned.weight, 0.97, 1.0), (net.weight, 0.0, 0.8)):
        w = _block(weight, sizes, 0)
        align = np.linalg.norm(w @ u) ** 2 / np.linalg.norm(w) ** 2
        assert low <= align <= high
    w = _block(learned.weight, sizes, 0)
    # noisy-output subspace rule: rows shrink to s² = 1 − σ²/λ (≥ 0.9 here), never beyond unit norm
    assert np.all((np.linalg.norm(w, axis=1) > 0.85) & (np.linalg.norm(w, axis=1) < 1.05))
    noise = {1: torch.zeros(x_test.shape[0], sizes[1], dtype=torch.float64)}
    rows, _, _ = measure(cfg, learned, x_test, noise, 2.0, 0)
    assert rows[0]["subspace_alignment"] == pytest.approx(
        np.linalg.norm(w @ u) ** 2 / np.linalg.norm(w) ** 2, abs=0.03
    )


def test_measure_records_the_steady_state_linear_map() -> None:
    cfg = _tiny()
    net = _network(cfg, 5)
    _, x_test = load_inputs(cfg)
    sizes = net.sizes
    gen = torch.Generator().manual_seed(1)
    noise = {
        k: 0.1 * torch.randn(x_test.shape[0], sizes[k], generator=gen, dtype=torch.float64) for k in (1, 2)
    }
    rows, e2e, acts = measure(cfg, net, x_test, noise, 2.0, 0)
    x = x_test.numpy()
    assert np.allclose(acts[0].numpy(), x, atol=1e-12)
    for k in (1, 2):
        x = x @ _block(net.weight, sizes, k - 1).T + noise[k].numpy()
        assert np.allclose(acts[k].numpy(), x, atol=1e-10)
    assert len(rows) == 2 and set(rows[0]) == set(BOUNDARY_METRICS) and 0.0 < e2e < 1.0


@settings(max_examples=25, deadline=None)
@given(base=st.integers(3, 12), layers=st.integers(2, 4), fan=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_norm_matched_rows_have_the_learned_norms_and_random_directions(
    base: int, layers: int, fan: int, seed: int
) -> None:
    conn = ConnectivityConfig(within=False, feedback=False, fan_in_up=fan, fan_in_policy="clip")
    net = build_network(HierarchyConfig(base_size=base, n_layers=layers, connectivity=conn), seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    values = torch.randn(net.n_synapses, generator=gen)
    other = csr_matrix(net.weight.crow_indices(), net.weight.col_indices(), values, net.n_neurons)
    out = norm_matched(net.weight, other).to_dense().numpy()
    rand, learned = net.weight.to_dense().numpy(), other.to_dense().numpy()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), np.linalg.norm(learned, axis=1), rtol=1e-5)
    for r, o in zip(rand, out, strict=True):
        if np.linalg.norm(r) > 0:
            assert abs(r @ o) == pytest.approx(np.linalg.norm(r) * np.linalg.norm(o), rel=1e-5)
            assert r @ o >= 0


def test_norm_matched_refuses_another_structure() -> None:
    conn = ConnectivityConfig(within=False, fan_in_up=4)
    a = build_network(HierarchyConfig(base_size=10, n_layers=2, connectivity=conn), seed=0)
    b = build_network(HierarchyConfig(base_size=10, n_layers=2, connectivity=conn), seed=1)
    with pytest.raises(ValueError, match="same CSR structure"):
        norm_matched(a.weight, b.weight)


def test_same_seed_same_summary_and_other_seeds_differ() -> None:
    cfg = _tiny(train_steps=150)
    a, b = run_learned_compression(cfg), run_learned_compression(cfg)
    a["seconds"] = b["seconds"] = 0.0
    assert json.dumps(a) == json.dumps(b)
    c = run_learned_compression(cfg.model_copy(update={"seeds": (2, 3)}))
    key = lambda s: s["results"][0]["boundaries"][0]["metrics"]["mi_corrected"]["learned"]["mean"]  # noqa: E731
    assert key(c) != key(a)


def _boundary(lo: float, hi: float) -> BoundaryStats:
    stat: Stats = {"mean": (lo + hi) / 2, "sd": 1.0, "ci95": (lo, hi)}
    return {
        "boundary": 1,
        "lower_size": 2,
        "upper_size": 1,
        "metrics": {key: {"diff_random": stat} for key in KEEP_METRICS},
    }


def test_verdict_needs_every_interval_on_one_side() -> None:
    cases = [
        ([(0.1, 0.3), (0.01, 2.0)], "yes"),
        ([(-3.0, -0.1), (-2.0, -1.0)], "no"),
        ([(0.1, 0.3), (-0.1, 2.0)], "inconclusive"),
        ([(-0.5, -0.1), (0.1, 2.0)], "inconclusive"),
        ([(math.nan, math.nan)], "inconclusive"),
    ]
    for cis, expected in cases:
        assert set(_verdict([_boundary(lo, hi) for lo, hi in cis], "random").values()) == {expected}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ratios": (1.0,)}, "ratios"),
        ({"ratios": (2.0, 2.0)}, "ratios"),
        ({"ratios": ()}, "ratios"),
        ({"seeds": (0,)}, "seeds"),
        ({"seeds": (1, 1)}, "seeds"),
        ({"seeds": (-1, 2)}, "seeds"),
        ({"data": "digits", "base_size": 32}, "base_size"),
        ({"noise_sd": 0.0}, "noise_sd"),
        ({"lr": 0.0}, "lr"),
        ({"lr": math.inf}, "lr"),
        ({"rule": "hebb"}, "rule"),
        ({"n_layers": 1}, "n_layers"),
        ({"n_components": 40}, "n_components"),
        ({"fan_in": 0}, "fan_in"),
        ({"device": "tpu"}, "device"),
        ({"dtype": "float16"}, "dtype"),
        ({"train_step": 5}, "train_step"),
    ],
)
def test_bad_config_values_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        _tiny(**kwargs)


@pytest.mark.gpu
def test_cuda_matches_cpu() -> None:
    cfg = _tiny(train_steps=200)
    cpu, gpu = (
        run_learned_compression(cfg),
        run_learned_compression(cfg.model_copy(update={"device": "cuda"})),
    )
    for bc, bg in zip(cpu["results"][0]["boundaries"], gpu["results"][0]["boundaries"], strict=True):
        for m in BOUNDARY_METRICS:
            for c in CONDITIONS:
                assert bg["metrics"][m][c]["mean"] == pytest.approx(
                    bc["metrics"][m][c]["mean"], rel=1e-5, abs=1e-9
                )
