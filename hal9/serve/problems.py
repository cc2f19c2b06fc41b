"""Errors as RFC 9457 ``application/problem+json``, never with a stack trace or the offending input.

Handlers cover ``HTTPException`` (any status), ``RequestValidationError`` (malformed JSON → 400, other
validation errors → 422, with the location and message of each error but not the submitted value,
which might be a password) and any other exception (a generic 500, logged with its context).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from hal9.serve.logging import current_request_id, log_fields

__all__ = [
    "COMMON_RESPONSES",
    "PROBLEM_MEDIA_TYPE",
    "Problem",
    "documented_problem",
    "install_handlers",
    "problem_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
_log = logging.getLogger("hal9.serve.errors")


class Problem(BaseModel):
    """An error answer (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


def documented_problem(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    """The OpenAPI description of an error answer, for a ``responses=`` entry of a route or router.

    The schema is inlined rather than given as ``{"model": Problem}``, which FastAPI would document as
    ``application/json`` (the media type of the route's response class), not ``application/problem+json``.

    Parameters
    ----------
    description : str
        When the status is answered.
    retry_after : bool, default False
        Document a required ``Retry-After`` header (seconds).

    Returns
    -------
    dict
        An OpenAPI response object, e.g. ``responses={409: documented_problem("the run already ended")}``.
    """
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": Problem.model_json_schema()}},
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {
                "description": "seconds to wait before retrying",
                "required": True,
                "schema": {"type": "integer", "minimum": 0},
            }
        }
    return response


COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: documented_problem("malformed request (e.g. a body that is not JSON)"),
    401: documented_problem("missing or invalid credentials"),
    403: documented_problem("forbidden: the credentials lack a scope or role, or may not do this"),
    404: documented_problem("not found (or not visible to the caller)"),
    413: documented_problem("request body too large"),
    422: documented_problem(
        "invalid request: location and message of each error (never the submitted value)"
    ),
    429: documented_problem("rate limit exceeded; Retry-After gives the seconds to wait", retry_after=True),
    503: documented_problem(
        "temporarily unavailable (job queue full, rate limiter unreachable); Retry-After gives the seconds "
        "to wait",
        retry_after=True,
    ),
}
"""Error answers of the authenticated routers, for ``include_router(..., responses=COMMON_RESPONSES)``.

Every error is an RFC 9457 problem document (:class:`Problem`) sent as ``application/problem+json``;
429 and 503 carry ``Retry-After``.
"""


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    """A problem+json response with the standard title of ``status`` and the current request id."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = Problem(
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        request_id=current_request_id(),
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        headers=dict(headers or {}),
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _safe_errors(errors: Any) -> list[dict[str, Any]]:
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
        for e in errors
    ]


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(exc.status_code, detail, headers=exc.headers, instance=request.url.path)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _safe_errors(exc.errors())
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(400, "malformed JSON body", instance=request.url.path)
    return problem_response(422, "request validation failed", errors=errors, instance=request.url.path)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    route = getattr(request.scope.get("route"), "path", request.url.path)
    _log.error(
        "unhandled error",
        exc_info=exc,
        extra=log_fields(exc_type=type(exc).__name__, route=route, method=request.method),
    )
    return problem_response(500, "internal error; quote the request id when reporting it")


def install_handlers(app: FastAPI) -> None:
    """Register the problem+json handlers on ``app``."""
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _unhandled)
