"""The L4 coordinator as a seeded discrete-event simulation of the contract-net protocol.

Per task: ``PENDING`` (waiting for dependencies) → ``READY`` → announced in a scheduling round, units bid,
L4 awards (``RUNNING``) → the unit acknowledges (or the award times out after ``ack_timeout``) → progress at
half the work → ``COMPLETED``; or the attempt fails (the unit reports it), or the whole unit crashes and L4
notices ``detection_delay`` later; either way L4 re-plans the orphan (``READY`` again, one more attempt)
until ``max_retries`` is spent (``FAILED``). With ``preemption`` a waiting task may revoke strictly
lower-priority attempts (:mod:`hal9.tactical.preemption`). A failed or cancelled
task cancels its dependents; with ``cancel_impossible_deadlines`` a ready task that cannot finish in time even
on the fastest live unit is cancelled; goals beyond ``max_queued_tasks`` are rejected (their tasks cancelled
with that reason). **No task is lost**: when the event queue drains every task is terminal with a reason,
or :attr:`SimulationResult.lost` counts it.

Deterministic for a seed on CPU: one NumPy generator (failure and ack-loss draws, in event order), events
ordered by ``(time, kind order, sequence number)``. Steppable: :meth:`TacticalSimulation.step` processes one
event; :meth:`TacticalSimulation.run` drains the queue.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from enum import IntEnum

import numpy as np
import torch
from numpy.typing import NDArray

from hal9.tactical.messages import BROADCAST, MessageLog, MessageType
from hal9.tactical.models import Goal, SimulationConfig, Unit
from hal9.tactical.policies import RoundProblem, plan_round
from hal9.tactical.preemption import plan_preemptions
from hal9.tactical.results import SimulationResult
from hal9.tactical.tables import TaskState, TaskTable, UnitTable

__all__ = ["Reason", "TacticalSimulation"]

_L5, _L4, _L3 = 5, 4, 3
_COORD = 0

# Plain-int aliases of the enums for the hot paths (enum attribute access costs ~1 µs each).
_NOT_ARRIVED = int(TaskState.NOT_ARRIVED)
_PENDING = int(TaskState.PENDING)
_READY = int(TaskState.READY)
_RUNNING = int(TaskState.RUNNING)
_COMPLETED = int(TaskState.COMPLETED)
_FAILED = int(TaskState.FAILED)
_CANCELLED = int(TaskState.CANCELLED)
_M_GOAL_REJECTED = MessageType.GOAL_REJECTED
_M_GOAL_DONE = MessageType.GOAL_DONE
_M_GOAL = MessageType.GOAL
_M_ANNOUNCE = MessageType.ANNOUNCE
_M_BID = MessageType.BID
_M_AWARD = MessageType.AWARD
_M_ACK = MessageType.ACK
_M_PROGRESS = MessageType.PROGRESS
_M_COMPLETE = MessageType.COMPLETE
_M_FAIL = MessageType.FAIL
_M_CANCEL = MessageType.CANCEL


class Reason(IntEnum):
    """Why a task ended other than ``COMPLETED`` (0 = no reason: completed or not yet terminal)."""

    NONE = 0
    RETRIES_EXHAUSTED = 1
    DEPENDENCY_FAILED = 2
    DEPENDENCY_CANCELLED = 3
    DEADLINE_IMPOSSIBLE = 4
    NO_LIVE_UNIT = 5
    NO_UNIT_WITH_CAPACITY = 6
    GOAL_REJECTED = 7


class _Ev(IntEnum):
    # Value = order among events at the same time: arrivals and completions before the round.
    ARRIVE = 0
    DONE = 1
    CRASH = 2
    DETECT = 3
    REPAIR = 4
    ACK_TIMEOUT = 5
    ATTEMPT_FAIL = 6
    ROUND = 9


_EV_NAMES = {int(e): e.name for e in _Ev}
_EV_DONE, _EV_ACK_TIMEOUT, _EV_ATTEMPT_FAIL = int(_Ev.DONE), int(_Ev.ACK_TIMEOUT), int(_Ev.ATTEMPT_FAIL)


class TacticalSimulation:
    """L4 coordinating goals from L5 onto L3 units (see module docstring).

    Parameters
    ----------
    units : sequence of Unit
        The L3 units; all with the same capability and capacity dimensions. Units without capacity
        (``capacity=()``) get one implicit slot each (one task at a time); tasks then demand one slot.
    config : SimulationConfig
        Scheduler, failure model, timeouts, cost weights, seed, device.

    Examples
    --------
    >>> from hal9.tactical import Goal, SimulationConfig, TacticalSimulation, TaskTemplate, Unit
    >>> sim = TacticalSimulation([Unit(id="u0"), Unit(id="u1", speed=2.0)], SimulationConfig())
    >>> sim.submit(Goal(id="g", template=TaskTemplate(kind="chain", n_tasks=3)))
    >>> res = sim.run()
    >>> res.counts()["completed"], res.lost
    (3, 0)
    """

    def __init__(self, units: Sequence[Unit], config: SimulationConfig | None = None) -> None:
        self.config = config or SimulationConfig()
        self.units = UnitTable.from_units(units)
        self.tasks = TaskTable(self.units.capability.shape[1], self.units.capacity.shape[1])
        self.messages = MessageLog()
        self.now = 0.0
        self._rng = np.random.default_rng(self.config.seed)
        self._events: list[tuple[float, int, int, int, int]] = []
        self._seq = 0
        self._round_pending = False
        self._drain_round = False
        self._stalled = False
        self._handlers = {int(e): getattr(self, f"_on_{e.name.lower()}") for e in _Ev}
        self._round = 0
        self._rr_ptr = 0
        self._goal_ids: dict[str, int] = {}
        self.goals: list[Goal] = []

    # ----------------------------------------------------------------- inputs
    def submit(self, goal: Goal) -> None:
        """Register ``goal`` (it arrives from L5 at ``goal.arrival``, or now if that is in the past).

        Raises ``ValueError`` for a duplicate goal or task id, vectors of the wrong length, or a task whose
        demand exceeds every unit's capacity (the goal is then not registered at all).
        """
        if goal.id in self._goal_ids:
            raise ValueError(f"duplicate goal id {goal.id!r}")
        g = len(self.goals)
        arrival = max(goal.arrival, self.now)  # a goal submitted late arrives now
        self.tasks.add_goal(goal, g, self.units, arrival=arrival)
        self._goal_ids[goal.id] = g
        self.goals.append(goal)
        self._push(arrival, _Ev.ARRIVE, g)
        if self.config.crash_rate > 0:
            un = self.units
            for j in np.flatnonzero(un.alive & ~un.crash_pending).tolist():
                self._schedule_crash(j)

    def fail_unit(self, unit_id: str, at: float) -> None:
        """Crash unit ``unit_id`` at time ``at`` (an explicit failure event)."""
        if unit_id not in self.units.index:
            raise ValueError(f"unknown unit id {unit_id!r}")
        if not math.isfinite(at) or at < self.now:
            raise ValueError(f"at must be finite and >= now ({self.now}), got {at}")
        self._push(at, _Ev.CRASH, self.units.index[unit_id], -1)

    # ----------------------------------------------------------------- engine
    def _push(self, time: float, kind: _Ev, a: int, b: int = 0) -> None:
        heapq.heappush(self._events, (time, int(kind), self._seq, a, b))
        self._seq += 1

    def _request_round(self) -> None:
        if self._round_pending:
            return
        dt = self.config.round_interval
        t = self.now if dt == 0 else math.ceil(self.now / dt - 1e-12) * dt
        self._push(max(t, self.now), _Ev.ROUND, 0)
        self._round_pending = True

    @property
    def pending_events(self) -> int:
        """Events still queued."""
        return len(self._events)

    def step(self) -> tuple[float, str] | None:
        """Process the next event; returns ``(time, event name)``, or ``None`` when the queue is empty."""
        if not self._events:
            return None
        time, kind, _, a, b = heapq.heappop(self._events)
        self.now = time
        self._handlers[kind](a, b)
        if not self._events:
            self._final_sweep()
        return time, _EV_NAMES[kind]

    def run(self, until: float | None = None, *, progress: bool = False) -> SimulationResult:
        """Process events (all, or those before ``until``) and return the result so far."""
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.tasks.n, desc="tasks", unit="task")
        done_before = 0
        while self._events and (until is None or self._events[0][0] < until):
            self.step()
            if bar is not None and self._seq % 256 == 0:
                done = self.tasks.n_terminal
                bar.update(done - done_before)
                done_before = done
        if bar is not None:
            bar.update(self.tasks.n_terminal - done_before)
            bar.close()
        return self.result()

    def result(self) -> SimulationResult:
        """A snapshot of the outcome (tasks, attempts, units, messages) with the metrics."""
        return SimulationResult.build(self)

    # ----------------------------------------------------------------- handlers
    def _on_arrive(self, g: int, _: int) -> None:
        tk = self.tasks
        ids = tk.goal_tasks(g)
        self.messages.send_many(_M_GOAL, _L5, 0, _L4, _COORD, self.now, g)
        limit = self.config.max_queued_tasks
        if limit is not None and tk.n_queued + ids.size > limit:
            self.messages.send_many(_M_GOAL_REJECTED, _L4, _COORD, _L5, 0, self.now, g)
            for i in ids.tolist():
                self._terminate(i, _CANCELLED, Reason.GOAL_REJECTED, cascade=False, report=False)
            return
        tk.state[ids] = _PENDING
        tk.n_queued += ids.size
        ready = ids[tk.remaining[ids] == 0]
        tk.state[ready] = _READY
        tk.ready_time[ready] = self.now
        self._request_round()

    def _on_round(self, _a: int, _b: int) -> None:
        self._round_pending = False
        drain, self._drain_round = self._drain_round, False
        self._schedule(drain)
        if self.config.preemption:
            self._preempt()

    def _schedule(self, drain: bool) -> None:
        cfg, tk, un = self.config, self.tasks, self.units
        ready = np.flatnonzero(tk.state[: tk.n] == _READY)
        if ready.size == 0:
            return
        # Tasks that no unit can ever hold again (every fitting unit is permanently down) end now.
        stuck = ready[~tk.placeable[ready]]
        if stuck.size:
            why = Reason.NO_LIVE_UNIT if not un.usable.any() else Reason.NO_UNIT_WITH_CAPACITY
            for i in stuck.tolist():
                self._terminate(i, _CANCELLED, why)
            ready = ready[tk.placeable[ready]]
            if ready.size == 0:
                return
        if cfg.cancel_impossible_deadlines and un.known_alive.any():
            best = tk.work[ready] / un.speed[un.known_alive].max()
            late = ready[self.now + best > tk.deadline[ready]]
            for i in late:
                self._terminate(int(i), _CANCELLED, Reason.DEADLINE_IMPOSSIBLE)
            ready = np.setdiff1d(ready, late, assume_unique=True)
            if ready.size == 0:
                return
        # A unit is open when it can hold the smallest ready demand on every resource (a lower bound:
        # units that fail it can take no ready task, so they are left out of the round's matrices).
        min_dem = tk.demand[ready].min(axis=0)
        trusted = un.known_alive & (un.suspect_until <= self.now)
        open_units = np.flatnonzero(trusted & np.all(un.free >= min_dem * (1 - 1e-9) - 1e-12, axis=1))
        if open_units.size == 0:
            return
        # Only tasks that fit the largest free capacity per resource can be placed now: leave the others
        # out of this round, so they do not block smaller tasks behind them (head-of-line blocking).
        room = un.free[open_units].max(axis=0) * (1 + 1e-9) + 1e-12
        ready = ready[np.all(tk.demand[ready] <= room, axis=1)]
        if ready.size == 0:
            return
        # Candidates: about candidates_per_slot per free task slot (estimated from the mean ready demand).
        mean_dem = np.maximum(tk.demand[ready].mean(axis=0), 1e-12)
        slots = int(np.floor((un.free[open_units] / mean_dem).min(axis=1)).clip(1, None).sum())
        k = ready.size if drain else cfg.candidates_per_slot * slots
        cand = ready[self._order(ready)[:k]]
        p = RoundProblem(
            work=tk.work[cand],
            priority=tk.priority[cand],
            slack=tk.deadline[cand] - self.now,
            required=tk.required[cand],
            demand=tk.demand[cand],
            speed=un.speed[open_units],
            capability=un.capability[open_units],
            free=un.free[open_units],
            alive=np.ones(open_units.size, dtype=bool),
        )
        rr_start = int(np.searchsorted(open_units, self._rr_ptr))
        rows, cols = plan_round(
            cfg.scheduler,
            p,
            mismatch_weight=cfg.mismatch_weight,
            priority_weight=cfg.priority_weight,
            urgency_weight=cfg.urgency_weight,
            device=cfg.device,
            auction_tol=cfg.auction_tol,
            rr_start=rr_start,
            dtype=torch.float32 if cfg.cost_dtype == "float32" else torch.float64,
        )
        cols = open_units[cols]
        r = self._round
        self._round += 1
        self.messages.send_many(_M_ANNOUNCE, _L4, _COORD, _L3, BROADCAST, self.now, r)
        bidders = open_units[un.alive[open_units]]  # crashed (not yet detected) units cannot bid
        self.messages.send_many(_M_BID, _L3, bidders, _L4, _COORD, self.now, r)
        if rows.size:
            self._rr_ptr = int(cols[-1]) + 1
            self._award(cand[rows], cols)
            if ready.size > cand.size:
                self._request_round()  # more candidates wait and units may still have room

    def _award(self, tasks: NDArray, units: NDArray) -> None:
        cfg, tk, un = self.config, self.tasks, self.units
        now = self.now
        self._stalled = False
        self.messages.send_many(_M_AWARD, _L4, _COORD, _L3, units, now, tasks)
        np.subtract.at(un.free, units, tk.demand[tasks])  # a unit may take several tasks per round
        slow = 1 + cfg.mismatch_weight * un.shortfall(tk.required[tasks], units)
        dur = tk.work[tasks] / un.speed[units] * slow
        lost_ack = self._rng.random(tasks.size) < cfg.ack_loss_rate
        fails = self._rng.random(tasks.size) < cfg.failure_rate
        fail_frac = self._rng.random(tasks.size)
        attempts = tk.start_attempts(tasks, units, now)
        np.add.at(tk.goal_alloc, tk.goal[tasks], tk.demand[tasks])
        acked = ~lost_ack & un.alive[units]
        self.messages.send_many(_M_ACK, _L3, units[acked], _L4, _COORD, now, tasks[acked])
        events = self._events
        seq = self._seq
        for i, j, a, d, ok, fail, frac in zip(
            tasks.tolist(),
            units.tolist(),
            attempts.tolist(),
            dur.tolist(),
            acked.tolist(),
            fails.tolist(),
            fail_frac.tolist(),
            strict=True,
        ):
            un.running[j].add(i)
            if not ok:
                heapq.heappush(events, (now + cfg.ack_timeout, _EV_ACK_TIMEOUT, seq, i, a))
            elif fail:
                heapq.heappush(events, (now + frac * d, _EV_ATTEMPT_FAIL, seq, i, a))
            else:
                heapq.heappush(events, (now + d, _EV_DONE, seq, i, a))
            seq += 1
        self._seq = seq

    def _preempt(self) -> None:
        """Revoke lower-priority attempts for ready tasks that fit nowhere (see :mod:`~.preemption`)."""
        tk, un = self.tasks, self.units
        state = tk.state[: tk.n]
        ready = np.flatnonzero(state == _READY)
        running = np.flatnonzero(state == _RUNNING)
        if ready.size == 0 or running.size == 0:
            return
        att = tk.attempt[running]
        att = np.where(att < -1, -att - 2, att)  # attempts on crashed, not yet detected units
        waiting = ready[self._order(ready)]
        waiting = waiting[np.argsort(-tk.priority[waiting], kind="stable")]  # whatever the scheduler's order
        plan = plan_preemptions(
            waiting,
            tk.demand,
            tk.priority,
            un.free,
            un.capacity,
            un.known_alive & (un.suspect_until <= self.now),
            running,
            tk.unit[running],
            self.now - tk.a_start[att],
            duration=self._durations,
        )
        if not plan:
            return
        for p in plan:
            for v in p.victims:
                self._revoke(v)
        self._award(np.array([p.task for p in plan]), np.array([p.unit for p in plan]))
        self._request_round()  # the victims are ready again

    def _durations(self, i: int) -> NDArray:
        """Expected duration of task ``i`` on every unit, ``(U,)`` (the round's cost without bonuses)."""
        un, tk = self.units, self.tasks
        everyone = np.arange(un.speed.size)
        slow = 1 + self.config.mismatch_weight * un.shortfall(
            np.repeat(tk.required[i : i + 1], everyone.size, 0), everyone
        )
        return tk.work[i] / un.speed * slow

    def _revoke(self, i: int) -> None:
        """Preempt running task ``i``: CANCEL to its unit, progress lost, ``READY`` again (no retry spent)."""
        tk = self.tasks
        j, a = int(tk.unit[i]), int(tk.attempt[i])
        self._release(i, j)
        if a < -1:
            # The unit has crashed and L4 does not know yet: the work was lost to the crash, so it counts
            # as a lost attempt and spends a retry, exactly as on detection.
            tk.attempt[i] = -a - 2
            tk.end_attempt(-a - 2, self.now, completed=False)
            self._orphan(i, j)
            return
        self.messages.send_many(_M_CANCEL, _L4, _COORD, _L3, j, self.now, i)
        tk.end_attempt(a, self.now, completed=False, preempted=True)
        tk.unit[i] = -1
        tk.state[i] = _READY
        tk.ready_time[i] = self.now

    def _on_attempt_fail(self, i: int, attempt: int) -> None:
        tk = self.tasks
        if tk.attempt[i] != attempt or tk.state[i] != _RUNNING:
            return  # stale: lost to a crash first
        j = int(tk.unit[i])
        self._release(i, j)
        tk.end_attempt(attempt, self.now, completed=False)
        self._orphan(i, j)
        self._request_round()

    def _on_done(self, i: int, attempt: int) -> None:
        tk = self.tasks
        if tk.attempt[i] != attempt or tk.state[i] != _RUNNING:
            return  # stale: the attempt was lost to a crash or timed out
        j = int(tk.unit[i])
        start = tk.attempt_start(attempt)
        self.messages.send_many(_M_PROGRESS, _L3, j, _L4, _COORD, (start + self.now) / 2, i)
        self.messages.send_many(_M_COMPLETE, _L3, j, _L4, _COORD, self.now, i)
        self._release(i, j)
        tk.end_attempt(attempt, self.now, completed=True)
        self._terminate(i, _COMPLETED, Reason.NONE)
        for c in tk.children[i]:
            tk.remaining[c] -= 1
            if tk.remaining[c] == 0 and tk.state[c] == _PENDING:
                tk.state[c] = _READY
                tk.ready_time[c] = self.now
        self._request_round()

    def _on_crash(self, j: int, epoch: int) -> None:
        un, tk = self.units, self.tasks
        if epoch >= 0:
            un.crash_pending[j] = False  # this was the unit's scheduled crash (it may be stale)
        if not un.alive[j] or (epoch >= 0 and un.epoch[j] != epoch):
            return
        un.alive[j] = False
        un.epoch[j] += 1
        for i in un.running[j]:
            if tk.state[i] == _RUNNING:
                tk.attempt[i] = -tk.attempt[i] - 2  # invalidates the pending DONE; restored on detection
        self._push(self.now + self.config.detection_delay, _Ev.DETECT, j, int(un.epoch[j]))

    def _on_detect(self, j: int, epoch: int) -> None:
        un, tk = self.units, self.tasks
        un.known_alive[j] = False
        for i in sorted(un.running[j]):
            if tk.attempt[i] < -1:
                tk.attempt[i] = -tk.attempt[i] - 2
            self._release(i, j)
            tk.end_attempt(int(tk.attempt[i]), self.now, completed=False)
            self._orphan(i, j)
        un.free[j] = un.capacity[j]
        if self.config.repair_time is not None:
            self._push(self.now + self.config.repair_time, _Ev.REPAIR, j, epoch)
        else:
            un.usable[j] = False  # never comes back
            tk.update_placeable(un)
        self._request_round()

    def _on_repair(self, j: int, _: int) -> None:
        self.units.alive[j] = True
        self.units.known_alive[j] = True
        self._schedule_crash(j)
        self._request_round()

    def _schedule_crash(self, j: int) -> None:
        """Draw unit ``j``'s next crash (Poisson process at ``crash_rate``) while work remains."""
        rate = self.config.crash_rate
        if rate > 0 and self.tasks.n_terminal < self.tasks.n and not self.units.crash_pending[j]:
            self.units.crash_pending[j] = True
            self._push(
                self.now + float(self._rng.exponential(1 / rate)), _Ev.CRASH, j, int(self.units.epoch[j])
            )

    def _on_ack_timeout(self, i: int, attempt: int) -> None:
        tk = self.tasks
        if tk.attempt[i] == -attempt - 2 and tk.state[i] == _RUNNING:
            tk.attempt[i] = attempt  # the unit crashed meanwhile; L4 only knows that no ACK came
        if tk.attempt[i] != attempt or tk.state[i] != _RUNNING:
            return
        j = int(tk.unit[i])
        # No acknowledgement: L4 suspects the unit and offers it no work for detection_delay.
        self.units.suspect_until[j] = self.now + self.config.detection_delay
        self._push(self.now + self.config.detection_delay, _Ev.ROUND, 0)
        self._release(i, j)
        tk.end_attempt(attempt, self.now, completed=False)
        self._orphan(i, j)
        self._request_round()

    # ----------------------------------------------------------------- bookkeeping
    def _release(self, i: int, j: int) -> None:
        un = self.units
        un.running[j].discard(i)
        self.tasks.goal_alloc[self.tasks.goal[i]] -= self.tasks.demand[i]
        if un.known_alive[j]:
            np.minimum(un.free[j] + self.tasks.demand[i], un.capacity[j], out=un.free[j])

    def _orphan(self, i: int, j: int) -> None:
        """Re-plan task ``i`` lost on unit ``j`` (revoke the award), or fail it when retries are spent."""
        tk = self.tasks
        self.messages.send_many(_M_FAIL, _L3, j, _L4, _COORD, self.now, i)
        self.messages.send_many(_M_CANCEL, _L4, _COORD, _L3, j, self.now, i)
        tk.retries[i] += 1
        tk.unit[i] = -1
        if tk.retries[i] > self.config.max_retries:
            self._terminate(i, _FAILED, Reason.RETRIES_EXHAUSTED)
        else:
            tk.state[i] = _READY
            tk.ready_time[i] = self.now

    def _terminate(
        self, i: int, state: int, reason: Reason, *, cascade: bool = True, report: bool = True
    ) -> None:
        """Make task ``i`` terminal and cancel its not-yet-started dependents (transitively, unless
        ``cascade`` is false); ``report``: send GOAL_DONE to L5 when the goal's last task ends."""
        tk = self.tasks
        stack: list[tuple[int, int, Reason]] = [(i, state, reason)]
        while stack:
            t, st, why = stack.pop()
            if tk.state[t] >= _COMPLETED:
                continue
            was_queued = tk.state[t] != _NOT_ARRIVED
            tk.state[t] = st
            tk.reason[t] = why
            tk.end[t] = self.now
            tk.n_terminal += 1
            if was_queued:
                tk.n_queued -= 1
            g = int(tk.goal[t])
            tk.goal_open[g] -= 1
            if tk.goal_open[g] == 0 and report:
                tk.goal_end[g] = self.now
                self.messages.send_many(_M_GOAL_DONE, _L4, _COORD, _L5, 0, self.now, g)
            if st != _COMPLETED and cascade:
                child_why = Reason.DEPENDENCY_FAILED if st == _FAILED else Reason.DEPENDENCY_CANCELLED
                for c in tk.children[t]:
                    if tk.state[c] < _RUNNING:
                        tk.cause[c] = t
                        stack.append((c, _CANCELLED, child_why))

    def _final_sweep(self) -> None:
        """The queue is empty: ready tasks no live unit can ever take are cancelled with the reason; if
        others are left (the round's candidates blocked them), one more round considers all of them."""
        tk, un = self.tasks, self.units
        ready = np.flatnonzero(tk.state[: tk.n] == _READY)
        if ready.size == 0:
            return
        alive = un.known_alive
        for i in ready.tolist():
            fits = alive & np.all(tk.demand[i] <= un.capacity * (1 + 1e-9) + 1e-12, axis=1)
            if not alive.any():
                self._terminate(i, _CANCELLED, Reason.NO_LIVE_UNIT)
            elif not fits.any():
                self._terminate(i, _CANCELLED, Reason.NO_UNIT_WITH_CAPACITY)
        if np.any(tk.state[ready] == _READY) and not self._stalled:
            self._stalled = True  # cleared by the next award; a second stall leaves them counted as lost
            self._drain_round = True
            self._request_round()

    def _order(self, ready: NDArray) -> NDArray:
        """Preference order of ready tasks for this round's scheduler (indices into ``ready``)."""
        tk, sched = self.tasks, self.config.scheduler
        idx = ready.astype(np.int64)
        if sched == "edf":
            return np.lexsort((idx, -tk.priority[ready], tk.deadline[ready]))
        if sched == "round_robin":
            return np.lexsort((idx, tk.ready_time[ready]))
        goal = tk.goal[ready]
        if self.config.fairness == "drf":
            share = tk.goal_dominant_share(self.units) / np.maximum(tk.goal_weight, 1e-12)
            fair = share[goal]
        else:
            fair = tk.goal_arrival[goal]
        return np.lexsort((idx, tk.deadline[ready], fair, -tk.priority[ready]))
