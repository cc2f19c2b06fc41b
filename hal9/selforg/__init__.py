"""hal9.selforg — self-organization: undifferentiated neurons → compatibility graph → emergent hierarchy.

Primordial population (:func:`primordial_population`) → compatibility kernel (:func:`hal9_kernel`,
:func:`gaussian_kernel`) → discovery of each neuron's top-k partners (:func:`discover`, exact or
approximate) → emergent layers from the graph's community structure (:func:`emergent_layers`) → null
models (:func:`null_comparison`) → a runnable :class:`hal9.core.Network` restricted to ±1
(:func:`to_network`) → self-reorganization (:func:`remove_and_heal`) — all driven by
:class:`SelfOrganizer`, which reports on an :class:`EventLog`. :mod:`hal9.selforg.reference` reproduces
HAL9's reference benchmark work. Builds on :mod:`hal9.core` only.
"""

from hal9.selforg.discovery import discover, recall_at_k
from hal9.selforg.events import Event, EventKind, EventLog
from hal9.selforg.graph import KnnGraph
from hal9.selforg.growth import extend_graph
from hal9.selforg.kernels import (
    KERNELS,
    Kernel,
    KernelName,
    check_kernel_output,
    gaussian_kernel,
    hal9_kernel,
)
from hal9.selforg.layering import LayeringResult, emergent_layers, modularity
from hal9.selforg.nullmodel import NullComparison, degree_preserving_rewire, null_comparison, permute_features
from hal9.selforg.organizer import OrganizeConfig, SelfOrganizer, StabilityResult
from hal9.selforg.population import Population, primordial_population
from hal9.selforg.reference import (
    ReferenceResult,
    count_connected_pairs,
    count_connections,
    hal9_reference_run,
)
from hal9.selforg.reorganize import HealResult, adjusted_rand_index, remove_and_heal
from hal9.selforg.substrate import SubstrateConversion, to_network

__all__ = [
    "KERNELS",
    "Event",
    "EventKind",
    "EventLog",
    "HealResult",
    "Kernel",
    "KernelName",
    "KnnGraph",
    "LayeringResult",
    "NullComparison",
    "OrganizeConfig",
    "Population",
    "ReferenceResult",
    "SelfOrganizer",
    "StabilityResult",
    "SubstrateConversion",
    "adjusted_rand_index",
    "check_kernel_output",
    "count_connected_pairs",
    "count_connections",
    "degree_preserving_rewire",
    "discover",
    "emergent_layers",
    "extend_graph",
    "gaussian_kernel",
    "hal9_kernel",
    "hal9_reference_run",
    "modularity",
    "null_comparison",
    "permute_features",
    "primordial_population",
    "recall_at_k",
    "remove_and_heal",
    "to_network",
]
