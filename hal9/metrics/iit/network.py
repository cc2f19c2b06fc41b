"""Binary networks for exact IIT 3.0: a validated transition probability matrix and connectivity.

Conventions (PyPhi's, so that networks move between the two without translation):

* **State-by-node TPM**, shape ``(2**n, n)``: ``tpm[s, j]`` is ``P(node j is ON at t+1 | state s at t)``. Rows
  are in **LOLI** order ("little-endian"): bit ``i`` of the row index ``s`` is the state of node ``i`` (row 1
  is ``(1, 0, 0, …)``). The multidimensional form ``(2,)*n + (n,)`` with axis ``i`` = node ``i`` is accepted
  too.
* **State-by-state TPM**, shape ``(2**n, 2**n)``: ``tpm[s, s']`` = ``P(s' | s)``, both indices LOLI. It is
  converted to state-by-node form, which is only possible when the nodes are conditionally independent given
  the previous state (``P(s'|s) = Π_j P(s'_j|s)``); a TPM that is not is refused, as PyPhi refuses it.
* **Connectivity** ``cm[i, j] = 1`` when node ``i`` sends to node ``j``. Omitted, every node sends to every
  node. A node's TPM is marginalised (averaged uniformly) over the nodes that ``cm`` says are not its inputs.
* A **state** is a tuple of 0/1 per node. A subsystem's state must be reachable: some previous state gives
  every node of the subsystem a non-zero probability of being in its current state, after fixing the nodes
  outside the subsystem to their current state (PyPhi's ``StateUnreachableError``).

References: Oizumi, Albantakis & Tononi (2014), PLoS Comput Biol 10(5): e1003588; Mayner et al. (2018), PLoS
Comput Biol 14(7): e1006343.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["MAX_NODES", "IITNetwork", "StateUnreachableError"]

#: Largest network accepted: the subsystem tables grow as 6**n and the cuts as 2**n.
MAX_NODES = 10


class StateUnreachableError(ValueError):
    """The state cannot follow any previous state under the TPM (PyPhi refuses such states too)."""


def _labels(n: int) -> tuple[str, ...]:
    letters = string.ascii_uppercase
    return tuple(letters[i] if i < len(letters) else f"n{i}" for i in range(n))


def _state_by_state_to_node(sbs: Tensor, n: int) -> Tensor:
    """Marginal ON probabilities of each node, after checking conditional independence."""
    if not torch.allclose(sbs.sum(1), torch.ones(2**n, dtype=sbs.dtype, device=sbs.device), atol=1e-9):
        raise ValueError("tpm: a state-by-state TPM needs rows that sum to 1")
    bits = (torch.arange(2**n, device=sbs.device)[:, None] >> torch.arange(n, device=sbs.device)) & 1
    sbn = sbs @ bits.to(sbs.dtype)  # (2^n, n): P(node j on | s)
    on = bits.to(sbs.dtype)[None, :, :]  # (1, 2^n next, n)
    p = sbn[:, None, :]
    product = torch.where(on.bool(), p, 1 - p).prod(-1)  # (2^n, 2^n)
    if not torch.allclose(product, sbs, atol=1e-9):
        raise ValueError(
            "tpm: this state-by-state TPM is not conditionally independent "
            "(P(s'|s) differs from the product of "
            "the nodes' marginals), so it has no state-by-node form; IIT 3.0 as PyPhi computes it needs one"
        )
    return sbn


@dataclass(frozen=True, eq=False)
class IITNetwork:
    """A network of binary nodes: state-by-node TPM ``(2**n, n)`` (LOLI rows) and connectivity ``(n, n)``.

    Build it with :meth:`from_tpm`, which validates. ``tpm`` is ``torch.float64`` (φ is rounded to 6 decimals,
    as PyPhi does, which float32 cannot carry); ``cm`` is ``torch.bool``.
    """

    tpm: Tensor
    cm: Tensor
    labels: tuple[str, ...]

    @property
    def size(self) -> int:
        """Number of nodes ``n``."""
        return int(self.tpm.shape[1])

    @property
    def device(self) -> torch.device:
        """Device of the TPM (and of every computation on this network)."""
        return self.tpm.device

    @classmethod
    def from_tpm(
        cls,
        tpm: Tensor | Sequence[Sequence[float]] | object,
        cm: Tensor | Sequence[Sequence[int]] | object | None = None,
        *,
        labels: Sequence[str] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> IITNetwork:
        """Validate and convert a TPM (state-by-node, multidimensional or state-by-state) and a connectivity.

        ``dtype`` must be ``torch.float64``. Raises ``ValueError`` naming ``tpm``, ``cm``, ``labels`` or
        ``dtype`` for a wrong shape, a probability outside [0, 1], a non-finite entry, a state-by-state TPM
        whose rows do not sum to 1 or whose nodes are not conditionally independent, a non-binary or
        non-square ``cm``, or more than :data:`MAX_NODES` nodes.
        """
        if dtype != torch.float64:
            raise ValueError(
                f"dtype: exact IIT 3.0 needs torch.float64 (φ is rounded to 6 decimals, as PyPhi does), "
                f"got {dtype}"
            )
        try:
            t = torch.as_tensor(tpm, dtype=dtype, device=device)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"tpm: not a numeric matrix ({err})") from None
        if not torch.isfinite(t).all():
            raise ValueError("tpm: entries must be finite")
        if t.dim() >= 2 and all(s == 2 for s in t.shape[:-1]) and t.dim() - 1 == t.shape[-1] and t.dim() > 2:
            n = t.shape[-1]  # multidimensional (2,)*n + (n,), axis i = node i
            t = t.permute(*reversed(range(n)), n).reshape(2**n, n)
        if t.dim() != 2:
            raise ValueError(
                f"tpm: expected a 2-D (2**n, n) or (2**n, 2**n) matrix, got shape {tuple(t.shape)}"
            )
        rows, cols = t.shape
        n = rows.bit_length() - 1
        if rows < 2 or 2**n != rows:
            raise ValueError(f"tpm: the number of rows must be 2**n for n >= 1, got {rows}")
        if (t < 0).any() or (t > 1).any():
            raise ValueError("tpm: probabilities must lie in [0, 1]")
        if n > MAX_NODES:
            raise ValueError(f"tpm: exact IIT 3.0 is limited to {MAX_NODES} nodes here, got {n}")
        if cols == rows and cols != n:
            t = _state_by_state_to_node(t, n)
        elif cols != n:
            raise ValueError(
                f"tpm: {rows} rows mean {n} nodes, so expected {n} columns (or {rows}), got {cols}"
            )
        if n > MAX_NODES:
            raise ValueError(f"tpm: exact IIT 3.0 is limited to {MAX_NODES} nodes here, got {n}")
        if cm is None:
            c = torch.ones(n, n, dtype=torch.bool, device=t.device)
        else:
            try:
                c_raw = torch.as_tensor(cm, device=t.device)
            except (TypeError, ValueError, RuntimeError) as err:
                raise ValueError(f"cm: not a numeric matrix ({err})") from None
            if c_raw.shape != (n, n):
                raise ValueError(f"cm: expected shape ({n}, {n}), got {tuple(c_raw.shape)}")
            if not ((c_raw == 0) | (c_raw == 1)).all():
                raise ValueError("cm: entries must be 0 or 1")
            c = c_raw.to(torch.bool)
        names = _labels(n) if labels is None else tuple(str(x) for x in labels)
        if len(names) != n or len(set(names)) != n:
            raise ValueError(f"labels: expected {n} distinct labels, got {list(names)}")
        return cls(tpm=t.contiguous(), cm=c.contiguous(), labels=names)

    def check_state(self, state: Sequence[int] | Tensor) -> tuple[int, ...]:
        """Return ``state`` as a tuple of 0/1 of length n, or raise ``ValueError`` naming ``state``."""
        raw = list(state.tolist() if isinstance(state, Tensor) else state)
        if len(raw) != self.size:
            raise ValueError(f"state: expected {self.size} entries (one per node), got {len(raw)}")
        if any(isinstance(v, str) or v not in (0, 1) for v in raw):
            raise ValueError(f"state: entries must be 0 or 1, got {raw}")
        return tuple(int(v) for v in raw)

    def check_nodes(self, nodes: Sequence[int] | None) -> tuple[int, ...]:
        """Sorted, de-duplicated node indices (all when ``None``), or ``ValueError`` naming ``nodes``."""
        if nodes is None:
            return tuple(range(self.size))
        raw = list(nodes)
        if any(isinstance(i, str) or (isinstance(i, float) and not float(i).is_integer()) for i in raw):
            raise ValueError(f"nodes: expected node indices (integers), got {raw}")
        out = tuple(sorted({int(i) for i in raw}))
        if any(i < 0 or i >= self.size for i in out):
            raise ValueError(f"nodes: indices must lie in [0, {self.size}), got {list(nodes)}")
        return out

    def subsystem_tpm(self, nodes: tuple[int, ...], state: tuple[int, ...]) -> Tensor:
        """TPM of ``nodes``, every other node fixed to its ``state``: ``(2**k, k)``, LOLI over ``nodes``."""
        k = len(nodes)
        dev = self.tpm.device
        external = sum(state[i] << i for i in range(self.size) if i not in nodes)
        s = torch.arange(2**k, device=dev)
        rows = torch.full_like(s, external)
        for local, node in enumerate(nodes):
            rows = rows | (((s >> local) & 1) << node)
        return self.tpm[rows][:, list(nodes)]

    def is_reachable(self, nodes: tuple[int, ...], state: tuple[int, ...]) -> bool:
        """Whether ``state`` of ``nodes`` can follow some previous state (other nodes fixed to ``state``)."""
        if not nodes:
            return True
        sub = self.subsystem_tpm(nodes, state)
        target = torch.tensor([state[i] for i in nodes], dtype=sub.dtype, device=sub.device)
        diff = sub - target
        return bool(((diff > -1) & (diff < 1)).all(1).any())

    def check_reachable(self, nodes: tuple[int, ...], state: tuple[int, ...]) -> None:
        """Raise :class:`StateUnreachableError` (a ``ValueError`` naming ``state``) if it is unreachable."""
        if not self.is_reachable(nodes, state):
            raise StateUnreachableError(
                f"state: {state} cannot be reached: under the TPM no previous state gives nodes "
                f"{list(nodes)} a "
                "non-zero probability of this state (PyPhi refuses it too)"
            )

    def causally_significant_nodes(self) -> tuple[int, ...]:
        """Nodes with at least one input and one output in ``cm`` (the candidates for a complex)."""
        ins = self.cm.sum(0) > 0
        outs = self.cm.sum(1) > 0
        return tuple(int(i) for i in torch.nonzero(ins & outs).flatten().tolist())
