"""HAL9 reference mode: exact hash, exact float32 pair count, 5-bin layering, timed run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hal9.selforg._reference_sweep import _dominance_sum
from hal9.selforg.reference import (
    ReferenceResult,
    count_connected_pairs,
    count_connections,
    hal9_hash,
    hal9_reference_features,
    hal9_reference_layers,
    hal9_reference_run,
)

A, B = 2654435761, 0x9E3779B9


def py_hash(n: int, salt: int) -> np.float32:
    """Python big-int reference: exact unsigned 64-bit wrap, then float32 division."""
    return np.float32((n * A + salt * B) % 2**64 % 1000) / np.float32(1000)


def numpy_count(n: int) -> int:
    """Brute force over the full N×N matrix, float32 in the same order of operations."""
    s = np.array([py_hash(i, 1) for i in range(n)], dtype=np.float32)
    c = np.array([py_hash(i, 2) for i in range(n)], dtype=np.float32)
    ds = np.abs(s[:, None] - s[None, :])
    dc = np.abs(c[:, None] - c[None, :])
    v = (np.float32(1.0) - np.float32(0.5) * ds) - np.float32(0.3) * dc
    assert v.dtype == np.float32
    return int(np.triu(v > np.float32(0.5), k=1).sum())


def py_layer_bins(s: np.ndarray, c: np.ndarray) -> list[int]:
    """HAL9's 5-bin rule as a plain loop with float32 scalars (Rust f32 literals)."""
    f = np.float32
    out = []
    for si, ci in zip(s.astype(np.float32), c.astype(np.float32), strict=True):
        if si > f(0.8) and ci < f(0.3):
            out.append(0)
        elif si > f(0.6) and ci < f(0.5):
            out.append(1)
        elif si > f(0.4) and f(0.4) < ci < f(0.6):
            out.append(2)
        elif si < f(0.4) and ci > f(0.6):
            out.append(3)
        else:
            out.append(4)
    return out


def test_hash_matches_python_bigint() -> None:
    gen = torch.Generator().manual_seed(7)
    small = torch.arange(0, 3000, dtype=torch.int64)
    mid = torch.randint(0, 10**7, (2000,), generator=gen, dtype=torch.int64)
    # Large indices where n·A + salt·B ≥ 2⁶³ (negative as int64) and ≥ 2⁶⁴ (wraps): the unsigned path.
    huge = torch.cat(
        [
            torch.randint(2**40, 2**62, (2000,), generator=gen, dtype=torch.int64),
            torch.tensor([2**63 - 1, 3_474_721_000, 6_949_443_000, 2**62 + 12345], dtype=torch.int64),
        ]
    )
    idx = torch.cat([small, mid, huge])
    wraps = [(i * A + B) % 2**64 >= 2**63 for i in huge.tolist()]
    assert any(wraps) and not all(wraps)  # both signs of the int64 intermediate are exercised
    for salt in (1, 2):
        got = hal9_hash(idx, salt)
        assert got.dtype == torch.float32
        ref = np.array([py_hash(i, salt) for i in idx.tolist()], dtype=np.float32)
        np.testing.assert_array_equal(got.numpy(), ref)


def test_features_are_the_hash_of_the_index() -> None:
    s, c = hal9_reference_features(1234)
    assert s.shape == c.shape == (1234,) and s.dtype == c.dtype == torch.float32
    assert s[:5].tolist() == [float(py_hash(i, 1)) for i in range(5)]
    assert c[1000:1005].tolist() == [float(py_hash(i, 2)) for i in range(1000, 1005)]


@pytest.mark.parametrize("n", [1, 2, 3, 17, 1000, 2999])
def test_count_matches_numpy_brute_force(n: int) -> None:
    ref = numpy_count(n)
    if n >= 1000:
        assert 0 < ref < n * (n - 1) // 2  # the rule really separates pairs at this size
    assert count_connections(n) == ref
    assert count_connections(n, method="dedup") == ref
    assert count_connections(n, block_size=7) == ref  # many ragged tiles and diagonal squares
    assert count_connections(n, block_size=1, method="dedup") == ref


def test_pairs_and_dedup_agree_beyond_one_period() -> None:
    assert count_connections(4321, block_size=333) == count_connections(4321, method="dedup")


def test_float32_order_of_operations_matters_here() -> None:
    """The count must be the float32 one: evaluating the same formula in float64 gives another count."""
    n = 2999
    s = np.array([py_hash(i, 1) for i in range(n)], dtype=np.float32).astype(np.float64)
    c = np.array([py_hash(i, 2) for i in range(n)], dtype=np.float32).astype(np.float64)
    v64 = (1.0 - 0.5 * np.abs(s[:, None] - s[None, :])) - 0.3 * np.abs(c[:, None] - c[None, :])
    count64 = int(np.triu(v64 > 0.5, k=1).sum())
    assert count64 != numpy_count(n)
    assert count_connections(n) == numpy_count(n)


def test_reproduces_hal9_published_connection_counts() -> None:
    """Connection counts printed in HAL9's README (2lab-ai/2hal9, benchmark table of 2025-06-12)."""
    published = {25: 294, 50: 1_200, 100: 4_847, 200: 19_533, 500: 122_199, 1_000: 489_060, 2_000: 1_957_240}
    for n, conns in published.items():
        assert count_connections(n) == conns, n


def test_dedup_sees_at_most_one_period_of_distinct_neurons() -> None:
    s, c = hal9_reference_features(2_000_000)
    key = (s * 1000).round().long() * 1000 + (c * 1000).round().long()
    assert torch.unique(key).shape[0] == 1000
    assert torch.equal(s[1000:2000], s[:1000]) and torch.equal(c[1_999_000:], c[:1000])


def test_layers_match_python_loop() -> None:
    s, c = hal9_reference_features(3000)
    labels, sizes = hal9_reference_layers(s, c)
    bins = py_layer_bins(s.numpy(), c.numpy())
    present = sorted(set(bins))
    assert labels.tolist() == [present.index(b) for b in bins]
    assert sizes.tolist() == [bins.count(b) for b in present]
    assert int(sizes.sum()) == 3000 and bool((sizes > 0).all())


def test_layers_boundaries_and_empty_bins() -> None:
    # Exact float32 boundary values: 0.8 is not > 0.8, 0.3 is not < 0.3, …
    s = torch.tensor([0.8, 0.801, 0.6, 0.61, 0.4, 0.41, 0.39, 0.4, 0.9, 0.5], dtype=torch.float32)
    c = torch.tensor([0.1, 0.299, 0.1, 0.5, 0.5, 0.6, 0.61, 0.7, 0.3, 0.45], dtype=torch.float32)
    labels, sizes = hal9_reference_layers(s, c)
    bins = py_layer_bins(s.numpy(), c.numpy())
    assert bins == [1, 0, 4, 2, 4, 4, 3, 4, 1, 2]
    assert sizes.tolist() == [1, 2, 2, 1, 4]
    present = sorted(set(bins))  # all five bins present here
    assert labels.tolist() == [present.index(b) for b in bins]
    # Drop bins 0 and 3: labels are relabelled consecutively.
    keep = torch.tensor([i for i, b in enumerate(bins) if b not in (0, 3)])
    labels2, sizes2 = hal9_reference_layers(s[keep], c[keep])
    assert sizes2.tolist() == [2, 2, 4]
    assert set(labels2.tolist()) == {0, 1, 2}


def test_run_result_and_determinism() -> None:
    r1 = hal9_reference_run(1500)
    r2 = hal9_reference_run(1500, method="dedup")
    assert isinstance(r1, ReferenceResult)
    assert r1.connections == r2.connections == numpy_count(1500)
    assert r1.layer_sizes == r2.layer_sizes and sum(r1.layer_sizes) == 1500
    assert r1.device == "cpu" and r1.method == "pairs" and r2.method == "dedup"
    for r in (r1, r2):
        parts = r.features_s + r.connections_s + r.layering_s
        assert min(r.features_s, r.connections_s, r.layering_s) >= 0
        assert r.total_s == pytest.approx(parts, rel=1e-6, abs=1e-9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r1.connections = 0  # type: ignore[misc]
    a, b = hal9_reference_features(3000), hal9_reference_features(3000)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert count_connections(3000, block_size=100) == count_connections(3000)


@pytest.mark.parametrize("bad", [0, -3, 1.5, True, None])
def test_bad_n(bad: object) -> None:
    for fn in (count_connections, hal9_reference_features, hal9_reference_run):
        with pytest.raises(ValueError, match=r"\bn\b"):
            fn(bad)  # type: ignore[operator, arg-type]


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="block_size"):
        count_connections(10, block_size=0)
    with pytest.raises(ValueError, match="method"):
        count_connections(10, method="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="method"):
        hal9_reference_run(10, method="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="index"):
        hal9_hash(torch.arange(3, dtype=torch.int32), 1)
    with pytest.raises(ValueError, match="salt"):
        hal9_hash(torch.arange(3), -1)
    with pytest.raises(ValueError, match="float32"):
        hal9_reference_layers(torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(N,\)"):
        hal9_reference_layers(torch.zeros(3), torch.zeros(4))


@pytest.mark.gpu
def test_cuda_matches_cpu() -> None:
    n = 3001
    ref = numpy_count(n)
    assert count_connections(n, device="cuda") == ref
    assert count_connections(n, device="cuda", method="dedup") == ref
    assert count_connections(n, device="cuda", block_size=100) == ref
    assert count_connections(n, device="cuda", method="sweep") == ref  # counted on the CPU
    s, c = hal9_reference_features(n, device="cuda")
    s0, c0 = hal9_reference_features(n)
    assert torch.equal(s.cpu(), s0) and torch.equal(c.cpu(), c0)
    lab, sizes = hal9_reference_layers(s, c)
    lab0, sizes0 = hal9_reference_layers(s0, c0)
    assert torch.equal(lab.cpu(), lab0) and torch.equal(sizes.cpu(), sizes0)
    r = hal9_reference_run(n, device="cuda")
    assert r.connections == ref and r.device.startswith("cuda")


# --- arbitrary features: the exact sweep and the fused all-pairs kernel ------------------------------------


def numpy_count_features(s: np.ndarray, c: np.ndarray) -> int:
    """Brute force for any float32 features: the full N×N float32 matrix, HAL9's order of operations."""
    s, c = s.astype(np.float32), c.astype(np.float32)
    v = (np.float32(1.0) - np.float32(0.5) * np.abs(s[:, None] - s[None, :])) - np.float32(0.3) * np.abs(
        c[:, None] - c[None, :]
    )
    return int(np.triu(v > np.float32(0.5), k=1).sum())


def _features(seed: int, n: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Random features: continuous, on a decimal grid (many pairs exactly on the diamond), nudged by a few
    ulps off that grid, with repeats, spread over a wide signed range, or mixed with ±1e30 and 3e38."""
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        s, c = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    elif kind in ("grid", "nudged"):
        q = int(rng.choice([10, 20, 50, 1000]))
        s = (rng.integers(0, q, n) / q).astype(np.float32)
        c = (rng.integers(0, q, n) / q).astype(np.float32)
        if kind == "nudged":
            for x in (s, c):
                steps = rng.integers(-3, 4, n)
                for _ in range(3):
                    x[:] = np.where(steps > 0, np.nextafter(x, np.float32(2)), x)
                    x[:] = np.where(steps < 0, np.nextafter(x, np.float32(-2)), x)
                    steps = steps - np.sign(steps)
    elif kind == "repeats":
        base_s, base_c = rng.random(7, dtype=np.float32), rng.random(7, dtype=np.float32)
        pick = rng.integers(0, 7, n)
        s, c = base_s[pick], base_c[pick]
    elif kind == "huge":  # ±1e30 next to ordinary values: the snapped frame is coarse, the band is large
        base = np.array([-1e30, 0.0, 1e30, 3e38], dtype=np.float32)
        s = (base[rng.integers(0, 3, n)] + rng.random(n)).astype(np.float32)
        c = (base[rng.integers(0, 4, n)] * (rng.random(n) < 0.2) + rng.random(n)).astype(np.float32)
    else:  # wide
        s = (rng.standard_normal(n) * 3).astype(np.float32)
        c = (rng.standard_normal(n) * 3).astype(np.float32)
    return s, c


KINDS = ["uniform", "grid", "nudged", "repeats", "wide", "huge"]


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(2, 260), kind=st.sampled_from(KINDS))
def test_sweep_and_pairs_match_brute_force_on_any_features(seed: int, n: int, kind: str) -> None:
    s, c = _features(seed, n, kind)
    ref = numpy_count_features(s, c)
    st_, ct = torch.from_numpy(s), torch.from_numpy(c)
    assert count_connected_pairs(st_, ct, method="sweep") == ref
    assert count_connected_pairs(st_, ct, method="pairs", kernel="eager", block_size=int(n % 37) + 1) == ref
    assert count_connected_pairs(st_, ct, method="dedup") == ref


def test_sweep_on_hand_built_boundary_pairs() -> None:
    """Pairs exactly on the decimal diamond 0.5|Δs| + 0.3|Δc| = 0.5, one ulp inside and outside, ties."""
    f = np.float32
    lo, hi = np.nextafter(f(0.4), f(0)), np.nextafter(f(0.4), f(1))  # one float32 step either side of 0.4
    c_lo, c_hi = np.nextafter(f(1.0), f(0)), np.nextafter(f(1.0), f(2))
    # (0, 0) against (0.4, 1), (1, 0), (0, 5/3): exactly on the decimal diamond; then the same one step
    # off in s or c; (0.1, 0) three times: ties at Δ = 0.
    pts = [(0, 0), (0.4, 1), (1, 0), (0, 5 / 3), (0.7, 0.5), (lo, 1), (hi, 1), (0.4, c_lo), (0.4, c_hi)]
    pts += [(0.1, 0)] * 3
    s = np.array([p[0] for p in pts], dtype=f)
    c = np.array([p[1] for p in pts], dtype=f)
    ref = numpy_count_features(s, c)
    # The float32 rule and the exact real diamond disagree on some of these pairs (so the band matters).
    s64, c64 = s.astype(np.float64), c.astype(np.float64)
    e = 0.5 * np.abs(s64[:, None] - s64[None, :]) + float(f(0.3)) * np.abs(c64[:, None] - c64[None, :])
    assert int(np.triu(e < 0.5, 1).sum()) != ref
    assert count_connected_pairs(torch.from_numpy(s), torch.from_numpy(c), method="sweep") == ref
    assert count_connected_pairs(torch.from_numpy(s), torch.from_numpy(c), kernel="eager") == ref


def test_sweep_needs_its_band(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the band switched off (δ = 0) the sweep miscounts HAL9's grid features: the band matters."""
    import hal9.selforg._reference_sweep as sweep_mod

    s, c = hal9_reference_features(2999)
    right = numpy_count(2999)
    assert sweep_mod._sweep_count(s, c) == right
    monkeypatch.setattr(sweep_mod, "_DELTA", 0.0)
    assert sweep_mod._sweep_count(s, c) != right


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), u=st.integers(1, 300), q=st.integers(0, 400), unit=st.booleans())
def test_dominance_sum_matches_loops(seed: int, u: int, q: int, unit: bool) -> None:
    rng = np.random.default_rng(seed)
    rank = rng.permutation(u)
    weight = np.ones(u, dtype=np.int64) if unit else rng.integers(1, 5, u)
    k, x, qw = rng.integers(0, u + 1, q), rng.integers(0, u + 1, q), rng.integers(-3, 4, q)
    ref = sum(int(qw[i]) * int((weight[: k[i]] * (rank[: k[i]] < x[i])).sum()) for i in range(q))
    assert _dominance_sum(rank, weight, k, x, qw) == ref


def test_sweep_matches_independent_counts_at_scale() -> None:
    # HAL9's hash at 10⁶ neurons: the sweep against the deduplicated all-pairs count (another method).
    assert count_connections(1_000_000, method="sweep") == count_connections(1_000_000, method="dedup")
    # No repeats: 20 000 continuous points against every pair evaluated.
    s, c = _features(11, 20_000, "uniform")
    st_, ct = torch.from_numpy(s), torch.from_numpy(c)
    assert count_connected_pairs(st_, ct, method="sweep") == count_connected_pairs(st_, ct, kernel="eager")


def test_sweep_is_deterministic_and_run_reports_both() -> None:
    s, c = _features(5, 5000, "nudged")
    st_, ct = torch.from_numpy(s), torch.from_numpy(c)
    assert count_connected_pairs(st_, ct, method="sweep") == count_connected_pairs(st_, ct, method="sweep")
    r = hal9_reference_run(2000, sweep=True)
    assert r.connections == r.sweep_connections == 1_957_240  # HAL9's README count at 2000 neurons
    assert r.kernel == "eager" and r.compile_s == 0.0 and r.sweep_s is not None and r.sweep_s > 0
    r2 = hal9_reference_run(2000, method="sweep")
    assert r2.connections == 1_957_240 and r2.kernel == "" and r2.sweep_connections is None


def test_compiled_kernel_falls_back_to_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken)
    s, c = hal9_reference_features(1000)
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        assert count_connected_pairs(s, c, kernel="compiled") == 489_060
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        r = hal9_reference_run(1000, kernel="compiled")
    assert r.kernel == "eager" and r.connections == 489_060


@pytest.mark.slow
def test_compiled_kernel_matches_eager() -> None:
    """The fused, compiled tile (first call compiles, ~10 s) gives the eager count bit for bit."""
    for kind, n in (("nudged", 5000), ("uniform", 4099), ("wide", 300), ("grid", 257), ("uniform", 2)):
        s, c = _features(3, n, kind)
        st_, ct = torch.from_numpy(s), torch.from_numpy(c)
        assert count_connected_pairs(st_, ct, kernel="compiled") == count_connected_pairs(
            st_, ct, kernel="eager"
        )
    r = hal9_reference_run(10_000, kernel="compiled")
    assert r.kernel == "compiled" and r.compile_s > 0
    assert r.connections == count_connections(10_000, method="dedup")


def test_bad_features() -> None:
    ok = torch.zeros(4)
    with pytest.raises(ValueError, match=r"\bs\b.*float32"):
        count_connected_pairs(ok.double(), ok)
    with pytest.raises(ValueError, match=r"\bc\b.*finite"):
        count_connected_pairs(ok, torch.tensor([0.0, float("nan"), 0.0, 0.0]))
    with pytest.raises(ValueError, match="one shape"):
        count_connected_pairs(ok, torch.zeros(5))
    with pytest.raises(ValueError, match=r"\bs\b"):
        count_connected_pairs(np.zeros(4, dtype=np.float32), ok)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kernel"):
        count_connected_pairs(ok, ok, kernel="jit")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kernel"):
        hal9_reference_run(10, kernel="jit")  # type: ignore[arg-type]
    assert count_connected_pairs(torch.zeros(1), torch.zeros(1), method="sweep") == 0
