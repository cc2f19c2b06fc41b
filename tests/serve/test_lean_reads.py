"""The lean PostgreSQL read path (psycopg pool, prepared statements) answers exactly as the Core path."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from hal9.serve import create_app
from hal9.serve.db import api_keys, runs, utcnow
from tests.serve.conftest import Api, make_settings

pytestmark = pytest.mark.postgres


def _seed_runs(api: Api, owner_id: int) -> list[str]:
    now = utcnow()
    ids = []
    with api.services.engine.begin() as conn:
        for i, (kind, status) in enumerate(
            [("simulation", "succeeded"), ("organize", "failed"), ("simulation", "queued")]
        ):
            run_id = uuid.uuid4().hex
            ids.append(run_id)
            conn.execute(
                insert(runs).values(
                    id=run_id,
                    owner_id=owner_id,
                    kind=kind,
                    config={"seed": i, "nested": {"x": [1, 2]}},
                    status=status,
                    result={"value": i / 3} if status == "succeeded" else None,
                    error="ValueError: boom" if status == "failed" else None,
                    created_at=now - timedelta(minutes=i),
                    finished_at=now if status != "queued" else None,
                )
            )
    return ids


def test_lean_and_core_reads_agree(pg_url: str, tmp_path: Path, tracking_uri: str) -> None:
    def app(lean: bool) -> TestClient:
        return TestClient(
            # no key cache: this test checks what each read path sees straight after a change
            create_app(make_settings(pg_url, tmp_path, tracking_uri, db_lean_reads=lean, api_key_cache_s=0)),
            raise_server_exceptions=False,
        )

    with app(True) as lean_client, app(False) as core_client:
        lean_api, core_api = Api(lean_client), Api(core_client)
        assert lean_api.services.lean is not None and core_api.services.lean is None
        alice, bob = lean_api.user(), lean_api.user()
        ids = _seed_runs(lean_api, alice.id)
        _seed_runs(lean_api, bob.id)
        r = lean_client.post("/api/v1/keys", json={"name": "k", "scopes": ["read"]}, headers=alice.headers)
        key, key_id = r.json()["key"], r.json()["id"]
        paths = [
            "/api/v1/runs",
            "/api/v1/runs?kind=simulation",
            "/api/v1/runs?status=failed",
            "/api/v1/runs?kind=simulation&status=queued",
            "/api/v1/runs?limit=1&offset=1",
            *(f"/api/v1/runs/{i}" for i in ids),
        ]
        for headers in (alice.headers, {"X-API-Key": key}):
            for path in paths:
                a, b = lean_client.get(path, headers=headers), core_client.get(path, headers=headers)
                assert a.status_code == b.status_code == 200, (path, a.text)
                assert a.json() == b.json(), path
        listed = lean_client.get("/api/v1/runs", headers={"X-API-Key": key}).json()
        assert [r["id"] for r in listed] == ids  # newest first, only alice's
        assert listed[0]["created_at"].endswith("Z") or "+00:00" in listed[0]["created_at"]
        # another user's run: 404 on both paths
        bob_runs = lean_client.get("/api/v1/runs", headers=bob.headers).json()
        for client in (lean_client, core_client):
            assert client.get(f"/api/v1/runs/{bob_runs[0]['id']}", headers=alice.headers).status_code == 404
        # revocation and expiry are seen by the lean key lookup at once
        this_key = update(api_keys).where(api_keys.c.id == key_id)
        with lean_api.services.engine.begin() as conn:
            conn.execute(this_key.values(expires_at=utcnow() - timedelta(seconds=1)))
        assert lean_client.get("/api/v1/runs", headers={"X-API-Key": key}).status_code == 401
        with lean_api.services.engine.begin() as conn:
            conn.execute(this_key.values(expires_at=None, revoked_at=utcnow()))
        assert lean_client.get("/api/v1/runs", headers={"X-API-Key": key}).status_code == 401
