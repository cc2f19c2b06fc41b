"""Log-determinants of all ``2^n`` principal sub-matrices by a batched Schur-complement recursion.

Private helper of the exhaustive minimum-information-bipartition search.

For a symmetric positive-definite ``M`` and its first node ``0``, every principal minor either leaves
node ``0`` out (a minor of ``M[1:, 1:]``) or keeps it, and then

``det M_{S ∪ {0}} = M₀₀ · det (M/M₀₀)_S``, with Schur complement ``M/M₀₀ = M[1:,1:] − M[1:,0] M[0,1:] / M₀₀``

(Griffin & Tsatsomeros, "Principal minors, Part I: A method for computing all the principal minors of a
matrix", Linear Algebra Appl. 419:107, 2006). Applying this node by node doubles a batch of ever smaller
Schur complements; after ``n`` levels the accumulated ``Σ ln(pivots)`` is ``ln det M_S`` for every subset
``S``. Work: ``Σ_d 2^d (n−d)² ≈ 6·2^n`` multiply-adds, all as a few large tensor operations per level (no
per-subset factorisation), so it runs equally on CPU and GPU.

Nodes may also be *pairs* of rows (``block=2``), e.g. the interleaved ``(past, present)`` rows of the joint
covariance of ``(X_{t−1}, X_t)``: ``options`` says which rows of the pair each branch keeps
(``((), (0, 1))``: neither / both; ``((0,), (1,))``: past only / present only).

Output index convention: entry ``code = Σ_i b_i 2^i`` belongs to the subset ``{i : b_i = 1}``
(the first option counts as ``b_i = 0``).
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Maximum number of matrix entries held by one level of the recursion (~4 temporaries of this size).
MAX_LEVEL_ELEMENTS = 2**23

Options = tuple[tuple[int, ...], tuple[int, ...]]


def _branch(X: Tensor, acc: Tensor, keep: tuple[int, ...], block: int, out: Tensor) -> Tensor:
    """Write into ``out`` the first ``block`` rows of every matrix eliminated, pivoting on ``keep``.

    Returns the new log-det accumulator. The rank-1/rank-2 Schur updates are written as broadcast
    outer products (``addcmul_``) rather than batched tiny matmuls. Non-positive pivots are not checked
    here: they turn the accumulator into NaN/-inf, which :func:`subset_logdets` reports.
    """
    out.copy_(X[..., block:, block:])
    if not keep:
        return acc
    if len(keep) == 1:
        k = keep[0]
        p = X[..., k, k]
        r = X[..., block:, k]
        out.addcmul_(r[..., :, None], (r / p[..., None])[..., None, :], value=-1.0)
        return acc + torch.log(p)
    a, b, d = X[..., 0, 0], X[..., 0, 1], X[..., 1, 1]
    det = a * d - b * b
    r0, r1 = X[..., block:, 0], X[..., block:, 1]
    inv_det = (1.0 / det)[..., None]
    u0 = (d[..., None] * r0 - b[..., None] * r1) * inv_det  # rows of R · inv(P)
    u1 = (a[..., None] * r1 - b[..., None] * r0) * inv_det
    out.addcmul_(r0[..., :, None], u0[..., None, :], value=-1.0)
    out.addcmul_(r1[..., :, None], u1[..., None, :], value=-1.0)
    return acc + torch.log(det)


def _recurse(M: Tensor, acc: Tensor, options: Options, block: int) -> Tensor:
    """``M``: ``(B, r, r)``, ``acc``: ``(B,)`` → ``(2^(r/block), B)`` accumulated log-dets."""
    X, A = M[None], acc[None]
    while X.shape[-1] > 0:
        H, B, r = X.shape[0], X.shape[1], X.shape[-1]
        if 2 * H * B * r * r > MAX_LEVEL_ELEMENTS and H * B > 1:
            flat, flat_acc = X.reshape(H * B, r, r), A.reshape(H * B)
            size = max(1, MAX_LEVEL_ELEMENTS // (4 * r * r))
            parts = [
                _recurse(flat[i : i + size], flat_acc[i : i + size], options, block)
                for i in range(0, H * B, size)
            ]
            res = torch.cat(parts, dim=1)  # (2^rem, H·B), column index h·B + b
            return res.reshape(res.shape[0], H, B).reshape(res.shape[0] * H, B)
        Xn = X.new_empty((2 * H, B, r - block, r - block))
        A0 = _branch(X, A, options[0], block, Xn[:H])
        A1 = _branch(X, A, options[1], block, Xn[H:])
        X, A = Xn, torch.cat([A0, A1], dim=0)  # the new node is the most significant bit so far
    return A


def subset_logdets(M: Tensor, *, block: int = 1, options: Options | None = None) -> Tensor:
    """``ln det`` of the principal sub-matrix of every subset of nodes (empty subset: 0).

    Parameters
    ----------
    M : Tensor
        Symmetric positive-definite matrix, or a batch of them; node ``i`` owns rows
        ``block·i … block·i + block − 1``.
    block : int
        Rows per node (1 or 2).
    options : pair of tuples, optional
        Rows of a node kept by the ``b_i = 0`` and ``b_i = 1`` branches; default ``((), all rows)``.

    Returns
    -------
    Tensor
        Entry ``Σ_i b_i 2^i`` is the log-det of the sub-matrix the branches ``b`` select.

    Shape
    -----
    ``M``: ``(block·n, block·n)`` → ``(2^n,)``; ``(B, block·n, block·n)`` → ``(2^n, B)``.

    Raises
    ------
    ValueError
        If a pivot is not positive (``M`` not positive definite).
    """
    if options is None:
        options = ((), tuple(range(block)))
    batch = M.ndim == 3
    Mb = M if batch else M[None]
    acc = torch.zeros(Mb.shape[0], dtype=M.dtype, device=M.device)
    out = _recurse(Mb, acc, options, block)
    if not bool(torch.isfinite(out).all()):
        raise ValueError("covariance is not positive definite (non-positive Schur pivot)")
    return out if batch else out[:, 0]


def interleave(past: Tensor, present: Tensor, lag: Tensor) -> Tensor:
    """Joint covariance of ``(X_{t−1}, X_t)`` with rows ordered ``(x⁰_{t−1}, x⁰_t, x¹_{t−1}, x¹_t, …)``.

    ``lag = Cov(X_t, X_{t−1})``. Shape: ``(n, n)`` each → ``(2n, 2n)``.
    """
    n = past.shape[-1]
    J = torch.empty(n, 2, n, 2, dtype=past.dtype, device=past.device)
    J[:, 0, :, 0] = past
    J[:, 1, :, 1] = present
    J[:, 1, :, 0] = lag
    J[:, 0, :, 1] = lag.mT
    return J.reshape(2 * n, 2 * n)
