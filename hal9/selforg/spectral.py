"""Spectral embedding of a graph and seeded k-means: the numerical core of :mod:`hal9.selforg.layering`."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["N_EIG", "coo_parts", "kmeans", "spectral_embedding"]

N_EIG = 10  # smallest Laplacian eigenvalues computed: enough for gaps up to K = 9
_DENSE_MAX = 500  # below this many nodes the embedding is an exact dense eigendecomposition


def kmeans(
    x: Tensor, k: int, *, n_init: int = 4, max_iter: int = 100, tol: float = 1e-7, generator: torch.Generator
) -> tuple[Tensor, Tensor, float]:
    """Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii 2007); best of ``n_init`` restarts.

    Shape:
        ``x`` ``(N, d)`` → labels ``(N,)`` int64, centres ``(k, d)``; also returns the inertia
        ``Σ_i ‖x_i − c_{ℓ_i}‖²``.

    Notes
    -----
    ``O(n_init · max_iter · N k d)`` time, ``O(N k)`` memory. An empty cluster is re-seeded with the point
    farthest from its centre. All draws come from ``generator``.
    """
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n}, got {k}")
    x2 = (x * x).sum(1, keepdim=True)
    best: tuple[Tensor, Tensor, float] | None = None
    for _ in range(n_init):
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
        c = torch.cat(centres)
        for _ in range(max_iter):
            dist = x2 - 2 * x @ c.T + (c * c).sum(1)
            lab = dist.argmin(1)
            counts = torch.bincount(lab, minlength=k)
            new = torch.zeros_like(c).index_add_(0, lab, x) / counts.clamp_min(1).unsqueeze(1).to(x.dtype)
            empty = (counts == 0).nonzero().flatten()
            if empty.numel():
                far = dist.gather(1, lab.unsqueeze(1)).squeeze(1).topk(empty.numel()).indices
                new[empty] = x[far]
            shift = float(((new - c) ** 2).sum())
            c = new
            if shift <= tol:
                break
        dist = x2 - 2 * x @ c.T + (c * c).sum(1)
        md, lab = dist.min(1)
        inertia = float(md.clamp_min(0).sum())
        if best is None or inertia < best[2]:
            best = (lab, c, inertia)
    assert best is not None
    return best


def spectral_embedding(
    adjacency: Tensor,
    n_eig: int = N_EIG,
    *,
    seed: int = 0,
    solver: str = "auto",
    tol: float = 1e-4,
    max_matvecs: int = 64,
) -> tuple[Tensor, Tensor, bool]:
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
        ``m + 6``, degree-8 filters damping ``[−1, θ_b]`` of ``M = D^{-1/2} A D^{-1/2}``, stopped when no
        Ritz value moves by more than ``tol`` between sweeps or after ``max_matvecs`` block products
        (``"auto"`` for larger ``n``);
        ``"eigsh"``: ARPACK Lanczos via ``scipy.sparse.linalg.eigsh`` (reference; slow when the spectrum
        near 0 is clustered, as in geometric kNN graphs).

    Returns
    -------
    (eigenvalues, vectors, converged)
        ``(m,)`` ascending eigenvalues of ``L``, ``(n, m)`` eigenvectors of ``L`` (orthonormal columns),
        and whether the iterative solver met ``tol``.

    Notes
    -----
    ``chfsi``: ``O(max_matvecs · nnz · (m + 6))`` time, ``O(n (m + 6))`` memory. Ritz values converge
    quadratically faster than vectors, so the eigengaps are reliable before the vectors are exact.
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
        return (1.0 - theta.flip(0)[:n_eig]).clamp_min(0), v.flip(1)[:, :n_eig], True
    if solver == "eigsh":
        import scipy.sparse as sp
        import scipy.sparse.linalg as sla

        m_sp = sp.csr_matrix((mvals.cpu().numpy(), (rows.cpu().numpy(), cols.cpu().numpy())), shape=(n, n))
        v0 = np.random.default_rng(seed).random(n)
        theta_np, v_np = sla.eigsh(m_sp, k=n_eig, which="LA", v0=v0, tol=tol)
        order = np.argsort(-theta_np)
        theta = torch.from_numpy(theta_np[order].copy()).to(vals.device)
        return (1.0 - theta).clamp_min(0), torch.from_numpy(v_np[:, order].copy()).to(vals.device), True
    if solver != "chfsi":
        raise ValueError(f"solver must be 'auto', 'dense', 'chfsi' or 'eigsh', got {solver!r}")
    m_csr = torch.sparse_csr_tensor(
        adjacency.crow_indices(), adjacency.col_indices(), mvals, (n, n), check_invariants=False
    )
    g = torch.Generator(device=vals.device).manual_seed(seed)
    b = min(n, n_eig + 6)
    x = torch.linalg.qr(torch.randn(n, b, generator=g, dtype=torch.float64, device=vals.device)).Q
    x, _, theta = _rayleigh_ritz(m_csr, x)
    used, converged, degree, prev = 1, False, 8, theta
    while used + degree + 1 <= max_matvecs:
        upper = float(theta[-1])  # smallest Ritz value in the block: damp everything below it
        e, c = (upper + 1.0) / 2.0, (upper - 1.0) / 2.0
        y_prev, y = x, (torch.sparse.mm(m_csr, x) - c * x) / e
        for _ in range(degree - 1):
            y_prev, y = y, 2.0 * (torch.sparse.mm(m_csr, y) - c * y) / e - y_prev
        x, _, theta = _rayleigh_ritz(m_csr, _orthonormalize(y))
        used += degree + 1
        change = float((theta[:n_eig] - prev[:n_eig]).abs().max())
        prev = theta
        if change <= tol:
            converged = True
            break
    return (1.0 - theta[:n_eig]).clamp_min(0), x[:, :n_eig], converged


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
