"""Every route needs credentials; bad input is a 4xx problem; headers, request ids, CORS, 500s."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

from tests.serve.conftest import Api

#: Routes reachable without credentials, on purpose.
PUBLIC = {
    "/health",
    "/ready",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
}


def _concrete(path: str) -> str:
    return re.sub(
        r"\{(\w+)\}", lambda m: "1" if m.group(1).endswith("_id") and "key" in m.group(1) else "0" * 32, path
    )


def _routes(routes: list[Any]) -> Iterator[Any]:
    """The app's routes, with included routers flattened (FastAPI includes them lazily)."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from _routes(route.original_router.routes)
        else:
            yield route


def test_every_route_requires_credentials(api: Api) -> None:
    checked = 0
    routes = list(_routes(api.client.app.routes))  # type: ignore[attr-defined]
    paths = {getattr(r, "path", "") for r in routes}
    assert set(api.client.get("/openapi.json").json()["paths"]) <= paths
    for route in routes:
        path = getattr(route, "path", "")
        if path in PUBLIC:
            continue
        methods = route.methods if isinstance(route, APIRoute) else getattr(route, "methods", {"GET"})
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            for headers in (
                {},
                {"Authorization": "Bearer invalid"},
                {"X-API-Key": "hal9_000000000000_" + "x" * 43},
            ):
                r = api.client.request(method, _concrete(path), json={}, headers=headers)
                assert r.status_code == 401, (method, path, headers, r.status_code)
                assert r.headers["content-type"] == "application/problem+json"
            checked += 1
    assert checked >= 12  # auth, users, keys, runs x3 kinds, job-kinds, metrics…


def test_public_routes(api: Api) -> None:
    from importlib.metadata import version

    assert api.client.get("/health").json() == {"status": "ok", "version": version("hal9-research")}
    assert api.client.get("/ready").json()["status"] == "ready"
    assert api.client.get("/openapi.json").json()["openapi"].startswith("3.")
    assert api.client.get("/docs").status_code == 200


def test_security_headers_and_request_id(api: Api) -> None:
    r = api.client.get("/health", headers={"X-Request-ID": "abc.DEF-123_x"})
    assert r.headers["x-request-id"] == "abc.DEF-123_x"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer"
    bad = api.client.get("/health", headers={"X-Request-ID": "evil\tvalue" + "x" * 80})
    assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["x-request-id"])


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"neurons": "many"}', 422),
        (b'{"neurons": 10000000}', 422),
        (b'{"neurons": 100, "steps": -1}', 422),
        (b'{"neurons": 100, "is_admin": true}', 422),
        (b"[1, 2, 3]", 422),
        (b'{"tau": NaN}', 422),
    ],
)
def test_bad_job_input_is_4xx_problem_and_writes_nothing(api: Api, body: bytes, status: int) -> None:
    user = api.user()
    headers = {**user.headers, "content-type": "application/json"}
    r = api.client.post("/api/v1/runs/simulation", content=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in r.text and "many" not in r.text  # no stack trace, no echo of the input
    assert api.client.get("/api/v1/runs", headers=user.headers).json() == []


def test_metrics_job_rejects_unstable_or_non_square(api: Api) -> None:
    user = api.user()
    for a in ([[1.5, 0.0], [0.0, 0.1]], [[0.1, 0.0], [0.0]], [[0.1] * 9] * 9):
        r = api.client.post("/api/v1/runs/metrics", json={"A": a}, headers=user.headers)
        assert r.status_code == 422, a


def test_oversize_body_is_413(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(max_body_bytes=2048)
    user = api.user()
    big = b'{"neurons": 100, "pad": "' + b"x" * 5000 + b'"}'
    r = api.client.post(
        "/api/v1/runs/simulation", content=big, headers={**user.headers, "content-type": "application/json"}
    )
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"

    def chunks():  # no Content-Length: counted while streaming
        yield b'{"neurons": 100, "pad": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    r = api.client.post(
        "/api/v1/runs/simulation",
        content=chunks(),
        headers={**user.headers, "content-type": "application/json"},
    )
    assert r.status_code == 413
    assert api.client.get("/api/v1/runs", headers=user.headers).json() == []


def test_unknown_route_and_other_users_ids_are_404(api: Api) -> None:
    user = api.user()
    assert api.client.get("/api/v1/nope", headers=user.headers).status_code == 404
    r = api.client.get("/api/v1/runs/" + "0" * 32, headers=user.headers)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert api.client.get("/api/v1/runs/not-hex", headers=user.headers).status_code == 422


def test_cors_closed_by_default_and_allow_list(api_factory) -> None:  # type: ignore[no-untyped-def]
    pre = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    closed = api_factory()
    r = closed.client.options("/api/v1/runs", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    opened = api_factory(cors_origins=["https://ok.example"])
    assert "access-control-allow-origin" not in opened.client.options("/api/v1/runs", headers=pre).headers
    ok = opened.client.options("/api/v1/runs", headers={**pre, "Origin": "https://ok.example"})
    assert ok.headers["access-control-allow-origin"] == "https://ok.example"


def test_unhandled_error_is_generic_500(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    def boom() -> None:
        raise RuntimeError("secret internal detail")

    api.client.app.add_api_route("/boom", boom)  # type: ignore[attr-defined]
    r = api.client.get("/boom", headers={"X-Request-ID": "req-500"})
    assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
    assert "secret internal detail" not in r.text and "Traceback" not in r.text
    assert r.json()["request_id"] == "req-500" and r.headers["x-request-id"] == "req-500"
    errors = [rec for rec in caplog.records if rec.name == "hal9.serve.errors"]
    assert errors and errors[0].request_id == "req-500" and errors[0].exc_type == "RuntimeError"  # type: ignore[attr-defined]


def test_first_admin_from_settings(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(admin_username="boss-admin", admin_password="boss password 1")
    r = api.client.post("/api/v1/auth/login", json={"username": "boss-admin", "password": "boss password 1"})
    assert r.status_code == 200
    me = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.json()["is_admin"] is True


def test_ready_needs_migrated_database(tmp_path, tracking_uri) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from hal9.serve import create_app
    from tests.serve.conftest import make_settings

    app = create_app(make_settings(f"sqlite:///{tmp_path.as_posix()}/empty.db", tmp_path, tracking_uri))
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/ready")
        assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
        assert client.get("/health").status_code == 200


def test_ready_with_a_newer_or_older_schema(tmp_path, tracking_uri) -> None:  # type: ignore[no-untyped-def]
    """A newer release's migration (unknown revision) keeps old pods ready during a rollout; behind is not."""
    from fastapi.testclient import TestClient
    from sqlalchemy import text

    from hal9.serve import create_app
    from hal9.serve.db import make_engine
    from hal9.serve.migrate import downgrade, upgrade
    from tests.serve.conftest import make_settings

    url = f"sqlite:///{tmp_path.as_posix()}/schema.db"
    engine = make_engine(url)
    upgrade(engine)
    app = create_app(make_settings(url, tmp_path, tracking_uri))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/ready").status_code == 200
        with engine.begin() as conn:  # as if a newer release's migration Job had committed
            conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed9999'"))
        r = client.get("/ready")
        assert r.status_code == 200, r.text
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0002'"))
        downgrade(engine, "-1")
        assert client.get("/ready").status_code == 503
    engine.dispose()
