"""The API-key cache: on PostgreSQL a revocation reaches every API process at once (LISTEN/NOTIFY)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from hal9.serve.deps import KeyCache
from tests.serve.conftest import Api


def test_key_cache_on_off_and_forget() -> None:
    cache = KeyCache(30.0, enabled=False)
    cache.put("p", "row")
    assert cache.get("p") is None and not cache.enabled  # off until its watcher listens
    cache.enable()
    cache.put("p", "row")
    assert cache.get("p") == "row"
    cache.forget("p")
    assert cache.get("p") is None
    cache.put("p", "row")
    cache.disable()  # the watcher lost its connection: nothing may be served from memory
    cache.enable()
    assert cache.get("p") is None
    assert not KeyCache(0.0).enabled


def _wait_listening(api: Api, timeout_s: float = 10.0) -> None:
    """Wait until the app's key watcher listens (its cache is then on)."""
    deadline = time.monotonic() + timeout_s
    while not api.services.key_cache.enabled and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.services.key_cache.enabled


def _key(api: Api) -> tuple[int, str, dict[str, str]]:
    user = api.user()
    r = api.client.post("/api/v1/keys", json={"name": "k", "scopes": ["read"]}, headers=user.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["key"], user.headers


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_revocation_reaches_other_processes_at_once(pg_url: str, api_factory: Callable[..., Api]) -> None:
    first = api_factory(database_url=pg_url, worker=False)
    second = api_factory(database_url=pg_url, worker=False)  # another API process on the same database
    for api in (first, second):
        _wait_listening(api)
        assert api.services.key_cache.ttl_s == 30.0
    key_id, key, session = _key(first)
    probe = {"X-API-Key": key}
    assert second.client.get("/api/v1/runs", headers=probe).status_code == 200  # now cached in `second`
    assert second.services.key_cache.get(key.split("_")[1]) is not None
    assert first.client.delete(f"/api/v1/keys/{key_id}", headers=session).status_code == 204
    deadline = time.monotonic() + 5
    while second.client.get("/api/v1/runs", headers=probe).status_code != 401:
        assert time.monotonic() < deadline, "the other process still accepts the revoked key"
        time.sleep(0.02)
    assert time.monotonic() < deadline  # long before the 30 s TTL


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_cache_is_off_while_the_listener_is_down(pg_url: str, api_factory: Callable[..., Api]) -> None:
    import psycopg

    from tests.serve.conftest import PG_ADMIN_URL

    api = api_factory(database_url=pg_url, worker=False)
    _wait_listening(api)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'hal9-api-keys' AND datname = %s",
            (pg_url.rsplit("/", 1)[1],),
        )
    deadline = time.monotonic() + 5
    while api.services.key_cache.enabled and time.monotonic() < deadline:
        time.sleep(0.01)
    seen_off = not api.services.key_cache.enabled
    deadline = time.monotonic() + 15
    while not api.services.key_cache.enabled and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen_off and api.services.key_cache.enabled  # off while down, back once it listens again


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_changes_made_in_sql_reach_the_cache(pg_url: str, api_factory: Callable[..., Api]) -> None:
    """Expiry or deactivation written by plain SQL (not the API) also evicts cached keys (triggers)."""
    from datetime import timedelta

    from sqlalchemy import update

    from hal9.serve.db import api_keys, users, utcnow

    api = api_factory(database_url=pg_url, worker=False)
    _wait_listening(api)
    for change in ("expire", "deactivate"):
        key_id, key, _ = _key(api)
        probe = {"X-API-Key": key}
        assert api.client.get("/api/v1/runs", headers=probe).status_code == 200  # cached now
        with api.services.engine.begin() as conn:
            if change == "expire":
                conn.execute(
                    update(api_keys)
                    .where(api_keys.c.id == key_id)
                    .values(expires_at=utcnow() - timedelta(seconds=1))
                )
            else:
                owner = select_owner(conn, key_id)
                conn.execute(update(users).where(users.c.id == owner).values(is_active=False))
        deadline = time.monotonic() + 5
        while api.client.get("/api/v1/runs", headers=probe).status_code != 401:
            assert time.monotonic() < deadline, f"{change}: the cached key is still accepted"
            time.sleep(0.02)


def select_owner(conn: object, key_id: int) -> int:
    from sqlalchemy import select

    from hal9.serve.db import api_keys

    return int(conn.execute(select(api_keys.c.user_id).where(api_keys.c.id == key_id)).scalar_one())  # type: ignore[attr-defined]
