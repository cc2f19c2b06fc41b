"""Earth mover's distances of exact IIT 3.0: Hamming-metric EMD between repertoires, batched and exact.

IIT 3.0 measures the difference between two repertoires over ``k`` binary nodes with the EMD whose ground
metric is the Hamming distance between states (Oizumi et al. 2014). hal9 computes it exactly, by three
methods:

* **Product distributions (closed form).** Effect repertoires, partitioned or not, are products over the
  purview nodes. For products ``p = ⊗ p_i`` and ``q = ⊗ q_i`` the Hamming EMD is ``Σ_i |p_i(0) − q_i(0)|``:
  the 1-Lipschitz function ``Σ_i ±x_i`` attains it as a lower bound and the product of the per-node optimal
  couplings as an upper bound. (PyPhi uses the same identity for effect repertoires.)
* **k ≤ 4 nodes (LP duality, batched matmul).** ``EMD(p, q) = max_f Σ_x f(x) (p(x) − q(x))`` over functions
  with ``|f(x) − f(y)| ≤ 1`` on the edges of the hypercube ``Q_k`` (Kantorovich–Rubinstein; the Hamming
  distance is the hypercube's path metric). The constraint matrix is a graph incidence matrix, totally
  unimodular, so the maximum is attained at an integer vertex of this polytope (with ``f(0) = 0``): a vertex
  is an integer 1-Lipschitz function whose "tight" edges (``|f(x) − f(y)| = 1``) connect all of ``Q_k``. There
  are 2, 6, 38 and 990 of them for k = 1..4 (:func:`lipschitz_vertices` enumerates them); the EMD of a whole
  batch is one matrix product and a max.
* **k ≥ 5 (network simplex).** The transport LP between the positive and negative parts of ``p − q`` is solved
  exactly with POT's network simplex (Flamary et al. 2021, JMLR 22(78); Bonneel et al. 2011), on the CPU, one
  problem at a time. Callers first prune with :func:`hamming_emd_lower_bound`.

The distance between cause–effect structures (big Φ) is a transport problem with a general cost matrix, solved
with the same network simplex (:func:`transport_plan`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "DUAL_MAX_NODES",
    "effect_emd",
    "enumerate_vertices",
    "hamming_emd",
    "hamming_emd_cheap_bound",
    "hamming_emd_lower_bound",
    "hamming_matrix",
    "lipschitz_vertices",
    "transport_plan",
]

#: Largest repertoire (in nodes) whose EMD is computed by the dual-vertex product.
DUAL_MAX_NODES = 4


@lru_cache(maxsize=16)
def hamming_matrix(k: int) -> np.ndarray:
    """``(2**k, 2**k)`` Hamming distances between LOLI-indexed states of ``k`` binary nodes."""
    s = np.arange(2**k)
    x = s[:, None] ^ s[None, :]
    return np.array([[bin(int(v)).count("1") for v in row] for row in x], dtype=np.float64)


def _integer_lipschitz(k: int) -> Tensor:
    """All integer 1-Lipschitz functions on ``Q_k`` with ``f(0) = 0``, as ``(count, 2**k)`` int64 (LOLI)."""
    if k == 0:
        return torch.zeros(1, 1, dtype=torch.long)
    lower = _integer_lipschitz(k - 1)  # functions of the first k-1 bits; the new bit is the highest
    f0 = lower[:, None, None, :]
    f1 = lower[None, :, None, :] + torch.tensor([-1, 0, 1]).reshape(1, 1, 3, 1)
    ok = ((f0 - f1).abs() <= 1).all(-1)
    i, j, c = torch.nonzero(ok, as_tuple=True)
    return torch.cat([lower[i], lower[j] + (c - 1)[:, None]], dim=1)


@lru_cache(maxsize=16)
def _vertices_cpu(k: int) -> Tensor:
    funcs = _integer_lipschitz(k)
    size = 2**k
    edges = [(x, x ^ (1 << i)) for x in range(size) for i in range(k) if x < x ^ (1 << i)]
    a = torch.tensor([e[0] for e in edges])
    b = torch.tensor([e[1] for e in edges])
    tight = (funcs[:, a] - funcs[:, b]).abs() == 1  # (F, E)
    label = torch.arange(size).repeat(funcs.shape[0], 1)
    big = torch.full_like(label[:, :1], size)
    for _ in range(size):
        la, lb = label[:, a], label[:, b]
        m = torch.where(tight, torch.minimum(la, lb), big.expand_as(la))
        new = label.clone()
        new.scatter_reduce_(1, a.expand_as(m), m, reduce="amin")
        new.scatter_reduce_(1, b.expand_as(m), m, reduce="amin")
        if torch.equal(new, label):
            break
        label = new
    connected = (label == 0).all(1)
    return funcs[connected]


@lru_cache(maxsize=1)
def _shipped() -> dict[int, Tensor]:
    """Vertex sets shipped with hal9 (``data/lipschitz_vertices.npz``, from :func:`enumerate_vertices`)."""
    path = Path(__file__).with_name("data") / "lipschitz_vertices.npz"
    if not path.exists():  # pragma: no cover - a broken install; enumerate instead (about 2 s for k = 4)
        return {}
    with np.load(path) as data:
        return {int(name[1:]): torch.from_numpy(data[name].astype(np.int64)) for name in data.files}


def enumerate_vertices(k: int) -> Tensor:
    """Enumerate the vertices of the ``Q_k`` Lipschitz polytope: ``(V_k, 2**k)`` int64 (2 s for k = 4)."""
    return _vertices_cpu(k)


@lru_cache(maxsize=32)
def _vertices_on(k: int, device: str, dtype: torch.dtype) -> Tensor:
    v = _shipped().get(k)
    if v is None:
        v = _vertices_cpu(k)
    return v.to(device=device, dtype=dtype)


def lipschitz_vertices(
    k: int, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float64
) -> Tensor:
    """Vertices of ``{f : |f(x) − f(y)| ≤ 1 on the edges of Q_k, f(0) = 0}``, ``(V_k, 2**k)``.

    ``V_k`` = 2, 6, 38, 990 for k = 1..4.

    They are the integer 1-Lipschitz functions (3, 19, 495, 197 547 of them) whose tight edges form a
    connected spanning subgraph (the tight equalities then fix ``f``). hal9 ships them
    (:func:`enumerate_vertices` rebuilds them; a test checks the two agree).
    """
    if k < 1 or k > DUAL_MAX_NODES:
        raise ValueError(f"k: the vertex enumeration covers 1..{DUAL_MAX_NODES} nodes, got {k}")
    return _vertices_on(k, str(torch.device(device) if device is not None else torch.device("cpu")), dtype)


def effect_emd(m1: Tensor, m2: Tensor) -> Tensor:
    """Hamming EMD of product distributions given per-node ON probabilities ``(..., k)``: ``Σ|m1 − m2|``."""
    return (m1 - m2).abs().sum(-1)


@lru_cache(maxsize=1)
def _network_simplex() -> Callable[[np.ndarray, np.ndarray, np.ndarray], float]:
    """POT's network simplex: its C++ entry point when available (a quarter of ``ot.emd2``'s time on these
    small problems, which is mostly argument checking), else ``ot.emd2``."""
    try:
        from ot.lp.emd_wrap import emd_c

        def solve(a: np.ndarray, b: np.ndarray, cost: np.ndarray) -> float:
            _, value, _, _, code = emd_c(a, b, cost, 10_000_000, 1)
            if code != 1:  # 1 = optimal
                raise RuntimeError(f"network simplex did not reach the optimum (POT result code {code})")
            return float(value)

        return solve
    except ImportError:  # pragma: no cover - another POT layout
        import ot

        return lambda a, b, cost: float(ot.emd2(a, b, cost, numItermax=10_000_000))


def _exact_one(p: np.ndarray, q: np.ndarray, cost: np.ndarray) -> float:
    """Hamming EMD of one pair: transport from the positive to the negative part of ``p − q``."""
    d = p - q
    pos = d > 0
    neg = d < 0
    if not pos.any() or not neg.any():
        return 0.0
    a = np.ascontiguousarray(d[pos])
    b = np.ascontiguousarray(-d[neg])
    b *= a.sum() / b.sum()
    return _network_simplex()(a, b, np.ascontiguousarray(cost[np.ix_(pos, neg)]))


def hamming_emd(p: Tensor, q: Tensor) -> Tensor:
    """Exact Hamming EMD between rows of ``p`` and ``q``: ``(R, 2**k)`` each (LOLI), returns ``(R,)``.

    ``k ≤ 4``: dual vertices on ``p``'s device; ``k ≥ 5``: network simplex per row on the CPU.
    """
    if p.shape != q.shape or p.dim() != 2:
        raise ValueError(
            f"p, q: expected two (R, 2**k) tensors of one shape, got {tuple(p.shape)} and {tuple(q.shape)}"
        )
    size = p.shape[1]
    k = size.bit_length() - 1
    if 2**k != size:
        raise ValueError(f"p: the last axis must have length 2**k, got {size}")
    if k == 0 or p.shape[0] == 0:
        return torch.zeros(p.shape[0], dtype=p.dtype, device=p.device)
    if k <= DUAL_MAX_NODES:
        v = lipschitz_vertices(k, device=p.device, dtype=p.dtype)
        return ((p - q) @ v.T).amax(1).clamp_min(0)
    cost = hamming_matrix(k)
    pn = p.detach().cpu().double().numpy()
    qn = q.detach().cpu().double().numpy()
    out = [_exact_one(pn[i], qn[i], cost) for i in range(pn.shape[0])]
    return torch.tensor(out, dtype=p.dtype, device=p.device)


def _node_marginals(d: Tensor, k: int) -> Tensor:
    """``(R, k)``: Σ_x d(x) x_i for each node ``i`` (the change in P(node i = 1) when ``d = p − q``)."""
    bits = ((torch.arange(2**k, device=d.device)[:, None] >> torch.arange(k, device=d.device)) & 1).to(
        d.dtype
    )
    return d @ bits


def hamming_emd_cheap_bound(p: Tensor, q: Tensor) -> Tensor:
    """``max(Σ_i |p_i(1) − q_i(1)|, TV(p, q))``, a lower bound on the Hamming EMD of rows ``(R, 2**k)``.

    Both are dual values of 1-Lipschitz functions: ``Σ_i ±x_i`` and the indicator of ``{p > q}``.
    """
    k = p.shape[1].bit_length() - 1
    d = p - q
    return torch.maximum(_node_marginals(d, k).abs().sum(1), 0.5 * d.abs().sum(1))


@lru_cache(maxsize=8)
def _subsets(k: int, size: int) -> tuple[tuple[int, ...], ...]:
    return tuple(itertools.combinations(range(k), size))


def hamming_emd_lower_bound(p: Tensor, q: Tensor) -> Tensor:
    """A lower bound on the Hamming EMD of rows ``(R, 2**k)``, exact for ``k ≤ 4``.

    For ``k > 4``: ``max_A [EMD_A(p_A, q_A) + Σ_{i ∉ A} |p_i(1) − q_i(1)|]`` over the 4-node subsets ``A``,
    where ``p_A`` is the marginal on ``A`` — the dual value of the 1-Lipschitz function ``f(x_A) + Σ_{i∉A}
    ±x_i``.
    """
    size = p.shape[1]
    k = size.bit_length() - 1
    if k <= DUAL_MAX_NODES:
        return hamming_emd(p, q)
    d = (p - q).reshape(p.shape[0], *([2] * k))  # axis of node i: k - i (after the batch axis)
    single = _node_marginals((p - q), k).abs()
    v = lipschitz_vertices(DUAL_MAX_NODES, device=p.device, dtype=p.dtype)
    best = torch.zeros(p.shape[0], dtype=p.dtype, device=p.device)
    for subset in _subsets(k, DUAL_MAX_NODES):
        keep = [k - i for i in subset]
        drop = [a for a in range(1, k + 1) if a not in keep]
        marg = d.sum(dim=drop)  # remaining axes in decreasing node order: LOLI over the subset once flattened
        val = (marg.reshape(p.shape[0], -1) @ v.T).amax(1)
        rest = [i for i in range(k) if i not in subset]
        best = torch.maximum(best, val + single[:, rest].sum(1))
    return best


def transport_plan(supply: np.ndarray, demand: np.ndarray, cost: np.ndarray) -> tuple[float, np.ndarray]:
    """Exact optimal transport of ``supply`` onto ``demand`` (equal totals) under ``cost`` (network simplex).

    Returns the minimum cost and the plan ``(len(supply), len(demand))``.
    """
    a = np.ascontiguousarray(supply, dtype=np.float64)
    b = np.ascontiguousarray(demand, dtype=np.float64)
    if a.sum() <= 0 or b.sum() <= 0:
        return 0.0, np.zeros((a.size, b.size))
    b = b * (a.sum() / b.sum())
    c = np.ascontiguousarray(cost, dtype=np.float64)
    try:
        from ot.lp.emd_wrap import emd_c

        plan, value, _, _, code = emd_c(a, b, c, 10_000_000, 1)
        if code != 1:
            raise RuntimeError(f"network simplex did not reach the optimum (POT result code {code})")
        return float(value), np.asarray(plan)
    except ImportError:  # pragma: no cover - another POT layout
        import ot

        plan = ot.emd(a, b, c, numItermax=10_000_000)
        return float((plan * c).sum()), plan
