"""Deprecated: the neuron models moved to :mod:`hal9.core.neurons` (one module per model).

Importing this module warns; its names are those of :mod:`hal9.core.neurons`, importable from
:mod:`hal9.core` as before. Note that ``rate_step`` and ``lif_step`` now return ``(activity, state)``.
Removed in hal9 0.2.0.
"""

from __future__ import annotations

import warnings

from hal9.core.deprecation import REMOVED_IN
from hal9.core.neurons import (
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

__all__ = [
    "ACTIVATIONS",
    "LIFParams",
    "LIFState",
    "RateParams",
    "RateState",
    "lif_params",
    "lif_step",
    "rate_params",
    "rate_step",
]

warnings.warn(
    f"hal9.core.dynamics is deprecated and will be removed in hal9 {REMOVED_IN}; import from hal9.core "
    "(the models live in hal9.core.neurons; their step functions now return (activity, state))",
    DeprecationWarning,
    stacklevel=2,
)
