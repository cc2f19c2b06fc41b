"""Surrogate gradients of the spike threshold: an exact Heaviside forward, a smooth backward.

A spike is ``s = H(v − θ)`` (1 when ``v ≥ θ``), whose derivative is zero almost everywhere. Training
with backpropagation through time replaces ``∂s/∂v`` in the backward pass by the derivative of a smooth
stand-in ``σ'(v − θ)`` while the forward pass stays the exact threshold (Neftci, Mostafa & Zenke
2019). Two stand-ins, each with a slope ``k`` (its sharpness, per unit of ``v``):

* ``"fast_sigmoid"`` — SuperSpike (Zenke & Ganguli 2018): ``σ'(x) = 1 / (1 + k|x|)²``, peak 1 at
  ``x = 0`` (snnTorch's ``fast_sigmoid`` and Norse's ``superspike`` use the same form; snnTorch's
  default slope is 25).
* ``"arctan"`` — ``σ(x) = ½ + arctan(π k x / 2) / π``, so ``σ'(x) = (k/2) / (1 + (π k x / 2)²)``,
  peak ``k/2`` (Fang et al. 2021; snnTorch's ``atan`` with ``alpha = k``, default 2).

References
----------
Zenke, F. & Ganguli, S. (2018). SuperSpike: supervised learning in multilayer spiking neural networks.
*Neural Computation* 30(6), 1514–1541.
Neftci, E. O., Mostafa, H. & Zenke, F. (2019). Surrogate gradient learning in spiking neural networks.
*IEEE Signal Processing Magazine* 36(6), 51–63.
Fang, W. et al. (2021). Incorporating learnable membrane time constant to enhance learning of spiking
neural networks. *ICCV*, 2661–2671.
"""

from __future__ import annotations

import math
from typing import Any, Literal, get_args

import torch
from torch import Tensor

__all__ = ["SURROGATES", "Surrogate", "spike", "surrogate_derivative"]

#: The smooth stand-ins for ``∂H(x)/∂x`` in the backward pass.
Surrogate = Literal["fast_sigmoid", "arctan"]
SURROGATES: tuple[str, ...] = get_args(Surrogate)


def surrogate_derivative(x: Tensor, surrogate: Surrogate = "fast_sigmoid", slope: float = 25.0) -> Tensor:
    """``σ'(x)``, the derivative the backward pass uses for ``∂H(x)/∂x`` (``x = v − θ``)."""
    if surrogate == "fast_sigmoid":
        return 1.0 / (1.0 + slope * x.abs()) ** 2
    if surrogate == "arctan":
        return (slope / 2.0) / (1.0 + (math.pi * slope / 2.0 * x) ** 2)
    raise ValueError(f"surrogate must be one of {', '.join(map(repr, SURROGATES))}, got {surrogate!r}")


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, surrogate: str, slope: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate, ctx.slope = surrogate, slope
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (x,) = ctx.saved_tensors
        return grad * surrogate_derivative(x, ctx.surrogate, ctx.slope), None, None


def spike(x: Tensor, surrogate: Surrogate = "fast_sigmoid", slope: float = 25.0) -> Tensor:
    """``H(x)`` (1.0 where ``x ≥ 0``, else 0.0, in ``x``'s dtype) with the surrogate derivative
    ``σ'(x)`` of :func:`surrogate_derivative` in the backward pass.

    Shape: any; the result has ``x``'s shape.
    """
    if surrogate not in SURROGATES:
        raise ValueError(f"surrogate must be one of {', '.join(map(repr, SURROGATES))}, got {surrogate!r}")
    if not slope > 0 or not math.isfinite(slope):
        raise ValueError(f"slope must be positive and finite, got {slope!r}")
    return _Spike.apply(x, surrogate, float(slope))  # type: ignore[no-any-return]
