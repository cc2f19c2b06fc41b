"""Emergent layers: communities of the discovery graph, counted by the data and ordered into a hierarchy.

Pipeline (no thresholds on raw features): undirected graph ``A`` → spectral embedding of the normalised
Laplacian ``L = I − D^{-1/2} A D^{-1/2}`` → number of layers ``K`` by the largest eigengap (or the best
modularity) → seeded k-means on the row-normalised embedding (Ng, Jordan & Weiss 2002) → layers ordered
by a data-driven rule and named ``L1..LK`` by position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from hal9.core import adjacency_violation, as_tensor, layer_name
from hal9.selforg.graph import KnnGraph
from hal9.selforg.spectral import GAP_FLOOR, N_EIG, EigenStatus, coo_parts, kmeans, spectral_embedding

__all__ = ["LayeringResult", "emergent_layers", "kmeans", "modularity", "spectral_embedding"]

_DEFAULT_NAMES = ("speed", "complexity", "energy")  # column order of the primordial population

OrderKey = Callable[[Tensor, "Tensor | None", Tensor], Tensor]


@dataclass(frozen=True)
class LayeringResult:
    """Emergent layers of a discovery graph; layer ``0`` is ``L1``.

    Shape (``K`` layers, ``F`` features, ``m`` computed eigenvalues):
        * ``labels`` ``(N,)`` int64 in ``0..K-1`` by hierarchy position; ``sizes`` ``(K,)`` int64.
        * ``feature_means`` ``(K, F)``; ``feature_separation`` ``(F,)`` — between-layer variance ratio
          ``η² = Σ_c n_c (μ_c − μ)² / Σ_i (x_i − μ)²`` of each feature (``F = 0`` without features).
        * ``mean_degree`` / ``mean_strength`` ``(K,)``: unweighted / weighted degree in the undirected graph.
        * ``internal_density`` ``(K,)``: internal edge weight ``/ (n_c (n_c − 1) / 2)``.
        * ``connectivity`` ``(K, K)``: summed undirected edge weight between (off-diagonal) and inside
          (diagonal) layers, each edge counted once.
        * ``eigenvalues`` ``(m,)``: smallest eigenvalues of ``L``, ascending.

    ``eigengaps[K] = (λ_{K+1} − λ_K) / λ_{K+1}`` (1-based λ) and ``modularity_by_k[K]`` hold the
    criterion values of every ``K`` tried; ``adjacency_violation`` is the fraction of undirected edge
    weight between non-adjacent layers (the ±1 rule) and ``compliance = 1 − adjacency_violation``.
    """

    labels: Tensor
    sizes: Tensor
    n_layers: int
    layer_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    feature_means: Tensor
    feature_separation: Tensor
    mean_degree: Tensor
    mean_strength: Tensor
    internal_density: Tensor
    connectivity: Tensor
    modularity: float
    adjacency_violation: float
    compliance: float
    eigenvalues: Tensor
    eigengaps: dict[int, float]
    modularity_by_k: dict[int, float]
    criterion: str
    order_by: str
    reason: str

    @property
    def eigengap(self) -> float:
        """Relative eigengap ``(λ_{K+1} − λ_K) / λ_{K+1}`` at the chosen ``K`` (``0.0`` for one layer)."""
        return self.eigengaps.get(self.n_layers, 0.0)

    def separation(self, feature: str) -> float:
        """``η²`` of the named feature (``ValueError`` if unknown)."""
        if feature not in self.feature_names:
            raise ValueError(f"feature {feature!r} not in feature_names {self.feature_names}")
        return float(self.feature_separation[self.feature_names.index(feature)])


def modularity(adjacency: Tensor | KnnGraph, labels: Tensor) -> float:
    """Newman–Girvan modularity of a partition of a weighted undirected graph.

        Q = Σ_c [ L_c / m − (d_c / 2m)² ]

    with ``m`` the total edge weight, ``L_c`` the weight inside community ``c`` and ``d_c`` its summed
    weighted degree (Newman 2006).

    Parameters
    ----------
    adjacency : Tensor or KnnGraph
        Symmetric ``(N, N)`` sparse CSR adjacency (each undirected edge stored in both directions), or a
        :class:`KnnGraph` (its max-symmetrised CSR is used).
    labels : Tensor
        ``(N,)`` integer community of each node.

    Returns
    -------
    float
        ``Q ∈ [−1/2, 1)``; ``0.0`` for a graph without weight.

    Notes
    -----
    ``O(nnz)`` time and memory (two ``bincount``); never forms a dense matrix.
    """
    if not isinstance(adjacency, KnnGraph):
        adjacency = as_tensor(adjacency, "adjacency", ndim=2)
    dev = adjacency.neighbors.device if isinstance(adjacency, KnnGraph) else adjacency.device
    labels = as_tensor(labels, "labels", ndim=1, dtype=torch.int64, device=dev)
    a = adjacency.symmetric_csr() if isinstance(adjacency, KnnGraph) else adjacency
    if a.layout != torch.sparse_csr or a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError("adjacency must be a square sparse CSR tensor or a KnnGraph")
    if labels.shape != (a.shape[0],) or labels.dtype.is_floating_point:
        raise ValueError(f"labels must be (N,) integer with N = {a.shape[0]}, got {tuple(labels.shape)}")
    rows, cols, vals = coo_parts(a)
    vals = vals.to(torch.float64)
    two_m = float(vals.sum())
    if two_m == 0.0:
        return 0.0
    lab = labels.to(rows.device).long()
    same = lab[rows] == lab[cols]
    k = int(lab.max()) + 1 if lab.numel() else 1
    internal = float(vals[same].sum()) / two_m
    d_c = torch.bincount(lab[rows], weights=vals, minlength=k) / two_m
    return internal - float((d_c * d_c).sum())


def emergent_layers(
    graph: KnnGraph,
    features: Tensor | None = None,
    *,
    n_layers: int | None = None,
    min_layers: int = 2,
    max_layers: int = 9,
    criterion: str = "eigengap",
    order_by: str | OrderKey = "speed",
    seed: int = 0,
    feature_names: tuple[str, ...] | list[str] | None = None,
    n_init: int = 4,
    solver: str = "auto",
) -> LayeringResult:
    """Find the layers that emerge from a discovery graph and order them into a hierarchy ``L1..LK``.

    Parameters
    ----------
    graph : KnnGraph
        Discovery graph; analysed as its max-symmetrised undirected weighted graph ``A``.
    features : Tensor, optional
        ``(N, F)`` neuron features, used only to order and describe layers (never to form them).
    n_layers : int, optional
        Fixed ``K`` in ``[2, 9]``; ``None`` lets the data choose ``K ∈ [min_layers, max_layers]``.
    criterion : {"eigengap", "modularity"}
        ``"eigengap"``: ``K = argmax_K (λ_{K+1} − λ_K) / λ_{K+1}`` (relative eigengap) over the smallest
        eigenvalues of the normalised Laplacian (von Luxburg 2007, §8.3; relative so that ``K`` connected
        components, ``λ_1..λ_K = 0``, always win over a larger absolute gap higher in the spectrum);
        ``"modularity"``: the ``K`` whose k-means partition has the highest modularity ``Q``.
    order_by : str or callable, default "speed"
        ``"<feature>"``: layers by decreasing mean of that feature (default: fastest layer is ``L1``,
        reflexive); ``"distance"``: by increasing mean hop distance from the fastest 1 % of neurons;
        ``"size"``: by decreasing size (used, and stated in ``reason``, when features are missing);
        callable ``f(labels (N,), features (N, F) | None, adjacency CSR) → (K,)`` key, ``L1`` = largest.
    seed : int
        Seeds the eigensolver start block and k-means (``torch.Generator``; no global RNG).
    feature_names : sequence of str, optional
        Column names; default ``("speed", "complexity", "energy")`` then ``"f3", "f4", …``.
    n_init : int
        k-means restarts.
    solver : str
        Eigensolver, see :func:`spectral_embedding`.

    Returns
    -------
    LayeringResult

    Notes
    -----
    Nodes without edges are left out of the embedding and join the layer with the nearest feature mean
    (or ``L1`` without features). A graph with no weight, fewer than 3 connected nodes, identical features
    for every neuron or a flat spectrum (all gaps ``< 1e-9``, e.g. a complete graph of equal
    compatibilities) yields one layer, explained in ``reason``. A gapless spectrum does not: when no
    relative gap ``≥ 0.05`` is possible in ``[min_layers, max_layers]`` (expander-like graphs such as the
    degree-preserving nulls) the eigensolver stops early, ``K`` is still the largest gap, and ``reason``
    says that ``K`` is arbitrary. Cost: ``O(N k log(N k))`` for the symmetrisation, at most 64 block
    products ``O(64 · nnz · 16)`` for the eigensolver (19–28 on gapless graphs),
    ``O(n_init · iters · N K²)`` for k-means; memory ``O(N k)``.
    """
    if features is not None:
        features = as_tensor(features, "features", ndim=2)
    _check_k_range(n_layers, min_layers, max_layers)
    if criterion not in ("eigengap", "modularity"):
        raise ValueError(f"criterion must be 'eigengap' or 'modularity', got {criterion!r}")
    n = graph.n
    if features is not None and (features.ndim != 2 or features.shape[0] != n):
        raise ValueError(f"features must be (N, F) with N = {n}, got {tuple(features.shape)}")
    f_dim = 0 if features is None else features.shape[1]
    names = tuple(feature_names) if feature_names is not None else _default_names(f_dim)
    if len(names) != f_dim:
        raise ValueError(f"feature_names has {len(names)} names for {f_dim} feature columns")
    adj = graph.symmetric_csr()
    rows, cols, vals = coo_parts(adj)
    strength = torch.zeros(n, dtype=torch.float64, device=vals.device).index_add_(0, rows, vals)
    active = (strength > 0).nonzero().flatten()
    degenerate = _degenerate(features, active.numel(), float(vals.sum()))
    eigvals = torch.zeros(0, dtype=torch.float64)
    gaps: dict[int, float] = {}
    mod_by_k: dict[int, float] = {}
    labels = torch.zeros(n, dtype=torch.int64, device=vals.device)
    if degenerate is None:
        remap = torch.full((n,), -1, dtype=torch.int64, device=vals.device)
        remap[active] = torch.arange(active.numel(), device=vals.device)
        sub = _csr(remap[rows], remap[cols], vals, active.numel()) if active.numel() < n else adj
        m_eig = min(N_EIG, active.numel() - 1)
        top = min(max_layers, m_eig - 1)
        eigvals, vecs, status = spectral_embedding(
            sub, m_eig, seed=seed, solver=solver, k_range=(min_layers, max(min_layers, top))
        )
        gaps = {
            k: float((eigvals[k] - eigvals[k - 1]) / eigvals[k].clamp_min(1e-12))
            for k in range(min_layers, top + 1)
        }
        if n_layers is not None and n_layers > m_eig:
            degenerate = f"n_layers={n_layers} exceeds the {m_eig} eigenvectors available for {n} neurons"
        elif n_layers is None and (not gaps or max(gaps.values()) < 1e-9):
            degenerate = (
                "flat Laplacian spectrum (no eigengap): the graph has no community structure to split"
            )
    if degenerate is None:
        gen = torch.Generator(device=vals.device).manual_seed(seed)
        if n_layers is not None:
            cand = [n_layers]
        else:
            cand = list(gaps) if criterion == "modularity" else [max(gaps, key=lambda k: gaps[k])]
        parts = {}
        for k in cand:
            emb = vecs[:, :k] / vecs[:, :k].norm(dim=1, keepdim=True).clamp_min(1e-300)
            parts[k] = torch.unique(
                kmeans(emb.float(), k, n_init=n_init, generator=gen)[0], return_inverse=True
            )[1]
            mod_by_k[k] = modularity(sub, parts[k])
        k_best = cand[0] if len(cand) == 1 else max(mod_by_k, key=lambda k: mod_by_k[k])
        labels[active] = parts[k_best]
        how = (
            f"fixed n_layers={n_layers}"
            if n_layers
            else f"K={k_best} by {criterion} in [{min_layers}, {top}]"
        )
        reason = (
            f"{how}; relative eigengap (λ{k_best + 1}−λ{k_best})/λ{k_best + 1} = "
            f"{gaps.get(k_best, 0.0):.4g}; {_solver_note(status, min_layers, top)}"
        )
        if active.numel() < n:
            reason += f"; {n - active.numel()} neurons without edges joined the nearest layer"
            labels = _attach_isolated(labels, active, features, int(parts[k_best].max()) + 1)
    else:
        reason = f"one layer: {degenerate}"
    k = int(labels.max()) + 1 if n else 1
    key, order_name, note = _order_key(order_by, labels, k, features, names, adj)
    rank = torch.empty(k, dtype=torch.int64)
    rank[torch.argsort(key.cpu(), descending=True, stable=True)] = torch.arange(k)
    labels = rank.to(labels.device)[labels]
    return _describe(
        graph,
        adj,
        labels,
        k,
        features,
        names,
        eigvals,
        gaps,
        mod_by_k,
        criterion,
        order_name,
        reason + f"; ordered by {order_name}" + note,
    )


def _solver_note(status: EigenStatus, lo: int, hi: int) -> str:
    if status.outcome == "exact":
        return "exact eigendecomposition"
    if status.outcome == "converged":
        return f"eigensolver converged ({status.matvecs} block products)"
    if status.outcome == "gapless":
        return (
            f"gapless spectrum: no relative eigengap >= {GAP_FLOOR:g} possible for K in [{lo}, {hi}], "
            f"eigensolver stopped early ({status.matvecs} block products; K arbitrary, approximate embedding)"
        )
    return (
        f"eigensolver stopped at its matvec budget ({status.matvecs} block products; approximate embedding)"
    )


def _check_k_range(n_layers: int | None, min_layers: int, max_layers: int) -> None:
    if not (
        isinstance(min_layers, int) and isinstance(max_layers, int) and 2 <= min_layers <= max_layers <= 9
    ):
        raise ValueError(
            f"min_layers and max_layers must satisfy 2 <= min_layers <= max_layers <= 9, "
            f"got {min_layers!r}, {max_layers!r}"
        )
    if n_layers is not None and (
        isinstance(n_layers, bool) or not isinstance(n_layers, int) or not 2 <= n_layers <= 9
    ):
        raise ValueError(f"n_layers must be None or an integer in [2, 9], got {n_layers!r}")


def _default_names(f_dim: int) -> tuple[str, ...]:
    return _DEFAULT_NAMES[:f_dim] + tuple(f"f{i}" for i in range(len(_DEFAULT_NAMES), f_dim))


def _degenerate(features: Tensor | None, n_active: int, total: float) -> str | None:
    if total <= 0.0:
        return "the graph has no edge of positive weight"
    if n_active < 3:
        return f"only {n_active} neurons have edges"
    if features is not None and features.shape[0] > 1 and bool((features == features[:1]).all()):
        return "every neuron has identical features, so any split would be a tie-breaking artefact"
    return None


def _csr(rows: Tensor, cols: Tensor, vals: Tensor, n: int) -> Tensor:
    crow = torch.zeros(n + 1, dtype=torch.int64, device=rows.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n), 0)
    return torch.sparse_csr_tensor(crow, cols, vals, (n, n), check_invariants=False)


def _attach_isolated(labels: Tensor, active: Tensor, features: Tensor | None, k: int) -> Tensor:
    iso = torch.ones_like(labels, dtype=torch.bool)
    iso[active] = False
    if features is None:
        labels[iso] = 0
        return labels
    f = features.to(torch.float64).to(labels.device)
    means = torch.zeros(k, f.shape[1], dtype=torch.float64, device=f.device).index_add_(
        0, labels[active], f[active]
    )
    means /= torch.bincount(labels[active], minlength=k).clamp_min(1).unsqueeze(1)
    labels[iso] = torch.cdist(f[iso], means).argmin(1)
    return labels


def _order_key(
    order_by: str | OrderKey,
    labels: Tensor,
    k: int,
    features: Tensor | None,
    names: tuple[str, ...],
    adj: Tensor,
) -> tuple[Tensor, str, str]:
    """Per-layer key (``L1`` = largest), its description and a note for ``reason``."""
    sizes = torch.bincount(labels, minlength=k).to(torch.float64)
    if callable(order_by):
        key = torch.as_tensor(order_by(labels, features, adj), dtype=torch.float64)
        if key.shape != (k,):
            raise ValueError(f"order_by callable must return a ({k},) key, got {tuple(key.shape)}")
        return key, getattr(order_by, "__name__", "callable"), ""
    if not isinstance(order_by, str):
        raise ValueError(
            f"order_by must be a feature name, 'distance', 'size' or a callable, got {order_by!r}"
        )
    if order_by == "size":
        return sizes, "size (largest layer is L1)", ""
    need = "speed" if order_by == "distance" else order_by
    if features is None:
        return sizes, "size (largest layer is L1)", f" (order_by={order_by!r} needs features: none given)"
    if need not in names:
        raise ValueError(f"order_by {order_by!r} needs feature {need!r}, not in feature_names {names}")
    x = features[:, names.index(need)].to(torch.float64).to(labels.device)
    if order_by != "distance":
        means = torch.zeros(k, dtype=torch.float64, device=x.device).index_add_(0, labels, x) / sizes.to(
            x.device
        )
        return means, f"mean {need}, descending (highest is L1)", ""
    n_seed = max(1, x.numel() // 100)
    dist = _hop_distance(adj, x.topk(n_seed).indices)
    mean_d = torch.zeros(k, dtype=torch.float64, device=x.device).index_add_(0, labels, dist) / sizes.to(
        x.device
    )
    return -mean_d, "mean hop distance from the fastest 1% of neurons, ascending (closest is L1)", ""


def _hop_distance(adj: Tensor, sources: Tensor) -> Tensor:
    """Multi-source BFS by sparse frontier products; unreachable nodes get ``max + 1``. ``O(diam · nnz)``."""
    n = adj.shape[0]
    pattern = torch.sparse_csr_tensor(
        adj.crow_indices(), adj.col_indices(), torch.ones_like(adj.values()), (n, n), check_invariants=False
    )
    dist = torch.full((n,), -1.0, dtype=torch.float64, device=adj.device)
    dist[sources] = 0.0
    frontier = torch.zeros(n, 1, dtype=torch.float64, device=adj.device)
    frontier[sources] = 1.0
    step = 0
    while bool(frontier.any()):
        step += 1
        reach = (torch.sparse.mm(pattern, frontier).squeeze(1) > 0) & (dist < 0)
        dist[reach] = float(step)
        frontier = reach.to(torch.float64).unsqueeze(1)
    dist[dist < 0] = float(dist.max()) + 1.0
    return dist


def _describe(
    graph: KnnGraph,
    adj: Tensor,
    labels: Tensor,
    k: int,
    features: Tensor | None,
    names: tuple[str, ...],
    eigvals: Tensor,
    gaps: dict[int, float],
    mod_by_k: dict[int, float],
    criterion: str,
    order_name: str,
    reason: str,
) -> LayeringResult:
    rows, cols, vals = coo_parts(adj)
    vals = vals.to(torch.float64)
    sizes = torch.bincount(labels, minlength=k)
    sz = sizes.to(torch.float64).clamp_min(1)
    lr, lc = labels[rows], labels[cols]
    conn = torch.bincount(lr * k + lc, weights=vals, minlength=k * k).reshape(k, k).to(torch.float64)
    conn.diagonal().mul_(0.5)  # internal edges appear twice in the symmetric CSR
    deg = torch.bincount(rows, minlength=labels.numel()).to(torch.float64)
    strength = torch.zeros(labels.numel(), dtype=torch.float64, device=vals.device).index_add_(0, rows, vals)
    possible = sizes.to(torch.float64) * (sizes.to(torch.float64) - 1) / 2
    density = torch.where(possible > 0, conn.diagonal() / possible.clamp_min(1), torch.zeros_like(possible))
    if features is not None:
        f = features.to(torch.float64).to(labels.device)
        fmeans = torch.zeros(k, f.shape[1], dtype=torch.float64, device=f.device).index_add_(0, labels, f)
        fmeans /= sz.unsqueeze(1)
        total = ((f - f.mean(0)) ** 2).sum(0)
        between = (sz.unsqueeze(1) * (fmeans - f.mean(0)) ** 2).sum(0)
        sep = torch.where(total > 0, between / total.clamp_min(1e-300), torch.zeros_like(total))
    else:
        fmeans, sep = torch.zeros(k, 0, dtype=torch.float64), torch.zeros(0, dtype=torch.float64)
    viol = adjacency_violation((rows, cols, vals), labels)
    return LayeringResult(
        labels=labels,
        sizes=sizes,
        n_layers=k,
        layer_names=tuple(layer_name(i) for i in range(k)),
        feature_names=names,
        feature_means=fmeans,
        feature_separation=sep,
        mean_degree=torch.zeros(k, dtype=torch.float64, device=deg.device).index_add_(0, labels, deg) / sz,
        mean_strength=torch.zeros(k, dtype=torch.float64, device=deg.device).index_add_(0, labels, strength)
        / sz,
        internal_density=density,
        connectivity=conn,
        modularity=modularity(adj, labels),
        adjacency_violation=viol,
        compliance=1.0 - viol,
        eigenvalues=eigvals.cpu(),
        eigengaps=gaps,
        modularity_by_k=mod_by_k,
        criterion=criterion,
        order_by=order_name,
        reason=reason,
    )
