"""Tests of :mod:`hal9.metrics.complexity` against hand-computed Gaussian values."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from hal9.metrics.complexity import multi_information, neural_complexity

F64 = torch.float64


def _random_cov(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, 2 * n, generator=g, dtype=F64)
    return a @ a.T / (2 * n) + 0.2 * torch.eye(n, dtype=F64)


def _g_direct(cov: np.ndarray) -> list[float]:
    """g(k) = ⟨H(X_S)⟩_{|S|=k} − (k/n) H(X) from explicit Gaussian entropies (numpy slogdet)."""
    n = cov.shape[0]

    def h(idx: tuple[int, ...]) -> float:
        sub = cov[np.ix_(idx, idx)]
        return 0.5 * (len(idx) * math.log(2 * math.pi * math.e) + np.linalg.slogdet(sub)[1])

    total = h(tuple(range(n)))
    return [0.0] + [
        float(np.mean([h(s) for s in itertools.combinations(range(n), k)])) - k / n * total
        for k in range(1, n + 1)
    ]


def test_multi_information_two_variables() -> None:
    for rho in (0.0, 0.3, -0.8):
        cov = torch.tensor([[2.0, rho * math.sqrt(6)], [rho * math.sqrt(6), 3.0]], dtype=F64)
        assert float(multi_information(cov)) == pytest.approx(-0.5 * math.log(1 - rho**2), abs=1e-12)


def test_multi_information_batched_equals_sum_of_entropies() -> None:
    covs = torch.stack([_random_cov(4, s) for s in range(3)])
    out = multi_information(covs)
    assert out.shape == (3,)
    for c, v in zip(covs.numpy(), out, strict=True):
        direct = 0.5 * np.log(np.diag(c)).sum() - 0.5 * np.linalg.slogdet(c)[1]
        assert float(v) == pytest.approx(direct, rel=1e-10)


def test_independent_is_zero() -> None:
    cov = torch.diag(torch.tensor([1.0, 2.0, 0.5, 4.0], dtype=F64))
    for form in ("A", "B"):
        assert float(neural_complexity(cov, form=form).value) == pytest.approx(0.0, abs=1e-12)
    assert float(multi_information(cov)) == pytest.approx(0.0, abs=1e-12)


def test_two_variables_by_hand() -> None:
    rho = 0.6
    cov = torch.tensor([[1.0, rho], [rho, 1.0]], dtype=F64)
    mi = -0.5 * math.log(1 - rho**2)
    # B = g(1) = −¼ ln(1 − ρ²) = MI/2; A = ⟨MI(X_1; X_2)⟩ = MI: the k = n/2 bisection counted twice.
    b = neural_complexity(cov, form="B")
    a = neural_complexity(cov, form="A")
    assert float(b.value) == pytest.approx(mi / 2, abs=1e-12) and b.exact and float(b.stderr) == 0
    assert float(a.value) == pytest.approx(mi, abs=1e-12)


def test_three_variables_by_hand() -> None:
    r = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, -0.3], [0.2, -0.3, 1.0]])
    det = np.linalg.det(r)
    pair = np.mean([math.log(1 - 0.5**2), math.log(1 - 0.2**2), math.log(1 - 0.3**2)])
    expected = 0.5 * (0 - det_term(det, 1, 3)) + 0.5 * (pair - det_term(det, 2, 3))
    cov = torch.tensor(r, dtype=F64)
    assert float(neural_complexity(cov, form="B").value) == pytest.approx(expected, abs=1e-12)
    assert float(neural_complexity(cov, form="A").value) == pytest.approx(expected, abs=1e-12)  # odd n


def det_term(det: float, k: int, n: int) -> float:
    return k / n * math.log(det)


def test_forms_differ_by_half_bisection_mi_for_even_n() -> None:
    cov = _random_cov(4, 7)
    g = _g_direct(cov.numpy())
    b = float(neural_complexity(cov, form="B").value)
    a = float(neural_complexity(cov, form="A").value)
    assert b == pytest.approx(sum(g[1:]), rel=1e-10)
    mi_half = 2 * g[2]  # ⟨MI(X_2; X − X_2)⟩ = g(2) + g(4 − 2)
    assert a - b == pytest.approx(mi_half / 2, rel=1e-10) and a - b > 0


def test_sampled_agrees_with_exact() -> None:
    cov = _random_cov(10, 1)
    exact = neural_complexity(cov)
    sampled = neural_complexity(cov, exact_max_n=5, n_samples=200, seed=0)
    assert not sampled.exact and float(sampled.stderr) > 0
    assert abs(float(sampled.value - exact.value)) < 3 * float(sampled.stderr)
    again = neural_complexity(cov, exact_max_n=5, n_samples=200, seed=0)
    assert torch.equal(again.value, sampled.value)


def test_batched() -> None:
    covs = torch.stack([_random_cov(5, s) for s in range(4)]).reshape(2, 2, 5, 5)
    out = neural_complexity(covs, form="A")
    assert out.value.shape == (2, 2) and out.stderr.shape == (2, 2)
    for idx in itertools.product(range(2), range(2)):
        assert float(out.value[idx]) == pytest.approx(float(neural_complexity(covs[idx], form="A").value))


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]]), "cov contains NaN or Inf"),
        (torch.tensor([[1.0, float("inf")], [float("inf"), 1.0]]), "cov contains NaN or Inf"),
        (torch.ones(3), r"cov must have shape \(\.\.\., n, n\)"),
        (torch.ones(2, 3), r"cov must have shape"),
        (torch.tensor([[1.0, 2.0], [2.0, 1.0]]), "cov must be positive definite"),
        (torch.tensor([[1.0, 0.1], [0.3, 1.0]]), "cov must be symmetric"),
        (torch.zeros(0, 0), "cov must not be empty"),
        ([[1.0, 0.0], [0.0]], "cov must be a rectangular array"),
        ("cov", "cov must be an array of numbers"),
        (np.array([[1 + 1j]]), "cov must be real"),
    ],
)
def test_bad_cov(bad: object, match: str) -> None:
    for fn in (multi_information, neural_complexity):
        with pytest.raises(ValueError, match=match):
            fn(bad)  # type: ignore[operator, arg-type]


def test_bad_options() -> None:
    cov = torch.eye(3, dtype=F64)
    with pytest.raises(ValueError, match="form"):
        neural_complexity(cov, form="C")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_samples"):
        neural_complexity(cov, n_samples=0)
