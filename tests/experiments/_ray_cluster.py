"""A two-node Ray cluster on loopback for tests: ``ray start --head`` then ``ray start --address``, both
with one CPU, a private temp dir and a random auth token; stopped by process id (never ``ray stop``,
which would stop every Ray on the machine)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

__all__ = ["Cluster", "ray_processes", "stop_processes", "two_node_cluster"]


class Cluster(NamedTuple):
    address: str
    env: dict[str, str]
    temp_dir: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ray_processes(temp_dir: Path) -> list[object]:
    """Processes whose command line names ``temp_dir``, and all their descendants."""
    import psutil

    key = str(temp_dir)
    roots = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(key in (c or "") for c in (p.info["cmdline"] or [])):
                roots.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    found = {p.pid: p for p in roots}
    for r in roots:
        try:
            found |= {c.pid: c for c in r.children(recursive=True)}
        except psutil.NoSuchProcess:
            continue
    return list(found.values())


def stop_processes(procs: list[object]) -> None:
    """SIGKILL each of ``procs`` and wait (≤ 10 s)."""
    import psutil

    alive = []
    for p in procs:
        assert isinstance(p, psutil.Process)
        try:
            p.kill()
            alive.append(p)
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(alive, timeout=10)


@contextmanager
def two_node_cluster(cpus_per_node: int = 1, timeout: float = 90.0) -> Iterator[Cluster]:
    """Start the cluster; yields its address and the environment a driver needs (the token)."""
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.exists():
        raise RuntimeError(f"no ray command next to {sys.executable}")
    temp_dir = Path(tempfile.mkdtemp(prefix="h9r-", dir="/tmp"))  # short: Ray's socket paths are limited
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    env.pop("RAY_ADDRESS", None)
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus_per_node), "--temp-dir", str(temp_dir)]
    common += ["--disable-usage-stats"]
    try:
        for args in (
            ["--head", "--port", str(port), "--include-dashboard=false"],
            ["--address", f"127.0.0.1:{port}"],
        ):
            out = subprocess.run(
                [str(ray_bin), "start", *args, *common],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            if out.returncode != 0:
                raise RuntimeError(f"ray start failed: {out.stderr[-2000:]}")
        yield Cluster(f"127.0.0.1:{port}", env, temp_dir)
    finally:
        stop_processes(ray_processes(temp_dir))
        shutil.rmtree(temp_dir, ignore_errors=True)
