"""Alembic migrations of the service, run programmatically (no ``alembic.ini`` needed).

Examples
--------
>>> from hal9.serve.db import make_engine
>>> from hal9.serve.migrate import upgrade, is_at_head
>>> engine = make_engine("sqlite:///hal9-serve.db")  # doctest: +SKIP
>>> upgrade(engine)  # doctest: +SKIP
>>> is_at_head(engine)  # doctest: +SKIP
True
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

__all__ = [
    "MIGRATIONS_DIR",
    "current_revision",
    "downgrade",
    "head_revision",
    "is_at_head",
    "is_known_revision",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database of ``engine`` to ``revision`` in one transaction."""
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Downgrade the database of ``engine`` to ``revision`` (``"base"``: drop everything)."""
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


@cache
def head_revision() -> str | None:
    """The newest revision shipped with this version of hal9."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of the migrations shipped with this version of hal9."""
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except Exception:  # alembic: "Can't locate revision": a newer release's migration
        return False


def is_at_head(engine: Engine) -> bool:
    """Whether the database is migrated to :func:`head_revision`."""
    return current_revision(engine) == head_revision()
