"""``/health`` (liveness), ``/ready`` (database reachable and migrated) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from hal9.serve.deps import AnyPrincipal, Services, ServicesDep
from hal9.serve.migrate import current_revision, head_revision
from hal9.serve.problems import problem_response

__all__ = ["build_router"]

_log = logging.getLogger("hal9.serve")


def build_router(metrics_access: str) -> APIRouter:
    """System routes; ``/metrics`` is open, behind credentials (``"token"``) or absent (``"off"``)."""
    router = APIRouter(tags=["system"])

    @router.get("/health", summary="liveness")
    async def health() -> dict[str, str]:  # async: no threadpool hop for a constant answer
        """Always ``{"status": "ok"}`` while the process serves requests."""
        return {"status": "ok"}

    @router.get("/ready", summary="readiness: database reachable and migrated to head")
    def ready(services: ServicesDep) -> Response:
        """200 when the database answers and is at the newest migration, else 503."""
        try:
            with services.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            revision = current_revision(services.engine)
        except Exception as exc:
            _log.warning("database not reachable", extra={"exc_type": type(exc).__name__})
            return problem_response(503, "database not reachable", headers={"Retry-After": "5"})
        head = head_revision()
        if revision != head:
            return problem_response(503, f"database at migration {revision}, expected {head}")
        return JSONResponse({"status": "ready", "migration": revision})

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
