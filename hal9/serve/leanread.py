"""The lean PostgreSQL read path: a ``psycopg_pool.ConnectionPool`` and prepared statements.

The authenticated read path (API-key lookup, run list, one run) is the hot path of the service. On
PostgreSQL these three statements skip SQLAlchemy: each is a fixed, parameterised SQL string executed
with ``prepare=True`` on an autocommit connection of a small psycopg pool, and rows are turned into
dicts by hand. Everything else (writes, SQLite, migrations) stays on the SQLAlchemy Core engine.

The pool is psycopg's asyncio pool: the reads are awaited on the event loop, with no thread hand-off
per request (a threadpool call costs two, plus GIL contention with the loop), and the loop keeps
serving other requests while a query is in flight. See "Data path" in ``docs/serving.md``;
``HAL9_DB_LEAN_READS=false`` turns this off.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import psycopg
from psycopg_pool import AsyncConnectionPool

__all__ = ["KeyRow", "LeanReader", "lean_conninfo"]

# Columns of a run in the list (no result) and in the detail view (with it); same order as the SQL.
LIST_FIELDS = (
    "id",
    "kind",
    "status",
    "config",
    "mlflow_run_id",
    "error",
    "created_at",
    "started_at",
    "finished_at",
    "attempts",
    "retries",
    "cancel_requested",
)
DETAIL_FIELDS = (*LIST_FIELDS, "result")
_TIME_FIELDS = {"created_at", "started_at", "finished_at"}
_COLS = ", ".join(LIST_FIELDS)

_KEY_SQL = (
    "SELECT k.id, k.key_hash, k.scopes, k.expires_at, k.revoked_at, "
    "u.id, u.username, u.is_admin, u.is_active "
    "FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.prefix = %s"
)
# bandit B608: the f-strings below interpolate only _COLS (the constant LIST_FIELDS); every value is a
# bound parameter (%s), never text pasted into the SQL.
_GET_SQL = f"SELECT {_COLS}, result FROM runs WHERE id = %s AND owner_id = %s"  # nosec B608
_ORDER = " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s"
# One fixed statement per filter combination, so each is prepared once per connection.
_LIST_SQL = {
    (False, False): f"SELECT {_COLS} FROM runs WHERE owner_id = %s" + _ORDER,  # nosec B608
    (True, False): f"SELECT {_COLS} FROM runs WHERE owner_id = %s AND kind = %s" + _ORDER,  # nosec B608
    (False, True): f"SELECT {_COLS} FROM runs WHERE owner_id = %s AND status = %s" + _ORDER,  # nosec B608
    (True, True): f"SELECT {_COLS} FROM runs WHERE owner_id = %s AND kind = %s AND status = %s" + _ORDER,  # nosec B608
}


class KeyRow(NamedTuple):
    """An API key joined with its user (the attributes of the SQLAlchemy row of the Core path)."""

    id: int
    key_hash: str
    scopes: str
    expires_at: datetime | None
    revoked_at: datetime | None
    user_id: int
    username: str
    is_admin: bool
    is_active: bool


def _utc(value: datetime | None) -> datetime | None:
    # Timestamps are stored as naive UTC (``UTCDateTime``); read back timezone-aware.
    return None if value is None else value.replace(tzinfo=UTC)


def _as_dict(fields: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(fields, row, strict=True))
    for name in _TIME_FIELDS:
        out[name] = _utc(out[name])
    return out


def lean_conninfo(url: str) -> str:
    """A libpq URL for psycopg from a SQLAlchemy URL (``postgresql+psycopg://`` → ``postgresql://``)."""
    for scheme in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql://" + url[len(scheme) :]
    return url


class LeanReader:
    """The three hot reads on a psycopg connection pool (PostgreSQL only).

    Parameters
    ----------
    url : str
        ``postgresql://`` URL (a SQLAlchemy ``postgresql+psycopg://`` one is accepted).
    size : int
        Connections kept open per process: the most queries one process has in flight at once.
    statement_timeout_ms : int
        Server-side limit of each statement.
    """

    def __init__(self, url: str, *, size: int = 8, statement_timeout_ms: int = 5000) -> None:
        self._size = size
        self.pool = AsyncConnectionPool(
            lean_conninfo(url),
            min_size=size,
            max_size=size,
            kwargs={
                "autocommit": True,
                "options": f"-c statement_timeout={statement_timeout_ms}",
                "application_name": "hal9-api-lean",
            },
            timeout=5.0,
            open=False,
            name="hal9-lean-read",
        )

    async def open(self) -> None:
        """Open the pool (without waiting for its connections: the first reads do)."""
        await self.pool.open(wait=False)

    async def close(self) -> None:
        """Close every connection."""
        await self.pool.close()

    async def _query(self, sql: str, params: Sequence[Any], *, many: bool) -> Any:
        """Run one prepared statement; retry on another connection when the one taken was dead.

        A database restart or ``pg_terminate_backend`` kills every pooled connection. Instead of a
        ``SELECT 1`` before each use (a round trip on the hot path), a statement that fails because
        its connection is *broken* is retried on the next one; the pool drops broken connections,
        so at most ``size + 1`` tries reach a fresh one. Statement errors (a timeout, a bad value) on
        a live connection are raised at once.
        """
        for attempt in range(self._size + 1):
            conn_ref = None
            try:
                async with self.pool.connection() as conn:
                    conn_ref = conn
                    cur = await conn.execute(sql, params, prepare=True)
                    return await (cur.fetchall() if many else cur.fetchone())
            except psycopg.OperationalError:
                if conn_ref is None or not conn_ref.broken or attempt == self._size:
                    raise
        raise AssertionError("unreachable")

    async def key(self, prefix: str) -> KeyRow | None:
        """The API key of ``prefix`` with its owner, or ``None``; one indexed, prepared query."""
        row = await self._query(_KEY_SQL, (prefix,), many=False)
        if row is None:
            return None
        (kid, key_hash, scopes, expires_at, revoked_at, uid, username, is_admin, is_active) = row
        return KeyRow(
            kid, key_hash, scopes, _utc(expires_at), _utc(revoked_at), uid, username, is_admin, is_active
        )

    async def list_runs(
        self, owner_id: int, kind: str | None, status: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """Runs of ``owner_id`` (optionally of one kind / status), newest first, without results."""
        params: list[Any] = [owner_id]
        if kind is not None:
            params.append(kind)
        if status is not None:
            params.append(status)
        params += [limit, offset]
        sql = _LIST_SQL[(kind is not None, status is not None)]
        rows = await self._query(sql, params, many=True)
        return [_as_dict(LIST_FIELDS, r) for r in rows]

    async def get_run(self, run_id: str, owner_id: int) -> dict[str, Any] | None:
        """Run ``run_id`` with its result if ``owner_id`` owns it, else ``None``."""
        row = await self._query(_GET_SQL, (run_id, owner_id), many=False)
        return None if row is None else _as_dict(DETAIL_FIELDS, row)
