"""Where runs go (the tracking URI) and a fast check that the backend there can be reached."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hal9.tracking._values import safe_name

__all__ = [
    "PROBE_TIMEOUT_S",
    "artifact_location",
    "backend_client",
    "default_tracking_uri",
    "fast_http_failure",
    "is_user_error",
    "probe_backend",
]

#: Seconds the reachability probe waits for a connection before declaring the backend unreachable.
PROBE_TIMEOUT_S = 2

# MLflow's HTTP client retries 7 times with exponential back-off by default: about 4 minutes before a
# call to a dead server fails. hal9 bounds that, unless the user set these variables: while a run is set
# up (1 retry, 5 s timeout) and for each call during the run (3 retries, 10 s timeout: ~10 s when the
# server refuses connections, under a minute when it hangs).
_SETUP_HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}
_RUN_HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}

_CONNECT_TIMEOUT_ARG = {
    "postgresql": "connect_timeout",
    "mysql": "connect_timeout",
    "mariadb": "connect_timeout",
}


def default_tracking_uri() -> str:
    """Return the tracking URI used when none is given.

    Order: the ``HAL9_TRACKING_URI`` environment variable, then ``MLFLOW_TRACKING_URI``, then a SQLite
    database ``mlflow.db`` in the current working directory, as an absolute URI.

    Returns
    -------
    str
        E.g. ``sqlite:////home/me/project/mlflow.db`` (four slashes: ``sqlite:///`` + an absolute path).
        ``mlflow ui --backend-store-uri sqlite:///mlflow.db`` started in the same directory shows it.

    Examples
    --------
    >>> default_tracking_uri()  # doctest: +SKIP
    'sqlite:////home/me/project/mlflow.db'
    >>> # HAL9_TRACKING_URI=http://127.0.0.1:5000 python train.py  -> 'http://127.0.0.1:5000'
    """
    for var in ("HAL9_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        value = os.environ.get(var, "").strip()
        if value:
            return value
    return "sqlite:///" + (Path.cwd() / "mlflow.db").as_posix()


def _scheme(uri: str) -> str:
    """Lower-case scheme without a driver suffix: ``postgresql+psycopg2://`` -> ``postgresql``."""
    return urllib.parse.urlsplit(uri).scheme.lower().split("+", 1)[0]


@contextlib.contextmanager
def fast_http_failure(uri: str, *, setup: bool = True) -> Iterator[None]:
    """Within the block, bound how long MLflow's HTTP client retries a request to ``uri``.

    ``setup=True``: 1 retry, 5 s timeout (creating the experiment and run). ``setup=False``: 3 retries,
    10 s timeout (logging calls). Only for ``http(s)`` URIs and only for ``MLFLOW_HTTP_REQUEST_*``
    variables the user has not set; the environment is restored on exit. The environment is
    process-wide: another thread that talks to MLflow at the same moment sees these settings too.
    """
    if _scheme(uri) not in ("http", "https"):
        yield
        return
    policy = _SETUP_HTTP_ENV if setup else _RUN_HTTP_ENV
    added = [name for name in policy if name not in os.environ]
    try:
        for name in added:
            os.environ[name] = policy[name]
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextlib.contextmanager
def backend_client(tracking_uri: str | None, action: str) -> Iterator[tuple[Any, str]]:
    """``(MlflowClient, uri)`` for a direct call to the backend (no local fallback): the URI defaults to
    :func:`default_tracking_uri`, is probed first (``ConnectionError: cannot <action> at <uri>: …`` when
    it cannot be reached), and HTTP failures are fast within the block (:func:`fast_http_failure`)."""
    from mlflow import MlflowClient

    uri = tracking_uri or default_tracking_uri()
    reason = probe_backend(uri)
    if reason is not None:
        raise ConnectionError(f"cannot {action} at {uri}: {reason}")
    with fast_http_failure(uri):
        yield MlflowClient(tracking_uri=uri), uri


def probe_backend(uri: str, *, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Check quickly whether the tracking backend at ``uri`` can be reached.

    Parameters
    ----------
    uri : str
        A tracking URI: ``http(s)://``, ``sqlite:///``, another SQLAlchemy database URI, a ``file:`` URI
        or a plain path. Other schemes (``databricks``, plugins) are not probed.
    timeout : float, default 2
        Seconds to wait for a connection.

    Returns
    -------
    str or None
        ``None`` if the backend looks reachable, else a one-line reason.

    Notes
    -----
    http(s): ``GET <uri>/health``; any HTTP answer, even an error status or a TLS handshake failure,
    counts as reachable (MLflow's own client then decides). SQLite: the parent directory is created and
    must be writable, and the file must open. Other databases: one SQLAlchemy connection with
    ``connect_timeout`` (PostgreSQL, MySQL); a missing driver (``psycopg2``) is reported as unreachable.
    """
    scheme = _scheme(uri)
    try:
        if scheme in ("http", "https"):
            return _probe_http(uri, timeout)
        if scheme == "sqlite":
            return _probe_sqlite(uri, timeout)
        if scheme in ("postgresql", "mysql", "mariadb", "mssql", "oracle"):
            return _probe_database(uri, scheme, timeout)
        if scheme == "file" or scheme == "" or (len(scheme) == 1 and os.name == "nt"):
            return _probe_directory(uri)
    except Exception as exc:  # the probe must never be the reason a computation fails
        return f"{type(exc).__name__}: {exc}"
    return None


def _probe_http(uri: str, timeout: float) -> str | None:
    url = uri.rstrip("/") + "/health"
    try:
        # bandit B310: only reached for http(s) tracking URIs (see probe_backend), never file: or custom.
        with urllib.request.urlopen(url, timeout=timeout):  # nosec B310
            return None
    except urllib.error.HTTPError:
        return None  # the server answered
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ssl.SSLError):
            return None  # a TLS server answered; MLflow's client has its own certificate settings
        return f"cannot connect to {url}: {exc.reason}"
    except TimeoutError:
        return f"no answer from {url} within {timeout:g} s"
    except OSError as exc:
        return f"cannot connect to {url}: {exc}"


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, ``None`` for in-memory databases."""
    rest = urllib.parse.unquote(uri.split(":///", 1)[1] if ":///" in uri else "").split("?", 1)[0]
    return None if rest in ("", ":memory:") else Path(rest)


def _probe_sqlite(uri: str, timeout: float) -> str | None:
    path = _sqlite_path(uri)
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK):
        return f"directory {path.parent} is not writable"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"database file {path} is not readable and writable"
    connection = sqlite3.connect(path, timeout=timeout)
    try:
        connection.execute("PRAGMA schema_version").fetchone()
    finally:
        connection.close()
    return None


def artifact_location(uri: str, experiment: str) -> str | None:
    """Where a new experiment keeps its artifacts: ``mlruns/<experiment>/`` next to a SQLite database.

    ``None`` (MLflow's default) for other backends. MLflow's own default for SQLite is ``./mlruns/<id>``
    relative to the working directory of the first process that opened the store, which scatters
    artifacts when scripts run from different directories.

    Examples
    --------
    >>> artifact_location("sqlite:////data/hal9/mlflow.db", "sweep/fan-in")
    'file:///data/hal9/mlruns/sweep_fan-in'
    >>> artifact_location("http://127.0.0.1:5000", "sweep") is None
    True
    """
    path = _sqlite_path(uri) if _scheme(uri) == "sqlite" else None
    if path is None:
        return None
    return (path.resolve().parent / "mlruns" / safe_name(experiment)).as_uri()


def _probe_database(uri: str, scheme: str, timeout: float) -> str | None:
    import sqlalchemy

    arg = _CONNECT_TIMEOUT_ARG.get(scheme)
    connect_args = {arg: int(max(1, timeout))} if arg else {}
    engine = sqlalchemy.create_engine(uri, connect_args=connect_args, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()
    return None


def _probe_directory(uri: str) -> str | None:
    path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(uri).path)) if "://" in uri else Path(uri)
    path.mkdir(parents=True, exist_ok=True)
    return None if os.access(path, os.W_OK) else f"directory {path} is not writable"


#: Schemes of stores every MLflow release accepts: databases and tracking servers.
_DATABASE_OR_SERVER_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks")


def check_tracking_uri(uri: str | None = None) -> None:
    """Refuse, at once and in one line, a tracking URI MLflow cannot use (``None``: the default URI).

    Call it before a long computation: an unknown scheme, or a store this MLflow refuses (the plain-folder
    ``./mlruns`` store of MLflow 3 unless ``MLFLOW_ALLOW_FILE_STORE=true``), raises ``ValueError`` here
    instead of after the work. A backend that merely cannot be reached is *not* an error: the run then
    writes to its local fallback folder, as documented.
    """
    uri = uri or default_tracking_uri()
    scheme = _scheme(uri)
    if scheme in _DATABASE_OR_SERVER_SCHEMES:
        return  # stores MLflow always accepts (creating one would make its tables now); unreachable: fallback
    is_path = scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")
    if not is_path:
        raise ValueError(
            f"tracking URI {uri!r} cannot be used: unknown scheme {scheme!r}; use a path, sqlite:///FILE, "
            "postgresql://, mysql://, mssql://, http(s)://HOST or databricks://"
        )
    from mlflow import MlflowClient

    try:
        MlflowClient(tracking_uri=uri)
    except Exception as exc:
        text = " ".join(str(exc).split())
        first = text.split(". ")[0].rstrip(".") or type(exc).__name__
        hint = ""
        if "MLFLOW_ALLOW_FILE_STORE" in text:
            hint = "; use sqlite:///mlflow.db (the default) or set MLFLOW_ALLOW_FILE_STORE=true"
        raise ValueError(f"tracking URI {uri!r} cannot be used: {first}{hint}") from None


def is_user_error(exc: BaseException) -> bool:
    """True for MLflow errors caused by the caller's input (re-raised), False for backend failures.

    Backend failures (connection lost, database locked, server error) make a run switch to its local
    fallback; invalid input (``INVALID_PARAMETER_VALUE``, e.g. changing a logged parameter) does not.
    """
    from mlflow.exceptions import MlflowException

    return isinstance(exc, MlflowException) and exc.error_code == "INVALID_PARAMETER_VALUE"
