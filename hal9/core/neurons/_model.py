"""The neuron-model protocol and its registry.

A neuron model is one module under :mod:`hal9.core.neurons` holding its config (pydantic), params and
state (immutable ``NamedTuple`` containers of tensors), a ``params`` builder, an ``init_state`` and a
pure ``step(state, drive, params) -> (activity, state)``, registered once with
:func:`register_neuron_model`. :func:`hal9.core.run` and :class:`hal9.core.HierarchyNetwork` drive any
registered model without knowing its type (the Norse pattern: one time loop, any model).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import BaseModel
from torch import Tensor

from hal9.core.config import resolve_device

__all__ = [
    "NeuronModel",
    "neuron_major_zeros",
    "neuron_model",
    "neuron_model_names",
    "per_neuron",
    "register_neuron_model",
    "registered_neuron_model",
    "unregister_neuron_model",
]

#: ``step(state, drive, params) -> (activity, new_state)``; ``drive`` and ``activity`` are ``(batch, N)``.
StepFn = Callable[[Any, Tensor, Any], tuple[Tensor, Any]]


@dataclass(frozen=True)
class NeuronModel:
    """One neuron model: what :func:`hal9.core.run` needs to drive it.

    Attributes
    ----------
    name : str
        Registry key (``"rate"``, ``"lif"``, ``"alif"``).
    config_type : type[BaseModel]
        Its pydantic config; :func:`neuron_model` finds the model of a config by exact type.
    params_type, state_type : type[NamedTuple]
        Its params and state containers. Every params container has ``bias`` (``(N,)``) and ``dt``
        (float, the time unit of the config's time constants).
    make_params : callable
        ``make_params(config, sizes, *, device, dtype) -> params`` with per-neuron ``(N,)`` tensors.
    init_state : callable
        ``init_state(params, n_neurons, batch, *, device, dtype) -> state`` of ``(batch, N)`` tensors,
        allocated neuron-major (``t.T`` contiguous) for the sparse product of :func:`hal9.core.run`.
    step : callable
        ``step(state, drive, params) -> (activity, state)``: one step of length ``params.dt``.
    activity : callable
        ``activity(state) -> (batch, N)`` tensor: what the state sends through the synapses (rates,
        or spikes 0/1). ``step`` returns ``activity(new_state)`` as its first element.
    neuron_fields : tuple of str
        Params fields that are ``(N,)`` tensors (checked against the network by ``run``).
    time_constant : str
        The params (and config) field of the model's main time constant, which
        :class:`hal9.core.HierarchyNetwork` keeps as its ``time_constant`` buffer.
    prepare : callable, optional
        ``prepare(params) -> params`` (same type), called once by :func:`hal9.core.run` before the time
        loop to precompute what every step would otherwise recompute (e.g. ``dt / τ``); the step's
        results must not change (bitwise).
    spiking : bool
        Whether the activity is spikes (every entry 0 or 1), so that :func:`hal9.core.run` may
        propagate it event by event (:func:`hal9.core.event_drive`) instead of with a dense product.
    check_state : callable, optional
        ``check_state(state)`` raises ``ValueError`` (naming the field) for values the step is not
        defined for; :func:`hal9.core.run` calls it on a state it is given.
    threshold : str, optional
        The params field of the spike threshold (a float, or a ``(N,)`` tensor when learned), which
        :class:`hal9.core.HierarchyNetwork` can make a parameter; ``None`` for models without one.
    """

    name: str
    config_type: type[BaseModel]
    params_type: type[tuple[Any, ...]]
    state_type: type[tuple[Any, ...]]
    make_params: Callable[..., Any]
    init_state: Callable[..., Any]
    step: StepFn
    activity: Callable[[Any], Tensor]
    neuron_fields: tuple[str, ...]
    time_constant: str
    prepare: Callable[[Any], Any] | None = None
    spiking: bool = False
    check_state: Callable[[Any], None] | None = None
    threshold: str | None = None


_MODELS: dict[str, NeuronModel] = {}
_BUILT_IN: set[str] = set()
_LOCK = threading.Lock()


def register_neuron_model(model: NeuronModel) -> NeuronModel:
    """Add ``model`` to the registry (its name, config, params and state types must be new).

    Returns ``model``, so a module can write ``LIF = register_neuron_model(NeuronModel(...))``.
    """
    if not isinstance(model, NeuronModel):
        raise ValueError(f"model must be a NeuronModel, got {type(model).__name__}")
    with _LOCK:
        if _MODELS.get(model.name) == model:  # the same model again (a module reloaded): nothing to do
            return model
        _check_new(model)
        _MODELS[model.name] = model
    return model


def _check_new(model: NeuronModel) -> None:
    for other in _MODELS.values():
        clash = [
            what
            for what, a, b in (
                ("name", model.name, other.name),
                ("config_type", model.config_type, other.config_type),
                ("params_type", model.params_type, other.params_type),
                ("state_type", model.state_type, other.state_type),
            )
            if a == b
        ]
        if clash:
            raise ValueError(
                f"neuron model {model.name!r}: {', '.join(clash)} already registered by {other.name!r}"
            )


def unregister_neuron_model(name: str) -> None:
    """Remove the model registered as ``name`` (``KeyError``-free: raises ``ValueError`` if absent)."""
    with _LOCK:
        if name in _BUILT_IN:
            raise ValueError(f"the built-in neuron model {name!r} cannot be unregistered")
        if name not in _MODELS:
            raise ValueError(f"no neuron model named {name!r}; registered: {', '.join(_MODELS)}")
        del _MODELS[name]


@contextmanager
def registered_neuron_model(model: NeuronModel) -> Iterator[NeuronModel]:
    """Register ``model`` for the duration of a ``with`` block (tests, experiments)."""
    register_neuron_model(model)
    try:
        yield model
    finally:
        with _LOCK:
            _MODELS.pop(model.name, None)


def mark_built_in(*names: str) -> None:
    """Protect the named models from :func:`unregister_neuron_model` (hal9's own models)."""
    _BUILT_IN.update(names)


def neuron_model_names() -> tuple[str, ...]:
    """Names of the registered models, in registration order (built-ins first)."""
    return tuple(_MODELS)


def neuron_model(key: object) -> NeuronModel:
    """The registered model of ``key``: a name, or a config, params or state instance of a model.

    Raises ``ValueError`` naming the registered models when nothing matches.
    """
    for model in tuple(_MODELS.values()):  # a snapshot: another thread may register meanwhile
        if isinstance(key, str):
            if key == model.name:
                return model
        elif type(key) in (model.config_type, model.params_type, model.state_type):
            return model
    names = ", ".join(tuple(_MODELS))
    what = repr(key) if isinstance(key, str) else type(key).__name__
    raise ValueError(f"not a registered neuron model (registered: {names}): {what}")


def per_neuron(
    value: float | tuple[float, ...],
    sizes: tuple[int, ...],
    field: str,
    device: torch.device | str | None,
    dtype: torch.dtype,
) -> Tensor:
    """Expand a value given once or once per layer to a ``(N,)`` tensor, ``N = sum(sizes)``.

    Raises ``ValueError`` naming ``field`` when a per-layer tuple does not have one value per layer.
    """
    vals = value if isinstance(value, tuple) else (value,) * len(sizes)
    if len(vals) != len(sizes):
        raise ValueError(f"{field} has {len(vals)} per-layer values but the network has {len(sizes)} layers")
    dev = resolve_device(device)
    per_layer = torch.tensor(vals, device=dev, dtype=dtype)
    return per_layer.repeat_interleave(torch.tensor(sizes, device=dev))


def neuron_major_zeros(n_neurons: int, batch: int, *, device: torch.device, dtype: torch.dtype) -> Tensor:
    """A ``(batch, N)`` zero tensor whose transpose is contiguous (the layout :func:`hal9.core.run` wants)."""
    return torch.zeros((n_neurons, batch), device=device, dtype=dtype).T
