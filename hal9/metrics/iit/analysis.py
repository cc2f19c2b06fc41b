"""Exact IIT 3.0 analyses: cause–effect structure, big Φ with its MIP cut, and complexes.

``sia`` follows PyPhi 1.2.0's ``compute.sia`` with its default configuration:

1. a subsystem that is empty, a single node, or not strongly connected has Φ = 0 (``reason`` says which);
2. the cause–effect structure (CES): for every mechanism, its MIC and MIE (:mod:`._mechanism`); concepts are
the
   mechanisms with ``min(φ_cause, φ_effect) > 0``;
3. every unidirectional cut ``F → T`` (PyPhi's order) replaces the connections from ``F`` to ``T`` by noise.
The
   cut CES is computed over the CES's mechanisms plus every mechanism the cut splits; a MICE of the uncut CES
   is
   reused unless the cut splits its mechanism or severs a connection between its purview and mechanism
   (PyPhi's
   MICE cache — the cut structure is defined by this rule, not by a full recomputation);
4. Φ of a cut is the CES distance (:mod:`._structure`); the MIP cut is the first cut with the smallest Φ, and
   ``tied_cuts`` lists all cuts with that Φ.

All cuts of a subsystem are evaluated as one batch (tables, purview candidates, partitions and EMDs).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from torch import Tensor

from hal9.metrics.iit._indexing import cut_list, index_tables, nodes_of
from hal9.metrics.iit._mechanism import CAUSE, EFFECT, MiceBatch, Stats, find_mice, irreducible_purviews
from hal9.metrics.iit._structure import ConceptData, ces_distances
from hal9.metrics.iit._tables import Tables, build_tables
from hal9.metrics.iit.network import IITNetwork
from hal9.metrics.iit.results import Concept, Mice, Part, SystemCut, SystemIrreducibility

__all__ = ["ces", "sia"]


def _strongly_connected(cm: Tensor) -> bool:
    n = cm.shape[0]
    reach = cm.clone() | torch.eye(n, dtype=torch.bool, device=cm.device)
    for _ in range(max(1, n.bit_length())):
        reach = reach | ((reach.double() @ reach.double()) > 0)
    return bool(reach.all())


class _Engine:
    """One subsystem of a network in a state: its uncut CES and every cut, batched."""

    def __init__(self, network: IITNetwork, nodes: tuple[int, ...], state: tuple[int, ...]) -> None:
        self.network = network
        self.nodes = nodes
        self.state = state
        self.n = len(nodes)
        self.idx = index_tables(self.n, str(network.device))
        sub = network.subsystem_tpm(nodes, state)  # (2^n, n)
        self.on = sub.T.unsqueeze(0).contiguous()  # (1, n, 2^n)
        self.cm = network.cm[list(nodes)][:, list(nodes)]
        self.st = torch.tensor([state[i] for i in nodes], device=network.device)
        self.stats = Stats()
        self.counts: dict[str, int] = {}

    # -- mechanism level -------------------------------------------------------------------------------------
    def _mice(self, tables: Tables, cm: Tensor, tb: Tensor, tm: Tensor, direction: int) -> MiceBatch:
        cand = irreducible_purviews(cm, direction, self.idx)
        return find_mice(tables, cand, tb, tm, direction, self.idx, self.stats)

    def _concept(
        self, mech: int, cause: MiceBatch | None, ci: int, effect: MiceBatch, ei: int
    ) -> ConceptData:
        uncon = self.unconstrained_effect
        epur = int(effect.purview[ei])
        emarg = torch.where(self.idx.bits[epur], effect.repertoire[ei], uncon)
        assert cause is not None
        cphi = float(cause.phi[ci])
        ephi = float(effect.phi[ei])
        return ConceptData(
            mech=mech,
            phi=min(cphi, ephi),
            cpur=int(cause.purview[ci]),
            cphi=cphi,
            crep=cause.repertoire[ci],
            cmip=None if int(cause.mip_m1[ci]) < 0 else (int(cause.mip_m1[ci]), int(cause.mip_p1[ci])),
            epur=epur,
            ephi=ephi,
            emarg=emarg,
            emip=None if int(effect.mip_m1[ei]) < 0 else (int(effect.mip_m1[ei]), int(effect.mip_p1[ei])),
        )

    def uncut_ces(self) -> list[ConceptData]:
        """The CES of the uncut subsystem (mechanisms in powerset order)."""
        cm = self.cm.unsqueeze(0)
        tables = build_tables(self.on, cm, self.st.unsqueeze(0))
        self.unconstrained_effect = tables.effect_on[0, :, 0]
        dev = self.on.device
        mechs = torch.tensor(sorted(range(1, 2**self.n), key=self._mech_order), device=dev)
        tb = torch.zeros_like(mechs)
        eff = self._mice(tables, cm, tb, mechs, EFFECT)
        keep = torch.nonzero(eff.phi > 0).flatten()
        cau = self._mice(tables, cm, tb[keep], mechs[keep], CAUSE)
        out = []
        for j, i in enumerate(keep.tolist()):
            c = self._concept(int(mechs[i]), cau, j, eff, i)
            if c.phi > 0:
                out.append(c)
        self.counts["mechanisms"] = int(mechs.numel())
        return out

    def _mech_order(self, m: int) -> tuple[int, tuple[int, ...]]:
        return (bin(m).count("1"), nodes_of(m))

    # -- cuts ------------------------------------------------------------------------------------------------
    def cut_ces(self, uncut: list[ConceptData], cuts: list[tuple[int, int]]) -> list[list[ConceptData]]:
        """The CES under each cut, with PyPhi's reuse of undamaged MICE."""
        n = self.n
        dev = self.on.device
        bcount = len(cuts)
        bits = self.idx.bits
        f_bits = bits[torch.tensor([f for f, _ in cuts], device=dev)]
        t_bits = bits[torch.tensor([t for _, t in cuts], device=dev)]
        cms = self.cm.unsqueeze(0) & ~(f_bits[:, :, None] & t_bits[:, None, :])
        tables = build_tables(self.on.expand(bcount, -1, -1), cms, self.st.unsqueeze(0).expand(bcount, n))
        by_mech = {c.mech: c for c in uncut}
        plan: list[
            list[tuple[int, ConceptData | None, bool, bool]]
        ] = []  # (mech, uncut concept, redo c, redo e)
        e_tasks: list[tuple[int, int]] = []
        for b, (f, t) in enumerate(cuts):
            split = [m for m in range(1, 2**n) if (m & f) and (m & t)]
            rows: list[tuple[int, ConceptData | None, bool, bool]] = []
            for m in sorted(set(by_mech) | set(split)):
                c = by_mech.get(m)
                is_split = bool((m & f) and (m & t))
                if c is None or is_split:
                    rows.append((m, None, True, True))
                else:
                    redo_c = bool((c.cpur & f) and (m & t))
                    redo_e = bool((m & f) and (c.epur & t))
                    rows.append((m, c, redo_c, redo_e))
                if rows[-1][3]:
                    e_tasks.append((b, m))
            plan.append(rows)
        eff = self._run(tables, cms, e_tasks, EFFECT)
        e_pos = {key: i for i, key in enumerate(e_tasks)}
        c_tasks: list[tuple[int, int]] = []
        for b, rows in enumerate(plan):
            for m, c, redo_c, redo_e in rows:
                ephi = float(eff.phi[e_pos[(b, m)]]) if redo_e else (c.ephi if c is not None else 0.0)
                if redo_c and ephi > 0:
                    c_tasks.append((b, m))
        cau = self._run(tables, cms, c_tasks, CAUSE)
        c_pos = {key: i for i, key in enumerate(c_tasks)}
        out: list[list[ConceptData]] = []
        for b, rows in enumerate(plan):
            concepts: list[ConceptData] = []
            for m, c, redo_c, redo_e in rows:
                if not redo_c and not redo_e and c is not None:
                    concepts.append(c)
                    continue
                if redo_e:
                    ei = e_pos[(b, m)]
                    epur, ephi = int(eff.purview[ei]), float(eff.phi[ei])
                    emarg = torch.where(bits[epur], eff.repertoire[ei], self.unconstrained_effect)
                    emip = None if int(eff.mip_m1[ei]) < 0 else (int(eff.mip_m1[ei]), int(eff.mip_p1[ei]))
                else:
                    assert c is not None
                    epur, ephi, emarg, emip = c.epur, c.ephi, c.emarg, c.emip
                if ephi <= 0:
                    continue
                if redo_c:
                    ci = c_pos[(b, m)]
                    cpur, cphi, crep = int(cau.purview[ci]), float(cau.phi[ci]), cau.repertoire[ci]
                    cmip = None if int(cau.mip_m1[ci]) < 0 else (int(cau.mip_m1[ci]), int(cau.mip_p1[ci]))
                else:
                    assert c is not None
                    cpur, cphi, crep, cmip = c.cpur, c.cphi, c.crep, c.cmip
                phi = min(cphi, ephi)
                if phi > 0:
                    concepts.append(ConceptData(m, phi, cpur, cphi, crep, cmip, epur, ephi, emarg, emip))
            out.append(concepts)
        return out

    def _run(self, tables: Tables, cms: Tensor, tasks: list[tuple[int, int]], direction: int) -> MiceBatch:
        dev = self.on.device
        tb = torch.tensor([b for b, _ in tasks], dtype=torch.long, device=dev)
        tm = torch.tensor([m for _, m in tasks], dtype=torch.long, device=dev)
        return self._mice(tables, cms, tb, tm, direction)

    # -- conversion ------------------------------------------------------------------------------------------
    def to_nodes(self, mask: int) -> tuple[int, ...]:
        return tuple(self.nodes[i] for i in nodes_of(mask))

    def to_concept(self, c: ConceptData) -> Concept:
        k_c = bin(c.cpur).count("1")
        cause = Mice(
            "cause",
            self.to_nodes(c.cpur),
            c.cphi,
            c.crep[: 2**k_c].clone(),
            self._mip(c.mech, c.cpur, c.cmip),
        )
        k_e = bin(c.epur).count("1")
        marg = c.emarg[list(nodes_of(c.epur))]
        states = torch.arange(2**k_e, device=marg.device)
        on = ((states[:, None] >> torch.arange(k_e, device=marg.device)) & 1).bool()
        rep = torch.where(on, marg[None, :], 1 - marg[None, :]).prod(1) if k_e else marg.new_ones(1)
        effect = Mice("effect", self.to_nodes(c.epur), c.ephi, rep, self._mip(c.mech, c.epur, c.emip))
        return Concept(self.to_nodes(c.mech), c.phi, cause, effect)

    def _mip(self, mech: int, pur: int, mip: tuple[int, int] | None) -> tuple[Part, Part] | None:
        if mip is None:
            return None
        m1, p1 = mip
        return ((self.to_nodes(m1), self.to_nodes(p1)), (self.to_nodes(mech ^ m1), self.to_nodes(pur ^ p1)))


def _null(
    nodes: tuple[int, ...], state: tuple[int, ...], reason: str, t0: float, concepts: tuple[Concept, ...] = ()
) -> SystemIrreducibility:
    return SystemIrreducibility(
        phi=0.0,
        nodes=nodes,
        state=state,
        cut=None,
        tied_cuts=(),
        cuts=(),
        cut_phis=(),
        concepts=concepts,
        partitioned_concepts=(),
        counts={},
        seconds=time.perf_counter() - t0,
        reason=reason,
    )


def ces(network: IITNetwork, state: Sequence[int], nodes: Sequence[int] | None = None) -> tuple[Concept, ...]:
    """The cause–effect structure of ``nodes`` (default: all) of ``network`` in ``state``."""
    st = network.check_state(state)
    sub = network.check_nodes(nodes)
    network.check_reachable(sub, st)
    if not sub:
        return ()
    eng = _Engine(network, sub, st)
    return tuple(eng.to_concept(c) for c in eng.uncut_ces())


def sia(
    network: IITNetwork, state: Sequence[int], nodes: Sequence[int] | None = None
) -> SystemIrreducibility:
    """Big Φ of ``nodes`` (default: all) of ``network`` in ``state``, with the MIP cut and every tied cut.

    Raises ``ValueError`` naming ``state`` or ``nodes`` for a bad value, and :class:`StateUnreachableError`
    for a
    state no previous state leads to.
    """
    t0 = time.perf_counter()
    st = network.check_state(state)
    sub = network.check_nodes(nodes)
    network.check_reachable(sub, st)
    if not sub:
        return _null(sub, st, "empty subsystem", t0)
    cm = network.cm[list(sub)][:, list(sub)]
    if not _strongly_connected(cm):
        return _null(sub, st, "not strongly connected", t0)
    if len(sub) == 1:
        return _null(sub, st, "a single node has no Φ", t0)
    eng = _Engine(network, sub, st)
    uncut = eng.uncut_ces()
    if not uncut:
        return _null(sub, st, "empty cause-effect structure", t0)
    cuts = cut_list(eng.n)
    cut_structs = eng.cut_ces(uncut, cuts)
    phis, ndist = ces_distances(uncut, cut_structs, eng.unconstrained_effect, eng.idx)
    best = min(phis)
    first = phis.index(best)
    system_cuts = tuple(SystemCut(eng.to_nodes(f), eng.to_nodes(t)) for f, t in cuts)
    counts = dict(eng.counts)
    counts.update({k: int(v) for k, v in vars(eng.stats).items()})
    counts.update({"cuts": len(cuts), "concept_distances": ndist, "concepts": len(uncut)})
    return SystemIrreducibility(
        phi=best,
        nodes=sub,
        state=st,
        cut=system_cuts[first],
        tied_cuts=tuple(c for c, p in zip(system_cuts, phis, strict=True) if p == best),
        cuts=system_cuts,
        cut_phis=tuple(phis),
        concepts=tuple(eng.to_concept(c) for c in uncut),
        partitioned_concepts=tuple(eng.to_concept(c) for c in cut_structs[first]),
        counts=counts,
        seconds=time.perf_counter() - t0,
    )
