"""Spike encoders: rates against binomial bounds, latency times by hand, determinism, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hal9.learn.encoding import current_encode, latency_encode, poisson_encode, rate_encode


def gen(seed: int = 0, device: str = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


def assert_binomial(counts: torch.Tensor, p: torch.Tensor, steps: int, z: float = 5.0) -> None:
    """Every count is within ``z`` binomial standard deviations of ``steps · p`` (exact where p ∈ {0, 1})."""
    c, pp = counts.double().numpy(), p.double().numpy()
    sd = np.sqrt(steps * pp * (1 - pp))
    assert np.all(np.abs(c - steps * pp) <= z * sd + 1e-9), (c, steps * pp, sd)


# ----------------------------------------------------------------------------------------------- rate


def test_rate_encode_matches_bernoulli_rates_within_binomial_bounds() -> None:
    x = torch.tensor([[0.0, 0.05, 0.3, 0.5], [0.77, 0.95, 1.0, 0.2]])
    steps = 4000
    s = rate_encode(x, steps, generator=gen(1))
    assert s.shape == (steps, 2, 4) and s.dtype == torch.float32
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert_binomial(s.sum(0), x, steps)
    assert s[:, 0, 0].sum() == 0 and s[:, 1, 2].sum() == steps  # p = 0 never, p = 1 always


def test_rate_encode_gain_scales_and_clamps() -> None:
    x = torch.tensor([[0.1, 0.3, 0.6, 1.0]])
    steps = 4000
    s = rate_encode(x, steps, gain=2.0, generator=gen(2))
    p = (2.0 * x).clamp(0, 1)
    assert_binomial(s.sum(0), p, steps)
    assert s[:, 0, 2:].sum() == 2 * steps  # 2·0.6 and 2·1.0 clamp to p = 1
    assert rate_encode(x, 50, gain=0.0, generator=gen(2)).sum() == 0


def test_rate_encode_is_reproducible_and_advances_the_generator() -> None:
    x = torch.rand((3, 7), generator=gen(5))
    a = rate_encode(x, 20, generator=gen(9))
    b = rate_encode(x, 20, generator=gen(9))
    assert torch.equal(a, b)
    assert not torch.equal(a, rate_encode(x, 20, generator=gen(10)))
    g = gen(9)
    first, second = rate_encode(x, 20, generator=g), rate_encode(x, 20, generator=g)
    assert torch.equal(first, a) and not torch.equal(first, second)


def test_rate_encode_keeps_dtype_and_does_not_use_the_global_rng() -> None:
    x = torch.full((2, 3), 0.5, dtype=torch.float64)
    torch.manual_seed(0)
    a = rate_encode(x, 10, generator=gen(3))
    torch.manual_seed(1)
    b = rate_encode(x, 10, generator=gen(3))
    assert a.dtype == torch.float64 and torch.equal(a, b)
    half = rate_encode(x.to(torch.bfloat16), 10, generator=gen(3))
    assert half.dtype == torch.bfloat16


@settings(max_examples=30, deadline=None)
@given(
    batch=st.integers(1, 4),
    n=st.integers(1, 6),
    steps=st.integers(1, 9),
    gain=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**31),
)
def test_rate_encode_shape_values_and_certain_inputs(
    batch: int, n: int, steps: int, gain: float, seed: int
) -> None:
    x = torch.rand((batch, n), generator=gen(seed))
    x[0, 0] = 0.0
    s = rate_encode(x, steps, gain=gain, generator=gen(seed))
    assert s.shape == (steps, batch, n)
    assert bool(((s == 0) | (s == 1)).all())
    p = (gain * x).clamp(0, 1)
    assert bool((s[:, p == 0] == 0).all()) and bool((s[:, p == 1] == 1).all())


# ----------------------------------------------------------------------------------------------- Poisson


def test_poisson_encode_probability_is_one_minus_exp_of_rate_dt() -> None:
    x = torch.tensor([[0.0, 0.25, 0.5, 1.0]], dtype=torch.float64)
    rate_max, dt, steps = 200.0, 1e-3, 20000  # Hz and s: p(1) = 1 − e^{−0.2} = 0.1813
    s = poisson_encode(x, steps, rate_max=rate_max, dt=dt, generator=gen(4))
    p = torch.tensor([[1 - math.exp(-r * rate_max * dt) for r in (0.0, 0.25, 0.5, 1.0)]], dtype=torch.float64)
    assert abs(p[0, 3].item() - 0.18126924692201818) < 1e-15
    assert_binomial(s.sum(0), p, steps)
    assert s[:, 0, 0].sum() == 0 and s.dtype == torch.float64


def test_poisson_encode_high_rate_saturates_and_is_reproducible() -> None:
    x = torch.ones((1, 3))
    assert poisson_encode(x, 30, rate_max=1e6, dt=1.0, generator=gen(0)).sum() == 90
    a = poisson_encode(x * 0.5, 40, rate_max=0.3, dt=1.0, generator=gen(6))
    b = poisson_encode(x * 0.5, 40, rate_max=0.3, dt=1.0, generator=gen(6))
    assert torch.equal(a, b) and 0 < a.sum() < 120


# ----------------------------------------------------------------------------------------------- latency


def first_step(s: torch.Tensor) -> list[int | None]:
    """Per input of a (T, 1, n) train: the step of its spike, or None."""
    return [int(s[:, 0, i].argmax()) if s[:, 0, i].sum() > 0 else None for i in range(s.shape[2])]


def test_latency_log_code_by_hand() -> None:
    # τ = 5, θ = 0.2, t = 5 ln(x / (x − 0.2)): 1 → 1.116 (1), 0.5 → 2.554 (3), 0.3 → 5.493 (5), .25 → 8.05 (8)
    x = torch.tensor([[1.0, 0.5, 0.3, 0.25, 0.2, 0.1, 0.0]])
    hand = [5 * math.log(v / (v - 0.2)) for v in (1.0, 0.5, 0.3, 0.25)]
    assert [round(t, 3) for t in hand] == [1.116, 2.554, 5.493, 8.047]
    s = latency_encode(x, 20, tau=5.0, threshold=0.2)
    assert s.shape == (20, 1, 7) and s.dtype == torch.float32
    assert first_step(s) == [1, 3, 5, 8, None, None, None]
    assert s.sum().item() == 4


def test_latency_linear_code_by_hand_and_ties_go_later() -> None:
    # τ = 10, θ = 0.2: t = 10 (1 − x); 0.75 → 2.5 exactly → step 3 (tie to the later step); 0.26 → 7.4 → 7
    x = torch.tensor([[1.0, 0.75, 0.5, 0.26, 0.2, 0.0]], dtype=torch.float64)
    s = latency_encode(x, 11, tau=10.0, threshold=0.2, linear=True)
    assert first_step(s) == [0, 3, 5, 7, None, None]


def test_latency_drops_spikes_beyond_the_window() -> None:
    x = torch.tensor([[1.0, 0.3, 0.25]])
    s = latency_encode(x, 6, tau=5.0, threshold=0.2)  # steps 1, 5, 8: the last is outside T = 6
    assert first_step(s) == [1, 5, None]
    # the documented cut-off: x ≤ θ / (1 − e^{−(T − 1/2)/τ}) never spikes in a window of T steps
    cut = 0.2 / (1 - math.exp(-5.5 / 5.0))
    s2 = latency_encode(
        torch.tensor([[cut * 0.999, cut * 1.001]], dtype=torch.float64), 6, tau=5.0, threshold=0.2
    )
    assert first_step(s2) == [None, 5]


def test_latency_threshold_is_compared_in_the_inputs_dtype() -> None:
    x = torch.tensor([[0.2, 0.7]])  # float32(0.2) > 0.2 and float32(0.7) < 0.7 in float64
    assert latency_encode(x, 30, tau=10.0, threshold=0.2, linear=True).sum(0).tolist() == [[0.0, 1.0]]
    assert latency_encode(x, 30, threshold=0.7).sum() == 0


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(0.0, 1.0, allow_subnormal=False), min_size=1, max_size=12),
    steps=st.integers(1, 40),
    tau=st.floats(0.5, 20.0),
    threshold=st.floats(0.0, 0.9),
    linear=st.booleans(),
)
def test_latency_one_spike_per_active_input_and_brighter_is_earlier(
    values: list[float], steps: int, tau: float, threshold: float, linear: bool
) -> None:
    x = torch.tensor([values], dtype=torch.float64)
    s = latency_encode(x, steps, tau=tau, threshold=threshold, linear=linear)
    counts = s.sum(0)[0].numpy()
    assert set(counts.tolist()) <= {0.0, 1.0}
    # independent reference in numpy
    v = np.asarray(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = tau * (1 - v) if linear else tau * np.log(v / (v - threshold))
    for i, vi in enumerate(v):
        if vi <= threshold:
            assert counts[i] == 0
            continue
        k = math.floor(t[i] + 0.5)
        if abs(t[i] + 0.5 - round(t[i] + 0.5)) < 1e-9:
            continue  # on a rounding boundary: numpy and torch may differ in the last bit
        assert counts[i] == (1 if k < steps else 0)
        if k < steps:
            assert int(s[:, 0, i].argmax()) == k
    steps_of = {i: int(s[:, 0, i].argmax()) for i in range(len(values)) if counts[i] == 1}
    for i in steps_of:
        for j in range(len(values)):
            if v[j] >= v[i]:  # brighter or equal: spikes too (within the window) and not later
                assert j in steps_of and steps_of[j] <= steps_of[i]


# ----------------------------------------------------------------------------------------------- current


def test_current_encode_is_exact_repetition_and_a_copy() -> None:
    x = torch.tensor([[-1.5, 0.0, 2.25], [3.0, 1e-8, -7.0]], dtype=torch.float64)
    c = current_encode(x, 4)
    assert c.shape == (4, 2, 3) and c.dtype == torch.float64 and c.is_contiguous()
    for t in range(4):
        assert torch.equal(c[t], x)
    c[0, 0, 0] = 99.0
    assert x[0, 0] == -1.5
    assert torch.equal(current_encode(x, 2, gain=0.5)[1], x * 0.5)


# ----------------------------------------------------------------------------------------------- bad inputs

ENCODERS = {
    "rate": lambda x, steps, **kw: rate_encode(x, steps, generator=gen(), **kw),
    "poisson": lambda x, steps, **kw: poisson_encode(
        x, steps, **{"rate_max": 10.0, "dt": 0.01, **kw}, generator=gen()
    ),
    "latency": lambda x, steps, **kw: latency_encode(x, steps, **kw),
    "current": lambda x, steps, **kw: current_encode(x, steps, **kw),
}
GOOD = torch.full((2, 3), 0.5)


@pytest.mark.parametrize("name", sorted(ENCODERS))
@pytest.mark.parametrize(
    ("x", "match"),
    [
        (torch.full((3,), 0.5), "2-D"),
        (torch.full((1, 2, 3), 0.5), "2-D"),
        (np.full((2, 3), 0.5), "torch.Tensor"),
        (torch.ones((2, 3), dtype=torch.int64), "floating"),
        (torch.tensor([[0.5, float("nan")]]), "finite"),
        (torch.tensor([[0.5, float("inf")]]), "finite"),
    ],
)
def test_bad_x_is_refused(name: str, x: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ENCODERS[name](x, 5)


@pytest.mark.parametrize("name", ["rate", "poisson", "latency"])
@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_spike_encoders_need_intensities_in_unit_interval(name: str, bad: float) -> None:
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        ENCODERS[name](torch.tensor([[0.5, bad]]), 5)


def test_current_encode_takes_any_finite_value() -> None:
    assert current_encode(torch.tensor([[-3.0, 4.0]]), 2).shape == (2, 1, 2)


@pytest.mark.parametrize("name", sorted(ENCODERS))
@pytest.mark.parametrize("steps", [0, -1, 2.5, True, "3", None])
def test_bad_steps_are_refused(name: str, steps: object) -> None:
    with pytest.raises(ValueError, match="steps"):
        ENCODERS[name](GOOD, steps)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("rate", {"gain": -0.5}, "gain"),
        ("rate", {"gain": float("nan")}, "gain"),
        ("rate", {"gain": float("inf")}, "gain"),
        ("poisson", {"rate_max": -1.0}, "rate_max"),
        ("poisson", {"rate_max": float("inf")}, "rate_max"),
        ("poisson", {"dt": 0.0}, "dt"),
        ("poisson", {"dt": -1.0}, "dt"),
        ("latency", {"tau": 0.0}, "tau"),
        ("latency", {"tau": float("nan")}, "tau"),
        ("latency", {"threshold": 1.0}, "threshold"),
        ("latency", {"threshold": -0.1}, "threshold"),
        ("latency", {"linear": 1}, "linear"),
        ("current", {"gain": float("nan")}, "gain"),
    ],
)
def test_bad_parameters_are_refused(name: str, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ENCODERS[name](GOOD, 5, **kwargs)


@pytest.mark.parametrize("generator", [None, 0, np.random.default_rng(0)])
def test_stochastic_encoders_need_a_torch_generator(generator: object) -> None:
    with pytest.raises(ValueError, match="generator"):
        rate_encode(GOOD, 5, generator=generator)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="generator"):
        poisson_encode(GOOD, 5, rate_max=1.0, dt=1.0, generator=generator)  # type: ignore[arg-type]


def test_empty_batch_gives_an_empty_train() -> None:
    x = torch.empty((0, 3))
    assert rate_encode(x, 4, generator=gen()).shape == (4, 0, 3)
    assert latency_encode(x, 4).shape == (4, 0, 3)


# ----------------------------------------------------------------------------------------------- GPU


@pytest.mark.gpu
def test_encoders_on_cuda_keep_device_and_are_reproducible() -> None:
    x = torch.rand((8, 16), generator=gen(0)).cuda()
    a = rate_encode(x, 32, generator=gen(1, "cuda"))
    b = rate_encode(x, 32, generator=gen(1, "cuda"))
    assert a.is_cuda and torch.equal(a, b)
    p = poisson_encode(x, 32, rate_max=0.5, dt=1.0, generator=gen(2, "cuda"))
    assert p.is_cuda
    lat = latency_encode(x, 32)
    assert lat.is_cuda and torch.equal(lat.cpu(), latency_encode(x.cpu(), 32))
    assert torch.equal(current_encode(x, 3).cpu(), current_encode(x.cpu(), 3))
    with pytest.raises(ValueError, match="generator"):
        rate_encode(x, 4, generator=gen(0))  # a CPU generator for a CUDA tensor
