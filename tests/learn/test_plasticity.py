"""Local plasticity rules on sparse CSR weights (hal9.learn.plasticity, hal9.learn._rules).

References are dense NumPy float64 computations on ``W * mask`` (independent of the sparse code paths),
compared at the structural positions to 1e-12.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy.linalg import subspace_angles

from hal9.core import ConnectivityConfig, HierarchyConfig, Plasticity, Synapses, build_network, synapses_of
from hal9.learn import (
    BCMConfig,
    HebbConfig,
    OjaConfig,
    OjaSubspaceConfig,
    SangerConfig,
    STDPConfig,
    STDPState,
    _rules,
    apply_rule,
    hebb_update,
    init_state,
    make_plasticity,
    stdp_update,
)

F64 = torch.float64


@pytest.fixture
def single_thread() -> Iterator[None]:
    """Hundreds of tiny steps: on 2 shared cores intra-op threads (sampled_addmm opens a parallel region
    even for a 3 × 8 matrix) only add spin time."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


ALL_CONFIGS = (
    HebbConfig(lr=0.1, decay=0.5),
    OjaConfig(lr=0.1),
    OjaSubspaceConfig(lr=0.1),
    SangerConfig(lr=0.1),
    BCMConfig(lr=0.1, tau_theta=10.0, dt=1.0, theta_init=0.3),
    STDPConfig(lr=0.5, a_plus=0.1, a_minus=0.12, tau_plus=5.0, tau_minus=8.0, w_min=-0.5, w_max=0.5),
)


def _csr(w: np.ndarray, mask: np.ndarray) -> torch.Tensor:
    """CSR tensor holding ``w`` at every ``mask`` position (also where ``w`` is 0), float64."""
    rows, cols = np.nonzero(mask)  # row-major = CSR order
    crow = np.zeros(mask.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=mask.shape[0]), out=crow[1:])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(
            torch.from_numpy(crow),
            torch.from_numpy(cols.astype(np.int64)),
            torch.from_numpy(w[rows, cols].astype(np.float64)),
            mask.shape,
            check_invariants=True,
        )


def _problem(
    n_post: int, n_pre: int, batch: int, seed: int, density: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = rng.random((n_post, n_pre)) < density
    w = rng.standard_normal((n_post, n_pre)) * mask
    x = rng.standard_normal((batch, n_pre))
    y = rng.standard_normal((batch, n_post))
    return w, mask, x, y


def _reference(cfg: object, w: np.ndarray, x: np.ndarray, y: np.ndarray, state: object) -> np.ndarray:
    """Dense new weights (before masking) for one step of each rule, NumPy float64."""
    b = x.shape[0]
    if isinstance(cfg, HebbConfig):
        return w + cfg.lr * (y.T @ x / b - cfg.decay * w)
    if isinstance(cfg, OjaConfig):  # η ⟨y_i (x_j − y_i w_ij)⟩, sample by sample
        per = [np.outer(y[s], x[s]) - (y[s] ** 2)[:, None] * w for s in range(b)]
        return w + cfg.lr * np.mean(per, axis=0)
    if isinstance(cfg, OjaSubspaceConfig):
        per = [np.outer(y[s], x[s] - w.T @ y[s]) for s in range(b)]
        return w + cfg.lr * np.mean(per, axis=0)
    if isinstance(cfg, SangerConfig):
        per = []
        for s in range(b):
            partial = np.cumsum(y[s][:, None] * w, axis=0)  # [i, j] = Σ_{k ≤ i} y_k w_kj
            per.append(y[s][:, None] * (x[s][None, :] - partial))
        return w + cfg.lr * np.mean(per, axis=0)
    if isinstance(cfg, BCMConfig):
        theta = np.asarray(state)
        return w + cfg.lr * np.mean([np.outer(y[s] * (y[s] - theta), x[s]) for s in range(b)], axis=0)
    raise AssertionError(cfg)


# ------------------------------------------------------------------------------------ dense references


@pytest.mark.parametrize("cfg", ALL_CONFIGS[:5], ids=lambda c: type(c).__name__)
@pytest.mark.parametrize(("n_post", "n_pre", "batch"), [(5, 7, 1), (6, 6, 4), (4, 9, 3)])
def test_rule_matches_dense_reference(cfg: object, n_post: int, n_pre: int, batch: int) -> None:
    w, mask, x, y = _problem(n_post, n_pre, batch, seed=n_post * 100 + n_pre + batch)
    theta0 = np.linspace(0.1, 0.9, n_post)
    state = torch.tensor(theta0) if isinstance(cfg, BCMConfig) else None
    out, new_state = apply_rule(_csr(w, mask), torch.tensor(x), torch.tensor(y), cfg, state)  # type: ignore[arg-type]
    expected = _reference(cfg, w, x, y, theta0)
    np.testing.assert_allclose(out.to_dense().numpy()[mask], expected[mask], rtol=0, atol=1e-12)
    assert np.all(out.to_dense().numpy()[~mask] == 0)
    if isinstance(cfg, BCMConfig):
        want = theta0 + cfg.dt / cfg.tau_theta * ((y**2).mean(0) - theta0)
        np.testing.assert_allclose(new_state.numpy(), want, rtol=0, atol=1e-12)
    else:
        assert new_state is None


@pytest.mark.usefixtures("single_thread")
def test_batch_update_is_the_mean_of_single_sample_updates() -> None:
    w, mask, x, y = _problem(5, 6, 4, seed=3)
    for cfg in ALL_CONFIGS[:4]:
        full, _ = apply_rule(_csr(w, mask), torch.tensor(x), torch.tensor(y), cfg)  # type: ignore[arg-type]
        singles = [
            apply_rule(_csr(w, mask), torch.tensor(x[s : s + 1]), torch.tensor(y[s : s + 1]), cfg)[0].values()  # type: ignore[arg-type]
            for s in range(4)
        ]
        torch.testing.assert_close(full.values(), torch.stack(singles).mean(0), rtol=0, atol=1e-12)


def test_rules_on_a_built_hierarchy_match_reference_and_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real ±1 network (int32 CSR indices, N×N); the gathered blocks split into 1-row chunks agree."""
    conn = ConnectivityConfig(fan_in_within=3, fan_in_up=4, fan_in_down=2, feedback=True)
    net = build_network(HierarchyConfig(sizes=(12, 8, 5), n_layers=3, connectivity=conn), seed=2, dtype=F64)
    dense = net.weight.to_dense().numpy()
    mask = np.zeros_like(dense, dtype=bool)
    rows, cols, _ = net.edges()
    mask[rows.numpy(), cols.numpy()] = True
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(6, 25, generator=g, dtype=F64), torch.randn(6, 25, generator=g, dtype=F64)
    for cfg in (OjaSubspaceConfig(lr=0.2), SangerConfig(lr=0.2), HebbConfig(lr=0.2, decay=1.0)):
        out, _ = apply_rule(net.weight, x, y, cfg)
        ref = _reference(cfg, dense, x.numpy(), y.numpy(), None)
        np.testing.assert_allclose(out.to_dense().numpy()[mask], ref[mask], rtol=0, atol=1e-12)
        monkeypatch.setattr(_rules, "_CHUNK_ELEMENTS", 1)
        chunked, _ = apply_rule(net.weight, x, y, cfg)
        monkeypatch.undo()
        torch.testing.assert_close(chunked.values(), out.values(), rtol=0, atol=1e-12)
        assert torch.equal(out.crow_indices(), net.weight.crow_indices())
        assert out.col_indices().dtype == torch.int32


# ----------------------------------------------------------------------------------------- fixed points


def _pca_problem() -> tuple[torch.Tensor, np.ndarray]:
    """Cholesky factor of a covariance with distinct eigenvalues and its eigenvectors, largest first."""
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((8, 8)))
    cov = q @ np.diag([4.0, 2.5, 1.5, 0.5, 0.4, 0.3, 0.2, 0.1]) @ q.T
    _, vecs = np.linalg.eigh(cov)
    return torch.tensor(np.linalg.cholesky(cov)), vecs[:, ::-1].copy()


def _train(cfg_at: object, n_out: int, embed: bool, steps: int = 400, batch: int = 128) -> np.ndarray:
    """Online PCA: fresh Gaussian batches, ``y = W x``; returns ``W`` ``(n_out, 8)``.

    ``embed``: the 8 → n_out block sits in an N = 8 + n_out square network (all block synapses present).
    """
    chol, _ = _pca_problem()
    g = torch.Generator().manual_seed(1)
    w0 = 0.1 * torch.randn(n_out, 8, generator=g, dtype=F64)
    if embed:
        n = 8 + n_out
        mask = np.zeros((n, n), dtype=bool)
        mask[8:, :8] = True
        big = np.zeros((n, n))
        big[8:, :8] = w0.numpy()
        weight = _csr(big, mask)
    else:
        weight = _csr(w0.numpy(), np.ones((n_out, 8), dtype=bool))
    for t in range(steps):
        cfg = cfg_at(0.05 if t < steps // 2 else 0.005)  # type: ignore[operator]
        x = torch.randn(batch, 8, generator=g, dtype=F64) @ chol.T
        block = weight.to_dense()[8:, :8] if embed else weight.to_dense()
        y = x @ block.T
        if embed:
            x = torch.cat([x, torch.zeros(batch, n_out, dtype=F64)], 1)
            y = torch.cat([torch.zeros(batch, 8, dtype=F64), y], 1)
        weight, _ = apply_rule(weight, x, y, cfg)
    dense = weight.to_dense().numpy()
    if embed:
        assert np.all(dense[:8] == 0) and np.all(dense[8:, 8:] == 0)
        return dense[8:, :8]
    return dense


@pytest.mark.usefixtures("single_thread")
def test_oja_subspace_converges_to_the_principal_subspace() -> None:
    _, vecs = _pca_problem()
    w = _train(lambda lr: OjaSubspaceConfig(lr=lr), 3, embed=True)
    assert subspace_angles(w.T, vecs[:, :3]).max() < 0.05  # rad
    np.testing.assert_allclose(w @ w.T, np.eye(3), atol=0.03)  # orthonormal rows


@pytest.mark.usefixtures("single_thread")
def test_sanger_rows_converge_to_the_individual_eigenvectors() -> None:
    _, vecs = _pca_problem()
    w = _train(lambda lr: SangerConfig(lr=lr), 3, embed=False)
    assert subspace_angles(w.T, vecs[:, :3]).max() < 0.05
    for i in range(3):
        sign = np.sign(w[i] @ vecs[:, i])
        assert np.linalg.norm(w[i] - sign * vecs[:, i]) < 0.05, i


@pytest.mark.usefixtures("single_thread")
def test_oja_single_neuron_finds_the_first_component_with_unit_norm() -> None:
    _, vecs = _pca_problem()
    w = _train(lambda lr: OjaConfig(lr=lr), 1, embed=False)[0]
    assert abs(np.linalg.norm(w) - 1.0) < 0.01
    cos = abs(w @ vecs[:, 0]) / np.linalg.norm(w)
    assert math.acos(min(1.0, cos)) < 0.05


@pytest.mark.usefixtures("single_thread")
def test_hebb_with_decay_converges_to_correlation_over_lambda_and_grows_without() -> None:
    w, mask, x, y = _problem(4, 5, 8, seed=11, density=0.6)
    corr = y.T @ x / 8
    xt, yt = torch.tensor(x), torch.tensor(y)
    cfg = HebbConfig(lr=0.2, decay=0.5)
    weight, bound = _csr(w, mask), np.abs(corr).max() / 0.5 + np.abs(w).max()
    for _ in range(300):
        weight, _ = apply_rule(weight, xt, yt, cfg)
        assert weight.values().abs().max() <= bound
    np.testing.assert_allclose(weight.to_dense().numpy()[mask], corr[mask] / 0.5, rtol=0, atol=1e-10)
    plain, weight = HebbConfig(lr=0.2), _csr(w, mask)
    for _ in range(50):
        weight, _ = apply_rule(weight, xt, yt, plain)
    np.testing.assert_allclose(weight.to_dense().numpy()[mask], (w + 50 * 0.2 * corr)[mask], atol=1e-11)


# ------------------------------------------------------------------------------------------ STDP and BCM


def _stdp_pair(cfg: STDPConfig, pre_times: list[int], post_times: list[int], steps: int) -> float:
    """Weight change of one synapse 0 → 0 (1×1 CSR, w = 0) under the given spike steps."""
    weight = _csr(np.zeros((1, 1)), np.ones((1, 1), dtype=bool))
    state = None
    for t in range(steps):
        s_pre = torch.tensor([[1.0 if t in pre_times else 0.0]], dtype=F64)
        s_post = torch.tensor([[1.0 if t in post_times else 0.0]], dtype=F64)
        weight, state = apply_rule(weight, s_pre, s_post, cfg, state)
    return float(weight.values()[0])


@pytest.mark.usefixtures("single_thread")
def test_stdp_sign_and_magnitude_by_hand() -> None:
    cfg = STDPConfig(lr=2.0, a_plus=0.01, a_minus=0.02, tau_plus=10.0, tau_minus=5.0, dt=0.5)
    for lag in (1, 3):  # steps; Δt = lag · dt
        dt = lag * cfg.dt
        assert _stdp_pair(cfg, [2], [2 + lag], 8) == pytest.approx(
            2.0 * 0.01 * math.exp(-dt / 10.0), abs=1e-15
        )
        assert _stdp_pair(cfg, [2 + lag], [2], 8) == pytest.approx(
            -2.0 * 0.02 * math.exp(-dt / 5.0), abs=1e-15
        )
    assert _stdp_pair(cfg, [3], [3], 6) == 0.0  # coincident: no pair counted
    # two pre spikes then one post: both pairs add (all-to-all traces)
    want = 2.0 * 0.01 * (math.exp(-3 * 0.5 / 10.0) + math.exp(-1 * 0.5 / 10.0))
    assert _stdp_pair(cfg, [0, 2], [3], 5) == pytest.approx(want, abs=1e-15)


@pytest.mark.usefixtures("single_thread")
def test_stdp_traces_bounds_and_batch_mean_on_a_network() -> None:
    cfg = STDPConfig(lr=1.0, a_plus=0.3, a_minus=0.2, tau_plus=4.0, tau_minus=6.0, w_min=-0.4, w_max=0.45)
    w, mask, _, _ = _problem(5, 5, 1, seed=21, density=0.7)
    w = np.clip(w, -0.4, 0.45) * mask
    rng = np.random.default_rng(4)
    s_pre, s_post = (rng.random((2, 10, 3, 5)) < 0.4).astype(float)
    xt, yt = np.zeros((3, 5)), np.zeros((3, 5))
    weight, state = _csr(w, mask), init_state(cfg, n_pre=5, n_post=5, batch=3, dtype=F64)
    clamped = False
    for t in range(10):
        xt, yt = xt * math.exp(-1 / 4.0), yt * math.exp(-1 / 6.0)
        free = w + 0.3 * s_post[t].T @ xt / 3 - 0.2 * yt.T @ s_pre[t] / 3
        w = np.clip(free, -0.4, 0.45)
        clamped |= bool(np.any((free != w) & mask))
        xt, yt = xt + s_pre[t], yt + s_post[t]
        weight, state = apply_rule(weight, torch.tensor(s_pre[t]), torch.tensor(s_post[t]), cfg, state)
    assert clamped  # the bounds were exercised
    np.testing.assert_allclose(weight.to_dense().numpy()[mask], w[mask], rtol=0, atol=1e-12)
    np.testing.assert_allclose(state.pre_trace.numpy(), xt, rtol=0, atol=1e-12)
    np.testing.assert_allclose(state.post_trace.numpy(), yt, rtol=0, atol=1e-12)


@pytest.mark.usefixtures("single_thread")
def test_bcm_threshold_tracks_mean_square_and_sign_flips_at_theta() -> None:
    cfg = BCMConfig(lr=0.1, tau_theta=5.0, dt=1.0, theta_init=2.0)
    weight = _csr(np.full((2, 1), 0.5), np.ones((2, 1), dtype=bool))
    x = torch.ones(4, 1, dtype=F64)
    y = torch.tensor([[1.0, 0.0], [3.0, 2.0], [0.0, 2.0], [2.0, 0.0]], dtype=F64)
    mean_sq = (y**2).mean(0)  # [3.5, 2.0]
    theta = init_state(cfg, n_pre=1, n_post=2, batch=4, dtype=F64)
    theta0 = theta.clone()
    for _ in range(40):
        _, theta = apply_rule(weight, x, y, cfg, theta)
    expected = mean_sq + (theta0 - mean_sq) * (1 - 1 / 5.0) ** 40  # exact solution of the Euler recursion
    torch.testing.assert_close(theta, expected, rtol=0, atol=1e-12)
    # one sample, x = 1: Δw = η y (y − θ) — positive above θ, zero at θ, negative below
    one = torch.ones(1, 1, dtype=F64)
    theta_fixed = torch.tensor([1.0, 1.0], dtype=F64)
    for y_val, sign in ((1.5, 1.0), (1.0, 0.0), (0.5, -1.0)):
        out, _ = apply_rule(weight, one, torch.full((1, 2), y_val, dtype=F64), cfg, theta_fixed)
        delta = out.values() - 0.5
        torch.testing.assert_close(delta, torch.full((2,), 0.1 * y_val * (y_val - 1.0), dtype=F64))
        assert torch.all(torch.sign(delta) == sign)


# ------------------------------------------------------------------------------------- structure, purity


@settings(max_examples=30, deadline=None)
@given(
    n_post=st.integers(1, 6),
    n_pre=st.integers(1, 6),
    batch=st.integers(1, 3),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
    which=st.integers(0, len(ALL_CONFIGS) - 1),
)
def test_structure_is_preserved_and_inputs_untouched(
    n_post: int, n_pre: int, batch: int, density: float, seed: int, which: int
) -> None:
    w, mask, x, y = _problem(n_post, n_pre, batch, seed, density)
    weight, xt, yt = _csr(w, mask), torch.tensor(x), torch.tensor(y)
    cfg = ALL_CONFIGS[which]
    state = init_state(cfg, n_pre=n_pre, n_post=n_post, batch=batch, dtype=F64)  # type: ignore[arg-type]
    if isinstance(state, STDPState):
        g = torch.Generator().manual_seed(seed)
        state = STDPState(*(torch.rand(batch, n, generator=g, dtype=F64) for n in (n_pre, n_post)))
    snapshot = (weight.values().clone(), xt.clone(), yt.clone())
    saved_state = tuple(s.clone() for s in state) if isinstance(state, tuple) else state
    out, _ = apply_rule(weight, xt, yt, cfg, state)  # type: ignore[arg-type]
    assert out.layout == torch.sparse_csr and out.shape == weight.shape
    assert torch.equal(out.crow_indices(), weight.crow_indices())
    assert torch.equal(out.col_indices(), weight.col_indices())
    dense = out.to_dense().numpy()
    assert np.all(dense[~mask] == 0)
    assert np.all(np.isfinite(dense))
    assert all(torch.equal(a, b) for a, b in zip((weight.values(), xt, yt), snapshot, strict=True))
    if isinstance(state, tuple):
        assert all(torch.equal(a, b) for a, b in zip(state, saved_state, strict=True))
    else:  # and the values agree with the dense reference on this random pattern
        theta = np.full(n_post, 0.3)
        np.testing.assert_allclose(dense[mask], _reference(cfg, w, x, y, theta)[mask], rtol=0, atol=1e-12)


def test_deterministic_bitwise_float32_on_a_built_network() -> None:
    conn = ConnectivityConfig(fan_in_within=6, fan_in_up=5, fan_in_down=3, feedback=True)
    net = build_network(HierarchyConfig(sizes=(40, 20, 10), n_layers=3, connectivity=conn), seed=0)
    g = torch.Generator().manual_seed(9)
    x = (torch.rand(5, 70, generator=g) < 0.3).float()
    y = (torch.rand(5, 70, generator=g) < 0.3).float()
    for cfg in ALL_CONFIGS:
        p = make_plasticity(cfg, n_neurons=70, batch=5)  # type: ignore[arg-type]
        syn = synapses_of(net.weight)
        a, sa = p.update(net.weight.values(), syn, x, y, p.state, p.params)
        b, sb = p.update(net.weight.values(), syn, x, y, p.state, p.params)
        assert a.dtype == torch.float32 and torch.equal(a, b)
        assert not torch.equal(a, net.weight.values())  # the rule did something
        if isinstance(sa, tuple):
            assert all(torch.equal(u, v) for u, v in zip(sa, sb, strict=True))
        elif sa is not None:
            assert torch.equal(sa, sb)


def test_factory_picks_the_rule_and_sizes_the_state() -> None:
    names = {type(c): make_plasticity(c, n_neurons=6, batch=2).name for c in ALL_CONFIGS}  # type: ignore[arg-type]
    assert list(names.values()) == ["hebb", "oja", "oja_subspace", "sanger", "bcm", "stdp"]
    p = make_plasticity(ALL_CONFIGS[5], n_neurons=6, batch=2, dtype=F64)  # type: ignore[arg-type]
    assert isinstance(p, Plasticity) and p.params is ALL_CONFIGS[5] and p.update is stdp_update
    assert p.state.pre_trace.shape == (2, 6) and p.state.post_trace.dtype == F64
    bcm = make_plasticity(ALL_CONFIGS[4], n_neurons=6, batch=2)  # type: ignore[arg-type]
    assert torch.equal(bcm.state, torch.full((6,), 0.3))
    assert make_plasticity(HebbConfig(), n_neurons=6, batch=2).state is None
    with pytest.raises(ValueError, match="config must be one of"):
        make_plasticity(ConnectivityConfig(), n_neurons=6, batch=2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch"):
        make_plasticity(HebbConfig(), n_neurons=6, batch=0)
    with pytest.raises(ValueError, match="dtype"):
        make_plasticity(HebbConfig(), n_neurons=6, batch=1, dtype=torch.int64)


# -------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("cls", [type(c) for c in ALL_CONFIGS])
@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan"), float("inf")])
def test_learning_rate_must_be_positive_and_finite(cls: type, lr: float) -> None:
    with pytest.raises(ValidationError, match="lr"):
        cls(lr=lr)


def test_config_cross_field_checks() -> None:
    with pytest.raises(ValidationError, match="lr \\* decay"):
        HebbConfig(lr=1.0, decay=2.0)
    with pytest.raises(ValidationError, match="dt must be ≤ tau_theta"):
        BCMConfig(dt=2.0, tau_theta=1.0)
    with pytest.raises(ValidationError, match="w_min"):
        STDPConfig(w_min=1.0, w_max=0.0)
    with pytest.raises(ValidationError, match="tau_plus"):
        STDPConfig(tau_plus=0.0)
    with pytest.raises(ValidationError, match="extra"):
        OjaConfig(eta=0.1)  # type: ignore[call-arg]


def test_bad_inputs_raise_clear_errors() -> None:
    w, mask, x, y = _problem(3, 4, 2, seed=1)
    weight, xt, yt = _csr(w, mask), torch.tensor(x), torch.tensor(y)
    cfg = HebbConfig()
    with pytest.raises(ValueError, match="weights must be a sparse CSR tensor"):
        apply_rule(weight.to_dense(), xt, yt, cfg)
    with pytest.raises(ValueError, match="weights must be a sparse CSR tensor"):
        apply_rule(weight.to_dense().to_sparse(), xt, yt, cfg)
    with pytest.raises(ValueError, match="pre must have shape"):
        apply_rule(weight, xt[:, :3], yt, cfg)
    with pytest.raises(ValueError, match="post must have shape"):
        apply_rule(weight, xt, yt[:1], cfg)
    with pytest.raises(ValueError, match="post must have shape"):
        apply_rule(weight, xt, yt[0], cfg)
    with pytest.raises(ValueError, match="pre must have the dtype"):
        apply_rule(weight, xt.float(), yt, cfg)
    with pytest.raises(ValueError, match="pre must have shape \\(batch ≥ 1"):
        apply_rule(weight, xt[:0], yt[:0], cfg)
    syn, vals = synapses_of(weight), weight.values()
    with pytest.raises(ValueError, match="params must be a HebbConfig"):
        hebb_update(vals, syn, xt, yt, None, OjaConfig())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="values has"):
        hebb_update(vals[:-1], syn, xt, yt, None, cfg)
    shuffled = Synapses(syn.post.flip(0), syn.pre.flip(0), syn.n_post, syn.n_pre)
    for bad_pre in (syn.pre + 4, syn.pre - 4):
        outside = Synapses(syn.post, bad_pre, syn.n_post, syn.n_pre)
        for rule_cfg in ALL_CONFIGS:
            update = make_plasticity(rule_cfg, n_neurons=4, batch=2).update  # type: ignore[arg-type]
            state = init_state(rule_cfg, n_pre=4, n_post=3, batch=2, dtype=F64)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="CSR order"):
                update(vals, shuffled, xt, yt, state, rule_cfg)
            with pytest.raises(ValueError, match="inside the matrix"):
                update(vals, outside, xt, yt, state, rule_cfg)
    with pytest.raises(ValueError, match="state \\(θ\\)"):
        apply_rule(weight, xt, yt, BCMConfig(), torch.zeros(4, dtype=F64))
    wrong_batch = init_state(STDPConfig(), n_pre=4, n_post=3, batch=5, dtype=F64)
    with pytest.raises(ValueError, match=r"state\.pre_trace"):
        apply_rule(weight, xt, yt, STDPConfig(), wrong_batch)
    with pytest.raises(ValueError, match="state must be an STDPState"):
        apply_rule(weight, xt, yt, STDPConfig(), (torch.zeros(2, 4), torch.zeros(2, 3)))


@pytest.mark.gpu
def test_cuda_matches_cpu() -> None:
    w, mask, x, y = _problem(6, 7, 3, seed=8)
    for cfg in ALL_CONFIGS:
        cpu, cpu_state = apply_rule(_csr(w, mask), torch.tensor(x), torch.tensor(y), cfg)
        gpu, gpu_state = apply_rule(_csr(w, mask).cuda(), torch.tensor(x).cuda(), torch.tensor(y).cuda(), cfg)
        assert gpu.device.type == "cuda" and torch.equal(gpu.col_indices().cpu(), cpu.col_indices())
        torch.testing.assert_close(gpu.values().cpu(), cpu.values(), rtol=0, atol=1e-12)
        if cpu_state is not None:
            torch.testing.assert_close(torch.as_tensor(gpu_state[0]).cpu(), torch.as_tensor(cpu_state[0]))
