"""Experiment 1b of the HAL9 claims: task accuracy against the compression ratio between layers.

Does a hierarchy whose layers shrink by ``r = e`` classify better than with other ratios? The task is
the digits benchmark of :mod:`hal9.experiments.learning` (scikit-learn's 1,797 8×8 digits, a fixed
stratified split), learned with surrogate gradients by a LIF hierarchy read out linearly at its top
layer. The design keeps what a ratio does not decide fixed: L1 is the 64 pixels, L2 has ``width``
neurons, and every layer above shrinks by ``r``:

    sizes = (64, width, round(width / r), round(width / r²), …)   (n_layers layers, each ≥ 1)

so the depth, the input and the first hidden layer are the same for every ratio, and only the
compression above L2 (hence the width of the layer the readout sees) changes. One trial = one ratio,
one seed (:func:`ratio_task_run`, the ``ratio_task`` sweep recipe); the sweep's aggregate and
:func:`~hal9.experiments.hierarchy_claims_metrics.peak_test` answer whether accuracy peaks at e.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from hal9.core import ConnectivityConfig
from hal9.experiments.learning import DigitsConfig, run_digits
from hal9.learn import TrainConfig

if TYPE_CHECKING:  # the sweep package imports this module to run the recipe
    from hal9.experiments.sweep.recipes import TrialContext, TrialOutput

__all__ = ["RatioTaskConfig", "ratio_task_default", "ratio_task_run", "ratio_task_sizes"]

#: The digits' input: 8 × 8 pixels, one L1 neuron each.
PIXELS = 64


class RatioTaskConfig(BaseModel):
    """One trial of experiment 1b.

    Attributes
    ----------
    ratio : float
        Compression ratio ``r > 1`` between consecutive layers above L2.
    width : int
        L2's size (neurons); layer ``k ≥ 3`` has ``round(width / r^(k−2))``, at least 1.
    n_layers : int
        Layers including L1 (3–9).
    epochs : int
        Training epochs (Adam, :class:`~hal9.learn.TrainConfig` defaults otherwise).
    seed : int
        Seeds the network and the batches; the train/test split is the same for every trial.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ratio: float = Field(math.e, gt=1.0, le=16.0, allow_inf_nan=False)
    width: int = Field(256, ge=2, le=65_536)
    n_layers: int = Field(4, ge=3, le=9)
    epochs: int = Field(20, ge=1, le=1000)
    seed: int = 0


def ratio_task_sizes(config: RatioTaskConfig) -> tuple[int, ...]:
    """``(64, width, round(width / r), round(width / r²), …)``, ``n_layers`` sizes, each at least 1.

    Examples
    --------
    >>> ratio_task_sizes(RatioTaskConfig(ratio=2.0, width=256, n_layers=5))
    (64, 256, 128, 64, 32)
    """
    return (PIXELS, *(max(1, round(config.width / config.ratio**k)) for k in range(config.n_layers - 1)))


def ratio_task_default() -> dict[str, Any]:
    """The default trial (r = e, width 256, 4 layers, 20 epochs), JSON-ready."""
    return RatioTaskConfig().model_dump(mode="json")


def ratio_task_run(config: RatioTaskConfig, context: TrialContext) -> TrialOutput:
    """Train and test one classifier (:func:`hal9.experiments.learning.run_digits`, one seed).

    Metrics: ``test_accuracy`` (fraction of the 450 test digits), ``final_train_loss`` (cross-entropy of
    the last epoch), ``top_layer_size``, ``neurons``, ``synapses``, ``median_epoch_s``. The
    connectivity is the digits reference's (fan-in 16 within, 32 bottom-up, gain 2) with fan-ins
    clipped to small layers. Trials run on CPU.
    """
    sizes = ratio_task_sizes(config)
    digits = DigitsConfig(
        sizes=sizes,
        connectivity=ConnectivityConfig(fan_in_within=16, fan_in_up=32, gain=2.0, fan_in_policy="clip"),
        train=TrainConfig(epochs=config.epochs),
        seeds=(config.seed,),
    )
    summary = run_digits(digits)
    (result,) = summary["seeds"]
    metrics = {
        "test_accuracy": float(result["test_accuracy"]),
        "final_train_loss": float(result["train_loss"][-1]),
        "top_layer_size": float(sizes[-1]),
        "neurons": float(summary["neurons"]),
        "synapses": float(summary["synapses"]),
        "median_epoch_s": float(summary["median_epoch_seconds"]),
    }
    return {"metrics": metrics, "artifacts": {}}
