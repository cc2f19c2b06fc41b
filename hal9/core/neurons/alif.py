"""Adaptive leaky integrate-and-fire neurons (ALIF): LIF with a spike-triggered adaptive threshold.

The membrane follows :mod:`.lif`; the threshold of neuron ``i`` is ``A_i = v_th + β a_i`` where the
adaptation variable jumps by 1 at each spike and decays with ``τ_a``:

``a_i ← ρ_i a_i + s_i``,  ``ρ_i = exp(−dt / τ_a,i)``

(the ALIF neuron of Bellec et al. 2020, Methods, "Adaptive LIF neurons"; with ``β = 0`` it is exactly
the LIF neuron). One module holds the model: :class:`ALIFConfig`, :class:`ALIFParams`, :class:`ALIFState`,
:func:`alif_params`, :func:`alif_init_state`, :func:`alif_step`,
and its :class:`NeuronModel` ``ALIF`` (registered as ``"alif"`` by :mod:`hal9.core.neurons`).

References
----------
Bellec, G., Scherr, F., Subramoney, A., Hajek, E., Salaj, D., Legenstein, R. & Maass, W. (2020).
A solution to the learning dilemma for recurrent networks of spiking neurons. *Nat. Commun.* 11, 3625.
Bellec, G., Salaj, D., Subramoney, A., Legenstein, R. & Maass, W. (2018). Long short-term memory and
learning-to-learn in networks of spiking neurons. *NeurIPS* 31.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from pydantic import Field, field_validator
from torch import Tensor

from hal9.core.config import positive_times
from hal9.core.neurons._model import NeuronModel, neuron_major_zeros, per_neuron
from hal9.core.neurons.lif import LIFConfig, check_spiking_state, integrate_and_fire
from hal9.core.neurons.surrogate import Surrogate

__all__ = [
    "ALIF",
    "ALIFConfig",
    "ALIFParams",
    "ALIFState",
    "alif_init_state",
    "alif_params",
    "alif_prepare",
    "alif_step",
]


class ALIFConfig(LIFConfig):
    """Adaptive LIF neurons: the :class:`~hal9.core.LIFConfig` fields plus the threshold adaptation.

    ``tau_adapt`` (one value or one per layer, time unit of ``dt``) is the decay time of the adaptation
    variable; ``beta`` (≥ 0, in units of ``v``) is how much one recent spike raises the threshold.
    """

    tau_adapt: float | tuple[float, ...] = 200.0
    beta: float = Field(0.1, ge=0.0, allow_inf_nan=False)

    @field_validator("tau_adapt")
    @classmethod
    def _positive_tau_adapt(cls, v: float | tuple[float, ...]) -> float | tuple[float, ...]:
        return positive_times(v, "tau_adapt")


class ALIFParams(NamedTuple):
    """Parameters of adaptive LIF neurons.

    Shape
    -----
    ``tau_mem``, ``bias``, ``tau_adapt``: ``(neurons,)``.
    ``refractory_steps`` = ``round(refractory / dt)``.
    """

    tau_mem: Tensor
    bias: Tensor
    tau_adapt: Tensor
    v_rest: float
    v_reset: float
    v_th: float | Tensor
    beta: float
    refractory_steps: int
    dt: float
    alpha: Tensor | None = None
    decay: Tensor | None = None
    surrogate: Surrogate = "fast_sigmoid"
    slope: float = 25.0
    detach_reset: bool = True


class ALIFState(NamedTuple):
    """ALIF state, each ``(batch, neurons)``: membrane ``v``, remaining refractory steps, last spikes
    (0/1) and the threshold adaptation ``adaptation`` (``a``; the threshold is ``v_th + β a``)."""

    v: Tensor
    refractory: Tensor
    spikes: Tensor
    adaptation: Tensor


def alif_params(
    config: ALIFConfig,
    sizes: tuple[int, ...],
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> ALIFParams:
    """Per-neuron :class:`ALIFParams` for layers of the given ``sizes`` from an :class:`ALIFConfig`."""
    tau = per_neuron(config.tau_mem, sizes, "tau_mem", device, dtype)
    tau_adapt = per_neuron(config.tau_adapt, sizes, "tau_adapt", device, dtype)
    bias = torch.full((sum(sizes),), config.bias, device=tau.device, dtype=dtype)
    steps = round(config.refractory / config.dt)
    return ALIFParams(
        tau,
        bias,
        tau_adapt,
        config.v_rest,
        config.v_reset,
        config.v_th,
        config.beta,
        steps,
        float(config.dt),
        None,
        None,
        config.surrogate,
        config.surrogate_slope,
        config.detach_reset,
    )


def alif_init_state(
    params: ALIFParams, n_neurons: int, batch: int, *, device: torch.device, dtype: torch.dtype
) -> ALIFState:
    """Membrane at ``v_rest``, no refractoriness, no spikes, no adaptation; ``(batch, N)``, neuron-major."""
    zeros = neuron_major_zeros(n_neurons, batch, device=device, dtype=dtype)
    return ALIFState(zeros + params.v_rest, zeros.clone(), zeros.clone(), zeros.clone())


def alif_step(state: ALIFState, drive: Tensor, params: ALIFParams) -> tuple[Tensor, ALIFState]:
    """One step of adaptive LIF neurons.

    ``A = v_th + β a`` (from the adaptation before the step); the membrane is updated as in
    :func:`~hal9.core.lif_step` and spikes where ``v ≥ A``; then ``a ← exp(−dt/τ_a) · a + s``.

    Shape
    -----
    all state tensors and ``drive``: ``(batch, neurons)``. Returns ``(spikes, state)``.
    """
    threshold = params.v_th + params.beta * state.adaptation
    v, refractory, spikes = integrate_and_fire(state.v, state.refractory, drive, params, threshold)
    decay = torch.exp(-params.dt / params.tau_adapt) if params.decay is None else params.decay
    adaptation = (decay * state.adaptation).add_(spikes)
    return spikes, ALIFState(v, refractory, spikes, adaptation)


def alif_prepare(params: ALIFParams) -> ALIFParams:
    """``params`` with ``alpha = dt / tau_mem`` and ``decay = exp(−dt / tau_adapt)`` computed once."""
    return params._replace(alpha=params.dt / params.tau_mem, decay=torch.exp(-params.dt / params.tau_adapt))


def _activity(state: ALIFState) -> Tensor:
    return state.spikes


ALIF = NeuronModel(
    name="alif",
    config_type=ALIFConfig,
    params_type=ALIFParams,
    state_type=ALIFState,
    make_params=alif_params,
    init_state=alif_init_state,
    step=alif_step,
    activity=_activity,
    neuron_fields=("tau_mem", "bias", "tau_adapt"),
    time_constant="tau_mem",
    prepare=alif_prepare,
    spiking=True,
    check_state=check_spiking_state,
    threshold="v_th",
)
