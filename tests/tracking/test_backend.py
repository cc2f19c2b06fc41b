"""Tracking URI resolution, the reachability probe, automatic tags and lazy imports (no MLflow store)."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from hal9.tracking import default_tracking_uri
from hal9.tracking._backend import fast_http_failure, probe_backend
from hal9.tracking._tags import default_tags, device_name, git_commit


def test_default_uri_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HAL9_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert default_tracking_uri() == f"sqlite:///{tmp_path.as_posix()}/mlflow.db"
    assert default_tracking_uri().startswith("sqlite:////")  # absolute path
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert default_tracking_uri() == "http://mlflow:5000"
    monkeypatch.setenv("HAL9_TRACKING_URI", "postgresql://postgres@127.0.0.1:5432/test")
    assert default_tracking_uri() == "postgresql://postgres@127.0.0.1:5432/test"


def test_fast_http_failure_restores_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")  # set by the user: kept
    with fast_http_failure("http://127.0.0.1:9"):
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "30"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "30"
    with fast_http_failure("https://mlflow.example", setup=False):
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "3"
    with fast_http_failure("sqlite:///x.db"):
        assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    assert "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR" not in os.environ


@pytest.mark.parametrize("status", [200, 503])
def test_probe_accepts_any_http_answer(status: int) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert probe_backend(f"http://127.0.0.1:{server.server_port}/") is None
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_probe_is_fast_for_a_closed_port() -> None:
    start = time.perf_counter()
    reason = probe_backend("http://127.0.0.1:9")
    assert time.perf_counter() - start < 10
    assert reason is not None
    assert "127.0.0.1:9" in reason


def test_probe_sqlite(tmp_path: Path) -> None:
    assert probe_backend(f"sqlite:///{tmp_path.as_posix()}/sub/dir/mlflow.db") is None
    assert (tmp_path / "sub" / "dir").is_dir()
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    # Works even as root: a path below a regular file can never be created.
    assert probe_backend(f"sqlite:///{blocker.as_posix()}/mlflow.db") is not None


def test_probe_database_without_server_or_driver() -> None:
    start = time.perf_counter()
    assert probe_backend("postgresql://postgres@127.0.0.1:9/test") is not None
    assert time.perf_counter() - start < 10


def test_default_tags() -> None:
    from hal9 import __version__

    tags = default_tags()
    assert tags["hal9.version"] == __version__
    assert tags["torch.version"] == str(torch.__version__)
    assert tags["device"] == device_name()
    if not torch.cuda.is_available():
        assert tags["device"].startswith("cpu (")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_commit_tag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert git_commit() is None  # not a repository: silently skipped
    assert "git.commit" not in default_tags()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "init"], check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout
    assert default_tags()["git.commit"] == head.strip()


def test_import_hal9_does_not_import_mlflow() -> None:
    code = (
        "import sys, hal9; assert 'mlflow' not in sys.modules and 'hal9.tracking' not in sys.modules;"
        "import hal9.tracking; assert 'mlflow' not in sys.modules and 'matplotlib' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
