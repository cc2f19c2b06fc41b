"""Exact IIT 3.0 for small binary networks, batched on torch (PyPhi 1.2.0's answers).

* :class:`IITNetwork` — a validated TPM (state-by-node, LOLI; or state-by-state) and connectivity;
* :func:`ces` — the cause–effect structure (concepts with their MIC and MIE);
* :func:`sia` — big Φ, the MIP cut and every tied cut; :func:`sia_batch` — many networks/states at once;
* :func:`complexes` — every irreducible complex and the major complex;
* :mod:`.emd` — the exact Hamming EMD (closed form, LP-dual vertices, network simplex);
* :mod:`.examples` — published networks (PyPhi's basic network, Oizumi et al. Fig. 4, XOR, rule 110).

See docs/metrics.md, "Exact IIT 3.0".
"""

from hal9.metrics.iit.analysis import ces, sia, sia_batch
from hal9.metrics.iit.complexes import all_complexes, complexes, major_complex
from hal9.metrics.iit.network import MAX_NODES, IITNetwork, StateUnreachableError
from hal9.metrics.iit.results import ComplexesResult, Concept, Mice, SystemCut, SystemIrreducibility

__all__ = [
    "MAX_NODES",
    "ComplexesResult",
    "Concept",
    "IITNetwork",
    "Mice",
    "StateUnreachableError",
    "SystemCut",
    "SystemIrreducibility",
    "all_complexes",
    "ces",
    "complexes",
    "major_complex",
    "sia",
    "sia_batch",
]
