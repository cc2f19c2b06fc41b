"""LZ76 over 64 channels × 100,000 seeded random binary samples: :func:`hal9.metrics.lempel_ziv` vs antropy.

antropy's ``lziv_complexity`` (numba Kaspar–Schuster loop) runs channel by channel; hal9 runs the batch
at once. Both must give identical counts. Run with::

    .venv/bin/python -m pytest tests/benchmarks/test_bench_lz.py --benchmark-enable -q -s

antropy is optional: install it into the venv, or into a separate directory named by
``HAL9_ANTROPY_SITE`` (``pip install --target DIR antropy``), which is put on ``sys.path``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import pytest

from hal9.metrics.lz import lempel_ziv

if os.environ.get("HAL9_ANTROPY_SITE"):
    sys.path.insert(0, os.environ["HAL9_ANTROPY_SITE"])

CHANNELS = 64
LENGTH = 100_000


@pytest.fixture(scope="module")
def signals() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 2, (CHANNELS, LENGTH)).astype(np.int64)


@pytest.fixture(scope="module")
def counts() -> dict[str, np.ndarray]:
    return {}


def test_bench_lz_hal9(benchmark: Any, signals: np.ndarray, counts: dict[str, np.ndarray]) -> None:
    out = benchmark.pedantic(lempel_ziv, args=(signals,), rounds=1, iterations=1, warmup_rounds=0)
    counts["hal9"] = out.numpy()
    benchmark.extra_info.update(channels=CHANNELS, length=LENGTH)


def test_bench_lz_antropy(benchmark: Any, signals: np.ndarray, counts: dict[str, np.ndarray]) -> None:
    antropy = pytest.importorskip("antropy")
    antropy.lziv_complexity(signals[0, :1000])  # numba compilation outside the timing

    def per_channel() -> np.ndarray:
        return np.array([antropy.lziv_complexity(row) for row in signals])

    counts["antropy"] = benchmark.pedantic(per_channel, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(channels=CHANNELS, length=LENGTH)
    if "hal9" in counts:
        np.testing.assert_array_equal(counts["hal9"], counts["antropy"])
