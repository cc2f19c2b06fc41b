"""hal9.tactical.assignment: auction / greedy / Hungarian / lapjv / auto against SciPy's exact optimum."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from hal9.tactical import _assign_solvers as solvers
from hal9.tactical import _auction
from hal9.tactical.assignment import Assignment, Method, assign

HAS_LAP = solvers.lap_module() is not None
needs_lap = pytest.mark.skipif(not HAS_LAP, reason="the optional package lap is not installed")
LAPJV = pytest.param("lapjv", marks=needs_lap)
METHODS = ("auction", "greedy", "hungarian", LAPJV, "auto")
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
        assert a.cols.tolist() == [1, 0, 2] and a.total_cost == 5.0 and a.exact
    # auto on a small whole-number matrix: lap's JV when installed, else SciPy
    assert a.method == (("lapjv" if HAS_LAP else "hungarian") if method == "auto" else method)
    assert a.requested == method
    assert (a.iterations > 0) == (a.method == "auction")


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
    a = assign(torch.tensor([[5.0, 1.0, 4.0], [2.0, 3.0, 1.0]]).T, method="auction")  # 3 tasks, 2 units
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

    auc = assign(torch.from_numpy(c), method="auction", tol=tol)
    check_matching(auc, (n, m))
    assert auc.total_cost >= opt - slack
    assert auc.total_cost - opt <= auc.gap_bound + slack  # the certificate is a true bound
    assert auc.gap_bound <= k * auc.eps + slack  # ε-CS: at most n·ε (Bertsekas)
    atol = tol * float(np.ptp(c))  # the default absolute part
    assert auc.gap_bound <= max(atol, tol * abs(opt), k * auc.eps) + slack  # the requested tolerance
    if kind in ("ties", "integers"):  # whole numbers: the integer auction is exact
        assert auc.integral and auc.gap_bound == 0.0 and auc.total_cost == opt

    auto = assign(c, tol=tol)
    assert auto.requested == "auto" and auto.method in ("hungarian", "lapjv")  # small: exact solvers
    assert auto.total_cost == pytest.approx(opt, abs=slack) and auto.exact

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
    a = assign(c, method="auction", eps=eps)
    opt = scipy_optimum(c)
    assert a.eps >= eps * (1 - 1e-12)
    assert a.total_cost - opt <= a.gap_bound + 1e-9
    assert a.gap_bound <= 40 * eps * (1 + 1e-9)


def test_larger_rectangular_within_tolerance() -> None:
    for n, m, seed in [(150, 400, 0), (400, 150, 1)]:
        c = random_cost("schedule", n, m, seed)
        a = assign(torch.from_numpy(c), method="auction", tol=1e-4)
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
        a = assign(c, method="auction", tol=1e-6, integral=False)
        opt = scipy_optimum(c)
        check_matching(a, (n, m))
        assert -1e-9 <= a.total_cost - opt <= a.gap_bound + 1e-9
        assert a.gap_bound <= max(1e-6 * abs(opt), 1e-6 * float(np.ptp(c)), min(n, m) * a.eps) + 1e-9
        whole = assign(np.round(c * 7), method="auction")  # the integer auction on the same paths
        assert whole.exact and whole.total_cost == scipy_optimum(np.round(c * 7))


@pytest.mark.parametrize("numpy_on_cpu", [True, False])
def test_small_blocks(monkeypatch: pytest.MonkeyPatch, numpy_on_cpu: bool) -> None:
    """Row/column blocking (bids, certificate, reverse auction, candidate lists) gives a valid result."""
    monkeypatch.setattr(_auction, "_BLOCK_ELEMS_CPU", 37)
    monkeypatch.setattr(_auction, "_LIST_MIN_OBJECTS", 0)
    monkeypatch.setattr(_auction, "_NUMPY_ON_CPU", numpy_on_cpu)
    for n, m in [(30, 80), (80, 30)]:
        c = random_cost("schedule", n, m, seed=n)
        a = assign(c, method="auction", tol=1e-6)
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


@pytest.mark.parametrize("method", ["auction", "hungarian", LAPJV, "auto"])
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
    a64 = assign(c64, method="auction", tol=1e-4)
    a32 = assign(c64.float(), method="auction", tol=1e-4)
    opt = scipy_optimum(c64.numpy())
    assert a64.total_cost - opt <= 1e-4 * abs(opt)
    assert float(c64[a32.rows, a32.cols].sum()) - opt <= 1e-4 * abs(opt) + 1e-4
    assert a32.total_cost == pytest.approx(float(c64.float()[a32.rows, a32.cols].double().sum()))


def test_numpy_and_integer_inputs() -> None:
    c = random_cost("integers", 9, 7, seed=2)
    from_np = assign(c, method="auction")
    from_t = assign(torch.from_numpy(c), method="auction")
    from_int = assign(c.astype(np.int64), method="auction")
    assert from_np.rows.device.type == "cpu"
    for other in (from_t, from_int):
        assert torch.equal(from_np.rows, other.rows) and torch.equal(from_np.cols, other.cols)
    assert from_np.total_cost == scipy_optimum(c) and from_np.exact  # integers: ε < 1/n is exact


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [(0, 0), (0, 4), (4, 0)])
def test_empty(method: Method, shape: tuple[int, int]) -> None:
    a = assign(torch.empty(shape), method=method)
    assert len(a) == 0 and a.total_cost == 0.0 and a.shape == shape
    assert a.unit_of_task.shape == (shape[0],) and a.task_of_unit.shape == (shape[1],)


@pytest.mark.parametrize("shape", [(50, 70), (70, 50), (30, 30)])
@pytest.mark.parametrize("value", [0.0, 1.0, -2.5])
def test_constant_matrix(shape: tuple[int, int], value: float) -> None:
    a = assign(torch.full(shape, value), method="auction")
    check_matching(a, shape)
    assert a.total_cost == value * min(shape) and a.gap_bound == 0.0


@pytest.mark.parametrize("scale", [1e-30, 1e30])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_scales(scale: float, dtype: torch.dtype) -> None:
    base = random_cost("uniform", 40, 60, seed=8)
    a = assign(torch.from_numpy(base * scale).to(dtype), method="auction")
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
        (torch.ones(2, 2), {"tol": math.nan}, "tol"),
        (torch.ones(2, 2), {"atol": -1e-3}, "atol"),
        (torch.ones(2, 2), {"atol": math.nan}, "atol"),
        (torch.ones(2, 2), {"eps": 0.0}, "eps"),
        (torch.ones(2, 2), {"eps": math.inf}, "eps"),
        (torch.ones(2, 2), {"integral": 1}, "integral must be True, False or None"),
        (torch.tensor([[1.0, 2.0], [3.0, 4.5]]), {"integral": True}, "integral=True"),
        (torch.tensor([[1.0, 2.0], [3.0, 4.5]]), {"integral": True, "method": "auction"}, "integral=True"),
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
    cpu = assign(c, method="auction", tol=1e-4)
    gpu = assign(c.cuda(), tol=1e-4)  # auto on CUDA: the auction
    assert gpu.method == "auction" and gpu.requested == "auto"
    assert gpu.rows.device.type == "cuda"
    check_matching(gpu, (300, 500))
    opt = scipy_optimum(c.double().numpy())
    assert gpu.total_cost - opt <= 1e-4 * abs(opt) + 1e-3
    assert gpu.total_cost == pytest.approx(cpu.total_cost, rel=2e-4)
    for method in ("greedy", "hungarian"):
        assert assign(c.cuda(), method=method).total_cost == pytest.approx(
            assign(c, method=method).total_cost, rel=1e-6
        )


# --- whole-number costs: the exact integer auction ------------------------------------------------------

INT_KINDS = ("zeros", "constant", "optimum0", "ties", "range100", "negative", "large", "float32")


def integer_cost(kind: str, n: int, m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "zeros":
        return np.zeros((n, m))
    if kind == "constant":
        return np.full((n, m), float(rng.integers(-9, 10)))
    if kind == "optimum0":  # a planted zero matching under costs in [1, 100): the optimum is exactly 0
        c = rng.integers(1, 100, size=(n, m)).astype(np.float64)
        k = min(n, m)
        c[rng.permutation(n)[:k], rng.permutation(m)[:k]] = 0.0
        return c
    if kind == "ties":
        return rng.integers(0, 3, size=(n, m)).astype(np.float64)
    if kind == "range100":  # the case: [0, 100), optimum 0 or near it once n is large
        return rng.integers(0, 100, size=(n, m)).astype(np.float64)
    if kind == "negative":
        return rng.integers(-1000, 1000, size=(n, m)).astype(np.float64)
    if kind == "large":  # |c|·(n + 1) near the 2⁴⁰ limit of the integer auction
        return rng.integers(-(10**9), 10**9, size=(n, m)).astype(np.float64)
    return rng.integers(-50, 50, size=(n, m)).astype(np.float32).astype(np.float64)


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 25),
    m=st.integers(1, 25),
    kind=st.sampled_from(INT_KINDS),
    seed=st.integers(0, 2**31 - 1),
    maximize=st.booleans(),
)
def test_integer_auction_exact(n: int, m: int, kind: str, seed: int, maximize: bool) -> None:
    c = integer_cost(kind, n, m, seed)
    opt = scipy_optimum(c, maximize=maximize)
    src = torch.from_numpy(c).float() if kind == "float32" else c
    a = assign(src, method="auction", maximize=maximize, tol=0.5)  # tol is ignored: exact anyway
    check_matching(a, (n, m))
    assert a.integral and a.exact and a.gap_bound == 0.0
    assert a.total_cost == opt  # exactly: integers
    auto = assign(src, maximize=maximize)
    assert auto.method in ("lapjv", "hungarian") and auto.total_cost == opt and auto.integral


def test_integer_optimum_zero_larger() -> None:
    """The issue's failure: [0, 100) integers with optimum 0 used to run ε down to 1e-10 (tol can never be
    certified at 0); the integer auction stops as soon as the gap is below 1, well above that ε."""
    for n, m, kind in [(200, 200, "range100"), (150, 260, "optimum0"), (260, 150, "optimum0")]:
        c = integer_cost(kind, n, m, seed=n)
        a = assign(c, method="auction")
        opt = scipy_optimum(c)
        assert a.exact and a.total_cost == opt and (opt == 0.0) == (kind == "optimum0")
        assert a.eps >= 1.0 / (min(n, m) + 1) * (1 - 1e-12)  # scaled ε ≥ 1: no phase below ε = 1/(n+1)


def test_integer_dtype_and_declared() -> None:
    c = integer_cost("negative", 30, 40, seed=1)
    ref = scipy_optimum(c)
    for src, integral in [(c.astype(np.int32), None), (c, True), (torch.from_numpy(c).to(torch.int64), None)]:
        a = assign(src, method="auction", integral=integral)  # type: ignore[arg-type]
        assert a.integral and a.exact and a.total_cost == ref
    # integral=False: the real-valued auction, certified within tol only
    real = assign(c, method="auction", integral=False, tol=1e-3)
    assert not real.integral and real.total_cost - ref <= real.gap_bound + 1e-9
    # eps given: the ε-auction as asked, not the integer one
    with_eps = assign(c, method="auction", eps=1.0)
    assert not with_eps.integral and with_eps.eps >= 1.0 and with_eps.gap_bound <= 30 * 1.0


def test_integer_too_large_falls_back_to_real_auction() -> None:
    """Above |c|·(n+1) = 2⁴⁰ the integer auction is off; the real-valued one keeps its certificate."""
    c = np.random.default_rng(3).integers(-(2**45), 2**45, size=(20, 20)).astype(np.float64)
    a = assign(c, method="auction", tol=1e-9)
    opt = scipy_optimum(c)
    assert a.integral  # whole numbers, but too large for exact integer arithmetic with (n + 1)·c
    assert a.total_cost - opt <= a.gap_bound + 1e-6 * abs(opt)
    assert assign(c).total_cost == opt  # auto: an exact JV solver


@pytest.mark.parametrize("with_forbidden", [False, True])
def test_integer_forbidden_pairs(with_forbidden: bool) -> None:
    rng = np.random.default_rng(11)
    for trial in range(6):
        c = rng.integers(0, 20, size=(18, 23)).astype(np.float64)
        if with_forbidden:
            c[rng.random(c.shape) < 0.5] = np.inf
        a = assign(c, method="auction")
        ref = assign(c, method="hungarian")
        check_matching(a, c.shape, size=len(ref))
        assert a.total_cost == ref.total_cost and a.integral, trial


# --- near-zero optimum of real-valued costs: the absolute gap ---------------------------------------------


@pytest.mark.parametrize("shape", [(60, 60), (40, 70), (70, 40)])
def test_real_optimum_zero_certified_by_atol(shape: tuple[int, int]) -> None:
    """Real costs shifted so that the optimum is 0 (up to rounding): the relative test can never be
    certified, the default ``atol = tol·(max − min)`` ends the auction long before ε reaches its floor."""
    n, m = shape
    k = min(n, m)
    u = np.random.default_rng(n * m).random((n, m))
    c = u - scipy_optimum(u) / k
    opt = scipy_optimum(c)
    assert abs(opt) < 1e-12
    tol = 1e-3
    a = assign(c, method="auction", tol=tol)
    check_matching(a, shape)
    assert not a.integral
    assert a.total_cost - opt <= a.gap_bound <= tol * float(np.ptp(c))  # gap ≤ max(atol, tol·|opt|)
    assert a.eps > 1e-7  # stopped by the certificate, not at the 1e-12 floor
    tight = assign(c, method="auction", tol=tol, atol=1e-8)
    assert tight.total_cost - opt <= tight.gap_bound <= 1e-8 and tight.eps < a.eps
    loose = assign(c, method="auction", tol=0.0, atol=0.05)
    assert loose.total_cost - opt <= loose.gap_bound <= 0.05 and loose.iterations <= a.iterations


# --- lapjv and auto ---------------------------------------------------------------------------------------


@needs_lap
@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 20), m=st.integers(1, 20), kind=st.sampled_from(KINDS), seed=st.integers(0, 2**31 - 1)
)
def test_lapjv_against_scipy(n: int, m: int, kind: str, seed: int) -> None:
    c = random_cost(kind, n, m, seed)
    a = assign(c, method="lapjv")
    check_matching(a, (n, m))
    assert a.method == "lapjv" and a.exact and a.iterations == 0
    assert a.total_cost == pytest.approx(scipy_optimum(c), abs=1e-9 * max(1.0, float(np.abs(c).max())))


@needs_lap
@pytest.mark.parametrize("scale", [1.0, 1e3, 1e9, 1e15])
def test_lapjv_large_entries(scale: float) -> None:
    """``lap`` alone returned wrong matchings once entries reached ~1e6 (its internal infinity): hal9
    scales by a power of two first. Integer and real matrices, SciPy's optimum as the reference."""
    rng = np.random.default_rng(int(scale) % 1000)
    for trial in range(20):
        c = np.round(rng.uniform(-scale, scale, (15, 15))) if trial % 2 else rng.uniform(0, scale, (15, 17))
        a = assign(c, method="lapjv")
        check_matching(a, c.shape)
        assert a.total_cost == pytest.approx(scipy_optimum(c), rel=1e-12, abs=1e-9), trial


def test_lapjv_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(solvers, "lap_module", lambda: None)
    with pytest.raises(ImportError, match="optional package 'lap'"):
        assign(torch.tensor(SQUARE), method="lapjv")
    a = assign(torch.tensor(SQUARE))  # auto without lap: SciPy for whole numbers
    assert (a.method, a.total_cost) == ("hungarian", 5.0)


def test_auto_choice_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    big = (2000, 1500)  # 3·10⁶ entries: the measured crossover
    lap_choice = "lapjv" if HAS_LAP else "hungarian"
    assert solvers.choose(cpu, (500, 500), integral=True, cmax=10.0, tol=1e-3, eps=None) == lap_choice
    assert (
        solvers.choose(cpu, (500, 400), integral=True, cmax=10.0, tol=1e-3, eps=None) == "hungarian"
    )  # lap pads
    assert solvers.choose(cpu, big, integral=True, cmax=10.0, tol=1e-3, eps=None) == "hungarian"
    assert solvers.choose(cpu, (1000, 1000), integral=False, cmax=10.0, tol=1e-3, eps=None) == "hungarian"
    assert solvers.choose(cpu, big, integral=False, cmax=10.0, tol=1e-3, eps=None) == "auction"
    assert solvers.choose(cpu, big, integral=False, cmax=10.0, tol=1e-5, eps=None) == "hungarian"  # too tight
    assert solvers.choose(cpu, big, integral=False, cmax=10.0, tol=0.0, eps=1e-6) == "auction"
    assert solvers.choose(cuda, (10, 10), integral=True, cmax=10.0, tol=0.0, eps=None) == "auction"
    big_entries = solvers.LAP_MAX_ABS  # lap mishandles entries near its 1e6 infinity: SciPy
    assert solvers.choose(cpu, (500, 500), integral=True, cmax=big_entries, tol=1e-3, eps=None) == "hungarian"
    monkeypatch.setattr(solvers, "lap_module", lambda: None)
    assert solvers.choose(cpu, (500, 500), integral=True, cmax=10.0, tol=1e-3, eps=None) == "hungarian"


def test_auto_runs_the_chosen_solver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(solvers, "AUCTION_MIN_ENTRIES", 1000)
    c = random_cost("uniform", 40, 50, seed=12)  # 2,000 entries ≥ the patched threshold
    a = assign(c, tol=1e-3)
    opt = scipy_optimum(c)
    assert (a.method, a.requested, a.integral) == ("auction", "auto", False) and a.iterations > 0
    assert a.total_cost - opt <= a.gap_bound <= max(1e-3 * opt, 1e-3 * float(np.ptp(c))) + 1e-12
    exact = assign(c, tol=0.0)  # an exact answer asked for: SciPy
    assert exact.method == "hungarian" and exact.total_cost == pytest.approx(opt, abs=1e-12)
    whole = assign(np.round(c * 100))
    assert whole.method in ("lapjv", "hungarian") and whole.total_cost == scipy_optimum(np.round(c * 100))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_is_integral(dtype: torch.dtype) -> None:
    c = torch.from_numpy(random_cost("integers", 300, 7000, seed=1)).to(dtype)  # several row blocks
    assert solvers.is_integral(c) and solvers.is_integral(c.t())  # strided view too
    for r, col in [(0, 5), (299, 6999), (160, 3)]:  # a fraction in the first row, the last, a middle block
        d = c.clone()
        d[r, col] += 0.5
        assert not solvers.is_integral(d)
    d = c.clone()
    d[7, 7] = math.inf
    assert solvers.is_integral(d)
    d[8, 8] = math.nan
    assert not solvers.is_integral(d)
    assert solvers.is_integral(torch.empty(0, 3)) and solvers.is_integral(torch.ones(2, 2, dtype=torch.int32))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40))
def test_is_integral_matches_numpy(values: list[float]) -> None:
    c = torch.tensor(values, dtype=torch.float64).reshape(1, -1)
    assert solvers.is_integral(c) == all(float(v).is_integer() for v in values)


def test_sampled_integrality_guess_only_picks_exact_solvers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Auto guesses "whole numbers" from 8 rows; a fraction elsewhere never reaches the integer auction."""
    c = random_cost("integers", 50, 50, seed=21)
    c[3, 4] += 0.25  # row 3 is not among the sampled rows of 50
    t = torch.from_numpy(c)
    assert solvers.is_integral(t, sample=True) and not solvers.is_integral(t)
    guess = assign(c)  # small: an exact JV solver either way
    assert guess.method in ("lapjv", "hungarian") and guess.total_cost == pytest.approx(scipy_optimum(c))
    monkeypatch.setattr(solvers, "choose", lambda *args, **kwargs: "auction")  # as on CUDA
    auc = assign(c, tol=1e-6)  # auto → auction: the full check finds the fraction, the real auction runs
    assert auc.method == "auction" and not auc.integral
    opt = scipy_optimum(c)
    assert auc.total_cost - opt <= auc.gap_bound <= 1e-6 * max(float(np.ptp(c)), abs(opt)) + 1e-12
    with pytest.raises(ValueError, match="integral=True"):
        assign(c, integral=True)  # a declaration is checked on every entry
    whole = np.round(c)
    a = assign(whole, tol=1e-6)  # verified whole numbers: the exact integer auction
    assert a.method == "auction" and a.integral and a.exact and a.total_cost == scipy_optimum(whole)


def test_hungarian_raw_fast_path_and_fallback() -> None:
    """SciPy gets the raw matrix when it can: +inf pairs skipped by SciPy itself, or ``None`` (fallback to
    the penalised matrix) for patterns without a full matching, NaN and -inf."""
    inf = math.inf
    feasible = torch.tensor([[inf, 1.0, 5.0], [2.0, inf, 1.0], [1.0, 3.0, inf]])
    raw = solvers.hungarian(feasible, strict=False)
    assert raw is not None and [int(feasible[r, k]) for r, k in zip(*raw, strict=True)] == [1, 1, 1]
    assert assign(feasible, method="hungarian").total_cost == 3.0
    for bad in ([[inf, inf], [1.0, 2.0]], [[math.nan, 1.0], [1.0, 2.0]], [[-inf, 1.0], [1.0, 2.0]]):
        assert solvers.hungarian(torch.tensor(bad), strict=False) is None
        with pytest.raises(ValueError):
            solvers.hungarian(torch.tensor(bad))
    a = assign(torch.tensor([[inf, inf], [1.0, 2.0]]), method="hungarian")  # the penalised fallback
    assert (a.rows.tolist(), a.cols.tolist(), a.total_cost) == ([1], [0], 1.0)
