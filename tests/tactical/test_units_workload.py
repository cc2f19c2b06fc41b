"""Units from an L3 layer, synthetic workloads, and the metric helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hal9.tactical import Goal, SimulationConfig, TacticalSimulation, Task, Unit, jain_index
from hal9.tactical.units import units_from_layer
from hal9.tactical.workload import random_units, random_workload


def _layer_features() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    feats = torch.rand(300, 3, generator=g, dtype=torch.float64)
    labels = torch.arange(300) % 4  # layer 2 (L3) = 75 neurons
    return feats, labels


def test_units_from_layer_means_sizes_and_determinism() -> None:
    feats, labels = _layer_features()
    units = units_from_layer(feats, labels, layer=2, n_units=5, neurons_per_slot=5.0, seed=1)
    assert len(units) == 5
    slots = np.array([u.capacity[0] for u in units])
    assert slots.sum() == pytest.approx(75 / 5.0)  # every L3 neuron in exactly one unit
    x = feats[labels == 2]
    total_speed = sum(u.speed * u.capacity[0] * 5.0 for u in units)
    assert total_speed == pytest.approx(float(x[:, 0].sum()))  # size-weighted means recover the sum
    energy = sum(u.capacity[1] for u in units) * 5.0
    assert energy == pytest.approx(float(x[:, 2].sum()))
    assert [u.speed for u in units] == sorted(u.speed for u in units)
    again = units_from_layer(feats, labels, layer=2, n_units=5, neurons_per_slot=5.0, seed=1)
    assert again == units


def test_units_from_layer_bad_input() -> None:
    feats, labels = _layer_features()
    with pytest.raises(ValueError, match="fewer than n_units"):
        units_from_layer(feats, labels, layer=2, n_units=100)
    with pytest.raises(ValueError, match="labels must be"):
        units_from_layer(feats, labels[:10])
    with pytest.raises(ValueError, match="out of range"):
        units_from_layer(feats, labels, capability_columns=(0, 7))
    with pytest.raises(ValueError, match="features must be"):
        units_from_layer(feats.long(), labels)


def test_workload_is_seeded_and_valid() -> None:
    a = random_workload(95, tasks_per_goal=10, seed=4)
    b = random_workload(95, tasks_per_goal=10, seed=4)
    assert a == b and len(a) == 10
    assert sum(len(g.plan()) for g in a) == 95
    assert random_workload(95, seed=5) != a
    assert all(g.deadline is not None and g.deadline > g.arrival for g in a)
    # tasks are built without validation (model_construct): they must still pass it
    for g in a:
        for t in g.plan():
            assert Task.model_validate(t.model_dump()) == t
            assert (t.priority, t.deadline) == (g.priority, g.deadline)
    assert len(random_units(7, seed=1)) == 7
    with pytest.raises(ValueError, match="n_tasks"):
        random_workload(0)


def test_jain_index_reference_values() -> None:
    assert jain_index(np.array([1.0, 1.0, 1.0, 1.0])) == pytest.approx(1.0)
    assert jain_index(np.array([1.0, 0.0, 0.0, 0.0])) == pytest.approx(0.25)
    assert jain_index(np.array([1.0, 2.0])) == pytest.approx(9 / 10)
    with pytest.raises(ValueError, match="non-negative"):
        jain_index(np.array([1.0, -1.0]))


def test_utilisation_and_deadline_miss_hand_computed() -> None:
    # u0 works [0, 2) then idles; u1 works [0, 4). Makespan 4 → utilisation 0.5 and 1.0.
    goal = Goal(
        id="g",
        deadline=3.0,
        tasks=(Task(id="a", work=2.0, demand=(1.0,)), Task(id="b", work=4.0, demand=(1.0,))),
    )
    units = [Unit(id="u0", speed=1.0, capacity=(1.0,)), Unit(id="u1", speed=1.0, capacity=(1.0,))]
    sim = TacticalSimulation(units, SimulationConfig(scheduler="hungarian", round_interval=0))
    sim.submit(goal)
    res = sim.run()
    assert res.metrics["makespan"] == pytest.approx(4.0)
    np.testing.assert_allclose(np.sort(res.unit_utilization()), [0.5, 1.0])
    assert res.metrics["jain_fairness"] == pytest.approx(jain_index(np.array([0.5, 1.0])))
    assert res.metrics["deadline_miss_rate"] == pytest.approx(0.5)  # b ends at 4 > 3
    assert res.metrics["latency_p95"] == pytest.approx(2.0 + 0.95 * 2.0)
