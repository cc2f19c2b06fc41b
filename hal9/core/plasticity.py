"""The protocol of local plasticity inside :func:`hal9.core.run`: what a rule sees and returns.

A rule is a pure update of the synaptic values of a sparse CSR weight matrix, in CSR order,
``update(values, synapses, pre, post, state, params) -> (values, state)``, where ``pre`` is the
activity the synapses carried in a step and ``post`` the activity it produced. The sparsity pattern is
structural: a rule returns one value per existing synapse, so no weight can appear outside the
±1-adjacent structure. The rules themselves live in :mod:`hal9.learn` (Hebb, Oja, Sanger, BCM, STDP);
the core only defines the container :func:`~hal9.core.run` drives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["Plasticity", "Synapses", "synapses_of"]


class Synapses(NamedTuple):
    """The synapses of a CSR weight matrix ``W`` (``W[i, j]``: from neuron ``j`` to neuron ``i``), in
    CSR order.

    Shape
    -----
    ``post``, ``pre``: ``(nnz,)`` int64: the target (row) and source (column) neuron of each synapse.
    """

    post: Tensor
    pre: Tensor
    n_post: int
    n_pre: int

    @property
    def nnz(self) -> int:
        return int(self.post.numel())


def synapses_of(weight: Tensor) -> Synapses:
    """The :class:`Synapses` of a sparse CSR matrix ``(n_post, n_pre)``; ``O(nnz)``.

    Raises ``ValueError`` for any other layout (a dense or COO tensor): plasticity updates the values
    of existing synapses only, so it needs the sparsity pattern.
    """
    if not isinstance(weight, Tensor) or weight.layout != torch.sparse_csr:
        layout = weight.layout if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(f"weights must be a sparse CSR tensor (the synapses' structure), got {layout}")
    crow, col = weight.crow_indices(), weight.col_indices()
    counts = crow[1:] - crow[:-1]
    rows = torch.repeat_interleave(torch.arange(weight.shape[0], device=crow.device), counts.long())
    return Synapses(rows, col.long(), int(weight.shape[0]), int(weight.shape[1]))


#: ``update(values, synapses, pre, post, state, params) -> (values, state)``.
UpdateFn = Callable[[Tensor, Synapses, Tensor, Tensor, Any, Any], tuple[Tensor, Any]]


@dataclass(frozen=True)
class Plasticity:
    """A local rule with its params and (initial) state, for ``run(..., plasticity=...)``.

    Attributes
    ----------
    update : callable
        ``update(values, synapses, pre, post, state, params) -> (values, state)``: ``values`` ``(nnz,)``
        in CSR order; ``pre`` the ``(batch, N)`` activity the synapses carried in the step, ``post`` the
        ``(batch, N)`` activity of that step; returns new ``(nnz,)`` values (same dtype and device) and
        the rule's new state. Pure: it must not modify its inputs.
    params : Any
        The rule's parameters (e.g. learning rate), passed through as they are.
    state : Any
        The rule's initial state (traces, sliding thresholds; ``None`` for a stateless rule).
    name : str
        What the rule is called in errors and logs.
    """

    update: UpdateFn
    params: Any
    state: Any = None
    name: str = "plasticity"
