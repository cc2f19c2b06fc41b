"""hal9.learn — learning in the hierarchy: surrogate-gradient training of any neuron model, local
plasticity rules (Hebb, Oja, Oja's subspace rule, Sanger, BCM, STDP) on the sparse ±1 weights, spike
encoders and small data sets that ship with packages.

Builds on :mod:`hal9.core` only.
"""

from hal9.learn._rules import (
    STDPState,
    bcm_update,
    hebb_update,
    oja_subspace_update,
    oja_update,
    sanger_update,
    stdp_update,
)
from hal9.learn.data import DataSplit, batches, load_digits_split, synthetic_clusters, xor_task
from hal9.learn.encoding import current_encode, latency_encode, poisson_encode, rate_encode
from hal9.learn.plasticity import (
    BCMConfig,
    HebbConfig,
    OjaConfig,
    OjaSubspaceConfig,
    PlasticityConfig,
    SangerConfig,
    STDPConfig,
    apply_rule,
    init_state,
    make_plasticity,
)
from hal9.learn.train import (
    ENCODINGS,
    OPTIMIZERS,
    EpochRecord,
    HierarchyClassifier,
    TrainConfig,
    TrainResult,
    detach_state,
    encode,
    evaluate,
    fit,
    load_checkpoint,
    save_checkpoint,
    train_epoch,
)

__all__ = [
    "ENCODINGS",
    "OPTIMIZERS",
    "BCMConfig",
    "DataSplit",
    "EpochRecord",
    "HebbConfig",
    "HierarchyClassifier",
    "OjaConfig",
    "OjaSubspaceConfig",
    "PlasticityConfig",
    "STDPConfig",
    "STDPState",
    "SangerConfig",
    "TrainConfig",
    "TrainResult",
    "apply_rule",
    "batches",
    "bcm_update",
    "current_encode",
    "detach_state",
    "encode",
    "evaluate",
    "fit",
    "hebb_update",
    "init_state",
    "latency_encode",
    "load_checkpoint",
    "load_digits_split",
    "make_plasticity",
    "oja_subspace_update",
    "oja_update",
    "poisson_encode",
    "rate_encode",
    "sanger_update",
    "save_checkpoint",
    "stdp_update",
    "synthetic_clusters",
    "train_epoch",
    "xor_task",
]
