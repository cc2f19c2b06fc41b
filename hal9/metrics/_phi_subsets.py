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
(``((), (0, 1))``: neither / both; ``((0,), (1,))``: past only / present only). Keeping both rows is two
successive rank-1 eliminations (pivots ``M₀₀`` and ``M₁₁ − M₁₀²/M₀₀``).

Implementation: one level costs a fixed handful of tensor operations whatever its batch size — each
branch writes its Schur complements straight into its half of a fresh ``(2, H, B, r', r')`` buffer
(``copy_`` / ``addcmul(out=)``), and the log-det accumulator is a single ``(2^n, B)`` table whose lower half
the ``b = 0`` branch reuses in place (``acc[H:2H] = acc[:H] + ln p``). At small ``n`` the run time is
dominated by this per-level dispatch, not by the ``O(2^n)`` arithmetic.

Output index convention: entry ``code = Σ_i b_i 2^i`` belongs to the subset ``{i : b_i = 1}``
(the first option counts as ``b_i = 0``).
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Maximum number of matrix entries held by one level of the recursion (~4 temporaries of this size).
MAX_LEVEL_ELEMENTS = 2**23

Options = tuple[tuple[int, ...], tuple[int, ...]]


def _eliminate(X: Tensor, keep: tuple[int, ...], block: int, out: Tensor) -> Tensor | None:
    """Write into ``out`` the Schur complements of ``X`` after eliminating the leading node's ``keep`` rows.

    The node's other rows are dropped. Returns the product of the pivots (``None`` when nothing is
    kept). Shapes (batch last): ``X`` ``(r, r, N)``, ``out`` ``(r − block, r − block, N)``, result
    ``(N,)``. Non-positive pivots are not checked here: their logarithm turns the accumulator into
    NaN/-inf, which :func:`subset_logdets` reports.
    """
    Xs = X[block:, block:]
    if not keep:
        out.copy_(Xs)
        return None
    k = keep[0]
    p = X[k, k]
    if len(keep) == 1:
        col = X[block:, k]
        torch.addcmul(Xs, col[:, None], (col / p)[None], value=-1.0, out=out)
        return p
    # Both rows of a pair: eliminate row 0; the updated row-1 column y = X[1:, 1] − X[1:, 0] X[0, 1]/p
    # gives the second pivot q = y[0] and the second rank-1 term.
    c0 = X[1:, 0]
    s0 = c0 / p
    y = torch.addcmul(X[1:, 1], c0, s0[:1], value=-1.0)
    q, y1 = y[0], y[1:]
    torch.addcmul(Xs, c0[1:, None], s0[None, 1:], value=-1.0, out=out)
    out.addcmul_(y1[:, None], (y1 / q)[None], value=-1.0)
    return p * q


def _recurse(X: Tensor, options: Options, block: int) -> Tensor:
    """``X``: ``(block·n, block·n, C)`` (batch last) → ``(2^n, C)`` log-dets of all subsets (empty: 0)."""
    C = X.shape[-1]
    n = X.shape[0] // block
    acc = X.new_zeros(2**n * C)  # entry code·C + c
    N = C  # matrices in the current level: H = N / C Schur complements per input matrix
    for _ in range(n):
        r = X.shape[0]
        if 2 * N * r * r > MAX_LEVEL_ELEMENTS and N > 1:
            size = max(1, MAX_LEVEL_ELEMENTS // (4 * r * r))
            parts = [_recurse(X[..., i : i + size], options, block) for i in range(0, N, size)]
            rest = torch.cat(parts, dim=1) + acc[:N]  # (2^rem, N)
            return rest.reshape(-1, C)  # the remaining nodes are the most significant bits
        Xn = X.new_empty((r - block, r - block, 2, N))
        p1 = _eliminate(X, options[1], block, Xn[:, :, 1])
        p0 = _eliminate(X, options[0], block, Xn[:, :, 0])
        if p1 is None:
            acc[N : 2 * N] = acc[:N]
        else:
            torch.add(acc[:N], torch.log(p1), out=acc[N : 2 * N])
        if p0 is not None:
            acc[:N] += torch.log(p0)
        X = Xn.view(r - block, r - block, 2 * N)  # the new node is the most significant bit so far
        N *= 2
    return acc.view(-1, C)


def subset_logdets(
    M: Tensor, *, block: int = 1, options: Options | None = None, check: bool = True
) -> Tensor:
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
    check : bool
        Raise if a pivot was not positive. With ``False`` such entries are left NaN/``±inf`` for the
        caller to test once on a derived table.

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
        If ``check`` and a pivot is not positive (``M`` not positive definite).
    """
    if block not in (1, 2):
        raise ValueError(f"block must be 1 or 2, got {block!r}")
    if options is None:
        options = ((), tuple(range(block)))
    batch = M.ndim == 3
    X = M.permute(1, 2, 0) if batch else M[..., None]
    out = _recurse(X, options, block)
    if check and not bool(torch.isfinite(out).all()):
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
