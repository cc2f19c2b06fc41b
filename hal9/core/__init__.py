"""hal9.core — the neuron substrate: layers, sparse ±1 connectivity and dynamics.

Depends on nothing else in hal9.
"""

from hal9.core.config import ConnectivityConfig, HierarchyConfig, LIFConfig, RateConfig
from hal9.core.dynamics import (
    ACTIVATIONS,
    LIFParams,
    LIFState,
    RateParams,
    RateState,
    lif_params,
    lif_step,
    rate_params,
    rate_step,
)
from hal9.core.layers import LAYER_NAMES, MAX_LAYERS, designed_sizes, layer_name, sizes_for_total
from hal9.core.modules import LIFNetwork, RateNetwork
from hal9.core.network import Network, Projection, build_network, build_projection
from hal9.core.rules import adjacency_violation, check_adjacent
from hal9.core.runner import RunResult, initial_state, run, synaptic_drive

__all__ = [
    "ACTIVATIONS",
    "LAYER_NAMES",
    "MAX_LAYERS",
    "ConnectivityConfig",
    "HierarchyConfig",
    "LIFConfig",
    "LIFNetwork",
    "LIFParams",
    "LIFState",
    "Network",
    "Projection",
    "RateConfig",
    "RateNetwork",
    "RateParams",
    "RateState",
    "RunResult",
    "adjacency_violation",
    "build_network",
    "build_projection",
    "check_adjacent",
    "designed_sizes",
    "initial_state",
    "layer_name",
    "lif_params",
    "lif_step",
    "rate_params",
    "rate_step",
    "run",
    "sizes_for_total",
    "synaptic_drive",
]
