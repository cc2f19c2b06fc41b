"""Neuron models, one module each, behind one protocol (:class:`NeuronModel`) and registry.

Built-in: ``"rate"`` (:mod:`.rate`), ``"lif"`` (:mod:`.lif`), ``"alif"`` (:mod:`.alif`). A new model is
one new module defining its config, params, state, ``init_state`` and
``step(state, drive, params) -> (activity, state)``, registered with :func:`register_neuron_model`;
:func:`hal9.core.run` and :class:`hal9.core.HierarchyNetwork` then drive it unchanged.
"""

from hal9.core.neurons._model import (
    NeuronModel,
    mark_built_in,
    neuron_model,
    neuron_model_names,
    per_neuron,
    register_neuron_model,
    registered_neuron_model,
    unregister_neuron_model,
)
from hal9.core.neurons.alif import (
    ALIF,
    ALIFConfig,
    ALIFParams,
    ALIFState,
    alif_init_state,
    alif_params,
    alif_step,
)
from hal9.core.neurons.lif import LIF, LIFConfig, LIFParams, LIFState, lif_init_state, lif_params, lif_step
from hal9.core.neurons.rate import (
    ACTIVATIONS,
    RATE,
    Activation,
    RateConfig,
    RateParams,
    RateState,
    rate_init_state,
    rate_params,
    rate_step,
)
from hal9.core.neurons.surrogate import SURROGATES, Surrogate, spike, surrogate_derivative

#: The built-in models, registered in this order (a new model: one module + one line here).
for _model in (RATE, LIF, ALIF):
    register_neuron_model(_model)
mark_built_in("rate", "lif", "alif")

__all__ = [
    "ACTIVATIONS",
    "ALIF",
    "LIF",
    "RATE",
    "SURROGATES",
    "ALIFConfig",
    "ALIFParams",
    "ALIFState",
    "Activation",
    "LIFConfig",
    "LIFParams",
    "LIFState",
    "NeuronModel",
    "RateConfig",
    "RateParams",
    "RateState",
    "Surrogate",
    "alif_init_state",
    "alif_params",
    "alif_step",
    "lif_init_state",
    "lif_params",
    "lif_step",
    "neuron_model",
    "neuron_model_names",
    "per_neuron",
    "rate_init_state",
    "rate_params",
    "rate_step",
    "register_neuron_model",
    "registered_neuron_model",
    "spike",
    "surrogate_derivative",
    "unregister_neuron_model",
]
