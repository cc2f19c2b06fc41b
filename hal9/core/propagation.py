"""Synaptic propagation: the drive ``d = W a`` of one step, dense or event-driven.

Two ways to compute ``d_i = Σ_j W_ij a_j`` for a ``(batch, N)`` activity ``a``:

* **dense** — one sparse × dense product over every synapse, ``O(batch · nnz)`` per step whatever
  ``a`` holds (:func:`synaptic_drive`). The only choice for rate neurons, where every ``a_j`` is
  non-zero.
* **event-driven** — for spiking models, whose activity is 0/1: gather the outgoing synapses of the
  neurons that spiked (a column slice of ``W`` each, from its CSC form) and scatter-add their weights
  into the drive, ``O(Σ_spiking fan-out)`` per step (:func:`event_drive`). This is how event-driven
  simulators propagate spikes (Brian2's ``on_pre``, NEST's spike delivery); with ~1.5 % of neurons
  spiking it touches ~68× fewer synapses than the dense product.

:func:`hal9.core.run` picks one per step from the spike density (the fraction of ``batch · N``
entries that are 1) against :func:`event_density_threshold`, a crossover measured on CPU (see
``tests/benchmarks/test_bench_propagation.py`` and docs/benchmarks.md).

The event path adds, for each target ``i``, the weights of its spiking sources in ascending source order
starting from 0. So does torch's CSR product on MKL's generic CPU path, and the drives are then equal
bitwise. MKL's AVX-512 kernels (an Intel Xeon, batches of 4 and 8) sum in another order, and the two then
differ in the last bits, within the summation error bound (tested). On CUDA ``index_add_`` uses atomics
and the order of additions (hence the last bit) may differ between runs of the event path.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = [
    "EVENT_DENSITY_THRESHOLD",
    "EventPlan",
    "EventStructure",
    "Propagation",
    "SparseDrive",
    "deliver",
    "event_density_threshold",
    "event_drive",
    "event_plan",
    "event_structure",
    "sparse_drive",
    "spike_events",
    "synaptic_drive",
]

#: How :func:`hal9.core.run` propagates activity: ``"auto"`` (event-driven for spiking models while
#: the spike density is below :data:`EVENT_DENSITY_THRESHOLD`, dense otherwise), ``"dense"``, or
#: ``"event"`` (spiking models only).
Propagation = Literal["auto", "dense", "event"]
PROPAGATIONS: tuple[str, ...] = get_args(Propagation)

#: Spike density (spikes / (batch · N)) below which ``"auto"`` propagates events, for one trial
#: (``batch = 1``); see :func:`event_density_threshold` for a batch.
EVENT_DENSITY_THRESHOLD = 0.06
_INT32_MAX = 2**31 - 1
_SAME_SIZE_INT = {2: torch.int16, 4: torch.int32, 8: torch.int64}
#: The part of the threshold that does not shrink with the batch (the dense product reads each
#: synapse's index once for the whole batch, the event path gathers it once per spike).
_EVENT_DENSITY_FLOOR = 0.005


def event_density_threshold(batch: int) -> float:
    """The spike density below which ``"auto"`` propagates events at this batch size:
    ``floor + (EVENT_DENSITY_THRESHOLD − floor) / batch``.

    Cost model: the dense product costs ``nnz · (c₀ + c₁ · batch)`` (index reads shared by the batch,
    value products per trial) and the event path ``density · batch · nnz · c₂``, so the crossover is
    ``c₁/c₂ + (c₀/c₂) / batch``. Fitted to the crossovers measured at 100k neurons on the 2-core CPU of
    docs/benchmarks.md (``tests/benchmarks/test_bench_propagation.py``: ~9 % at batch 1, ~1.2 % at
    batch 16) and set below them (6 % and 0.84 %) so that ``"auto"`` errs towards the path that is
    never much slower.
    """
    return _EVENT_DENSITY_FLOOR + (EVENT_DENSITY_THRESHOLD - _EVENT_DENSITY_FLOOR) / max(batch, 1)


def synaptic_drive(weight: Tensor, activity: Tensor, structure: EventStructure | None = None) -> Tensor:
    """``Σ_j W_ij a_j`` for a batch: ``(batch, N) → (batch, N)`` via one sparse × dense product.

    ``activity`` is best kept in neuron-major memory (``activity.T`` contiguous), as :func:`run` does:
    the product then needs no copy and returns the same layout.

    When the weight values carry a gradient, the product runs through :class:`SparseDrive`, whose
    backward pass stays sparse (``O(batch · nnz)``); torch's own backward of a CSR product forms the
    dense ``N × N`` gradient first. ``structure`` (the matrix's :class:`EventStructure`, made when not
    given) supplies the transpose for the gradient of the activity.
    """
    values = weight.values()
    if values.requires_grad and torch.is_grad_enabled():
        if structure is None or not structure.matches(weight):
            structure = event_structure(weight)
        return sparse_drive(values, activity, structure, int(weight.shape[0]))
    return (weight @ activity.T).T


def sparse_drive(
    values: Tensor,
    activity: Tensor,
    structure: EventStructure,
    n_rows: int,
    cache: dict[str, Any] | None = None,
) -> Tensor:
    """``Σ_j W_ij a_j`` through :class:`SparseDrive` for the CSR matrix of ``structure`` with ``values``
    ``(nnz,)``: ``(batch, n_cols) → (batch, n_rows)``, neuron-major.

    For loops over time, take ``values = weight.values()`` **once** and pass it to every step: each
    ``.values()`` call on a sparse tensor that requires grad adds a node whose memory torch 2.13 does
    not free with the graph (measured: ~4 MB per 20-step run of a 448-neuron network, growing without
    bound over training). ``cache`` (a dict, one per run) keeps the transpose for the backward pass
    while ``values`` stays the same tensor.
    """
    neuron_major: Tensor = SparseDrive.apply(values, activity, structure, n_rows, cache)
    return neuron_major.T


def _csr(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


class SparseDrive(torch.autograd.Function):
    """``d = W a`` for a CSR ``W`` given by its values, with a backward pass that never densifies ``W``.

    Forward: ``d[b, i] = Σ_j W_ij a[b, j]`` (one CSR × dense product). Backward, for an upstream
    gradient ``g`` of ``d``:

    * ``∂L/∂W_ij = Σ_b g[b, i] a[b, j]`` at the existing synapses only (a sampled dense–dense product,
      ``torch.sparse.sampled_addmm``, ``O(batch · nnz)``): the sparsity pattern is structural, so no
      gradient ever reaches a weight outside it;
    * ``∂L/∂a = Wᵀ g`` through the transpose in CSR form (the CSC pointers, rows and value order of
      the :class:`EventStructure`).

    First derivatives only (``once_differentiable``: a double backward raises instead of treating
    ``Wᵀ`` as a constant). ``apply(values, activity, structure, n_rows, cache) -> (n_rows, batch)``,
    i.e. ``(W aᵀ)`` neuron-major
    (a fresh tensor, so the caller may modify its transpose in place); ``values`` ``(nnz,)`` in CSR
    order, ``activity`` ``(batch, n_cols)``.
    """

    @staticmethod
    def forward(
        ctx: Any,
        values: Tensor,
        activity: Tensor,
        structure: EventStructure,
        n_rows: int,
        cache: dict[str, Any] | None = None,
    ) -> Tensor:
        n_cols = int(activity.shape[1])
        weight = _csr(structure.crow, structure.col, values, (n_rows, n_cols))
        ctx.structure, ctx.n_rows, ctx.cache = structure, n_rows, cache
        ctx.save_for_backward(values, activity)
        return weight @ activity.T

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None, None]:
        values, activity = ctx.saved_tensors
        structure: EventStructure = ctx.structure
        n_cols = int(activity.shape[1])
        grad_values = grad_activity = None
        if ctx.needs_input_grad[0]:
            pattern = _csr(structure.crow, structure.col, torch.zeros_like(values), (ctx.n_rows, n_cols))
            grad_values = torch.sparse.sampled_addmm(pattern, grad, activity, beta=0.0).values()
        if ctx.needs_input_grad[1]:
            transpose = _transpose(structure, values, ctx.cache)
            grad_activity = (transpose @ grad).T
        return grad_values, grad_activity, None, None, None


def _transpose(structure: EventStructure, values: Tensor, cache: dict[str, Any] | None) -> Tensor:
    """``Wᵀ`` in CSR form from the CSC order of ``structure``; with a ``cache`` (one per run), made
    once for the same ``values`` tensor instead of at every step's backward."""
    # only a leaf is kept: a non-leaf's history leads back to the SparseDrive nodes that hold this cache,
    # a reference cycle through the autograd graph that is never freed (measured: ~0.7 MB per run)
    cache = cache if values.is_leaf else None
    if cache is not None and cache.get("values") is values:
        return cache["transpose"]  # type: ignore[no-any-return]
    t_col = structure.targets.to(structure.col_ptr.dtype)
    n_cols = int(structure.col_ptr.numel()) - 1
    n_rows = int(structure.crow.numel()) - 1
    transpose = _csr(
        structure.col_ptr, t_col, values.detach().index_select(0, structure.order), (n_cols, n_rows)
    )
    if cache is not None:
        cache["values"], cache["transpose"] = values, transpose
    return transpose


@dataclass(frozen=True)
class EventStructure:
    """What an :class:`EventPlan` keeps of a weight matrix's sparsity pattern (no values): the CSC
    pointers, fan-outs, targets and value permutation, plus copies of the CSR indices they were made
    from, so that a cached structure can be checked against a matrix exactly (:meth:`matches`)."""

    col_ptr: Tensor
    fan_out: Tensor
    order: Tensor
    targets: Tensor
    crow: Tensor
    col: Tensor

    def matches(self, weight: Tensor) -> bool:
        """Whether ``weight`` has exactly this sparsity pattern (two ``O(nnz)`` comparisons: index
        tensors shared with other code can change in place without any version counter moving)."""
        crow, col = weight.crow_indices(), weight.col_indices()
        return (
            crow.dtype == self.crow.dtype
            and col.dtype == self.col.dtype
            and crow.device == self.crow.device
            and torch.equal(crow, self.crow)
            and torch.equal(col, self.col)
        )


@dataclass(frozen=True)
class EventPlan:
    """The CSC form of a CSR weight matrix, for gathering the outgoing synapses of a neuron.

    Attributes
    ----------
    col_ptr : Tensor
        ``(N + 1,)`` int64: the synapses leaving neuron ``j`` are ``col_ptr[j] : col_ptr[j + 1]``.
    targets : Tensor
        ``(nnz,)`` target (row) of each synapse, ascending within each source; int32 when ``N``
        fits (the flat ``target · batch + trial`` indices become int64 when they do not).
    order : Tensor
        ``(nnz,)`` int64 permutation: ``weight.values()[order]`` are the weights in CSC order.
    fan_out : Tensor
        ``(N,)`` int64 number of synapses leaving each neuron, ``col_ptr[1:] − col_ptr[:-1]``.
    values : Tensor
        ``weight.values()[order]`` at the time the plan was made.
    packed : Tensor or None
        ``(nnz,)`` int64 whose two 32-bit halves are each synapse's int32 target and float32 weight
        (bit pattern), or ``None``. One gather of 8-byte records instead of two of 4 bytes: the gather
        is bound by memory latency (runs of ~20 synapses at random places), and one record per synapse
        measured ~1.4× faster at 100k neurons. Made only for int32 targets, float32 weights that carry
        no gradient.
    structure : EventStructure or None
        The structure the plan was made from (for caching by :meth:`hal9.core.Network.event_plan`).
    """

    col_ptr: Tensor
    targets: Tensor
    order: Tensor
    values: Tensor
    fan_out: Tensor
    packed: Tensor | None = None
    structure: EventStructure | None = None


def _pack(targets: Tensor, values: Tensor) -> Tensor | None:
    """The ``packed`` records of a plan (see :class:`EventPlan`), or ``None`` when they do not apply."""
    if targets.dtype != torch.int32 or values.dtype != torch.float32 or values.requires_grad:
        return None
    return torch.stack([targets, values.view(torch.int32)], 1).view(torch.int64).squeeze(1)


def event_structure(weight: Tensor) -> EventStructure:
    """The :class:`EventStructure` of an ``(N, N)`` sparse CSR ``weight``: one stable sort of the
    columns, ``O(nnz log nnz)``."""
    if weight.layout != torch.sparse_csr:
        raise ValueError(f"weight must be a sparse CSR tensor, got layout {weight.layout}")
    n = int(weight.shape[1])
    crow_raw, col_raw = weight.crow_indices(), weight.col_indices()
    crow, cols = crow_raw.long(), col_raw.long()
    rows = torch.repeat_interleave(torch.arange(int(weight.shape[0]), device=crow.device), crow.diff())
    order = torch.argsort(cols, stable=True)
    counts = torch.bincount(cols, minlength=n)
    col_ptr = torch.zeros(n + 1, dtype=torch.long, device=crow.device)
    torch.cumsum(counts, 0, out=col_ptr[1:])
    # targets as int32 when they fit: the per-step gather is bound by memory latency, and half the
    # bytes measured ~30 % faster at 100k neurons (index_add_ takes int32 indices)
    targets = rows[order]
    if int(weight.shape[0]) < _INT32_MAX:
        targets = targets.to(torch.int32)
    return EventStructure(col_ptr, counts, order, targets, crow_raw.clone(), col_raw.clone())


def event_plan(weight: Tensor, structure: EventStructure | None = None) -> EventPlan:
    """The :class:`EventPlan` of an ``(N, N)`` sparse CSR ``weight``: its structure (``structure`` when
    given and it matches ``weight``, else a new one, ``O(nnz log nnz)``) and its current values in CSC
    order (one ``O(nnz)`` gather, inside the autograd graph when the values carry gradients)."""
    if structure is None or not structure.matches(weight):
        structure = event_structure(weight)
    values = weight.values().index_select(0, structure.order)
    return EventPlan(
        structure.col_ptr,
        structure.targets,
        structure.order,
        values,
        structure.fan_out,
        _pack(structure.targets, values),
        structure,
    )


def spike_events(activity: Tensor) -> Tensor:
    """Flat indices ``j · batch + b`` of the spikes in a ``(batch, N)`` 0/1 activity, ascending (by
    source ``j``, then trial ``b``): one ``nonzero`` pass over the neuron-major memory.

    The pass reads the values' bit patterns as integers (``0.0`` is all zero bits, ``1.0`` is not):
    measured 1.5× faster than ``nonzero`` on float32 at 100k neurons. A ``−0.0`` would count as a
    spike; the models never emit it and :func:`hal9.core.run` refuses it in a given state.
    """
    flat = activity.T.reshape(-1)
    bits = _SAME_SIZE_INT.get(flat.element_size())
    if bits is not None and flat.is_floating_point() and not flat.requires_grad:
        flat = flat.view(bits)
    return flat.nonzero().squeeze(1)


def deliver(plan: EventPlan, events: Tensor, batch: int) -> Tensor:
    """The drive of the spikes ``events`` (from :func:`spike_events`): the outgoing synapses of each
    spiking source gathered from the plan and their weights scatter-added into a zero drive.

    Returns a ``(batch, N)`` tensor laid out neuron-major (``drive.T`` contiguous).
    """
    vals = plan.values
    n = int(plan.fan_out.numel())
    out = torch.zeros(n * batch, dtype=vals.dtype, device=vals.device)
    if events.numel():
        # index_select, not ``t[idx]``: torch's advanced-indexing kernel is ~5× slower on CPU
        src = events // batch if batch > 1 else events
        starts = plan.col_ptr.index_select(0, src)
        counts = plan.fan_out.index_select(0, src)
        ends = torch.cumsum(counts, 0)
        total = int(ends[-1])
        if total:
            # position of each gathered synapse in CSC order: start of its source + rank within it
            shift = torch.repeat_interleave(starts.sub_(ends).add_(counts), counts, output_size=total)
            pos = torch.arange(total, device=vals.device).add_(shift)
            if plan.packed is not None:
                records = plan.packed.index_select(0, pos).view(torch.int32).view(total, 2)
                idx, weights = records[:, 0], records[:, 1].view(torch.float32)
            else:
                idx, weights = plan.targets.index_select(0, pos), vals.index_select(0, pos)
            if batch > 1:
                trial = torch.repeat_interleave(events % batch, counts, output_size=total)
                wide = n * batch >= _INT32_MAX
                idx = (idx.long() if wide else idx.contiguous()).mul_(batch).add_(trial)
            out.index_add_(0, idx, weights)
    return out.view(n, batch).T


def event_drive(plan: EventPlan, activity: Tensor) -> Tensor:
    """``Σ_j W_ij s_j`` for 0/1 spikes ``s`` (``(batch, N)``), touching only the spiking sources.

    For every non-zero ``s[b, j]`` the synapses ``col_ptr[j] : col_ptr[j+1]`` are gathered and their
    weights added into ``drive[b, targets]`` with one ``index_add_``. Only correct when every entry of
    ``activity`` is 0 or 1 (spikes), which is what spiking models emit.

    Returns a ``(batch, N)`` tensor laid out neuron-major (``drive.T`` contiguous), like
    :func:`synaptic_drive`.
    """
    return deliver(plan, spike_events(activity), int(activity.shape[0]))
