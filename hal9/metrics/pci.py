"""Perturbational complexity index (PCI, Casali et al. 2013) of binary response matrices and networks.

PCI is the Lempel–Ziv complexity of the matrix of *significant* responses to a brief perturbation,
normalised by its asymptotic value for a random matrix with the same fraction of ones:

.. math:: \\mathrm{PCI} = \\frac{c_{LZ}(S)\\, \\log_2(LT)}{LT\\, H(p)},
          \\qquad H(p) = -p \\log_2 p - (1-p) \\log_2 (1-p)

for ``S`` with ``L`` sources and ``T`` time samples and ``p`` the fraction of ones.

References
----------
.. [1] A. G. Casali et al., "A theoretically based index of consciousness independent of sensory
   processing and behavior", Sci. Transl. Med. 5:198ra105 (2013), and its Supplementary Materials.
.. [2] F. Kaspar, H. G. Schuster, Phys. Rev. A 36:842 (1987).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from hal9.core import LIFParams, Network, RateParams, run
from hal9.metrics.lz import lz76_counts

__all__ = ["PCIResult", "pci_of_network", "perturbational_complexity"]


def _as_binary(binary: Tensor | np.ndarray, name: str) -> Tensor:
    t = binary if isinstance(binary, Tensor) else torch.as_tensor(np.asarray(binary))
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (sources, time) matrix, got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(t.shape)}")
    if t.dtype != torch.bool:
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or Inf")
        if not bool(((t == 0) | (t == 1)).all()):
            raise ValueError(f"{name} must be binary (bool or 0/1 values)")
    return t.to(torch.bool)


def perturbational_complexity(binary: Tensor | np.ndarray) -> float:
    """PCI of a binary matrix of significant sources ``S(x, t)``.

    The matrix is read column by column (time-major: all sources at ``t = 0``, then ``t = 1``, …), the
    LZ76 phrase count ``c`` of that string of ``LT`` bits is taken (Kaspar–Schuster parsing, see
    :func:`hal9.metrics.lz.lempel_ziv`) and normalised as
    ``PCI = c · log2(LT) / (LT · H(p))`` with ``H`` the binary source entropy of the fraction of ones
    ``p`` [1].

    Parameters
    ----------
    binary : Tensor or numpy array
        ``(L, T)`` bool or 0/1 matrix: sources × time samples after the perturbation.

    Returns
    -------
    float
        PCI ≥ 0; about 1 for an i.i.d. random matrix, small for a stereotyped (repetitive) one.
        ``0`` when the matrix is constant (all zeros: no significant response; all ones: ``H = 0``),
        and ``0`` for a single entry (``log2 1 = 0``).

    Raises
    ------
    ValueError
        If ``binary`` is not 2-D, is empty, contains NaN/Inf or values other than 0 and 1.

    Notes
    -----
    Casali et al.'s reference code (``lz_complexity_2D``) restricts the dictionary search so that no
    phrase straddles two columns; here the time-major concatenation is parsed as one 1-D LZ76 string,
    so counts can differ from that code by the few phrases that cross a column boundary. The
    normalisation is the one of [1]. Cost ``O(LT log(LT))``.
    """
    s = _as_binary(binary, "binary")
    n_sources, n_time = s.shape
    length = n_sources * n_time
    p = float(s.sum()) / length
    if p in (0.0, 1.0) or length == 1:
        return 0.0
    entropy = -p * math.log2(p) - (1.0 - p) * math.log2(1.0 - p)
    count = int(lz76_counts(s.T.reshape(1, -1))[0])
    return count * math.log2(length) / (length * entropy)


@dataclass(frozen=True)
class PCIResult:
    """What :func:`pci_of_network` returns.

    Attributes
    ----------
    value : float
        PCI of ``binary``.
    binary : Tensor
        ``(sources, response_steps)`` bool matrix of significant responses.
    sources : Tensor
        ``(sources,)`` int64 global neuron indices of the rows of ``binary``.
    threshold : Tensor
        ``(sources,)`` per-source significance threshold on ``|response − baseline mean|``.
    """

    value: float
    binary: Tensor
    sources: Tensor
    threshold: Tensor


def _check_int(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def pci_of_network(
    network: Network,
    params: RateParams | LIFParams,
    *,
    n_trials: int = 20,
    perturb_layer: int = 0,
    amplitude: float = 2.0,
    pulse_steps: int = 5,
    baseline_steps: int = 100,
    response_steps: int = 100,
    noise: float = 0.2,
    layers: Sequence[int] | None = None,
    max_sources: int = 256,
    alpha: float = 0.01,
    seed: int = 0,
) -> PCIResult:
    """PCI of a hal9 network's response to a brief pulse, in the manner of TMS-evoked PCI [1].

    ``n_trials`` runs (one batch) of ``baseline_steps + response_steps`` steps, driven by Gaussian
    noise of std ``noise`` into L1, receive a pulse of ``amplitude`` into every neuron of
    ``perturb_layer`` for ``pulse_steps`` steps starting right after the baseline. The activity of
    the recorded neurons is averaged over trials (the "evoked response" ``e_i(t)``) and binarised:

    .. math:: S_i(t) = \\big[\\, |e_i(t) - \\mu_i| > z_{1-\\alpha/2}\\, \\sigma_i \\,\\big]

    with ``μ_i``, ``σ_i`` the mean and standard deviation of ``e_i`` over the baseline window. This
    per-source parametric threshold replaces Casali et al.'s bootstrap over baseline samples (which
    controls the family-wise error over time); ``α`` is per entry, so about ``α`` of the entries of a
    source that does not respond are false positives.

    Parameters
    ----------
    network, params
        The network and neuron model (see :func:`hal9.core.run`).
    n_trials : int
        Trials averaged into the evoked response (the batch of one run).
    perturb_layer : int
        0-based layer receiving the pulse.
    amplitude, pulse_steps
        Pulse height (added to the input of every neuron of ``perturb_layer``) and duration.
    baseline_steps, response_steps
        Pre-perturbation window (for ``μ``, ``σ``; at least 2) and analysed window from pulse onset.
    noise : float
        Std of the ongoing Gaussian input into L1 (needed for a non-degenerate baseline).
    layers : sequence of int, optional
        Layers whose neurons are sources (default all).
    max_sources : int
        At most this many sources, drawn uniformly without replacement (seeded) when there are more.
    alpha : float
        Two-sided significance level per entry, in (0, 1).
    seed : int
        Seeds the noise and the source subsample (a ``torch.Generator`` on the network's device).

    Returns
    -------
    PCIResult

    Raises
    ------
    ValueError
        For an argument out of range (the message names it).

    Notes
    -----
    Cost: one :func:`~hal9.core.run` of ``baseline_steps + response_steps`` steps with batch
    ``n_trials``, plus ``O(LT log(LT))`` for the LZ count.
    """
    for name, value, minimum in (
        ("n_trials", n_trials, 1),
        ("pulse_steps", pulse_steps, 1),
        ("baseline_steps", baseline_steps, 2),
        ("response_steps", response_steps, 1),
        ("max_sources", max_sources, 1),
    ):
        _check_int(name, value, minimum)
    if not 0 <= perturb_layer < network.n_layers:
        raise ValueError(f"perturb_layer must be in 0..{network.n_layers - 1}, got {perturb_layer}")
    for name, x in (("amplitude", amplitude), ("noise", noise)):
        if not math.isfinite(x) or x < 0:
            raise ValueError(f"{name} must be finite and >= 0, got {x}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    chosen = tuple(range(network.n_layers)) if layers is None else tuple(dict.fromkeys(layers))
    if not chosen or any(not 0 <= k < network.n_layers for k in chosen):
        raise ValueError(f"layers must be non-empty layer indices in 0..{network.n_layers - 1}, got {layers}")

    dev, dtype = network.device, network.dtype
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed)
    steps = baseline_steps + response_steps
    inputs = noise * torch.randn((steps, n_trials, network.sizes[0]), generator=gen, device=dev, dtype=dtype)
    pulse = torch.zeros((steps, n_trials, network.sizes[perturb_layer]), device=dev, dtype=dtype)
    pulse[baseline_steps : baseline_steps + pulse_steps] = amplitude
    result = run(network, params, inputs, layer_inputs={perturb_layer: pulse}, record=chosen)

    evoked = torch.cat([result.recordings[k].mean(dim=1) for k in chosen], dim=1).to(torch.float64)
    offsets = network.offsets
    sources = torch.cat([torch.arange(offsets[k], offsets[k + 1], device=dev) for k in chosen])
    if sources.numel() > max_sources:
        keep = torch.randperm(sources.numel(), generator=gen, device=dev)[:max_sources].sort().values
        sources, evoked = sources[keep], evoked[:, keep]
    base = evoked[:baseline_steps]
    mu, sigma = base.mean(dim=0), base.std(dim=0)
    z = float(torch.special.ndtri(torch.tensor(1.0 - alpha / 2.0, dtype=torch.float64)))
    threshold = z * sigma
    binary = ((evoked[baseline_steps:] - mu).abs() > threshold).T.contiguous()
    return PCIResult(perturbational_complexity(binary), binary, sources, threshold)
