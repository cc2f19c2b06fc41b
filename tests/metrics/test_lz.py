"""Tests of :mod:`hal9.metrics.lz` against published reference values and a plain Kaspar–Schuster loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hal9.metrics.lz import lempel_ziv


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
