"""The update functions of the local plasticity rules (configs, factory and ``apply_rule``:
:mod:`hal9.learn.plasticity`).

Every rule is ``update(values, synapses, pre, post, state, params) -> (values, state)`` with

* ``values`` ``(nnz,)``: the synaptic values of a CSR matrix ``W`` ``(n_post, n_pre)``, in CSR order;
* ``synapses``: :class:`~hal9.core.plasticity.Synapses` (``post``, ``pre`` ``(nnz,)``) of that matrix;
* ``pre`` ``(batch, n_pre)`` = ``x`` and ``post`` ``(batch, n_post)`` = ``y``, the dtype and device of
  ``values``;
* ``params``: the rule's config (:class:`~hal9.learn.HebbConfig` …).

The update is the batch *mean* of the per-sample updates. Nothing is done in place and nothing is
``N × N``: batch correlations ``Σ_b a_bi c_bj`` at the synapses are one sampled dense–dense product
(``torch.sparse.sampled_addmm``, ``O(batch · nnz)`` work, ``O(nnz + batch · N)`` memory); the per-sample
sums of the subspace and Sanger rules gather ``(rows, nnz)`` blocks, ``rows`` chosen so a block holds at most
``_CHUNK_ELEMENTS`` entries. On CPU every rule is deterministic (same inputs → bitwise same outputs).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from hal9.core import Synapses
from hal9.learn.plasticity import (
    BCMConfig,
    HebbConfig,
    OjaConfig,
    OjaSubspaceConfig,
    PlasticityConfig,
    SangerConfig,
    STDPConfig,
)

__all__ = [
    "RULES",
    "Rule",
    "STDPState",
    "bcm_update",
    "check_step",
    "hebb_update",
    "oja_subspace_update",
    "oja_update",
    "sanger_update",
    "stdp_update",
]

#: ``update(values, synapses, pre, post, state, params) -> (values, state)`` (as in hal9.core.plasticity).
UpdateFn = Callable[[Tensor, Synapses, Tensor, Tensor, Any, Any], tuple[Tensor, Any]]

#: Most entries of one ``(rows, nnz)`` block gathered by the subspace and Sanger rules (16 MiB in float32).
_CHUNK_ELEMENTS = 1 << 22


class STDPState(NamedTuple):
    """The traces of :func:`stdp_update`.

    Shape
    -----
    ``pre_trace``: ``(batch, n_pre)``, ``x_j``; ``post_trace``: ``(batch, n_post)``, ``y_i``.
    """

    pre_trace: Tensor
    post_trace: Tensor


# ----------------------------------------------------------------------------------------------- validation


def check_step(values: Tensor, synapses: Synapses, pre: Tensor, post: Tensor) -> int:
    """Check the arguments every rule shares; returns the batch size.

    Raises ``ValueError`` naming the argument: ``values`` must be a floating ``(nnz,)`` tensor, ``pre``
    ``(batch, n_pre)`` and ``post`` ``(batch, n_post)`` with ``batch ≥ 1``, both of ``values``' dtype and
    device; ``synapses`` a :class:`Synapses` on that device. ``O(1)``: the indices themselves (CSR order, in
    range) are checked where a rule first uses them (``_pattern``).
    """
    if not isinstance(synapses, Synapses):
        raise ValueError(f"synapses must be a Synapses (hal9.core.plasticity), got {type(synapses).__name__}")
    if not isinstance(values, Tensor) or values.dim() != 1 or not values.dtype.is_floating_point:
        desc = f"{values.dtype} {tuple(values.shape)}" if isinstance(values, Tensor) else type(values)
        raise ValueError(f"values must be a floating point (nnz,) tensor, got {desc}")
    if values.numel() != synapses.nnz:
        raise ValueError(f"values has {values.numel()} entries but synapses has nnz={synapses.nnz}")
    if synapses.post.device != values.device or synapses.pre.device != values.device:
        raise ValueError(f"synapses are on {synapses.post.device} but values on {values.device}")
    batch = None
    for name, act, n in (("pre", pre, synapses.n_pre), ("post", post, synapses.n_post)):
        if not isinstance(act, Tensor):
            raise ValueError(f"{name} must be a tensor (batch, {n}), got {type(act).__name__}")
        shape = tuple(act.shape)
        if len(shape) != 2 or shape[1] != n or shape[0] < 1 or (batch is not None and shape[0] != batch):
            want = f"(batch ≥ 1, {n})" if batch is None else f"({batch}, {n}) like pre"
            raise ValueError(f"{name} must have shape {want}, got {shape}")
        if act.dtype != values.dtype or act.device != values.device:
            raise ValueError(
                f"{name} must have the dtype and device of values ({values.dtype}, {values.device}), "
                f"got ({act.dtype}, {act.device})"
            )
        batch = int(act.shape[0])
    assert batch is not None
    return batch


def _check_params(params: object, kind: type[PlasticityConfig]) -> None:
    if type(params) is not kind:
        raise ValueError(f"params must be a {kind.__name__}, got {type(params).__name__}")


def _check_state(state: object, shape: tuple[int, ...], like: Tensor, name: str) -> Tensor:
    if not isinstance(state, Tensor) or tuple(state.shape) != shape:
        got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
        raise ValueError(f"{name} must be a tensor of shape {shape}, got {got}")
    if state.dtype != like.dtype or state.device != like.device:
        raise ValueError(
            f"{name} must have the dtype and device of values ({like.dtype}, {like.device}), "
            f"got ({state.dtype}, {state.device})"
        )
    return state


# ---------------------------------------------------------------------------------------------- primitives


def _pattern(synapses: Synapses, dtype: torch.dtype) -> Tensor:
    """An all-zero ``dtype`` CSR tensor ``(n_post, n_pre)`` with the synapses' structure (for
    ``sampled_addmm``).

    Raises ``ValueError`` unless ``synapses`` is in CSR order (``post`` non-decreasing) with every index in
    range: the rebuilt row pointers would silently misplace values otherwise. ``O(nnz)``, one device sync.
    """
    post, pre = synapses.post, synapses.pre
    bad = torch.zeros((), dtype=torch.bool, device=post.device)
    if post.numel():
        bad = (post[1:] < post[:-1]).any() | (post[0] < 0) | (post[-1] >= synapses.n_post)
        low, high = torch.aminmax(pre)
        bad = bad | (low < 0) | (high >= synapses.n_pre)
    if bool(bad):
        raise ValueError("synapses must be in CSR order (post non-decreasing) with indices inside the matrix")
    crow = torch.zeros(synapses.n_post + 1, dtype=torch.int64, device=post.device)
    torch.cumsum(torch.bincount(post, minlength=synapses.n_post), 0, out=crow[1:])
    zeros = torch.zeros(synapses.nnz, dtype=dtype, device=post.device)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(
            crow, pre, zeros, (synapses.n_post, synapses.n_pre), check_invariants=False
        )


def _correlation(pattern: Tensor, a: Tensor, c: Tensor) -> Tensor:
    """``⟨a_i c_j⟩`` over the batch at every synapse ``(i, j)`` of ``pattern``, in CSR order.

    ``a`` ``(batch, n_post)``, ``c`` ``(batch, n_pre)`` → ``(nnz,)`` ``= (aᵀ c)[i, j] / batch`` sampled at the
    structure, without forming ``aᵀ c``.
    """
    out = torch.sparse.sampled_addmm(pattern, a.T, c, beta=0.0, alpha=1.0 / a.shape[0])
    return out.values()


def _batch_sum(term: Callable[[slice], Tensor], batch: int, nnz: int) -> Tensor:
    """``Σ_b term(b)`` of a ``(rows, nnz)`` per-sample term, over row chunks of ≤ ``_CHUNK_ELEMENTS``."""
    step = max(1, _CHUNK_ELEMENTS // max(1, nnz))
    total = term(slice(0, step)).sum(0)
    for start in range(step, batch, step):
        total = total + term(slice(start, start + step)).sum(0)
    return total


# -------------------------------------------------------------------------------------------------- rules


def hebb_update(
    values: Tensor, synapses: Synapses, pre: Tensor, post: Tensor, state: None, params: HebbConfig
) -> tuple[Tensor, None]:
    """Hebb with decay: ``w ← w + η (⟨y_i x_j⟩ − λ w_ij)`` (``η = params.lr``, ``λ = params.decay``).

    Shapes as in the module docstring; stateless (``state`` is passed through).
    """
    _check_params(params, HebbConfig)
    check_step(values, synapses, pre, post)
    hebb = _correlation(_pattern(synapses, values.dtype), post, pre)
    return values + params.lr * (hebb - params.decay * values), state


def oja_update(
    values: Tensor, synapses: Synapses, pre: Tensor, post: Tensor, state: None, params: OjaConfig
) -> tuple[Tensor, None]:
    """Oja (1982): ``w ← w + η (⟨y_i x_j⟩ − ⟨y_i²⟩ w_ij)``, i.e. ``η ⟨y_i (x_j − y_i w_ij)⟩``. Stateless."""
    _check_params(params, OjaConfig)
    check_step(values, synapses, pre, post)
    hebb = _correlation(_pattern(synapses, values.dtype), post, pre)
    power = (post * post).mean(0)  # (n_post,)
    return values + params.lr * (hebb - power[synapses.post] * values), state


def oja_subspace_update(
    values: Tensor, synapses: Synapses, pre: Tensor, post: Tensor, state: None, params: OjaSubspaceConfig
) -> tuple[Tensor, None]:
    """Oja's subspace rule (1989): ``w ← w + η ⟨y_i (x_j − r_j)⟩``, ``r = Wᵀ y`` per sample.

    ``r_bj = Σ_k y_bk w_kj`` over the synapses ``k → j`` is a sparse transpose product (an ``index_add`` of
    the ``(rows, nnz)`` block ``y_b,post · w`` onto the presynaptic neurons, chunked over the batch);
    ``r`` is ``(batch, n_pre)``. Stateless.
    """
    _check_params(params, OjaSubspaceConfig)
    check_step(values, synapses, pre, post)
    pattern = _pattern(synapses, values.dtype)  # checks the indices before they are used
    step = max(1, _CHUNK_ELEMENTS // max(1, synapses.nnz))
    recon = torch.cat(
        [
            torch.zeros(ys.shape[0], synapses.n_pre, dtype=values.dtype, device=values.device).index_add_(
                1, synapses.pre, ys.index_select(1, synapses.post) * values
            )
            for ys in post.split(step)
        ]
    )
    delta = _correlation(pattern, post, pre - recon)
    return values + params.lr * delta, state


def _column_order(synapses: Synapses) -> tuple[Tensor, Tensor, int]:
    """CSC order of the synapses: ``perm`` (CSR → CSC, columns sorted by postsynaptic index; a stable
    argsort, ``O(nnz log nnz)``), each synapse's position inside its column (in CSC order) and the longest
    column."""
    key = synapses.pre * max(1, synapses.n_post) + synapses.post
    perm = torch.argsort(key, stable=True)
    counts = torch.bincount(synapses.pre, minlength=synapses.n_pre)
    starts = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)  # column start, CSC order
    position = torch.arange(synapses.nnz, device=perm.device) - starts
    longest = int(counts.max()) if synapses.nnz else 0
    return perm, position, longest


def _scan_masks(position: Tensor, longest: int) -> list[Tensor]:
    """For each Hillis–Steele pass ``d = 1, 2, 4, … < longest``: ``position[d:] ≥ d`` (the element ``d``
    back lies in the same segment)."""
    return [position[(1 << p) :] >= (1 << p) for p in range(max(0, longest - 1).bit_length())]


def _segmented_cumsum(block: Tensor, masks: list[Tensor]) -> Tensor:
    """Inclusive cumulative sum along dim 1 of ``block`` ``(rows, nnz)`` within segments (``masks`` from
    :func:`_scan_masks`); Hillis–Steele, one pass per mask over two buffers. ``block`` is overwritten."""
    spare, zero = torch.empty_like(block), torch.zeros((), dtype=block.dtype, device=block.device)
    for p, same_segment in enumerate(masks):
        d = 1 << p
        spare[:, :d] = block[:, :d]
        torch.where(same_segment, block[:, :-d], zero, out=spare[:, d:])
        spare[:, d:] += block[:, d:]
        block, spare = spare, block
    return block


def sanger_update(
    values: Tensor, synapses: Synapses, pre: Tensor, post: Tensor, state: None, params: SangerConfig
) -> tuple[Tensor, None]:
    """Sanger's GHA (1989): ``w ← w + η ⟨y_i (x_j − Σ_{k ≤ i} y_k w_kj)⟩``.

    ``Σ_{k ≤ i}`` runs over the synapses ``k → j`` with ``k ≤ i``: a per-column inclusive cumulative sum of
    ``y_k w_kj`` in CSC order (columns sorted by postsynaptic index), per sample, chunked over the batch:
    ``O(batch · nnz · log2 L)`` for the longest column ``L``, plus the ``O(nnz log nnz)`` CSC sort, redone
    each call. Stateless.
    """
    _check_params(params, SangerConfig)
    batch = check_step(values, synapses, pre, post)
    hebb = _correlation(_pattern(synapses, values.dtype), post, pre)  # ⟨y_i x_j⟩; checks the indices
    perm, position, longest = _column_order(synapses)
    post_csc, w_csc, masks = synapses.post[perm], values[perm], _scan_masks(position, longest)

    def term(rows: slice) -> Tensor:
        ys = post[rows].index_select(1, post_csc)  # (rows, nnz) y_b,i in CSC order
        return ys * _segmented_cumsum(ys * w_csc, masks)  # y_bi Σ_{k ≤ i} y_bk w_kj

    forget = torch.empty_like(values)
    forget[perm] = _batch_sum(term, batch, synapses.nnz) / batch  # back to CSR order
    return values + params.lr * (hebb - forget), state


def bcm_update(
    values: Tensor, synapses: Synapses, pre: Tensor, post: Tensor, state: Tensor, params: BCMConfig
) -> tuple[Tensor, Tensor]:
    """BCM (Intrator & Cooper 1992 form): ``w ← w + η ⟨y_i (y_i − θ_i) x_j⟩`` with the current ``θ``, then
    ``θ ← θ + (dt/τ_θ)(⟨y²⟩ − θ)``.

    ``state`` is ``θ`` ``(n_post,)`` (:func:`~hal9.learn.init_state`); returns the new values and ``θ``.
    """
    _check_params(params, BCMConfig)
    check_step(values, synapses, pre, post)
    theta = _check_state(state, (synapses.n_post,), values, "state (θ)")
    delta = _correlation(_pattern(synapses, values.dtype), post * (post - theta), pre)
    theta_new = theta + (params.dt / params.tau_theta) * ((post * post).mean(0) - theta)
    return values + params.lr * delta, theta_new


def stdp_update(
    values: Tensor, synapses: Synapses, pre: Tensor, post: Tensor, state: STDPState, params: STDPConfig
) -> tuple[Tensor, STDPState]:
    """Pair-based STDP with traces (Song et al. 2000; Morrison et al. 2008); ``pre``/``post`` are spikes.

    Order within the step: decay ``x̃ = x e^{−dt/τ+}``, ``ỹ = y e^{−dt/τ−}``; then
    ``w ← clamp(w + η (A+ ⟨x̃_j s_post_i⟩ − A− ⟨ỹ_i s_pre_j⟩), w_min, w_max)``; then
    ``x = x̃ + s_pre``, ``y = ỹ + s_post``. Pre ``Δt`` before post potentiates by ``η A+ e^{−Δt/τ+}``, post
    before pre depresses by ``η A− e^{−Δt/τ−}``, coincident spikes do nothing. The bounds clamp every
    existing synapse (also one that starts outside them).
    """
    _check_params(params, STDPConfig)
    batch = check_step(values, synapses, pre, post)
    if not isinstance(state, STDPState):
        raise ValueError(f"state must be an STDPState (pre_trace, post_trace), got {type(state).__name__}")
    x = _check_state(state.pre_trace, (batch, synapses.n_pre), values, "state.pre_trace")
    y = _check_state(state.post_trace, (batch, synapses.n_post), values, "state.post_trace")
    x = x * math.exp(-params.dt / params.tau_plus)
    y = y * math.exp(-params.dt / params.tau_minus)
    pattern = _pattern(synapses, values.dtype)
    delta = params.a_plus * _correlation(pattern, post, x) - params.a_minus * _correlation(pattern, y, pre)
    new = values + params.lr * delta
    if params.w_min is not None or params.w_max is not None:
        new = new.clamp(min=params.w_min, max=params.w_max)
    return new, STDPState(x + pre, y + post)


# --------------------------------------------------------------------------------------------- the table


def _bcm_state(
    cfg: BCMConfig, n_pre: int, n_post: int, batch: int, device: torch.device, dtype: torch.dtype
) -> Tensor:
    return torch.full((n_post,), cfg.theta_init, device=device, dtype=dtype)


def _stdp_state(
    cfg: STDPConfig, n_pre: int, n_post: int, batch: int, device: torch.device, dtype: torch.dtype
) -> STDPState:
    return STDPState(
        torch.zeros(batch, n_pre, device=device, dtype=dtype),
        torch.zeros(batch, n_post, device=device, dtype=dtype),
    )


class Rule(NamedTuple):
    """A rule: its ``name``, its ``update`` and its state maker ``init(config, n_pre, n_post, batch, device,
    dtype)`` (``None``: stateless)."""

    name: str
    update: UpdateFn
    init: Callable[[Any, int, int, int, torch.device, torch.dtype], Any] | None


#: The one config → rule table (:func:`~hal9.learn.plasticity`, :func:`~hal9.learn.apply_rule`).
RULES: dict[type[PlasticityConfig], Rule] = {
    HebbConfig: Rule("hebb", hebb_update, None),
    OjaConfig: Rule("oja", oja_update, None),
    OjaSubspaceConfig: Rule("oja_subspace", oja_subspace_update, None),
    SangerConfig: Rule("sanger", sanger_update, None),
    BCMConfig: Rule("bcm", bcm_update, _bcm_state),
    STDPConfig: Rule("stdp", stdp_update, _stdp_state),
}
