"""Migrations upgrade and downgrade cleanly on SQLite and PostgreSQL and match the table definitions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from hal9.serve.db import make_engine, metadata
from hal9.serve.migrate import MIGRATIONS_DIR, current_revision, downgrade, head_revision, is_at_head, upgrade
from hal9.serve.migrations.env import include_name
from tests.serve.conftest import create_pg_database, drop_pg_database

TABLES = {"users", "api_keys", "refresh_tokens", "runs", "audit_log"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path.as_posix()}/mig.db")
        yield engine
        engine.dispose()
        return
    url = create_pg_database()
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_pg_database(url)


def test_upgrade_downgrade_upgrade(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None and not is_at_head(empty_engine)
    upgrade(empty_engine)
    assert is_at_head(empty_engine) and head_revision() == "0002"
    names = set(inspect(empty_engine).get_table_names())
    assert TABLES <= names
    # The job queue (procrastinate) exists on PostgreSQL only.
    assert ("procrastinate_jobs" in names) == (empty_engine.dialect.name == "postgresql")
    with empty_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(ctx, metadata)
    assert diff == [], diff
    downgrade(empty_engine, "0001")
    assert current_revision(empty_engine) == "0001"
    assert not {n for n in inspect(empty_engine).get_table_names() if n.startswith("procrastinate")}
    downgrade(empty_engine)
    assert current_revision(empty_engine) is None
    assert not TABLES & set(inspect(empty_engine).get_table_names())
    upgrade(empty_engine)
    assert is_at_head(empty_engine)


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert any((MIGRATIONS_DIR / "versions").glob("0001_*.py"))
    assert any((MIGRATIONS_DIR / "versions").glob("0002_*.py"))
