"""The fault scenario (``scripts/faults.py``) on PostgreSQL, with real processes: nothing accepted is lost.

A smaller run than the documented one (300 jobs, 30 clients) so CI stays fast; the script kills a busy
worker with SIGKILL, terminates every database connection, starts a second API on the same database
and port, and restarts the API, then checks that every accepted run ended, none twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serve.conftest import _pg_reachable, _require

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.faults
@pytest.mark.postgres
def test_fault_scenario_loses_nothing(tmp_path: Path) -> None:
    if not _pg_reachable():
        _require("HAL9_REQUIRE_POSTGRES", "PostgreSQL")
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "faults.py"),
        "--jobs", "300", "--clients", "30", "--rate", "15", "--timeout", "300",
        "--workdir", str(tmp_path), "--json",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HAL9_DATABASE_URL")}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["accepted"] == 300, figures
    assert figures["stuck"] == 0 and figures["lost"] == 0 and figures["duplicated"] == 0, figures
    assert figures["succeeded"] + figures["failed"] == 300, figures
    # failures may only have stated, non-interrupt reasons (a run lost its worker too often)
    assert all("interrupted" not in reason for reason in figures["failed_reasons"]), figures
    events = "\n".join(figures["events"])
    assert "SIGKILL worker" in events and "terminated" in events and "API started again" in events
    assert "second API on the same database" in events
    assert figures["retried"] >= 1  # the killed worker's job ran again
    assert done.returncode == 0
