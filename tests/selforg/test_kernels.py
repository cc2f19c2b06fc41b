import math

import pytest
import torch

from hal9.selforg.kernels import check_kernel_output, gaussian_kernel, hal9_kernel


def ref_compat(a: list[float], b: list[float]) -> float:
    """HAL9's rule, one pair, plain Python floats."""
    ds, dc = abs(a[0] - b[0]), abs(a[1] - b[1])
    bonus = 0.7 if dc < 0.2 else (0.3 if dc > 0.7 else 1.0)
    return min(1.0, max(0.0, 0.4 * (1 - ds) + 0.4 * bonus + 0.2 * math.sqrt(a[2] * b[2])))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0.5, 0.5, 1.0), (0.4, 0.4, 1.0), 0.4 * 0.9 + 0.4 * 0.7 + 0.2),  # |Δc| = 0.1 < 0.2: similar
        ((0.5, 0.25, 1.0), (0.25, 0.75, 1.0), 0.4 * 0.75 + 0.4 * 1.0 + 0.2),  # |Δc| = 0.5: complementary
        ((0.5, 0.125, 1.0), (0.0, 0.9375, 1.0), 0.4 * 0.5 + 0.4 * 0.3 + 0.2),  # |Δc| > 0.7: distant
        ((0.5, 0.2, 1.0), (0.5, 0.0, 1.0), 0.4 + 0.4 * 1.0 + 0.2),  # |Δc| = 0.2 exactly: not "< 0.2"
        ((0.5, 0.7, 1.0), (0.5, 0.0, 1.0), 0.4 + 0.4 * 1.0 + 0.2),  # |Δc| = 0.7 exactly: not "> 0.7"
        ((0.3, 0.3, 0.25), (0.3, 0.6, 1.0), 0.4 + 0.4 + 0.2 * 0.5),  # sqrt(e_i e_j) = 0.5
        ((0.3, 0.3, 4.0), (0.3, 0.6, 4.0), 1.0),  # 0.4 + 0.4 + 0.8 = 1.6 → clamped to 1
        ((0.1, 0.1, 0.0), (1.0, 1.0, 0.0), 0.4 * 0.1 + 0.4 * 0.3),  # no energy
    ],
)
def test_hal9_kernel_hand_computed(a: tuple, b: tuple, expected: float) -> None:
    out = hal9_kernel(torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64))
    assert out.shape == (1, 1)
    assert float(out) == pytest.approx(expected, abs=1e-12)
    assert float(out) == pytest.approx(ref_compat(list(a), list(b)), abs=1e-12)


def test_hal9_kernel_matches_scalar_reference_on_random_pairs() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.rand(40, 3, generator=g, dtype=torch.float64) * 1.2
    b = torch.rand(50, 4, generator=g, dtype=torch.float64) * 1.2  # extra column ignored
    out = hal9_kernel(a, b)
    ref = torch.tensor(
        [[ref_compat(a[i].tolist(), b[j].tolist()) for j in range(50)] for i in range(40)],
        dtype=torch.float64,
    )
    assert torch.allclose(out, ref.double(), atol=1e-12, rtol=0)
    dc = (a[:, None, 1] - b[None, :, 1]).abs()
    assert bool((dc < 0.2).any() and (dc > 0.7).any() and ((dc >= 0.2) & (dc <= 0.7)).any())  # every branch
    # float32 agrees up to rounding (pairs at a branch boundary aside)
    out32 = hal9_kernel(a.float(), b.float())
    far = ((dc - 0.2).abs() > 1e-6) & ((dc - 0.7).abs() > 1e-6)
    assert torch.allclose(out32.double()[far], ref[far].double(), atol=1e-6)


def test_hal9_kernel_batched_symmetric_and_in_place_safe() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(30, 3, generator=g)
    before = x.clone()
    full = hal9_kernel(x, x)
    assert torch.equal(x, before)  # inputs untouched by the in-place arithmetic
    assert torch.equal(full, full.T)
    idx = torch.randint(0, 30, (30, 7), generator=g)
    batched = hal9_kernel(x[:, None, :], x[idx])  # (30, 1, 7): each neuron against its own candidates
    assert batched.shape == (30, 1, 7)
    assert torch.equal(batched[:, 0], full.gather(1, idx))  # bit-identical whatever the batching
    with pytest.raises(ValueError, match="F >= 3"):
        hal9_kernel(x[:, :2], x[:, :2])


def test_gaussian_kernel() -> None:
    g = torch.Generator().manual_seed(2)
    a, b = (
        torch.rand(5, 3, generator=g, dtype=torch.float64),
        torch.rand(6, 3, generator=g, dtype=torch.float64),
    )
    k = gaussian_kernel(0.3)
    d2 = ((a[:, None, :2] - b[None, :, :2]) ** 2).sum(-1)
    assert torch.allclose(k(a, b), torch.exp(-d2 / (2 * 0.3**2)), rtol=1e-12)
    d2all = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    assert torch.allclose(gaussian_kernel(0.3, columns=None)(a, b), torch.exp(-d2all / 0.18), rtol=1e-12)
    assert torch.allclose(k(a, a).diagonal(), torch.ones(5, dtype=torch.float64))
    assert k(a[:, None], b[None].expand(5, 6, 3)).shape == (5, 1, 6)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="bandwidth"):
            gaussian_kernel(bad)
    with pytest.raises(ValueError, match="columns"):
        gaussian_kernel(0.3, columns=())
    with pytest.raises(ValueError, match="out of range"):
        gaussian_kernel(0.3, columns=(0, 5))(a, b)


def test_check_kernel_output() -> None:
    good = torch.rand(3, 4)
    assert check_kernel_output(good, (3, 4)) is good
    bad_cases = [
        (torch.rand(4, 3), "shape"),
        (torch.full((3, 4), float("nan")), "NaN"),
        (torch.full((3, 4), 1.5), "outside"),
        (torch.full((3, 4), -0.1), "outside"),
        (torch.ones(3, 4, dtype=torch.int64), "floating"),
        ([[0.5] * 4] * 3, "Tensor"),
    ]
    for out, what in bad_cases:
        with pytest.raises(ValueError, match="kernel") as err:
            check_kernel_output(out, (3, 4))
        assert what in str(err.value)
