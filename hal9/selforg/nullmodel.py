"""Null models for emergent layers: is the structure beyond what degrees or feature marginals explain?"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from hal9.core import as_tensor
from hal9.selforg.graph import KnnGraph
from hal9.selforg.layering import LayeringResult, emergent_layers

__all__ = ["NullComparison", "NullStat", "degree_preserving_rewire", "null_comparison", "permute_features"]


def degree_preserving_rewire(graph: KnnGraph, *, n_swaps_per_edge: int = 10, seed: int = 0) -> KnnGraph:
    """Maslov–Sneppen double-edge swaps on the undirected graph: ``(a,b),(c,d) → (a,d),(c,b)``.

    Every node keeps its undirected degree exactly; each undirected edge keeps its weight (weights travel
    with the ``(a, ·)`` / ``(c, ·)`` half of the swap), so the weight multiset is preserved but node
    strengths are not.

    Parameters
    ----------
    graph : KnnGraph
        Its max-symmetrised undirected graph is rewired.
    n_swaps_per_edge : int
        Attempted swaps per undirected edge (``≥ 0``); rejected swaps count as attempts.
    seed : int
        Seeds a ``torch.Generator``.

    Returns
    -------
    KnnGraph
        Each undirected edge listed in both directions, ``k' =`` max degree, ``-1``-padded, rows sorted by
        decreasing weight; its ``symmetric_csr()`` has the same degree sequence as the input's.

    Notes
    -----
    Vectorised in rounds: a random permutation pairs the ``M`` edges into ``M/2`` disjoint swaps; a swap is
    rejected if it makes a self-loop, an edge already in the graph, or an edge proposed twice in the round
    (found by one sort of the ``2M`` existing and proposed edge keys). ``2 · n_swaps_per_edge`` rounds of
    ``O(M log M)``; ``O(M)`` memory (Maslov & Sneppen 2002).
    """
    if isinstance(n_swaps_per_edge, bool) or not isinstance(n_swaps_per_edge, int) or n_swaps_per_edge < 0:
        raise ValueError(f"n_swaps_per_edge must be an integer >= 0, got {n_swaps_per_edge!r}")
    adj = graph.symmetric_csr()
    n = graph.n
    crow = adj.crow_indices()
    rows = torch.repeat_interleave(torch.arange(n, device=crow.device), crow.diff())
    cols, vals = adj.col_indices(), adj.values()
    upper = rows < cols
    u, v, w = rows[upper], cols[upper], vals[upper]
    m = u.numel()
    gen = torch.Generator(device=u.device).manual_seed(seed)
    half = m // 2
    for _ in range(2 * n_swaps_per_edge if m >= 2 else 0):
        perm = torch.randperm(m, generator=gen, device=u.device)
        flip = torch.rand(m, generator=gen, device=u.device) < 0.5  # random orientation of each edge
        a0, b0 = torch.where(flip, v, u), torch.where(flip, u, v)
        i, j = perm[:half], perm[half : 2 * half]
        a, b, c, d = a0[i], b0[i], a0[j], b0[j]
        lo1, hi1 = torch.minimum(a, d), torch.maximum(a, d)
        lo2, hi2 = torch.minimum(c, b), torch.maximum(c, b)
        # one sort of (existing edges, proposals): a proposal is rejected if its key occurs twice
        keys, order = torch.sort(torch.cat([u * n + v, lo1 * n + hi1, lo2 * n + hi2]))
        same = keys[1:] == keys[:-1]
        seen = torch.zeros(keys.numel(), dtype=torch.bool, device=u.device)
        seen[1:] |= same
        seen[:-1] |= same
        clash = torch.empty_like(seen).scatter_(0, order, seen)[m:].view(2, half)
        ok = (a != d) & (c != b) & ~clash[0] & ~clash[1]
        ii, jj = i[ok], j[ok]
        u[ii], v[ii] = lo1[ok], hi1[ok]
        u[jj], v[jj] = lo2[ok], hi2[ok]
    return _to_knn(torch.cat([u, v]), torch.cat([v, u]), torch.cat([w, w]), n, graph.weights.dtype)


def _to_knn(src: Tensor, dst: Tensor, w: Tensor, n: int, dtype: torch.dtype) -> KnnGraph:
    deg = torch.bincount(src, minlength=n)
    k = max(1, int(deg.max())) if src.numel() else 1
    order = torch.argsort(src * 4.0 - w.to(torch.float64), stable=True)  # by source, then weight desc
    src, dst, w = src[order], dst[order], w[order]
    start = torch.cumsum(deg, 0) - deg
    slot = torch.arange(src.numel(), device=src.device) - start[src]
    nb = torch.full((n, k), -1, dtype=torch.int64, device=src.device)
    ww = torch.zeros(n, k, dtype=dtype, device=src.device)
    nb[src, slot], ww[src, slot] = dst, w.to(dtype)
    return KnnGraph(nb, ww)


def permute_features(features: Tensor, seed: int = 0, *, columns: bool = False) -> Tensor:
    """Shuffle feature rows (``columns=False``) or each column independently (``columns=True``).

    Row shuffling breaks the feature–graph association while keeping every neuron's feature vector;
    column shuffling also destroys the correlations between features (keeps each marginal). Rediscovering
    a graph from row-shuffled features gives a relabelled copy of the same graph, so the rediscovery null
    of :func:`null_comparison` shuffles columns.

    Shape
    -----
    ``(N, F)`` → ``(N, F)``.
    """
    features = as_tensor(features, "features")
    if features.ndim != 2:
        raise ValueError(f"features must be (N, F), got {tuple(features.shape)}")
    g = torch.Generator(device=features.device).manual_seed(seed)
    n = features.shape[0]
    if not columns:
        return features[torch.randperm(n, generator=g, device=features.device)]
    idx = torch.stack(
        [torch.randperm(n, generator=g, device=features.device) for _ in range(features.shape[1])], 1
    )
    return features.gather(0, idx)


@dataclass(frozen=True)
class NullStat:
    """One statistic, real vs null: ``z = (real − mean) / sd``, ``margin = real − mean``."""

    real: float
    null: tuple[float, ...]
    mean: float
    sd: float
    z: float
    margin: float


@dataclass(frozen=True)
class NullComparison:
    """Real layering and its null statistics, keyed ``"<null>/<statistic>"``.

    Nulls: ``"rewired"`` (degree-preserving rewiring, features fixed), ``"shuffled"`` (graph and layers
    fixed, feature rows shuffled: only ``speed_separation``), ``"rediscovered"`` (graph rediscovered from
    column-shuffled features, when a ``rediscover`` callable is given). Statistics: ``modularity``,
    ``eigengap`` (at each run's own ``K``), ``violation`` (±1 rule), ``speed_separation`` (``η²`` of speed).
    """

    real: LayeringResult
    stats: dict[str, NullStat]

    def beats(self, key: str, n_sd: float) -> bool:
        """True when ``real > mean + n_sd · sd`` for ``key``."""
        s = self.stats[key]
        return s.real > s.mean + n_sd * s.sd

    def summary(self) -> str:
        return "\n".join(
            f"{k}: real {s.real:.4g} vs null {s.mean:.4g} ± {s.sd:.2g} (z = {s.z:.3g})"
            for k, s in self.stats.items()
        )


def null_comparison(
    graph: KnnGraph,
    features: Tensor,
    *,
    n_null: int = 5,
    seed: int = 0,
    rediscover: Callable[[Tensor], KnnGraph] | None = None,
    n_swaps_per_edge: int = 10,
    **layer_kwargs: Any,
) -> NullComparison:
    """Run :func:`emergent_layers` on the real graph and on ``n_null`` null graphs of each family.

    Null run ``i`` uses seed ``seed + 1 + i`` for the null draw and ``seed`` for the layering. ``sd`` is
    the sample standard deviation (``ddof = 1``); ``z = ±inf`` when ``sd = 0`` and ``real ≠ mean``.

    Notes
    -----
    Cost: ``(1 + n_null · (1 + [rediscover])) ×`` the layering cost, plus the rewiring.
    """
    features = as_tensor(features, "features", ndim=2)
    if isinstance(n_null, bool) or not isinstance(n_null, int) or n_null < 2:
        raise ValueError(f"n_null must be an integer >= 2 (a standard deviation is needed), got {n_null!r}")
    real = emergent_layers(graph, features, seed=seed, **layer_kwargs)
    runs: dict[str, list[LayeringResult]] = {"rewired": []}
    for i in range(n_null):
        g = degree_preserving_rewire(graph, n_swaps_per_edge=n_swaps_per_edge, seed=seed + 1 + i)
        runs["rewired"].append(emergent_layers(g, features, seed=seed, **layer_kwargs))
    if rediscover is not None:
        runs["rediscovered"] = []
        for i in range(n_null):
            f = permute_features(features, seed + 1 + i, columns=True)
            runs["rediscovered"].append(emergent_layers(rediscover(f), f, seed=seed, **layer_kwargs))
    stats: dict[str, NullStat] = {}
    has_speed = "speed" in real.feature_names
    for name, rs in runs.items():
        stats[f"{name}/modularity"] = _stat(real.modularity, [r.modularity for r in rs])
        stats[f"{name}/eigengap"] = _stat(real.eigengap, [r.eigengap for r in rs])
        stats[f"{name}/violation"] = _stat(real.adjacency_violation, [r.adjacency_violation for r in rs])
        if has_speed:
            stats[f"{name}/speed_separation"] = _stat(
                real.separation("speed"), [r.separation("speed") for r in rs]
            )
    if has_speed:
        col = real.feature_names.index("speed")
        shuffled = []
        for i in range(n_null):
            x = permute_features(features[:, col : col + 1], seed + 1 + i)[:, 0].to(torch.float64)
            shuffled.append(_eta2(x, real.labels, real.n_layers))
        stats["shuffled/speed_separation"] = _stat(real.separation("speed"), shuffled)
    return NullComparison(real=real, stats=stats)


def _eta2(x: Tensor, labels: Tensor, k: int) -> float:
    sizes = torch.bincount(labels, minlength=k).to(torch.float64)
    means = torch.zeros(k, dtype=torch.float64).index_add_(0, labels, x) / sizes.clamp_min(1)
    total = float(((x - x.mean()) ** 2).sum())
    return float((sizes * (means - x.mean()) ** 2).sum()) / total if total > 0 else 0.0


def _stat(real: float, null: list[float]) -> NullStat:
    t = torch.tensor(null, dtype=torch.float64)
    mean, sd = float(t.mean()), float(t.std(unbiased=True))
    margin = real - mean
    z = margin / sd if sd > 0 else (0.0 if margin == 0 else math.copysign(math.inf, margin))
    return NullStat(real=real, null=tuple(null), mean=mean, sd=sd, z=z, margin=margin)
