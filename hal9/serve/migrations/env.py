"""Alembic environment of ``hal9.serve``: runs on the connection handed over by :mod:`hal9.serve.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from hal9.serve.db import make_engine, metadata


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Leave procrastinate's queue tables (installed by revision 0002, not in ``metadata``) alone."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=metadata, render_as_batch=True, include_name=include_name
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate on ``config.attributes["connection"]``, or on a new engine for ``sqlalchemy.url``."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _in_alembic() -> bool:
    """Whether Alembic is running this file (not, e.g., pytest's doctest collection importing it)."""
    try:
        context.config  # noqa: B018 - raises AttributeError outside an Alembic command
    except AttributeError:
        return False
    return True


if _in_alembic():
    if context.is_offline_mode():
        raise RuntimeError("hal9.serve migrations run online only")
    run_migrations_online()
