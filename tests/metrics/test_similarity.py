import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import hal9.metrics.similarity as sim
from hal9.metrics.similarity import adjacent_alignment, layer_cka_matrix, linear_cka


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64)


def _orthogonal(n: int, seed: int) -> torch.Tensor:
    q, r = torch.linalg.qr(_randn(n, n, seed=seed))
    return q * torch.sign(r.diagonal())


def _numpy_hsic_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Reference: CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), HSIC = tr(K H L H) / (n − 1)²."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = x @ x.T, y @ y.T

    def hsic(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.trace(a @ h @ b @ h)) / (n - 1) ** 2

    return hsic(k, l_) / math.sqrt(hsic(k, k) * hsic(l_, l_))


@pytest.mark.parametrize("method", ["auto", "feature", "gram"])
def test_cka_of_a_representation_with_itself_is_one(method: str) -> None:
    x = _randn(30, 7)
    assert linear_cka(x, x, method=method) == pytest.approx(1.0, abs=1e-12)  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(5, 40),
    p=st.integers(1, 12),
    q=st.integers(1, 12),
    scale=st.floats(1e-3, 1e3),
)
def test_cka_invariant_to_orthogonal_transforms_and_isotropic_scaling(
    seed: int, n: int, p: int, q: int, scale: float
) -> None:
    x, y = _randn(n, p, seed=seed), _randn(n, q, seed=seed + 1) + 0.5 * _randn(n, 1, seed=seed + 2)
    base = linear_cka(x, y)
    moved = linear_cka(scale * x @ _orthogonal(p, seed + 3), y @ _orthogonal(q, seed + 4) / scale)
    assert isinstance(base, float) and 0.0 <= base <= 1.0 + 1e-12
    assert moved == pytest.approx(base, rel=1e-9, abs=1e-12)


def test_cka_matches_numpy_hsic_reference_and_is_small_for_independent_data() -> None:
    x, y = _randn(500, 5, seed=1), _randn(500, 6, seed=2)
    got = linear_cka(x, y)
    assert got == pytest.approx(_numpy_hsic_cka(x.numpy(), y.numpy()), rel=1e-10)
    assert got < 0.05  # E[CKA] ≈ sqrt(p q) / n ≈ 0.01 for independent data
    related = y + 2.0 * x[:, :1]  # shares one direction with x
    assert linear_cka(x, related) == pytest.approx(_numpy_hsic_cka(x.numpy(), related.numpy()), rel=1e-10)
    assert linear_cka(x, related) > 0.3


def test_feature_and_gram_paths_agree_batched_and_unbatched() -> None:
    x, y = _randn(4, 20, 50, seed=3), _randn(4, 20, 8, seed=4)
    y = y + x[..., :8]
    feat = linear_cka(x, y, method="feature")
    gram = linear_cka(x, y, method="gram")
    assert isinstance(feat, torch.Tensor) and feat.shape == (4,) and feat.dtype == torch.float64
    torch.testing.assert_close(feat, gram, rtol=1e-10, atol=1e-12)
    for b in range(4):
        assert linear_cka(x[b], y[b]) == pytest.approx(float(feat[b]), rel=1e-10)


def test_zero_variance_gives_nan() -> None:
    x = torch.ones(10, 3, dtype=torch.float64)
    assert math.isnan(float(linear_cka(x, _randn(10, 2))))


@pytest.mark.parametrize(
    ("x", "y", "kw", "match"),
    [
        (torch.zeros(5, 2), torch.zeros(6, 2), {}, "x and y must share"),
        (torch.zeros(1, 2), torch.zeros(1, 2), {}, "at least 2 samples"),
        (torch.full((4, 2), math.nan), torch.zeros(4, 2), {}, "x contains NaN"),
        (torch.zeros(4), torch.zeros(4, 2), {}, "x and y must be"),
        (torch.zeros(4, 2), torch.zeros(4, 2), {"method": "svd"}, "method"),
        ([[1.0], [2.0, 3.0]], torch.zeros(2, 1), {}, "x must be a rectangular array"),
        (torch.zeros(4, 2), [["a"], ["b"], ["c"], ["d"]], {}, "y must be an array of numbers"),
    ],
)
def test_linear_cka_rejects_bad_input(x: object, y: object, kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        linear_cka(x, y, **kw)  # type: ignore[arg-type]


def _chain(n_layers: int = 5, steps: int = 60, batch: int = 2, width: int = 12) -> dict[int, torch.Tensor]:
    """A random walk across layers: layer k = layer k−1 + noise, so similarity decays with distance."""
    recs, cur = {}, _randn(steps, batch, width, seed=10)
    for k in range(n_layers):
        recs[k] = cur[..., : width - k].float()
        cur = cur + 0.8 * _randn(steps, batch, width, seed=20 + k)
    return recs


def test_layer_cka_matrix_matches_pairwise_cka() -> None:
    recs = _chain()
    m = layer_cka_matrix(recs)
    assert m.shape == (5, 5) and m.dtype == torch.float64
    torch.testing.assert_close(m, m.T)
    torch.testing.assert_close(m.diagonal(), torch.ones(5, dtype=torch.float64))
    flat = {k: v.reshape(-1, v.shape[-1]) for k, v in recs.items()}
    assert float(m[1, 3]) == pytest.approx(float(linear_cka(flat[1], flat[3])), rel=1e-10)
    m0 = layer_cka_matrix(recs, batch_index=1)
    assert float(m0[0, 4]) == pytest.approx(float(linear_cka(recs[0][:, 1], recs[4][:, 1])), rel=1e-10)


def test_layer_cka_matrix_pairwise_path_for_many_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    recs = _chain(n_layers=3)
    gram_path = layer_cka_matrix(recs)
    monkeypatch.setattr(sim, "_GRAM_SAMPLES_MAX", 10)
    torch.testing.assert_close(layer_cka_matrix(recs), gram_path, rtol=1e-10, atol=1e-12)


def test_layer_cka_matrix_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="recordings"):
        layer_cka_matrix({})
    with pytest.raises(ValueError, match=r"recordings\[1\] has 5 samples"):
        layer_cka_matrix({0: torch.zeros(6, 1, 3), 1: torch.zeros(5, 1, 3)})
    with pytest.raises(ValueError, match="batch_index"):
        layer_cka_matrix({0: torch.zeros(6, 1, 3)}, batch_index=3)
    with pytest.raises(ValueError, match=r"recordings\[0\] contains NaN"):
        layer_cka_matrix({0: torch.full((6, 1, 3), math.nan)})


def test_adjacent_alignment_on_known_matrix() -> None:
    m = torch.tensor([[1.0, 0.9, 0.3, 0.1], [0.9, 1.0, 0.7, 0.2], [0.3, 0.7, 1.0, 0.5], [0.1, 0.2, 0.5, 1.0]])
    res = adjacent_alignment(m)
    assert res.adjacent == pytest.approx({(0, 1): 0.9, (1, 2): 0.7, (2, 3): 0.5})
    assert res.non_adjacent == pytest.approx({(0, 2): 0.3, (0, 3): 0.1, (1, 3): 0.2})
    assert res.adjacent_mean == pytest.approx(0.7)
    assert res.non_adjacent_mean == pytest.approx(0.2)
    assert res.contrast == pytest.approx(0.5)
    # rows labelled as layers 2, 3, 5, 6: only (2,3) and (5,6) are adjacent
    res2 = adjacent_alignment(m, layers=[2, 3, 5, 6])
    assert set(res2.adjacent) == {(2, 3), (5, 6)}
    assert res2.adjacent_mean == pytest.approx((0.9 + 0.5) / 2)
    two = adjacent_alignment(m[:2, :2])
    assert two.adjacent_mean == pytest.approx(0.9) and math.isnan(two.non_adjacent_mean)


def test_adjacent_layers_of_a_chain_are_more_similar() -> None:
    res = adjacent_alignment(layer_cka_matrix(_chain()))
    assert res.adjacent_mean > res.non_adjacent_mean + 0.1


@pytest.mark.parametrize(
    ("m", "layers", "match"),
    [
        (torch.zeros(3, 2), None, "cka_matrix must be a square"),
        (torch.zeros(1, 1), None, "at least 2 layers"),
        (torch.zeros(3, 3), [0, 1], "layers must hold 3"),
        (torch.zeros(3, 3), [0, 1, 1], "layers must hold 3"),
    ],
)
def test_adjacent_alignment_rejects_bad_input(m: torch.Tensor, layers: list[int] | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        adjacent_alignment(m, layers)
