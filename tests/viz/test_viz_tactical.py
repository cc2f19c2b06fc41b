"""Figures of hal9.tactical on a small simulation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hal9.tactical import SimulationConfig, TacticalSimulation
from hal9.tactical.workload import random_units, random_workload
from hal9.viz import plot_cooperation, plot_gantt, plot_scheduler_comparison, plot_utilization, save_figure
from hal9.viz.tactical import COMPARISON_KEYS, cooperation_matrix, metric_label, utilization_series
from tests.viz._figchecks import assert_no_empty_axes, assert_titles_do_not_overlap


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
        "util": plot_utilization(result),
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


def test_utilization_series_matches_attempts(result) -> None:  # type: ignore[no-untyped-def]
    t, busy, used = utilization_series(result, bins=50)
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


# --- readable scheduler figures: units, utilisation, no empty panels, no overlapping titles ---------------


def test_scheduler_comparison_default_panels_have_units_and_no_empty_axes(result) -> None:  # type: ignore[no-untyped-def]
    metrics = {"auction": result.metrics, "round_robin": dict(result.metrics, latency_p95=None)}
    fig = plot_scheduler_comparison(metrics)
    assert len(fig.axes) == len(COMPARISON_KEYS) == 8  # a full 2 x 4 grid
    assert_no_empty_axes(fig)
    assert_titles_do_not_overlap(fig)
    by_title = {ax.get_title().replace("\n", " "): ax for ax in fig.axes}
    assert by_title["makespan"].get_ylabel() == "time unit"
    assert by_title["throughput"].get_ylabel().replace("\n", " ") == "completed tasks / time unit"
    util = by_title["unit utilisation (mean)"]
    assert util.get_ylabel() == "% of makespan"
    # bars in percent: 100 x the metric, which is the mean over units of busy time / makespan
    want = 100.0 * float(np.mean(result.unit_utilization()))
    assert [p.get_height() for p in util.patches] == pytest.approx([want, want])
    assert by_title["deadline misses"].get_ylabel() == "% of tasks with deadline"
    for ax in fig.axes:
        assert len(ax.patches) == 2 and ax.get_ylabel().strip()
        assert [t.get_text() for t in ax.get_xticklabels()] == ["auction", "round_robin"]
    p95 = by_title["P95 task latency"]
    assert [t.get_text() for t in p95.texts][-1] == "n/a"  # a missing value is said, not hidden


def test_scheduler_comparison_removes_unused_grid_cells_and_names_units() -> None:
    metrics = {
        "a": {"makespan": 10.0, "deadline_miss_rate": 0.25, "throughput": 2.0},
        "b": {"makespan": 12.5},
    }
    keys = ("makespan", "deadline_miss_rate", "throughput", "messages_bid", "latency_mean_priority_3")
    fig = plot_scheduler_comparison(metrics, keys, time_unit="s")
    assert len(fig.axes) == 5  # a 2 x 4 grid with the last three cells removed
    assert all(ax.get_visible() for ax in fig.axes)
    assert_no_empty_axes(fig)
    assert_titles_do_not_overlap(fig)
    makespan, miss, thr, bids, prio = fig.axes
    assert makespan.get_ylabel() == "s" and [p.get_height() for p in makespan.patches] == [10.0, 12.5]
    assert [p.get_height() for p in miss.patches] == pytest.approx([25.0, 0.0])  # 0.25 shown as 25 %
    assert [t.get_text() for t in miss.texts] == ["25", "n/a"]
    assert thr.get_ylabel() == "completed tasks / s"
    assert (bids.get_title(), bids.get_ylabel()) == ("bid messages", "count")
    assert (prio.get_title(), prio.get_ylabel()) == ("mean latency, priority 3", "s")
    assert any(t.get_text() == "no finite value" for t in prio.texts)
    assert metric_label("jain_fairness") == ("Jain fairness of unit load", "index (1 = even load)", 1.0)
    one = plot_scheduler_comparison(metrics, ["makespan"], title=None)
    assert len(one.axes) == 1 and one.get_suptitle() == ""


@pytest.mark.parametrize(
    ("metrics", "kwargs", "match"),
    [
        ({}, {}, "at least one scheduler"),
        ({"a": {"makespan": 1.0}}, {"keys": ()}, "keys"),
        ({"a": {"makespan": "fast"}}, {}, r"metrics\['a'\]\['makespan'\]"),
        ({"a": [1.0]}, {}, r"metrics\['a'\]"),
        ({"a": {"makespan": 1.0}}, {"ncols": 0}, "ncols"),
    ],
)
def test_scheduler_comparison_rejects_bad_input(metrics, kwargs, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        plot_scheduler_comparison(metrics, **kwargs)


def _busy_union(start: np.ndarray, end: np.ndarray) -> float:
    """Length of the union of [start, end) intervals by merging sorted intervals (independent of hal9)."""
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(zip(start.tolist(), end.tolist(), strict=True)):
        if cur_e is None or s > cur_e:
            total += 0.0 if cur_e is None else cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    return total + (0.0 if cur_e is None else cur_e - cur_s)


def test_utilisation_figure_shows_per_unit_utilization_in_percent(result) -> None:  # type: ignore[no-untyped-def]
    fig = plot_utilization(result, time_unit="s")
    assert len(fig.axes) == 2
    assert_no_empty_axes(fig)
    assert_titles_do_not_overlap(fig)
    over_time, per_unit = fig.axes
    assert over_time.get_xlabel() == "time (s)" and over_time.get_ylabel() == "utilisation (%)"
    assert per_unit.get_xlabel() == "busy time (% of makespan)"
    _, busy, _ = utilization_series(result, 200)
    np.testing.assert_allclose(over_time.lines[0].get_ydata(), 100.0 * busy)
    makespan = result.metrics["makespan"]
    want = [
        100.0
        * _busy_union(
            result.attempt_start[result.attempt_unit == u], result.attempt_end[result.attempt_unit == u]
        )
        / makespan
        for u in range(6)
    ]
    names = [t.get_text() for t in per_unit.get_yticklabels()]
    widths = dict(zip(names, [p.get_width() for p in per_unit.patches], strict=True))
    assert [widths[result.unit_ids[u]] for u in range(6)] == pytest.approx(want)


def test_gantt_and_cooperation_are_labelled(result) -> None:  # type: ignore[no-untyped-def]
    gantt = plot_gantt(result, time_unit="s")
    assert gantt.axes[0].get_xlabel() == "time (s)" and gantt.axes[0].get_ylabel() == "unit"
    assert plot_gantt(result, max_units=3).axes[0].get_ylabel() == "unit (3 busiest of 6)"
    coop = plot_cooperation(result)
    caption = coop.axes[0].texts[-1].get_text()
    assert caption.startswith("node area ∝ completed tasks (max ")
    done = np.bincount(result.attempt_unit[result.attempt_outcome == 1], minlength=6)
    assert f"(max {done.max()})" in caption
    assert f"(max {int(cooperation_matrix(result).max())})" in caption
    for fig in (gantt, coop):
        assert_no_empty_axes(fig)


def test_british_spellings_still_work_with_a_warning(result) -> None:  # type: ignore[no-untyped-def]
    import hal9.viz
    import hal9.viz.tactical

    with pytest.deprecated_call(match="plot_utilisation"):
        assert hal9.viz.plot_utilisation is hal9.viz.plot_utilization  # type: ignore[attr-defined]
    with pytest.deprecated_call(match="utilisation_series"):
        old = hal9.viz.tactical.utilisation_series  # type: ignore[attr-defined]
    assert old is hal9.viz.tactical.utilization_series
    with pytest.deprecated_call(match="'utilisation_mean' is deprecated"):
        assert result.metrics["utilisation_mean"] == result.metrics["utilization_mean"]
    with pytest.deprecated_call(match="unit_utilisation"):
        assert (result.unit_utilisation() == result.unit_utilization()).all()
    assert "utilisation_mean" not in result.metrics  # stored and serialised under the new names only
    assert json.loads(json.dumps(result.metrics)).keys() == result.metrics.keys()
