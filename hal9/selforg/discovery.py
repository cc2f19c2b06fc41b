"""Discovery: every neuron finds its ``k`` most compatible partners, never forming the ``N×N`` matrix."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch
from torch import Tensor

from hal9.core import make_generator
from hal9.selforg._approx import _PAIR_BYTES_FIXED, _PAIR_VALUES, _TILE_PAIRS, _pack, _unpack, approx_topk
from hal9.selforg.graph import KnnGraph
from hal9.selforg.kernels import Kernel, check_kernel_output, hal9_kernel
from hal9.selforg.population import Population, validate_population

__all__ = ["DEFAULT_MEMORY_BUDGET", "discover", "recall_at_k"]

#: Working-memory budget of one block of kernel evaluations (bytes).
DEFAULT_MEMORY_BUDGET = 64 * 2**20
_MAX_COL_BLOCK = 8192
_MAX_N = 1 << 31


def _blocks(n: int, size: int, progress: bool, desc: str) -> Iterable[int]:
    starts: Iterable[int] = range(0, n, size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=desc, unit="block", leave=False)
    return starts


def _exact_block_sizes(
    n: int, k: int, itemsize: int, block_size: int | tuple[int, int] | None, budget: int
) -> tuple[int, int]:
    if block_size is not None:
        rb, cb = (block_size, block_size) if isinstance(block_size, int) else block_size
        if min(rb, cb) < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size!r}")
        return min(rb, n), min(cb, n)
    pairs = max(1, min(_TILE_PAIRS, budget // (_PAIR_BYTES_FIXED + _PAIR_VALUES * itemsize)))
    cb = min(n, _MAX_COL_BLOCK)
    return max(1, min(n, pairs // (cb + k))), cb


def _exact(x: Tensor, k: int, kernel: Kernel, rb: int, cb: int, progress: bool) -> Tensor:
    n = x.shape[0]
    keys = torch.empty((n, k), dtype=torch.int64, device=x.device)
    for r0 in _blocks(n, rb, progress, "discovery (exact)"):
        r1 = min(n, r0 + rb)
        run: Tensor | None = None
        for c0 in range(0, n, cb):
            c1 = min(n, c0 + cb)
            w = check_kernel_output(kernel(x[r0:r1], x[c0:c1]), (r1 - r0, c1 - c0))
            key = _pack(w, torch.arange(c0, c1, device=x.device)[None, :])
            lo, hi = max(r0, c0), min(r1, c1)
            if lo < hi:  # this block holds part of the diagonal: a neuron is never its own partner
                diag = torch.arange(lo, hi, device=x.device)
                key[diag - r0, diag - c0] = -1
            cat = key if run is None else torch.cat([run, key], dim=1)
            run = cat.topk(min(k, cat.shape[1]), dim=1, sorted=False).values
        assert run is not None
        keys[r0:r1] = run.sort(dim=1, descending=True).values
    return keys


def discover(
    population: Population,
    k: int,
    *,
    kernel: Kernel = hal9_kernel,
    mode: Literal["exact", "approx"] = "exact",
    block_size: int | tuple[int, int] | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    window: int | None = None,
    n_random: int | None = None,
    n_iter: int = 2,
    fanout: int = 6,
    tol: float = 0.001,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> KnnGraph:
    """Each neuron keeps its ``k`` most compatible partners (never itself): the discovery graph.

    Parameters
    ----------
    population : Population
        ``N ≥ 2`` neurons with finite features.
    k : int
        Partners per neuron, ``1 ≤ k < N``.
    kernel : Kernel
        Compatibility ``kernel(a (..., B, F), b (..., C, F)) -> (..., B, C)`` in ``[0, 1]``
        (see :mod:`hal9.selforg.kernels`); default :func:`~hal9.selforg.kernels.hal9_kernel`. In approx
        mode on CPU it is called concurrently from several worker threads (Notes): for the result to be
        deterministic, it must be a pure, thread-safe function of its inputs — no shared random
        generator, cache or other mutable state, and a pair's value must not depend on the block it
        is computed in.
    mode : {"exact", "approx"}
        ``"exact"``: blocked all-pairs, ``O(N²)`` kernel evaluations. ``"approx"``: sorted-window +
        random candidates refined by neighbour-of-neighbour steps, ``O(N·m)`` evaluations (Notes).
    block_size : int or (int, int), optional
        Exact mode: query rows × candidate columns per kernel call. Default: from ``memory_budget``.
    memory_budget : int
        Bytes of working memory per block (default 64 MiB); sets the block / chunk sizes.
    window, n_random, n_iter, fanout : int, optional
        Approx mode: ``window`` neighbours each side in the sorted order of every non-constant feature
        (default ``2k``), ``n_random`` pseudo-random candidates (default ``k``), at most ``n_iter``
        NN-descent steps, each joining the first ``fanout`` forward and ``fanout`` sampled reverse
        partners. The defaults are tuned for the HAL9 kernel, whose partners lie within the speed
        window (the descent then changes little and stops early, see Notes); kernels without a
        dominant sortable feature (e.g. a Gaussian in several columns) need ``n_iter ≈ 4`` for
        recall ≥ 0.9.
    tol : float
        Approx mode: skip the next NN-descent step when it would change at most ``tol·N`` neurons'
        partners (estimated on a sample of 4096 neurons for ``N > 8192``), and stop after a step that
        changed at most ``tol·N``.
    seed, generator : optional
        Randomness of the approx mode (random candidates, reverse-partner and check samples; give at
        most one; default seed 0). The graph is a deterministic function of the population and the seed.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    KnnGraph
        ``neighbors (N, k)`` int64 and ``weights (N, k)`` in the population's dtype, rows sorted by
        decreasing weight; exact mode never pads, approx mode pads with ``-1`` / 0 only if a neuron found
        fewer than ``k`` distinct candidates.

    Raises
    ------
    ValueError
        ``k`` out of range, non-finite features (``population``), a kernel output of the wrong shape,
        with NaN or outside ``[0, 1]`` (``kernel``), unknown ``mode`` or bad sizes.

    Notes
    -----
    **Ordering and ties.** Candidates are ranked by the key ``(float32(w) desc, index asc)`` packed into
    one ``int64`` (the bits of a non-negative float are monotone in its value), so exact ties — frequent
    with the piecewise HAL9 kernel — go to the lower index, and the result is a deterministic function of
    the population, independent of ``block_size`` and of the thread count. Weights are stored as that
    float32 value (relative error ≤ 6e-8 for float64 populations).

    **Exact mode.** For each block of ``B`` query rows, loop over column blocks of ``C`` candidates:
    evaluate the ``B×C`` kernel block, pack keys, mask the diagonal, and merge with the running
    ``(B, k)`` keys by ``topk`` over ``[running, new]``. Time ``O(N²·(F + log k))``, memory
    ``O(B·C + N·k)``. Default ``C = min(N, 8192)`` and ``B·(C + k) = min(2¹⁷, budget / (32 + 5·itemsize))``
    pairs: the budget is an upper bound, and blocks stay at ≤ 128 k pairs (≈ 6 MiB of working memory,
    float32) because larger blocks run slower on CPU (page faults on fresh temporaries, cache misses).

    **Approx mode.** Candidates of neuron ``i``: the ``2w+1`` neurons around ``i`` in sorted order of each
    non-constant feature column, plus ``n_random`` pseudo-random draws (a salted hash of ``(i, j)``);
    score them with the exact kernel and keep the top ``k``. Repeated candidates are rare here, so
    the top ``k`` is taken over all keys and only rows whose top ``k`` holds a repeat are re-ranked with
    repeats masked. Then up to ``n_iter`` NN-descent steps (Dong et al. 2011): with ``B_i`` = the ``k``
    partners of ``i`` plus ``fanout`` reverse partners (neurons that chose ``i``, the ``fanout`` of
    smallest hash), the candidates of ``i`` are ``B_i`` and, for each ``b ∈ B_i``, ``b``'s first
    ``fanout`` forward and reverse partners — repeated often, so masked by one sort per row. Before a
    step, for ``N > 8192``, the step is run on a random sample of 4096 neurons; if at most ``tol·4096``
    of them would change, the step is skipped (the sample's improvements are kept).
    HAL9's kernel falls fastest with ``|Δs|`` (its complexity term prefers *moderate* ``|Δc|``, so
    nearness in ``c`` is a poor proxy): the true partners of ``i`` are the nearest in speed among the
    neurons of complementary complexity (about half of them), so a speed window of ``2k`` holds them
    almost always (with equal energies), and with the defaults the descent has little to do (measured
    recall 1.0 at 20k; at ``window = k`` the descent runs and reaches 0.98): for ``N > 8192`` the sampled
    check skips it (``s = 0``); for ``N ≤ 8192`` there is no sampled check, so one full step runs and
    the descent stops after it if it changed at most ``tol·N`` rows (``s ≥ 1``). The search runs on the
    neurons renumbered in sorted order of the first non-constant column, for memory locality (the speed
    window is an index range, and exact ties break by that order in this mode). Row chunks of ≤ 2¹⁷ pairs run
    on ``torch.get_num_threads()`` worker threads with one intra-op thread each (one synchronisation
    per chunk instead of one per tensor op: robust to other processes on the cores); the result does
    not depend on the chunking or the thread count.
    Time ``O(N·(m₀ + s·(k + f)(1 + 2f))·F + F·N log N)`` (kernel evaluations and sorts),
    ``m₀ = F'·(2w+1) + n_random`` (``F'`` non-constant columns, ``f = fanout``, ``s ≤ n_iter`` steps
    run); memory ``O(N·(k + F'·F))`` (keys, results, ``F'`` copies of the features: the renumbered one
    and one per further sorted column) plus
    chunks of ≤ 2¹⁷ pairs. Recall and timings: ``tests/selforg/test_discovery.py`` and
    ``tests/benchmarks/test_bench_discovery.py`` (docs/benchmarks.md).

    References
    ----------
    W. Dong, M. Charikar, K. Li, "Efficient k-nearest neighbor graph construction for generic similarity
    measures", WWW 2011 (NN-descent).
    """
    validate_population(population)
    n = population.n
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < n:
        raise ValueError(f"k must be an int with 1 <= k < N = {n}, got {k!r}")
    if n >= _MAX_N:
        raise ValueError(f"population too large for int64 keys: N = {n} >= 2**31")
    if memory_budget < 1:
        raise ValueError(f"memory_budget must be >= 1 byte, got {memory_budget}")
    x = population.features
    if mode == "exact":
        rb, cb = _exact_block_sizes(n, k, x.element_size(), block_size, memory_budget)
        idx, w32 = _unpack(_exact(x, k, kernel, rb, cb, progress))
    elif mode == "approx":
        w = 2 * k if window is None else window
        r = k if n_random is None else n_random
        for name, v, lo in (
            ("window", w, 1),
            ("n_random", r, 0),
            ("n_iter", n_iter, 0),
            ("fanout", fanout, 1),
        ):
            if v < lo:
                raise ValueError(f"{name} must be >= {lo}, got {v}")
        gen = make_generator(seed, generator)
        idx, w32 = approx_topk(x, k, kernel, w, r, n_iter, fanout, tol, gen, memory_budget, progress)
    else:
        raise ValueError(f"mode must be 'exact' or 'approx', got {mode!r}")
    return KnnGraph(idx, w32.to(x.dtype))


def recall_at_k(found: KnnGraph, exact: KnnGraph, atol: float = 1e-6) -> float:
    """Fraction of the exact top-``k`` that ``found`` recovers, counted on weights (robust to ties).

    A found partner ``j`` of neuron ``i`` counts as correct if its weight is at least the exact ``k``-th
    weight of row ``i`` minus ``atol``; per row at most ``k`` count. With exact ties at the ``k``-th
    weight any tied partner is as good as the one the exact mode kept. Requires ``found`` to hold true
    kernel values (as :func:`discover` returns) and distinct partners. ``O(N·k)``.
    """
    if found.neighbors.shape != exact.neighbors.shape:
        raise ValueError(f"found and exact must have the same shape, got {found.k} and {exact.k} columns")
    kth = exact.weights[:, -1:].to(torch.float64)
    ok = (found.neighbors >= 0) & (found.weights.to(torch.float64) >= kth - atol)
    return float(ok.sum()) / float(found.neighbors.numel())
