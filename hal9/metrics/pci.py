"""Perturbational complexity index (PCI, Casali et al. 2013) of binary response matrices and networks.

PCI is the Lempel–Ziv complexity of the matrix of *significant* responses to a brief perturbation,
normalised by its asymptotic value for a random matrix with the same fraction of ones:

.. math:: \\mathrm{PCI} = \\frac{c(S)\\, \\log_2 N}{N\\, H(p)},
          \\qquad H(p) = -p \\log_2 p - (1-p) \\log_2 (1-p),\\qquad N = LT

for ``S`` with ``L`` sources and ``T`` time samples and ``p`` the fraction of ones. ``c`` is the LZ76
count of [1] that parses ``S`` column by column (time sample by time sample) with matches restricted to
single columns (:func:`hal9.metrics.lz.lempel_ziv_2d`), after the sources are sorted by their total
activity.

References
----------
.. [1] A. G. Casali et al., "A theoretically based index of consciousness independent of sensory
   processing and behavior", Sci. Transl. Med. 5:198ra105 (2013), and its Supplementary Materials.
.. [2] F. Kaspar, H. G. Schuster, Phys. Rev. A 36:842 (1987).
.. [3] L. Barbosa, ``noreun/pypci`` (Python port of the PCI code of [1]), ``pci.py`` and ``test.py``,
   commit ``85f69d20d588b8863cba3f6cde73b3ad4db1491a``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch import Tensor

from hal9.core import Network, run
from hal9.metrics.lz import lz76_column_counts, lz76_counts

__all__ = ["PCI_PARSES", "PCIParse", "PCIResult", "pci_of_network", "perturbational_complexity"]

#: How the binary matrix is parsed: ``"columns"`` is the published count of [1]; ``"string"`` is the plain
#: LZ76 count of the time-major concatenation (hal9's earlier PCI), *not* comparable with published PCI.
PCIParse = Literal["columns", "string"]
PCI_PARSES: tuple[str, ...] = get_args(PCIParse)


def _as_binary(binary: Tensor | np.ndarray, name: str) -> Tensor:
    t = binary if isinstance(binary, Tensor) else torch.as_tensor(np.asarray(binary))
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (sources, time) matrix, got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(t.shape)}")
    if t.dtype != torch.bool:
        if t.is_complex():
            raise ValueError(f"{name} must be binary (bool or 0/1 values), got dtype {t.dtype}")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or Inf")
        if not bool(((t == 0) | (t == 1)).all()):
            raise ValueError(f"{name} must be binary (bool or 0/1 values)")
    return t.to(torch.bool)


def perturbational_complexity(
    binary: Tensor | np.ndarray, *, sort_sources: bool = True, parse: PCIParse = "columns"
) -> float:
    """PCI of a binary matrix of significant sources ``S(x, t)`` [1].

    1. With ``sort_sources``, the rows are put in ascending order of their number of ones (a stable sort:
       ties keep their order), as in the published pipeline (see Notes).
    2. ``c`` is counted by :func:`hal9.metrics.lz.lempel_ziv_2d`: the columns (time samples) are parsed
       one after the other, each phrase being the longest factor already seen *inside one column* (the
       current one before the phrase, or any earlier one) plus one new symbol; phrases that copy up to
       the end of a column are not counted, and 1 is added at the end.
    3. ``PCI = c · log2(N) / (N · H(p))`` with ``N = LT`` the number of bits and ``H`` the binary entropy
       (bits) of the fraction of ones ``p``: the published normalisation (``pci_norm_factor`` of [3]),
       under which an i.i.d. random matrix gives about 1 for large ``N``.

    Parameters
    ----------
    binary : Tensor or numpy array
        ``(L, T)`` bool or 0/1 matrix: sources × time samples after the perturbation.
    sort_sources : bool
        Sort the rows by total activity first (default, as published). ``False`` parses the rows in
        the order given.
    parse : {"columns", "string"}
        ``"columns"`` (default): the published count above. ``"string"``: the LZ76 count
        (:func:`~hal9.metrics.lz.lempel_ziv`) of the time-major string ``S[:, 0], S[:, 1], …`` parsed
        as one sequence, which lets phrases cross columns. This was hal9's PCI before; it is **not
        comparable with published PCI values** (0.6–36 % more phrases on random matrices, the more the
        shorter the columns; see ``docs/metrics.md``).

    Returns
    -------
    float
        PCI ≥ 0 (dimensionless). ``0`` when the matrix is constant: all zeros (no significant response)
        or all ones (``H = 0``; the published formula divides by zero there).

    Raises
    ------
    ValueError
        If ``binary`` is not 2-D, is empty, or holds NaN/Inf or values other than 0 and 1, or if
        ``sort_sources`` is not a bool or ``parse`` is not one of ``PCI_PARSES``.

    Notes
    -----
    The column-restricted count reproduces the stored test values of the Python port [3] of Casali et
    al.'s code (``lz_columnwise = 16842``, ``lz_linewise = 7518``, PCI ``0.62826`` and ``0.28045`` on its
    5124 × 107 example), see ``tests/metrics/test_pci.py``. Ordering the sources by total activity before
    the count follows the published pipeline as its users reproduce it; the direction is not fixed by
    the paper: ascending here, as in the port's example matrix and in ``functions/UiO_pci.m`` of
    ``andresni/eeg_analysis_suite`` (descending in some other scripts). The sort changes ``c`` only
    through the order of the rows within each column. Cost ``O(N log N)``
    (:func:`hal9.metrics.lz.lz76_column_counts`).

    Examples
    --------
    Columns ``01 | 10 | 01``: phrases ``0``, ``1`` | ``10`` | (``01`` copies column 0 to its end), plus
    1: ``c = 4``; ``p = ½`` so ``PCI = 4 log2(6) / 6``.

    >>> round(perturbational_complexity([[0, 1, 0], [1, 0, 1]]), 6)
    1.723308
    """
    if not isinstance(sort_sources, bool):
        raise ValueError(f"sort_sources must be a bool, got {sort_sources!r}")
    if parse not in PCI_PARSES:
        raise ValueError(f"parse must be one of {PCI_PARSES}, got {parse!r}")
    s = _as_binary(binary, "binary")
    n_sources, n_time = s.shape
    length = n_sources * n_time
    ones = int(s.sum())
    if ones in (0, length):
        return 0.0
    p = ones / length
    entropy = -p * math.log2(p) - (1.0 - p) * math.log2(1.0 - p)
    if sort_sources:
        s = s[torch.argsort(s.sum(dim=1), stable=True)]
    if parse == "columns":
        count = int(lz76_column_counts(s.T.unsqueeze(0))[0])
    else:
        count = int(lz76_counts(s.T.reshape(1, -1))[0])
    return count * math.log2(length) / (length * entropy)


@dataclass(frozen=True)
class PCIResult:
    """What :func:`pci_of_network` returns.

    Attributes
    ----------
    value : float
        PCI of ``binary``: ``perturbational_complexity(binary)`` (published count and normalisation,
        sources sorted by total activity inside that call).
    binary : Tensor
        ``(sources, response_steps)`` bool matrix of significant responses, rows in the order of
        ``sources`` (not sorted).
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
    params: Any,
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
    source that does not respond are false positives. ``S`` then goes to
    :func:`perturbational_complexity` (Casali et al.'s column-restricted LZ count and normalisation).

    Parameters
    ----------
    network, params
        The network and the params of any registered neuron model (see :func:`hal9.core.run`).
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
