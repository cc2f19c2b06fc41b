"""hal9 — hierarchical neuron layers (L1..L9) as tensors.

``import hal9`` is light: it imports torch, numpy and pydantic only. MLflow (``hal9.tracking``),
matplotlib (``hal9.viz``) and the CLI are imported when first used.
"""

from __future__ import annotations

import os as _os
import sys as _sys
from importlib import metadata as _metadata

# The `hal9` command defaults OpenMP to passive waiting, before torch loads its OpenMP runtime (which
# reads the variable once): torch's default spin-wait makes a busy small CPU many times slower (the 100k
# demo: 27-32 s instead of 3.6-3.8 s on a loaded 2-core machine). A value the user set is kept, and
# `import hal9` from Python changes nothing.
_argv = getattr(_sys, "argv", None) or [""]
if "torch" not in _sys.modules and _os.path.splitext(_os.path.basename(_argv[0]))[0] == "hal9":
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    __version__: str = _metadata.version("hal9-research")
except _metadata.PackageNotFoundError:  # pragma: no cover - only when run from a source tree without install
    __version__ = "0+unknown"

from hal9.core import (  # noqa: E402 - after the OMP default above, which must precede torch
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
