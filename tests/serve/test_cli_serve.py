"""``hal9 serve migrate`` and ``hal9 serve create-user`` in-process; the parser stays import-light."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from hal9.cli.main import main
from hal9.serve.db import make_engine, users
from hal9.serve.migrate import is_at_head
from tests.serve.conftest import SECRET


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path.as_posix()}/cli.db"
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("HAL9_ENVIRONMENT", "test")
    monkeypatch.setenv("HAL9_SECRET_KEY", SECRET)
    monkeypatch.setenv("HAL9_ARGON2_MEMORY_KIB", "8")
    monkeypatch.setenv("HAL9_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("HAL9_ARGON2_PARALLELISM", "1")
    return url


def test_migrate_and_create_user(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "migrate"]) == 0
    engine = make_engine(env)
    assert is_at_head(engine)
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long password\n"))
    assert main(["serve", "create-user", "--username", "root", "--password-stdin", "--admin"]) == 0
    assert "created user 'root'" in capsys.readouterr().out
    with engine.connect() as conn:
        row = conn.execute(
            select(users.c.is_admin, users.c.password_hash).where(users.c.username == "root")
        ).one()
    assert row.is_admin and "a long password" not in row.password_hash
    assert main(["serve", "create-user", "--username", "root", "--password", "another pw!"]) == 2
    assert main(["serve", "create-user", "--username", "bad name", "--password", "long enough"]) == 2
    assert main(["serve", "create-user", "--username", "x", "--password", "short"]) == 2
    engine.dispose()


def test_invalid_settings_exit_2(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HAL9_ENVIRONMENT", "production")
    monkeypatch.setenv("HAL9_SECRET_KEY", "short")
    with pytest.raises(SystemExit) as exc:
        main(["serve", "migrate"])
    assert exc.value.code == 2 and "at least 32 bytes" in capsys.readouterr().err


def test_parser_does_not_import_fastapi() -> None:
    probe = "import sys; from hal9.cli.main import _parser; _parser(); print('fastapi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_migrate_downgrade_and_back(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--downgrade -1` rolls one migration back; an unknown revision is a clear error, no traceback."""
    from hal9.serve.migrate import current_revision, head_revision

    assert main(["serve", "migrate"]) == 0
    engine = make_engine(env)
    head = head_revision()
    assert main(["serve", "migrate", "--downgrade", "-1"]) == 0
    previous = current_revision(engine)
    assert previous is not None and previous != head
    assert f"at migration {previous} (was {head})" in capsys.readouterr().out
    assert main(["serve", "migrate", "--revision", "-1"]) == 2  # relative upgrade: refused, not a crash
    assert "migration:" in capsys.readouterr().err
    assert main(["serve", "migrate"]) == 0
    assert is_at_head(engine)
    engine.dispose()
