"""Request and response models of the API.

Inputs forbid unknown fields and there is one input model per role: a user changing their own account
(:class:`PasswordChange`) cannot send ``is_admin``; only :class:`AdminUserCreate` (admin scope) can.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hal9.serve.db import RunStatus

__all__ = [
    "AdminUserCreate",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyOut",
    "JobKindOut",
    "LoginRequest",
    "PasswordChange",
    "RefreshRequest",
    "RunDetail",
    "RunOut",
    "TokenPair",
    "UserOut",
]

_USERNAME = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")
_PASSWORD = Field(..., min_length=1, max_length=1024)
_NEW_PASSWORD = Field(..., min_length=8, max_length=1024)
Scope = Literal["read", "run", "admin"]


def _read_only() -> list[Scope]:
    return ["read"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(_Input):
    """Username and password."""

    username: str = _USERNAME
    password: str = _PASSWORD


class RefreshRequest(_Input):
    """A refresh token (single use: it is rotated on every refresh)."""

    refresh_token: str = Field(..., min_length=1, max_length=256)


class TokenPair(BaseModel):
    """An access token (Bearer, ``expires_in`` seconds) and the refresh token that renews it."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_expires_in: int


class UserOut(BaseModel):
    """A user account (never the password hash)."""

    id: int
    username: str
    is_admin: bool
    is_active: bool
    created_at: datetime


class AdminUserCreate(_Input):
    """A new account, created by an admin."""

    username: str = _USERNAME
    password: str = _NEW_PASSWORD
    is_admin: bool = False


class PasswordChange(_Input):
    """A user changing their own password."""

    current_password: str = _PASSWORD
    new_password: str = _NEW_PASSWORD


class ApiKeyCreate(_Input):
    """A new API key for the calling user."""

    name: str = Field(..., min_length=1, max_length=100, description="printable label")
    scopes: list[Scope] = Field(default_factory=_read_only, min_length=1, max_length=3)
    expires_in_days: int | None = Field(None, ge=1, le=3650, description="none: never expires")

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("name must be printable text")
        return value


class ApiKeyOut(BaseModel):
    """An API key as listed (its secret is never shown again)."""

    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    """A new API key, with its secret: shown once, store it now."""

    key: str


class RunOut(BaseModel):
    """A job run as listed."""

    id: str
    kind: str
    status: RunStatus
    config: dict[str, Any]
    mlflow_run_id: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int = Field(0, description="executions started (a retry after a lost worker adds one)")
    retries: int = Field(0, description="times the run went back to the queue (lost worker, shut-down)")
    cancel_requested: bool = False


class RunDetail(RunOut):
    """A job run with its result summary (``None`` until it succeeded)."""

    result: dict[str, Any] | None


class JobKindOut(BaseModel):
    """A job kind and the JSON schema of its config."""

    name: str
    summary: str
    config_schema: dict[str, Any]
