"""``/health`` (liveness), ``/ready`` (database reachable and migrated) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from hal9 import __version__
from hal9.serve.deps import AnyPrincipal, Services, ServicesDep
from hal9.serve.migrate import current_revision, head_revision, is_known_revision
from hal9.serve.queue import workers_seen

__all__ = ["build_router"]

_log = logging.getLogger("hal9.serve")


def build_router(metrics_access: str) -> APIRouter:
    """System routes; ``/metrics`` is open, behind credentials (``"token"``) or absent (``"off"``)."""
    router = APIRouter(tags=["system"])

    health_body = {"status": "ok", "version": __version__}

    @router.get("/health", summary="liveness, and the version this process runs")
    async def health() -> dict[str, str]:  # async: no threadpool hop for a constant answer
        """``{"status": "ok", "version": ...}`` while the process serves requests (the package version:
        the same as ``hal9 version`` and the image tag's first part)."""
        return health_body

    @router.get("/ready", summary="readiness: database, queue workers and Redis")
    def ready(services: ServicesDep) -> Response:
        """200 when every check passes, else 503; the body names each check.

        ``database``: reachable and migrated to head (or to a revision of a newer release). ``queue``:
        with queue execution, workers seen within ``HAL9_READY_WORKER_WINDOW_S`` (a failed check only
        when ``HAL9_READY_REQUIRES_WORKERS``); in-process, the job threads of this process. ``redis``:
        when ``REDIS_URL`` is set.
        """
        checks: dict[str, dict[str, object]] = {}
        s = services.settings
        try:
            with services.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            revision = current_revision(services.engine)
        except Exception as exc:
            _log.warning("database not reachable", extra={"exc_type": type(exc).__name__})
            checks["database"] = {"ok": False, "error": "not reachable"}
            revision = None
        else:
            head = head_revision()
            # A revision this version does not know is a newer release's migration (they are additive):
            # during a rolling update the old pods keep serving while the new ones start, instead of all
            # leaving the Service the moment the migration Job commits. Behind head is not ready.
            ahead = revision is not None and revision != head and not is_known_revision(revision)
            checks["database"] = {
                "ok": revision == head or ahead,
                "migration": revision,
                "expected": head,
                **({"note": "database ahead of this version (a newer release migrated it)"} if ahead else {}),
            }
        if s.uses_queue:
            try:
                with services.engine.connect() as conn:
                    workers = workers_seen(conn, s.ready_worker_window_s)
                checks["queue"] = {
                    "ok": workers > 0 or not s.ready_requires_workers,
                    "execution": "queue",
                    "workers": workers,
                    "window_s": s.ready_worker_window_s,
                }
            except Exception as exc:
                checks["queue"] = {"ok": False, "execution": "queue", "error": type(exc).__name__}
        else:
            runner = services.runner
            checks["queue"] = {
                "ok": runner is not None,
                "execution": "inprocess",
                "threads": s.job_workers,
                "pending": runner.pending if runner is not None else 0,
            }
        if s.redis_url:
            checks["redis"] = {"ok": services.limiter.ping()}
        ok = all(bool(c["ok"]) for c in checks.values())
        body = {"status": "ready" if ok else "not ready", "migration": revision, "checks": checks}
        if ok:
            return JSONResponse(body)
        return JSONResponse(
            {
                "type": "about:blank",
                "title": "Service Unavailable",
                "status": 503,
                "detail": "; ".join(f"{name} check failed" for name, c in checks.items() if not c["ok"]),
                **body,
            },
            status_code=503,
            media_type="application/problem+json",
            headers={"Retry-After": "5"},
        )

    def _metrics(services: Services) -> Response:
        body, content_type = services.metrics.exposition()
        return Response(body, media_type=content_type)

    if metrics_access == "open":

        @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
        def metrics_open(services: ServicesDep) -> Response:
            return _metrics(services)

    elif metrics_access == "token":

        @router.get("/metrics", summary="Prometheus metrics (credentials required)")
        def metrics_token(principal: AnyPrincipal, services: ServicesDep) -> Response:
            """Text exposition format; any valid access token or API key."""
            return _metrics(services)

    return router
