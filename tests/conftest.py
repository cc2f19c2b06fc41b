"""Shared test configuration: strict numerics and the ``gpu`` marker."""

from __future__ import annotations

import pytest
import torch


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_global_rng_use() -> None:
    """hal9 never draws from torch's global RNG: fix it so an accidental use would still be reproducible."""
    torch.manual_seed(12345)
