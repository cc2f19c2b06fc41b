"""Rate limiters: in memory (per process) and in Redis (shared by every worker process)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest

from hal9.serve.ratelimit import MemoryRateLimiter, RateLimiter, RateLimiterUnavailable, RedisRateLimiter
from tests.serve.conftest import REDIS_URL, Api, _require


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A unique key prefix; its keys are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        _require("HAL9_REQUIRE_REDIS", "Redis")
    prefix = f"hal9test:{secrets.token_hex(6)}"
    yield prefix
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def _memory(prefix: str) -> RateLimiter:
    return MemoryRateLimiter(prefix)


def _redis(prefix: str) -> RateLimiter:
    return RedisRateLimiter(REDIS_URL, prefix)


def _limiter(kind: str, request: pytest.FixtureRequest) -> Callable[[], RateLimiter]:
    if kind == "memory":
        prefix = "mem"
        return lambda: _memory(prefix)
    prefix = request.getfixturevalue("redis_prefix")
    return lambda: _redis(prefix)


@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_fixed_window(kind: str, request: pytest.FixtureRequest) -> None:
    limiter = _limiter(kind, request)()
    assert [limiter.hit("k", 3, 3600) for _ in range(3)] == [None, None, None]
    retry = limiter.hit("k", 3, 3600)
    assert retry is not None and 1 <= retry <= 3600
    assert limiter.hit("other", 3, 3600) is None
    limiter.close()


@pytest.mark.redis
def test_redis_limit_is_shared_between_processes(redis_prefix: str) -> None:
    # two limiters stand for two worker processes: they share the count
    a, b = _redis(redis_prefix), _redis(redis_prefix)
    assert a.hit("login", 2, 3600) is None and b.hit("login", 2, 3600) is None
    assert a.hit("login", 2, 3600) is not None and b.hit("login", 2, 3600) is not None
    a.close()
    b.close()


def test_redis_down_is_reported() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", "x", timeout_s=0.2)
    with pytest.raises(RateLimiterUnavailable):
        limiter.hit("k", 1, 60)
    limiter.close()


@pytest.mark.redis
def test_login_limit_holds_across_apps_with_redis(api_factory: Callable[..., Api], redis_prefix: str) -> None:
    settings = {"redis_url": REDIS_URL, "rate_limit_prefix": redis_prefix, "login_rate_per_user": 2}
    one, two = api_factory(**settings), api_factory(**settings)
    body = {"username": "shared-name", "password": "wrong"}
    codes = [app.client.post("/api/v1/auth/login", json=body).status_code for app in (one, two, one, two)]
    assert codes == [401, 401, 429, 429]


def test_redis_unreachable_app_answers_503(api_factory: Callable[..., Api]) -> None:
    api = api_factory(redis_url="redis://127.0.0.1:1/0")
    r = api.client.post("/api/v1/auth/login", json={"username": "a", "password": "b"})
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"


@pytest.mark.redis
def test_job_limit_holds_across_apps_with_redis(api_factory: Callable[..., Api], redis_prefix: str) -> None:
    settings = {"redis_url": REDIS_URL, "rate_limit_prefix": redis_prefix, "job_rate_per_principal": 2}
    one = api_factory(**settings)
    two = api_factory(**settings)
    user = one.user()  # same database: the user exists for both apps
    body = {"A": [[0.1, 0.0], [0.0, 0.1]], "measure": "mi"}
    codes = [
        app.client.post("/api/v1/runs/metrics", json=body, headers=user.headers).status_code
        for app in (one, two, one)
    ]
    assert codes == [202, 202, 429]
    for run in one.client.get("/api/v1/runs", headers=user.headers).json():
        one.wait(run["id"], user.headers)
