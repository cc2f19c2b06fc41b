"""Internals of the approximate discovery mode (hal9.selforg._approx)."""

import threading

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
    cand = torch.randint(0, 40, (60, m), generator=g) + 100  # many repeats, includes the row itself
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


def test_run_chunks_threads_errors_and_restore() -> None:
    threads = torch.get_num_threads()
    seen: set[int] = set()
    out = torch.zeros(1000, dtype=torch.int64)

    def fn(r0: int, r1: int) -> None:
        seen.add(threading.get_ident())
        assert torch.get_num_threads() == (1 if threads > 1 else threads)
        out[r0:r1] = torch.arange(r0, r1)

    chunks = [(r0, min(1000, r0 + 7)) for r0 in range(0, 1000, 7)]
    A._run_chunks(fn, chunks, torch.device("cpu"))
    assert torch.equal(out, torch.arange(1000))
    assert torch.get_num_threads() == threads

    def bad(r0: int, r1: int) -> None:
        if r0 >= 500:
            raise ValueError("kernel returned NaN")

    with pytest.raises(ValueError, match="NaN"):
        A._run_chunks(bad, chunks, torch.device("cpu"))
    assert torch.get_num_threads() == threads
