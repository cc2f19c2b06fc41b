"""The PyPhi 1.2.0 side of ``tests/benchmarks/test_bench_iit.py``: a worker timing ``pyphi.compute.sia``.

Runs ONLY under the PyPhi environment (``$HAL9_PYPHI_PYTHON``, e.g. ``/work/pyphi_env/venv/bin/python``; see
``scripts/pyphi_reference.py`` for how it is made); it never imports hal9. Protocol, one JSON object per line:

* request ``{"tpm": [[...]], "cm": [[...]], "state": [...], "parallel": bool}`` (TPM state-by-node, LOLI rows;
  ``cm[i][j] = 1`` for an edge i -> j) → reply ``{"phi": float, "cut": {"from": [...], "to": [...]} | null,
  "seconds": float}``. Each request builds a fresh ``pyphi.Network`` and ``pyphi.Subsystem`` (their caches
  empty); ``seconds`` is ``time.perf_counter()`` around ``pyphi.compute.sia(subsystem)`` only.
  ``parallel`` sets ``PARALLEL_CUT_EVALUATION`` (which in PyPhi 1.2.0 also parallelises the unpartitioned
  CES) for that request; the other parallel options stay off.
* request ``{"cmd": "meta"}`` → ``{"pyphi": version, "numpy": version, "python": version, "config": {...}}``.
* a request that fails → ``{"error": "Type: message"}``; the worker carries on.

The worker exits at the end of its standard input. Configuration as in ``scripts/pyphi_reference.py``: PyPhi's
defaults for the measure, partitions and cuts, progress bars off, ``CACHE_SIAS`` off, logs at ERROR.

Hygiene: PyPhi 1.2.0 needs ``collections.Iterable`` and friends (removed in Python 3.10), restored by
the shim of ``scripts/pyphi_reference.py`` (loaded by path; it shares its configuration too) before the
import; at import time it creates ``__pyphi_cache__`` and ``pyphi.log`` in the current directory and
reads ``pyphi_config.yml`` from there, so the worker moves into a fresh temporary directory first and
deletes it on exit. Any output of PyPhi to file descriptor 1 is sent to standard error, so
the protocol's standard output carries only replies.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import IO, Any

Json = dict[str, Any]

ROOT = Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=1)
def _reference_script() -> Any:
    """``scripts/pyphi_reference.py`` as a module: its shim and PyPhi configuration are the ones used here."""
    spec = importlib.util.spec_from_file_location("pyphi_reference", ROOT / "scripts" / "pyphi_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def import_pyphi() -> Any:
    """Import PyPhi (shim first) from the current directory, configured as the reference data were made."""
    return _reference_script().import_pyphi()


def time_sia(pyphi: Any, req: Json) -> Json:
    """Build a fresh Network and Subsystem, time ``pyphi.compute.sia`` on it and return the reply."""
    import numpy as np

    tpm = np.asarray(req["tpm"], dtype=float)
    cm = np.asarray(req["cm"], dtype=int)
    state = tuple(int(s) for s in req["state"])
    pyphi.config.PARALLEL_CUT_EVALUATION = bool(req.get("parallel", False))
    subsystem = pyphi.Subsystem(pyphi.Network(tpm, cm=cm), state)
    t0 = time.perf_counter()
    result = pyphi.compute.sia(subsystem)
    seconds = time.perf_counter() - t0
    return {"phi": float(result.phi), "cut": _reference_script()._cut_json(result.cut), "seconds": seconds}


def meta(pyphi: Any) -> Json:
    """Versions and the configuration values that matter for timings."""
    import numpy as np

    keys = (
        "MEASURE",
        "PARTITION_TYPE",
        "SYSTEM_CUTS",
        "PRECISION",
        "CACHE_SIAS",
        "CACHE_REPERTOIRES",
        "CACHE_POTENTIAL_PURVIEWS",
        "NUMBER_OF_CORES",
        "PARALLEL_CONCEPT_EVALUATION",
        "PARALLEL_COMPLEX_EVALUATION",
    )
    return {
        "pyphi": pyphi.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "config": {k: getattr(pyphi.config, k) for k in keys},
    }


def serve(pyphi: Any, requests: IO[str], replies: IO[str]) -> None:
    """Answer one JSON request per line until the end of ``requests``."""
    for line in requests:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            reply = meta(pyphi) if req.get("cmd") == "meta" else time_sia(pyphi, req)
        except Exception as exc:  # reported to the caller, which decides
            traceback.print_exc(file=sys.stderr)
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main() -> int:
    """Keep fd 1 for replies only, move into a temporary directory, import PyPhi and serve."""
    sys.stdout.flush()
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything else written to fd 1 (PyPhi, numpy, C code) goes to stderr
    sys.stdout = sys.stderr
    home = os.getcwd()
    workdir = tempfile.mkdtemp(prefix="hal9_bench_pyphi_")
    os.chdir(workdir)
    try:
        pyphi = import_pyphi()
        serve(pyphi, sys.stdin, replies)
    finally:
        os.chdir(home)
        shutil.rmtree(workdir, ignore_errors=True)
        replies.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
