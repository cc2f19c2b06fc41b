"""One pure-ASGI middleware for every request: request id, body limit, headers, access log, metrics.

Pure ASGI (not ``BaseHTTPMiddleware``) keeps the per-request overhead small on the hot read path.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hal9.serve.logging import request_id_var, valid_request_id
from hal9.serve.metrics import ServeMetrics
from hal9.serve.problems import problem_response

__all__ = ["SECURITY_HEADERS", "RequestMiddleware"]

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
)
_access = logging.getLogger("hal9.serve.access")
_errors = logging.getLogger("hal9.serve.errors")


class RequestMiddleware:
    """Wraps the app: assigns the request id, enforces ``max_body_bytes``, adds security headers
    (and ``Cache-Control: no-store`` under ``/api/``), turns any escaped exception into a generic 500
    problem, logs one access line and records the request metrics.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: ServeMetrics) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        raw_id = headers.get(b"x-request-id")
        request_id = valid_request_id(raw_id.decode("latin-1") if raw_id is not None else None)
        token = request_id_var.set(request_id)
        state: dict[str, Any] = {"status": 500, "started": False}
        no_store = scope["path"].startswith("/api/")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                out = list(message.get("headers", []))
                present = {k.lower() for k, _ in out}
                out += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                out.append((b"x-request-id", request_id.encode()))
                if no_store and b"cache-control" not in present:
                    out.append((b"cache-control", b"no-store"))
                message = {**message, "headers": out}
            await send(message)

        received = 0

        async def receive_wrapper() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(413, f"request body larger than {self.max_body_bytes} bytes")
            return message

        try:
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                status = 413 if length.isdigit() else 400
                await _send_problem(
                    scope, receive, send_wrapper, status, "request body too large or bad Content-Length"
                )
            else:
                await self.app(scope, receive_wrapper, send_wrapper)
        except Exception as exc:
            route = _route_template(scope)
            _errors.error(
                "unhandled error",
                exc_info=exc,
                extra={"request_id": request_id, "exc_type": type(exc).__name__, "route": route},
            )
            if not state["started"]:
                await _send_problem(
                    scope,
                    receive,
                    send_wrapper,
                    500,
                    "internal error; quote the request id when reporting it",
                )
        finally:
            self._record(scope, state["status"], time.perf_counter() - start, request_id)
            request_id_var.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route = _route_template(scope)
        method = scope["method"]
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.latency.labels(method, route, str(status)).observe(seconds)
        if self.metrics.flushers:
            self.metrics.flush()
        principal = scope.get("state", {}).get("principal")
        _access.info(
            "request",
            extra={
                "request_id": request_id,
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "principal": principal,
            },
        )


def _route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/v1/runs/{run_id}``); ``<unmatched>`` for 404s."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


async def _send_problem(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    await problem_response(status, detail)(scope, receive, send)
