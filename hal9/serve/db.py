"""Tables (SQLAlchemy 2 Core) and the pooled, synchronous engine of the service.

The read path is plain Core: one pooled connection per request, parameterised statements, no ORM
session (see "Data path" in ``docs/serving.md``). Every write runs in ``with engine.begin()``, so a
failed request or job leaves nothing half-written. The schema is created by the Alembic migrations in
``hal9/serve/migrations`` (kept identical to these tables by ``tests/serve/test_migrations.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "RUN_STATUSES",
    "RunStatus",
    "UTCDateTime",
    "api_keys",
    "audit_log",
    "make_engine",
    "metadata",
    "normalize_url",
    "refresh_tokens",
    "runs",
    "users",
    "utcnow",
]

#: The states of a run (declared once: the API schema, the list filter and the queries use it).
RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
#: A run in one of these is accepted work that has not ended.
ACTIVE_STATUSES = ("queued", "running")
FINAL_STATUSES = ("succeeded", "failed", "cancelled")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC (same on SQLite and PostgreSQL) and read back timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False),
    Column("scopes", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("family_id", String(32), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("config", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("result", JSON, nullable=True),
    Column("mlflow_run_id", String(64), nullable=True),
    Column("error", Text, nullable=True),
    Column("request_id", String(64), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    # Durable execution (migration 0002). ``attempts``: executions started; ``retries``: times the run
    # went back to the queue (its worker was lost, or handed it back at shut-down).
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("retries", Integer, nullable=False, server_default="0"),
    #: times the worker running the run was lost (heartbeat stale); ``HAL9_JOB_MAX_ATTEMPTS`` bounds it
    Column("stalls", Integer, nullable=False, server_default="0"),
    Column("cancel_requested", Boolean, nullable=False, server_default="0"),
    Column("idempotency_key", String(128), nullable=True),
    #: the procrastinate job of the run (PostgreSQL queue), ``None`` for in-process execution
    Column("queue_job_id", BigInteger, nullable=True),
    #: who runs (or last ran) the run: ``host:pid`` of a worker or of an in-process runner
    Column("worker", String(128), nullable=True),
    #: in-process execution only: the runner that holds the run must renew this lease
    Column("lease_until", UTCDateTime, nullable=True),
    Index("ix_runs_owner_created", "owner_id", "created_at"),
    Index("ix_runs_owner_status", "owner_id", "status"),
    Index("ix_runs_status_created", "status", "created_at"),
    Index("uq_runs_owner_idempotency", "owner_id", "idempotency_key", unique=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("user_id", Integer, nullable=True, index=True),
    Column("event", String(32), nullable=False),
    Column("ip", String(64), nullable=True),
    Column("request_id", String(64), nullable=True),
    Column("detail", JSON, nullable=True),
)


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs: ``postgres://`` and ``postgresql://`` → ``postgresql+psycopg://``."""
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 10, application_name: str = "hal9"
) -> Engine:
    """A pooled synchronous engine for ``url`` (SQLite file or PostgreSQL via psycopg 3).

    Parameters
    ----------
    url : str
        SQLAlchemy URL. ``sqlite:///path.db`` gets WAL mode, foreign keys and a 30 s busy timeout.
    pool_size, max_overflow : int
        Connection pool of PostgreSQL (per process).
    application_name : str
        PostgreSQL ``application_name`` of the connections (``pg_stat_activity`` shows which pool
        holds which connection: ``hal9-api``, ``hal9-api-lean``, ``hal9-worker``, ``hal9-worker-queue``).

    Notes
    -----
    PostgreSQL connections are checked before each use (``pool_pre_ping``: one ``SELECT 1`` round trip
    per checkout), so connections that a database restart or ``pg_terminate_backend`` killed are
    replaced instead of failing the next request.
    """
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        pool_pre_ping=True,
        connect_args={"application_name": application_name},
    )
