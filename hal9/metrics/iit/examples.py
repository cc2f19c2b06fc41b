"""Published example networks of IIT 3.0, rebuilt from their logic (PyPhi's ``examples``; Oizumi et al. 2014).

Each function returns ``(network, state)`` for the state in which the literature reports its Φ (PyPhi 1.2.0's
value and MIP cut):

* ``basic``: A = OR(B, C), B = COPY(C), C = XOR(A, B); state (1, 0, 0); Φ = 2.3125, cut [B, C] → [A].
* ``fig4`` (Oizumi et al., Fig. 4): A = OR(B, C), B = AND(A, C), C = XOR(A, B); state (1, 0, 0); Φ = 1.916666
  (1.916665 in older PyPhi documentation), cut [A, B] → [C].
* ``xor``: each node the XOR of the other two; state (0, 0, 0); Φ = 1.875, all six cuts tie.
* ``rule110``: a 3-cell ring of the elementary cellular automaton rule 110; state (0, 0, 0); Φ = 1.357083,
  three cuts tie.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from hal9.metrics.iit.network import IITNetwork

__all__ = ["EXAMPLES", "basic_network", "fig4_network", "logic_tpm", "rule110_network", "xor_network"]


def logic_tpm(n: int, rules: Sequence[Callable[..., int]]) -> torch.Tensor:
    """Deterministic state-by-node TPM ``(2**n, n)`` (LOLI rows) from one boolean rule per node."""
    rows = []
    for s in range(2**n):
        x = tuple((s >> i) & 1 for i in range(n))
        rows.append([float(rule(x)) for rule in rules])
    return torch.tensor(rows, dtype=torch.float64)


def basic_network() -> tuple[IITNetwork, tuple[int, ...]]:
    """PyPhi's ``basic_network`` in state (1, 0, 0)."""
    tpm = logic_tpm(3, [lambda x: x[1] | x[2], lambda x: x[2], lambda x: x[0] ^ x[1]])
    cm = [[0, 0, 1], [1, 0, 1], [1, 1, 0]]
    return IITNetwork.from_tpm(tpm, cm), (1, 0, 0)


def fig4_network() -> tuple[IITNetwork, tuple[int, ...]]:
    """The network of Fig. 4 of Oizumi, Albantakis & Tononi (2014) in state (1, 0, 0)."""
    tpm = logic_tpm(3, [lambda x: x[1] | x[2], lambda x: x[0] & x[2], lambda x: x[0] ^ x[1]])
    cm = [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    return IITNetwork.from_tpm(tpm, cm), (1, 0, 0)


def xor_network() -> tuple[IITNetwork, tuple[int, ...]]:
    """Three XOR gates, each reading the other two, in state (0, 0, 0)."""
    tpm = logic_tpm(3, [lambda x: x[1] ^ x[2], lambda x: x[0] ^ x[2], lambda x: x[0] ^ x[1]])
    cm = [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    return IITNetwork.from_tpm(tpm, cm), (0, 0, 0)


def _rule110(left: int, centre: int, right: int) -> int:
    return (110 >> (left << 2 | centre << 1 | right)) & 1


def rule110_network() -> tuple[IITNetwork, tuple[int, ...]]:
    """A 3-cell ring following rule 110 (every node reads every node, as in PyPhi), in state (0, 0, 0)."""
    rules = [lambda x, i=i: _rule110(x[(i - 1) % 3], x[i], x[(i + 1) % 3]) for i in range(3)]
    return IITNetwork.from_tpm(logic_tpm(3, rules)), (0, 0, 0)


#: Name → builder, for the CLI and the tests.
EXAMPLES: dict[str, Callable[[], tuple[IITNetwork, tuple[int, ...]]]] = {
    "basic": basic_network,
    "fig4": fig4_network,
    "xor": xor_network,
    "rule110": rule110_network,
}
