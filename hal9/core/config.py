"""Pydantic configuration models for hierarchies and connectivity, and their shared base.

Neuron-model configs live with their model in :mod:`hal9.core.neurons`.

Configs are validated at the boundary and flatten into MLflow params (``hal9.tracking.flatten_config``).
"""

from __future__ import annotations

import math
import sys
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hal9.core.layers import MAX_LAYERS, designed_sizes

__all__ = [
    "MIN_NORMAL",
    "ConnectivityConfig",
    "FrozenConfig",
    "HierarchyConfig",
    "check_device",
    "positive_times",
    "resolve_device",
]

#: Smallest positive *normal* float64 (2.2250738585072014e-308). Fields that something divides by use
#: ``ge=MIN_NORMAL`` instead of ``gt=0``: ``gt=0`` lets subnormals such as 2.2e-311 through, and
#: ``1 / 2.2e-311`` overflows to ``inf`` (a served job once failed with ZeroDivisionError on one).
MIN_NORMAL: float = sys.float_info.min


def resolve_device(device: object, *, name: str = "device") -> torch.device:
    """The ``torch.device`` of ``device`` (``None``: CPU), refused in one line unless hal9 can use it.

    Accepts ``None``, a string or a ``torch.device`` of type ``cpu``, or ``cuda``/``cuda:i`` when that CUDA
    device exists. Raises ``ValueError`` naming ``name``: the same message for every entry point
    (``build_network``, the params builders, configs, every CLI subcommand).
    """
    if device is None:
        return torch.device("cpu")
    if not isinstance(device, str | torch.device):
        raise ValueError(f"{name} must be 'cpu' or 'cuda[:i]', got {device!r}")
    try:
        dev = torch.device(device)
    except RuntimeError:
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise ValueError(f"{name} must be 'cpu' or 'cuda[:i]', got {str(device)!r}")
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{name} {str(device)!r} requested but no CUDA device is available")
        if dev.index is not None and dev.index >= count:
            raise ValueError(
                f"{name} {str(device)!r} requested but only {count} CUDA device(s) are available "
                f"(cuda:0..cuda:{count - 1})"
            )
    return dev


def check_device(v: str) -> str:
    """Validate a device string for a config field (see :func:`resolve_device`); returns ``v`` unchanged.

    Raises ``ValueError``, which pydantic reports under the field's name.
    """
    resolve_device(v)
    return v


class FrozenConfig(BaseModel):
    """Base of hal9's configs: immutable (hashable, safe to share) and unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def positive_times(v: float | tuple[float, ...], field: str) -> float | tuple[float, ...]:
    """Validate a time constant given once or per layer: every value finite and > 0."""
    vals = v if isinstance(v, tuple) else (v,)
    if any(not math.isfinite(t) or t <= 0 for t in vals):
        raise ValueError(f"{field} must be finite and > 0, got {v}")
    return v


class ConnectivityConfig(FrozenConfig):
    """Sparse connectivity of a hierarchy: fan-in per neuron for each allowed projection.

    Only projections within a layer (``k → k``) and between adjacent layers (``k−1 → k`` bottom-up,
    ``k+1 → k`` top-down feedback) exist: the ±1 rule. Each target neuron draws its presynaptic
    partners uniformly at random *without replacement* from the source layer.

    Weights are drawn i.i.d. per synapse and scaled by ``gain / sqrt(F_i)`` where ``F_i`` is the
    total fan-in of the target neuron (``init="normal"``: N(0, 1); ``"uniform"``: U(−√3, √3), unit
    variance; ``"constant"``: 1).
    """

    within: bool = True
    bottom_up: bool = True
    feedback: bool = False
    fan_in_within: int = Field(16, ge=0, description="presynaptic partners per neuron inside its own layer")
    fan_in_up: int = Field(16, ge=0, description="partners per neuron in the layer below (bottom-up)")
    fan_in_down: int = Field(8, ge=0, description="partners per neuron in the layer above (top-down)")
    fan_in_policy: Literal["error", "clip"] = Field(
        "error", description="'error': fan-in larger than a source layer raises; 'clip': use the source size"
    )
    init: Literal["normal", "uniform", "constant"] = "normal"
    gain: float = Field(1.0, allow_inf_nan=False)


class HierarchyConfig(FrozenConfig):
    """A hierarchy of ``n_layers`` layers L1..LK.

    Give either ``base_size`` (designed sizes ``n_k = max(1, round(n_1 / r^(k-1)))``) or explicit
    ``sizes`` (one positive integer per layer).
    """

    n_layers: int = Field(MAX_LAYERS, ge=1, le=MAX_LAYERS)
    base_size: int | None = Field(None, gt=0)
    ratio: float = Field(math.e, gt=1.0, allow_inf_nan=False)
    sizes: tuple[int, ...] | None = None
    connectivity: ConnectivityConfig = ConnectivityConfig()

    @field_validator("sizes")
    @classmethod
    def _positive_sizes(cls, v: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if v is not None and any(s <= 0 for s in v):
            raise ValueError(f"sizes must all be positive integers, got {v}")
        return v

    @model_validator(mode="after")
    def _one_size_source(self) -> HierarchyConfig:
        if (self.base_size is None) == (self.sizes is None):
            raise ValueError("give exactly one of base_size or sizes")
        if self.sizes is not None and len(self.sizes) != self.n_layers:
            raise ValueError(f"sizes has {len(self.sizes)} entries but n_layers={self.n_layers}")
        return self

    def layer_sizes(self) -> tuple[int, ...]:
        """The resolved layer sizes ``(n_1, ..., n_K)``."""
        if self.sizes is not None:
            return tuple(self.sizes)
        assert self.base_size is not None
        return designed_sizes(self.base_size, self.n_layers, self.ratio)


def __getattr__(name: str) -> object:
    # The neuron configs moved to hal9.core.neurons; the old import path works until hal9 0.2.0.
    if name in ("RateConfig", "LIFConfig", "Activation"):
        from hal9.core import neurons
        from hal9.core.deprecation import warn_renamed

        warn_renamed(f"hal9.core.config.{name}", f"hal9.core.{name}")
        return getattr(neurons, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
