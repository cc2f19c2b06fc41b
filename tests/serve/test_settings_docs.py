"""Every setting is documented in ``.env.example`` and in the settings table of ``docs/serving.md``."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal9.serve import JobLimits, Settings

ROOT = Path(__file__).resolve().parents[2]
UNPREFIXED = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL"}
NAMES = sorted((set(Settings.model_fields) - {"limits"}) | set(JobLimits.model_fields))


@pytest.mark.parametrize("doc", [".env.example", "docs/serving.md"])
def test_every_setting_is_documented(doc: str) -> None:
    text = (ROOT / doc).read_text()
    missing = [n for n in NAMES if UNPREFIXED.get(n, f"HAL9_{n.upper()}") not in text]
    assert missing == []
