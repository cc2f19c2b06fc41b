"""``/api/v1/runs``: submit a job of any registered kind, list your runs, fetch one with its result.

One ``POST /api/v1/runs/{kind}`` route is generated per :class:`~hal9.serve.jobs.JobKind`, with the
kind's config schema as its body, so a new kind needs no route code. Runs are visible to their owner
only: another user's run id answers 404.
"""

# No ``from __future__ import annotations`` here: the generated routes annotate their body with a
# model built at runtime, which FastAPI must see as a real class.

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import Connection, Engine, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from hal9.serve.db import FINAL_STATUSES, RunStatus, runs, utcnow
from hal9.serve.deps import ReadPrincipal, RunPrincipal, Services, ServicesDep, audit, client_ip, rate_limit
from hal9.serve.jobs import JobKind, JobRegistry
from hal9.serve.logging import current_request_id
from hal9.serve.problems import documented_problem
from hal9.serve.schemas import JobKindOut, RunDetail, RunOut
from hal9.serve.settings import JobLimits

__all__ = ["build_router"]

RunId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="run id (32 hex digits)")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="optional; a retried submission with the same key returns the original run",
    ),
]
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
    runs.c.attempts,
    runs.c.retries,
    runs.c.cancel_requested,
)
# Key space of the per-user advisory lock that makes the per-user limit exact on PostgreSQL.
_USER_LOCK = 0x6839


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


def _by_key(conn: Connection, owner_id: int, key: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(*_LIST_COLUMNS).where(runs.c.owner_id == owner_id, runs.c.idempotency_key == key)
    ).first()
    return None if row is None else dict(row._asdict())


def _replay(
    existing: dict[str, Any], kind: str, config: dict[str, Any], response: Response
) -> dict[str, Any]:
    """The original run of an ``Idempotency-Key``; 422 if the key came with another request."""
    if existing["kind"] != kind or existing["config"] != config:
        raise HTTPException(422, "Idempotency-Key was already used with a different request")
    response.status_code = 200
    response.headers["Idempotent-Replayed"] = "true"
    return existing


def _admit(conn: Connection, services: Services, owner_id: int) -> None:
    """Per-user and (queue execution) global limits, inside the submission's transaction."""
    s = services.settings
    if conn.dialect.name == "postgresql":
        # Serialise this user's submissions so the count below is exact.
        conn.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": _USER_LOCK, "b": owner_id})
    active = conn.execute(
        select(func.count())
        .select_from(runs)
        .where(runs.c.owner_id == owner_id, runs.c.status.in_(("queued", "running")))
    ).scalar_one()
    if active >= s.job_user_limit:
        services.metrics.rate_limited.labels("jobs_per_user").inc()
        raise HTTPException(
            429,
            f"you have {active} queued or running jobs (limit {s.job_user_limit}); retry when some finish",
            headers={"Retry-After": str(s.job_retry_after_s)},
        )
    if s.uses_queue:
        queued = conn.execute(
            select(func.count()).select_from(runs).where(runs.c.status == "queued")
        ).scalar_one()
        if queued >= s.queue_limit:
            raise HTTPException(
                503, "job queue is full; retry later", headers={"Retry-After": str(s.job_retry_after_s)}
            )


def _submit_endpoint(kind: JobKind, model: type[BaseModel]) -> Callable[..., dict[str, Any]]:
    def submit(
        body: model,  # type: ignore[valid-type]
        request: Request,
        response: Response,
        principal: RunPrincipal,
        services: ServicesDep,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        s = services.settings
        model_body: BaseModel = body
        config: dict[str, Any] = model_body.model_dump(mode="json")
        if idempotency_key is not None:
            with services.engine.connect() as conn:
                existing = _by_key(conn, principal.user_id, idempotency_key)
            if existing is not None:
                return _replay(existing, kind.name, config, response)
        rate_limit(
            services, f"jobs:{principal.user_id}", s.job_rate_per_principal, s.job_rate_window_s, "jobs"
        )
        runner = services.runner
        if runner is not None and not runner.reserve():
            raise HTTPException(
                503, "job queue is full; retry later", headers={"Retry-After": str(s.job_retry_after_s)}
            )
        run_id = uuid.uuid4().hex
        values: dict[str, Any] = {
            "id": run_id,
            "owner_id": principal.user_id,
            "kind": kind.name,
            "config": config,
            "status": "queued",
            "request_id": current_request_id(),
            "created_at": utcnow(),
            "idempotency_key": idempotency_key,
        }
        if runner is not None:
            values |= {"worker": runner.identity, "lease_until": runner.lease_until()}
        try:
            with services.engine.begin() as conn:
                _admit(conn, services, principal.user_id)
                if runner is None:
                    from hal9.serve.queue import defer_run

                    # The queue entry and the run row commit together (same connection, same transaction).
                    values["queue_job_id"] = defer_run(conn, run_id)
                conn.execute(insert(runs).values(**values))
                audit(conn, "run_submitted", user_id=principal.user_id, ip=client_ip(request), run_id=run_id)
        except IntegrityError:
            if runner is not None:
                runner.release()
            if idempotency_key is None:
                raise
            with services.engine.connect() as conn:  # a concurrent submission with the same key won
                existing = _by_key(conn, principal.user_id, idempotency_key)
            if existing is None:
                raise
            return _replay(existing, kind.name, config, response)
        except BaseException:
            if runner is not None:
                runner.release()
            raise
        if runner is not None:
            runner.submit(run_id)
        return {
            **values,
            "mlflow_run_id": None,
            "error": None,
            "started_at": None,
            "finished_at": None,
            "attempts": 0,
            "retries": 0,
            "cancel_requested": False,
        }

    submit.__name__ = f"submit_{kind.name.replace('-', '_')}"
    submit.__doc__ = (
        f"Submit a **{kind.name}** job: {kind.summary}. Poll `GET /api/v1/runs/{{id}}`. "
        "With an `Idempotency-Key` header, a repeated submission returns the original run (200, header "
        "`Idempotent-Replayed: true`) instead of a new one. 429: too many of your jobs queued or running, "
        "or too many submissions per window; 503: the queue is full (both with `Retry-After`)."
    )
    return submit


def _cancel(services: Services, run_id: str, user_id: int, is_admin: bool, ip: str) -> dict[str, Any]:
    with services.engine.begin() as conn:
        query = select(runs.c.status, runs.c.queue_job_id, runs.c.owner_id).where(runs.c.id == run_id)
        if not is_admin:
            query = query.where(runs.c.owner_id == user_id)
        row = conn.execute(query.with_for_update()).first()
        if row is None:
            raise HTTPException(404, "no such run")
        if row.status in FINAL_STATUSES:
            raise HTTPException(409, f"run already ended ({row.status})")
        values: dict[str, Any] = {"cancel_requested": True}
        if row.status == "queued":
            values |= {"status": "cancelled", "error": "cancelled by request", "finished_at": utcnow()}
            if row.queue_job_id is not None:
                from hal9.serve.queue import cancel_queued_job

                cancel_queued_job(conn, int(row.queue_job_id))
        conn.execute(update(runs).where(runs.c.id == run_id).values(**values))
        audit(conn, "run_cancel_requested", user_id=user_id, ip=ip, run_id=run_id, status=row.status)
        out = conn.execute(select(*_LIST_COLUMNS, runs.c.result).where(runs.c.id == run_id)).one()
    if services.runner is not None:
        services.runner.cancel(run_id)
    return dict(out._asdict())


def build_router(registry: JobRegistry, limits: JobLimits) -> APIRouter:
    """The runs router, with one submit route per kind of ``registry`` (schemas bounded by ``limits``)."""
    router = APIRouter(prefix="/api/v1", tags=["runs"])
    schemas = {kind.name: kind.schema(limits) for kind in registry}

    # The two reads come first (routes are matched in order) and are ``async``: on PostgreSQL they
    # await the lean path's prepared statements on the event loop (no thread hand-off); otherwise
    # (SQLite, ``HAL9_DB_LEAN_READS=false``) the Core query goes to the threadpool, one hop as for a
    # plain ``def`` route.
    @router.get("/runs", response_model=list[RunOut], summary="list your runs")
    async def list_runs(
        principal: ReadPrincipal,
        services: ServicesDep,
        kind: Annotated[str | None, Query(pattern=r"^[a-z0-9-]{1,32}$")] = None,
        status: RunStatus | None = None,
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

    @router.post(
        "/runs/{run_id}/cancel",
        response_model=RunDetail,
        status_code=202,
        summary="cancel a queued or running run",
        responses={409: documented_problem("the run already ended")},
    )
    def cancel_run(
        run_id: RunId, request: Request, principal: RunPrincipal, services: ServicesDep
    ) -> dict[str, Any]:
        """A queued run ends `cancelled` at once and never starts; a running one stops at its next step
        boundary and then ends `cancelled`. The owner or an admin may cancel; others get 404."""
        return _cancel(services, run_id, principal.user_id, "admin" in principal.scopes, client_ip(request))

    return router
