"""hal9.metrics — integration, complexity and compression measures, each checked against a reference.

Integrated information of linear-Gaussian VAR(1) systems (time-delayed MI, Φ_WMS, Φ_R, stochastic
interaction, Φ_G, Φ*) with exhaustive or heuristic minimum-information-bipartition search; Lempel–Ziv
(LZ76) and the perturbational complexity index; multi-information and neural complexity; linear CKA
between layers; compression measures per layer boundary; and one :func:`report` of a simulated run.
Natural logarithms (nats) throughout. Builds on :mod:`hal9.core` only.
"""

from hal9.metrics.complexity import ComplexityResult, multi_information, neural_complexity
from hal9.metrics.compression import (
    BoundaryReport,
    compression_boundaries,
    compression_efficiency,
    gaussian_mi_between,
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
from hal9.metrics.integration import (
    IntegrationResult,
    integrated_information,
    integrated_information_from_data,
)
from hal9.metrics.lz import lempel_ziv, lz76_counts
from hal9.metrics.partitions import bipartition_masks, n_bipartitions, validate_partition
from hal9.metrics.pci import PCIResult, pci_of_network, perturbational_complexity
from hal9.metrics.reporting import MetricsReport, report
from hal9.metrics.similarity import AlignmentResult, adjacent_alignment, layer_cka_matrix, linear_cka
from hal9.metrics.star import mismatched_information, phi_star, phi_star_batch

__all__ = [
    "AlignmentResult",
    "BoundaryReport",
    "ComplexityResult",
    "IntegrationResult",
    "MetricsReport",
    "PCIResult",
    "adjacent_alignment",
    "bipartition_masks",
    "compression_boundaries",
    "compression_efficiency",
    "gaussian_entropy",
    "gaussian_mi",
    "gaussian_mi_between",
    "integrated_information",
    "integrated_information_from_data",
    "layer_cka_matrix",
    "lempel_ziv",
    "linear_cka",
    "lz76_counts",
    "mismatched_information",
    "multi_information",
    "n_bipartitions",
    "neural_complexity",
    "participation_ratio",
    "pci_of_network",
    "perturbational_complexity",
    "phi_geometric",
    "phi_geometric_batch",
    "phi_star",
    "phi_star_batch",
    "reconstruction_r2",
    "report",
    "sample_covariances",
    "stationary_cov",
    "validate_partition",
    "var1_covariances",
]
