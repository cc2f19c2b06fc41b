"""Credentials: Argon2 passwords, HS256 access tokens, opaque refresh tokens and API keys.

* Passwords are hashed with Argon2id (argon2-cffi); verifying an unknown user costs the same as a known
  one (:meth:`Passwords.verify` checks a dummy hash).
* Access tokens are JWTs signed with HS256 only; ``exp``, ``iat``, ``nbf``, ``sub``, ``iss`` and ``aud``
  are required and checked.
* Refresh tokens and API keys are high-entropy random strings; only their HMAC-SHA256 under the server
  secret is stored (a fast keyed hash is enough for 256-bit secrets, so no slow hash per request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hal9.serve.settings import Settings

__all__ = [
    "ALGORITHMS",
    "API_KEY_PREFIX",
    "SCOPES",
    "Passwords",
    "Principal",
    "TokenError",
    "decode_access_token",
    "issue_access_token",
    "keyed_hash",
    "new_api_key",
    "new_refresh_token",
    "split_api_key",
]

#: The only algorithm accepted for access tokens (an explicit list defeats ``alg=none`` and confusion).
ALGORITHMS = ["HS256"]
#: API key scopes: ``read`` (GET), ``run`` (submit jobs), ``admin`` (manage users; admins only).
SCOPES = ("read", "run", "admin")
API_KEY_PREFIX = "hal9"


def _utf8(text: str) -> bytes:
    """UTF-8 bytes of ``text``; lone surrogates (valid in JSON strings) are kept, not an error."""
    return text.encode("utf-8", "surrogatepass")


class TokenError(Exception):
    """An access token that is malformed, forged, expired, not yet valid or for another audience."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user authenticated by an access token or by one of their API keys."""

    user_id: int
    username: str
    is_admin: bool
    scopes: frozenset[str]
    method: Literal["jwt", "api_key"]
    key_id: int | None = None

    @property
    def label(self) -> str:
        """Identifier for logs and rate-limit keys (never a secret)."""
        return f"user:{self.user_id}" + (f"/key:{self.key_id}" if self.key_id is not None else "")


class Passwords:
    """Argon2id hashing with the cost parameters of the settings."""

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    @classmethod
    def from_settings(cls, settings: Settings) -> Passwords:
        """Hasher configured by ``HAL9_ARGON2_*``."""
        return cls(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)

    def hash(self, password: str) -> str:
        """The encoded Argon2id hash of ``password``."""
        return self._hasher.hash(_utf8(password))

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash``; ``None`` (unknown user) checks a dummy hash."""
        try:
            return (
                self._hasher.verify(stored_hash or self._dummy, _utf8(password)) and stored_hash is not None
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether ``stored_hash`` was made with other cost parameters."""
        return self._hasher.check_needs_rehash(stored_hash)


def keyed_hash(secret: bytes, token: str) -> str:
    """HMAC-SHA256 of ``token`` under the server secret, hex encoded (64 characters)."""
    return hmac.new(secret, _utf8(token), hashlib.sha256).hexdigest()


def issue_access_token(
    settings: Settings, *, user_id: int, username: str, is_admin: bool, now: float | None = None
) -> str:
    """A signed HS256 access token valid for ``settings.access_token_ttl_s``."""
    iat = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "name": username,
        "adm": is_admin,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": iat,
        "nbf": iat,
        "exp": iat + settings.access_token_ttl_s,
        "jti": secrets.token_hex(8),
        "typ": "access",
    }
    return jwt.encode(claims, settings.secret_bytes, algorithm=ALGORITHMS[0])


def decode_access_token(settings: Settings, token: str, *, leeway_s: int = 5) -> dict[str, Any]:
    """Verify ``token`` and return its claims.

    Raises
    ------
    TokenError
        For any failure: bad signature, another algorithm (``none``, ``RS256``, ``HS512``…), a missing
        required claim, expiry, ``nbf``/``iat`` in the future, wrong issuer, audience or token type.
    """
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") not in ALGORITHMS:
            raise TokenError("algorithm not allowed")
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.secret_bytes,
            algorithms=ALGORITHMS,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=leeway_s,
            options={"require": ["exp", "iat", "nbf", "sub", "iss", "aud"]},
        )
    except jwt.PyJWTError as exc:
        raise TokenError(type(exc).__name__) from exc
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or iat > time.time() + leeway_s:
        raise TokenError("issued in the future")
    if claims.get("typ") != "access" or not str(claims.get("sub", "")).isdigit():
        raise TokenError("not an access token")
    return claims


def new_refresh_token() -> str:
    """A new opaque refresh token (256 bits of randomness)."""
    return secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str]:
    """A new API key and its public lookup prefix: ``hal9_<12 hex>_<43 urlsafe chars>``."""
    prefix = secrets.token_hex(6)
    return f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}", prefix


def split_api_key(key: str) -> str | None:
    """The lookup prefix of an API key, or ``None`` if ``key`` does not look like one."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or len(parts[1]) != 12 or len(parts[2]) < 32:
        return None
    if any(c not in "0123456789abcdef" for c in parts[1]):
        return None
    return parts[1]
