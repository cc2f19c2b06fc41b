"""Shared state of an app (:class:`Services`) and the authentication dependencies of the routes.

Credentials: ``Authorization: Bearer <access JWT>``, ``Authorization: Bearer hal9_…`` (an API key) or
``X-API-Key: hal9_…``. Access tokens are verified without a database query (they live 15 minutes);
an API key costs one indexed query by its public prefix and a constant-time HMAC comparison.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, insert, select
from starlette.concurrency import run_in_threadpool

from hal9.serve.db import api_keys, audit_log, users, utcnow
from hal9.serve.inprocess import InProcessRunner
from hal9.serve.jobs import JobRegistry
from hal9.serve.leanread import LeanReader
from hal9.serve.logging import current_request_id
from hal9.serve.metrics import ServeMetrics
from hal9.serve.ratelimit import RateLimiter, RateLimiterUnavailable
from hal9.serve.security import (
    API_KEY_PREFIX,
    Passwords,
    Principal,
    TokenError,
    decode_access_token,
    keyed_hash,
    split_api_key,
)
from hal9.serve.settings import Settings

__all__ = [
    "AdminPrincipal",
    "AnyPrincipal",
    "KeyCache",
    "ReadPrincipal",
    "RunPrincipal",
    "Services",
    "ServicesDep",
    "audit",
    "client_ip",
    "get_principal",
    "get_services",
    "rate_limit",
    "require_scope",
]

_log = logging.getLogger("hal9.serve")
_LEEWAY_S = 5
_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="hal9"'}


@dataclass
class Services:
    """Everything the routes of one app share (stored on ``app.state.services``)."""

    settings: Settings
    engine: Engine
    passwords: Passwords
    limiter: RateLimiter
    metrics: ServeMetrics
    registry: JobRegistry
    #: in-process execution (SQLite default); ``None`` when jobs go through the queue to `hal9 worker`
    runner: InProcessRunner | None
    key_cache: KeyCache
    #: ``engine`` in autocommit mode, for single reads: one round trip per query (no BEGIN/ROLLBACK).
    reader: Engine
    #: The lean PostgreSQL read path (psycopg pool, prepared statements) while the app runs; ``None`` on
    #: SQLite, with ``HAL9_DB_LEAN_READS=false``, or outside the app's lifespan.
    lean: LeanReader | None = None
    #: Access tokens verified by this process (see ``_from_jwt``).
    verified_tokens: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)


class KeyCache:
    """API-key rows cached for ``ttl_s`` seconds per process (0: off), saving a query per request.

    A key revoked through this process is dropped at once (:meth:`forget`). Other processes drop it
    when the revocation's ``NOTIFY`` reaches them (PostgreSQL, :mod:`hal9.serve.keywatch`); a cache
    created with ``enabled=False`` stays off until its watcher listens, and goes off again (emptied)
    whenever the watcher loses its connection. Expiry is checked on every use.
    """

    def __init__(self, ttl_s: float, max_entries: int = 10_000, *, enabled: bool = True) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._rows: dict[str, tuple[float, Any]] = {}
        self._enabled = enabled

    @property
    def ttl_s(self) -> float:
        """Seconds an entry lives."""
        return self._ttl

    @property
    def enabled(self) -> bool:
        """Whether entries are stored and served."""
        return self._enabled and self._ttl > 0

    def enable(self) -> None:
        """Start caching (the watcher listens)."""
        self._enabled = True

    def disable(self) -> None:
        """Stop caching and forget everything (the watcher stopped listening)."""
        self._enabled = False
        self._rows.clear()

    def get(self, prefix: str) -> Any:
        """The cached row of ``prefix``, or ``None`` when absent, stale or the cache is off."""
        if not self._enabled:
            return None
        hit = self._rows.get(prefix)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, prefix: str, row: Any) -> None:
        """Cache ``row`` (no-op when the TTL is 0 or the cache is off)."""
        if self._ttl <= 0 or not self._enabled:
            return
        if len(self._rows) >= self._max:
            self._rows.clear()
        self._rows[prefix] = (time.monotonic() + self._ttl, row)

    def forget(self, prefix: str) -> None:
        """Drop the entry of ``prefix`` (a revocation)."""
        self._rows.pop(prefix, None)

    def clear(self) -> None:
        """Forget every cached key."""
        self._rows.clear()


async def get_services(request: Request) -> Services:
    """The :class:`Services` of the app handling ``request``."""
    services: Services = request.app.state.services
    return services


def client_ip(request: Request) -> str:
    """The peer address (put a proxy's ``--forwarded-allow-ips`` in uvicorn to trust X-Forwarded-For)."""
    return request.client.host if request.client is not None else "unknown"


def audit(conn: Any, event: str, *, user_id: int | None, ip: str | None, **detail: Any) -> None:
    """Append one row to ``audit_log`` inside the caller's transaction."""
    conn.execute(
        insert(audit_log).values(
            at=utcnow(),
            user_id=user_id,
            event=event,
            ip=ip,
            request_id=current_request_id(),
            detail=detail or None,
        )
    )


def rate_limit(services: Services, key: str, limit: int, window_s: int, name: str) -> None:
    """Count one call of ``key``; raise 429 (with ``Retry-After``) beyond ``limit`` per ``window_s``."""
    try:
        retry = services.limiter.hit(key, limit, window_s)
    except RateLimiterUnavailable as exc:
        _log.error("rate limiter unavailable", extra={"exc_type": str(exc)})
        raise HTTPException(503, "rate limiter unavailable", headers={"Retry-After": "5"}) from exc
    if retry is not None:
        services.metrics.rate_limited.labels(name).inc()
        raise HTTPException(429, "rate limit exceeded", headers={"Retry-After": str(int(retry))})


def _fail(services: Services, reason: str) -> HTTPException:
    services.metrics.auth_failures.labels(reason).inc()
    return HTTPException(401, "missing or invalid credentials", headers=_UNAUTHORIZED_HEADERS)


def _lookup_key(services: Services, prefix: str) -> Any:
    """The key row (joined with its user) of ``prefix``, or ``None``; one indexed query."""
    query = (
        select(
            api_keys.c.id,
            api_keys.c.key_hash,
            api_keys.c.scopes,
            api_keys.c.expires_at,
            api_keys.c.revoked_at,
            users.c.id.label("user_id"),
            users.c.username,
            users.c.is_admin,
            users.c.is_active,
        )
        .join(users, users.c.id == api_keys.c.user_id)
        .where(api_keys.c.prefix == prefix)
    )
    with services.reader.connect() as conn:
        return conn.execute(query).first()


async def _from_api_key(services: Services, key: str) -> Principal:
    prefix = split_api_key(key)
    if prefix is None:
        raise _fail(services, "malformed_api_key")
    row = services.key_cache.get(prefix)
    if row is None:
        lean = services.lean
        # The lean read is awaited on the event loop; the Core path runs in the threadpool.
        if lean is not None:
            row = await lean.key(prefix)
        else:
            row = await run_in_threadpool(_lookup_key, services, prefix)
        if row is not None:
            services.key_cache.put(prefix, row)
    digest = keyed_hash(services.settings.secret_bytes, key)
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        raise _fail(services, "unknown_api_key")
    if row.revoked_at is not None or not row.is_active:
        raise _fail(services, "revoked_api_key")
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise _fail(services, "expired_api_key")
    scopes = frozenset(row.scopes.split())
    if not row.is_admin:
        scopes -= {"admin"}
    return Principal(row.user_id, row.username, bool(row.is_admin), scopes, "api_key", row.id)


_VERIFIED_MAX = 10_000


def _from_jwt(services: Services, token: str) -> Principal:
    # ``services.verified_tokens``: token → (expiry, claims). A hit is the very string whose signature
    # and claims were checked; only its expiry is checked again. Saves PyJWT's HMAC and JSON work
    # (0.1–0.25 ms measured) on every request of a client that reuses its access token.
    verified = services.verified_tokens
    hit = verified.get(token)
    if hit is not None and hit[0] > time.time():
        claims = hit[1]
    else:
        try:
            claims = decode_access_token(services.settings, token, leeway_s=_LEEWAY_S)
        except TokenError as exc:
            verified.pop(token, None)
            raise _fail(services, "invalid_token") from exc
        if len(verified) >= _VERIFIED_MAX:
            verified.clear()
        verified[token] = (float(claims["exp"]) + _LEEWAY_S, claims)
    is_admin = claims.get("adm") is True
    scopes = frozenset({"read", "run", "admin"} if is_admin else {"read", "run"})
    return Principal(int(claims["sub"]), str(claims.get("name", "")), is_admin, scopes, "jwt")


_bearer = HTTPBearer(auto_error=False, description="an access token from /api/v1/auth/login, or an API key")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key (hal9_…)")


async def get_principal(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_api_key)],
) -> Principal:
    """Authenticate the request (401 problem without valid credentials)."""
    if api_key is not None:
        principal = await _from_api_key(services, api_key)
    elif bearer is not None and bearer.credentials:
        token = bearer.credentials.strip()
        if token.startswith(API_KEY_PREFIX + "_"):
            principal = await _from_api_key(services, token)
        else:
            principal = _from_jwt(services, token)
    else:
        raise _fail(services, "missing" if "authorization" not in request.headers else "bad_scheme")
    request.state.principal = principal.label
    return principal


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the authenticated principal, which must hold ``scope`` (else 403)."""

    async def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if scope not in principal.scopes:
            raise HTTPException(403, f"this credential lacks the {scope!r} scope")
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency


ServicesDep = Annotated[Services, Depends(get_services)]
#: The authenticated caller, whatever its scopes.
AnyPrincipal = Annotated[Principal, Depends(get_principal)]
#: The authenticated caller, holding the ``read`` / ``run`` / ``admin`` scope.
ReadPrincipal = Annotated[Principal, Depends(require_scope("read"))]
RunPrincipal = Annotated[Principal, Depends(require_scope("run"))]
AdminPrincipal = Annotated[Principal, Depends(require_scope("admin"))]
