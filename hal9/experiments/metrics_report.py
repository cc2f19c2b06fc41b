"""The metrics recipe: Φ-family measures of a VAR(1) system or a time series, or the report of a simulated
hierarchy; figures and one MLflow run.

``hal9 metrics`` runs :func:`run_metrics`; the service's ``metrics`` job runs :func:`measure_integration`.
"""

from __future__ import annotations

import math
import time
import zipfile
from pathlib import Path
from typing import Any, Required, TypedDict

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hal9.core import renamed_value
from hal9.experiments._tracking import MlflowRef, log_run
from hal9.experiments.options import criterion_aliases, criterion_names, measure_names

__all__ = [
    "FIGURE_MAX_N",
    "WMS_NOTE",
    "IntegrationRow",
    "MetricsReportConfig",
    "MetricsSummary",
    "analyze_hierarchy",
    "analyze_input",
    "load_input",
    "measure_integration",
    "run_metrics",
]

#: Largest system for which the Φ-over-bipartitions figure evaluates every bipartition.
FIGURE_MAX_N = 10
#: Shown after every Φ_WMS value (text and ``"notes"`` of the JSON summary).
WMS_NOTE = (
    "Φ_WMS (whole-minus-sum) can be negative: it subtracts the parts' predictive information from the "
    "whole's, so it is not a lower-bounded amount of integration (Barrett & Seth 2011, "
    "PLoS Comput Biol 7:e1001052)"
)

Partition = tuple[tuple[int, ...], ...]


class MetricsReportConfig(BaseModel):
    """What :func:`run_metrics` measures: exactly one of ``input`` or ``hierarchy``.

    Attributes
    ----------
    input : Path or None
        ``.npy`` time series ``(T, n)``, or ``.npz`` holding ``A`` (and optionally ``noise_cov``) of a
        VAR(1) system ``X_t = A X_{t−1} + E_t``, or ``x``.
    hierarchy : int or None
        Simulate the demo hierarchy of this many neurons (≥ 9, one per layer) and report it.
    steps : int
        Simulation steps with ``hierarchy`` (≥ 2).
    noise : float
        S.d. of the i.i.d. Gaussian noise added to the L1 input with ``hierarchy``.
    measures : tuple of str
        Integration measures of ``input`` (names from :func:`hal9.experiments.options.measure_names`).
    criterion : str
        MIB criterion, ``"min"`` or ``"normalized"`` (``"normalised"`` is accepted until hal9 0.2.0).
    partition : ((int, ...), (int, ...)) or None
        A fixed bipartition; ``None``: search the minimum information bipartition.
    seed : int
        Seeds the hierarchy, its input and the report's surrogates.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: Path | None = None
    hierarchy: int | None = Field(None, ge=9, description="neurons of the simulated demo hierarchy")
    steps: int = Field(400, ge=2, description="simulation steps with hierarchy")
    noise: float = Field(0.5, ge=0, allow_inf_nan=False, description="s.d. of the noise added to L1")
    measures: tuple[str, ...] = Field(("wms",), min_length=1)
    criterion: str = "min"
    partition: Partition | None = None
    seed: int = 0

    @field_validator("measures")
    @classmethod
    def _known_measures(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        known = measure_names()
        for m in v:
            if m not in known:
                raise ValueError(f"unknown measure {m!r}; one of {', '.join(known)}")
        return v

    @field_validator("criterion")
    @classmethod
    def _known_criterion(cls, v: str) -> str:
        v = renamed_value(v, criterion_aliases(), field="criterion")
        if v not in (known := criterion_names()):
            raise ValueError(f"unknown criterion {v!r}; one of {', '.join(known)}")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> MetricsReportConfig:
        if (self.input is None) == (self.hierarchy is None):
            raise ValueError("give exactly one of 'input' (a file) or 'hierarchy' (neurons to simulate)")
        return self


class IntegrationRow(TypedDict):
    """One measure of :func:`measure_integration` (values in nats, time in seconds)."""

    value_nats: float
    partition: list[list[int]]
    normalized: float | None
    method: str
    partitions_evaluated: int
    seconds: float


class MetricsSummary(TypedDict, total=False):
    """What :func:`analyze_input`, :func:`analyze_hierarchy` and :func:`run_metrics` return.

    With ``input``: ``measures`` (one :class:`IntegrationRow` per measure) and, for a time series,
    ``lempel_ziv_mean`` and ``multi_information_nats``. With ``hierarchy``: the keys of
    :meth:`hal9.metrics.reporting.MetricsReport.to_dict` (``boundaries``, ``cka``, ``lempel_ziv``, ``phi``…).
    :func:`run_metrics` always adds ``mlflow`` (``None`` without a run), ``figures`` and ``notes`` (one line
    per caveat of the values shown: :data:`WMS_NOTE` after a Φ_WMS value).
    """

    input: Required[dict[str, Any]]
    measures: dict[str, IntegrationRow]
    lempel_ziv_mean: float
    multi_information_nats: float
    layers: list[str]
    samples: int
    boundaries: list[dict[str, Any]]
    cka: list[list[float]]
    cka_adjacent_mean: float
    cka_non_adjacent_mean: float
    lempel_ziv: dict[str, float]
    phi_error: str | None
    phi: dict[str, Any] | None
    mlflow: MlflowRef | None
    figures: list[str]
    notes: list[str]


def load_input(path: Path) -> dict[str, torch.Tensor]:
    """Read ``.npy`` (a ``(T, n)`` time series, key ``x``) or ``.npz`` (``A`` [+ ``noise_cov``], or ``x``).

    Returns
    -------
    dict of str to Tensor
        float64 tensors: ``{"x": (T, n)}`` or ``{"A": (n, n)[, "noise_cov": (n, n)]}``.

    Raises
    ------
    ValueError
        Naming ``--input``: a missing file, another suffix, a file that is not in NumPy's format (e.g. a
        text file named ``.npy``), pickled or non-numeric data, or an ``.npz`` without ``A`` or ``x``.
    """
    if not path.exists():
        raise ValueError(f"--input: {path} does not exist")
    if path.suffix not in _MAGIC:
        raise ValueError(f"--input must be a .npy or .npz file, got {path.name}")
    with open(path, "rb") as fh:
        head = fh.read(len(_MAGIC[path.suffix]))
    if head != _MAGIC[path.suffix]:
        kind = "NumPy .npy file (numpy.save)" if path.suffix == ".npy" else "NumPy .npz archive (numpy.savez)"
        raise ValueError(f"--input: {path} is not a {kind}: it does not start with the format's magic bytes")
    try:
        if path.suffix == ".npy":
            with open(path, "rb") as fh:  # our handle: closed even when numpy fails half-way
                return {"x": _numeric(np.load(fh, allow_pickle=False), path, "x")}
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            keys = set(data.files)
            if "A" in keys:
                out = {"A": _numeric(data["A"], path, "A")}
                if "noise_cov" in keys:
                    out["noise_cov"] = _numeric(data["noise_cov"], path, "noise_cov")
                return out
            if "x" in keys:
                return {"x": _numeric(data["x"], path, "x")}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise ValueError(f"--input: {path} holds Python objects (pickled); save numeric arrays") from None
        if str(exc).startswith("--input"):
            raise
        raise ValueError(f"--input: {path} could not be read: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"--input: {path} could not be read: {exc or type(exc).__name__}") from None
    raise ValueError(f"--input: {path} must hold 'A' (and optionally 'noise_cov') or 'x'; has {sorted(keys)}")


#: The first bytes of a ``.npy`` file (format spec) and of an ``.npz`` (a zip archive).
_MAGIC = {".npy": b"\x93NUMPY", ".npz": b"PK\x03\x04"}


def _numeric(arr: np.ndarray, path: Path, key: str) -> torch.Tensor:
    """``arr`` as float64, refusing non-numeric arrays with a message naming the file and key."""
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"--input: {key} in {path} must be numeric, got dtype {arr.dtype}")
    return torch.from_numpy(np.asarray(arr, dtype=np.float64))


def _label(p: tuple[tuple[int, ...], ...]) -> str:
    return "|".join(",".join(map(str, part)) for part in p)


def _integration(data: dict[str, torch.Tensor], **options: Any) -> Any:
    """One :class:`~hal9.metrics.IntegrationResult` for a VAR(1) (``A``) or a ``(T, n)`` series (``x``)."""
    from hal9.metrics.integration import integrated_information, integrated_information_from_data

    if "A" in data:
        return integrated_information(data["A"], data.get("noise_cov"), **options)
    return integrated_information_from_data(data["x"], **options)


def measure_integration(
    data: dict[str, torch.Tensor], measure: str, *, partition: Partition | None = None, criterion: str = "min"
) -> IntegrationRow:
    """One integration measure of a VAR(1) system (``data["A"]``) or a ``(T, n)`` series (``data["x"]``).

    Calls :func:`hal9.metrics.integrated_information` (``A``, optional ``noise_cov``; identity when absent)
    or :func:`hal9.metrics.integrated_information_from_data` (``x``), timed.

    Examples
    --------
    The feed-forward pair ``x2_t = 0.8 x1_{t−1} + e``: Φ_WMS = I(X_{t−1}; X_t) = ½ ln 1.64.

    >>> A = torch.tensor([[0.0, 0.0], [0.8, 0.0]], dtype=torch.float64)
    >>> row = measure_integration({"A": A}, "wms")
    >>> round(row["value_nats"], 9) == round(0.5 * math.log(1.64), 9), row["partition"]
    (True, [[0], [1]])
    """
    t0 = time.perf_counter()
    r = _integration(data, measure=measure, partition=partition, criterion=criterion)
    return {
        "value_nats": r.value,
        "partition": [list(p) for p in r.partition],
        "normalized": r.normalized,
        "method": r.method,
        "partitions_evaluated": r.n_partitions_evaluated,
        "seconds": time.perf_counter() - t0,
    }


def _phi_over_partitions(data: dict[str, torch.Tensor], measure: str) -> tuple[list[str], list[float]]:
    from hal9.metrics.partitions import bipartition_masks, mask_to_partition

    n = int((data["A"] if "A" in data else data["x"]).shape[-1])
    labels, values = [], []
    for chunk in bipartition_masks(n):
        for mask in chunk:
            r = _integration(data, measure=measure, partition=mask_to_partition(mask))
            labels.append(_label(r.partition))
            values.append(r.value)
    return labels, values


def analyze_input(
    data: dict[str, torch.Tensor], measures: tuple[str, ...], partition: Partition | None, criterion: str
) -> MetricsSummary:
    """Φ-family measures (and, for a time series, LZ76 and multi-information) of one input."""
    info: dict[str, Any]
    if "A" in data:
        info = {"kind": "var1", "n": int(data["A"].shape[-1])}
    else:
        x = data["x"]
        if x.ndim != 2:
            raise ValueError(f"--input time series must be (T, n), got shape {tuple(x.shape)}")
        info = {"kind": "time_series", "T": int(x.shape[0]), "n": int(x.shape[1])}
    rows = {m: measure_integration(data, m, partition=partition, criterion=criterion) for m in measures}
    summary: MetricsSummary = {"measures": rows, "input": info}
    if "x" in data:
        from hal9.metrics.complexity import multi_information
        from hal9.metrics.lz import lempel_ziv
        from hal9.metrics.reporting import binarize_median

        x = data["x"]
        lz = lempel_ziv(binarize_median(x), normalize=True, base=2)
        assert isinstance(lz, torch.Tensor)
        summary["lempel_ziv_mean"] = float(lz.mean())
        summary["multi_information_nats"] = float(multi_information(torch.cov(x.T)))
    return summary


def analyze_hierarchy(
    neurons: int, steps: int, seed: int, noise: float = 0.5, *, progress: bool = True
) -> tuple[MetricsSummary, Any]:
    """Simulate the demo hierarchy on the CPU and measure it with :func:`hal9.metrics.report`.

    The L1 input is the demo's modulated pattern (:func:`hal9.experiments.demo.demo_inputs`) plus i.i.d.
    Gaussian noise of s.d. ``noise`` (seeded with ``seed + 2``): without noise the activity follows one
    deterministic input direction, which makes LZ, the MI null and Φ of a neuron subset uninformative.

    Returns
    -------
    (MetricsSummary, MetricsReport)
        The JSON-ready summary (``input`` plus the report's keys) and the report itself.
    """
    from hal9.core import build_network, rate_params, run
    from hal9.experiments.demo import demo_config, demo_inputs
    from hal9.metrics.reporting import report

    cfg = demo_config(neurons, steps, 1, seed, "cpu")
    net = build_network(cfg.hierarchy, seed=seed)
    params = rate_params(cfg.neuron, net.sizes)
    inputs = demo_inputs(cfg, net.sizes[0], torch.device("cpu"), torch.float32)
    if noise > 0:
        gen = torch.Generator().manual_seed(seed + 2)
        inputs = inputs + noise * torch.randn(inputs.shape, generator=gen)
    res = run(net, params, inputs, record=range(net.n_layers), progress=progress)
    rep = report(res, net.sizes, seed=seed)
    info = {"kind": "hierarchy", "neurons": net.n_neurons, "steps": steps, "noise": noise}
    summary: MetricsSummary = {"input": info, **rep.to_dict()}  # type: ignore[typeddict-item]
    return summary, rep


def _notes(summary: MetricsSummary) -> list[str]:
    phi = summary.get("phi")
    shows_wms = "wms" in summary.get("measures", {}) or (phi is not None and phi["measure"] == "wms")
    return [WMS_NOTE] if shows_wms else []


def run_metrics(
    cfg: MetricsReportConfig,
    *,
    outputs: Path | None = Path("outputs"),
    experiment: str | None = "hal9-metrics",
    tracking_uri: str | None = None,
    progress: bool = True,
) -> MetricsSummary:
    """Compute, plot, log; return the JSON-ready summary.

    Parameters
    ----------
    cfg : MetricsReportConfig
    outputs : Path or None
        Figure folder: ``compression.png`` (hierarchy), or ``phi_<measure>_partitions.png`` (Φ of the first
        partitioned measure over every bipartition, for inputs of ``n ≤ FIGURE_MAX_N``); ``None``: none.
    experiment : str or None
        MLflow experiment (params ``measures``, ``criterion``, ``seed``, ``input``; metrics ``phi.<m>`` or
        the report's :meth:`~hal9.metrics.reporting.MetricsReport.metrics`); ``None``: no MLflow run.
    tracking_uri : str or None
        MLflow backend; ``None``: the environment or ``./mlflow.db``.
    progress : bool
        Progress bar of the hierarchy simulation (stderr).
    """
    figures: list[Path] = []
    metrics: dict[str, float] = {}
    if outputs is not None:
        outputs.mkdir(parents=True, exist_ok=True)
    if cfg.hierarchy is not None:
        summary, rep = analyze_hierarchy(cfg.hierarchy, cfg.steps, cfg.seed, cfg.noise, progress=progress)
        if outputs is not None:
            from hal9.viz import plot_compression, save_figure

            b = rep.boundaries
            fig = plot_compression(
                [f"L{x.lower + 1}-L{x.upper + 1}" for x in b],
                [x.width_ratio for x in b],
                [x.pr_ratio for x in b],
                [x.reconstruction_r2 for x in b],
            )
            figures.append(save_figure(fig, outputs / "compression.png"))
        metrics |= {k: v for k, v in rep.metrics().items() if math.isfinite(v)}
    else:
        assert cfg.input is not None
        data = load_input(cfg.input)
        summary = analyze_input(data, cfg.measures, cfg.partition, cfg.criterion)
        summary["input"]["path"] = str(cfg.input)
        rows = summary.get("measures", {})
        for m, r in rows.items():
            metrics[f"phi.{m}"] = r["value_nats"]
        partitioned = [m for m in cfg.measures if m != "mi"]
        if outputs is not None and summary["input"]["n"] <= FIGURE_MAX_N and partitioned:
            from hal9.viz import plot_phi_partitions, save_figure

            m = partitioned[0]
            labels, values = _phi_over_partitions(data, m)
            best_label = _label(tuple(tuple(p) for p in rows[m]["partition"]))
            best = labels.index(best_label) if best_label in labels else None
            fig = plot_phi_partitions(values, labels, best=best, measure=m)
            figures.append(save_figure(fig, outputs / f"phi_{m}_partitions.png"))
    params = {
        "measures": ",".join(cfg.measures),
        "criterion": cfg.criterion,
        "seed": cfg.seed,
        "input": str(cfg.input) if cfg.input else f"hierarchy:{cfg.hierarchy}x{cfg.steps}",
    }
    ml: MlflowRef | None = None
    if experiment is not None:
        ml = log_run(
            experiment,
            config=params,
            run_name="metrics",
            tracking_uri=tracking_uri,
            metrics=metrics,
            artifacts=figures,
        )
    summary["mlflow"] = ml
    summary["figures"] = [str(f) for f in figures]
    summary["notes"] = _notes(summary)
    return summary
