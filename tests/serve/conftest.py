"""Fixtures of the service tests: throwaway databases (SQLite and PostgreSQL), cheap settings, clients.

PostgreSQL: a database ``hal9_test_<hex>`` is created on ``HAL9_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``) for the session and dropped at the end. Without a server
the PostgreSQL cases are skipped, unless ``HAL9_REQUIRE_POSTGRES=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hal9.serve import JobLimits, Settings, create_app
from hal9.serve.accounts import create_user
from hal9.serve.db import make_engine
from hal9.serve.migrate import upgrade
from hal9.serve.workerproc import ThreadedWorker

PG_ADMIN_URL = os.environ.get("HAL9_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HAL9_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = secrets.token_urlsafe(40)
PASSWORD = "correct horse battery"


def _pg_reachable() -> bool:
    import psycopg

    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True


def _require(env: str, what: str) -> None:
    if os.environ.get(env) == "1":
        pytest.fail(f"{what} is required ({env}=1) but cannot be reached")
    pytest.skip(f"{what} not reachable")


def create_pg_database() -> str:
    """Create an empty PostgreSQL database ``hal9_test_<hex>`` and return its URL."""
    import psycopg
    from psycopg import sql

    if not _pg_reachable():
        _require("HAL9_REQUIRE_POSTGRES", "PostgreSQL")
    name = f"hal9_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    """Drop the database of ``url`` (closing its connections)."""
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _migrated(url: str) -> str:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database shared by the session."""
    return _migrated(f"sqlite:///{tmp_path_factory.mktemp('db').as_posix()}/serve.db")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A migrated throwaway PostgreSQL database shared by the session."""
    url = create_pg_database()
    try:
        yield _migrated(url)
    finally:
        drop_pg_database(url)


@pytest.fixture
def fresh_database_url(database_url: str) -> Iterator[str]:
    """A migrated database of the current backend that no other test uses (global queue counts)."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///")).with_name(f"fresh-{secrets.token_hex(4)}.db")
        yield _migrated(f"sqlite:///{path.as_posix()}")
        return
    url = _migrated(create_pg_database())
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this test only."""
    url = _migrated(create_pg_database())
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One MLflow SQLite store for the session (its first schema migration takes seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow').as_posix()}/mlflow.db"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """The app's database, once per backend."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


def make_settings(database_url: str, tmp_path: Path, tracking_uri: str, **overrides: Any) -> Settings:
    """Test settings: cheap Argon2, tiny job bounds, no ``.env`` file."""
    values: dict[str, Any] = {
        "environment": "test",
        "secret_key": SECRET,
        "database_url": database_url,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        "argon2_parallelism": 1,
        "tracking_uri": tracking_uri,
        "data_dir": tmp_path / "serve-data",
        "rate_limit_prefix": f"hal9test:{secrets.token_hex(6)}",
        # long fixed windows: a window boundary between two calls of a test would reset the count
        "login_rate_window_s": 3600,
        "job_rate_window_s": 3600,
        # fast queue workers: heartbeats, polls and grace periods in tenths of seconds
        "worker_heartbeat_s": 0.5,
        "worker_stalled_after_s": 3.0,
        "worker_poll_s": 0.2,
        "worker_shutdown_grace_s": 5.0,
        "job_cancel_poll_s": 0.1,
        "job_outcome_retry_s": 20.0,
        "limits": JobLimits(
            _env_file=None,
            max_neurons=2_000,
            max_steps=200,
            max_organize_neurons=300,
            max_tactical_tasks=200,
            max_tactical_units=16,
        ),
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings_factory(database_url: str, tmp_path: Path, tracking_uri: str) -> Callable[..., Settings]:
    """``settings_factory(**overrides)``: settings on the current backend."""

    def factory(**overrides: Any) -> Settings:
        url = overrides.pop("database_url", database_url)
        return make_settings(url, tmp_path, tracking_uri, **overrides)

    return factory


@dataclass
class User:
    """A test account and a fresh access token."""

    id: int
    username: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """A TestClient plus helpers to create users and wait for runs."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.services = client.app.state.services  # type: ignore[attr-defined]
        self.worker: ThreadedWorker | None = None

    def user(self, *, admin: bool = False) -> User:
        username = f"u{secrets.token_hex(5)}"
        uid = create_user(self.services.engine, self.services.passwords, username, PASSWORD, is_admin=admin)
        r = self.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return User(uid, username, PASSWORD, r.json()["access_token"])

    def wait(self, run_id: str, headers: dict[str, str], timeout_s: float = 60.0) -> dict[str, Any]:
        """Poll a run until it succeeded or failed (bounded)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            body = self.client.get(f"/api/v1/runs/{run_id}", headers=headers).json()
            if body["status"] in ("succeeded", "failed", "cancelled"):
                return dict(body)
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} did not finish in {timeout_s} s")


@pytest.fixture
def api_factory(settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., Api]]:
    """``api_factory(**settings_overrides, registry=None, worker=True)``: a started app; on PostgreSQL
    also a queue worker (a :class:`~hal9.serve.workerproc.ThreadedWorker` with the same registry)
    unless ``worker=False``. All are stopped at teardown."""
    clients: list[TestClient] = []
    workers: list[ThreadedWorker] = []

    def build(registry: Any = None, worker: bool = True, **overrides: Any) -> Api:
        settings = settings_factory(**overrides)
        app = create_app(settings, registry=registry)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        api = Api(client)
        if settings.uses_queue and worker:
            api.worker = ThreadedWorker(settings, registry).start()
            workers.append(api.worker)
        return api

    yield build
    for w in workers:
        w.stop()
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def api(api_factory: Callable[..., Api]) -> Api:
    """A started app with default test settings."""
    return api_factory()
