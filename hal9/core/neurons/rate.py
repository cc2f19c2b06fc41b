"""Leaky rate neurons: ``τ_i dx_i/dt = −x_i + f(drive_i + b_i)``.

One module holds the model: :class:`RateConfig`, :class:`RateParams`, :class:`RateState`,
:func:`rate_params`, :func:`rate_init_state`, :func:`rate_step`,
and its :class:`NeuronModel` ``RATE`` (registered as ``"rate"`` by :mod:`hal9.core.neurons`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import torch
from pydantic import Field, field_validator
from torch import Tensor

from hal9.core.config import FrozenConfig, positive_times
from hal9.core.neurons._model import NeuronModel, neuron_major_zeros, per_neuron

__all__ = [
    "ACTIVATIONS",
    "RATE",
    "Activation",
    "RateConfig",
    "RateParams",
    "RateState",
    "rate_init_state",
    "rate_params",
    "rate_prepare",
    "rate_step",
]

#: Names of the transfer functions ``f`` (the keys of :data:`ACTIVATIONS`).
Activation = Literal["tanh", "relu", "sigmoid", "linear"]


def _linear(x: Tensor) -> Tensor:
    return x


#: Transfer functions ``f`` selectable by name in :class:`RateConfig`.
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "linear": _linear,
}

#: In-place forms of :data:`ACTIVATIONS` (same keys, same values bitwise), used by :func:`rate_step`
#: when no gradient is recorded.
_IN_PLACE: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh_,
    "relu": torch.relu_,
    "sigmoid": torch.sigmoid_,
    "linear": _linear,
}


class RateConfig(FrozenConfig):
    """Leaky rate neurons ``τ_i dx_i/dt = −x_i + f(Σ_j W_ij x_j + b_i + I_i)``.

    ``tau`` is one value or one value per layer (same time unit as ``dt``, e.g. ms).
    """

    tau: float | tuple[float, ...] = 10.0
    bias: float = Field(0.0, allow_inf_nan=False)
    activation: Activation = "tanh"
    dt: float = Field(1.0, gt=0.0, allow_inf_nan=False)

    @field_validator("tau")
    @classmethod
    def _positive_tau(cls, v: float | tuple[float, ...]) -> float | tuple[float, ...]:
        return positive_times(v, "tau")


class RateParams(NamedTuple):
    """Parameters of leaky rate neurons.

    Shape
    -----
    ``tau``, ``bias``: ``(neurons,)``; ``tau`` in the time unit of ``dt``. ``alpha``: ``dt / tau``,
    ``(neurons,)``, filled by :func:`rate_prepare` (``None``: the step computes it).
    """

    tau: Tensor
    bias: Tensor
    activation: str
    dt: float
    alpha: Tensor | None = None


class RateState(NamedTuple):
    """Rates ``x``: ``(batch, neurons)``."""

    x: Tensor


def rate_params(
    config: RateConfig,
    sizes: tuple[int, ...],
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> RateParams:
    """Per-neuron :class:`RateParams` for layers of the given ``sizes`` from a :class:`RateConfig`."""
    tau = per_neuron(config.tau, sizes, "tau", device, dtype)
    bias = torch.full((sum(sizes),), config.bias, device=tau.device, dtype=dtype)
    return RateParams(tau, bias, config.activation, float(config.dt))


def rate_init_state(
    params: RateParams, n_neurons: int, batch: int, *, device: torch.device, dtype: torch.dtype
) -> RateState:
    """Rates 0, ``(batch, N)``, neuron-major."""
    return RateState(neuron_major_zeros(n_neurons, batch, device=device, dtype=dtype))


def rate_step(state: RateState, drive: Tensor, params: RateParams) -> tuple[Tensor, RateState]:
    """One Euler step of ``τ_i dx_i/dt = −x_i + f(drive_i + b_i)``.

    ``x ← x + (dt/τ) · (−x + f(drive + b))``.

    Shape
    -----
    ``state.x``, ``drive``: ``(batch, neurons)``. Returns ``(x, RateState(x))``: the new rates are the
    activity.
    """
    alpha = params.dt / params.tau if params.alpha is None else params.alpha
    x = state.x
    u = drive + params.bias
    if u.requires_grad or x.requires_grad or alpha.requires_grad:
        x = x + alpha * (ACTIVATIONS[params.activation](u) - x)
    else:  # the same arithmetic in place on one fresh buffer (no temporaries per step)
        x = _IN_PLACE[params.activation](u).sub_(x).mul_(alpha).add_(x)
    return x, RateState(x)


def rate_prepare(params: RateParams) -> RateParams:
    """``params`` with ``alpha = dt / tau`` computed once (the same values the step would compute)."""
    return params._replace(alpha=params.dt / params.tau)


def _activity(state: RateState) -> Tensor:
    return state.x


RATE = NeuronModel(
    name="rate",
    config_type=RateConfig,
    params_type=RateParams,
    state_type=RateState,
    make_params=rate_params,
    init_state=rate_init_state,
    step=rate_step,
    activity=_activity,
    neuron_fields=("tau", "bias"),
    time_constant="tau",
    prepare=rate_prepare,
)
