"""Typed results of exact IIT 3.0: MICE, concepts, system cuts, system irreducibility analyses and complexes.

Node indices are the network's (not the subsystem's). Repertoires are 1-D tensors over the purview's states in
LOLI order (bit ``i`` of the index = the ``i``-th purview node, in increasing node order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

__all__ = ["ComplexesResult", "Concept", "Mice", "SystemCut", "SystemIrreducibility"]

#: ``method`` of every result: what was computed and how.
METHOD = "IIT 3.0 as PyPhi 1.2.0 (EMD, BI partitions, 3.0_STYLE cuts, precision 6), exact"

Part = tuple[tuple[int, ...], tuple[int, ...]]


@dataclass(frozen=True)
class Mice:
    """A maximally irreducible cause or effect: ``direction`` is ``"cause"`` or ``"effect"``.

    ``mip`` is the minimum-information partition ``((M1, P1), (M2, P2))`` (``None`` when φ = 0 for lack of
    candidate purviews or an unreachable state).
    """

    direction: str
    purview: tuple[int, ...]
    phi: float
    repertoire: Tensor
    mip: tuple[Part, Part] | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "direction": self.direction,
            "purview": list(self.purview),
            "phi": self.phi,
            "repertoire": [float(x) for x in self.repertoire.tolist()],
            "mip": None if self.mip is None else [[list(m), list(p)] for m, p in self.mip],
        }


@dataclass(frozen=True)
class Concept:
    """A mechanism's concept: its MIC and MIE, ``phi = min(cause.phi, effect.phi) > 0``."""

    mechanism: tuple[int, ...]
    phi: float
    cause: Mice
    effect: Mice

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "mechanism": list(self.mechanism),
            "phi": self.phi,
            "cause": self.cause.to_dict(),
            "effect": self.effect.to_dict(),
        }


@dataclass(frozen=True)
class SystemCut:
    """A unidirectional cut: the connections from ``from_nodes`` to ``to_nodes`` are replaced by noise."""

    from_nodes: tuple[int, ...]
    to_nodes: tuple[int, ...]

    def __str__(self) -> str:
        return f"{list(self.from_nodes)} -> {list(self.to_nodes)}"

    def to_dict(self) -> dict[str, list[int]]:
        """JSON-ready form."""
        return {"from": list(self.from_nodes), "to": list(self.to_nodes)}


@dataclass(frozen=True)
class SystemIrreducibility:
    """Big Φ of a subsystem at its minimum-information cut (PyPhi's ``SystemIrreducibilityAnalysis``).

    Attributes
    ----------
    phi:
        Φ, the extended EMD between the cause–effect structure and the one under the MIP cut, rounded to 6
        decimals; 0 for an empty, not strongly connected or single-node subsystem, or an empty CES
        (``reason``).
    nodes, state:
        The subsystem's nodes (network indices) and the network's state.
    cut:
        The MIP cut: the first cut, in PyPhi's order, with the minimal Φ (``None`` if no cut was evaluated).
    tied_cuts:
        Every cut whose Φ equals the minimum (the MIP cut included).
    cut_phis:
        Φ of every cut evaluated, in PyPhi's order (``cuts`` gives the cuts).
    concepts:
        The (unpartitioned) cause–effect structure, in mechanism powerset order.
    partitioned_concepts:
        The cause–effect structure under the MIP cut.
    counts:
        What was evaluated: mechanisms, purviews, partitions, EMDs by method, cuts, concept distances.
    seconds:
        Wall time of the analysis.
    """

    phi: float
    nodes: tuple[int, ...]
    state: tuple[int, ...]
    cut: SystemCut | None
    tied_cuts: tuple[SystemCut, ...]
    cuts: tuple[SystemCut, ...]
    cut_phis: tuple[float, ...]
    concepts: tuple[Concept, ...]
    partitioned_concepts: tuple[Concept, ...]
    counts: dict[str, int]
    seconds: float
    reason: str | None = None
    method: str = field(default=METHOD)

    @property
    def sum_small_phi(self) -> float:
        """Σ φ over the concepts."""
        return float(sum(c.phi for c in self.concepts))

    def to_dict(self, *, concepts: bool = True) -> dict[str, Any]:
        """JSON-ready form (with the concepts unless ``concepts=False``)."""
        out: dict[str, Any] = {
            "phi": self.phi,
            "nodes": list(self.nodes),
            "state": list(self.state),
            "cut": None if self.cut is None else self.cut.to_dict(),
            "tied_cuts": [c.to_dict() for c in self.tied_cuts],
            "cut_phis": [
                {"cut": c.to_dict(), "phi": p} for c, p in zip(self.cuts, self.cut_phis, strict=True)
            ],
            "n_concepts": len(self.concepts),
            "sum_small_phi": self.sum_small_phi,
            "counts": dict(self.counts),
            "seconds": self.seconds,
            "reason": self.reason,
            "method": self.method,
        }
        if concepts:
            out["concepts"] = [c.to_dict() for c in self.concepts]
        return out


@dataclass(frozen=True)
class ComplexesResult:
    """Every irreducible complex (Φ > 0) of a network in a state, and the major complex.

    ``major`` is the complex with the largest Φ (ties: the larger subsystem, then the larger node tuple —
    PyPhi's ordering), or ``None`` when no subsystem has Φ > 0. ``evaluated`` counts the subsystems analysed
    and ``unreachable`` those skipped because their state cannot be reached.
    """

    complexes: tuple[SystemIrreducibility, ...]
    major: SystemIrreducibility | None
    evaluated: int
    unreachable: int
    seconds: float
    method: str = field(default=METHOD)

    @property
    def phi(self) -> float:
        """Φ of the major complex (0 if there is none)."""
        return 0.0 if self.major is None else self.major.phi

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (complexes without their concepts)."""
        return {
            "major": None if self.major is None else self.major.to_dict(concepts=False),
            "complexes": [c.to_dict(concepts=False) for c in self.complexes],
            "evaluated": self.evaluated,
            "unreachable": self.unreachable,
            "seconds": self.seconds,
            "method": self.method,
        }
