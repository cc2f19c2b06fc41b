"""Surrogate-gradient training: learning on separable clusters, determinism, checkpoints, truncated BPTT,
encodings, gradient flow through every neuron model, bad inputs and the per-epoch callback.

Every network is tiny (layers of 8, 12 and 6 neurons, 8 simulation steps) and the data sets have 96 or 40
samples, so the whole file runs in seconds on a CPU. Training is seeded, hence deterministic on
the CPU: the accuracy thresholds are met by the seeded run with a margin and missed by the untrained model.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from torch import Tensor, nn

from hal9.core import ALIFConfig, ConnectivityConfig, HierarchyConfig, LIFConfig, RateConfig
from hal9.learn.data import DataSplit, synthetic_clusters
from hal9.learn.train import (
    EpochRecord,
    HierarchyClassifier,
    TrainConfig,
    TrainResult,
    detach_state,
    encode,
    evaluate,
    fit,
    load_checkpoint,
    save_checkpoint,
    train_epoch,
)

SIZES = (8, 12, 6)
N_CLASSES = 3
CHANCE = 1.0 / N_CLASSES
RATE = RateConfig(tau=2.0)
#: Spiking models with a low threshold, no refractory period and a short membrane time constant, on a
#: hierarchy with connectivity gain 2 (``SPIKING_NET``): every layer spikes within the 8 steps.
LIF = LIFConfig(tau_mem=5.0, v_th=0.3, refractory=0.0)
ALIF = ALIFConfig(tau_mem=5.0, v_th=0.3, refractory=0.0, beta=0.2, tau_adapt=20.0)
#: Well-separated clusters: 96 samples of 8 features in 3 classes (72 train, 24 test, 8 per class).
DATA = synthetic_clusters(96, SIZES[0], N_CLASSES, separation=3.0, seed=0)
#: Three epochs of Adam at a high rate: enough to fit DATA.
FAST = TrainConfig(epochs=3, batch_size=16, lr=0.1, steps=8, seed=0)
#: A smaller split (30 train in 2 batches of FAST, 10 test) for the runs that check bitwise equality only.
SMALL = synthetic_clusters(40, SIZES[0], N_CLASSES, separation=3.0, seed=1)


def net(gain: float = 1.0) -> HierarchyConfig:
    conn = ConnectivityConfig(fan_in_policy="clip", gain=gain)
    return HierarchyConfig(sizes=SIZES, n_layers=3, connectivity=conn)


RATE_NET, SPIKING_NET = net(1.0), net(2.0)


def classifier(
    neuron: BaseModel = RATE, *, config: HierarchyConfig = RATE_NET, seed: int = 0, **kwargs: object
) -> HierarchyClassifier:
    return HierarchyClassifier(config, neuron, N_CLASSES, seed=seed, **kwargs)  # type: ignore[arg-type]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def values(history: list[EpochRecord]) -> list[tuple[int, float, float, float]]:
    """The records without their wall time (which differs from run to run)."""
    return [(h.epoch, h.train_loss, h.test_accuracy, h.test_loss) for h in history]


def assert_same_parameters(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def differs(a: nn.Module, b: nn.Module) -> bool:
    return any(not torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def grads(model: nn.Module) -> dict[str, Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.fixture(scope="module")
def trained() -> tuple[HierarchyClassifier, TrainResult, list[EpochRecord]]:
    """The reference run: ``FAST`` on ``DATA`` from ``classifier(seed=0)``, with the on_epoch records."""
    seen: list[EpochRecord] = []
    model = classifier()
    return model, fit(model, DATA, FAST, on_epoch=seen.append), seen


# ------------------------------------------------------------------------------------------ learning


def test_fit_learns_separable_clusters_that_the_untrained_model_cannot_classify(
    trained: tuple[HierarchyClassifier, TrainResult, list[EpochRecord]],
) -> None:
    acc0, loss0 = evaluate(classifier(), DATA.x_test, DATA.y_test, FAST)
    assert acc0 <= 0.5  # the untrained model is at chance (it predicts one class: 1/3)
    assert loss0 == pytest.approx(math.log(N_CLASSES), abs=0.02)  # small readout: near-uniform logits
    model, result, _ = trained
    h = result.history
    assert [r.epoch for r in h] == [0, 1, 2]
    assert h[-1].train_loss < 0.6 * h[0].train_loss
    assert h[-1].test_loss < 0.5 < loss0
    assert result.test_accuracy == h[-1].test_accuracy >= 0.85  # the seeded run reaches 22/24
    # evaluate is a pure function of the trained model: it reproduces the last record exactly
    last = (h[-1].test_accuracy, h[-1].test_loss)
    assert evaluate(model, DATA.x_test, DATA.y_test, FAST, seed=FAST.seed) == last
    train_acc, _ = evaluate(model, DATA.x_train, DATA.y_train, FAST)
    assert train_acc >= 0.85


def test_a_spiking_lif_hierarchy_learns_through_its_surrogate() -> None:
    model = classifier(LIF, config=SPIKING_NET)
    acc0, loss0 = evaluate(model, DATA.x_test, DATA.y_test, FAST)
    h = fit(model, DATA, FAST).history
    assert acc0 <= 0.5
    assert h[-1].train_loss < 0.6 * h[0].train_loss
    assert h[-1].test_loss < 0.6 * loss0
    # spike counts over 8 steps are a coarse code: 3 epochs reach 16/24 (chance: 8/24)
    assert h[-1].test_accuracy >= 0.6


def test_building_a_classifier_leaves_the_global_rng_alone() -> None:
    rng = torch.get_rng_state()
    classifier()
    assert torch.equal(torch.get_rng_state(), rng)


def test_the_classifier_does_not_depend_on_the_global_rng() -> None:
    torch.manual_seed(1)
    a = classifier()
    torch.manual_seed(2)
    assert not differs(a, classifier())


def test_on_epoch_receives_each_record_once_with_finite_values(
    trained: tuple[HierarchyClassifier, TrainResult, list[EpochRecord]],
) -> None:
    _, result, seen = trained
    assert len(seen) == FAST.epochs and all(a is b for a, b in zip(seen, result.history, strict=True))
    for i, r in enumerate(seen):
        assert isinstance(r, EpochRecord) and r.epoch == i
        assert all(math.isfinite(v) for v in (r.train_loss, r.test_accuracy, r.test_loss, r.seconds))
        assert 0.0 <= r.test_accuracy <= 1.0 and r.train_loss > 0.0 and r.test_loss > 0.0 and r.seconds >= 0.0
    assert math.isnan(TrainResult().test_accuracy)


# --------------------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("encoding", ["current", "rate"])
def test_same_seed_gives_bitwise_the_same_run_without_the_global_rng(encoding: str) -> None:
    config = FAST.model_copy(update={"epochs": 2, "encoding": encoding, "gain": 1.0})
    first, again = classifier(), classifier()
    result = fit(first, SMALL, config)
    rng = torch.get_rng_state()
    rerun = fit(again, SMALL, config)
    assert torch.equal(torch.get_rng_state(), rng)  # fit never draws from torch's global RNG
    assert_same_parameters(again, first)
    assert differs(again, classifier())  # it did train
    assert values(rerun.history) == values(result.history)


def test_another_training_or_model_seed_gives_another_run() -> None:
    one = FAST.model_copy(update={"epochs": 1})
    base, other_order, other_init = classifier(), classifier(), classifier(seed=1)
    assert not differs(base, other_order) and differs(base, other_init)
    h = fit(base, SMALL, one).history
    h_order = fit(other_order, SMALL, one.model_copy(update={"seed": 1})).history
    fit(other_init, SMALL, one)
    assert differs(base, other_order) and differs(base, other_init)
    assert h_order[0].train_loss != h[0].train_loss


def test_evaluate_with_rate_encoding_is_seeded_and_leaves_the_model_unchanged() -> None:
    config = FAST.model_copy(update={"encoding": "rate", "gain": 1.0})
    model = classifier()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = evaluate(model, DATA.x_test, DATA.y_test, config, seed=3)
    assert evaluate(model, DATA.x_test, DATA.y_test, config, seed=3) == a
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


# --------------------------------------------------------------------------------------- checkpoints


def test_fit_resumes_from_a_checkpoint_bitwise_like_an_uninterrupted_run(tmp_path: Path) -> None:
    config = FAST.model_copy(update={"encoding": "rate", "gain": 1.0})  # the generator also draws spikes
    reference = classifier()
    ref = fit(reference, SMALL, config).history
    path = tmp_path / "run.pt"
    # a missing checkpoint starts afresh (and is then written after every epoch)
    first = fit(classifier(), SMALL, config.model_copy(update={"epochs": 2}), checkpoint=path).history
    assert values(first) == values(ref[:2])
    assert path.exists() and not path.with_suffix(".pt.tmp").exists()
    seen: list[EpochRecord] = []
    resumed = classifier()
    h = fit(resumed, SMALL, config, checkpoint=path, on_epoch=seen.append).history
    assert [r.epoch for r in seen] == [2]  # only the missing epoch runs
    assert h[:2] == first  # the saved records come back exactly, wall times included
    assert values(h) == values(ref)
    assert_same_parameters(resumed, reference)
    assert torch.load(path, weights_only=True)["epoch"] == 3
    # a finished checkpoint: nothing left to train, the saved model and history come back
    done, calls = classifier(), list[EpochRecord]()
    again = fit(done, SMALL, config, checkpoint=path, on_epoch=calls.append).history
    assert calls == [] and again == h
    assert_same_parameters(done, reference)


def test_save_and_load_checkpoint_round_trip_model_optimizer_and_generator(tmp_path: Path) -> None:
    model = classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    g = gen(7)
    train_epoch(model, optimizer, DATA.x_train[:32], DATA.y_train[:32], FAST, g)  # non-empty Adam state
    record = EpochRecord(0, 1.25, 0.5, 0.75, 0.125)
    path = tmp_path / "ckpt"
    save_checkpoint(path, model, optimizer, g, 1, [record])
    assert path.exists() and not (tmp_path / "ckpt.tmp").exists()
    fresh = classifier(seed=5)
    opt2 = torch.optim.Adam(fresh.parameters(), lr=0.1)
    g2 = gen(99)
    assert differs(fresh, model)
    assert load_checkpoint(path, fresh, opt2, g2) == (1, [record])
    assert_same_parameters(fresh, model)
    assert torch.equal(g2.get_state(), g.get_state())
    s1, s2 = optimizer.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"] and s1["state"].keys() == s2["state"].keys()
    for i, st1 in s1["state"].items():
        assert all(torch.equal(st1[k], s2["state"][i][k]) for k in ("step", "exp_avg", "exp_avg_sq"))
    # the next epoch from either copy is bitwise the same
    train_epoch(model, optimizer, DATA.x_train[:32], DATA.y_train[:32], FAST, g)
    train_epoch(fresh, opt2, DATA.x_train[:32], DATA.y_train[:32], FAST, g2)
    assert_same_parameters(fresh, model)
    save_checkpoint(path, model, optimizer, g, 2)  # history defaults to none
    assert load_checkpoint(path, fresh, opt2, g2) == (2, [])


@pytest.mark.parametrize("corruption", ["garbage", "truncated"])
def test_a_corrupt_checkpoint_raises_and_is_left_untouched(tmp_path: Path, corruption: str) -> None:
    path = tmp_path / "run.pt"
    model = classifier()
    optimizer = torch.optim.Adam(model.parameters())
    save_checkpoint(path, model, optimizer, gen(), 1)
    raw = b"not a checkpoint" if corruption == "garbage" else path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(raw)
    fresh = classifier()
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(ValueError, match="cannot be read"):
        fit(fresh, SMALL, FAST, checkpoint=path)
    assert path.read_bytes() == raw  # not silently overwritten by a fresh run
    assert all(torch.equal(before[k], v) for k, v in fresh.state_dict().items())


# ---------------------------------------------------------------------------------- truncated BPTT


def _windowed_loss(model: HierarchyClassifier, inputs: Tensor, y: Tensor, window: int) -> Tensor:
    """The loss that train_epoch backpropagates after the last window: the readout of the running mean,
    with the earlier windows' sums (and the state at each window's start) detached."""
    summed: Tensor | None = None
    for window_sum, _ in model.windows(inputs, window):
        summed = window_sum if summed is None else summed.detach() + window_sum
    assert summed is not None
    return nn.functional.cross_entropy(model.readout(summed / inputs.shape[0]), y)


@pytest.mark.parametrize("neuron", [RATE, LIF], ids=["rate", "lif"])
def test_truncated_bptt_has_the_same_forward_but_other_gradients(neuron: BaseModel) -> None:
    config = SPIKING_NET if neuron is LIF else RATE_NET
    model = classifier(neuron, config=config)
    x, y = DATA.x_train[:16], DATA.y_train[:16]
    inputs = encode(x, FAST, None)
    full = nn.functional.cross_entropy(model(inputs), y)
    full.backward()  # type: ignore[no-untyped-call]
    g_full = grads(model)
    # window sums add up to the full recording (detaching the state changes no value)
    record = model.hierarchy(inputs, record=[2], propagation="dense").recordings[2]
    sums = [s for s, _ in model.windows(inputs, 3)]  # windows of 3, 3 and 2 steps
    assert len(sums) == 3
    torch.testing.assert_close(torch.stack(sums).sum(0), record.sum(0), rtol=1e-5, atol=1e-6)
    for window, same in ((FAST.steps, True), (4, False)):
        model.zero_grad(set_to_none=True)
        loss = _windowed_loss(model, inputs, y, window)
        torch.testing.assert_close(loss, full.detach(), rtol=1e-5, atol=1e-6)
        loss.backward()  # type: ignore[no-untyped-call]
        g = grads(model)
        assert g.keys() == g_full.keys()
        torch.testing.assert_close(g["readout.weight"], g_full["readout.weight"], rtol=1e-5, atol=1e-7)
        w, w_full = g["hierarchy.weight_values"], g_full["hierarchy.weight_values"]
        assert bool(w.abs().sum() > 0)
        assert torch.allclose(w, w_full, rtol=1e-4, atol=1e-6) is same


def test_truncated_bptt_steps_once_per_window_and_equals_bptt_for_one_window() -> None:
    x, y = DATA.x_train[:32], DATA.y_train[:32]  # 2 batches of 16
    count = 0

    def counter(*_: object) -> None:
        nonlocal count
        count += 1

    results = {}
    for tbptt in (None, 3, FAST.steps):
        model, count = classifier(), 0
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        optimizer.register_step_post_hook(counter)
        config = FAST.model_copy(update={"tbptt": tbptt, "clip_norm": None})
        loss = train_epoch(model, optimizer, x, y, config, gen())
        assert math.isfinite(loss)
        assert count == 2 * (3 if tbptt == 3 else 1)  # windows of 3, 3, 2 steps: 3 steps per batch
        results[tbptt] = model
    for a, b in zip(results[None].parameters(), results[FAST.steps].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert differs(results[None], results[3])


def test_fit_with_truncated_bptt_trains() -> None:
    model = classifier()
    h = fit(model, DATA, FAST.model_copy(update={"tbptt": 4})).history
    assert h[-1].train_loss < 0.7 * h[0].train_loss
    assert h[-1].test_accuracy >= 0.8


@pytest.mark.parametrize("neuron", [RATE, LIF, ALIF], ids=["rate", "lif", "alif"])
def test_detach_state_detaches_every_tensor_and_keeps_the_values(neuron: BaseModel) -> None:
    assert detach_state(None) is None
    model = classifier(neuron, config=RATE_NET if neuron is RATE else SPIKING_NET)
    state = model.hierarchy(encode(DATA.x_train[:4], FAST, None)).final_state
    assert any(t.requires_grad for t in state)
    out = detach_state(state)
    assert type(out) is type(state) and out._fields == state._fields
    for a, b in zip(out, state, strict=True):
        assert not a.requires_grad and a.grad_fn is None and torch.equal(a, b)


# --------------------------------------------------------------------------------------------- encodings


@pytest.mark.parametrize("encoding", ["current", "rate", "latency"])
def test_encode_gives_time_batch_neuron_inputs(encoding: str) -> None:
    config = FAST.model_copy(update={"encoding": encoding, "gain": 1.5, "steps": 6})
    x = DATA.x_train[:5]
    out = encode(x, config, gen(1))
    assert out.shape == (6, 5, SIZES[0]) and out.dtype == x.dtype
    if encoding == "current":
        assert torch.equal(out, (1.5 * x).expand(6, 5, SIZES[0]))
    else:
        assert set(out.unique().tolist()) <= {0.0, 1.0}
    if encoding == "latency":
        assert bool((out.sum(0) <= 1).all())  # at most one spike per input
    if encoding == "rate":
        assert torch.equal(out, encode(x, config, gen(1)))
        with pytest.raises(ValueError, match="generator"):
            encode(x, config, None)


@settings(max_examples=20, deadline=None)
@given(
    encoding=st.sampled_from(["current", "rate", "latency"]),
    batch=st.integers(1, 6),
    n=st.integers(1, 9),
    steps=st.integers(1, 12),
    seed=st.integers(0, 2**16),
)
def test_encode_shape_property(encoding: str, batch: int, n: int, steps: int, seed: int) -> None:
    x = torch.rand((batch, n), generator=gen(seed))
    out = encode(x, TrainConfig(encoding=encoding, steps=steps), gen(seed))  # type: ignore[arg-type]
    assert out.shape == (steps, batch, n) and bool(torch.isfinite(out).all())


# ------------------------------------------------------------------------ gradient flow per neuron model


def _one_step_grads(model: HierarchyClassifier) -> dict[str, Tensor]:
    inputs = encode(DATA.x_train[:16], FAST, None)
    nn.functional.cross_entropy(model(inputs), DATA.y_train[:16]).backward()  # type: ignore[no-untyped-call]
    return grads(model)


@pytest.mark.parametrize(
    ("neuron", "learnable"),
    [
        (RATE, ()),
        (RATE, ("time_constant",)),
        (LIF, ()),
        (LIF, ("threshold", "time_constant")),
        (ALIF, ()),
        (ALIF, ("threshold", "time_constant")),
    ],
    ids=["rate", "rate-tau", "lif", "lif-learnable", "alif", "alif-learnable"],
)
def test_every_parameter_and_projection_gets_a_gradient(
    neuron: BaseModel, learnable: tuple[str, ...]
) -> None:
    model = classifier(neuron, config=RATE_NET if neuron is RATE else SPIKING_NET, learnable=learnable)
    names = {n for n, _ in model.named_parameters()}
    expected = {"hierarchy.weight_values", "hierarchy.bias", "readout.weight", "readout.bias"}
    expected |= {f"hierarchy.{name}" for name in learnable}
    assert names == expected
    g = _one_step_grads(model)
    assert g.keys() == expected
    for name, grad in g.items():
        assert bool(torch.isfinite(grad).all()), name
        assert bool(grad.abs().sum() > 0), name
    # every projection (within L1..L3, L1→L2, L2→L3) has synapses with a non-zero gradient
    h = model.hierarchy
    rows = torch.repeat_interleave(torch.arange(sum(SIZES)), h.crow_indices.diff())
    tgt, src = h.labels[rows], h.labels[h.col_indices]
    w = g["hierarchy.weight_values"]
    blocks = set(zip(tgt.tolist(), src.tolist(), strict=True))
    assert blocks == {(0, 0), (1, 1), (2, 2), (1, 0), (2, 1)}
    for t, s in blocks:
        assert bool(w[(tgt == t) & (src == s)].abs().sum() > 0), (t, s)


def test_learnable_neuron_parameters_are_updated_by_training() -> None:
    model = classifier(LIF, config=SPIKING_NET, learnable=("threshold", "time_constant"))
    h = model.hierarchy
    assert h.threshold is not None
    th, tau = h.threshold.detach().clone(), h.time_constant.detach().clone()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    train_epoch(model, optimizer, DATA.x_train[:16], DATA.y_train[:16], FAST, gen())
    assert not torch.equal(h.threshold, th) and not torch.equal(h.time_constant, tau)
    with pytest.raises(ValueError, match="threshold"):
        classifier(RATE, learnable=("threshold",))  # rate neurons have no threshold


# --------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lr", 0.0),
        ("lr", -1e-3),
        ("lr", math.nan),
        ("lr", math.inf),
        ("epochs", 0),
        ("batch_size", 0),
        ("steps", 0),
        ("tbptt", 0),
        ("clip_norm", 0.0),
        ("gain", 0.0),
        ("optimizer", "rmsprop"),
        ("encoding", "poisson"),
        ("learning_rate", 0.1),  # unknown field
    ],
)
def test_train_config_rejects_bad_values_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        TrainConfig(**{field: value})  # type: ignore[arg-type]
    assert info.value.errors()[0]["loc"][0] == field


def test_train_config_is_frozen() -> None:
    with pytest.raises(ValidationError):
        FAST.lr = 1.0  # type: ignore[misc]


def _bad_data() -> list[tuple[str, Tensor, Tensor]]:
    x, y = DATA.x_train[:8], DATA.y_train[:8]
    return [
        ("x", x[:, :-1], y),  # 7 features for an L1 of 8
        ("x", x[0], y),  # 1-D
        ("y", x, y.float()),
        ("y", x, y.to(torch.int32)),
        ("y", x, y[:-1]),
        ("y", x, torch.full_like(y, N_CLASSES)),
        ("y", x, torch.full_like(y, -1)),
    ]


@pytest.mark.parametrize(("name", "x", "y"), _bad_data())
def test_bad_data_raises_naming_x_or_y(name: str, x: Tensor, y: Tensor) -> None:
    model = classifier()
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(ValueError, match=f"^{name} must"):
        train_epoch(model, optimizer, x, y, FAST, gen())
    with pytest.raises(ValueError, match=f"^{name} must"):
        evaluate(model, x, y, FAST)
    split = DataSplit(x, y, DATA.x_test, DATA.y_test, N_CLASSES, SIZES[0])
    with pytest.raises(ValueError, match=f"^{name} must"):
        fit(model, split, FAST)
    assert not differs(model, classifier())  # refused before any step


def test_fit_refuses_a_bad_test_split_before_training() -> None:
    model = classifier()
    split = DataSplit(SMALL.x_train, SMALL.y_train, SMALL.x_test[:, :-1], SMALL.y_test, N_CLASSES, SIZES[0])
    with pytest.raises(ValueError, match=r"^x must"):
        fit(model, split, FAST.model_copy(update={"epochs": 1}))
    assert not differs(model, classifier())


@settings(max_examples=25, deadline=None)
@given(label=st.integers(-(2**40), 2**40))
@example(label=N_CLASSES)
@example(label=-1)
@example(label=N_CLASSES - 1)
def test_labels_outside_the_classes_are_refused(label: int) -> None:
    model = classifier()
    y = DATA.y_test.clone()
    y[3] = label
    if 0 <= label < N_CLASSES:
        evaluate(model, DATA.x_test, y, FAST)
    else:
        with pytest.raises(ValueError, match=r"^y must hold labels in 0\.\.2"):
            evaluate(model, DATA.x_test, y, FAST)


@pytest.mark.parametrize("n_classes", [1, 0, -2])
def test_fewer_than_two_classes_is_refused(n_classes: int) -> None:
    with pytest.raises(ValueError, match="n_classes"):
        HierarchyClassifier(RATE_NET, RATE, n_classes, seed=0)


@pytest.mark.parametrize("layer", [3, 4, -4, 100])
def test_a_readout_layer_outside_the_hierarchy_is_refused(layer: int) -> None:
    with pytest.raises(ValueError, match="readout_layer"):
        classifier(readout_layer=layer)


@pytest.mark.parametrize(("layer", "k"), [(0, 0), (1, 1), (2, 2), (-1, 2), (-3, 0)])
def test_the_readout_reads_the_chosen_layer(layer: int, k: int) -> None:
    model = classifier(readout_layer=layer)
    assert model.readout_layer == k and model.readout.in_features == SIZES[k]
    assert model(encode(DATA.x_test[:4], FAST, None)).shape == (4, N_CLASSES)


# --------------------------------------------------------------------------------------------------- GPU


@pytest.mark.gpu
def test_fit_on_cuda_trains_and_resumes(tmp_path: Path) -> None:
    dev = torch.device("cuda")
    data = synthetic_clusters(96, SIZES[0], N_CLASSES, separation=3.0, seed=0, device=dev)
    model = HierarchyClassifier(RATE_NET, RATE, N_CLASSES, seed=0, device=dev)
    assert all(p.device.type == "cuda" for p in model.parameters())
    config = FAST.model_copy(update={"encoding": "rate", "gain": 1.0})
    path = tmp_path / "cuda.pt"
    fit(model, data, config.model_copy(update={"epochs": 2}), checkpoint=path)
    h = fit(model, data, config, checkpoint=path).history
    assert [r.epoch for r in h] == [0, 1, 2]
    assert all(math.isfinite(r.train_loss) and math.isfinite(r.test_loss) for r in h)
    assert h[-1].train_loss < h[0].train_loss and h[-1].test_accuracy > CHANCE + 0.2
    assert evaluate(model, data.x_test, data.y_test, config, seed=1) == evaluate(
        model, data.x_test, data.y_test, config, seed=1
    )


def test_a_checkpoint_of_another_training_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    fit(classifier(), SMALL, FAST.model_copy(update={"epochs": 1}), checkpoint=path)
    other = FAST.model_copy(update={"epochs": 2, "lr": FAST.lr / 10})
    with pytest.raises(ValueError, match="differs in: lr"):
        fit(classifier(), SMALL, other, checkpoint=path)
    # only the number of epochs may change (that is what resuming is for)
    assert len(fit(classifier(), SMALL, FAST.model_copy(update={"epochs": 2}), checkpoint=path).history) == 2
