"""Account operations shared by the routes, the app start-up and ``hal9 serve create-user``."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from hal9.serve.db import users, utcnow
from hal9.serve.security import Passwords

__all__ = ["UserExists", "create_user", "ensure_admin"]


class UserExists(Exception):
    """The username is taken."""


def insert_user(conn: Connection, passwords: Passwords, username: str, password: str, is_admin: bool) -> int:
    """Insert a user in the caller's transaction and return its id (``IntegrityError`` if taken)."""
    result = conn.execute(
        insert(users)
        .values(
            username=username,
            password_hash=passwords.hash(password),
            is_admin=is_admin,
            is_active=True,
            created_at=utcnow(),
        )
        .returning(users.c.id)
    )
    return int(result.scalar_one())


def create_user(engine: Engine, passwords: Passwords, username: str, password: str, *, is_admin: bool) -> int:
    """Create a user in its own transaction and return its id.

    Raises
    ------
    UserExists
        If ``username`` is taken.
    """
    try:
        with engine.begin() as conn:
            return insert_user(conn, passwords, username, password, is_admin)
    except IntegrityError as exc:
        raise UserExists(username) from exc


def ensure_admin(engine: Engine, passwords: Passwords, username: str, password: str) -> bool:
    """Create admin ``username`` unless a user of that name exists (its password is then left alone).

    Returns whether a user was created. Safe when several workers start at once.
    """
    with engine.connect() as conn:
        if conn.execute(select(users.c.id).where(users.c.username == username)).first() is not None:
            return False
    try:
        create_user(engine, passwords, username, password, is_admin=True)
    except UserExists:
        return False
    return True
