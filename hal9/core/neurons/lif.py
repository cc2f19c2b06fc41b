"""Leaky integrate-and-fire neurons with an absolute refractory period.

``τ_m dv/dt = −(v − v_rest) + drive + b``; a spike when ``v ≥ v_th``, then ``v ← v_reset`` and the
neuron is clamped there for ``refractory`` time units. One module holds the model: :class:`LIFConfig`,
:class:`LIFParams`, :class:`LIFState`, :func:`lif_params`, :func:`lif_init_state`, :func:`lif_step`,
and its :class:`NeuronModel` ``LIF`` (registered as ``"lif"`` by :mod:`hal9.core.neurons`).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import torch
from pydantic import Field, field_validator, model_validator
from torch import Tensor

from hal9.core.config import FrozenConfig, positive_times
from hal9.core.neurons._model import NeuronModel, neuron_major_zeros, per_neuron
from hal9.core.neurons.surrogate import Surrogate, spike

__all__ = [
    "LIF",
    "LIFConfig",
    "LIFParams",
    "LIFState",
    "lif_init_state",
    "lif_params",
    "lif_prepare",
    "lif_step",
]


class LIFConfig(FrozenConfig):
    """Leaky integrate-and-fire neurons.

    ``τ_m dv/dt = −(v − v_rest) + Σ_j W_ij s_j + b + I``; a spike when ``v ≥ v_th``, then
    ``v ← v_reset`` and the neuron is clamped there for ``refractory`` time units.

    Training: the threshold's derivative in the backward pass is the ``surrogate`` (see
    :mod:`hal9.core.neurons.surrogate`) with slope ``surrogate_slope``; the forward pass is the exact
    threshold. ``detach_reset`` (default) keeps the reset out of the gradient (Zenke & Vogels 2021).
    """

    tau_mem: float | tuple[float, ...] = 20.0
    v_rest: float = Field(0.0, allow_inf_nan=False)
    v_reset: float = Field(0.0, allow_inf_nan=False)
    v_th: float = Field(1.0, allow_inf_nan=False)
    refractory: float = Field(2.0, ge=0.0, allow_inf_nan=False)
    bias: float = Field(0.0, allow_inf_nan=False)
    dt: float = Field(1.0, gt=0.0, allow_inf_nan=False)
    surrogate: Surrogate = "fast_sigmoid"
    surrogate_slope: float = Field(25.0, gt=0.0, allow_inf_nan=False)
    detach_reset: bool = True

    @field_validator("tau_mem")
    @classmethod
    def _positive_tau(cls, v: float | tuple[float, ...]) -> float | tuple[float, ...]:
        return positive_times(v, "tau_mem")

    @model_validator(mode="after")
    def _threshold_above_reset(self) -> LIFConfig:
        if self.v_th <= self.v_reset:
            raise ValueError(f"v_th ({self.v_th}) must be greater than v_reset ({self.v_reset})")
        return self


class LIFParams(NamedTuple):
    """Parameters of leaky integrate-and-fire neurons.

    Shape
    -----
    ``tau_mem``, ``bias``: ``(neurons,)``; ``v_th`` a float or a ``(neurons,)`` tensor (a learnable
    threshold). ``refractory_steps`` = ``round(refractory / dt)``. ``surrogate``, ``slope``,
    ``detach_reset``: the backward pass of the threshold (see :class:`LIFConfig`).
    """

    tau_mem: Tensor
    bias: Tensor
    v_rest: float
    v_reset: float
    v_th: float | Tensor
    refractory_steps: int
    dt: float
    alpha: Tensor | None = None
    surrogate: Surrogate = "fast_sigmoid"
    slope: float = 25.0
    detach_reset: bool = True


class LIFState(NamedTuple):
    """LIF state, each ``(batch, neurons)``: membrane ``v``, remaining refractory steps, last spikes (0/1)."""

    v: Tensor
    refractory: Tensor
    spikes: Tensor


def lif_params(
    config: LIFConfig,
    sizes: tuple[int, ...],
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> LIFParams:
    """Per-neuron :class:`LIFParams` for layers of the given ``sizes`` from a :class:`LIFConfig`."""
    tau = per_neuron(config.tau_mem, sizes, "tau_mem", device, dtype)
    bias = torch.full((sum(sizes),), config.bias, device=tau.device, dtype=dtype)
    steps = round(config.refractory / config.dt)
    return LIFParams(
        tau,
        bias,
        config.v_rest,
        config.v_reset,
        config.v_th,
        steps,
        float(config.dt),
        None,
        config.surrogate,
        config.surrogate_slope,
        config.detach_reset,
    )


def lif_init_state(
    params: LIFParams, n_neurons: int, batch: int, *, device: torch.device, dtype: torch.dtype
) -> LIFState:
    """Membrane at ``v_rest``, no refractoriness, no spikes; ``(batch, N)`` tensors, neuron-major."""
    zeros = neuron_major_zeros(n_neurons, batch, device=device, dtype=dtype)
    return LIFState(zeros + params.v_rest, zeros.clone(), zeros.clone())


class MembraneParams(Protocol):
    """What :func:`integrate_and_fire` reads from a params container (LIF and ALIF params have it)."""

    @property
    def tau_mem(self) -> Tensor: ...
    @property
    def bias(self) -> Tensor: ...
    @property
    def v_rest(self) -> float: ...
    @property
    def v_reset(self) -> float: ...
    @property
    def refractory_steps(self) -> int: ...
    @property
    def dt(self) -> float: ...
    @property
    def alpha(self) -> Tensor | None: ...
    @property
    def surrogate(self) -> Surrogate: ...
    @property
    def slope(self) -> float: ...
    @property
    def detach_reset(self) -> bool: ...


def integrate_and_fire(
    state_v: Tensor,
    state_refractory: Tensor,
    drive: Tensor,
    params: MembraneParams,
    threshold: float | Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """The LIF membrane update against ``threshold``; returns ``(v, refractory, spikes)``, spikes as
    0/1 in ``v``'s dtype.

    For a neuron that is not refractory: ``v ← v + (dt/τ_m)(−(v − v_rest) + drive + b)``; it spikes if
    then ``v ≥ threshold``, is reset to ``v_reset`` and stays clamped there ``refractory_steps`` steps
    (its input ignored). Shared by :func:`lif_step` and the adaptive model (:mod:`.alif`).

    Implementation: element-wise float arithmetic only, in place on fresh buffers (~12 kernels; torch's
    CPU kernels for boolean masks — ``where``, ``masked_fill``, comparisons into ``bool`` — cost 4–10×
    a float add at 100k neurons). Masks are 0/1 floats and the selections ``x − x·m + c·m`` are exact
    for finite ``x`` (``x − 0 + 0 = x``, ``x − x + c = c``), so the results equal the branch-wise
    definition above bitwise (tested against it). A membrane driven to ±inf is first clamped to the
    dtype's finite range (``+inf`` then spikes and resets as defined; ``−inf`` stays at ``−max``).
    Refractory counters must be whole numbers ≥ 0 and spikes 0 or 1 (:func:`hal9.core.run` checks a
    state it is given).
    """
    alpha = params.dt / params.tau_mem if params.alpha is None else params.alpha
    if torch.is_grad_enabled() and any(
        isinstance(t, Tensor) and t.requires_grad for t in (state_v, drive, params.bias, alpha, threshold)
    ):
        return _integrate_and_fire_surrogate(state_v, state_refractory, drive, params, threshold, alpha)
    # v_int = v + α (v_rest − v + drive + b), the additions in the order written (the first addition
    # out of place, so a state broadcasts over the drive's batch as it did with the plain expression)
    v = torch.rsub(state_v, params.v_rest).add(drive).add_(params.bias).mul_(alpha).add_(state_v)
    spikes = torch.empty_like(v)
    torch.ge(v, threshold, out=spikes)
    if params.refractory_steps > 0 or bool(state_refractory.any()):
        blocked = state_refractory.clamp(0.0, 1.0)  # refractory counts are whole numbers ≥ 0
        spikes.addcmul_(spikes, blocked, value=-1.0)  # s − s·m = s·(1 − m): a clamped neuron does not spike
        reset = spikes + blocked  # clamped or just spiked: v ← v_reset (disjoint 0/1 masks)
        # max(r − 1, 0), then the new refractory period of the neurons that spiked
        refractory = torch.add(state_refractory - blocked, spikes, alpha=params.refractory_steps)
    else:  # no refractoriness and none pending: the (zero) counters stay as they are
        same = state_refractory.shape == v.shape
        refractory = state_refractory if same else state_refractory.expand_as(v).clone()
        reset = spikes
    # ±inf (an overflowing drive) to the largest finite values, so that v − v·m stays exact: finite
    # values are unchanged, and a neuron driven to +inf spikes and is reset as the definition says
    finite = torch.finfo(v.dtype).max
    v.clamp_(-finite, finite).addcmul_(v, reset, value=-1.0)  # v − v·m: v where m = 0, 0 where m = 1
    if params.v_reset != 0.0:
        v.add_(reset, alpha=params.v_reset)
    return v, refractory, spikes


def _integrate_and_fire_surrogate(
    state_v: Tensor,
    state_refractory: Tensor,
    drive: Tensor,
    params: MembraneParams,
    threshold: float | Tensor,
    alpha: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`integrate_and_fire` recorded for autograd: the same operations out of place (the same
    values bitwise, tested), with the spike's derivative taken from the params' surrogate."""
    v = torch.rsub(state_v, params.v_rest).add(drive).add(params.bias).mul(alpha).add(state_v)
    # H(v − θ) equals (v ≥ θ) for floats: v − θ is 0 only when v = θ (gradual underflow)
    spikes = spike(v - threshold, params.surrogate, params.slope)
    if params.refractory_steps > 0 or bool(state_refractory.any()):
        blocked = state_refractory.detach().clamp(0.0, 1.0)
        spikes = torch.addcmul(spikes, spikes, blocked, value=-1.0)
        fired = spikes.detach()
        reset = (fired if params.detach_reset else spikes) + blocked
        refractory = torch.add(state_refractory.detach() - blocked, fired, alpha=params.refractory_steps)
    else:
        same = state_refractory.shape == v.shape
        refractory = state_refractory if same else state_refractory.expand_as(v).clone()
        reset = spikes.detach() if params.detach_reset else spikes
    finite = torch.finfo(v.dtype).max
    v = v.clamp(-finite, finite)
    v = torch.addcmul(v, v, reset, value=-1.0)
    if params.v_reset != 0.0:
        v = v.add(reset, alpha=params.v_reset)
    return v, refractory, spikes


def lif_step(state: LIFState, drive: Tensor, params: LIFParams) -> tuple[Tensor, LIFState]:
    """One Euler step of leaky integrate-and-fire neurons.

    For a neuron that is not refractory: ``v ← v + (dt/τ_m)(−(v − v_rest) + drive + b)``; if then
    ``v ≥ v_th`` it spikes, ``v ← v_reset`` and it stays clamped at ``v_reset`` for the next
    ``refractory_steps`` steps (during which its input is ignored).

    Shape
    -----
    all state tensors and ``drive``: ``(batch, neurons)``. Returns ``(spikes, state)``; ``spikes``
    (0/1 in the state's dtype) is the activity.
    """
    v, refractory, spikes = integrate_and_fire(state.v, state.refractory, drive, params, params.v_th)
    return spikes, LIFState(v, refractory, spikes)


def lif_prepare(params: LIFParams) -> LIFParams:
    """``params`` with ``alpha = dt / tau_mem`` computed once (the same values the step would compute)."""
    return params._replace(alpha=params.dt / params.tau_mem)


def check_spiking_state(state: LIFState) -> None:
    """Refuse a LIF-family state :func:`integrate_and_fire` is not defined for: ``spikes`` other than
    0/1 or ``refractory`` counters that are not whole numbers ≥ 0 (``ValueError`` naming the field)."""
    s = state.spikes
    if not bool(((s == 0) | (s == 1)).all()) or bool(torch.signbit(s).any()):
        raise ValueError("state.spikes must hold only 0 and 1 (not -0.0)")
    r = state.refractory
    if not bool(((r >= 0) & (r == torch.round(r))).all()):
        raise ValueError("state.refractory must hold whole numbers >= 0 (refractory steps left)")


def _activity(state: LIFState) -> Tensor:
    return state.spikes


LIF = NeuronModel(
    name="lif",
    config_type=LIFConfig,
    params_type=LIFParams,
    state_type=LIFState,
    make_params=lif_params,
    init_state=lif_init_state,
    step=lif_step,
    activity=_activity,
    neuron_fields=("tau_mem", "bias"),
    time_constant="tau_mem",
    prepare=lif_prepare,
    spiking=True,
    check_state=check_spiking_state,
    threshold="v_th",
)
