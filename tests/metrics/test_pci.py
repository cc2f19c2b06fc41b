"""Tests of :mod:`hal9.metrics.pci`: hand-computed PCI, edge cases, ordering and a seeded network run."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from hal9.core import ConnectivityConfig, HierarchyConfig, RateConfig, build_network, rate_params
from hal9.metrics.lz import lempel_ziv
from hal9.metrics.pci import pci_of_network, perturbational_complexity


def test_hand_computed() -> None:
    # Time-major reading of [[0,1,0],[1,0,1]] is 01 10 01 → "011001": phrases 0 | 1 | 10 | 01 → c = 4
    # (the last phrase repeats s[0:2]); p = ½ so H = 1 bit and PCI = 4 log2(6) / 6.
    s = torch.tensor([[0, 1, 0], [1, 0, 1]])
    assert lempel_ziv("011001") == 4
    assert perturbational_complexity(s) == pytest.approx(4 * math.log2(6) / 6, rel=1e-12)
    # Reading it source by source ("010101": 0 | 1 | 0101) would give 3: the ordering matters.
    assert lempel_ziv("010101") == 3
    # p = 2/3: [[1,1,1],[0,0,1]] → "101011": 1 | 0 | 1011 → c = 3.
    t = np.array([[1, 1, 1], [0, 0, 1]], dtype=bool)
    p = 4 / 6
    h = -p * math.log2(p) - (1 - p) * math.log2(1 - p)
    assert perturbational_complexity(t) == pytest.approx(3 * math.log2(6) / (6 * h), rel=1e-12)


def test_constant_matrices_are_zero() -> None:
    assert perturbational_complexity(torch.zeros(5, 7, dtype=torch.bool)) == 0.0
    assert perturbational_complexity(torch.ones(5, 7)) == 0.0
    assert perturbational_complexity(torch.ones(1, 1)) == 0.0


def test_random_more_complex_than_regular() -> None:
    gen = torch.Generator().manual_seed(0)
    random = torch.rand((60, 80), generator=gen) < 0.3
    column = torch.rand((60, 1), generator=gen) < 0.3
    regular = column.expand(60, 80)
    pci_random, pci_regular = perturbational_complexity(random), perturbational_complexity(regular)
    assert 0.8 < pci_random < 1.2
    assert pci_regular < 0.2 * pci_random


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (torch.zeros(3), "binary must be a 2-D"),
        (torch.zeros(0, 4), "binary must not be empty"),
        (torch.tensor([[0.0, 2.0]]), "binary must be binary"),
        (torch.tensor([[0.0, float("nan")]]), "binary contains NaN"),
    ],
)
def test_bad_binary(bad: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        perturbational_complexity(bad)


@pytest.fixture(scope="module")
def small_net() -> tuple:
    cfg = HierarchyConfig(base_size=60, n_layers=3, connectivity=ConnectivityConfig(fan_in_policy="clip"))
    net = build_network(cfg, seed=0, dtype=torch.float64)
    return net, rate_params(RateConfig(), net.sizes, dtype=torch.float64)


def test_network_pci_seeded(small_net: tuple) -> None:
    net, params = small_net
    kw: dict[str, Any] = {"n_trials": 6, "baseline_steps": 30, "response_steps": 30, "max_sources": 50}
    a = pci_of_network(net, params, seed=3, **kw)
    b = pci_of_network(net, params, seed=3, **kw)
    assert math.isfinite(a.value) and 0.0 < a.value < 1.5
    assert a.value == b.value and torch.equal(a.binary, b.binary) and torch.equal(a.sources, b.sources)
    assert a.binary.shape == (50, 30) and a.binary.dtype == torch.bool
    assert a.value == perturbational_complexity(a.binary)
    quiet = pci_of_network(net, params, seed=3, amplitude=0.0, **kw)
    assert quiet.binary.float().mean() < a.binary.float().mean()  # the pulse causes the responses


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"n_trials": 0}, "n_trials"),
        ({"baseline_steps": 1}, "baseline_steps"),
        ({"perturb_layer": 5}, "perturb_layer"),
        ({"layers": [7]}, "layers"),
        ({"amplitude": float("nan")}, "amplitude"),
    ],
)
def test_network_bad_arguments(small_net: tuple, kwargs: dict, match: str) -> None:
    net, params = small_net
    with pytest.raises(ValueError, match=match):
        pci_of_network(net, params, **kwargs)
