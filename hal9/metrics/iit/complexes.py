"""Complexes: Φ of every subsystem of a network in a state (PyPhi 1.2.0 ``compute.network``).

* :func:`all_complexes` — :func:`~hal9.metrics.iit.analysis.sia` of every non-empty subsystem whose state is
  reachable (Φ = 0 ones included);
* :func:`complexes` — the subsystems of the causally significant nodes (those with an input and an output)
  with Φ > 0;
* :func:`major_complex` — the complex with the largest Φ; ties go to the larger subsystem, then to the larger
  node tuple (PyPhi orders analyses by ``[Φ, len(nodes), nodes]``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

from hal9.metrics.iit.analysis import sia_batch
from hal9.metrics.iit.network import IITNetwork
from hal9.metrics.iit.results import ComplexesResult, SystemIrreducibility

__all__ = ["all_complexes", "complexes", "major_complex"]


def _subsets(nodes: Sequence[int]) -> list[tuple[int, ...]]:
    """PyPhi's ``powerset(nodes, nonempty=True, reverse=True)``: largest first, combinations of the reversed
    node list (each subsystem's nodes then sorted, as ``Subsystem`` does)."""
    rev = list(reversed(list(nodes)))
    return [tuple(sorted(c)) for r in range(len(rev), 0, -1) for c in itertools.combinations(rev, r)]


def _analyse(
    network: IITNetwork, state: tuple[int, ...], candidates: Sequence[int], progress: bool = False
) -> tuple[list[SystemIrreducibility], int]:
    """``sia`` of every subset of ``candidates`` in a reachable state (one batch per subsystem size)."""
    subsets = _subsets(candidates)
    reachable = [nodes for nodes in subsets if network.is_reachable(nodes, state)]
    results = sia_batch([(network, state, nodes) for nodes in reachable], progress=progress)
    return results, len(subsets) - len(reachable)


def _order(r: SystemIrreducibility) -> tuple[float, int, tuple[int, ...]]:
    return (r.phi, len(r.nodes), r.nodes)


def all_complexes(network: IITNetwork, state: Sequence[int]) -> list[SystemIrreducibility]:
    """``sia`` of every non-empty subsystem in a reachable state (largest subsystems first)."""
    st = network.check_state(state)
    return _analyse(network, st, range(network.size))[0]


def complexes(network: IITNetwork, state: Sequence[int], *, progress: bool = False) -> ComplexesResult:
    """Every irreducible complex (Φ > 0) among the causally significant nodes, and the major complex.

    ``progress`` shows a progress bar over the subsystems (stderr).
    """
    t0 = time.perf_counter()
    st = network.check_state(state)
    results, skipped = _analyse(network, st, network.causally_significant_nodes(), progress)
    found = tuple(r for r in results if r.phi > 0)
    major = max(found, key=_order) if found else None
    return ComplexesResult(
        complexes=found,
        major=major,
        evaluated=len(results),
        unreachable=skipped,
        seconds=time.perf_counter() - t0,
    )


def major_complex(network: IITNetwork, state: Sequence[int]) -> SystemIrreducibility | None:
    """The complex with the largest Φ, or ``None`` when no subsystem has Φ > 0."""
    return complexes(network, state).major
