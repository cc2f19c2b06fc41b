"""hal9.serve — the authenticated HTTP service (``.[serve]`` extra; ``hal9 serve``, ``hal9 worker``).

FastAPI on a pooled, synchronous SQLAlchemy Core engine (SQLite by default, PostgreSQL via
``DATABASE_URL``): JWT and API-key authentication, a bounded job pool that runs simulations,
self-organization and integration metrics (each logged to MLflow), Prometheus metrics and JSON logs.
``import hal9`` never imports this package. See ``docs/serving.md``.
"""

from hal9.serve.app import app_factory, create_app
from hal9.serve.jobs import JobContext, JobKind, JobRegistry, JobResult, default_registry
from hal9.serve.settings import JobLimits, Settings

__all__ = [
    "JobContext",
    "JobKind",
    "JobLimits",
    "JobRegistry",
    "JobResult",
    "Settings",
    "app_factory",
    "create_app",
    "default_registry",
]
