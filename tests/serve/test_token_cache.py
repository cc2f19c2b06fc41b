"""Verified access tokens are cached per app: by exact string, only until they expire."""

from __future__ import annotations

import time

from hal9.serve.security import issue_access_token
from tests.serve.conftest import Api


def test_verified_token_cache(api: Api) -> None:
    user = api.user()
    cache = api.services.verified_tokens
    assert api.client.get("/api/v1/runs", headers=user.headers).status_code == 200
    assert user.token in cache
    forged = user.token[:-2] + ("AA" if not user.token.endswith("AA") else "BB")
    assert api.client.get("/api/v1/runs", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert forged not in cache
    # an expired token is refused even if an (impossible) stale entry says otherwise
    s = api.services.settings
    old = issue_access_token(
        s, user_id=user.id, username=user.username, is_admin=False, now=time.time() - 2 * s.access_token_ttl_s
    )
    cache[old] = (time.time() - 1, {"sub": str(user.id)})
    assert api.client.get("/api/v1/runs", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert old not in cache
