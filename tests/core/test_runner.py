import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hal9.core import (
    ConnectivityConfig,
    HierarchyConfig,
    LIFConfig,
    LIFState,
    RateConfig,
    RateState,
    adjacency_violation,
    build_network,
    lif_params,
    rate_params,
    run,
)

SIZES = (60, 30, 15, 8)


def _net(feedback: bool = False, seed: int = 0, dtype: torch.dtype = torch.float32):
    conn = ConnectivityConfig(fan_in_within=6, fan_in_up=6, fan_in_down=4, feedback=feedback, gain=1.2)
    return build_network(HierarchyConfig(sizes=SIZES, n_layers=4, connectivity=conn), seed=seed, dtype=dtype)


def _inputs(
    steps: int = 12, batch: int = 3, seed: int = 0, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((steps, batch, SIZES[0]), generator=g, dtype=dtype)


def test_shapes_and_layer_means() -> None:
    net = _net()
    p = rate_params(RateConfig(tau=3.0), net.sizes)
    res = run(net, p, _inputs(), record=[0, 3])
    assert set(res.recordings) == {0, 3}
    assert res.recordings[0].shape == (12, 3, 60) and res.recordings[3].shape == (12, 3, 8)
    assert res.layer_means.shape == (12, 3, 4)
    assert res.final_state.x.shape == (3, sum(SIZES))
    torch.testing.assert_close(res.layer_means[:, :, 0], res.recordings[0].mean(-1))
    torch.testing.assert_close(res.layer_means[:, :, 3], res.recordings[3].mean(-1))
    torch.testing.assert_close(res.recordings[3][-1], res.final_state.x[:, net.layer_slice(3)])
    assert res.times.tolist() == [float(i) for i in range(1, 13)]


def test_every_k_subsamples_the_full_recording_exactly() -> None:
    net = _net()
    p = rate_params(RateConfig(tau=3.0, dt=0.5), net.sizes)
    full = run(net, p, _inputs(), record=range(4))
    sub = run(net, p, _inputs(), record=range(4), every=3)
    for k in range(4):
        assert torch.equal(sub.recordings[k], full.recordings[k][2::3])
    assert torch.equal(sub.layer_means, full.layer_means[2::3])
    assert sub.times.tolist() == [1.5, 3.0, 4.5, 6.0]


def test_activity_reaches_top_layer_only_through_adjacent_layers() -> None:
    # Feed-forward only: input to L1 reaches L_k after k−1 steps (one synaptic hop per step), never sooner.
    net = _net()
    p = rate_params(RateConfig(tau=1.0, dt=1.0), net.sizes)  # dt = τ: x ← f(drive)
    res = run(net, p, _inputs(steps=5), record=range(4))
    for k in range(1, 4):
        assert bool((res.recordings[k][:k] == 0).all()), f"L{k + 1} active before {k} hops"
        assert bool((res.recordings[k][k] != 0).any())


def test_feedback_switch_controls_top_down_influence() -> None:
    steps, batch = 10, 2
    top = torch.rand((steps, batch, SIZES[3]), generator=torch.Generator().manual_seed(1))
    zero = torch.zeros((steps, batch, SIZES[0]))
    for feedback, expect_l1_active in ((False, False), (True, True)):
        net = _net(feedback=feedback)
        res = run(
            net, rate_params(RateConfig(tau=2.0), net.sizes), zero, layer_inputs={3: top}, record=[0, 3]
        )
        assert bool((res.recordings[3] != 0).any())
        assert bool((res.recordings[0] != 0).any()) == expect_l1_active


@pytest.mark.parametrize("model", ["rate", "lif"])
def test_same_seed_bitwise_identical(model: str) -> None:
    outs = []
    for _ in range(2):
        net = _net(feedback=True, seed=5)
        cfg = RateConfig(tau=4.0) if model == "rate" else LIFConfig(tau_mem=3.0, v_th=0.3)
        p = rate_params(cfg, net.sizes) if model == "rate" else lif_params(cfg, net.sizes)
        res = run(net, p, _inputs(steps=30, seed=2) * 2, record=[0, 1, 2, 3])
        outs.append(res)
    for k in range(4):
        assert torch.equal(outs[0].recordings[k], outs[1].recordings[k])
    for a, b in zip(outs[0].final_state, outs[1].final_state, strict=True):
        assert torch.equal(a, b)
    if model == "lif":
        assert float(outs[0].recordings[0].sum()) > 0  # the run actually spiked
        assert set(outs[0].recordings[1].unique().tolist()) <= {0.0, 1.0}


def test_batch_elements_are_independent() -> None:
    net = _net(feedback=True)
    p = rate_params(RateConfig(tau=2.0), net.sizes)
    x = _inputs(steps=8, batch=3)
    both = run(net, p, x).final_state.x
    single = run(net, p, x[:, 1:2]).final_state.x
    torch.testing.assert_close(both[1:2], single, rtol=1e-6, atol=1e-6)


def test_explicit_state_and_continuation() -> None:
    net = _net()
    p = rate_params(RateConfig(tau=2.0), net.sizes)
    x = _inputs(steps=10)
    whole = run(net, p, x).final_state.x
    first = run(net, p, x[:4]).final_state
    contiguous = RateState(first.x.contiguous())  # a user-made (row-major) state is accepted too
    second = run(net, p, x[4:], state=contiguous).final_state.x
    torch.testing.assert_close(second, whole, rtol=1e-6, atol=1e-7)


def test_progress_bar_runs(capsys: pytest.CaptureFixture[str]) -> None:
    net = _net()
    res = run(net, rate_params(RateConfig(), net.sizes), _inputs(steps=3), progress=True)
    assert res.steps == 3


def test_compiled_step_matches_eager() -> None:
    net = _net(feedback=True)
    p = rate_params(RateConfig(tau=3.0), net.sizes)
    eager = run(net, p, _inputs(steps=6), record=[0, 3])
    compiled = run(net, p, _inputs(steps=6), record=[0, 3], compile=True)
    for k in (0, 3):
        torch.testing.assert_close(compiled.recordings[k], eager.recordings[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"inputs": torch.zeros(5, 60)}, r"inputs must be a \(T, batch, n_L1\)"),
        ({"inputs": torch.zeros(5, 2, 59)}, r"inputs must have shape \(5, 2, 60\)"),
        ({"inputs": torch.zeros(0, 2, 60)}, "T >= 1"),
        ({"inputs": torch.zeros(5, 2, 60, dtype=torch.float64)}, "inputs must have dtype torch.float32"),
        ({"inputs": torch.full((5, 2, 60), float("nan"))}, "inputs contains NaN or Inf"),
        ({"inputs": torch.full((5, 2, 60), float("inf"))}, "inputs contains NaN or Inf"),
        ({"inputs": torch.zeros(5, 2, 60, device="meta")}, "inputs is on meta"),
        ({"inputs": [[0.0]]}, "inputs must be a"),
        ({"layer_inputs": {7: torch.zeros(5, 2, 8)}}, "layer_inputs key"),
        ({"layer_inputs": {3: torch.zeros(5, 2, 9)}}, r"layer_inputs\[3\] must have shape"),
        ({"every": 0}, "every"),
        ({"every": 1.5}, "every"),
        ({"record": [4]}, "record"),
        ({"state": RateState(torch.zeros(3, 113))}, r"state.x must have shape \(2, 113\)"),
        ({"state": LIFState(*(torch.zeros(2, 113),) * 3)}, "state type does not match"),
        ({"params": "rate"}, "params must be"),
    ],
)
def test_bad_input_raises_naming_the_field(kwargs: dict, match: str) -> None:
    net = _net()
    args = {"params": rate_params(RateConfig(), net.sizes), "inputs": torch.zeros(5, 2, 60)} | kwargs
    with pytest.raises(ValueError, match=match):
        run(net, **args)


def test_params_for_other_network_rejected() -> None:
    net = _net()
    with pytest.raises(ValueError, match=r"params\.tau"):
        run(net, rate_params(RateConfig(), (10, 5)), torch.zeros(2, 1, 60))


@settings(max_examples=15, deadline=None)
@given(
    base=st.integers(20, 400),
    k=st.integers(1, 9),
    ratio=st.floats(1.1, 4.0),
    batch=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_any_designed_hierarchy_runs(base: int, k: int, ratio: float, batch: int, seed: int) -> None:
    cfg = HierarchyConfig(
        base_size=base,
        n_layers=k,
        ratio=ratio,
        connectivity=ConnectivityConfig(
            fan_in_within=4, fan_in_up=4, fan_in_down=2, feedback=True, fan_in_policy="clip"
        ),
    )
    net = build_network(cfg, seed=seed)
    assert adjacency_violation(net.weight, net.labels) == 0.0
    inputs = torch.rand((3, batch, net.sizes[0]), generator=torch.Generator().manual_seed(seed))
    res = run(net, rate_params(RateConfig(), net.sizes), inputs, record=[k - 1])
    assert res.recordings[k - 1].shape == (3, batch, net.sizes[-1])
    assert bool(torch.isfinite(res.final_state.x).all())
    assert bool((res.final_state.x.abs() <= 1).all())  # tanh rates from 0 stay in [−1, 1]


def test_recordings_that_cannot_fit_are_refused_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    import hal9.core.runner as runner

    net = _net()
    # 12 records x batch 3 x (60 + 8 recorded + 4 layer means) x 4 bytes = 10,368 bytes
    monkeypatch.setattr(runner, "available_memory", lambda device: 10_367)
    with pytest.raises(ValueError, match=r"recordings need 0\.0 GiB \(12 records x batch 3 x 68 recorded"):
        run(net, rate_params(RateConfig(), net.sizes), _inputs(), record=[0, 3])
    monkeypatch.setattr(runner, "available_memory", lambda device: 10_368)
    assert run(net, rate_params(RateConfig(), net.sizes), _inputs(), record=[0, 3]).steps == 12


def test_numpy_and_list_inputs_are_converted_to_the_network() -> None:
    import numpy as np

    net = _net(dtype=torch.float64)
    p = rate_params(RateConfig(tau=2.0), net.sizes, dtype=torch.float64)
    x = _inputs(steps=6, dtype=torch.float64)
    top = torch.rand((6, 3, SIZES[3]), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    ref = run(net, p, x, layer_inputs={3: top}, record=[3])
    for conv in (lambda t: t.numpy(), lambda t: t.tolist()):
        got = run(net, p, conv(x), layer_inputs={3: conv(top)}, record=[3])
        assert torch.equal(got.recordings[3], ref.recordings[3])
    with pytest.raises(ValueError, match="inputs must be a tensor or an array of numbers, got list"):
        run(net, p, [[["a"]]])
    with pytest.raises(ValueError, match=r"inputs must have shape \(6, 3, 60\)"):
        run(net, p, np.zeros((6, 3, 61)))


def test_means_false_skips_layer_means_and_changes_nothing_else() -> None:
    net = _net(feedback=True)
    p = rate_params(RateConfig(tau=3.0), net.sizes)
    full = run(net, p, _inputs(), record=[0, 3])
    lean = run(net, p, _inputs(), record=[0, 3], means=False)
    assert lean.layer_means.shape == (0, 3, 4)
    assert torch.equal(lean.final_state.x, full.final_state.x)
    assert all(torch.equal(lean.recordings[k], full.recordings[k]) for k in (0, 3))


@pytest.mark.parametrize("model", ["rate", "lif", "alif"])
def test_prepared_params_step_bitwise_like_the_plain_ones(model: str) -> None:
    from hal9.core import ALIFConfig, LIFConfig, alif_params, neuron_model

    net = _net(dtype=torch.float64)
    cfg = {"rate": RateConfig(tau=(2.0, 3.0, 4.0, 5.0)), "lif": LIFConfig(tau_mem=3.0, v_th=0.3)}.get(
        model, ALIFConfig(tau_mem=3.0, v_th=0.3, beta=0.2, tau_adapt=7.0)
    )
    m = neuron_model(cfg)
    p = (alif_params if model == "alif" else m.make_params)(cfg, net.sizes, dtype=torch.float64)
    assert m.prepare is not None
    prepared = m.prepare(p)
    state = m.init_state(p, net.n_neurons, 3, device=torch.device("cpu"), dtype=torch.float64)
    drive = (
        torch.rand((3, net.n_neurons), generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 3
    )
    a, s1 = m.step(state, drive, p)
    b, s2 = m.step(state, drive, prepared)
    assert torch.equal(a, b) and all(torch.equal(x, y) for x, y in zip(s1, s2, strict=True))


def test_compile_failure_falls_back_to_the_eager_step(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_compile(fn, **kwargs):  # type: ignore[no-untyped-def]
        def fail(*args, **kw):  # type: ignore[no-untyped-def]
            raise RuntimeError("no C++ compiler")

        return fail

    net = _net()
    p = rate_params(RateConfig(), net.sizes)
    x = _inputs(steps=5)
    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.warns(RuntimeWarning, match="torch.compile of the neuron step failed .*no C\\+\\+ compiler"):
        out = run(net, p, x, record=[0], compile=True)
    eager = run(net, p, x, record=[0])
    assert torch.equal(out.recordings[0], eager.recordings[0])


def test_recordings_of_adjacent_and_separate_layers_equal_the_per_layer_activity() -> None:
    """Adjacent recorded layers share one buffer (one copy per record): each layer's view must hold
    exactly its own activity, in the caller's order, for any batch and ``every``."""
    net = _net()
    p = rate_params(RateConfig(tau=2.0), net.sizes)
    x = _inputs(steps=9, batch=3)
    every = 2
    full = run(net, p, x, record=range(net.n_layers), every=every)
    parts = run(net, p, x, record=(3, 0, 1), every=every)
    assert list(parts.recordings) == [3, 0, 1]
    for k in (3, 0, 1):
        assert parts.recordings[k].shape == (9 // every, 3, net.sizes[k])
        assert torch.equal(parts.recordings[k], full.recordings[k])
    # the same values as slicing the activity of a run recorded at every step
    states = []
    state = None
    for t in range(9):
        out = run(net, p, x[t : t + 1], state=state)
        state = out.final_state
        states.append(state.x)
    want = torch.stack(states[every - 1 :: every])[:, :, net.layer_slice(3)]
    assert torch.equal(parts.recordings[3], want)
    assert parts.recordings[0].reshape(-1).numel() == (9 // every) * 3 * net.sizes[0]
