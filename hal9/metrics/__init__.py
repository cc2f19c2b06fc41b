"""hal9.metrics — integration, complexity and compression measures, each checked against a reference.

Integrated information of linear-Gaussian VAR(1) systems (time-delayed MI, Φ_WMS, Φ_R, stochastic
interaction, Φ_G, Φ*) for partitions into any number of parts, with exhaustive or heuristic
minimum-information-partition search over the bipartitions (optionally also the atomic partition) and a
registry of measures (:func:`register_measure`, :func:`measure_names`); Lempel–Ziv
(LZ76) and the perturbational complexity index; multi-information and neural complexity; linear CKA
between layers; compression measures per layer boundary; one :func:`report` of a simulated run; and exact
IIT 3.0 of small binary networks (:mod:`hal9.metrics.iit`: :func:`sia`, :func:`ces`, :func:`complexes`, as
PyPhi 1.2.0 computes them). Natural logarithms (nats) throughout. Array arguments may be tensors (dtype and
device kept), numpy arrays or nested lists (converted to float64). Builds on :mod:`hal9.core` only.
"""

from hal9.metrics.complexity import ComplexityResult, multi_information, neural_complexity
from hal9.metrics.compression import (
    BoundaryReport,
    compression_boundaries,
    compression_efficiency,
    gaussian_mi_between,
    gaussian_mi_bias,
    participation_ratio,
    reconstruction_r2,
)
from hal9.metrics.gaussian import (
    gaussian_entropy,
    gaussian_mi,
    sample_covariances,
    stationary_cov,
    var1_covariances,
)
from hal9.metrics.geometric import phi_geometric, phi_geometric_batch
from hal9.metrics.iit import (
    ComplexesResult,
    Concept,
    IITNetwork,
    Mice,
    StateUnreachableError,
    SystemCut,
    SystemIrreducibility,
    all_complexes,
    ces,
    complexes,
    major_complex,
    sia,
    sia_batch,
)
from hal9.metrics.integration import (
    CRITERION_ALIASES,
    Criterion,
    IntegrationResult,
    Measure,
    MeasureSpec,
    get_measure,
    integrated_information,
    integrated_information_from_data,
    measure_names,
    register_measure,
    unregister_measure,
)
from hal9.metrics.lz import lempel_ziv, lempel_ziv_2d, lz76_column_counts, lz76_counts
from hal9.metrics.partitions import (
    atomic_partition,
    bipartition_masks,
    mask_to_partition,
    n_bipartitions,
    partition_labels,
    validate_partition,
)
from hal9.metrics.pci import PCI_PARSES, PCIParse, PCIResult, pci_of_network, perturbational_complexity
from hal9.metrics.reporting import MetricsReport, binarize_median, report
from hal9.metrics.similarity import AlignmentResult, adjacent_alignment, layer_cka_matrix, linear_cka
from hal9.metrics.star import mismatched_information, phi_star, phi_star_batch

__all__ = [
    "CRITERION_ALIASES",
    "PCI_PARSES",
    "AlignmentResult",
    "BoundaryReport",
    "ComplexesResult",
    "ComplexityResult",
    "Concept",
    "Criterion",
    "IITNetwork",
    "IntegrationResult",
    "Measure",
    "MeasureSpec",
    "MetricsReport",
    "Mice",
    "PCIParse",
    "PCIResult",
    "StateUnreachableError",
    "SystemCut",
    "SystemIrreducibility",
    "adjacent_alignment",
    "all_complexes",
    "atomic_partition",
    "binarize_median",
    "bipartition_masks",
    "ces",
    "complexes",
    "compression_boundaries",
    "compression_efficiency",
    "gaussian_entropy",
    "gaussian_mi",
    "gaussian_mi_between",
    "gaussian_mi_bias",
    "get_measure",
    "integrated_information",
    "integrated_information_from_data",
    "layer_cka_matrix",
    "lempel_ziv",
    "lempel_ziv_2d",
    "linear_cka",
    "lz76_column_counts",
    "lz76_counts",
    "major_complex",
    "mask_to_partition",
    "measure_names",
    "mismatched_information",
    "multi_information",
    "n_bipartitions",
    "neural_complexity",
    "participation_ratio",
    "partition_labels",
    "pci_of_network",
    "perturbational_complexity",
    "phi_geometric",
    "phi_geometric_batch",
    "phi_star",
    "phi_star_batch",
    "reconstruction_r2",
    "register_measure",
    "report",
    "sample_covariances",
    "sia",
    "sia_batch",
    "stationary_cov",
    "unregister_measure",
    "validate_partition",
    "var1_covariances",
]
