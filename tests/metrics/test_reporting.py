import dataclasses
import math

import pytest
import torch

from hal9.core import ConnectivityConfig, HierarchyConfig, RateConfig, build_network, rate_params, run
from hal9.metrics.reporting import binarize_median, report, select_phi_neurons


def _run(steps: int = 300, record: range = range(4)):
    cfg = HierarchyConfig(
        sizes=(120, 60, 30, 15),
        n_layers=4,
        connectivity=ConnectivityConfig(fan_in_within=6, fan_in_up=6, fan_in_policy="clip", gain=0.9),
    )
    net = build_network(cfg, seed=0, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    x = torch.randn((steps, 1, 120), generator=g, dtype=torch.float64)
    res = run(net, rate_params(RateConfig(tau=2.0), net.sizes, dtype=torch.float64), x, record=record)
    return net, res


def test_report_fields_and_metrics() -> None:
    net, res = _run()
    rep = report(res, net.sizes, phi_neurons=5, n_components=5)
    assert rep.layers == (0, 1, 2, 3) and rep.samples == 300
    assert len(rep.boundaries) == 3
    assert rep.boundaries[0].width_ratio == pytest.approx(2.0)
    assert rep.cka.shape == (4, 4) and float(rep.cka[0, 0]) == pytest.approx(1.0)
    lz = rep.lempel_ziv
    assert 0.9 < lz[0] < 1.2  # L1 follows its white-noise input: LZ near the random-sequence value 1
    assert all(0.2 < v < 1.2 for v in lz.values())
    assert lz[3] < lz[0]  # leaky integration up the hierarchy smooths the activity
    assert rep.phi is not None and rep.phi_error is None and len(rep.phi_neurons) == 5
    assert math.isfinite(rep.phi.value)
    m = rep.metrics()
    assert m["boundary.L1-L2.width_ratio"] == pytest.approx(2.0)
    assert m["cka.adjacent_mean"] == pytest.approx(rep.alignment.adjacent_mean)
    assert set(k for k in m if k.startswith("lz.")) == {"lz.L1", "lz.L2", "lz.L3", "lz.L4"}
    assert "phi.wms" in m
    d = rep.to_dict()
    assert d["phi"]["neurons"] == list(rep.phi_neurons) and len(d["boundaries"]) == 3


def test_report_is_deterministic() -> None:
    net, res = _run()
    a, b = report(res, net.sizes, phi_neurons=4), report(res, net.sizes, phi_neurons=4)
    assert a.metrics() == b.metrics()


def test_collinear_activity_reports_why_phi_is_missing() -> None:
    net, res = _run(record=range(2))
    s = torch.sin(torch.arange(300, dtype=torch.float64) / 7)
    g = torch.Generator().manual_seed(0)
    rank_one = {
        k: s[:, None, None] * torch.randn(1, 1, net.sizes[k], generator=g, dtype=torch.float64)
        for k in (0, 1)
    }
    collinear = dataclasses.replace(res, recordings=rank_one)
    rep = report(collinear, net.sizes, phi_neurons=6, n_components=3)
    assert rep.phi is None
    assert rep.phi_error and "positive definite" in rep.phi_error


def test_explicit_phi_neurons_and_bad_input() -> None:
    net, res = _run(record=range(2))
    rep = report(res, net.sizes, phi_neurons=[0, 1, 120, 121])
    assert rep.phi_neurons == (0, 1, 120, 121)
    with pytest.raises(ValueError, match="phi_neurons"):
        report(res, net.sizes, phi_neurons=[0, 200])  # neuron 200 is in L3, not recorded
    with pytest.raises(ValueError, match="batch_index"):
        report(res, net.sizes, batch_index=3)
    _, one = _run(record=range(1))
    with pytest.raises(ValueError, match="at least two layers"):
        report(one, net.sizes)


def test_binarize_and_select() -> None:
    x = torch.tensor([[0.0, 5.0], [1.0, 4.0], [2.0, 3.0], [3.0, 2.0]])
    assert binarize_median(x).tolist() == [[0, 0, 1, 1], [1, 1, 0, 0]]
    recs = {0: torch.tensor([[0.0, 1.0], [0.0, -1.0]]), 1: torch.tensor([[3.0], [-3.0]])}
    assert select_phi_neurons(recs, [0, 2, 3], 2) == (1, 2)
    with pytest.raises(ValueError, match="x must be"):
        binarize_median(torch.zeros(3))
