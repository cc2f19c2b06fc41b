"""Exact IIT 3.0 analyses: cause–effect structure, big Φ with its MIP cut, many systems at once.

:func:`sia` follows PyPhi 1.2.0's ``compute.sia`` with its default configuration:

1. a subsystem that is empty, a single node, or not strongly connected has Φ = 0 (``reason`` says which);
2. the cause–effect structure (CES): for every mechanism its MIC and MIE (:mod:`._mechanism`); the concepts
   are the mechanisms with ``min(φ_cause, φ_effect) > 0``;
3. every unidirectional cut ``F → T`` (PyPhi's order) replaces the connections from ``F`` to ``T`` by noise.
   The cut CES is computed over the CES's mechanisms plus every mechanism the cut splits. A MICE of the uncut
   CES is reused unless the cut splits its mechanism or severs a connection between its purview and mechanism
   (PyPhi's MICE cache: the cut structure is defined by this rule, not by a full recomputation);
4. Φ of a cut is the CES distance (:mod:`._structure`); the MIP cut is the first cut with the smallest Φ and
   ``tied_cuts`` lists every cut with that Φ.

:func:`sia_batch` analyses many (network, state, subsystem) items at once: items with subsystems of the same
size share one batch — their repertoire tables, purview candidates, partitions and EMDs are stacked, and so
are all the cuts of all of them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from hal9.metrics.iit._indexing import Index, cut_list, index_tables, nodes_of
from hal9.metrics.iit._mechanism import CAUSE, EFFECT, MiceBatch, Stats, find_mice, irreducible_purviews
from hal9.metrics.iit._structure import ConceptData, ces_distances
from hal9.metrics.iit._tables import Tables, build_tables
from hal9.metrics.iit.network import IITNetwork
from hal9.metrics.iit.results import Concept, Mice, Part, SystemCut, SystemIrreducibility

__all__ = ["ces", "sia", "sia_batch"]

#: Numbers held by the repertoire tables of one batch of cut systems (64 MB in float64; a few times that at
#: peak).
TABLE_BUDGET = 8_000_000

Item = tuple[IITNetwork, Sequence[int]] | tuple[IITNetwork, Sequence[int], Sequence[int] | None]


def _strongly_connected(cm: Tensor) -> bool:
    n = cm.shape[0]
    reach = cm.clone() | torch.eye(n, dtype=torch.bool, device=cm.device)
    for _ in range(max(1, n.bit_length())):
        reach = reach | ((reach.double() @ reach.double()) > 0)
    return bool(reach.all())


@dataclass(frozen=True)
class _System:
    """One subsystem in one state: its conditioned TPM ``on`` ``(n, 2**n)``, ``cm`` ``(n, n)`` and state."""

    nodes: tuple[int, ...]
    state: tuple[int, ...]
    on: Tensor
    cm: Tensor
    st: Tensor

    @classmethod
    def of(cls, network: IITNetwork, nodes: tuple[int, ...], state: tuple[int, ...]) -> _System:
        sub = network.subsystem_tpm(nodes, state)
        cm = network.cm[list(nodes)][:, list(nodes)]
        st = torch.tensor([state[i] for i in nodes], device=network.device)
        return cls(nodes, state, sub.T.contiguous(), cm, st)

    def to_nodes(self, mask: int) -> tuple[int, ...]:
        return tuple(self.nodes[i] for i in nodes_of(mask))


def _mech_order(mask: int) -> tuple[int, tuple[int, ...]]:
    """PyPhi's powerset order of mechanisms: by size, then lexicographic."""
    return (bin(mask).count("1"), nodes_of(mask))


def _mip(sys: _System, mech: int, pur: int, mip: tuple[int, int] | None) -> tuple[Part, Part] | None:
    if mip is None:
        return None
    m1, p1 = mip
    return ((sys.to_nodes(m1), sys.to_nodes(p1)), (sys.to_nodes(mech ^ m1), sys.to_nodes(pur ^ p1)))


def _public(sys: _System, c: ConceptData) -> Concept:
    """The typed :class:`Concept` of an engine concept (network node indices, full effect repertoire)."""
    k_c = bin(c.cpur).count("1")
    cause = Mice(
        "cause", sys.to_nodes(c.cpur), c.cphi, c.crep[: 2**k_c].clone(), _mip(sys, c.mech, c.cpur, c.cmip)
    )
    k_e = bin(c.epur).count("1")
    marg = c.emarg[list(nodes_of(c.epur))]
    states = torch.arange(2**k_e, device=marg.device)
    on = ((states[:, None] >> torch.arange(k_e, device=marg.device)) & 1).bool()
    rep = torch.where(on, marg[None, :], 1 - marg[None, :]).prod(1) if k_e else marg.new_ones(1)
    effect = Mice("effect", sys.to_nodes(c.epur), c.ephi, rep, _mip(sys, c.mech, c.epur, c.emip))
    return Concept(sys.to_nodes(c.mech), c.phi, cause, effect)


class _Engine:
    """Systems of one size ``n`` on one device: their uncut CES and all their cuts, batched."""

    def __init__(self, systems: list[_System]) -> None:
        self.systems = systems
        self.n = len(systems[0].nodes)
        device = systems[0].on.device
        self.idx: Index = index_tables(self.n, str(device))
        self.on = torch.stack([s.on for s in systems])  # (S, n, 2^n)
        self.cm = torch.stack([s.cm for s in systems])  # (S, n, n)
        self.st = torch.stack([s.st for s in systems])  # (S, n)
        self.stats = Stats()
        self.uncon = self.on.new_zeros(len(systems), self.n)

    def _mice(self, tables: Tables, cm: Tensor, tb: Tensor, tm: Tensor, direction: int) -> MiceBatch:
        cand = irreducible_purviews(cm, direction, self.idx)
        return find_mice(tables, cand, tb, tm, direction, self.idx, self.stats)

    def _concept(self, s: int, mech: int, cau: MiceBatch, ci: int, eff: MiceBatch, ei: int) -> ConceptData:
        epur = int(eff.purview[ei])
        cphi, ephi = float(cau.phi[ci]), float(eff.phi[ei])
        return ConceptData(
            mech=mech,
            phi=min(cphi, ephi),
            cpur=int(cau.purview[ci]),
            cphi=cphi,
            crep=cau.repertoire[ci],
            cmip=None if int(cau.mip_m1[ci]) < 0 else (int(cau.mip_m1[ci]), int(cau.mip_p1[ci])),
            epur=epur,
            ephi=ephi,
            emarg=torch.where(self.idx.bits[epur], eff.repertoire[ei], self.uncon[s]),
            emip=None if int(eff.mip_m1[ei]) < 0 else (int(eff.mip_m1[ei]), int(eff.mip_p1[ei])),
        )

    def uncut(self) -> list[list[ConceptData]]:
        """The CES of every system (mechanisms in powerset order)."""
        size = 2**self.n
        dev = self.on.device
        tables = build_tables(self.on, self.cm, self.st)
        self.uncon = tables.effect_on[:, :, 0]
        order = sorted(range(1, size), key=_mech_order)
        mechs = torch.tensor(order, device=dev).repeat(len(self.systems))
        tb = torch.arange(len(self.systems), device=dev).repeat_interleave(size - 1)
        eff = self._mice(tables, self.cm, tb, mechs, EFFECT)
        keep = torch.nonzero(eff.phi > 0).flatten()
        cau = self._mice(tables, self.cm, tb[keep], mechs[keep], CAUSE)
        out: list[list[ConceptData]] = [[] for _ in self.systems]
        for j, i in enumerate(keep.tolist()):
            s = i // (size - 1)
            c = self._concept(s, int(mechs[i]), cau, j, eff, i)
            if c.phi > 0:
                out[s].append(c)
        return out

    def cut_structures(
        self, uncut: list[list[ConceptData]], which: list[int]
    ) -> dict[int, list[list[ConceptData]]]:
        """The CES of systems ``which`` under each of their cuts (chunks of at most :data:`TABLE_BUDGET`)."""
        n, size = self.n, 2**self.n
        cuts = cut_list(n)
        per_system = size * 3**n + size * size * n + n * size
        flat = [(s, c) for s in which for c in range(len(cuts))]
        step = max(1, TABLE_BUDGET // per_system)
        out: dict[int, list[list[ConceptData]]] = {s: [[] for _ in cuts] for s in which}
        for start in range(0, len(flat), step):
            chunk = flat[start : start + step]
            for (s, c), concepts in zip(chunk, self._cut_chunk(uncut, chunk, cuts), strict=True):
                out[s][c] = concepts
        return out

    def _cut_chunk(
        self, uncut: list[list[ConceptData]], chunk: list[tuple[int, int]], cuts: list[tuple[int, int]]
    ) -> list[list[ConceptData]]:
        size = 2**self.n
        dev = self.on.device
        bits = self.idx.bits
        sys_idx = torch.tensor([s for s, _ in chunk], device=dev)
        f_bits = bits[torch.tensor([cuts[c][0] for _, c in chunk], device=dev)]
        t_bits = bits[torch.tensor([cuts[c][1] for _, c in chunk], device=dev)]
        cms = self.cm[sys_idx] & ~(f_bits[:, :, None] & t_bits[:, None, :])
        tables = build_tables(self.on[sys_idx], cms, self.st[sys_idx])
        plan: list[list[tuple[int, ConceptData | None, bool, bool]]] = []  # (mech, uncut concept, redo c/e)
        e_tasks: list[tuple[int, int]] = []
        for b, (s, c) in enumerate(chunk):
            f, t = cuts[c]
            by_mech = {x.mech: x for x in uncut[s]}
            split = [m for m in range(1, size) if (m & f) and (m & t)]
            rows: list[tuple[int, ConceptData | None, bool, bool]] = []
            for m in sorted(set(by_mech) | set(split)):
                old = by_mech.get(m)
                if old is None or ((m & f) and (m & t)):
                    rows.append((m, None, True, True))
                else:
                    rows.append((m, old, bool((old.cpur & f) and (m & t)), bool((m & f) and (old.epur & t))))
                if rows[-1][3]:
                    e_tasks.append((b, m))
            plan.append(rows)
        eff = self._run(tables, cms, e_tasks, EFFECT)
        e_pos = {key: i for i, key in enumerate(e_tasks)}
        e_phi_now = eff.phi.tolist()
        c_tasks: list[tuple[int, int]] = []
        for b, rows in enumerate(plan):
            for m, old, redo_c, redo_e in rows:
                ephi = e_phi_now[e_pos[(b, m)]] if redo_e else (old.ephi if old is not None else 0.0)
                if redo_c and ephi > 0:
                    c_tasks.append((b, m))
        cau = self._run(tables, cms, c_tasks, CAUSE)
        c_pos = {key: i for i, key in enumerate(c_tasks)}
        # One conversion per batch instead of one tensor operation per concept.
        e_sys = torch.tensor([chunk[b][0] for b, _ in e_tasks], dtype=torch.long, device=dev)
        e_marg = (
            torch.where(bits[eff.purview], eff.repertoire, self.uncon[e_sys]) if e_tasks else eff.repertoire
        )
        e_pur, e_phi = eff.purview.tolist(), eff.phi.tolist()
        e_m1, e_p1 = eff.mip_m1.tolist(), eff.mip_p1.tolist()
        c_pur, c_phi = cau.purview.tolist(), cau.phi.tolist()
        c_m1, c_p1 = cau.mip_m1.tolist(), cau.mip_p1.tolist()
        out: list[list[ConceptData]] = []
        for b, rows in enumerate(plan):
            concepts: list[ConceptData] = []
            for m, old, redo_c, redo_e in rows:
                if old is not None and not redo_c and not redo_e:
                    concepts.append(old)
                    continue
                if redo_e:
                    ei = e_pos[(b, m)]
                    epur, ephi, emarg = e_pur[ei], e_phi[ei], e_marg[ei]
                    emip = None if e_m1[ei] < 0 else (e_m1[ei], e_p1[ei])
                else:
                    assert old is not None
                    epur, ephi, emarg, emip = old.epur, old.ephi, old.emarg, old.emip
                if ephi <= 0:
                    continue
                if redo_c:
                    ci = c_pos[(b, m)]
                    cpur, cphi, crep = c_pur[ci], c_phi[ci], cau.repertoire[ci]
                    cmip = None if c_m1[ci] < 0 else (c_m1[ci], c_p1[ci])
                else:
                    assert old is not None
                    cpur, cphi, crep, cmip = old.cpur, old.cphi, old.crep, old.cmip
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


def _null(
    sys_nodes: tuple[int, ...], state: tuple[int, ...], reason: str, seconds: float
) -> SystemIrreducibility:
    return SystemIrreducibility(
        phi=0.0,
        nodes=sys_nodes,
        state=state,
        cut=None,
        tied_cuts=(),
        cuts=(),
        cut_phis=(),
        concepts=(),
        partitioned_concepts=(),
        counts={},
        seconds=seconds,
        reason=reason,
    )


def _validated(item: Item) -> tuple[IITNetwork, tuple[int, ...], tuple[int, ...]]:
    network, state = item[0], item[1]
    nodes = item[2] if len(item) > 2 else None  # type: ignore[misc]
    st = network.check_state(state)
    sub = network.check_nodes(nodes)
    network.check_reachable(sub, st)
    return network, sub, st


def _analyse_group(systems: list[_System], seconds_share: float) -> list[SystemIrreducibility]:
    t0 = time.perf_counter()
    eng = _Engine(systems)
    uncut = eng.uncut()
    which = [s for s, concepts in enumerate(uncut) if concepts]
    structures = eng.cut_structures(uncut, which) if which else {}
    cuts = cut_list(eng.n)
    results: list[SystemIrreducibility | None] = [None] * len(systems)
    phis: dict[int, tuple[list[float], int]] = {}
    for s in which:
        phis[s] = ces_distances(uncut[s], structures[s], eng.uncon[s], eng.idx)
    seconds = (time.perf_counter() - t0) / len(systems) + seconds_share
    counts = {k: int(v) for k, v in vars(eng.stats).items()}
    counts.update({"cuts": len(cuts), "batch_size": len(systems), "mechanisms": 2**eng.n - 1})
    for s, sys in enumerate(systems):
        if s not in phis:
            results[s] = _null(sys.nodes, sys.state, "empty cause-effect structure", seconds)
            continue
        values, ndist = phis[s]
        best = min(values)
        first = values.index(best)
        system_cuts = tuple(SystemCut(sys.to_nodes(f), sys.to_nodes(t)) for f, t in cuts)
        results[s] = SystemIrreducibility(
            phi=best,
            nodes=sys.nodes,
            state=sys.state,
            cut=system_cuts[first],
            tied_cuts=tuple(c for c, p in zip(system_cuts, values, strict=True) if p == best),
            cuts=system_cuts,
            cut_phis=tuple(values),
            concepts=tuple(_public(sys, c) for c in uncut[s]),
            partitioned_concepts=tuple(
                _public(sys, c) for c in sorted(structures[s][first], key=lambda c: _mech_order(c.mech))
            ),
            counts={**counts, "concepts": len(uncut[s]), "concept_distances": ndist},
            seconds=seconds,
        )
    return [r for r in results if r is not None]


def sia_batch(items: Sequence[Item], *, progress: bool = False) -> list[SystemIrreducibility]:
    """Big Φ of many ``(network, state)`` or ``(network, state, nodes)`` items, batched; results in order.

    Items whose subsystems have the same size (on the same device) are computed as one batch. Every item is
    validated first (``ValueError`` naming ``state`` or ``nodes``; :class:`StateUnreachableError`). In a
    batch, ``seconds`` is the batch's wall time divided by its size, and ``counts`` are the batch's
    (``counts["batch_size"]`` says how many items shared it).
    """
    t0 = time.perf_counter()
    checked = [_validated(item) for item in items]
    results: list[SystemIrreducibility | None] = [None] * len(checked)
    groups: dict[tuple[int, str], list[int]] = {}
    for i, (network, sub, st) in enumerate(checked):
        if not sub:
            results[i] = _null(sub, st, "empty subsystem", 0.0)
        elif not _strongly_connected(network.cm[list(sub)][:, list(sub)]):
            results[i] = _null(sub, st, "not strongly connected", 0.0)
        elif len(sub) == 1:
            results[i] = _null(sub, st, "a single node has no Φ", 0.0)
        else:
            groups.setdefault((len(sub), str(network.device)), []).append(i)
    prep = (time.perf_counter() - t0) / max(1, len(checked))
    keys = sorted(groups)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(len(groups[k]) for k in keys), desc="subsystems", unit="system", leave=False)
    for key in keys:
        members = groups[key]
        systems = [_System.of(*checked[i]) for i in members]
        for i, res in zip(members, _analyse_group(systems, prep), strict=True):
            results[i] = res
        if bar is not None:
            bar.update(len(members))
    if bar is not None:
        bar.close()
    return [r for r in results if r is not None]


def sia(
    network: IITNetwork, state: Sequence[int], nodes: Sequence[int] | None = None
) -> SystemIrreducibility:
    """Big Φ of ``nodes`` (default: all) of ``network`` in ``state``, with the MIP cut and every tied cut.

    Raises ``ValueError`` naming ``state`` or ``nodes`` for a bad value, and :class:`StateUnreachableError`
    for a state that no previous state leads to.
    """
    return sia_batch([(network, state, nodes)])[0]


def ces(network: IITNetwork, state: Sequence[int], nodes: Sequence[int] | None = None) -> tuple[Concept, ...]:
    """The cause–effect structure of ``nodes`` (default: all) of ``network`` in ``state``."""
    network, sub, st = _validated((network, state, nodes))
    if not sub:
        return ()
    sys = _System.of(network, sub, st)
    return tuple(_public(sys, c) for c in _Engine([sys]).uncut()[0])
