"""Backups and rollbacks with data present, on PostgreSQL.

* ``scripts/backup.sh`` / ``scripts/restore.sh``: a database filled through the API (users, refresh tokens,
  API keys, audit log, queued runs and their procrastinate jobs, a registered worker) is backed up, changed,
  then restored into a fresh database: every table equals the backup point, not the later state. A
  tampered manifest, a corrupted dump and a non-empty target are refused.
* ``alembic downgrade -1`` then ``upgrade head`` (``hal9.serve.migrate``) keeps every row and every value
  of the columns that both revisions have. What the newest revision adds is lost by design: its columns
  come back with their defaults, its tables (the job queue) come back empty. ``test_migrations.py`` covers
  the same cycle on an empty database.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from hal9.serve import create_app
from hal9.serve.db import make_engine
from hal9.serve.migrate import current_revision, downgrade, head_revision, upgrade
from tests.serve.conftest import Api, create_pg_database, drop_pg_database, make_settings

pytestmark = pytest.mark.postgres

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
METRICS_BODY = {"A": [[0.5, 0.1], [0.0, 0.4]], "measure": "mi"}
#: What revision 0002 adds, dropped by its downgrade (the data there is lost by design).
DURABLE_COLUMNS = {
    "attempts",
    "retries",
    "stalls",
    "cancel_requested",
    "idempotency_key",
    "queue_job_id",
    "worker",
    "lease_until",
}
QUEUE_TABLES = {
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_workers",
    "procrastinate_periodic_defers",
}


@pytest.fixture(autouse=True)
def _client_tools() -> None:
    missing = [tool for tool in ("pg_dump", "pg_restore", "psql") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("HAL9_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL client tools missing: {missing}")
        pytest.skip(f"PostgreSQL client tools missing: {missing}")


@pytest.fixture
def scratch_databases() -> Iterator[list[str]]:
    """URLs appended here are dropped at teardown (created or not)."""
    urls: list[str] = []
    yield urls
    for url in urls:
        drop_pg_database(url)


def _script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("TRACKING_URI", "DATABASE_URL"))}
    env["HAL9_PYTHON"] = sys.executable
    return subprocess.run(
        ["bash", str(SCRIPTS / name), *args], capture_output=True, text=True, timeout=120, env=env
    )


def _tables(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the public schema, as JSON objects (timestamps in UTC)."""
    with psycopg.connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        names = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {
            name: [
                r[0]
                for r in conn.execute(sql.SQL("SELECT to_jsonb(t) FROM {} AS t").format(sql.Identifier(name)))
            ]
            for name in names
        }


def _fingerprint(
    tables: dict[str, list[dict[str, Any]]], columns: dict[str, set[str]] | None = None
) -> dict[str, tuple[int, list[str]]]:
    """Per table: the row count and the sorted rows (restricted to ``columns[table]`` when given)."""
    out = {}
    for name, rows in tables.items():
        if columns is not None and name not in columns:
            continue
        keep = columns[name] if columns is not None else None
        rendered = sorted(
            json.dumps({k: v for k, v in row.items() if keep is None or k in keep}, sort_keys=True)
            for row in rows
        )
        out[name] = (len(rows), rendered)
    return out


def _populate(api: Api) -> dict[str, Any]:
    """Users (logins: refresh tokens, audit log), API keys, queued runs with their queue jobs, a worker."""
    client = api.client
    alice, admin = api.user(), api.user(admin=True)
    keys = []
    for name in ("ci", "laptop"):
        r = client.post("/api/v1/keys", json={"name": name}, headers=alice.headers)
        assert r.status_code == 201, r.text
        keys.append(r.json()["id"])
    run_ids = []
    for i in range(3):
        headers = {**alice.headers, "Idempotency-Key": f"sweep/{i}"} if i == 0 else alice.headers
        r = client.post("/api/v1/runs/metrics", json=METRICS_BODY, headers=headers)
        assert r.status_code == 202, r.text
        run_ids.append(r.json()["id"])
    with api.services.engine.begin() as conn:
        raw = conn.connection.driver_connection
        raw.execute("SELECT procrastinate_register_worker_v1()")
        raw.execute(
            "UPDATE runs SET status = 'succeeded', attempts = 1, worker = 'w-1', "
            'result = \'{"mi": 0.25, "note": "é"}\', started_at = created_at, finished_at = created_at '
            "WHERE id = %s",
            (run_ids[2],),
        )
    return {"alice": alice, "admin": admin, "keys": keys, "runs": run_ids}


@pytest.fixture
def app_on(tmp_path: Path, tracking_uri: str) -> Iterator[Any]:
    """``app_on(url)``: a started app on ``url`` with queue execution and no worker (jobs stay queued)."""
    clients: list[TestClient] = []

    def start(url: str) -> Api:
        settings = make_settings(url, tmp_path, tracking_uri, job_execution="queue")
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return Api(client)

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def test_backup_then_restore_gives_the_backup_point(
    fresh_pg_url: str, app_on: Any, tmp_path: Path, scratch_databases: list[str]
) -> None:
    api = app_on(fresh_pg_url)
    made = _populate(api)
    at_backup = _tables(fresh_pg_url)
    assert at_backup["procrastinate_jobs"] and at_backup["procrastinate_workers"] and at_backup["audit_log"]

    # SQLAlchemy's URL (postgresql+psycopg://) is accepted
    backup = _script(
        "backup.sh", "--out", str(tmp_path / "backups"), fresh_pg_url.replace("://", "+psycopg://")
    )
    assert backup.returncode == 0, backup.stderr
    dump = Path(backup.stdout.strip().splitlines()[-1])
    manifest_path = dump.with_name(dump.name.removesuffix(".dump") + ".manifest.json")
    assert dump.is_file() and manifest_path.is_file()
    manifest = json.loads(manifest_path.read_text())
    assert manifest["alembic_revision"] == head_revision()
    assert manifest["dump_bytes"] == dump.stat().st_size
    assert manifest["hal9_version"] not in ("", "unknown")
    assert manifest["pg_dump_version"].startswith("pg_dump")
    assert {f"public.{name}": len(rows) for name, rows in at_backup.items()} == {
        name: entry["rows"] for name, entry in manifest["tables"].items()
    }

    # more data after the backup: a user, a run, a revoked key, a deactivated admin
    api.user()
    r = api.client.post("/api/v1/runs/metrics", json=METRICS_BODY, headers=made["alice"].headers)
    assert r.status_code == 202
    r = api.client.delete(f"/api/v1/keys/{made['keys'][0]}", headers=made["alice"].headers)
    assert r.status_code == 204
    with psycopg.connect(fresh_pg_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET is_active = false WHERE id = %s", (made["admin"].id,))
    later = _tables(fresh_pg_url)

    target = create_pg_database()
    scratch_databases.append(target)
    restore = _script("restore.sh", str(dump), target)
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert "OK:" in restore.stderr and "MISMATCH" not in restore.stdout
    assert restore.stdout.count("  OK ") == len(manifest["tables"])
    restored = _tables(target)
    assert _fingerprint(restored) == _fingerprint(at_backup)
    for name in ("users", "api_keys", "runs", "procrastinate_jobs", "audit_log"):
        assert _fingerprint(restored)[name] != _fingerprint(later)[name], name
    # sequences were restored too: new rows do not collide with restored ones
    with psycopg.connect(target, autocommit=True) as conn:
        new_id = conn.execute(
            "INSERT INTO users (username, password_hash, is_admin, is_active, created_at) "
            "VALUES ('after-restore', 'x', false, true, now()) RETURNING id"
        ).fetchone()
    assert new_id is not None and new_id[0] > max(u["id"] for u in at_backup["users"])

    # the target now holds data: refused without --force
    again = _script("restore.sh", str(dump), target)
    assert again.returncode == 1 and "not empty" in again.stderr

    # a manifest that does not describe the dump's content fails the check
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    shutil.copy(dump, tampered / dump.name)
    manifest["tables"]["public.users"]["md5"] = "0" * 32
    manifest["tables"]["public.runs"]["rows"] += 1
    (tampered / manifest_path.name).write_text(json.dumps(manifest, indent=4))
    target2 = create_pg_database()
    scratch_databases.append(target2)
    bad = _script("restore.sh", str(tampered / dump.name), target2)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    mismatches = [line.split()[1] for line in bad.stdout.splitlines() if line.split()[0] == "MISMATCH"]
    assert sorted(mismatches) == ["public.runs", "public.users"]
    assert "FAILED: 2 mismatch(es)" in bad.stderr

    # a corrupted dump is refused before anything is restored
    with open(tampered / dump.name, "r+b") as fh:
        fh.seek(dump.stat().st_size // 2)
        fh.write(b"\x00garbage\x00")
    target3 = create_pg_database()
    scratch_databases.append(target3)
    corrupt = _script("restore.sh", str(tampered / dump.name), target3)
    assert corrupt.returncode == 1 and "SHA-256" in corrupt.stderr
    with psycopg.connect(target3) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)


def test_backup_script_usage_errors(tmp_path: Path) -> None:
    assert _script("backup.sh", "--help").returncode == 0
    assert _script("restore.sh", "--help").returncode == 0
    assert _script("backup.sh").returncode == 2  # no DATABASE_URL
    assert _script("restore.sh", "only-one-argument").returncode == 2
    sqlite = _script("backup.sh", "--out", str(tmp_path), "sqlite:///x.db")
    assert sqlite.returncode == 1 and "SQLite" in sqlite.stderr
    assert not list(tmp_path.iterdir())


def _columns(url: str) -> dict[str, set[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall()
    out: dict[str, set[str]] = {}
    for table, column in rows:
        out.setdefault(table, set()).add(column)
    return out


def test_downgrade_one_revision_and_back_keeps_the_data(fresh_pg_url: str, app_on: Any) -> None:
    api = app_on(fresh_pg_url)
    made = _populate(api)
    before, head_columns = _tables(fresh_pg_url), _columns(fresh_pg_url)
    engine = make_engine(fresh_pg_url)
    try:
        downgrade(engine, "-1")
        previous = current_revision(engine)
        assert previous is not None and previous != head_revision()
        prev_columns = _columns(fresh_pg_url)
        # what both revisions have; alembic_version holds the revision itself
        common = {
            table: cols & prev_columns[table]
            for table, cols in head_columns.items()
            if table in prev_columns and table != "alembic_version"
        }
        assert common, "nothing in common between the two newest revisions"
        after_down = _tables(fresh_pg_url)
        assert _fingerprint(after_down, common) == _fingerprint(before, common)
        upgrade(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
    after_up = _tables(fresh_pg_url)
    assert _columns(fresh_pg_url) == head_columns
    assert _fingerprint(after_up, common) == _fingerprint(before, common)

    lost_tables = set(head_columns) - set(prev_columns)
    lost_columns = {t: head_columns[t] - prev_columns[t] for t in common if head_columns[t] - prev_columns[t]}
    if head_revision() == "0002":
        # Lost by design: the durable-job columns of runs (back with their defaults) and the job queue
        # (back empty: the queued runs stay 'queued' with no queue entry; the runbook says what to do).
        assert lost_tables == QUEUE_TABLES and lost_columns == {"runs": DURABLE_COLUMNS}
        assert all(not after_up[t] for t in QUEUE_TABLES) and before["procrastinate_jobs"]
        runs_after = {r["id"]: r for r in after_up["runs"]}
        assert all(
            r["attempts"] == 0 and r["idempotency_key"] is None and r["queue_job_id"] is None
            for r in runs_after.values()
        )
        assert [runs_after[i]["status"] for i in made["runs"]] == ["queued", "queued", "succeeded"]
        with psycopg.connect(fresh_pg_url) as conn:
            triggers = {r[0] for r in conn.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
        assert {"hal9_api_keys_changed", "hal9_users_changed"} <= triggers

    # the service works on the rolled-back-and-forward data: logins, API keys, run listings
    again = app_on(fresh_pg_url)
    alice = made["alice"]
    creds = {"username": alice.username, "password": alice.password}
    login = again.client.post("/api/v1/auth/login", json=creds)
    assert login.status_code == 200
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    listed = again.client.get("/api/v1/runs", headers=headers)
    assert listed.status_code == 200
    assert {r["id"] for r in listed.json()} == set(made["runs"])
    assert len(again.client.get("/api/v1/keys", headers=headers).json()) == len(made["keys"])
