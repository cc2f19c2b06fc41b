"""Cause–effect structures and the distance between two of them (IIT 3.0's extended EMD), batched over cuts.

Definitions follow PyPhi 1.2.0 (``compute.distance``):

* **concept distance** ``d(c1, c2)`` = Hamming EMD between the cause repertoires, both expanded (times the
  uniform distribution over the missing nodes) to the union of the two cause purviews, plus the same for the
  effect repertoires (expanded with the unconstrained effect repertoire; products, so the closed form
  applies);
* the **null concept** of a system has the uniform cause repertoire and the unconstrained effect repertoire;
* **CES distance**: concepts present in both structures (same mechanism, φ and repertoires) are set aside. If
  one side then has no concept left, the distance is ``Σ φ(c) · d(c, null)`` over the concepts left in the
  structure with more concepts. Otherwise it is the EMD between the φ values of the remaining concepts of the
  first structure (plus the null concept) and those of the second (plus the null concept, carrying the
  difference of total φ), with ground distance ``d``, transport within one structure being forbidden; when the
  second structure has more total φ, the excess starts at the first structure's null concept (which is what
  PyPhi's EMD solver does with the negative mass it is given). The result is rounded to 6 decimals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from hal9.metrics.iit._indexing import Index
from hal9.metrics.iit._rounding import round_numpy, round_python
from hal9.metrics.iit.emd import hamming_emd, hamming_emd_cheap_bound, transport_plan

__all__ = ["ConceptData", "ces_distances", "same_concept"]


@dataclass(frozen=True, eq=False)
class ConceptData:
    """One concept inside the engine (masks over the subsystem's local nodes).

    ``crep``: cause repertoire ``(2**n,)`` LOLI over the cause purview, zero-padded; ``emarg``: ``(n,)``
    per-node ON probabilities of the effect repertoire, with the unconstrained values outside the effect
    purview.
    """

    mech: int
    phi: float
    cpur: int
    cphi: float
    crep: Tensor
    cmip: tuple[int, int] | None
    epur: int
    ephi: float
    emarg: Tensor
    emip: tuple[int, int] | None


def same_concept(a: ConceptData, b: ConceptData) -> bool:
    """PyPhi's ``Concept.emd_eq``: same mechanism, φ and repertoires."""
    if a is b:
        return True
    return (
        a.mech == b.mech
        and a.phi == b.phi
        and a.cpur == b.cpur
        and a.epur == b.epur
        and bool(torch.equal(a.crep, b.crep))
        and bool(torch.equal(a.emarg, b.emarg))
    )


class _Distances:
    """Concept distances, computed in batches and cached by concept identity.

    :meth:`bound_all` gives lower bounds (the effect part exact, the cause part ``max(Σ|Δ marginal|, TV)``
    for purview unions of 4 or more nodes, exact below); :meth:`make_exact` the exact distances. Exact cause
    parts of 4 nodes use the dual vertices, of 5 or more the network simplex.
    """

    def __init__(self, idx: Index, unconstrained_effect: Tensor) -> None:
        self.idx = idx
        self.uncon = unconstrained_effect
        self.pairs: list[tuple[ConceptData, ConceptData | None]] = []
        self.key: dict[tuple[int, int], int] = {}
        self.value: list[float] = []  # current value (exact or lower bound)
        self.is_exact: list[bool] = []
        self.pending = 0  # pairs registered but not yet bounded

    def request(self, a: ConceptData, b: ConceptData | None) -> int:
        key = (id(a), 0 if b is None else id(b))
        got = self.key.get(key)
        if got is not None:
            return got
        self.pairs.append((a, b))
        self.value.append(float("nan"))
        self.is_exact.append(False)
        self.key[key] = len(self.pairs) - 1
        return len(self.pairs) - 1

    def _repertoires(self, ids: list[int]) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Cause repertoires and purviews of both sides, and the (exact) effect distance."""
        pairs = [self.pairs[i] for i in ids]
        dev = self.uncon.device
        a_rep = torch.stack([a.crep for a, _ in pairs])
        empty = torch.zeros_like(pairs[0][0].crep)
        empty[0] = 1.0  # the null concept's cause repertoire over the empty purview: [1]
        b_rep = torch.stack([empty if b is None else b.crep for _, b in pairs])
        a_pur = torch.tensor([a.cpur for a, _ in pairs], device=dev)
        b_pur = torch.tensor([0 if b is None else b.cpur for _, b in pairs], device=dev)
        ea = torch.stack([a.emarg for a, _ in pairs])
        eb = torch.stack([self.uncon if b is None else b.emarg for _, b in pairs])
        return a_rep, b_rep, a_pur, b_pur, (ea - eb).abs().sum(1)

    def _compute(self, ids: list[int], exact: bool) -> None:
        if not ids:
            return
        idx = self.idx
        a_rep, b_rep, a_pur, b_pur, eff = self._repertoires(ids)
        union = a_pur | b_pur
        k_all = idx.popcount[union]
        cause = torch.zeros(len(ids), dtype=a_rep.dtype, device=a_rep.device)
        sure = torch.ones(len(ids), dtype=torch.bool, device=a_rep.device)
        for k in torch.unique(k_all).tolist():
            sel = torch.nonzero(k_all == k).flatten()
            xs = idx.deposit[union[sel]][:, : 2**k]
            ra = a_rep[sel].gather(1, idx.compress[a_pur[sel]].gather(1, xs & a_pur[sel][:, None]))
            ra = ra / (2.0 ** (k - idx.popcount[a_pur[sel]])).to(ra.dtype)[:, None]
            rb = b_rep[sel].gather(1, idx.compress[b_pur[sel]].gather(1, xs & b_pur[sel][:, None]))
            rb = rb / (2.0 ** (k - idx.popcount[b_pur[sel]])).to(rb.dtype)[:, None]
            if exact or k <= 3:
                cause[sel] = hamming_emd(ra, rb)
            else:
                cause[sel] = hamming_emd_cheap_bound(ra, rb)
                sure[sel] = False
        total = (cause + eff).double().cpu().tolist()
        flags = sure.cpu().tolist()
        for j, i in enumerate(ids):
            self.value[i] = total[j]
            self.is_exact[i] = bool(flags[j])

    def bound_all(self) -> None:
        """Lower bounds (or exact values when cheap) of every pair not computed yet."""
        todo = [i for i in range(len(self.pairs)) if self.value[i] != self.value[i]]
        self._compute(todo, exact=False)

    def make_exact(self, ids: list[int]) -> None:
        """Exact values of ``ids``."""
        self._compute(sorted({i for i in ids if not self.is_exact[i]}), exact=True)


def ces_distances(
    uncut: list[ConceptData], cut_ces: list[list[ConceptData]], unconstrained_effect: Tensor, idx: Index
) -> tuple[list[float], int]:
    """Rounded CES distance between ``uncut`` and each structure of ``cut_ces``; also the number of concept
    distances computed exactly.

    ``unconstrained_effect``: ``(n,)`` ON probabilities of the unconstrained effect repertoire (the null
    concept's). The transport problems are solved with lazily exact costs: solve with lower bounds where the
    exact distance is not known yet, compute the exact distances the optimal plan uses, repeat until it uses
    exact ones only (then the plan is optimal for the exact costs, every other cost being at least its bound).
    """
    dist = _Distances(idx, unconstrained_effect)
    results: list[float | None] = []
    problems: list[tuple[int, np.ndarray, np.ndarray, list[list[int]], list[int]]] = []
    simple: list[tuple[int, list[tuple[float, int]]]] = []
    numpy_sum: dict[int, bool] = {}
    for j, c2_all in enumerate(cut_ces):
        only1 = [c for c in uncut if not any(same_concept(c, d) for d in c2_all)]
        only2 = [d for d in c2_all if not any(same_concept(d, c) for c in uncut)]
        results.append(None)
        if not only1 or not only2:
            bigger, smaller = (c2_all, uncut) if len(c2_all) > len(uncut) else (uncut, c2_all)
            destroyed = [c for c in bigger if not any(same_concept(c, d) for d in smaller)]
            simple.append((j, [(c.phi, dist.request(c, None)) for c in destroyed]))
            numpy_sum[j] = any(c.ephi < c.cphi for c in destroyed)
            continue
        pair_ids = [[dist.request(a, b) for b in only2] for a in only1]
        null_ids = [dist.request(c, None) for c in only1 + only2]
        d1 = np.array([c.phi for c in only1] + [0.0] * len(only2) + [0.0])
        d2 = np.array([0.0] * len(only1) + [c.phi for c in only2] + [0.0])
        residual = d1.sum() - d2.sum()
        if residual >= 0:
            d2[-1] = residual
        else:
            d1[-1] = -residual
        problems.append((j, d1, d2, pair_ids, null_ids))
    dist.bound_all()
    dist.make_exact([i for _, plan in simple for _, i in plan] + [i for p in problems for i in p[4]])
    for j, plan in simple:
        total = sum(phi * dist.value[i] for phi, i in plan)
        # PyPhi's sum is a NumPy scalar (rounded the NumPy way) when a concept's φ came from its effect side.
        results[j] = round_numpy(total) if numpy_sum[j] else round_python(total)
    open_problems = problems
    while open_problems:
        needed: list[int] = []
        still = []
        values = np.array(dist.value)
        exact_now = np.array(dist.is_exact)
        for j, d1, d2, pair_ids, null_ids in open_problems:
            n1, n2 = len(pair_ids), len(null_ids) - len(pair_ids)
            ids = np.array(pair_ids, dtype=np.int64).reshape(n1, n2)
            d = values[ids]
            dn = values[np.array(null_ids, dtype=np.int64)]
            size = n1 + n2 + 1
            cost = np.full((size, size), d.max() + 1)
            cost[:n1, n1:-1] = d
            cost[n1:-1, :n1] = d.T
            cost[-1, :-1] = dn
            cost[:-1, -1] = dn
            cost[-1, -1] = 0.0
            rows, cols = d1 > 0, d2 > 0
            value, flow = transport_plan(d1[rows], d2[cols], cost[np.ix_(rows, cols)])
            full = np.zeros((size, size))
            full[np.ix_(rows, cols)] = flow
            used = full[:n1, n1:-1] > 0
            inexact = [int(i) for i in ids[used & ~exact_now[ids]]]
            if inexact:
                needed.extend(inexact)
                still.append((j, d1, d2, pair_ids, null_ids))
            else:
                results[j] = round_python(value)
        dist.make_exact(needed)
        open_problems = still
    return [float(r) for r in results if r is not None], sum(dist.is_exact)
