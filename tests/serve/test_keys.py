"""API keys: shown once, stored as a keyed hash, scoped, expiring, revocable, private to their owner."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from hal9.serve.db import api_keys, utcnow
from tests.serve.conftest import Api


def _key(api: Api, headers: dict[str, str], **body: object) -> dict:
    r = api.client.post("/api/v1/keys", json={"name": "ci", **body}, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_create_use_list_revoke(api: Api) -> None:
    user = api.user()
    created = _key(api, user.headers, scopes=["read"])
    key = created["key"]
    assert key.startswith(f"hal9_{created['prefix']}_")
    with api.services.engine.connect() as conn:
        stored = conn.execute(select(api_keys.c.key_hash).where(api_keys.c.id == created["id"])).scalar_one()
    assert key not in stored and len(stored) == 64  # HMAC-SHA256 hex, never the key
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        assert api.client.get("/api/v1/runs", headers=headers).status_code == 200
    listed = api.client.get("/api/v1/keys", headers={"X-API-Key": key}).json()
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    assert api.client.delete(f"/api/v1/keys/{created['id']}", headers=user.headers).status_code == 204
    assert api.client.get("/api/v1/runs", headers={"X-API-Key": key}).status_code == 401
    assert api.client.delete(f"/api/v1/keys/{created['id']}", headers=user.headers).status_code == 404


def test_scopes_enforced(api: Api) -> None:
    user = api.user()
    read_key = _key(api, user.headers, scopes=["read"])["key"]
    r = api.client.post("/api/v1/runs/simulation", json={"neurons": 20}, headers={"X-API-Key": read_key})
    assert r.status_code == 403
    # a normal user cannot mint an admin key; a key cannot mint keys
    assert (
        api.client.post(
            "/api/v1/keys", json={"name": "x", "scopes": ["admin"]}, headers=user.headers
        ).status_code
        == 403
    )
    assert (
        api.client.post("/api/v1/keys", json={"name": "x"}, headers={"X-API-Key": read_key}).status_code
        == 403
    )
    admin = api.user(admin=True)
    admin_key = _key(api, admin.headers, scopes=["read", "admin"])["key"]
    new = {"username": f"k{user.username}", "password": "long enough pw"}
    assert api.client.post("/api/v1/users", json=new, headers={"X-API-Key": admin_key}).status_code == 201


def test_expired_and_forged_keys(api: Api) -> None:
    user = api.user()
    created = _key(api, user.headers, expires_in_days=1)
    assert created["expires_at"] is not None
    with api.services.engine.begin() as conn:
        conn.execute(
            update(api_keys)
            .where(api_keys.c.id == created["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert api.client.get("/api/v1/runs", headers={"X-API-Key": created["key"]}).status_code == 401
    other = _key(api, user.headers)["key"]
    forged = other[:-4] + ("aaaa" if not other.endswith("aaaa") else "bbbb")
    assert api.client.get("/api/v1/runs", headers={"X-API-Key": forged}).status_code == 401


def test_keys_are_private(api: Api) -> None:
    alice, bob = api.user(), api.user()
    created = _key(api, alice.headers)
    assert api.client.get("/api/v1/keys", headers=bob.headers).json() == []
    assert api.client.delete(f"/api/v1/keys/{created['id']}", headers=bob.headers).status_code == 404
    assert api.client.get("/api/v1/runs", headers={"X-API-Key": created["key"]}).status_code == 200
