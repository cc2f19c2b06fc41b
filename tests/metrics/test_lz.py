"""Tests of :mod:`hal9.metrics.lz` against published reference values, a plain Kaspar–Schuster loop and a
brute-force transcription of the column-restricted (Casali et al. 2013) count."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hal9.metrics.lz import lempel_ziv, lempel_ziv_2d


def ks_reference(s: list[int]) -> int:
    """The Kaspar–Schuster (1987) state machine, written out independently (O(n²), small n only)."""
    n = len(s)
    c, prefix, length, best, pointer = 1, 1, 1, 1, 0
    while prefix + length <= n:
        if s[pointer + length - 1] == s[prefix + length - 1]:
            length += 1
        else:
            best = max(length, best)
            pointer += 1
            if pointer == prefix:
                c += 1
                prefix += best
                pointer, best = 0, 1
            length = 1
    return c + (length != 1)


def test_published_values() -> None:
    # antropy tests/test_entropy.py and docstring (Lempel & Ziv 1976 / Kaspar & Schuster 1987 parsing).
    assert lempel_ziv("1001111011000010") == 6
    assert lempel_ziv("1001111011000010", normalize=True) == 1.5
    assert lempel_ziv("010101010101") == 3
    n = 12
    assert lempel_ziv("010101010101", True) == 3 / (n / np.log2(n))
    assert round(float(lempel_ziv("010101010101", True)), 5) == 0.89624
    assert lempel_ziv([1, 0, 1, 0, 1, 0]) == 3
    assert lempel_ziv(np.array([True, False, True, False])) == 3
    assert lempel_ziv("11111") == lempel_ziv("00") == 2
    assert lempel_ziv([1, 2, 3, 4, 5]) == 5
    assert lempel_ziv([1, 2, 3, 4, 5], normalize=True) == 1.0
    s = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert lempel_ziv(s) == 26 and lempel_ziv(s + s) == 27
    assert lempel_ziv("1") == 1 and lempel_ziv("1", normalize=True) == 0.0


def test_hand_parse() -> None:
    # 0 | 1 | 10 : three phrases; 0 | 001 | 1 : 'aab' style overlap of the second phrase.
    assert lempel_ziv("0110") == 3
    assert lempel_ziv("00011") == 3  # 0 | 001 | 1
    assert lempel_ziv("0" * 1000) == 2


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=80), st.integers(1, 20))
def test_matches_kaspar_schuster_loop(seq: list[int], period: int) -> None:
    periodic = (seq[:period] * 100)[: len(seq) * 3]
    for s in (seq, periodic):
        c = lempel_ziv(s)
        assert c == ks_reference(s)
        assert c >= 1
        n, b = len(s), max(2, len(set(s)))
        if n >= 2:  # Lempel–Ziv upper bound c < n / ((1 − ε_n) log_b n), ε_n → 0
            assert c <= 2 * n / math.log(n, b) + 2


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 60), st.integers(2, 5), st.integers(0, 2**31 - 1))
def test_batched_equals_per_channel(channels: int, n: int, alphabet: int, seed: int) -> None:
    x = np.random.default_rng(seed).integers(0, alphabet, (channels, n))
    batched = lempel_ziv(x)
    assert isinstance(batched, torch.Tensor) and batched.shape == (channels,)
    assert batched.tolist() == [lempel_ziv(row) for row in x]
    normed = lempel_ziv(torch.from_numpy(x), normalize=True)
    assert isinstance(normed, torch.Tensor)
    assert torch.allclose(normed, torch.tensor([lempel_ziv(row, True) for row in x], dtype=torch.float64))


def test_random_sequence_normalised_near_one() -> None:
    x = np.random.default_rng(0).integers(0, 2, 10_000)
    value = float(lempel_ziv(x, normalize=True))
    assert abs(value - 1.0) < 0.05
    assert float(lempel_ziv(np.ones(10_000, dtype=np.int64), normalize=True)) < 0.01


def test_base_and_types() -> None:
    x = [0, 1, 1, 0, 1, 0, 0, 0]
    c = lempel_ziv(x)
    assert lempel_ziv(x, True, base=4) == pytest.approx(c / (8 / math.log(8, 4)))
    assert lempel_ziv(torch.tensor(x, dtype=torch.float32)) == c
    assert lempel_ziv(torch.tensor(x, dtype=torch.bool)) == c


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("", "sequence must not be empty"),
        ([], "sequence must not be empty"),
        (np.zeros((2, 0)), "sequence must not be empty"),
        (np.zeros((2, 2, 2)), "sequence must be 1-D"),
        ([0.0, float("nan")], "sequence contains NaN or Inf"),
        ([0.0, float("inf")], "sequence contains NaN or Inf"),
        ([0.5, 1.0], "sequence must hold integer symbols"),
        (3, "sequence must be a str"),
    ],
)
def test_bad_input(bad: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        lempel_ziv(bad)  # type: ignore[arg-type]


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="base"):
        lempel_ziv("0101", True, base=1)
    with pytest.raises(ValueError, match="normalize"):
        lempel_ziv("0101", "yes")  # type: ignore[arg-type]


# --- column-restricted LZ76 (Casali et al. 2013) -------------------------------------------------


def column_reference(matrix: list[list[int]]) -> int:
    """The definition of :func:`lempel_ziv_2d` written out by brute force (substring search, small sizes).

    Column ``r`` is parsed from position 0; the match at ``i`` is the longest ``m`` such that
    ``s_r[i : i + m]`` occurs in ``s_r`` starting before ``i`` or inside an earlier column; the phrase
    is counted when it ends with a new symbol inside the column (``i + m < L``); 1 is added at the end.
    """
    rows, cols = len(matrix), len(matrix[0])
    columns = [tuple(matrix[x][r] for x in range(rows)) for r in range(cols)]

    def occurs(pattern: tuple[int, ...], text: tuple[int, ...]) -> bool:
        k = len(pattern)
        return any(text[j : j + k] == pattern for j in range(len(text) - k + 1))

    count = 0
    for r, col in enumerate(columns):
        i = 0
        while i < rows:
            m = 0
            while m < rows - i:
                pattern = col[i : i + m + 1]
                if not (occurs(pattern, col[: i + m]) or any(occurs(pattern, columns[q]) for q in range(r))):
                    break
                m += 1
            count += i + m < rows
            i += m + 1
    return count + 1


def test_column_counts_hand_parse() -> None:
    # Columns of [[0,1,1],[1,1,0],[1,0,1]] are 011 | 110 | 101.
    #   column 0: "0" new (1), "1" new (2), "1" copies position 1 up to the column end (not counted);
    #   column 1: "11" is in column 0, "110" is not → phrase "110" (3);
    #   column 2: "10" is in column 1, "101" nowhere → phrase "101" (4); +1 at the end → c = 5.
    s = [[0, 1, 1], [1, 1, 0], [1, 0, 1]]
    assert lempel_ziv_2d(s) == 5 == column_reference(s)
    # The time-major string 011110101 parsed as one sequence: 0 | 1 | 1110 | 101 → 4 (phrases cross columns).
    assert lempel_ziv("011110101") == 4
    # Columns 01 | 10 | 01: "0", "1" (2); "10" (3); "01" copies column 0 to its end; +1 → 4.
    assert lempel_ziv_2d([[0, 1, 0], [1, 0, 1]]) == 4
    # One column 0110: "0", "1", then "10" closed by a new symbol at the very end (3), +1 → 4, where the
    # Kaspar–Schuster count of "0110" is 3: the column count is NOT bounded by the string count.
    assert lempel_ziv_2d([[0], [1], [1], [0]]) == 4 and lempel_ziv("0110") == 3
    assert lempel_ziv_2d(np.zeros((5, 7), dtype=bool)) == 2  # "0" (1), then copies only; +1
    # One source: every column is one symbol, a phrase when the symbol is new (the published code is
    # undefined for L = 1): "0" (1), "1" (2), "1", "0" copies; +1 → 3.
    assert lempel_ziv_2d([[0, 1, 1, 0]]) == 3


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 7),
    st.integers(1, 7),
    st.integers(2, 3),
    st.booleans(),
    st.integers(0, 2**31 - 1),
)
def test_column_counts_match_the_reference_and_proven_properties(
    rows: int, cols: int, alphabet: int, repeat: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    m = rng.integers(0, alphabet, (rows, cols))
    if repeat:  # repeated columns: the case where copies run to the column end
        m = m[:, rng.integers(0, cols, cols)]
    c = lempel_ziv_2d(m)
    assert c == column_reference(m.tolist())
    # c = 2 exactly for a constant matrix (first phrase + final 1; any other symbol opens a new phrase)
    assert (c == 2) == bool((m == m.flat[0]).all())
    assert 2 <= c <= rows * cols + 1  # every counted phrase holds at least one symbol
    assert lempel_ziv_2d(alphabet - 1 - m) == c  # relabelling the symbols changes nothing
    # Columns are parsed in order and only look back: prefixes never count more, and a repeated column
    # is one uncounted copy.
    prefixes = [lempel_ziv_2d(m[:, :k]) for k in range(1, cols + 1)]
    assert prefixes == sorted(prefixes) and prefixes[-1] == c
    again = np.concatenate([m, m[:, [int(rng.integers(0, cols))]]], axis=1)
    assert lempel_ziv_2d(again) == c


def test_column_counts_batched_and_on_tensors() -> None:
    x = np.random.default_rng(1).integers(0, 2, (4, 9, 6))
    batched = lempel_ziv_2d(torch.from_numpy(x))
    assert isinstance(batched, torch.Tensor) and batched.dtype == torch.int64
    assert batched.tolist() == [lempel_ziv_2d(m) for m in x]
    assert lempel_ziv_2d(torch.from_numpy(x[0]).to(torch.bool)) == lempel_ziv_2d(x[0].tolist())
    assert lempel_ziv_2d(torch.from_numpy(x[0]).to(torch.float32)) == lempel_ziv_2d(x[0])


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros(4), "matrix must be 2-D"),
        (np.zeros((2, 2, 2, 2)), "matrix must be 2-D"),
        (np.zeros((0, 3)), "matrix must not be empty"),
        ([[0.0, float("nan")]], "matrix contains NaN or Inf"),
        ([[0.5, 1.0]], "matrix must hold integer symbols"),
        (np.array([["a", "b"]]), "matrix must hold integer symbols"),
        ("0101", "matrix must be a sequence"),
    ],
)
def test_column_counts_bad_input(bad: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        lempel_ziv_2d(bad)  # type: ignore[arg-type]
