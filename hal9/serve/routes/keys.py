"""``/api/v1/keys``: the caller's API keys (create: secret shown once; list; revoke)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response
from sqlalchemy import insert, select, update

from hal9.serve.db import api_keys, utcnow
from hal9.serve.deps import ReadPrincipal, ServicesDep, audit, client_ip
from hal9.serve.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from hal9.serve.security import SCOPES, Principal, keyed_hash, new_api_key

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/keys", tags=["api keys"])
KeyId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_COLUMNS = (
    api_keys.c.id,
    api_keys.c.name,
    api_keys.c.prefix,
    api_keys.c.scopes,
    api_keys.c.created_at,
    api_keys.c.expires_at,
    api_keys.c.revoked_at,
)


def _out(row: Any) -> dict[str, Any]:
    data = dict(row._asdict())
    data["scopes"] = data["scopes"].split()
    return data


def _session_only(principal: Principal) -> None:
    if principal.method != "jwt":
        raise HTTPException(403, "API keys are managed with a login session (access token), not a key")


@router.post("", status_code=201, response_model=ApiKeyCreated, summary="create an API key")
def create_key(
    body: ApiKeyCreate,
    request: Request,
    principal: ReadPrincipal,
    services: ServicesDep,
) -> ApiKeyCreated:
    """The key (``hal9_<prefix>_<secret>``) is in this answer only; the server keeps its HMAC."""
    _session_only(principal)
    scopes = sorted(set(body.scopes), key=SCOPES.index)
    if not set(scopes) <= principal.scopes:
        raise HTTPException(403, "a key cannot have scopes its owner lacks")
    key, prefix = new_api_key()
    now = utcnow()
    expires = now + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    with services.engine.begin() as conn:
        key_id = conn.execute(
            insert(api_keys)
            .values(
                user_id=principal.user_id,
                name=body.name,
                prefix=prefix,
                key_hash=keyed_hash(services.settings.secret_bytes, key),
                scopes=" ".join(scopes),
                created_at=now,
                expires_at=expires,
            )
            .returning(api_keys.c.id)
        ).scalar_one()
        audit(
            conn,
            "key_created",
            user_id=principal.user_id,
            ip=client_ip(request),
            key_id=key_id,
            scopes=scopes,
        )
        row = conn.execute(select(*_COLUMNS).where(api_keys.c.id == key_id)).one()
    return ApiKeyCreated(**_out(row), key=key)


@router.get("", response_model=list[ApiKeyOut], summary="list your API keys")
def list_keys(principal: ReadPrincipal, services: ServicesDep) -> list[dict[str, Any]]:
    """Your keys, newest first (revoked ones included, with ``revoked_at``)."""
    with services.reader.connect() as conn:
        rows = conn.execute(
            select(*_COLUMNS)
            .where(api_keys.c.user_id == principal.user_id)
            .order_by(api_keys.c.created_at.desc(), api_keys.c.id.desc())
        ).all()
    return [_out(r) for r in rows]


@router.delete("/{key_id}", status_code=204, summary="revoke one of your API keys")
def revoke_key(
    key_id: KeyId,
    request: Request,
    principal: ReadPrincipal,
    services: ServicesDep,
) -> Response:
    """Revoke key ``key_id``; 404 if it is not yours."""
    _session_only(principal)
    with services.engine.begin() as conn:
        prefix = conn.execute(
            update(api_keys)
            .where(
                api_keys.c.id == key_id,
                api_keys.c.user_id == principal.user_id,
                api_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
            .returning(api_keys.c.prefix)
        ).scalar()
        if prefix is None:
            raise HTTPException(404, "no such key")
        # This process forgets the key now; the others when the revocation commits (a trigger of
        # migration 0002 sends NOTIFY hal9_api_keys on PostgreSQL; see hal9/serve/keywatch.py).
        services.key_cache.forget(prefix)
        audit(conn, "key_revoked", user_id=principal.user_id, ip=client_ip(request), key_id=key_id)
    return Response(status_code=204)
