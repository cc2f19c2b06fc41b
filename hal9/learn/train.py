"""Surrogate-gradient training of a hierarchy: a readout module, a minimal loop, and checkpoints.

A recipe, not a framework: :class:`HierarchyClassifier` is an ``nn.Module`` (the hierarchy plus a
linear readout of one layer's mean activity), :func:`train_epoch` and :func:`evaluate` are plain loops
over seeded mini-batches, and :func:`fit` strings them together with gradient clipping, a progress bar
and a per-epoch callback (where :mod:`hal9.experiments` logs to MLflow). Spiking models pass gradients
through their spikes with the surrogate of their config (:mod:`hal9.core.neurons.surrogate`);
backpropagation runs through the whole sequence (BPTT) or through windows of ``tbptt`` steps
(truncated BPTT: the state is detached between windows and the optimizer steps after each).

References
----------
Neftci, E. O., Mostafa, H. & Zenke, F. (2019). Surrogate gradient learning in spiking neural networks.
*IEEE Signal Processing Magazine* 36(6), 51–63.
Williams, R. J. & Peng, J. (1990). An efficient gradient-based algorithm for on-line training of
recurrent network trajectories. *Neural Computation* 2(4), 490–501 (truncated BPTT).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from pydantic import BaseModel, Field
from torch import Tensor, nn

from hal9.core import FrozenConfig, HierarchyConfig, HierarchyNetwork, Learnable
from hal9.learn.data import DataSplit, batches
from hal9.learn.encoding import current_encode, latency_encode, rate_encode

__all__ = [
    "ENCODINGS",
    "OPTIMIZERS",
    "EpochRecord",
    "HierarchyClassifier",
    "TrainConfig",
    "TrainResult",
    "detach_state",
    "encode",
    "evaluate",
    "fit",
    "load_checkpoint",
    "save_checkpoint",
    "train_epoch",
]

#: How features in [0, 1] become L1 input: a constant current, Bernoulli spikes, or one spike each.
Encoding = Literal["current", "rate", "latency"]
ENCODINGS: tuple[str, ...] = get_args(Encoding)
Optimizer = Literal["adam", "sgd"]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)


class TrainConfig(FrozenConfig):
    """How a :class:`HierarchyClassifier` is trained (flattens into MLflow params)."""

    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(5e-3, gt=0.0, allow_inf_nan=False)
    optimizer: Optimizer = "adam"
    clip_norm: float | None = Field(1.0, gt=0.0, allow_inf_nan=False)
    steps: int = Field(20, ge=1, description="simulation steps T per sample")
    encoding: Encoding = "current"
    gain: float = Field(3.0, gt=0.0, allow_inf_nan=False, description="input scale (current) or rate gain")
    tbptt: int | None = Field(None, ge=1, description="truncated BPTT window in steps (None: whole sequence)")
    seed: int = 0


def encode(x: Tensor, config: TrainConfig, generator: torch.Generator | None) -> Tensor:
    """``(batch, n)`` features in [0, 1] → ``(T, batch, n)`` L1 input by ``config.encoding``."""
    if config.encoding == "current":
        return current_encode(x, config.steps, gain=config.gain)
    if config.encoding == "rate":
        if generator is None:
            raise ValueError("encoding='rate' draws spikes: pass a generator")
        return rate_encode(x, config.steps, gain=config.gain, generator=generator)
    return latency_encode(x, config.steps)


class HierarchyClassifier(nn.Module):
    """A hierarchy (:class:`~hal9.core.HierarchyNetwork`, any neuron model) read out linearly.

    ``logits = A · mean_t a_k(t) + c``: the mean activity (rate, or spike count / T) of layer
    ``readout_layer`` over the ``T`` steps, through a dense ``(n_classes, n_k)`` readout.

    Shape
    -----
    * Input: ``(T, batch, n_1)``
    * Output: ``(batch, n_classes)`` logits
    """

    def __init__(
        self,
        config: HierarchyConfig,
        neuron: BaseModel,
        n_classes: int,
        *,
        readout_layer: int = -1,
        learnable: tuple[Learnable, ...] = (),
        seed: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        self.hierarchy = HierarchyNetwork(
            config, neuron, learnable=learnable, seed=seed, device=device, dtype=dtype
        )
        k = readout_layer % len(self.hierarchy.sizes)
        if not -len(self.hierarchy.sizes) <= readout_layer < len(self.hierarchy.sizes):
            raise ValueError(
                f"readout_layer must index one of {len(self.hierarchy.sizes)} layers, got {readout_layer}"
            )
        self.readout_layer = k
        gen = torch.Generator().manual_seed(0 if seed is None else seed + 1)
        w = self.hierarchy.bias
        # no default init (it would draw from torch's global generator): the same law, seeded below
        self.readout = nn.utils.skip_init(
            nn.Linear, self.hierarchy.sizes[k], n_classes, device=w.device, dtype=w.dtype
        )
        with torch.no_grad():  # U(−1/√n, 1/√n) weights as nn.Linear's default, from an explicit generator
            bound = 1.0 / self.hierarchy.sizes[k] ** 0.5
            # drawn on the CPU (the generator's device) and copied: the same weights on every device
            shape = self.readout.weight.shape
            self.readout.weight.copy_(
                torch.empty(shape, dtype=w.dtype).uniform_(-bound, bound, generator=gen)
            )
            self.readout.bias.zero_()

    def forward(self, inputs: Tensor, state: Any = None) -> Tensor:
        out = self.hierarchy(inputs, state, record=[self.readout_layer], propagation="dense")
        return self.readout(out.recordings[self.readout_layer].mean(0))  # type: ignore[no-any-return]

    def windows(self, inputs: Tensor, window: int) -> Iterator[tuple[Tensor, Any]]:
        """Truncated BPTT: for each window of ``window`` steps, ``(summed activity of the readout layer
        over the window (batch, n_k), final state)`` with the state detached at the window's start."""
        state = None
        for t0 in range(0, inputs.shape[0], window):
            out = self.hierarchy(
                inputs[t0 : t0 + window],
                detach_state(state),
                record=[self.readout_layer],
                propagation="dense",
            )
            state = out.final_state
            yield out.recordings[self.readout_layer].sum(0), state


def detach_state(state: Any) -> Any:
    """A model state (a NamedTuple of tensors) with every tensor detached (``None`` stays ``None``)."""
    if state is None:
        return None
    return type(state)(*(t.detach() for t in state))


def _optimizer(params: list[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr)
    return torch.optim.SGD(params, lr=config.lr, momentum=0.9)


def _check_data(model: HierarchyClassifier, x: Tensor, y: Tensor) -> None:
    n1 = model.hierarchy.sizes[0]
    if x.ndim != 2 or x.shape[1] != n1:
        raise ValueError(f"x must be (samples, {n1}) (the size of L1), got {tuple(x.shape)}")
    if y.shape != (x.shape[0],) or y.dtype != torch.int64:
        raise ValueError(f"y must be ({x.shape[0]},) int64 labels, got {tuple(y.shape)} {y.dtype}")
    n_classes = model.readout.out_features
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"y must hold labels in 0..{n_classes - 1}")


def train_epoch(
    model: HierarchyClassifier,
    optimizer: torch.optim.Optimizer,
    x: Tensor,
    y: Tensor,
    config: TrainConfig,
    generator: torch.Generator,
    *,
    progress: bool = False,
) -> float:
    """One pass over ``(x, y)`` in seeded mini-batches; returns the mean cross-entropy (nats).

    Each batch: encode, run (whole sequence, or ``config.tbptt`` windows with an optimizer step each),
    ``clip_grad_norm_`` to ``config.clip_norm``, step.
    """
    _check_data(model, x, y)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    total, count = 0.0, 0
    it: Any = batches(x, y, config.batch_size, generator=generator)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, total=-(-x.shape[0] // config.batch_size), desc="batches", leave=False)
    for xb, yb in it:
        inputs = encode(xb, config, generator)
        if config.tbptt is None:
            losses = [nn.functional.cross_entropy(model(inputs), yb)]
            _step(losses[0], optimizer, params, config)
        else:
            summed, losses, steps = None, [], 0
            for window_sum, _ in model.windows(inputs, config.tbptt):
                steps += config.tbptt
                # the readout of the running mean so far; the earlier windows' sum is a constant
                summed = window_sum if summed is None else summed.detach() + window_sum
                loss = nn.functional.cross_entropy(model.readout(summed / min(steps, inputs.shape[0])), yb)
                _step(loss, optimizer, params, config)
                losses.append(loss)
        total += float(losses[-1].detach()) * xb.shape[0]
        count += xb.shape[0]
    return total / max(count, 1)


def _step(
    loss: Tensor, optimizer: torch.optim.Optimizer, params: list[nn.Parameter], config: TrainConfig
) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    if config.clip_norm is not None:
        nn.utils.clip_grad_norm_(params, config.clip_norm)
    optimizer.step()


@torch.no_grad()
def evaluate(
    model: HierarchyClassifier, x: Tensor, y: Tensor, config: TrainConfig, *, seed: int = 0
) -> tuple[float, float]:
    """``(accuracy, mean cross-entropy)`` on ``(x, y)``, in batches of ``config.batch_size``; stochastic
    encodings draw from a generator seeded with ``seed`` (the same result for the same model)."""
    _check_data(model, x, y)
    model.eval()
    gen = torch.Generator(device=x.device).manual_seed(seed)
    correct, loss, n = 0, 0.0, int(x.shape[0])
    for xb, yb in batches(x, y, config.batch_size, generator=None, shuffle=False):
        logits = model(encode(xb, config, gen))
        correct += int((logits.argmax(1) == yb).sum())
        loss += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
    return correct / max(n, 1), loss / max(n, 1)


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of :func:`fit`: mean training loss (nats), test accuracy and loss, wall seconds."""

    epoch: int
    train_loss: float
    test_accuracy: float
    test_loss: float
    seconds: float


@dataclass
class TrainResult:
    """What :func:`fit` returns: the per-epoch records and the final test accuracy."""

    history: list[EpochRecord] = field(default_factory=list)

    @property
    def test_accuracy(self) -> float:
        return self.history[-1].test_accuracy if self.history else float("nan")


def fit(
    model: HierarchyClassifier,
    data: DataSplit,
    config: TrainConfig,
    *,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    checkpoint: str | Path | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train ``model`` on ``data.x_train`` for ``config.epochs`` epochs, evaluating on the test split.

    The data order and stochastic encodings come from one generator seeded with ``config.seed``. With
    ``checkpoint``, the model, optimizer and generator are saved after every epoch, and a run started
    with an existing checkpoint resumes after its last epoch (the same next step, bitwise on CPU).
    ``on_epoch`` receives each :class:`EpochRecord` (e.g. to log it to MLflow).
    """
    _check_data(model, data.x_train, data.y_train)
    _check_data(model, data.x_test, data.y_test)
    optimizer = _optimizer([p for p in model.parameters() if p.requires_grad], config)
    generator = torch.Generator(device=data.x_train.device).manual_seed(config.seed)
    result, start = TrainResult(), 0
    if checkpoint is not None and Path(checkpoint).exists():
        start, history = load_checkpoint(checkpoint, model, optimizer, generator, config=config)
        result.history.extend(history[: config.epochs])
    epochs: Any = range(start, config.epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="epochs", initial=start, total=config.epochs)
    for epoch in epochs:
        t0 = time.perf_counter()
        loss = train_epoch(model, optimizer, data.x_train, data.y_train, config, generator)
        seconds = time.perf_counter() - t0
        acc, test_loss = evaluate(model, data.x_test, data.y_test, config, seed=config.seed)
        record = EpochRecord(epoch, loss, acc, test_loss, seconds)
        result.history.append(record)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, generator, epoch + 1, result.history, config=config)
        if on_epoch is not None:
            on_epoch(record)
    return result


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    epoch: int,
    history: Sequence[EpochRecord] = (),
    *,
    config: TrainConfig | None = None,
) -> None:
    """Save the model's and optimizer's ``state_dict``, the generator state, the epoch count, the
    records and the training config to ``path`` (written to a temporary file, then renamed: a crash
    leaves the old checkpoint)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "generator": generator.get_state(),
            "epoch": epoch,
            "history": [vars(h) for h in history],
            "config": None if config is None else config.model_dump(mode="json"),
        },
        tmp,
    )
    tmp.replace(path)


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    *,
    config: TrainConfig | None = None,
) -> tuple[int, list[EpochRecord]]:
    """Restore what :func:`save_checkpoint` wrote into ``model``, ``optimizer`` and ``generator`` (in
    place); returns ``(epochs done, their records)``.

    With ``config``, a checkpoint saved under a different training config (any field but ``epochs``)
    is refused with a ``ValueError`` naming the fields: resuming it would silently train on with the
    saved optimizer's settings.
    """
    try:
        state = torch.load(Path(path), weights_only=True)
    except Exception as exc:
        raise ValueError(f"checkpoint {str(path)!r} cannot be read ({type(exc).__name__}: {exc})") from exc
    saved = state.get("config")
    if config is not None and saved is not None:
        now = config.model_dump(mode="json")
        differ = sorted(k for k in now if k != "epochs" and now[k] != saved.get(k))
        if differ:
            raise ValueError(
                f"checkpoint {str(path)!r} was saved with another training config (differs in: "
                f"{', '.join(differ)}); use a new checkpoint path or the same config"
            )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    return int(state["epoch"]), [EpochRecord(**h) for h in state["history"]]
