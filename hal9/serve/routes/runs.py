"""``/api/v1/runs``: submit a job of any registered kind, list your runs, fetch one with its result.

One ``POST /api/v1/runs/{kind}`` route is generated per :class:`~hal9.serve.jobs.JobKind`, with the
kind's config schema as its body, so a new kind needs no route code. Runs are visible to their owner
only: another user's run id answers 404.
"""

# No ``from __future__ import annotations`` here: the generated routes annotate their body with a
# model built at runtime, which FastAPI must see as a real class.

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy import Engine, insert, select
from starlette.concurrency import run_in_threadpool

from hal9.serve.db import runs, utcnow
from hal9.serve.deps import ReadPrincipal, RunPrincipal, ServicesDep, audit, client_ip, rate_limit
from hal9.serve.jobs import JobKind, JobRegistry
from hal9.serve.logging import current_request_id
from hal9.serve.schemas import JobKindOut, RunDetail, RunOut
from hal9.serve.settings import JobLimits

__all__ = ["build_router"]

RunId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="run id (32 hex digits)")]
_LIST_COLUMNS = (
    runs.c.id,
    runs.c.kind,
    runs.c.status,
    runs.c.config,
    runs.c.mlflow_run_id,
    runs.c.error,
    runs.c.created_at,
    runs.c.started_at,
    runs.c.finished_at,
)


def _core_list(
    reader: Engine, owner_id: int, kind: str | None, status: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    query = select(*_LIST_COLUMNS).where(runs.c.owner_id == owner_id)
    if kind is not None:
        query = query.where(runs.c.kind == kind)
    if status is not None:
        query = query.where(runs.c.status == status)
    query = query.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit).offset(offset)
    with reader.connect() as conn:
        return [dict(r._asdict()) for r in conn.execute(query)]


def _core_get(reader: Engine, run_id: str, owner_id: int) -> dict[str, Any] | None:
    query = select(*_LIST_COLUMNS, runs.c.result).where(runs.c.id == run_id, runs.c.owner_id == owner_id)
    with reader.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else dict(row._asdict())


def _submit_endpoint(kind: JobKind, model: type[BaseModel]) -> Callable[..., RunOut]:
    def submit(
        body: model,  # type: ignore[valid-type]
        request: Request,
        principal: RunPrincipal,
        services: ServicesDep,
    ) -> RunOut:
        s = services.settings
        rate_limit(
            services, f"jobs:{principal.user_id}", s.job_rate_per_principal, s.job_rate_window_s, "jobs"
        )
        if not services.runner.reserve():
            raise HTTPException(
                503, "job queue is full; retry later", headers={"Retry-After": str(s.job_retry_after_s)}
            )
        run_id = uuid.uuid4().hex
        config: BaseModel = body
        values: dict[str, Any] = {
            "id": run_id,
            "owner_id": principal.user_id,
            "kind": kind.name,
            "config": config.model_dump(mode="json"),
            "status": "queued",
            "request_id": current_request_id(),
            "created_at": utcnow(),
        }
        try:
            with services.engine.begin() as conn:
                conn.execute(insert(runs).values(**values))
                audit(conn, "run_submitted", user_id=principal.user_id, ip=client_ip(request), run_id=run_id)
        except BaseException:
            services.runner.release()
            raise
        services.runner.submit(run_id, kind, config, principal.user_id)
        return RunOut(
            **{**values, "mlflow_run_id": None, "error": None, "started_at": None, "finished_at": None}
        )

    submit.__name__ = f"submit_{kind.name.replace('-', '_')}"
    submit.__doc__ = f"Submit a **{kind.name}** job: {kind.summary}. Poll `GET /api/v1/runs/{{id}}`."
    return submit


def build_router(registry: JobRegistry, limits: JobLimits) -> APIRouter:
    """The runs router, with one submit route per kind of ``registry`` (schemas bounded by ``limits``)."""
    router = APIRouter(prefix="/api/v1", tags=["runs"])
    schemas = {kind.name: kind.schema(limits) for kind in registry}

    @router.get(
        "/job-kinds", response_model=list[JobKindOut], summary="the job kinds and their config schemas"
    )
    def job_kinds(principal: ReadPrincipal) -> list[JobKindOut]:
        """Every kind this server runs, with the JSON schema of its config (bounds included)."""
        return [
            JobKindOut(name=k.name, summary=k.summary, config_schema=schemas[k.name].model_json_schema())
            for k in registry
        ]

    for kind in registry:
        router.add_api_route(
            f"/runs/{kind.name}",
            _submit_endpoint(kind, schemas[kind.name]),
            methods=["POST"],
            status_code=202,
            response_model=RunOut,
            summary=f"submit a {kind.name} job",
        )

    # The two reads are ``async``: on PostgreSQL they await the lean path's prepared statements on
    # the event loop (no thread hand-off); otherwise (SQLite, ``HAL9_DB_LEAN_READS=false``) the Core
    # query goes to the threadpool, one hop as for a plain ``def`` route.
    @router.get("/runs", response_model=list[RunOut], summary="list your runs")
    async def list_runs(
        principal: ReadPrincipal,
        services: ServicesDep,
        kind: Annotated[str | None, Query(pattern=r"^[a-z0-9-]{1,32}$")] = None,
        status: Literal["queued", "running", "succeeded", "failed"] | None = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> list[dict[str, Any]]:
        """Your runs, newest first, without their results."""
        lean = services.lean
        if lean is not None:
            return await lean.list_runs(principal.user_id, kind, status, limit, offset)
        return await run_in_threadpool(
            _core_list, services.reader, principal.user_id, kind, status, limit, offset
        )

    @router.get("/runs/{run_id}", response_model=RunDetail, summary="one of your runs, with its result")
    async def get_run(
        run_id: RunId,
        principal: ReadPrincipal,
        services: ServicesDep,
    ) -> dict[str, Any]:
        """Status, result summary and MLflow run id; 404 if the run is not yours."""
        lean = services.lean
        if lean is not None:
            row = await lean.get_run(run_id, principal.user_id)
        else:
            row = await run_in_threadpool(_core_get, services.reader, run_id, principal.user_id)
        if row is None:
            raise HTTPException(404, "no such run")
        return row

    return router
