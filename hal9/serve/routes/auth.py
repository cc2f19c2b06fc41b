"""``/api/v1/auth``: login, refresh (rotating, with reuse detection), logout, and who am I."""

from __future__ import annotations

import secrets
from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import Connection, insert, select, update

from hal9.serve.db import refresh_tokens, users, utcnow
from hal9.serve.deps import ReadPrincipal, Services, ServicesDep, audit, client_ip, rate_limit
from hal9.serve.schemas import LoginRequest, RefreshRequest, TokenPair, UserOut
from hal9.serve.security import issue_access_token, keyed_hash, new_refresh_token

__all__ = ["login_rate_keys", "router"]

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
_INVALID = "invalid credentials"


def _issue_pair(
    services: Services, conn: Connection, user_id: int, username: str, is_admin: bool, family_id: str
) -> TokenPair:
    s = services.settings
    refresh = new_refresh_token()
    now = utcnow()
    conn.execute(
        insert(refresh_tokens).values(
            user_id=user_id,
            family_id=family_id,
            token_hash=keyed_hash(s.secret_bytes, refresh),
            created_at=now,
            expires_at=now + timedelta(seconds=s.refresh_token_ttl_s),
        )
    )
    return TokenPair(
        access_token=issue_access_token(s, user_id=user_id, username=username, is_admin=is_admin),
        refresh_token=refresh,
        expires_in=s.access_token_ttl_s,
        refresh_expires_in=s.refresh_token_ttl_s,
    )


def login_rate_keys(ip: str, username: str) -> tuple[str, str]:
    """The rate-limit keys of a login attempt: per client IP, and per (client IP, username) pair.

    The second key holds the username *with* the IP, so that failed attempts against a username from one
    address (an attacker's) never lock its owner out from another. Usernames cannot contain ``:``
    (``[A-Za-z0-9._@-]``), so two different pairs never make the same key.

    Parameters
    ----------
    ip : str
        The client address (:func:`~hal9.serve.deps.client_ip`).
    username : str
        The submitted username (compared case-insensitively).

    Returns
    -------
    tuple of str
        ``("login:ip:<ip>", "login:ipuser:<ip>:<username>")``.
    """
    return f"login:ip:{ip}", f"login:ipuser:{ip}:{username.lower()}"


@router.post("/login", response_model=TokenPair, summary="exchange username and password for tokens")
def login(body: LoginRequest, request: Request, services: ServicesDep) -> TokenPair:
    """Rate-limited per client IP and per (client IP, username) pair, so failures from other addresses
    never lock a user out; unknown users cost as much as wrong passwords.
    """
    s = services.settings
    ip = client_ip(request)
    ip_key, ip_user_key = login_rate_keys(ip, body.username)
    rate_limit(services, ip_key, s.login_rate_per_ip, s.login_rate_window_s, "login_ip")
    rate_limit(services, ip_user_key, s.login_rate_per_user, s.login_rate_window_s, "login_user")
    with services.reader.connect() as conn:
        row = conn.execute(
            select(users.c.id, users.c.password_hash, users.c.is_admin, users.c.is_active).where(
                users.c.username == body.username
            )
        ).first()
    stored = row.password_hash if row is not None and row.is_active else None
    if not services.passwords.verify(stored, body.password):
        services.metrics.auth_failures.labels("login").inc()
        with services.engine.begin() as conn:
            audit(conn, "login_failed", user_id=row.id if row else None, ip=ip, username=body.username)
        raise HTTPException(401, _INVALID)
    assert row is not None and stored is not None
    with services.engine.begin() as conn:
        if services.passwords.needs_rehash(stored):
            conn.execute(
                update(users)
                .where(users.c.id == row.id)
                .values(password_hash=services.passwords.hash(body.password))
            )
        pair = _issue_pair(services, conn, row.id, body.username, bool(row.is_admin), secrets.token_hex(16))
        audit(conn, "login", user_id=row.id, ip=ip)
    return pair


@router.post("/refresh", response_model=TokenPair, summary="rotate a refresh token")
def refresh(body: RefreshRequest, request: Request, services: ServicesDep) -> TokenPair:
    """Each refresh token works once. Presenting a used or revoked one revokes its whole family."""
    s = services.settings
    ip = client_ip(request)
    rate_limit(services, f"refresh:ip:{ip}", s.login_rate_per_ip, s.login_rate_window_s, "refresh_ip")
    token_hash = keyed_hash(s.secret_bytes, body.refresh_token)
    now = utcnow()
    pair: TokenPair | None = None
    with services.engine.begin() as conn:
        row = conn.execute(
            select(
                refresh_tokens.c.id,
                refresh_tokens.c.family_id,
                refresh_tokens.c.expires_at,
                refresh_tokens.c.used_at,
                refresh_tokens.c.revoked_at,
                users.c.id.label("user_id"),
                users.c.username,
                users.c.is_admin,
                users.c.is_active,
            )
            .join(users, users.c.id == refresh_tokens.c.user_id)
            .where(refresh_tokens.c.token_hash == token_hash)
        ).first()
        if row is None or row.expires_at <= now or not row.is_active:
            reused = False
        else:
            claimed = conn.execute(
                update(refresh_tokens)
                .where(
                    refresh_tokens.c.id == row.id,
                    refresh_tokens.c.used_at.is_(None),
                    refresh_tokens.c.revoked_at.is_(None),
                )
                .values(used_at=now)
            )
            reused = claimed.rowcount != 1
            if not reused:
                pair = _issue_pair(
                    services, conn, row.user_id, row.username, bool(row.is_admin), row.family_id
                )
        if reused and row is not None:
            conn.execute(
                update(refresh_tokens)
                .where(refresh_tokens.c.family_id == row.family_id, refresh_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            audit(conn, "refresh_reuse", user_id=row.user_id, ip=ip, family=row.family_id)
    if pair is None:
        services.metrics.auth_failures.labels("refresh").inc()
        raise HTTPException(401, "invalid, expired or reused refresh token")
    return pair


@router.post("/logout", status_code=204, summary="revoke a refresh token and its family")
def logout(
    body: RefreshRequest,
    request: Request,
    principal: ReadPrincipal,
    services: ServicesDep,
) -> Response:
    """Revoke the session of ``refresh_token`` (only the caller's own; 204 either way)."""
    token_hash = keyed_hash(services.settings.secret_bytes, body.refresh_token)
    with services.engine.begin() as conn:
        family = conn.execute(
            select(refresh_tokens.c.family_id).where(
                refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.user_id == principal.user_id
            )
        ).scalar_one_or_none()
        if family is not None:
            conn.execute(
                update(refresh_tokens)
                .where(refresh_tokens.c.family_id == family, refresh_tokens.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            audit(conn, "logout", user_id=principal.user_id, ip=client_ip(request))
    return Response(status_code=204)


@router.get("/me", response_model=UserOut, summary="the calling user")
def me(principal: ReadPrincipal, services: ServicesDep) -> UserOut:
    """The account behind the credentials."""
    with services.reader.connect() as conn:
        row = conn.execute(
            select(
                users.c.id, users.c.username, users.c.is_admin, users.c.is_active, users.c.created_at
            ).where(users.c.id == principal.user_id)
        ).first()
    if row is None:
        raise HTTPException(404, "user not found")
    return UserOut.model_validate(row._asdict())
