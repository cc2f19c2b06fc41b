"""Supervision of worker processes: ``hal9 worker --processes N`` and ``hal9 serve --with-worker N``.

The supervisor starts N copies of a command, restarts one that exits while the supervisor is not
stopping (after a back-off, so a crash loop does not spin), and on SIGTERM/SIGINT forwards SIGTERM to
all and waits for them at most ``grace_s`` seconds before SIGKILL. A worker killed by SIGKILL loses
nothing: its job is found stalled by the other workers and re-queued (see :mod:`hal9.serve.queue`).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from types import FrameType

__all__ = ["stop_process", "supervise"]

_log = logging.getLogger("hal9.serve.supervise")


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float) -> int | None:
    """SIGTERM ``proc``, wait at most ``timeout_s``, then SIGKILL; returns its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _log.error("process did not stop in time; killing it", extra={"pid": proc.pid})
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def supervise(
    command: Sequence[str],
    n: int,
    *,
    grace_s: float,
    max_backoff_s: float = 30.0,
    parent_pid: int | None = None,
) -> int:
    """Run ``n`` copies of ``command`` until SIGTERM/SIGINT; returns 0 after a clean stop.

    With ``parent_pid``, also stop (gracefully) once that process is gone (this one was re-parented).
    """
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    procs: list[subprocess.Popen[bytes] | None] = [None] * n
    backoff = [0.5] * n
    started = [0.0] * n
    try:
        while not stopping.is_set():
            for i in range(n):
                proc = procs[i]
                if proc is not None and proc.poll() is None:
                    continue
                if proc is not None:
                    _log.warning(
                        "worker process exited; restarting",
                        extra={"pid": proc.pid, "returncode": proc.returncode, "backoff_s": backoff[i]},
                    )
                    # Reset the back-off after a long healthy life; double it after a quick death.
                    backoff[i] = (
                        0.5 if time.monotonic() - started[i] > 60 else min(backoff[i] * 2, max_backoff_s)
                    )
                    if stopping.wait(backoff[i]):
                        break
                new = subprocess.Popen(list(command))
                procs[i] = new
                started[i] = time.monotonic()
                _log.info("worker process started", extra={"pid": new.pid})
            if parent_pid is not None and os.getppid() != parent_pid:
                _log.warning("parent process gone; stopping the workers", extra={"parent_pid": parent_pid})
                stopping.set()
            stopping.wait(0.5)
    finally:
        deadline = time.monotonic() + grace_s
        for proc in procs:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            if proc is not None:
                stop_process(proc, max(0.1, deadline - time.monotonic()))
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
