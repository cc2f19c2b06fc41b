"""One typed report of a simulated hierarchy: the honest version of HAL9's dashboard.

Every field is a defined measurement of the recorded activity of a :class:`hal9.core.RunResult`:

* ``boundaries`` — per adjacent pair (L_k, L_{k+1}): width ratio, effective dimensionality, Gaussian
  MI, cross-validated reconstruction R², compression efficiency
  (:func:`~hal9.metrics.compression.compression_boundaries`);
* ``cka`` / ``alignment`` — linear CKA between every pair of layers and the mean over adjacent vs non-adjacent
  pairs (:mod:`hal9.metrics.similarity`; HAL9's "love coefficient" is the adjacent mean);
* ``lempel_ziv`` — per layer, the mean normalised LZ76 complexity of its neurons' activity binarised at each
  neuron's median (:func:`~hal9.metrics.lz.lempel_ziv`);
* ``phi`` — integrated information (default Φ_WMS at the minimum information bipartition) estimated from the
  activity of a small subset of neurons (:func:`~hal9.metrics.integration.integrated_information_from_data`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from hal9.core import RunResult
from hal9.metrics.compression import BoundaryReport, compression_boundaries
from hal9.metrics.integration import IntegrationResult, integrated_information_from_data
from hal9.metrics.lz import lempel_ziv
from hal9.metrics.similarity import AlignmentResult, adjacent_alignment, layer_cka_matrix

__all__ = ["MetricsReport", "binarize_median", "report", "select_phi_neurons"]


@dataclass(frozen=True)
class MetricsReport:
    """Measurements of one run (see the module docstring for each field's definition).

    Attributes
    ----------
    layers : tuple of int
        Recorded layers (0-based), in order.
    boundaries : list of BoundaryReport
        One per adjacent recorded pair.
    cka : Tensor
        ``(K_rec, K_rec)`` linear CKA between recorded layers.
    alignment : AlignmentResult
        Adjacent vs non-adjacent mean CKA.
    lempel_ziv : dict[int, float]
        Layer → mean normalised LZ76 over (at most ``lz_max_neurons``) neurons; NaN for a layer whose
        neurons are all constant.
    phi : IntegrationResult or None
        Integrated information of ``phi_neurons`` (None when not requested or too few samples).
    phi_neurons : tuple of int
        Global neuron indices used for ``phi``.
    samples : int
        Recorded time points used (batch element ``batch_index``).
    phi_error : str or None
        Why ``phi`` is None although it was requested (e.g. a singular sample covariance: the chosen
        neurons' activity is collinear, as for a network driven by a low-dimensional deterministic input).
    """

    layers: tuple[int, ...]
    boundaries: list[BoundaryReport]
    cka: Tensor
    alignment: AlignmentResult
    lempel_ziv: dict[int, float]
    phi: IntegrationResult | None
    phi_neurons: tuple[int, ...] = field(default=())
    samples: int = 0
    phi_error: str | None = None

    def metrics(self) -> dict[str, float]:
        """Flat ``name → value`` dict for MLflow (``boundary.L1-L2.pr_ratio``, ``lz.L3``, ``phi.value``…)."""
        out: dict[str, float] = {}
        for b in self.boundaries:
            key = f"boundary.L{b.lower + 1}-L{b.upper + 1}"
            for name in (
                "width_ratio",
                "width_efficiency",
                "pr_ratio",
                "pr_efficiency",
                "mutual_information",
                "mi_surrogate",
                "mi_corrected",
                "mi_null_subtracted",
                "mi_p_value",
                "reconstruction_r2",
            ):
                out[f"{key}.{name}"] = float(getattr(b, name))
        out["cka.adjacent_mean"] = float(self.alignment.adjacent_mean)
        out["cka.non_adjacent_mean"] = float(self.alignment.non_adjacent_mean)
        for k, v in self.lempel_ziv.items():
            out[f"lz.L{k + 1}"] = v
        if self.phi is not None:
            out[f"phi.{self.phi.measure}"] = self.phi.value
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return {
            "layers": [f"L{k + 1}" for k in self.layers],
            "samples": self.samples,
            "boundaries": [
                {k: (list(v) if isinstance(v, tuple) else v) for k, v in b.__dict__.items()}
                for b in self.boundaries
            ],
            "cka": self.cka.tolist(),
            "cka_adjacent_mean": self.alignment.adjacent_mean,
            "cka_non_adjacent_mean": self.alignment.non_adjacent_mean,
            "lempel_ziv": {f"L{k + 1}": v for k, v in self.lempel_ziv.items()},
            "phi_error": self.phi_error,
            "phi": None
            if self.phi is None
            else {
                "measure": self.phi.measure,
                "value": self.phi.value,
                "partition": [list(p) for p in self.phi.partition],
                "neurons": list(self.phi_neurons),
            },
        }


def binarize_median(x: Tensor) -> Tensor:
    """``(T, n)`` activity → ``(n, T)`` int64 symbols: 1 where a neuron is above its own median over time."""
    if x.ndim != 2:
        raise ValueError(f"x must be (T, n), got shape {tuple(x.shape)}")
    med = x.median(dim=0, keepdim=True).values
    return (x > med).T.to(torch.int64).contiguous()


def _layer_lz(x: Tensor, max_neurons: int) -> float:
    n = x.shape[1]
    idx = torch.linspace(0, n - 1, min(n, max_neurons), device=x.device).round().long().unique()
    sym = binarize_median(x[:, idx])
    varying = sym.amax(dim=1) != sym.amin(dim=1)
    if not bool(varying.any()):
        return math.nan
    values = lempel_ziv(sym[varying], normalize=True, base=2)
    assert isinstance(values, Tensor)
    return float(values.mean())


def select_phi_neurons(recordings: Mapping[int, Tensor], offsets: Sequence[int], n: int) -> tuple[int, ...]:
    """The ``n`` neurons (global indices) with the largest activity variance across the recorded layers."""
    best: list[tuple[float, int]] = []
    for k, rec in recordings.items():
        var = rec.reshape(-1, rec.shape[-1]).double().var(dim=0)
        top = var.topk(min(n, var.numel()))
        best += [(float(v), offsets[k] + int(i)) for v, i in zip(top.values, top.indices, strict=True)]
    best.sort(key=lambda t: (-t[0], t[1]))
    return tuple(sorted(i for _, i in best[:n]))


def report(
    result: RunResult,
    sizes: Sequence[int],
    *,
    batch_index: int = 0,
    target_ratio: float = math.e,
    n_components: int = 10,
    lz_max_neurons: int = 64,
    phi_neurons: Sequence[int] | int | None = 8,
    phi_measure: str = "wms",
    seed: int = 0,
) -> MetricsReport:
    """Measure a run: compression per boundary, CKA alignment, LZ per layer and Φ on a neuron subset.

    Parameters
    ----------
    result : RunResult
        From :func:`hal9.core.run` with ``record`` covering a contiguous run of ≥ 2 layers.
    sizes : sequence of int
        ``Network.sizes``.
    batch_index : int
        Which batch element to analyse.
    phi_neurons : int, sequence of int or None
        ``int``: that many highest-variance recorded neurons; a sequence: global neuron indices (all in
        recorded layers); ``None`` or ``0``: skip Φ.
    phi_measure : str
        ``measure`` of :func:`~hal9.metrics.integration.integrated_information_from_data`.

    Notes
    -----
    Cost is dominated by the Gram matrices of CKA/participation ratio, ``O(T² · N_rec)``, and by the
    exhaustive MIB search over ``2^(m−1) − 1`` bipartitions of the ``m`` Φ neurons.
    """
    recs = result.recordings
    if len(recs) < 2:
        raise ValueError("result.recordings must hold at least two layers (run(..., record=[...]))")
    layers = tuple(sorted(recs))
    batch = next(iter(recs.values())).shape[1]
    if not 0 <= batch_index < batch:
        raise ValueError(f"batch_index must be in 0..{batch - 1}, got {batch_index}")
    single = {k: recs[k][:, batch_index] for k in layers}
    samples = next(iter(single.values())).shape[0]
    boundaries = compression_boundaries(
        {k: v[:, None] for k, v in single.items()},
        sizes,
        target_ratio=target_ratio,
        n_components=n_components,
        seed=seed,
    )
    cka = layer_cka_matrix(single)
    alignment = adjacent_alignment(cka, layers)
    lz = {k: _layer_lz(single[k], lz_max_neurons) for k in layers}
    offsets = [0]
    for s in sizes:
        offsets.append(offsets[-1] + s)
    phi: IntegrationResult | None = None
    phi_error: str | None = None
    chosen: tuple[int, ...] = ()
    if phi_neurons:
        if isinstance(phi_neurons, int):
            chosen = select_phi_neurons(single, offsets, phi_neurons)
        else:
            chosen = tuple(int(i) for i in phi_neurons)
        cols = []
        for i in chosen:
            k = next((k for k in layers if offsets[k] <= i < offsets[k + 1]), None)
            if k is None:
                raise ValueError(f"phi_neurons: neuron {i} is not in a recorded layer")
            cols.append(single[k][:, i - offsets[k]])
        x = torch.stack(cols, dim=1).double()
        if samples - 1 < len(chosen) + 1:
            phi_error = (
                f"{samples} recorded samples; Φ of {len(chosen)} neurons needs at least {len(chosen) + 2}"
            )
        elif not bool((x.var(dim=0) > 0).all()):
            phi_error = "a chosen neuron has constant activity"
        else:
            try:
                res = integrated_information_from_data(x, measure=phi_measure)  # type: ignore[arg-type]
            except ValueError as exc:  # singular sample covariance of collinear activity
                phi_error = str(exc)
            else:
                assert isinstance(res, IntegrationResult)
                phi = res
    return MetricsReport(layers, boundaries, cka, alignment, lz, phi, chosen, samples, phi_error)
