"""Figures of hal9.tactical on a small simulation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hal9.tactical import SimulationConfig, TacticalSimulation
from hal9.tactical.workload import random_units, random_workload
from hal9.viz import plot_cooperation, plot_gantt, plot_scheduler_comparison, plot_utilisation, save_figure
from hal9.viz.tactical import cooperation_matrix, utilisation_series


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    sim = TacticalSimulation(random_units(6, seed=0), SimulationConfig(failure_rate=0.1, seed=0))
    for g in random_workload(80, tasks_per_goal=8, arrival_rate=1.0, seed=0):
        sim.submit(g)
    return sim.run()


def test_figures_render(result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for name, fig in {
        "gantt": plot_gantt(result),
        "coop": plot_cooperation(result),
        "util": plot_utilisation(result),
        "cmp": plot_scheduler_comparison({"auction": result.metrics, "x": result.metrics}),
    }.items():
        assert save_figure(fig, tmp_path / f"{name}.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="at least one"):
        plot_scheduler_comparison({})


def test_cooperation_matrix_counts_shared_goals(result) -> None:  # type: ignore[no-untyped-def]
    c = cooperation_matrix(result)
    assert c.shape == (6, 6) and np.all(np.diag(c) == 0) and np.array_equal(c, c.T)
    done = result.attempt_outcome == 1
    goals_of = [
        set(result.task_goal[result.attempt_task[done & (result.attempt_unit == u)]]) for u in range(6)
    ]
    assert c[0, 1] == len(goals_of[0] & goals_of[1])


def test_utilisation_series_matches_attempts(result) -> None:  # type: ignore[no-untyped-def]
    t, busy, used = utilisation_series(result, bins=50)
    k = 20
    live = (result.attempt_start <= t[k]) & (result.attempt_end > t[k])
    assert busy[k] == pytest.approx(len(set(result.attempt_unit[live])) / 6)
    want = (result.demand[result.attempt_task[live]].sum(0) / result.capacity.sum(0)).mean()
    assert used[k] == pytest.approx(want)
    assert np.all((busy >= 0) & (busy <= 1)) and np.all(used <= 1 + 1e-9)


def test_gantt_lanes_colour_overlaps_with_equal_heights() -> None:
    from types import SimpleNamespace

    from hal9.viz.tactical import _lanes

    start, end = np.array([0.0, 1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0, 3.5])
    lanes, depth = _lanes(start, end)
    assert lanes.tolist() == [0, 1, 0, 1] and depth == 2
    # the fields plot_gantt reads; every bar of the unit's row gets the same height 0.8 / depth
    res = SimpleNamespace(
        attempt_unit=np.zeros(4, np.int64),
        attempt_start=start,
        attempt_end=end,
        attempt_outcome=np.array([1, 3, 1, 2], np.int8),
        attempt_task=np.arange(4),
        task_goal=np.zeros(4, np.int64),
        unit_ids=["u0"],
        scheduler="test",
    )
    bars = plot_gantt(res).axes[0].collections  # type: ignore[arg-type]
    assert len(bars) == 4
    heights = [float(np.ptp(b.get_paths()[0].vertices[:, 1])) for b in bars]
    np.testing.assert_allclose(heights, 0.4)
    grey, red = (tuple(bars[k].get_edgecolor()[0][:3]) for k in (1, 3))
    assert grey != red  # preempted (grey) and lost (red) are told apart
