"""Internals of the approximate discovery mode (hal9.selforg._approx)."""

import threading
import time

import pytest
import torch

from hal9.core.sampling import sample_distinct
from hal9.selforg import _approx as A
from hal9.selforg.kernels import hal9_kernel
from hal9.selforg.population import primordial_population


def test_hash_range_determinism_and_spread() -> None:
    salt = [12345, 678, 91011, 1213, 1415161, 17]
    rows = torch.arange(50_000)[:, None]
    cols = torch.arange(16)
    h = A._hash(rows, cols, salt)
    assert h.dtype == torch.int64 and h.shape == (50_000, 16)
    assert int(h.min()) >= 0 and int(h.max()) < A._P
    # a function of the pair only: the same values whatever the batching
    assert torch.equal(h[1234:1300], A._hash(rows[1234:1300], cols, salt))
    assert torch.equal(h[:, 5], A._hash(rows[:, 0], torch.tensor(5), salt))
    big = torch.tensor([[2**31 - 1]])  # largest index: no int64 overflow
    assert 0 <= int(A._hash(big, big, [A._P - 1] * 6)) < A._P
    # roughly uniform: the candidates drawn per row are spread over [0, n) and rarely repeat
    cand = h % 1000
    assert abs(float(cand.double().mean()) - 499.5) < 5
    counts = torch.bincount(cand.view(-1), minlength=1000)
    assert int(counts.min()) > 0.8 * 800 and int(counts.max()) < 1.2 * 800
    assert not torch.equal(h, A._hash(rows, cols, [s + 1 for s in salt]))


def test_reverse_partners_and_target_subsets() -> None:
    g = torch.Generator().manual_seed(0)
    n, fo = 3000, 4
    fwd = sample_distinct(n, n, fo, g)  # distinct partners per row, like the top-k lists
    fwd[::7, -1] = -1  # padding
    salt = A._salt(g)
    rev = A._reverse(fwd, salt)
    assert rev.shape == (n, fo)
    indeg = torch.bincount(fwd[fwd >= 0], minlength=n)
    got = (rev >= 0).sum(dim=1)
    assert torch.equal(got, indeg.clamp(max=fo))  # min(fo, in-degree) reverse partners
    src = torch.arange(n)[:, None].expand(n, fo)
    edges = set(zip(src[fwd >= 0].tolist(), fwd[fwd >= 0].tolist(), strict=True))
    for j in range(0, n, 37):
        r = [i for i in rev[j].tolist() if i >= 0]
        assert all((i, j) in edges for i in r)
        assert len(set(r)) == len(r)
    targets = torch.zeros(n, dtype=torch.bool)
    targets[torch.randperm(n, generator=g)[:500]] = True
    sub = A._reverse(fwd, salt, targets)
    assert torch.equal(sub[targets], rev[targets])  # the same rows as the full computation
    assert bool((sub[~targets] == -1).all())


@pytest.mark.parametrize("m", [5, 40])
def test_score_fast_path_equals_full_dedup(m: int) -> None:
    pop = primordial_population(400, seed=1)
    x = pop.features
    g = torch.Generator().manual_seed(2)
    rows = torch.arange(100, 160)
    cand = torch.randint(-1, 40, (60, m), generator=g)  # many repeats, includes the row itself,
    cand = torch.where(cand > 0, cand + 99, cand)  # -1 (no partner) and neuron 0
    cand[:, ::9] = -1
    k = 8
    fast = A._score(x, rows, cand, k, hal9_kernel, many_repeats=False)
    full = A._score(x, rows, cand, k, hal9_kernel, many_repeats=True)
    assert torch.equal(fast, full)
    idx, w = A._unpack(full)
    for r in range(60):
        valid = sorted({c for c in cand[r].tolist() if c >= 0 and c != int(rows[r])})
        found = [i for i in idx[r].tolist() if i >= 0]
        assert len(found) == min(k, len(valid)) and len(set(found)) == len(found)
        assert set(found) <= set(valid)
        best = hal9_kernel(x[rows[r]][None], x[valid]).squeeze(0).to(torch.float32)
        kth = best.sort(descending=True).values[len(found) - 1]
        assert bool((w[r, : len(found)] >= kth).all())


def _brute_topk(x: torch.Tensor, rows: torch.Tensor, cand: torch.Tensor, k: int) -> list[list[int]]:
    """Reference: top ``k`` of each row's distinct valid candidates by (weight desc, index asc)."""
    out = []
    for r in range(rows.numel()):
        i = int(rows[r])
        valid = sorted({c for c in cand[r].tolist() if c >= 0 and c != i})
        if not valid:
            out.append([])
            continue
        w = hal9_kernel(x[i][None], x[valid]).squeeze(0).to(torch.float32).tolist()
        out.append([c for _, c in sorted(zip(w, valid, strict=True), key=lambda t: (-t[0], t[1]))][:k])
    return out


@pytest.mark.parametrize("many_repeats", [False, True])
@pytest.mark.parametrize("m", [3, 6, 24])
def test_score_minus_one_does_not_hide_neuron_zero(m: int, many_repeats: bool) -> None:
    """A ``-1`` (no partner) before a real candidate 0 must not make 0 look like a repeat."""
    x = primordial_population(200, seed=3).features
    g = torch.Generator().manual_seed(4)
    n_rows, k = 40, 4
    rows = torch.arange(1, 1 + n_rows)
    cand = torch.randint(1, 30, (n_rows, m), generator=g)  # repeats, sometimes the row itself
    for r in range(n_rows):  # "-1, 0" at every position in turn, sometimes 0 twice or -1 alone
        p = r % (m - 1)
        cand[r, p], cand[r, p + 1] = -1, 0
        if r % 3 == 1:
            cand[r, (p + 2) % m] = -1
        if r % 5 == 2:
            cand[r, (p + 3) % m] = 0
    cand[0] = torch.tensor([-1, 0, 1] + [2] * (m - 3))[:m]  # the reported case (rows[0] = 1 is self)
    got = A._score(x, rows, cand, k, hal9_kernel, many_repeats=many_repeats)
    idx, _ = A._unpack(got)
    ref = _brute_topk(x, rows, cand, k)
    for r in range(n_rows):
        assert idx[r].tolist() == ref[r] + [-1] * (k - len(ref[r])), (r, cand[r].tolist())
    assert 0 in ref[0]  # the case does exercise neuron 0


@pytest.mark.parametrize("threads", [1, 2])
def test_run_chunks_threads_errors_and_restore(threads: int) -> None:
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        _check_run_chunks(threads)
    finally:
        torch.set_num_threads(saved)


def _check_run_chunks(threads: int) -> None:
    seen: set[int] = set()
    ran: list[tuple[int, int]] = []
    lock = threading.Lock()
    out = torch.zeros(1000, dtype=torch.int64)

    def fn(r0: int, r1: int) -> None:
        with lock:
            seen.add(threading.get_ident())
            ran.append((r0, r1))
        assert torch.get_num_threads() == 1  # workers are single-threaded; so is the inline path here
        out[r0:r1] = torch.arange(r0, r1)
        time.sleep(0.001)  # long enough that one worker cannot take every chunk before the other starts

    chunks = [(r0, min(1000, r0 + 7)) for r0 in range(0, 1000, 7)]
    A._run_chunks(fn, chunks, torch.device("cpu"))
    assert torch.equal(out, torch.arange(1000))
    assert sorted(ran) == chunks  # every chunk ran exactly once
    if threads > 1:
        assert 1 < len(seen) <= threads and threading.get_ident() not in seen  # on the workers
    else:
        assert seen == {threading.get_ident()}  # inline, on the calling thread
    assert torch.get_num_threads() == threads  # restored after the workers' set_num_threads(1)

    def bad(r0: int, r1: int) -> None:
        if r0 >= 500:
            raise ValueError("kernel returned NaN")

    with pytest.raises(ValueError, match="NaN"):
        A._run_chunks(bad, chunks, torch.device("cpu"))
    assert torch.get_num_threads() == threads
