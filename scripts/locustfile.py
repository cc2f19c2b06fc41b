"""Locust scenario against ``hal9 serve``: the API-key read path plus a trickle of small jobs.

Run by ``scripts/loadtest.sh`` and ``scripts/soak.sh``, which start a throwaway server and set:

``HAL9_LOAD_API_KEY``
    API key (``hal9_...``) with scopes ``read`` and ``run`` (required).
``HAL9_LOAD_RUN_ID``
    id of a run of the key's owner, read by ``GET /api/v1/runs/{id}`` (required).
``HAL9_LOAD_SUBMIT_EVERY``
    on average one request in this many is a job submission (default 200; 0: none).
``HAL9_LOAD_USER_RPS``
    requests per second of each user (default 1, ``constant_throughput``).
``HAL9_LOAD_REFUSED_OK``
    ``1``: a submission answered 429 or 503 is counted as a success under the separate name
    ``POST /api/v1/runs/metrics (refused)``; by default it is a failure like any other non-2xx.

Each user sends ``HAL9_LOAD_USER_RPS`` requests per second (fewer if the server answers slower than
that: the rate is a target, not a guarantee). Reads are half ``GET /api/v1/runs?limit=10``, half
``GET /api/v1/runs/{id}``; a submission is ``POST /api/v1/runs/metrics`` with a 2x2 system (202).

Example (against a server started by hand)::

    HAL9_LOAD_API_KEY=hal9_... HAL9_LOAD_RUN_ID=... locust -f scripts/locustfile.py --headless \
        -u 100 -r 100 -t 30s --host http://127.0.0.1:8000
"""

from __future__ import annotations

import os
import random
from typing import Any, ClassVar

from locust import FastHttpUser, constant_throughput, events, task

API_KEY = os.environ.get("HAL9_LOAD_API_KEY", "")
RUN_ID = os.environ.get("HAL9_LOAD_RUN_ID", "")
SUBMIT_EVERY = int(os.environ.get("HAL9_LOAD_SUBMIT_EVERY", "200"))
USER_RPS = float(os.environ.get("HAL9_LOAD_USER_RPS", "1"))
REFUSED_OK = os.environ.get("HAL9_LOAD_REFUSED_OK", "").lower() in ("1", "true", "yes")

LIST = "GET /api/v1/runs?limit=10"
GET = "GET /api/v1/runs/{id}"
SUBMIT = "POST /api/v1/runs/metrics"
REFUSED = f"{SUBMIT} (refused)"
JOB = {"A": [[0.5, 0.1], [0.0, 0.4]], "measure": "mi"}


@events.init.add_listener
def _check_environment(environment: Any, **_kwargs: Any) -> None:
    """Refuse to start without a key and a run id (a run of 401/404s measures nothing)."""
    missing = [name for name in ("HAL9_LOAD_API_KEY", "HAL9_LOAD_RUN_ID") if not os.environ.get(name)]
    if missing or SUBMIT_EVERY < 0 or USER_RPS <= 0:
        raise SystemExit(
            f"locustfile: set {', '.join(missing)}" if missing else "locustfile: bad HAL9_LOAD_* value"
        )


class ApiKeyUser(FastHttpUser):
    """One client of the API with an API key: reads, and now and then a small job."""

    wait_time = constant_throughput(USER_RPS)
    default_headers: ClassVar[dict[str, str]] = {"X-API-Key": API_KEY}
    network_timeout = 30.0
    connection_timeout = 30.0

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
