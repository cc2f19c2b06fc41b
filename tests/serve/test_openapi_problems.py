"""Errors are documented in the OpenAPI schema as they are sent: RFC 9457 ``application/problem+json``.

The schema checks need ``create_app`` to include its routers with ``problems.COMMON_RESPONSES``; the
live checks confirm the handlers send that media type for each documented error status.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hal9.serve import Settings, create_app
from hal9.serve.accounts import create_user
from hal9.serve.jobs import default_registry
from hal9.serve.problems import COMMON_RESPONSES, PROBLEM_MEDIA_TYPE
from tests.serve.conftest import PASSWORD, make_settings

_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def settings_of(sqlite_url: str, tmp_path: Path, tracking_uri: str) -> Callable[..., Settings]:
    """``settings_of(**overrides)``: test settings on the session's SQLite database."""
    return lambda **overrides: make_settings(sqlite_url, tmp_path, tracking_uri, **overrides)


@pytest.fixture
def spec(settings_of: Callable[..., Settings]) -> dict[str, Any]:
    """The OpenAPI document of an app with the built-in job kinds."""
    return create_app(settings_of()).openapi()


@pytest.fixture
def client(settings_of: Callable[..., Settings]) -> Iterator[TestClient]:
    """A started app with a small body limit and one login attempt per (IP, username) pair."""
    app = create_app(settings_of(max_body_bytes=1_024, login_rate_per_user=1))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in _METHODS and path.startswith("/api/v1/"):
                yield method.upper(), path, operation


def test_common_responses_cover_the_error_statuses() -> None:
    assert set(COMMON_RESPONSES) == {400, 401, 403, 404, 413, 422, 429, 503}
    for status, response in COMMON_RESPONSES.items():
        assert "model" not in response, status  # FastAPI would document a model as application/json
        assert list(response["content"]) == [PROBLEM_MEDIA_TYPE], status
    for status in (429, 503):
        assert "Retry-After" in COMMON_RESPONSES[status]["description"]
        assert COMMON_RESPONSES[status]["headers"]["Retry-After"]["required"] is True


def test_run_submissions_document_429_and_503(spec: dict[str, Any]) -> None:
    expected = {f"/api/v1/runs/{name}" for name in default_registry().names()}
    submissions = {
        path: op for method, path, op in _operations(spec) if method == "POST" and path in expected
    }
    assert set(submissions) == expected
    for path, operation in submissions.items():
        for status in ("429", "503"):
            response = operation["responses"].get(status)
            assert response is not None, f"POST {path} does not document {status}"
            assert list(response.get("content", {})) == [PROBLEM_MEDIA_TYPE], (path, status)
            assert "Retry-After" in response["description"], (path, status)
            assert "Retry-After" in response.get("headers", {}), (path, status)


def test_error_responses_are_documented_as_problem_json(spec: dict[str, Any]) -> None:
    checked = 0
    for method, path, operation in _operations(spec):
        errors = {code: r for code, r in operation["responses"].items() if code[0] in "45"}
        assert {"401", "422", "429"} <= set(errors), f"{method} {path}: {sorted(errors)}"
        if "requestBody" in operation:
            assert "400" in errors, f"{method} {path} takes a body but does not document 400"
        for code, response in errors.items():
            content = response.get("content", {})
            assert list(content) == [PROBLEM_MEDIA_TYPE], f"{method} {path} {code}: {sorted(content)}"
            schema = content[PROBLEM_MEDIA_TYPE]["schema"]
            assert schema.get("$ref", "").endswith("/Problem") or schema.get("title") == "Problem"
            checked += 1
    assert checked >= 12 * 3


def test_handlers_send_problem_json(client: TestClient) -> None:
    username = f"p{secrets.token_hex(5)}"
    services = client.app.state.services  # type: ignore[attr-defined]
    create_user(services.engine, services.passwords, username, PASSWORD, is_admin=False)
    login = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
    json_header = {"content-type": "application/json"}
    answers = {
        400: client.post("/api/v1/auth/login", content=b"{not json", headers=json_header),
        401: client.get("/api/v1/auth/me"),
        403: client.post("/api/v1/users", json={"username": "x1", "password": "long enough"}, headers=auth),
        404: client.get(f"/api/v1/runs/{'0' * 32}", headers=auth),
        413: client.post("/api/v1/auth/login", content=b"x" * 4_096, headers=json_header),
        422: client.post("/api/v1/auth/login", json={"username": username}),
        429: client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD}),
    }
    for status, r in answers.items():
        assert r.status_code == status, (status, r.text)
        assert r.headers["content-type"] == PROBLEM_MEDIA_TYPE, status
        body = r.json()
        assert body["status"] == status and body["title"], status
    assert int(answers[429].headers["retry-after"]) >= 1


def test_rate_limiter_unavailable_is_problem_json_with_retry_after(
    settings_of: Callable[..., Settings],
) -> None:
    app = create_app(settings_of(redis_url="redis://127.0.0.1:1/0"))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/api/v1/auth/login", json={"username": "a", "password": "b"})
    assert r.status_code == 503 and r.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert int(r.headers["retry-after"]) >= 1
