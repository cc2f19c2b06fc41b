"""hal9.core — the neuron substrate: layers, sparse ±1 connectivity and dynamics.

Depends on nothing else in hal9.
"""

from hal9.core.config import MIN_NORMAL, ConnectivityConfig, FrozenConfig, HierarchyConfig, check_device
from hal9.core.layers import LAYER_NAMES, MAX_LAYERS, designed_sizes, layer_name, sizes_for_total
from hal9.core.modules import HierarchyNetwork, LIFNetwork, RateNetwork
from hal9.core.network import Network, Projection, build_network, build_projection, csr_matrix
from hal9.core.neurons import (
    ACTIVATIONS,
    ALIFConfig,
    ALIFParams,
    ALIFState,
    LIFConfig,
    LIFParams,
    LIFState,
    NeuronModel,
    RateConfig,
    RateParams,
    RateState,
    alif_params,
    alif_step,
    lif_params,
    lif_step,
    neuron_model,
    neuron_model_names,
    rate_params,
    rate_step,
    register_neuron_model,
    registered_neuron_model,
    unregister_neuron_model,
)
from hal9.core.rules import adjacency_violation, check_adjacent
from hal9.core.runner import RunResult, initial_state, run, synaptic_drive
from hal9.core.sampling import make_generator

__all__ = [
    "ACTIVATIONS",
    "LAYER_NAMES",
    "MAX_LAYERS",
    "MIN_NORMAL",
    "ALIFConfig",
    "ALIFParams",
    "ALIFState",
    "ConnectivityConfig",
    "FrozenConfig",
    "HierarchyConfig",
    "HierarchyNetwork",
    "LIFConfig",
    "LIFNetwork",
    "LIFParams",
    "LIFState",
    "Network",
    "NeuronModel",
    "Projection",
    "RateConfig",
    "RateNetwork",
    "RateParams",
    "RateState",
    "RunResult",
    "adjacency_violation",
    "alif_params",
    "alif_step",
    "build_network",
    "build_projection",
    "check_adjacent",
    "check_device",
    "csr_matrix",
    "designed_sizes",
    "initial_state",
    "layer_name",
    "lif_params",
    "lif_step",
    "make_generator",
    "neuron_model",
    "neuron_model_names",
    "rate_params",
    "rate_step",
    "register_neuron_model",
    "registered_neuron_model",
    "run",
    "sizes_for_total",
    "synaptic_drive",
    "unregister_neuron_model",
]
