"""Neuron dynamics as pure step functions on ``(batch, neurons)`` tensors.

Each model has an immutable params container, an immutable state container and a ``*_step``
function ``(state, drive, params) -> state``. ``drive`` is the synaptic plus external input
``Σ_j W_ij a_j + I_i`` that :func:`hal9.core.run` computes; the step adds the bias and integrates one
forward-Euler step of length ``params.dt``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from hal9.core.config import LIFConfig, RateConfig

__all__ = [
    "ACTIVATIONS",
    "LIFParams",
    "LIFState",
    "RateParams",
    "RateState",
    "lif_params",
    "lif_step",
    "rate_params",
    "rate_step",
]


def _linear(x: Tensor) -> Tensor:
    return x


#: Transfer functions ``f`` selectable by name in :class:`~hal9.core.config.RateConfig`.
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "linear": _linear,
}


class RateParams(NamedTuple):
    """Parameters of leaky rate neurons.

    Shape:
        ``tau``, ``bias``: ``(neurons,)``; ``tau`` in the time unit of ``dt``.
    """

    tau: Tensor
    bias: Tensor
    activation: str
    dt: float


class RateState(NamedTuple):
    """Rates ``x``: ``(batch, neurons)``."""

    x: Tensor


class LIFParams(NamedTuple):
    """Parameters of leaky integrate-and-fire neurons.

    Shape:
        ``tau_mem``, ``bias``: ``(neurons,)``. ``refractory_steps`` = ``round(refractory / dt)``.
    """

    tau_mem: Tensor
    bias: Tensor
    v_rest: float
    v_reset: float
    v_th: float
    refractory_steps: int
    dt: float


class LIFState(NamedTuple):
    """LIF state, each ``(batch, neurons)``: membrane ``v``, remaining refractory steps, last spikes (0/1)."""

    v: Tensor
    refractory: Tensor
    spikes: Tensor


def rate_step(state: RateState, drive: Tensor, params: RateParams) -> RateState:
    """One Euler step of ``τ_i dx_i/dt = −x_i + f(drive_i + b_i)``.

    ``x ← x + (dt/τ) · (−x + f(drive + b))``.

    Shape:
        ``state.x``, ``drive``: ``(batch, neurons)``. Returns a new state of the same shape.
    """
    f = ACTIVATIONS[params.activation]
    x = state.x
    return RateState(x + (params.dt / params.tau) * (f(drive + params.bias) - x))


def lif_step(state: LIFState, drive: Tensor, params: LIFParams) -> LIFState:
    """One Euler step of leaky integrate-and-fire neurons.

    For a neuron that is not refractory: ``v ← v + (dt/τ_m)(−(v − v_rest) + drive + b)``; if then
    ``v ≥ v_th`` it spikes, ``v ← v_reset`` and it stays clamped at ``v_reset`` for the next
    ``refractory_steps`` steps (during which its input is ignored).

    Shape:
        all state tensors and ``drive``: ``(batch, neurons)``.
    """
    active = state.refractory <= 0
    v_int = state.v + (params.dt / params.tau_mem) * (params.v_rest - state.v + drive + params.bias)
    v = torch.where(active, v_int, torch.full_like(v_int, params.v_reset))
    spikes = active & (v >= params.v_th)
    v = torch.where(spikes, torch.full_like(v, params.v_reset), v)
    refractory = torch.where(
        spikes,
        torch.full_like(state.refractory, params.refractory_steps),
        (state.refractory - 1).clamp_min(0),
    )
    return LIFState(v, refractory, spikes.to(v.dtype))


def _per_neuron(
    value: float | tuple[float, ...],
    sizes: tuple[int, ...],
    field: str,
    device: torch.device,
    dtype: torch.dtype,
) -> Tensor:
    vals = value if isinstance(value, tuple) else (value,) * len(sizes)
    if len(vals) != len(sizes):
        raise ValueError(f"{field} has {len(vals)} per-layer values but the network has {len(sizes)} layers")
    per_layer = torch.tensor(vals, device=device, dtype=dtype)
    return per_layer.repeat_interleave(torch.tensor(sizes, device=device))


def rate_params(
    config: RateConfig,
    sizes: tuple[int, ...],
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> RateParams:
    """Per-neuron :class:`RateParams` for layers of the given ``sizes`` from a :class:`RateConfig`."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    tau = _per_neuron(config.tau, sizes, "tau", dev, dtype)
    bias = torch.full((sum(sizes),), config.bias, device=dev, dtype=dtype)
    return RateParams(tau, bias, config.activation, float(config.dt))


def lif_params(
    config: LIFConfig,
    sizes: tuple[int, ...],
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> LIFParams:
    """Per-neuron :class:`LIFParams` for layers of the given ``sizes`` from a :class:`LIFConfig`."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    tau = _per_neuron(config.tau_mem, sizes, "tau_mem", dev, dtype)
    bias = torch.full((sum(sizes),), config.bias, device=dev, dtype=dtype)
    steps = round(config.refractory / config.dt)
    return LIFParams(tau, bias, config.v_rest, config.v_reset, config.v_th, steps, float(config.dt))
