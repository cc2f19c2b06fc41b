"""Durable jobs: attempt/retry/cancel/idempotency columns of ``runs``; procrastinate's queue (PostgreSQL).

On PostgreSQL this revision also adds triggers that ``NOTIFY hal9_api_keys`` when an API key or its
owner changes (the per-process key caches drop the key), and installs the schema of procrastinate (the job
queue the workers share: tables ``procrastinate_*``, their types, functions and triggers), in the same
transaction, from the procrastinate package installed (``procrastinate>=3.10,<4``; its schema has not
changed since 3.4). On SQLite jobs run in-process and no queue schema is needed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Drops every object of procrastinate's schema (tables with their triggers, then functions and types).
_DROP_PROCRASTINATE = """
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT tablename FROM pg_tables
             WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate\\_%' LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.tablename);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%' LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', r.sig);
    END LOOP;
    FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\\_%'
             AND t.typtype IN ('e', 'c')
             AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid AND c.relkind <> 'c') LOOP
        EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', r.typname);
    END LOOP;
END $$;
"""


# Any change of an API key or of its owner's role/activity (through the API, the CLI or plain SQL) tells
# every API process to drop its cached key: ``hal9/serve/keywatch.py`` listens on this channel.
_KEY_TRIGGERS = """
CREATE FUNCTION hal9_notify_api_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'api_keys' THEN
        PERFORM pg_notify('hal9_api_keys', OLD.prefix);
    ELSE
        PERFORM pg_notify('hal9_api_keys', '*');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER hal9_api_keys_changed AFTER UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION hal9_notify_api_key_change();
CREATE TRIGGER hal9_users_changed AFTER UPDATE OF is_active, is_admin OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION hal9_notify_api_key_change();
"""
_DROP_KEY_TRIGGERS = """
DROP TRIGGER IF EXISTS hal9_users_changed ON users;
DROP TRIGGER IF EXISTS hal9_api_keys_changed ON api_keys;
DROP FUNCTION IF EXISTS hal9_notify_api_key_change();
"""


def upgrade() -> None:
    """Add the durable-execution columns and indexes; install the queue schema on PostgreSQL."""
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("retries", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("stalls", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("idempotency_key", sa.String(128), nullable=True))
        batch.add_column(sa.Column("queue_job_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("worker", sa.String(128), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
    op.create_index("ix_runs_owner_status", "runs", ["owner_id", "status"])
    op.create_index("ix_runs_status_created", "runs", ["status", "created_at"])
    op.create_index("uq_runs_owner_idempotency", "runs", ["owner_id", "idempotency_key"], unique=True)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        from procrastinate.schema import SchemaManager

        bind.connection.driver_connection.execute(_KEY_TRIGGERS)  # type: ignore[union-attr]
        exists = bind.execute(sa.text("SELECT to_regclass('procrastinate_jobs')")).scalar()
        if exists is None:
            # Raw psycopg execution: the schema is a multi-statement script full of ``::`` casts.
            bind.connection.driver_connection.execute(SchemaManager.get_schema())  # type: ignore[union-attr]


def downgrade() -> None:
    """Drop the queue schema (PostgreSQL) and the durable-execution columns."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.connection.driver_connection.execute(_DROP_PROCRASTINATE)  # type: ignore[union-attr]
        bind.connection.driver_connection.execute(_DROP_KEY_TRIGGERS)  # type: ignore[union-attr]
    op.drop_index("uq_runs_owner_idempotency", table_name="runs")
    op.drop_index("ix_runs_status_created", table_name="runs")
    op.drop_index("ix_runs_owner_status", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        for name in (
            "lease_until",
            "worker",
            "queue_job_id",
            "idempotency_key",
            "cancel_requested",
            "stalls",
            "retries",
            "attempts",
        ):
            batch.drop_column(name)
