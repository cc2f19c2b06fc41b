"""Locust scenario against ``hal9 serve``: the API-key read path plus a trickle of small jobs.

Run by ``scripts/loadtest.sh`` and ``scripts/soak.sh``, which start a throwaway server and set:

``HAL9_LOAD_API_KEY``
    API key (``hal9_...``) with scopes ``read`` and ``run`` (required).
``HAL9_LOAD_RUN_ID``
    id of a run of the key's owner, read by ``GET /api/v1/runs/{id}`` (required).
``HAL9_LOAD_SUBMIT_EVERY``
    on average one request in this many is a job submission (default 200; 0: none).
``HAL9_LOAD_USER_RPS``
    requests per second of each user (default 1).
``HAL9_LOAD_PACING``
    ``timer`` (default): each user has its own clock, a request every ``1/HAL9_LOAD_USER_RPS`` s from a
    random start; a slot missed while the previous answer was late is skipped, never caught up.
    ``throughput``: locust's ``constant_throughput`` (see below).
``HAL9_LOAD_TRACE``
    write ``[[start_unix_s, latency_ms], ...]`` of every request to this JSON file when locust quits.
``HAL9_LOAD_REFUSED_OK``
    ``1``: a submission answered 429 or 503 is counted as a success under the separate name
    ``POST /api/v1/runs/metrics (refused)``; by default it is a failure like any other non-2xx.

Each user sends ``HAL9_LOAD_USER_RPS`` requests per second (fewer if the server answers slower than
that: the rate is a target, not a guarantee).

Why ``timer`` is the default: locust's ``constant_throughput`` starts a user's next request at the end
of the one that overran its period, so one transient slow second (the ramp-up) moves every user's
phase to the moment the server caught up, and the phases stay locked there. Measured here with
``HAL9_LOAD_TRACE``: 1,000 users sent all their requests within about 200 ms of each second, the server
idle for the other 800 ms; the latencies then measure a 1,000-request burst, not a 1,000 req/s load.
1,000 independent clients polling once a second keep independent phases, which is what ``timer`` does.

Reads are half ``GET /api/v1/runs?limit=10``, half
``GET /api/v1/runs/{id}``; a submission is ``POST /api/v1/runs/metrics`` with a 2x2 system (202).

Example (against a server started by hand)::

    HAL9_LOAD_API_KEY=hal9_... HAL9_LOAD_RUN_ID=... locust -f scripts/locustfile.py --headless \
        -u 100 -r 100 -t 30s --host http://127.0.0.1:8000
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from typing import Any, ClassVar

import gevent
from locust import FastHttpUser, constant_throughput, events, task
from locust.env import Environment

API_KEY = os.environ.get("HAL9_LOAD_API_KEY", "")
RUN_ID = os.environ.get("HAL9_LOAD_RUN_ID", "")
SUBMIT_EVERY = int(os.environ.get("HAL9_LOAD_SUBMIT_EVERY", "200"))
USER_RPS = float(os.environ.get("HAL9_LOAD_USER_RPS", "1"))
REFUSED_OK = os.environ.get("HAL9_LOAD_REFUSED_OK", "").lower() in ("1", "true", "yes")
PACING = os.environ.get("HAL9_LOAD_PACING", "timer")
PACINGS = ("timer", "throughput")
TRACE = os.environ.get("HAL9_LOAD_TRACE", "")

LIST = "GET /api/v1/runs?limit=10"
GET = "GET /api/v1/runs/{id}"
SUBMIT = "POST /api/v1/runs/metrics"
REFUSED = f"{SUBMIT} (refused)"
JOB = {"A": [[0.5, 0.1], [0.0, 0.4]], "measure": "mi"}


@events.init.add_listener
def _check_environment(environment: Any, **_kwargs: Any) -> None:
    """Refuse to start without a key and a run id (a run of 401/404s measures nothing)."""
    missing = [name for name in ("HAL9_LOAD_API_KEY", "HAL9_LOAD_RUN_ID") if not os.environ.get(name)]
    if missing or SUBMIT_EVERY < 0 or USER_RPS <= 0 or PACING not in PACINGS:
        raise SystemExit(
            f"locustfile: set {', '.join(missing)}"
            if missing
            else f"locustfile: bad HAL9_LOAD_* value (HAL9_LOAD_PACING is one of {', '.join(PACINGS)})"
        )
    if TRACE:
        _trace(environment)


def _trace(environment: Environment) -> None:
    """Keep (start, latency) of every request; write them to ``HAL9_LOAD_TRACE`` when locust quits."""
    rows: list[tuple[float, float]] = []

    @environment.events.request.add_listener
    def _keep(start_time: float | None = None, response_time: float = 0.0, **_kwargs: Any) -> None:
        if start_time is not None:
            rows.append((start_time, response_time))

    @environment.events.quitting.add_listener
    def _write(**_kwargs: Any) -> None:
        with open(TRACE, "w", encoding="utf-8") as out:
            json.dump(rows, out)


def timer_pacing(rate: float) -> Any:
    """A ``wait_time``: one task every ``1/rate`` s on the user's own clock (see the module text).

    The first slot is set by :meth:`ApiKeyUser.on_start` (a random phase); after each task the user
    waits for its next slot still ahead, skipping the ones its last request overran.
    """
    period = 1.0 / rate

    def wait_time(user: Any) -> float:
        now = time.monotonic()
        slot = user.slot + period
        if slot < now:
            slot += math.ceil((now - slot) / period) * period
        user.slot = slot
        return slot - now

    return wait_time


class ApiKeyUser(FastHttpUser):
    """One client of the API with an API key: reads, and now and then a small job."""

    wait_time = timer_pacing(USER_RPS) if PACING == "timer" else constant_throughput(USER_RPS)
    default_headers: ClassVar[dict[str, str]] = {"X-API-Key": API_KEY}
    network_timeout = 30.0
    connection_timeout = 30.0
    slot = 0.0

    def on_start(self) -> None:
        """With ``timer`` pacing: wait a random fraction of the period (this user's phase)."""
        if PACING == "timer":
            gevent.sleep(random.random() / USER_RPS)
            self.slot = time.monotonic()

    @task
    def request(self) -> None:
        """One request: a submission with probability 1/SUBMIT_EVERY, else one of the two reads."""
        if SUBMIT_EVERY and random.random() * SUBMIT_EVERY < 1.0:
            self.submit()
        elif random.random() < 0.5:
            self._get("/api/v1/runs?limit=10", LIST)
        else:
            self._get(f"/api/v1/runs/{RUN_ID}", GET)

    def _get(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, catch_response=True) as resp:
            if not 200 <= resp.status_code < 300:
                resp.failure(_reason(resp))

    def submit(self) -> None:
        """Submit a metrics job: 2xx (202) expected; 429/503 are "refused" (HAL9_LOAD_REFUSED_OK)."""
        with self.client.post("/api/v1/runs/metrics", json=JOB, name=SUBMIT, catch_response=True) as resp:
            code = resp.status_code
            if 200 <= code < 300:
                resp.success()
            elif code in (429, 503) and REFUSED_OK:
                resp.request_meta["name"] = REFUSED
                resp.success()
            else:
                resp.failure(_reason(resp))


def _reason(resp: Any) -> str:
    """``HTTP 503``, or the connection error (status 0) by its type: one row per cause in the stats."""
    if resp.status_code:
        return f"HTTP {resp.status_code}"
    error = getattr(resp, "error", None)
    return f"no response: {type(error).__name__}" if error is not None else "no response"
