"""hal9 — hierarchical neuron layers (L1..L9) as tensors.

``import hal9`` is light: it imports torch, numpy and pydantic only. MLflow (``hal9.tracking``),
matplotlib (``hal9.viz``) and the CLI are imported when first used.
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__: str = _metadata.version("hal9-research")
except _metadata.PackageNotFoundError:  # pragma: no cover - only when run from a source tree without install
    __version__ = "0+unknown"

from hal9.core import (
    LAYER_NAMES,
    ALIFConfig,
    ConnectivityConfig,
    HierarchyConfig,
    HierarchyNetwork,
    LIFConfig,
    LIFParams,
    LIFState,
    Network,
    RateConfig,
    RateParams,
    RateState,
    RunResult,
    adjacency_violation,
    build_network,
    designed_sizes,
    lif_step,
    rate_step,
    run,
)

__all__ = [
    "LAYER_NAMES",
    "ALIFConfig",
    "ConnectivityConfig",
    "HierarchyConfig",
    "HierarchyNetwork",
    "LIFConfig",
    "LIFParams",
    "LIFState",
    "Network",
    "RateConfig",
    "RateParams",
    "RateState",
    "RunResult",
    "__version__",
    "adjacency_violation",
    "build_network",
    "designed_sizes",
    "lif_step",
    "rate_step",
    "run",
]
