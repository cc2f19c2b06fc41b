"""hal9.tactical.assignment: auction / greedy / Hungarian against SciPy's exact optimum."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from hal9.tactical import _auction
from hal9.tactical.assignment import Assignment, Method, assign

METHODS: tuple[Method, ...] = ("auction", "greedy", "hungarian")
SQUARE = [[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]]  # optimum 1 + 2 + 2 = 5; greedy 0 + 2 + 4 = 6
WIDE = [[1.0, 2.0, 10.0], [2.0, 10.0, 10.0]]  # optimum 2 + 2 = 4; greedy 1 + 10 = 11


def scipy_optimum(c: np.ndarray, maximize: bool = False) -> float:
    r, k = linear_sum_assignment(c, maximize=maximize)
    return float(c[r, k].sum())


def check_matching(a: Assignment, shape: tuple[int, int], size: int | None = None) -> None:
    n, m = shape
    assert a.shape == shape
    assert a.rows.dtype == torch.int64 and a.cols.dtype == torch.int64
    assert len(a) == (min(n, m) if size is None else size)
    assert torch.all(a.rows[1:] > a.rows[:-1])  # ascending, each task once
    assert a.cols.unique().numel() == a.cols.numel()  # each unit once
    if len(a):
        assert 0 <= int(a.rows.min()) and int(a.rows.max()) < n
        assert 0 <= int(a.cols.min()) and int(a.cols.max()) < m


# --- hand-computed cases ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_square_3x3(method: Method) -> None:
    a = assign(torch.tensor(SQUARE), method=method)
    check_matching(a, (3, 3))
    assert a.rows.tolist() == [0, 1, 2]
    if method == "greedy":
        assert a.cols.tolist() == [0, 1, 2] and a.total_cost == 6.0 and math.isinf(a.gap_bound)
    else:
        assert a.cols.tolist() == [1, 0, 2] and a.total_cost == 5.0
    assert a.method == method
    assert (a.iterations > 0) == (method == "auction")


@pytest.mark.parametrize("method", METHODS)
def test_wide_2x3_and_tall_3x2(method: Method) -> None:
    wide = assign(torch.tensor(WIDE), method=method)
    tall = assign(torch.tensor(WIDE).T, method=method)
    check_matching(wide, (2, 3))
    check_matching(tall, (3, 2))
    if method == "greedy":
        assert (wide.cols.tolist(), wide.total_cost) == ([0, 1], 11.0)
        assert (tall.rows.tolist(), tall.cols.tolist(), tall.total_cost) == ([0, 1], [0, 1], 11.0)
    else:
        assert (wide.cols.tolist(), wide.total_cost) == ([1, 0], 4.0)
        assert (tall.rows.tolist(), tall.cols.tolist(), tall.total_cost) == ([0, 1], [1, 0], 4.0)
    assert tall.unit_of_task.tolist() == ([0, 1, -1] if method == "greedy" else [1, 0, -1])


def test_unit_of_task_and_task_of_unit() -> None:
    a = assign(torch.tensor([[5.0, 1.0, 4.0], [2.0, 3.0, 1.0]]).T)  # 3 tasks, 2 units
    assert a.unit_of_task.tolist() == [-1, 0, 1]
    assert a.task_of_unit.tolist() == [1, 2]
    assert a.total_cost == 2.0


# --- against SciPy on random matrices --------------------------------------------------------------------


def random_cost(kind: str, n: int, m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return rng.random((n, m))
    if kind == "ties":  # few distinct integers: many exact ties
        return rng.integers(0, 4, size=(n, m)).astype(np.float64)
    if kind == "integers":
        return rng.integers(-50, 50, size=(n, m)).astype(np.float64)
    if kind == "lognormal":  # heavy tail
        return rng.lognormal(0.0, 2.0, size=(n, m))
    work, speed = rng.uniform(1, 10, n), rng.uniform(0.5, 2, m)  # "schedule": rank-1 plus noise
    return work[:, None] / speed[None, :] + rng.random((n, m)) - rng.integers(1, 6, n)[:, None] * 0.5


KINDS = ("uniform", "ties", "integers", "lognormal", "schedule")


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 30),
    m=st.integers(1, 30),
    kind=st.sampled_from(KINDS),
    seed=st.integers(0, 2**31 - 1),
    tol=st.sampled_from([1e-2, 1e-3, 1e-6]),
)
def test_random_against_scipy(n: int, m: int, kind: str, seed: int, tol: float) -> None:
    c = random_cost(kind, n, m, seed)
    opt = scipy_optimum(c)
    k = min(n, m)
    scale = float(np.abs(c).max())
    slack = 1e-9 * k * max(scale, 1.0)

    auc = assign(torch.from_numpy(c), tol=tol)
    check_matching(auc, (n, m))
    assert auc.total_cost >= opt - slack
    assert auc.total_cost - opt <= auc.gap_bound + slack  # the certificate is a true bound
    assert auc.gap_bound <= k * auc.eps + slack  # ε-CS: at most n·ε (Bertsekas)
    assert auc.gap_bound <= max(tol * abs(opt), k * auc.eps) + slack  # the requested tolerance

    greedy = assign(c, method="greedy")
    check_matching(greedy, (n, m))
    assert greedy.total_cost >= opt - slack

    hung = assign(c, method="hungarian")
    check_matching(hung, (n, m))
    assert hung.total_cost == pytest.approx(opt, abs=slack)
    assert hung.gap_bound == 0.0


@pytest.mark.parametrize("kind", KINDS)
def test_explicit_eps_bounds_gap(kind: str) -> None:
    c = random_cost(kind, 40, 55, seed=3)
    eps = 1e-3 * float(np.ptp(c))
    a = assign(c, eps=eps)
    opt = scipy_optimum(c)
    assert a.eps >= eps * (1 - 1e-12)
    assert a.total_cost - opt <= a.gap_bound + 1e-9
    assert a.gap_bound <= 40 * eps * (1 + 1e-9)


def test_larger_rectangular_within_tolerance() -> None:
    for n, m, seed in [(150, 400, 0), (400, 150, 1)]:
        c = random_cost("schedule", n, m, seed)
        a = assign(torch.from_numpy(c), tol=1e-4)
        opt = scipy_optimum(c)
        check_matching(a, (n, m))
        assert -1e-9 <= a.total_cost - opt <= a.gap_bound + 1e-9
        assert a.total_cost - opt <= 1e-4 * abs(opt)


@pytest.mark.parametrize(
    ("sequential_max", "numpy_on_cpu", "list_min"),
    [
        (0, True, 10**9),
        (0, False, 10**9),
        (0, True, 0),
        (8, True, 0),
        (8, False, 10**9),
        (10**9, True, 10**9),
        (10**9, False, 10**9),
    ],
)
def test_jacobi_only_and_sequential_only_paths(
    monkeypatch: pytest.MonkeyPatch, sequential_max: int, numpy_on_cpu: bool, list_min: int
) -> None:
    """Bulk (Jacobi) rounds on full rows or candidate lists, and the one-bid-at-a-time tail, with NumPy
    kernels (CPU) or torch ones (the GPU path) are interchangeable: all stay within the requested gap."""
    monkeypatch.setattr(_auction, "_SEQUENTIAL_MAX", sequential_max)
    monkeypatch.setattr(_auction, "_SEQUENTIAL_MAX_CPU", sequential_max)
    monkeypatch.setattr(_auction, "_NUMPY_ON_CPU", numpy_on_cpu)
    monkeypatch.setattr(_auction, "_LIST_MIN_OBJECTS", list_min)
    for n, m, kind in [(40, 90, "schedule"), (90, 40, "uniform"), (35, 35, "ties")]:
        c = random_cost(kind, n, m, seed=n + m)
        a = assign(c, tol=1e-6)
        opt = scipy_optimum(c)
        check_matching(a, (n, m))
        assert -1e-9 <= a.total_cost - opt <= a.gap_bound + 1e-9
        assert a.gap_bound <= max(1e-6 * abs(opt), min(n, m) * a.eps) + 1e-9


@pytest.mark.parametrize("numpy_on_cpu", [True, False])
def test_small_blocks(monkeypatch: pytest.MonkeyPatch, numpy_on_cpu: bool) -> None:
    """Row/column blocking (bids, certificate, reverse auction, candidate lists) gives a valid result."""
    monkeypatch.setattr(_auction, "_BLOCK_ELEMS_CPU", 37)
    monkeypatch.setattr(_auction, "_LIST_MIN_OBJECTS", 0)
    monkeypatch.setattr(_auction, "_NUMPY_ON_CPU", numpy_on_cpu)
    for n, m in [(30, 80), (80, 30)]:
        c = random_cost("schedule", n, m, seed=n)
        a = assign(c, tol=1e-6)
        opt = scipy_optimum(c)
        check_matching(a, (n, m))
        assert -1e-9 <= a.total_cost - opt <= a.gap_bound + 1e-9 <= 1e-6 * abs(opt) + 1e-9


# --- forbidden pairs, maximize, dtypes, inputs -------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_forbidden_pairs_never_assigned(method: Method) -> None:
    inf = math.inf
    c = torch.tensor([[inf, 1.0, 5.0], [inf, 2.0, inf], [inf, inf, inf]])
    a = assign(c, method=method)
    if method == "greedy":  # cheapest first: (0, 1) leaves task 1 only forbidden units
        check_matching(a, (3, 3), size=1)
        assert a.unit_of_task.tolist() == [1, -1, -1] and a.total_cost == 1.0
        return
    check_matching(a, (3, 3), size=2)
    # row 2 can only be matched through forbidden pairs; column 0 is forbidden for everybody
    assert a.unit_of_task.tolist() == [2, 1, -1]
    assert a.total_cost == 7.0


@pytest.mark.parametrize("method", ["auction", "hungarian"])
def test_forbidden_pairs_random_agree(method: Method) -> None:
    rng = np.random.default_rng(7)
    for trial in range(8):
        n, m = rng.integers(1, 25, size=2)
        c = rng.random((n, m))
        c[rng.random((n, m)) < 0.6] = np.inf
        a = assign(c, method=method, tol=1e-9)
        ref = assign(c, method="hungarian")
        check_matching(a, (n, m), size=len(ref))
        assert np.isfinite(c[a.rows.numpy(), a.cols.numpy()]).all()
        assert a.total_cost == pytest.approx(ref.total_cost, abs=1e-6), trial
        # the size is maximal: SciPy on the finite part agrees whenever a full matching exists
        if len(ref) == min(n, m):
            assert ref.total_cost == pytest.approx(scipy_optimum(np.where(np.isinf(c), 1e6, c)), abs=1e-6)


def test_forbidden_greedy_skips() -> None:
    a = assign(torch.tensor([[math.inf, 0.0], [1.0, math.inf]]), method="greedy")
    assert (a.rows.tolist(), a.cols.tolist(), a.total_cost) == ([0, 1], [1, 0], 1.0)


@pytest.mark.parametrize("method", METHODS)
def test_maximize(method: Method) -> None:
    c = random_cost("uniform", 12, 17, seed=5)
    a = assign(c, method=method, maximize=True, tol=1e-9)
    check_matching(a, (12, 17))
    best = scipy_optimum(c, maximize=True)
    if method == "greedy":
        assert a.total_cost <= best + 1e-12
    else:
        assert a.total_cost == pytest.approx(best, abs=1e-8)
    forb = assign(torch.tensor([[-math.inf, 1.0], [2.0, 3.0]]), method=method, maximize=True)
    # greedy takes the best pair (1, 1) = 3 first; the others keep both tasks matched: 1 + 2 = 3
    assert forb.unit_of_task.tolist() == ([-1, 1] if method == "greedy" else [1, 0])
    assert forb.total_cost == 3.0


def test_float32_and_float64_agree() -> None:
    c64 = torch.from_numpy(random_cost("schedule", 60, 80, seed=11))
    a64 = assign(c64, tol=1e-4)
    a32 = assign(c64.float(), tol=1e-4)
    opt = scipy_optimum(c64.numpy())
    assert a64.total_cost - opt <= 1e-4 * abs(opt)
    assert float(c64[a32.rows, a32.cols].sum()) - opt <= 1e-4 * abs(opt) + 1e-4
    assert a32.total_cost == pytest.approx(float(c64.float()[a32.rows, a32.cols].double().sum()))


def test_numpy_and_integer_inputs() -> None:
    c = random_cost("integers", 9, 7, seed=2)
    from_np = assign(c)
    from_t = assign(torch.from_numpy(c))
    from_int = assign(c.astype(np.int64))
    assert from_np.rows.device.type == "cpu"
    for other in (from_t, from_int):
        assert torch.equal(from_np.rows, other.rows) and torch.equal(from_np.cols, other.cols)
    assert from_np.total_cost == scipy_optimum(c)  # integers: ε < 1/n is exact


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [(0, 0), (0, 4), (4, 0)])
def test_empty(method: Method, shape: tuple[int, int]) -> None:
    a = assign(torch.empty(shape), method=method)
    assert len(a) == 0 and a.total_cost == 0.0 and a.shape == shape
    assert a.unit_of_task.shape == (shape[0],) and a.task_of_unit.shape == (shape[1],)


@pytest.mark.parametrize("shape", [(50, 70), (70, 50), (30, 30)])
@pytest.mark.parametrize("value", [0.0, 1.0, -2.5])
def test_constant_matrix(shape: tuple[int, int], value: float) -> None:
    a = assign(torch.full(shape, value))
    check_matching(a, shape)
    assert a.total_cost == value * min(shape) and a.gap_bound == 0.0


@pytest.mark.parametrize("scale", [1e-30, 1e30])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_scales(scale: float, dtype: torch.dtype) -> None:
    base = random_cost("uniform", 40, 60, seed=8)
    a = assign(torch.from_numpy(base * scale).to(dtype))
    ref = scipy_optimum(base) * scale
    check_matching(a, (40, 60))
    assert a.total_cost - ref <= 1e-3 * ref * (1 + 1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_single_entry(method: Method) -> None:
    a = assign(torch.tensor([[3.5]]), method=method)
    assert (a.rows.tolist(), a.cols.tolist(), a.total_cost) == ([0], [0], 3.5)


@pytest.mark.parametrize(
    ("cost", "kwargs", "match"),
    [
        (torch.tensor([[1.0, math.nan]]), {}, "NaN"),
        (torch.tensor([[1.0, -math.inf]]), {}, "-inf"),
        (torch.tensor([[1.0, math.inf]]), {"maximize": True}, "-inf"),
        (torch.ones(3), {}, "2-D"),
        (torch.ones(2, 2, 2), {}, "2-D"),
        (torch.ones(2, 2), {"method": "simplex"}, "unknown method 'simplex'"),
        (torch.ones(2, 2), {"tol": -1.0}, "tol"),
        (torch.ones(2, 2), {"eps": 0.0}, "eps"),
        (np.array([["a", "b"]]), {}, "real-valued"),
    ],
)
def test_bad_inputs(cost: object, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        assign(cost, **kwargs)  # type: ignore[arg-type]


def test_not_a_matrix_type() -> None:
    with pytest.raises(TypeError, match=r"torch\.Tensor or a numpy\.ndarray"):
        assign([[1.0]])  # type: ignore[arg-type]


@pytest.mark.parametrize("method", METHODS)
def test_deterministic(method: Method) -> None:
    c = torch.from_numpy(random_cost("ties", 25, 31, seed=4)).float()
    a, b = assign(c, method=method), assign(c, method=method)
    assert torch.equal(a.rows, b.rows) and torch.equal(a.cols, b.cols)
    assert (a.total_cost, a.iterations, a.gap_bound) == (b.total_cost, b.iterations, b.gap_bound)


@pytest.mark.gpu
def test_cuda_auction_matches_cpu() -> None:
    c = torch.from_numpy(random_cost("schedule", 300, 500, seed=9)).float()
    cpu = assign(c, tol=1e-4)
    gpu = assign(c.cuda(), tol=1e-4)
    assert gpu.rows.device.type == "cuda"
    check_matching(gpu, (300, 500))
    opt = scipy_optimum(c.double().numpy())
    assert gpu.total_cost - opt <= 1e-4 * abs(opt) + 1e-3
    assert gpu.total_cost == pytest.approx(cpu.total_cost, rel=2e-4)
    for method in METHODS[1:]:
        assert assign(c.cuda(), method=method).total_cost == pytest.approx(
            assign(c, method=method).total_cost, rel=1e-6
        )
