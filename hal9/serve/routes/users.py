"""``/api/v1/users``: admins create accounts; every user can change their own password."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from hal9.serve.accounts import insert_user
from hal9.serve.db import refresh_tokens, users, utcnow
from hal9.serve.deps import AdminPrincipal, ReadPrincipal, ServicesDep, audit, client_ip
from hal9.serve.schemas import AdminUserCreate, PasswordChange, UserOut

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.post("", status_code=201, response_model=UserOut, summary="create a user (admin)")
def create_user(
    body: AdminUserCreate,
    request: Request,
    principal: AdminPrincipal,
    services: ServicesDep,
) -> UserOut:
    """Create an account; 409 if the username is taken."""
    try:
        with services.engine.begin() as conn:
            user_id = insert_user(conn, services.passwords, body.username, body.password, body.is_admin)
            audit(
                conn,
                "user_created",
                user_id=principal.user_id,
                ip=client_ip(request),
                new_user=user_id,
                is_admin=body.is_admin,
            )
            row = conn.execute(
                select(
                    users.c.id, users.c.username, users.c.is_admin, users.c.is_active, users.c.created_at
                ).where(users.c.id == user_id)
            ).one()
    except IntegrityError as exc:
        raise HTTPException(409, "username taken") from exc
    return UserOut.model_validate(row._asdict())


@router.post("/me/password", status_code=204, summary="change your own password")
def change_password(
    body: PasswordChange,
    request: Request,
    principal: ReadPrincipal,
    services: ServicesDep,
) -> Response:
    """Needs the current password; revokes every refresh token of the account."""
    with services.reader.connect() as conn:
        stored = conn.execute(
            select(users.c.password_hash).where(users.c.id == principal.user_id)
        ).scalar_one_or_none()
    if not services.passwords.verify(stored, body.current_password):
        services.metrics.auth_failures.labels("password_change").inc()
        raise HTTPException(403, "current password is wrong")
    with services.engine.begin() as conn:
        conn.execute(
            update(users)
            .where(users.c.id == principal.user_id)
            .values(password_hash=services.passwords.hash(body.new_password))
        )
        conn.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.user_id == principal.user_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        audit(conn, "password_changed", user_id=principal.user_id, ip=client_ip(request))
    return Response(status_code=204)
