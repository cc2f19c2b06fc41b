"""The supervised learning recipe: a spiking ±1 hierarchy trained with surrogate gradients on digits.

``hal9 learn digits`` and ``experiments/learning_digits.py`` run :func:`run_and_log`: for each seed, a
:class:`~hal9.learn.HierarchyClassifier` is built and trained on the same fixed stratified split of
scikit-learn's 1,797 8×8 digits (:func:`~hal9.learn.load_digits_split`); the summary reports the test
accuracy per seed, its mean ± sample standard deviation and a 95 % t interval, and the per-epoch curves.
MLflow gets the config as params, the curves as metric series (``seed<k>.train_loss``,
``seed<k>.test_accuracy`` per epoch), the aggregate metrics and a figure of the curves.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from hal9.core import ConnectivityConfig, HierarchyConfig, LIFConfig
from hal9.experiments._tracking import MlflowRef, log_run
from hal9.learn import HierarchyClassifier, TrainConfig, fit, load_digits_split

__all__ = ["DigitsConfig", "DigitsSummary", "mean_interval", "run_and_log", "run_digits"]


class DigitsConfig(BaseModel):
    """What ``hal9 learn digits`` trains (flattens into MLflow params).

    The defaults are the reference run of docs/learning.md: L1 = the 64 pixels, L2 = 256 and L3 = 128
    LIF neurons, within-layer and bottom-up synapses only (fan-in 16 and 32), the readout on L3.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sizes: tuple[int, ...] = (64, 256, 128)
    connectivity: ConnectivityConfig = ConnectivityConfig(fan_in_within=16, fan_in_up=32, gain=2.0)
    neuron: LIFConfig = LIFConfig(tau_mem=5.0, v_th=0.5, refractory=0.0)
    train: TrainConfig = TrainConfig()
    seeds: tuple[int, ...] = Field((0, 1, 2, 3, 4), min_length=1)
    split_seed: int = 0
    test_fraction: float = Field(0.25, gt=0.0, lt=1.0)


class SeedResult(TypedDict):
    seed: int
    test_accuracy: float
    train_loss: list[float]
    test_accuracies: list[float]
    epoch_seconds: list[float]


class DigitsSummary(TypedDict):
    """What :func:`run_digits` returns (``--json``)."""

    config: dict[str, Any]
    neurons: int
    synapses: int
    seeds: list[SeedResult]
    accuracy_mean: float
    accuracy_sd: float
    accuracy_ci95: tuple[float, float]
    median_epoch_seconds: float
    seconds: float
    mlflow: MlflowRef | None
    figures: list[str]


def mean_interval(values: list[float], level: float = 0.95) -> tuple[float, float, tuple[float, float]]:
    """``(mean, sample sd, two-sided t interval of the mean)``; the interval is ``(mean, mean)`` for one
    value (no spread to estimate)."""
    from scipy import stats

    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan, (mean, mean)
    sd = statistics.stdev(values)
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1)) * sd / math.sqrt(len(values))
    return mean, sd, (mean - half, mean + half)


def run_digits(cfg: DigitsConfig, *, progress: bool = False) -> DigitsSummary:
    """Train one classifier per seed on the same split; the summary (no MLflow)."""
    t0 = time.perf_counter()
    data = load_digits_split(test_fraction=cfg.test_fraction, seed=cfg.split_seed)
    hierarchy = HierarchyConfig(sizes=cfg.sizes, n_layers=len(cfg.sizes), connectivity=cfg.connectivity)
    results: list[SeedResult] = []
    neurons = synapses = 0
    for seed in cfg.seeds:
        model = HierarchyClassifier(hierarchy, cfg.neuron, data.n_classes, seed=seed)
        neurons, synapses = sum(model.hierarchy.sizes), int(model.hierarchy.weight_values.numel())
        res = fit(model, data, cfg.train.model_copy(update={"seed": seed}), progress=progress)
        results.append(
            {
                "seed": seed,
                "test_accuracy": res.test_accuracy,
                "train_loss": [h.train_loss for h in res.history],
                "test_accuracies": [h.test_accuracy for h in res.history],
                "epoch_seconds": [h.seconds for h in res.history],
            }
        )
    mean, sd, ci = mean_interval([r["test_accuracy"] for r in results])
    seconds = [s for r in results for s in r["epoch_seconds"]]
    return {
        "config": cfg.model_dump(mode="json"),
        "neurons": neurons,
        "synapses": synapses,
        "seeds": results,
        "accuracy_mean": mean,
        "accuracy_sd": sd,
        "accuracy_ci95": ci,
        "median_epoch_seconds": statistics.median(seconds),
        "seconds": time.perf_counter() - t0,
        "mlflow": None,
        "figures": [],
    }


def _figure(summary: DigitsSummary, outputs: Path) -> Path:
    import matplotlib.pyplot as plt

    from hal9.viz import save_figure

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5), constrained_layout=True)
    for r in summary["seeds"]:
        epochs = range(1, len(r["train_loss"]) + 1)
        ax_loss.plot(epochs, r["train_loss"], label=f"seed {r['seed']}")
        ax_acc.plot(epochs, r["test_accuracies"], label=f"seed {r['seed']}")
    ax_loss.set(xlabel="epoch", ylabel="training cross-entropy (nats)", yscale="log")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", ylim=(0, 1))
    ax_acc.axhline(summary["accuracy_mean"], color="k", lw=0.8, ls="--")
    ax_acc.legend(fontsize=7)
    outputs.mkdir(parents=True, exist_ok=True)
    path = outputs / "digits_learning_curves.png"
    save_figure(fig, path)
    plt.close(fig)
    return path


def run_and_log(
    cfg: DigitsConfig,
    *,
    outputs: Path | None = None,
    experiment: str | None = "hal9-learning",
    tracking_uri: str | None = None,
    progress: bool = False,
) -> DigitsSummary:
    """:func:`run_digits`, the curves' figure in ``outputs`` (none when ``None``), one MLflow run
    (none when ``experiment`` is ``None``)."""
    summary = run_digits(cfg, progress=progress)
    figures = [] if outputs is None else [_figure(summary, outputs)]
    summary["figures"] = [str(f) for f in figures]
    if experiment is not None:
        series: dict[str, list[float]] = {}
        for r in summary["seeds"]:
            series[f"seed{r['seed']}.train_loss"] = r["train_loss"]
            series[f"seed{r['seed']}.test_accuracy"] = r["test_accuracies"]
        metrics = {
            "accuracy_mean": summary["accuracy_mean"],
            "accuracy_sd": summary["accuracy_sd"],
            "accuracy_ci95_low": summary["accuracy_ci95"][0],
            "accuracy_ci95_high": summary["accuracy_ci95"][1],
            "median_epoch_seconds": summary["median_epoch_seconds"],
            **{f"seed{r['seed']}.final_test_accuracy": r["test_accuracy"] for r in summary["seeds"]},
        }
        summary["mlflow"] = log_run(
            experiment,
            config=cfg,
            run_name=f"digits-{'x'.join(map(str, cfg.sizes))}",
            tracking_uri=tracking_uri,
            metrics=metrics,
            artifacts=figures,
            series=series,
        )
    return summary
