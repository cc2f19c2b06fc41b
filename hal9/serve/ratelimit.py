"""Fixed-window rate limits, in process memory or in Redis (shared by every worker process).

A limiter answers :meth:`RateLimiter.hit`: ``None`` when the call is allowed, else the seconds until
the current window ends (the ``Retry-After`` of the 429 answer).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol

__all__ = ["MemoryRateLimiter", "RateLimiter", "RateLimiterUnavailable", "RedisRateLimiter"]


class RateLimiterUnavailable(Exception):
    """The shared limiter (Redis) could not be reached; the request is refused with 503."""


class RateLimiter(Protocol):
    """Counts calls per key in fixed windows."""

    def hit(self, key: str, limit: int, window_s: int) -> float | None:
        """Count one call; ``None`` if allowed, else the seconds until the window ends."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

    def ping(self) -> bool:
        """Whether the limiter's store answers (``/ready``)."""
        ...


class MemoryRateLimiter:
    """Per-process limiter (each worker process counts on its own). Thread-safe."""

    def __init__(self, prefix: str = "hal9:rl", *, max_keys: int = 100_000) -> None:
        self._prefix = prefix
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}

    def hit(self, key: str, limit: int, window_s: int) -> float | None:
        """Count one call of ``key``; at most ``limit`` per ``window_s`` seconds."""
        now = time.time()
        window = int(now // window_s)
        full_key = f"{self._prefix}:{key}:{window_s}"
        with self._lock:
            if len(self._windows) >= self._max_keys:
                self._windows = {k: v for k, v in self._windows.items() if v[0] >= window}
            start, count = self._windows.get(full_key, (window, 0))
            if start != window:
                start, count = window, 0
            count += 1
            self._windows[full_key] = (start, count)
        if count <= limit:
            return None
        return max(1.0, math.ceil((window + 1) * window_s - now))

    def close(self) -> None:
        """Nothing to release."""

    def ping(self) -> bool:
        """Always ``True`` (process memory)."""
        return True


class RedisRateLimiter:
    """Limiter in Redis: ``INCR`` + ``EXPIRE`` of one key per window, so limits hold across workers."""

    def __init__(self, url: str, prefix: str = "hal9:rl", *, timeout_s: float = 1.0) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._prefix = prefix

    def hit(self, key: str, limit: int, window_s: int) -> float | None:
        """Count one call of ``key``; at most ``limit`` per ``window_s`` seconds (all processes)."""
        now = time.time()
        window = int(now // window_s)
        full_key = f"{self._prefix}:{key}:{window_s}:{window}"
        try:
            pipe = self._redis.pipeline()
            pipe.incr(full_key)
            pipe.expire(full_key, window_s + 1)
            count = int(pipe.execute()[0])
        except self._errors as exc:
            raise RateLimiterUnavailable(type(exc).__name__) from exc
        if count <= limit:
            return None
        return max(1.0, math.ceil((window + 1) * window_s - now))

    def close(self) -> None:
        """Close the Redis connection pool."""
        self._redis.close()

    def ping(self) -> bool:
        """Whether Redis answers ``PING``."""
        try:
            return bool(self._redis.ping())
        except self._errors:
            return False
