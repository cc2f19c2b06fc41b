"""``hal9 metrics``: integration measures of a time series or a VAR(1) system, or the report of a simulated
hierarchy; logged to MLflow with figures."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["MEASURES", "load_input", "parse_partition", "run_metrics"]

MEASURES = ("mi", "wms", "r", "si", "geometric", "star")
#: Largest system for which the Φ-over-bipartitions figure evaluates every bipartition.
FIGURE_MAX_N = 10


def parse_partition(text: str | None) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """``"0,1|2,3"`` → ``((0, 1), (2, 3))``."""
    if text is None:
        return None
    parts = text.split("|")
    if len(parts) != 2:
        raise ValueError(f"--partition must look like '0,1|2,3', got {text!r}")
    try:
        a, b = (tuple(int(i) for i in p.split(",") if i.strip()) for p in parts)
    except ValueError as exc:
        raise ValueError(f"--partition must look like '0,1|2,3', got {text!r}") from exc
    return a, b


def load_input(path: Path) -> dict[str, torch.Tensor]:
    """Read ``.npy`` (a ``(T, n)`` time series) or ``.npz`` (``A`` [+ ``noise_cov``], or ``x``)."""
    if not path.exists():
        raise ValueError(f"--input: {path} does not exist")
    if path.suffix == ".npy":
        return {"x": torch.from_numpy(np.load(path, allow_pickle=False)).double()}
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            if "A" in keys:
                out = {"A": torch.from_numpy(data["A"]).double()}
                if "noise_cov" in keys:
                    out["noise_cov"] = torch.from_numpy(data["noise_cov"]).double()
                return out
            if "x" in keys:
                return {"x": torch.from_numpy(data["x"]).double()}
            raise ValueError(
                f"--input: {path} must hold 'A' (and optionally 'noise_cov') or 'x'; has {sorted(keys)}"
            )
    raise ValueError(f"--input must be a .npy or .npz file, got {path.name}")


def _label(p: tuple[tuple[int, ...], ...]) -> str:
    return "|".join(",".join(map(str, part)) for part in p)


def _integration(data: dict[str, torch.Tensor], **options: Any) -> Any:
    """One :class:`~hal9.metrics.IntegrationResult` for a VAR(1) (``A``) or a ``(T, n)`` series (``x``)."""
    from hal9.metrics.integration import integrated_information, integrated_information_from_data

    if "A" in data:
        return integrated_information(data["A"], data.get("noise_cov"), **options)
    return integrated_information_from_data(data["x"], **options)


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


def analyse_input(
    data: dict[str, torch.Tensor], measures: list[str], partition: Any, criterion: str
) -> dict[str, Any]:
    """Φ-family measures (and, for a time series, LZ and multi-information) of one input."""
    summary: dict[str, Any] = {"measures": {}}
    if "A" in data:
        summary["input"] = {"kind": "var1", "n": int(data["A"].shape[-1])}
    else:
        x = data["x"]
        if x.ndim != 2:
            raise ValueError(f"--input time series must be (T, n), got shape {tuple(x.shape)}")
        summary["input"] = {"kind": "time_series", "T": int(x.shape[0]), "n": int(x.shape[1])}
    for m in measures:
        t0 = time.perf_counter()
        r = _integration(data, measure=m, partition=partition, criterion=criterion)
        summary["measures"][m] = {
            "value_nats": r.value,
            "partition": [list(p) for p in r.partition],
            "normalised": r.normalised,
            "method": r.method,
            "partitions_evaluated": r.n_partitions_evaluated,
            "seconds": time.perf_counter() - t0,
        }
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


def analyse_hierarchy(neurons: int, steps: int, seed: int, noise: float = 0.5) -> tuple[dict[str, Any], Any]:
    """Simulate the demo hierarchy and measure it with :func:`hal9.metrics.report`.

    The L1 input is the demo's modulated pattern plus i.i.d. Gaussian noise of s.d. ``noise`` (seeded):
    without noise the activity follows one deterministic input direction, which makes LZ, the MI null
    and Φ of a neuron subset uninformative.
    """
    from hal9.cli.demo import _inputs, demo_config
    from hal9.core import build_network, rate_params, run
    from hal9.metrics.reporting import report

    cfg = demo_config(neurons, steps, 1, seed, "cpu")
    net = build_network(cfg.hierarchy, seed=seed)
    params = rate_params(cfg.neuron, net.sizes)
    inputs = _inputs(cfg, net.sizes[0], torch.device("cpu"), torch.float32)
    if noise > 0:
        gen = torch.Generator().manual_seed(seed + 2)
        inputs = inputs + noise * torch.randn(inputs.shape, generator=gen)
    res = run(
        net,
        params,
        inputs,
        record=range(net.n_layers),
        progress=True,
    )
    rep = report(res, net.sizes, seed=seed)
    info = {"kind": "hierarchy", "neurons": net.n_neurons, "steps": steps, "noise": noise}
    return {"input": info, **rep.to_dict()}, rep


def run_metrics(
    *,
    input_path: Path | None,
    hierarchy: int | None,
    steps: int,
    measures: list[str],
    partition: Any,
    criterion: str,
    seed: int,
    outputs: Path,
    noise: float = 0.5,
    experiment: str,
    tracking_uri: str | None,
) -> dict[str, Any]:
    """Compute, plot, log; return the JSON summary."""
    from hal9.cli._logging import log_run
    from hal9.viz import plot_compression, plot_phi_partitions, save_figure

    outputs.mkdir(parents=True, exist_ok=True)
    figures = []
    metrics: dict[str, float] = {}
    if hierarchy is not None:
        summary, rep = analyse_hierarchy(hierarchy, steps, seed, noise)
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
        assert input_path is not None
        data = load_input(input_path)
        summary = analyse_input(data, measures, partition, criterion)
        summary["input"]["path"] = str(input_path)
        for m, r in summary["measures"].items():
            metrics[f"phi.{m}"] = r["value_nats"]
        n = summary["input"]["n"]
        partitioned = [m for m in measures if m != "mi"]
        if n <= FIGURE_MAX_N and partitioned:
            m = partitioned[0]
            labels, values = _phi_over_partitions(data, m)
            best_label = _label(tuple(tuple(p) for p in summary["measures"][m]["partition"]))
            best = labels.index(best_label) if best_label in labels else None
            fig = plot_phi_partitions(values, labels, best=best, measure=m)
            figures.append(save_figure(fig, outputs / f"phi_{m}_partitions.png"))
    params = {
        "measures": ",".join(measures),
        "criterion": criterion,
        "seed": seed,
        "input": str(input_path) if input_path else f"hierarchy:{hierarchy}x{steps}",
    }
    summary["mlflow"] = log_run(
        experiment,
        config=params,
        run_name="metrics",
        tracking_uri=tracking_uri,
        metrics=metrics,
        artifacts=figures,
    )
    summary["figures"] = [str(f) for f in figures]
    return summary
