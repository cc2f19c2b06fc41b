"""Spike encoders: static inputs ``x`` of shape ``(batch, n)`` → input trains ``(T, batch, n)`` for L1.

The output of every encoder can be passed as ``inputs`` to :func:`hal9.core.run` (shape ``(T, batch, n_1)``
with ``n = n_1``). All encoders are pure functions of their arguments:

* :func:`rate_encode` — Bernoulli spikes, ``p = clamp(gain · x, 0, 1)`` per step;
* :func:`poisson_encode` — spikes of a Poisson process of rate ``rate_max · x`` sampled on a grid of
  step ``dt``: ``p = 1 − exp(−rate_max · x · dt)`` per step;
* :func:`latency_encode` — one spike per input, earlier for brighter inputs (time-to-first-spike code);
* :func:`current_encode` — the input repeated as a constant current.

Conventions
-----------
* ``x`` is a 2-D, finite, floating-point tensor. The spike encoders (rate, Poisson, latency) read it as an
  intensity and require ``0 ≤ x ≤ 1`` (see :mod:`hal9.learn.data` for scaled data sets); the current
  encoder takes any finite value.
* The output has ``x``'s dtype and device; spike trains hold exactly ``0`` and ``1``.
* Randomness is explicit: the stochastic encoders take a ``generator`` (a ``torch.Generator`` on ``x``'s
  device type) and never touch torch's global RNG. The same generator state gives bitwise the same spikes
  on the same device; each call advances the generator, so successive calls differ. Uniforms are drawn in
  float32 (float64 when ``x`` is float64) whatever ``x``'s dtype, so half-precision inputs are not
  quantised to 8–11-bit probabilities.
* Bad arguments raise ``ValueError`` naming the argument.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

__all__ = ["current_encode", "latency_encode", "poisson_encode", "rate_encode"]


# --------------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------------


def _check_x(x: object, *, unit_interval: bool) -> Tensor:
    """``x`` as a 2-D finite floating tensor (in ``[0, 1]`` when ``unit_interval``), else ``ValueError``."""
    if not isinstance(x, Tensor):
        raise ValueError(f"x must be a torch.Tensor of shape (batch, n), got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"x must be 2-D (batch, n), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"x must have a floating-point dtype, got {x.dtype}")
    if x.numel() == 0:
        return x
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x must be finite (no NaN or inf)")
    if unit_interval:
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"x must lie in [0, 1] (an intensity), got values in [{lo}, {hi}]")
    return x


def _check_steps(steps: object) -> int:
    """``steps`` as an ``int ≥ 1`` (``bool`` refused), else ``ValueError``."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return int(steps)


def _check_real(value: object, name: str, *, lo: float, lo_open: bool = False, hi: float = math.inf) -> float:
    """``value`` as a finite float in ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    bad_lo = v <= lo if lo_open else v < lo
    if not math.isfinite(v) or bad_lo or v > hi:
        left = "(" if lo_open else "["
        right = "]" if math.isfinite(hi) else ")"
        raise ValueError(f"{name} must be finite and in {left}{lo}, {hi}{right}, got {value!r}")
    return v


def _check_generator(generator: object, x: Tensor) -> torch.Generator:
    """``generator`` if it is a ``torch.Generator`` on ``x``'s device type, else ``ValueError``."""
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if generator.device.type != x.device.type:
        raise ValueError(f"generator is on {generator.device} but x is on {x.device}; use one on x's device")
    return generator


def _bernoulli(p: Tensor, steps: int, generator: torch.Generator, out_dtype: torch.dtype) -> Tensor:
    """``(steps, *p.shape)`` spikes ``u < p``, ``u ~ U[0, 1)`` i.i.d.; ``p`` in ``[0, 1]`` (draw dtype)."""
    u = torch.rand((steps, *p.shape), generator=generator, device=p.device, dtype=p.dtype)
    return (u < p).to(out_dtype)


def _draw_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


# --------------------------------------------------------------------------------------------------------
# Encoders
# --------------------------------------------------------------------------------------------------------


def rate_encode(x: Tensor, steps: int, *, gain: float = 1.0, generator: torch.Generator) -> Tensor:
    """Rate (Bernoulli) code: each input spikes at every step independently with ``p = clamp(gain·x, 0, 1)``.

    Parameters
    ----------
    x : Tensor
        ``(batch, n)`` intensities in ``[0, 1]``, floating point, finite.
    steps : int
        Number of time steps ``T ≥ 1``.
    gain : float
        Probability per step of an input at ``x = 1`` (before clamping), finite, ``≥ 0``; ``gain > 1``
        saturates all inputs ``x ≥ 1 / gain`` at one spike per step.
    generator : torch.Generator
        Source of randomness, on ``x``'s device type. Advanced by ``T · batch · n`` uniform draws.

    Returns
    -------
    Tensor
        ``(T, batch, n)`` spikes (0/1) in ``x``'s dtype and on its device. The number of spikes of input
        ``(b, i)`` over ``T`` steps is ``Binomial(T, p_bi)``: mean ``T p``, variance ``T p (1 − p)``.

    Notes
    -----
    Spike ``s[t, b, i] = 1[u[t, b, i] < p[b, i]]`` with ``u`` uniform on ``[0, 1)``, so ``p = 0`` never
    spikes and ``p = 1`` always spikes. Same as snnTorch's ``spikegen.rate`` (Eshraghian et al., *Training
    spiking neural networks using lessons from deep learning*, Proc. IEEE 111, 2023) without its offset.
    """
    x = _check_x(x, unit_interval=True)
    steps = _check_steps(steps)
    gain = _check_real(gain, "gain", lo=0.0)
    generator = _check_generator(generator, x)
    p = (x.to(_draw_dtype(x.dtype)) * gain).clamp_(0.0, 1.0)
    return _bernoulli(p, steps, generator, x.dtype)


def poisson_encode(
    x: Tensor, steps: int, *, rate_max: float, dt: float, generator: torch.Generator
) -> Tensor:
    """Poisson code: each input is a Poisson process of rate ``rate_max · x`` observed on steps of ``dt``.

    A step holds a spike when the process has at least one event in it:
    ``p = 1 − exp(−rate_max · x · dt)`` per step, independently across steps and inputs (at most one
    spike per step; the events a step would hold beyond the first are lost, which matters only when
    ``rate_max · dt`` is not small).

    Parameters
    ----------
    x : Tensor
        ``(batch, n)`` intensities in ``[0, 1]``, floating point, finite.
    steps : int
        Number of time steps ``T ≥ 1``, so the train covers ``T · dt`` time units.
    rate_max : float
        Rate of an input at ``x = 1``, in events per unit of time of ``dt`` (Hz when ``dt`` is in
        seconds, kHz when ``dt`` is in ms), finite, ``≥ 0``.
    dt : float
        Step length, in the time unit of ``1 / rate_max``, finite, ``> 0``. hal9's neuron models use
        one unit for ``dt`` and their time constants (e.g. ms); use the same ``dt`` here.
    generator : torch.Generator
        Source of randomness, on ``x``'s device type. Advanced by ``T · batch · n`` uniform draws.

    Returns
    -------
    Tensor
        ``(T, batch, n)`` spikes (0/1) in ``x``'s dtype and on its device; the spike count of an input
        over ``T`` steps is ``Binomial(T, 1 − exp(−rate_max · x · dt))``.

    Examples
    --------
    ``rate_max=100`` (Hz) and ``dt=1e-3`` (s): ``p = 1 − e^{−0.1} ≈ 0.0952`` per step at ``x = 1``.
    """
    x = _check_x(x, unit_interval=True)
    steps = _check_steps(steps)
    rate_max = _check_real(rate_max, "rate_max", lo=0.0)
    dt = _check_real(dt, "dt", lo=0.0, lo_open=True)
    generator = _check_generator(generator, x)
    lam = x.to(_draw_dtype(x.dtype)) * (rate_max * dt)  # expected events per step (dimensionless)
    p = (-torch.expm1(-lam)).clamp_(0.0, 1.0)
    return _bernoulli(p, steps, generator, x.dtype)


def latency_encode(
    x: Tensor, steps: int, *, tau: float = 5.0, threshold: float = 0.2, linear: bool = False
) -> Tensor:
    """Latency (time-to-first-spike) code: one spike per input, earlier for brighter inputs. Deterministic.

    Logarithmic code (``linear=False``, default): input ``x`` is the constant current of an RC circuit
    ``τ dv/dt = −v + x`` starting at ``v(0) = 0``, so ``v(t) = x (1 − e^{−t/τ})``; it spikes when ``v``
    reaches ``θ``, at

        ``t(x) = τ ln(x / (x − θ)) = −τ log1p(−θ / x)``   for ``x > θ``,

    (the formula of snnTorch's ``spikegen.latency``, Eshraghian et al., Proc. IEEE 111, 2023), from
    ``t(1) = τ ln(1 / (1 − θ))`` up to ``+∞`` as ``x → θ``. Linear code (``linear=True``):
    ``t(x) = τ (1 − x)`` for ``x > θ``, from ``0`` at ``x = 1`` to ``τ (1 − θ)``.

    Times are in steps. The spike falls on the nearest step, ties to the later one,
    ``k = ⌊t + 1/2⌋``, and is emitted only if ``k < T``: inputs with ``x ≤ θ`` never spike, nor do inputs
    whose ``k ≥ T`` (the window is too short; for the log code these are
    ``x ≤ θ / (1 − e^{−(T − 1/2)/τ})``). ``x > θ`` is compared in ``x``'s dtype (``θ`` rounded to it).
    Every other input spikes exactly once. ``t`` is decreasing in
    ``x``, so brighter inputs spike at the same step or earlier.

    Parameters
    ----------
    x : Tensor
        ``(batch, n)`` intensities in ``[0, 1]``, floating point, finite.
    steps : int
        Number of time steps ``T ≥ 1``.
    tau : float
        Time constant ``τ`` in steps, finite, ``> 0``. For the linear code ``τ = T − 1`` spreads
        ``x ∈ (θ, 1]`` over the whole window.
    threshold : float
        ``θ`` in ``[0, 1)``: the intensity below or at which an input never spikes.
    linear : bool
        Linear instead of logarithmic time code.

    Returns
    -------
    Tensor
        ``(T, batch, n)`` spikes (0/1) in ``x``'s dtype and on its device, at most one per input.

    Notes
    -----
    Times are computed in float64 (``log1p`` of a correctly rounded quotient, both monotone), so the
    order of the spike steps follows the order of the inputs exactly. Example (``τ = 5``, ``θ = 0.2``,
    log code): ``x = 1 → t = 1.12 → step 1``; ``x = 0.5 → t = 2.55 → step 3``; ``x = 0.25 → t = 8.05 →
    step 8``; ``x = 0.2 → no spike``.
    """
    x = _check_x(x, unit_interval=True)
    steps = _check_steps(steps)
    tau = _check_real(tau, "tau", lo=0.0, lo_open=True)
    threshold = _check_real(threshold, "threshold", lo=0.0, hi=math.nextafter(1.0, 0.0))
    if not isinstance(linear, bool):
        raise ValueError(f"linear must be a bool, got {linear!r}")
    # compared in x's dtype (θ rounded to it), so x = θ as the user wrote it never spikes; if x > θ there,
    # then x > θ in float64 too (θ is within half an ulp of its rounding), so the log below is finite
    above = x > threshold
    x64 = x.to(torch.float64)
    safe = torch.where(above, x64, torch.ones_like(x64))  # no division by 0 / log of 0 where masked
    t = tau * (1.0 - safe) if linear else -tau * torch.log1p(-threshold / safe)
    # clamp before the cast so huge times (x → θ, large τ) cannot overflow int64; k = T means "no spike"
    k = torch.floor((t + 0.5).clamp_(max=float(steps))).to(torch.int64)
    active = above & (k < steps)
    out = torch.zeros((steps, *x.shape), dtype=x.dtype, device=x.device)
    out.scatter_(0, k.clamp_(max=steps - 1).unsqueeze(0), active.to(x.dtype).unsqueeze(0))
    return out


def current_encode(x: Tensor, steps: int, *, gain: float = 1.0) -> Tensor:
    """Constant-current code: ``I[t, b, i] = gain · x[b, i]`` for every step ``t``. Deterministic.

    Parameters
    ----------
    x : Tensor
        ``(batch, n)`` currents, floating point, finite (any sign; in the drive units of the neuron
        model).
    steps : int
        Number of time steps ``T ≥ 1``.
    gain : float
        Scale of the current, finite (any sign).

    Returns
    -------
    Tensor
        ``(T, batch, n)`` contiguous tensor (a copy, not a view of ``x``) in ``x``'s dtype and on its
        device. With ``gain = 1`` every slice equals ``x`` exactly.
    """
    x = _check_x(x, unit_interval=False)
    steps = _check_steps(steps)
    gain = _check_real(gain, "gain", lo=-math.inf)
    out = x.unsqueeze(0).repeat(steps, 1, 1)
    if gain != 1.0:
        out.mul_(gain)
    return out
