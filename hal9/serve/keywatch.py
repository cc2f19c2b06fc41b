"""Revocations of API keys pushed to every API process (PostgreSQL ``LISTEN/NOTIFY``).

The API-key cache (:class:`~hal9.serve.deps.KeyCache`) saves one query per request. On its own a cache
lets another process accept a revoked key until its entry expires. With a :class:`KeyWatcher` each
process listens on the channel ``hal9_api_keys``. Triggers of migration 0002 send ``pg_notify`` with the
key's prefix when an API key row is updated or deleted (revocation, expiry — through the API, the CLI or
plain SQL), and ``'*'`` when a user's ``is_active``/``is_admin`` changes or the user is deleted, so every
process drops the entry when the change commits (milliseconds).
While the listening connection is down the cache is switched off (every request reads the database), so a
lost notification can never keep a revoked key alive.
"""

from __future__ import annotations

import asyncio
import logging

from hal9.serve.deps import KeyCache

__all__ = ["CHANNEL", "KeyWatcher"]

_log = logging.getLogger("hal9.serve")
CHANNEL = "hal9_api_keys"


class KeyWatcher:
    """Listens for key changes and keeps ``cache`` enabled only while it listens.

    Parameters
    ----------
    conninfo : str
        libpq URL of the database.
    cache : KeyCache
        Enabled once ``LISTEN`` is in place; disabled (and emptied) when the connection is lost.
    """

    def __init__(self, conninfo: str, cache: KeyCache) -> None:
        self._conninfo = conninfo
        self._cache = cache
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    async def start(self) -> None:
        """Start listening in a background task (returns at once)."""
        self._task = asyncio.create_task(self._run(), name="hal9-key-watcher")

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        self._cache.disable()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        import psycopg

        backoff = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, application_name="hal9-api-keys"
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._cache.enable()
                    self.listening.set()
                    backoff = 0.5
                    async for note in conn.notifies():
                        if note.payload == "*":  # a user's role or activity changed
                            self._cache.clear()
                        else:
                            self._cache.forget(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning(
                    "API-key change listener lost; key cache off until it is back",
                    extra={"exc_type": type(exc).__name__},
                )
            self._cache.disable()
            self.listening.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
