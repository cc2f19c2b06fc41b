"""Login, refresh rotation with reuse detection, logout, roles and login rate limits."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from hal9.serve.accounts import create_user
from hal9.serve.db import audit_log, users
from tests.serve.conftest import PASSWORD, Api


def _login(api: Api, username: str, password: str = PASSWORD) -> dict:
    r = api.client.post("/api/v1/auth/login", json={"username": username, "password": password})
    return {"status": r.status_code, **(r.json() if r.content else {}), "headers": r.headers}


def test_login_issues_tokens_and_me(api: Api) -> None:
    user = api.user()
    out = _login(api, user.username)
    assert out["status"] == 200 and out["token_type"] == "bearer" and out["expires_in"] == 900
    assert out["headers"]["cache-control"] == "no-store"
    me = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {out['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == user.username
    assert "password_hash" not in me.json()


def test_wrong_password_and_unknown_user_are_alike(api: Api) -> None:
    user = api.user()
    wrong = _login(api, user.username, "nope")
    unknown = _login(api, "nobody-here", "nope")
    assert wrong["status"] == unknown["status"] == 401
    assert wrong["detail"] == unknown["detail"]
    assert wrong["headers"]["content-type"] == "application/problem+json"
    with api.services.engine.connect() as conn:
        events = conn.execute(select(audit_log.c.event).where(audit_log.c.user_id == user.id)).scalars().all()
    assert "login_failed" in events and "login" in events


def test_password_is_hashed_with_argon2(api: Api) -> None:
    user = api.user()
    with api.services.engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash).where(users.c.id == user.id)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_refresh_rotates_and_reuse_revokes_family(api: Api) -> None:
    user = api.user()
    first = _login(api, user.username)["refresh_token"]
    r = api.client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert r.status_code == 200
    second = r.json()["refresh_token"]
    assert second != first
    # reusing the first token: refused, and the whole family (second included) is revoked
    assert api.client.post("/api/v1/auth/refresh", json={"refresh_token": first}).status_code == 401
    assert api.client.post("/api/v1/auth/refresh", json={"refresh_token": second}).status_code == 401
    assert api.client.post("/api/v1/auth/refresh", json={"refresh_token": "garbage"}).status_code == 401


def test_logout_revokes_refresh_token(api: Api) -> None:
    user = api.user()
    tokens = _login(api, user.username)
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    body = {"refresh_token": tokens["refresh_token"]}
    assert api.client.post("/api/v1/auth/logout", json=body).status_code == 401
    assert api.client.post("/api/v1/auth/logout", json=body, headers=auth).status_code == 204
    assert api.client.post("/api/v1/auth/refresh", json=body).status_code == 401


def test_roles_no_mass_assignment(api: Api) -> None:
    user = api.user()
    admin = api.user(admin=True)
    new = {"username": "made-by-admin", "password": "long enough pw", "is_admin": False}
    assert api.client.post("/api/v1/users", json=new, headers=user.headers).status_code == 403
    r = api.client.post("/api/v1/users", json={**new, "username": f"m{user.username}"}, headers=admin.headers)
    assert r.status_code == 201 and r.json()["is_admin"] is False
    # the self-service schema has no is_admin: an attempt to set it is an unknown field
    change = {"current_password": PASSWORD, "new_password": "another long pw", "is_admin": True}
    r = api.client.post("/api/v1/users/me/password", json=change, headers=user.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["type"] == "extra_forbidden"
    del change["is_admin"]
    assert api.client.post("/api/v1/users/me/password", json=change, headers=user.headers).status_code == 204
    assert _login(api, user.username, "another long pw")["status"] == 200


def test_login_rate_limited_per_ip_and_username(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(login_rate_per_user=3, login_rate_per_ip=100)
    user = api.user()  # one login
    statuses = [_login(api, user.username, "bad")["status"] for _ in range(3)]
    assert statuses == [401, 401, 429]
    limited = _login(api, user.username)
    assert limited["status"] == 429 and int(limited["headers"]["retry-after"]) >= 1
    assert _login(api, "someone-else", "bad")["status"] == 401  # other usernames unaffected


def _client_at(api: Api, ip: str) -> TestClient:
    """A second client of ``api``'s (already started) app whose requests come from ``ip``."""
    return TestClient(api.client.app, raise_server_exceptions=False, client=(ip, 50000))


def test_failed_logins_from_one_ip_do_not_lock_out_the_user(api_factory: Callable[..., Api]) -> None:
    """An attacker's failures against a username (at one address) never stop its owner at another."""
    api = api_factory(login_rate_per_user=3, login_rate_per_ip=100)
    name = f"alice-{secrets.token_hex(4)}"
    create_user(api.services.engine, api.services.passwords, name, PASSWORD, is_admin=False)
    attacker, owner = _client_at(api, "203.0.113.7"), _client_at(api, "198.51.100.2")
    url = "/api/v1/auth/login"
    try:
        # brute force from one address against one user is cut off, even with the right password
        codes = [attacker.post(url, json={"username": name, "password": f"guess{i}"}) for i in range(4)]
        assert [r.status_code for r in codes] == [401, 401, 401, 429]
        blocked = attacker.post(url, json={"username": name, "password": PASSWORD})
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
        assert blocked.headers["content-type"] == "application/problem+json"
        # ... but the owner, at another address, still logs in (after a typo)
        assert owner.post(url, json={"username": name, "password": "typo"}).status_code == 401
        ok = owner.post(url, json={"username": name, "password": PASSWORD})
        assert ok.status_code == 200 and ok.json()["token_type"] == "bearer"
        # the owner's address has a count of its own (every attempt counts, in any letter case)
        assert owner.post(url, json={"username": name.upper(), "password": "x"}).status_code == 401
        assert owner.post(url, json={"username": name, "password": PASSWORD}).status_code == 429
    finally:
        attacker.close()
        owner.close()


def test_login_rate_keys_pair_ip_and_username() -> None:
    from hal9.serve.routes.auth import login_rate_keys

    assert login_rate_keys("10.0.0.1", "Alice") == ("login:ip:10.0.0.1", "login:ipuser:10.0.0.1:alice")
    assert login_rate_keys("10.0.0.1", "alice")[1] != login_rate_keys("10.0.0.2", "alice")[1]
    assert login_rate_keys("::1", "alice")[1] == "login:ipuser:::1:alice"


def test_login_rate_limited_per_ip(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(login_rate_per_user=100, login_rate_per_ip=2)
    assert [_login(api, f"name{i}", "x")["status"] for i in range(3)] == [401, 401, 429]


def test_unknown_user_still_runs_a_password_hash(api: Api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[str | None] = []
    verify = api.services.passwords.verify

    def spy(stored: str | None, password: str) -> bool:
        calls.append(stored)
        return verify(stored, password)

    monkeypatch.setattr(api.services.passwords, "verify", spy)
    assert _login(api, "no-such-user", "whatever")["status"] == 401
    assert calls == [None]  # Passwords.verify(None, …) checks the dummy Argon2 hash
