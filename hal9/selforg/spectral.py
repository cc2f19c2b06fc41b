"""Spectral embedding of a graph and seeded k-means: the numerical core of :mod:`hal9.selforg.layering`."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

__all__ = ["GAP_FLOOR", "N_EIG", "EigenStatus", "coo_parts", "kmeans", "spectral_embedding"]

N_EIG = 10  # smallest Laplacian eigenvalues computed: enough for gaps up to K = 9
_DENSE_MAX = 500  # below this many nodes the embedding is an exact dense eigendecomposition
GAP_FLOOR = 0.05  # chfsi stops early when no relative eigengap in range can reach this


def kmeans(
    x: Tensor, k: int, *, n_init: int = 4, max_iter: int = 100, tol: float = 1e-7, generator: torch.Generator
) -> tuple[Tensor, Tensor, float]:
    """Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii 2007); best of ``n_init`` restarts.

    Shape
    -----
    ``x`` ``(N, d)`` → labels ``(N,)`` int64, centres ``(k, d)``; also returns the inertia
    ``Σ_i ‖x_i − c_{ℓ_i}‖²``.

    Notes
    -----
    The ``R = n_init`` restarts run side by side: one ``(N, d) × (d, R k)`` product, one ``argmin`` and
    one one-hot ``(R k, N) × (N, d)`` product (the cluster sums) per Lloyd iteration serve all restarts
    still moving; a restart stops when its
    centres move by ``Σ ‖Δc‖² ≤ tol`` or after ``max_iter`` iterations. ``O(n_init · max_iter · N k d)``
    time, ``O(n_init · N k + N d)`` memory. An empty cluster is re-seeded with the point farthest from
    its centre. All draws come from ``generator``; the restart with the lowest inertia wins (the first
    on ties).
    """
    n, d = x.shape
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n}, got {k}")
    r_all = n_init
    x2 = (x * x).sum(1)
    c = torch.stack([_kmeanspp(x, k, generator) for _ in range(r_all)])  # (R, k, d)
    active = torch.arange(r_all, device=x.device)
    for _ in range(max_iter):
        a = active.numel()
        ca = c[active]
        lab = _nearest(x, ca)  # (N, A)
        cols = lab + torch.arange(a, device=x.device) * k
        # cluster sums of every restart at once: one-hot (N, A k)ᵀ @ x, a GEMM (index_add_ is ~4× slower)
        onehot = torch.zeros(n, a * k, dtype=x.dtype, device=x.device).scatter_(1, cols, 1.0)
        counts = torch.bincount(cols.reshape(-1), minlength=a * k).reshape(a, k)
        new = (onehot.T @ x).reshape(a, k, d) / counts.clamp_min(1).unsqueeze(2).to(x.dtype)
        for j in (counts == 0).any(1).nonzero().flatten().tolist():  # rare: re-seed empty clusters
            empty = (counts[j] == 0).nonzero().flatten()
            own = ((x - ca[j][lab[:, j]]) ** 2).sum(1)
            new[j, empty] = x[own.topk(empty.numel()).indices]
        shift = ((new - ca) ** 2).sum((1, 2))
        c[active] = new
        moving = shift > tol
        if not bool(moving.any()):
            break
        if not bool(moving.all()):
            active = active[moving]
    dist = (x2.unsqueeze(1) - 2 * x @ c.reshape(-1, d).T + (c * c).sum(2).reshape(1, -1)).reshape(n, r_all, k)
    md, lab = dist.min(2)
    inertia = md.clamp_min(0).sum(0)  # (R,)
    best = int(torch.argmin(inertia))  # argmin returns the first minimum
    return lab[:, best].contiguous(), c[best], float(inertia[best])


def _kmeanspp(x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k-means++ seeds ``(k, d)``: each next centre drawn with probability ``∝`` squared distance."""
    n = x.shape[0]
    first = torch.randint(0, n, (1,), generator=generator, device=generator.device).to(x.device)
    centres = [x[first]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        p = d2.clamp_min(0).double()
        idx = (
            torch.multinomial(p.to(generator.device), 1, generator=generator).to(x.device)
            if float(p.sum()) > 0
            else first
        )
        centres.append(x[idx])
        d2 = torch.minimum(d2, ((x - x[idx]) ** 2).sum(1))
    return torch.cat(centres)


def _nearest(x: Tensor, c: Tensor) -> Tensor:
    """``(N, A)`` index of the nearest of ``k`` centres per restart: ``argmin_j ‖c_j‖² − 2 x·c_j``."""
    a, k, d = c.shape
    scores = torch.addmm((c * c).sum(2).reshape(1, a * k), x, c.reshape(a * k, d).T, alpha=-2.0)
    return scores.reshape(-1, a, k).argmin(2)


class EigenStatus(NamedTuple):
    """How :func:`spectral_embedding` ended.

    ``outcome``: ``"exact"`` (dense or ARPACK), ``"converged"`` (no Ritz value moved by more than ``tol``
    in a sweep), ``"gapless"`` (no relative eigengap ``≥ gap_floor`` is possible in ``k_range``, see
    :func:`spectral_embedding`) or ``"budget"`` (stopped at ``max_matvecs``); ``matvecs``: block products
    with ``M`` used (``0`` for the dense solver).
    """

    outcome: str
    matvecs: int

    @property
    def converged(self) -> bool:
        """``True`` unless the iteration stopped early (``"gapless"``) or at its budget."""
        return self.outcome in ("exact", "converged")


def spectral_embedding(
    adjacency: Tensor,
    n_eig: int = N_EIG,
    *,
    seed: int = 0,
    solver: str = "auto",
    tol: float = 1e-4,
    max_matvecs: int = 64,
    k_range: tuple[int, int] = (2, 9),
    gap_floor: float = GAP_FLOOR,
) -> tuple[Tensor, Tensor, EigenStatus]:
    """Smallest eigenpairs of the normalised Laplacian ``L = I − D^{-1/2} A D^{-1/2}``.

    Parameters
    ----------
    adjacency : Tensor
        Symmetric ``(n, n)`` sparse CSR with every node of positive degree.
    n_eig : int
        Number of eigenpairs ``m ≤ n``.
    solver : {"auto", "dense", "chfsi", "eigsh"}
        ``"dense"``: exact ``torch.linalg.eigh`` (``O(n³)``, used by ``"auto"`` for ``n ≤ 500``);
        ``"chfsi"``: Chebyshev-filtered subspace iteration (Zhou & Saad 2007) in torch, block size
        ``b = m + 6``, degree-8 filters damping ``[−1, θ_b]`` of ``M = D^{-1/2} A D^{-1/2}``, at most
        ``max_matvecs`` block products (``"auto"`` for larger ``n``); see Notes for when it stops;
        ``"eigsh"``: ARPACK Lanczos via ``scipy.sparse.linalg.eigsh`` (reference; slow when the spectrum
        near 0 is clustered, as in geometric kNN graphs).
    tol : float
        ``chfsi`` has converged when no Ritz value moves by more than ``tol`` in a sweep.
    max_matvecs : int
        ``chfsi`` budget of block products ``M X`` (``X`` of ``b`` columns).
    k_range : (int, int)
        ``(K_min, K_max)`` of the eigengaps the caller will compare (1-based, ``K_max < m``).
    gap_floor : float
        ``chfsi`` stops early, outcome ``"gapless"``, when no relative eigengap in ``k_range`` can reach
        ``gap_floor`` (``0`` disables the test).

    Returns
    -------
    (eigenvalues, vectors, status)
        ``(m,)`` ascending eigenvalues of ``L``, ``(n, m)`` eigenvectors of ``L`` (orthonormal columns),
        and an :class:`EigenStatus`.

    Notes
    -----
    ``chfsi`` stops at the first of: (1) ``converged``; (2) ``gapless``: from the second filter sweep
    on, with Ritz values ``λ̃_j`` of ``L`` and residual norms ``r_j = ‖M x_j − (1 − λ̃_j) x_j‖`` (each
    ``λ̃_j`` is within ``r_j`` of an eigenvalue of ``L``), the largest relative gap still possible,
    ``max_K 1 − (λ̃_K − r_K)₊ / (λ̃_{K+1} + r_{K+1})`` over ``K ∈ k_range``, is below ``gap_floor``.
    Then the choice of ``K`` is arbitrary (the eigengaps are noise) and more sweeps would only refine
    the noise. Expander-like graphs (degree-preserving nulls, random regular graphs: ``λ_2 ≈ 0.5`` and a
    flat spectrum above it) stop after 2–3 sweeps (19–28 products instead of 64); a graph whose
    relative gap in ``k_range`` is ``≥ gap_floor``, or whose small eigenvalues are not yet resolved
    (``λ̃_K ≤ r_K``), never stops this way; planted partitions with a relative gap of only ≈ 0.02
    do; (3) ``budget``.

    Cost: ``O(max_matvecs · nnz · b + sweeps · n b²)`` time, ``O(n b)`` memory: at most
    ``⌊(max_matvecs − 1) / 9⌋`` sweeps of 9 products (7 with the default budget of 64). Ritz values
    converge quadratically faster than vectors, so the eigengaps are reliable before the vectors are exact.
    """
    n = adjacency.shape[0]
    rows, cols, vals = coo_parts(adjacency)
    vals = vals.to(torch.float64)
    deg = torch.zeros(n, dtype=torch.float64, device=vals.device).index_add_(0, rows, vals)
    dm = deg.rsqrt()
    mvals = vals * dm[rows] * dm[cols]
    if solver == "auto":
        solver = "dense" if n <= _DENSE_MAX else "chfsi"
    if solver == "dense":
        dense = torch.zeros(n, n, dtype=torch.float64, device=vals.device)
        dense[rows, cols] = mvals
        theta, v = torch.linalg.eigh(dense)
        return (1.0 - theta.flip(0)[:n_eig]).clamp_min(0), v.flip(1)[:, :n_eig], EigenStatus("exact", 0)
    if solver == "eigsh":
        import scipy.sparse as sp
        import scipy.sparse.linalg as sla

        m_sp = sp.csr_matrix((mvals.cpu().numpy(), (rows.cpu().numpy(), cols.cpu().numpy())), shape=(n, n))
        v0 = np.random.default_rng(seed).random(n)
        theta_np, v_np = sla.eigsh(m_sp, k=n_eig, which="LA", v0=v0, tol=tol)
        order = np.argsort(-theta_np)
        theta = torch.from_numpy(theta_np[order].copy()).to(vals.device)
        vecs = torch.from_numpy(v_np[:, order].copy()).to(vals.device)
        return (1.0 - theta).clamp_min(0), vecs, EigenStatus("exact", 0)
    if solver != "chfsi":
        raise ValueError(f"solver must be 'auto', 'dense', 'chfsi' or 'eigsh', got {solver!r}")
    m_csr = torch.sparse_csr_tensor(
        adjacency.crow_indices(), adjacency.col_indices(), mvals, (n, n), check_invariants=False
    )
    g = torch.Generator(device=vals.device).manual_seed(seed)
    b = min(n, n_eig + 6)
    x = torch.linalg.qr(torch.randn(n, b, generator=g, dtype=torch.float64, device=vals.device)).Q
    x, _, theta = _rayleigh_ritz(m_csr, x)
    used, outcome, degree, prev, sweeps = 1, "budget", 8, theta, 0
    while used + degree + 1 <= max_matvecs:
        upper = float(theta[-1])  # smallest Ritz value in the block: damp everything below it
        e, c = (upper + 1.0) / 2.0, (upper - 1.0) / 2.0
        y_prev, y = x, (torch.sparse.mm(m_csr, x) - c * x) / e
        for _ in range(degree - 1):
            y_prev, y = y, 2.0 * (torch.sparse.mm(m_csr, y) - c * y) / e - y_prev
        x, mx, theta = _rayleigh_ritz(m_csr, _orthonormalize(y))
        used, sweeps = used + degree + 1, sweeps + 1
        change = float((theta[:n_eig] - prev[:n_eig]).abs().max())
        prev = theta
        if change <= tol:
            outcome = "converged"
            break
        if sweeps >= 2 and _max_possible_gap(x, mx, theta, n_eig, k_range) < gap_floor:
            outcome = "gapless"
            break
    return (1.0 - theta[:n_eig]).clamp_min(0), x[:, :n_eig], EigenStatus(outcome, used)


def _max_possible_gap(x: Tensor, mx: Tensor, theta: Tensor, m: int, k_range: tuple[int, int]) -> float:
    """Largest relative gap ``1 − (λ̃_K − r_K)₊ / (λ̃_{K+1} + r_{K+1})`` over ``K ∈ k_range`` (1-based)."""
    lo, hi = k_range[0], min(k_range[1], m - 1)
    if hi < lo:
        return 1.0
    lam = 1.0 - theta[: hi + 1]
    r = (mx[:, : hi + 1] - x[:, : hi + 1] * theta[: hi + 1]).norm(dim=0)
    low = (lam[lo - 1 : hi] - r[lo - 1 : hi]).clamp_min(0)
    high = lam[lo : hi + 1] + r[lo : hi + 1]
    return float((1.0 - low / high.clamp_min(1e-300)).max())


def _orthonormalize(y: Tensor) -> Tensor:
    """Cholesky-QR applied twice (``O(n b²)``, far cheaper than Householder QR for tall blocks)."""
    for _ in range(2):
        chol, info = torch.linalg.cholesky_ex(y.T @ y)
        if int(info) != 0:
            return torch.linalg.qr(y).Q
        y = torch.linalg.solve_triangular(chol, y.T, upper=False).T
    return y


def _rayleigh_ritz(m_csr: Tensor, q: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    mq = torch.sparse.mm(m_csr, q)
    theta, s = torch.linalg.eigh(q.T @ mq)
    theta, s = theta.flip(0), s.flip(1)  # descending: largest eigenvalues of M first
    return q @ s, mq @ s, theta


def coo_parts(a: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    crow = a.crow_indices()
    rows = torch.repeat_interleave(torch.arange(a.shape[0], device=crow.device), crow.diff())
    return rows, a.col_indices().long(), a.values()
