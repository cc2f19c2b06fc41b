"""hal9's spiking digits classifier written in snnTorch's idiom, for the learning benchmark.

:class:`SnnTorchHierarchy` is the network of a :class:`~hal9.learn.HierarchyClassifier` with LIF neurons as
an snnTorch 1.0 user writes it: one recurrent population of ``N`` neurons (all layers) with one
``snntorch.Leaky``, a dense ``(N, N)`` weight (``nn.Linear``-style) multiplied by the fixed 0/1 mask of
hal9's CSR pattern, and the same linear readout of the mean spike count of the readout layer.

The models agree step by step. hal9 (:func:`hal9.core.neurons.lif.integrate_and_fire`, ``v_rest = 0``, no
refractoriness, reset to 0 detached from the graph) computes, at step ``t``,

* ``d(t) = W s(t−1) + I(t)`` (``I`` the input of L1, zero elsewhere),
* ``v(t) = v(t−1) + α (−v(t−1) + d(t) + b)`` with ``α = dt / τ_m``,
* ``s(t) = H(v(t) − θ)``; then ``v(t) ← v(t) − v(t)·sg(s(t))`` (reset to 0, ``sg`` = stop-gradient).

``snn.Leaky(beta=1 − α, reset_mechanism="zero")`` with its defaults ``reset_delay=True`` and a detached
reset computes ``reset = sg(H(u(t−1) − θ))``, ``u(t) = β (1 − reset) u(t−1) + x(t)`` and
``s(t) = H(u(t) − θ)``, where ``u`` is the membrane *before* the reset (the reset of step ``t−1`` is applied
at the start of step ``t``). With ``x(t) = α (W s(t−1) + b + I(t))`` this is hal9's update:
``(1 − α) v + α (d + b) = v + α (−v + d + b)``, and ``u(t−1) (1 − reset)`` is hal9's reset membrane. The
gradients match too: both reset multiplications are detached, so ``∂v/∂v_prev = (1 − α)(1 − s)`` in both,
and both surrogates are the fast sigmoid ``1 / (1 + k |v − θ|)²`` (Zenke & Ganguli 2018).

Two differences remain, both rounding-level: the update formulas round differently (``β u + α x`` vs
``((−v + d) + b) α + v``, and the dense matmul sums in another order than the CSR product), and
snnTorch's Heaviside is ``u > θ`` where hal9's is ``v ≥ θ`` (they differ only when ``v == θ`` exactly).
So spike trains are equal unless a membrane lands within a few ulps of the threshold; in float64 that has
not happened on the digits batches tested (``test_bench_learning.py``).

snnTorch's ``FastSigmoid`` returns float32 spikes whatever the membrane's dtype; :meth:`forward` casts them
to the model's dtype (exact for 0/1, and the gradient passes through the cast).

References
----------
Eshraghian, J. K. et al. (2023). Training spiking neural networks using lessons from deep learning.
*Proceedings of the IEEE* 111(9), 1016–1054 (snnTorch).
Zenke, F. & Ganguli, S. (2018). SuperSpike. *Neural Computation* 30(6), 1514–1541.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from hal9.core import LIFConfig
from hal9.learn import HierarchyClassifier, TrainConfig

__all__ = [
    "SnnTorchHierarchy",
    "snntorch_available",
    "snntorch_evaluate",
    "snntorch_model_from",
    "snntorch_train_epoch",
]


def snntorch_available() -> bool:
    """Whether ``snntorch`` (≥ 1.0) can be imported."""
    try:
        import snntorch
    except ImportError:
        return False
    return int(str(snntorch.__version__).split(".")[0]) >= 1


class SnnTorchHierarchy(nn.Module):
    """One recurrent ``snn.Leaky`` population with a masked dense weight and a linear readout.

    Parameters
    ----------
    mask : Tensor
        ``(N, N)`` 0/1 connectivity (row = postsynaptic neuron), hal9's CSR pattern.
    sizes : tuple of int
        Layer sizes (``Σ sizes = N``); the input drives the first ``sizes[0]`` neurons.
    readout_layer : int
        Index of the layer whose mean spike count over the ``T`` steps is read out.
    n_classes : int
        Outputs of the readout ``nn.Linear(sizes[readout_layer], n_classes)``.
    alpha : Tensor
        ``(N,)`` ``dt / τ_m`` per neuron; ``beta = 1 − alpha``.
    v_th : float
        Spike threshold ``θ``.
    slope : float
        Slope ``k`` of snnTorch's ``surrogate.fast_sigmoid``.
    device, dtype
        Where the parameters live and their floating dtype.

    Attributes
    ----------
    weight : nn.Parameter
        ``(N, N)`` dense weights; only the entries where ``mask`` is 1 act (their gradient elsewhere is 0).
    bias : nn.Parameter
        ``(N,)`` bias ``b`` (the drive is ``α (W s + b + I)``).
    rows, cols : Tensor
        ``(nnz,)`` positions of hal9's synapses in CSR order: ``weight[rows, cols]`` are hal9's
        ``weight_values``.

    Shape
    -----
    * Input: ``(T, batch, sizes[0])``
    * Output: ``(batch, n_classes)`` logits
    """

    rows: Tensor
    cols: Tensor
    mask: Tensor
    alpha: Tensor

    def __init__(
        self,
        mask: Tensor,
        sizes: tuple[int, ...],
        readout_layer: int,
        n_classes: int,
        alpha: Tensor,
        v_th: float,
        slope: float,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        import snntorch as snn
        from snntorch import surrogate

        super().__init__()
        n = sum(sizes)
        if mask.shape != (n, n):
            raise ValueError(f"mask must be (N, N) = ({n}, {n}) for sizes {sizes}, got {tuple(mask.shape)}")
        if alpha.shape != (n,):
            raise ValueError(f"alpha must be ({n},), got {tuple(alpha.shape)}")
        if not -len(sizes) <= readout_layer < len(sizes):
            raise ValueError(f"readout_layer must index one of {len(sizes)} layers, got {readout_layer}")
        k = readout_layer % len(sizes)
        self.sizes = tuple(sizes)
        self.top = slice(sum(sizes[:k]), sum(sizes[: k + 1]))
        mask = mask.to(device=device, dtype=dtype)
        rows, cols = torch.nonzero(mask, as_tuple=True)  # row-major: CSR order
        self.register_buffer("mask", mask)
        self.register_buffer("rows", rows)
        self.register_buffer("cols", cols)
        self.register_buffer("alpha", alpha.to(device=device, dtype=dtype))
        self.weight = nn.Parameter(torch.zeros((n, n), device=device, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(n, device=device, dtype=dtype))
        # beta and threshold as tensors of the model's dtype (snnTorch would round Python floats to float32)
        self.lif = snn.Leaky(
            beta=1.0 - self.alpha,
            threshold=torch.tensor(v_th, device=device, dtype=dtype),
            spike_grad=surrogate.fast_sigmoid(slope=slope),
            reset_mechanism="zero",
        )
        self.readout = nn.Linear(sizes[k], n_classes, device=device, dtype=dtype)

    def spikes(self, inputs: Tensor) -> Tensor:
        """``(T, batch, N)`` spikes (0/1, the model's dtype) of all neurons for ``(T, batch, n_1)`` input."""
        steps, batch, n1 = inputs.shape
        if n1 != self.sizes[0]:
            raise ValueError(f"inputs must be (T, batch, {self.sizes[0]}), got {tuple(inputs.shape)}")
        n = self.weight.shape[0]
        w = self.weight * self.mask  # once per sequence: the masked entries get a zero gradient
        x = F.pad(inputs, (0, n - n1))  # the input current of L1, zero elsewhere
        mem = self.lif.reset_mem()  # snnTorch keeps the last membrane; start every sequence at 0
        spk = inputs.new_zeros((batch, n))
        spk_rec = []
        for t in range(steps):
            cur = self.alpha * (F.linear(spk, w, self.bias) + x[t])
            spk, mem = self.lif(cur, mem)
            spk = spk.to(mem.dtype)  # FastSigmoid returns float32
            spk_rec.append(spk)
        return torch.stack(spk_rec)

    def forward(self, inputs: Tensor) -> Tensor:
        return self.readout(self.spikes(inputs)[:, :, self.top].mean(0))  # type: ignore[no-any-return]

    def synapse_values(self, dense: Tensor) -> Tensor:
        """``(nnz,)`` entries of an ``(N, N)`` tensor at hal9's synapses, in hal9's CSR order."""
        return dense[self.rows, self.cols]


def snntorch_model_from(model: HierarchyClassifier) -> SnnTorchHierarchy:
    """The snnTorch copy of a LIF :class:`~hal9.learn.HierarchyClassifier`: same weights, biases, time
    constants, threshold, surrogate and readout, on the same device and in the same dtype.

    Raises ``ValueError`` (naming the field) for what the snnTorch idiom above does not express:
    ``v_rest`` or ``v_reset`` ≠ 0, ``refractory`` > 0, a non-fast-sigmoid surrogate, an attached reset,
    learnable thresholds or time constants.
    """
    h = model.hierarchy
    cfg = h.neuron_config
    if not isinstance(cfg, LIFConfig):
        raise ValueError(f"neuron must be a LIFConfig, got {type(cfg).__name__}")
    checks = {
        "v_rest": cfg.v_rest == 0.0,
        "v_reset": cfg.v_reset == 0.0,
        "refractory": round(cfg.refractory / cfg.dt) == 0,
        "surrogate": cfg.surrogate == "fast_sigmoid",
        "detach_reset": cfg.detach_reset,
        "learnable": not h.learnable,
    }
    for field, ok in checks.items():
        if not ok:
            raise ValueError(
                f"{field}: the snnTorch copy needs v_rest = v_reset = 0, no refractoriness, "
                "the fast-sigmoid surrogate, a detached reset and no learnable neuron params"
            )
    w = h.weight_values.detach()
    n = sum(h.sizes)
    crow, col = h.crow_indices, h.col_indices
    rows = torch.repeat_interleave(torch.arange(n, device=crow.device), crow[1:] - crow[:-1])
    mask = torch.zeros((n, n), device=w.device, dtype=w.dtype)
    mask[rows, col] = 1.0
    if int(mask.sum()) != w.numel():
        raise ValueError("the CSR pattern has duplicate synapses; the dense copy cannot hold them")
    alpha = cfg.dt / h.time_constant.detach()  # hal9's lif_prepare: dt / tau_mem
    snn_model = SnnTorchHierarchy(
        mask,
        h.sizes,
        model.readout_layer,
        model.readout.out_features,
        alpha,
        cfg.v_th,
        cfg.surrogate_slope,
        device=w.device,
        dtype=w.dtype,
    )
    if not (torch.equal(snn_model.rows, rows) and torch.equal(snn_model.cols, col)):
        raise ValueError("CSR column indices must be sorted within each row")  # pragma: no cover
    with torch.no_grad():
        snn_model.weight[rows, col] = w
        snn_model.bias.copy_(h.bias)
        snn_model.readout.load_state_dict(model.readout.state_dict())
    return snn_model


def snntorch_train_epoch(
    model: SnnTorchHierarchy,
    optimizer: torch.optim.Optimizer,
    x: Tensor,
    y: Tensor,
    config: TrainConfig,
    generator: torch.Generator,
) -> float:
    """One epoch as an snnTorch user writes it; the mean cross-entropy (nats).

    The batch order is ``torch.randperm(n, generator=generator)`` in slices of ``config.batch_size`` (the
    order :func:`hal9.learn.train_epoch` draws from the same generator state), the input ``gain · x``
    repeated over ``config.steps`` steps (current encoding), Adam/SGD step after
    ``clip_grad_norm_(…, config.clip_norm)``. Only ``encoding="current"`` and whole-sequence BPTT.
    """
    if config.encoding != "current" or config.tbptt is not None:
        raise ValueError("encoding must be 'current' and tbptt None for the snnTorch loop")
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    order = torch.randperm(x.shape[0], generator=generator, device=generator.device).to(x.device)
    total = 0.0
    for start in range(0, x.shape[0], config.batch_size):
        idx = order[start : start + config.batch_size]
        xb, yb = x[idx], y[idx]
        inputs = (xb * config.gain).unsqueeze(0).expand(config.steps, -1, -1)
        loss = F.cross_entropy(model(inputs), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        if config.clip_norm is not None:
            nn.utils.clip_grad_norm_(params, config.clip_norm)
        optimizer.step()
        total += float(loss.detach()) * xb.shape[0]
    return total / max(x.shape[0], 1)


@torch.no_grad()
def snntorch_evaluate(model: SnnTorchHierarchy, x: Tensor, y: Tensor, config: TrainConfig) -> float:
    """Test accuracy of the snnTorch model (batches of ``config.batch_size`` in order)."""
    model.eval()
    correct = 0
    for start in range(0, x.shape[0], config.batch_size):
        xb, yb = x[start : start + config.batch_size], y[start : start + config.batch_size]
        logits = model((xb * config.gain).unsqueeze(0).expand(config.steps, -1, -1))
        correct += int((logits.argmax(1) == yb).sum())
    return correct / max(x.shape[0], 1)


def optimizer_for(params: Any, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer :func:`hal9.learn.fit` builds for ``config`` (Adam, or SGD with momentum 0.9)."""
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr)
    return torch.optim.SGD(params, lr=config.lr, momentum=0.9)
