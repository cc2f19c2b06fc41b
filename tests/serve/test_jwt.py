"""Access-token attacks, each refused; and the secret policy of the settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from hal9.serve import Settings
from hal9.serve.security import TokenError, decode_access_token, issue_access_token
from tests.serve.conftest import SECRET, Api


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, environment="test", secret_key=SECRET)


def _claims(s: Settings, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "1", "name": "u", "adm": False, "iss": s.jwt_issuer, "aud": s.jwt_audience}
    base |= {"iat": now, "nbf": now, "exp": now + 60, "typ": "access"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unsigned(s: Settings) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(s))}."


def _rs256(s: Settings) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(_claims(s), key, algorithm="RS256")


def _confusion(s: Settings) -> str:
    """A valid HMAC signature under the server secret, but the header claims RS256."""
    token = jwt.encode(_claims(s), SECRET, algorithm="HS256")
    return f"{_b64({'alg': 'RS256', 'typ': 'JWT'})}.{token.split('.', 1)[1]}"


def _public_key_as_secret(s: Settings) -> str:
    """The classic confusion: HS256 keyed with a (public) RSA key instead of the server secret."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(_claims(s))}"
    sig = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"


def _tampered(s: Settings) -> str:
    head, _, sig = jwt.encode(_claims(s), SECRET, algorithm="HS256").split(".")
    return f"{head}.{_b64(_claims(s, sub='2', adm=True))}.{sig}"


ATTACKS: dict[str, Callable[[Settings], str]] = {
    "alg_none": _unsigned,
    "rs256_header": _rs256,
    "algorithm_confusion": _confusion,
    "public_key_as_hmac_secret": _public_key_as_secret,
    "hs512": lambda s: jwt.encode(_claims(s), SECRET + "x" * 40, algorithm="HS512"),
    "expired": lambda s: jwt.encode(
        _claims(s, iat=int(time.time()) - 120, exp=int(time.time()) - 60), SECRET
    ),
    "nbf_future": lambda s: jwt.encode(_claims(s, nbf=int(time.time()) + 600), SECRET),
    "iat_future": lambda s: jwt.encode(_claims(s, iat=int(time.time()) + 600), SECRET),
    "tampered": _tampered,
    "wrong_key": lambda s: jwt.encode(
        _claims(s), "another-secret-of-sufficient-length-xx", algorithm="HS256"
    ),
    "missing_exp": lambda s: jwt.encode(_claims(s, exp=None), SECRET),
    "missing_sub": lambda s: jwt.encode(_claims(s, sub=None), SECRET),
    "wrong_audience": lambda s: jwt.encode(_claims(s, aud="other-api"), SECRET),
    "wrong_issuer": lambda s: jwt.encode(_claims(s, iss="evil"), SECRET),
    "not_access_type": lambda s: jwt.encode(_claims(s, typ="refresh"), SECRET),
    "garbage": lambda s: "not.a.jwt",
}


def test_valid_token_roundtrip(settings: Settings) -> None:
    token = issue_access_token(settings, user_id=7, username="x", is_admin=False)
    assert decode_access_token(settings, token)["sub"] == "7"
    assert decode_access_token(settings, jwt.encode(_claims(settings), SECRET))["sub"] == "1"


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_rejected(settings: Settings, attack: str) -> None:
    with pytest.raises(TokenError):
        decode_access_token(settings, ATTACKS[attack](settings))


@pytest.mark.parametrize(
    "attack", ["alg_none", "algorithm_confusion", "expired", "tampered", "wrong_audience"]
)
def test_attack_rejected_over_http(api: Api, attack: str) -> None:
    token = ATTACKS[attack](api.services.settings)
    r = api.client.get("/api/v1/runs", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_secret_policy() -> None:
    with pytest.raises(ValidationError, match="must be set"):
        Settings(_env_file=None, environment="production")
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(_env_file=None, environment="production", secret_key="short")
    with pytest.raises(ValidationError, match="published default"):
        Settings(
            _env_file=None,
            environment="production",
            secret_key="change-me-to-a-random-string-of-at-least-32-bytes",
        )
    dev = Settings(_env_file=None, environment="development")
    assert dev.secret_key is not None and len(dev.secret_bytes) >= 32
    assert "**" in repr(dev.secret_key)  # never printed
