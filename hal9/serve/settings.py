"""Settings of the service, read from the environment (prefix ``HAL9_``) and a ``.env`` file.

Every field is documented in ``.env.example`` and in ``docs/serving.md``. ``DATABASE_URL`` and
``REDIS_URL`` are also accepted without the prefix.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["KNOWN_DEFAULT_SECRETS", "JobLimits", "Settings"]

#: Secrets that appear in documentation or examples; refused outside ``environment="development"``.
KNOWN_DEFAULT_SECRETS = frozenset(
    {
        "change-me-to-a-random-string-of-at-least-32-bytes",
        "dev-insecure-secret-change-me-0123456789abcdef",
    }
)
MIN_SECRET_BYTES = 32


class JobLimits(BaseSettings):
    """Upper bounds of every numeric job parameter (the job schemas are built from them)."""

    model_config = SettingsConfigDict(env_prefix="HAL9_", env_file=".env", extra="ignore")

    max_neurons: int = Field(20_000, ge=9, description="simulation: total neurons")
    max_steps: int = Field(2_000, ge=1, description="simulation: time steps")
    max_batch: int = Field(8, ge=1, description="simulation: independent input trials")
    max_organize_neurons: int = Field(5_000, ge=10, description="self-organization: primordial neurons")
    max_k: int = Field(32, ge=1, description="self-organization: partners kept per neuron")
    max_null: int = Field(5, ge=0, description="self-organization: null graphs per family")
    max_metrics_n: int = Field(8, ge=2, le=20, description="metrics: size n of the n×n coupling matrix A")
    max_tactical_tasks: int = Field(20_000, ge=1, description="tactical: tasks in the workload")
    max_tactical_units: int = Field(500, ge=1, description="tactical: L3 units")


class Settings(BaseSettings):
    """All settings of ``hal9 serve``.

    Notes
    -----
    ``secret_key`` signs access tokens and keys the HMAC of API keys and refresh tokens. Outside
    ``environment="development"`` it must be set, at least 32 bytes long, and not one of
    :data:`KNOWN_DEFAULT_SECRETS`. In development a random one is generated per process when unset
    (tokens then do not survive a restart; ``hal9 serve`` shares one between its workers).
    """

    model_config = SettingsConfigDict(
        env_prefix="HAL9_", env_file=".env", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    environment: Literal["development", "production", "test"] = "development"
    database_url: str = Field(
        "sqlite:///hal9-serve.db",
        validation_alias=AliasChoices("HAL9_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL; postgresql:// URLs use psycopg 3",
    )
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("HAL9_REDIS_URL", "REDIS_URL"),
        description="rate limits in Redis (shared by all workers) instead of process memory",
    )
    secret_key: SecretStr | None = None
    jwt_issuer: str = "hal9"
    jwt_audience: str = "hal9-api"
    access_token_ttl_s: int = Field(900, ge=30, le=86_400)
    refresh_token_ttl_s: int = Field(7 * 86_400, ge=60, le=90 * 86_400)
    admin_username: str | None = None
    admin_password: SecretStr | None = None
    argon2_time_cost: int = Field(3, ge=1, le=20)
    argon2_memory_kib: int = Field(65_536, ge=8, le=4_194_304)
    argon2_parallelism: int = Field(4, ge=1, le=64)
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(1_048_576, ge=1_024)
    metrics_access: Literal["open", "token", "off"] = "token"
    login_rate_per_ip: int = Field(30, ge=1)
    login_rate_per_user: int = Field(
        10, ge=1, description="login attempts per window per (client IP, username) pair"
    )
    login_rate_window_s: int = Field(60, ge=1)
    job_rate_per_principal: int = Field(30, ge=1)
    job_rate_window_s: int = Field(60, ge=1)
    rate_limit_prefix: str = "hal9:rl"
    api_key_cache_s: float | None = Field(
        None,
        ge=0.0,
        le=300.0,
        description="per-process API-key cache; unset: 30 s on PostgreSQL with lean reads (revocations "
        "pushed to every process by NOTIFY), off otherwise; set on SQLite, other processes see a "
        "revocation that late",
    )
    job_workers: int = Field(1, ge=1, le=64, description="in-process execution: job threads per process")
    job_execution: Literal["auto", "inprocess", "queue"] = Field(
        "auto",
        description="auto: the PostgreSQL queue and `hal9 worker` processes on PostgreSQL, threads in the "
        "API process on SQLite",
    )
    job_queue_limit: int | None = Field(
        None,
        ge=0,
        le=10_000_000,
        description="queued jobs beyond which submissions get 503 (default: 16 per process in-process, "
        "10000 in all on the queue)",
    )
    job_user_limit: int = Field(
        50, ge=1, le=1_000_000, description="queued + running jobs per user beyond which submissions get 429"
    )
    job_retry_after_s: int = Field(10, ge=1)
    job_max_attempts: int = Field(
        3, ge=1, le=100, description="executions of a job whose worker is lost before it fails"
    )
    worker_heartbeat_s: float = Field(5.0, ge=0.05, le=300.0, description="worker heartbeat period")
    worker_stalled_after_s: float = Field(
        30.0, ge=0.2, le=3600.0, description="a worker silent this long is lost; its job is retried"
    )
    worker_shutdown_grace_s: float = Field(
        30.0, ge=0.0, le=3600.0, description="SIGTERM: time for running jobs to finish before hand-back"
    )
    worker_nice: int = Field(
        0,
        ge=0,
        le=19,
        description="niceness of each `hal9 worker` process (0: as started); `serve --with-worker`: 10",
    )
    worker_poll_s: float = Field(2.0, ge=0.05, le=60.0, description="queue poll period (besides LISTEN)")
    job_cancel_poll_s: float = Field(
        1.0, ge=0.01, le=60.0, description="how often a running job checks for cancellation"
    )
    job_outcome_retry_s: float = Field(
        120.0, ge=0.0, le=3600.0, description="how long a finished job retries recording its outcome"
    )
    ready_worker_window_s: float = Field(
        60.0, ge=1.0, description="/ready: a worker counts when seen within this many seconds"
    )
    ready_requires_workers: bool = Field(
        True, description="queue execution: /ready answers 503 when no worker was seen"
    )
    job_device: str = "cpu"
    job_torch_threads: int | None = Field(None, ge=1)
    tracking_uri: str | None = Field(None, description="MLflow tracking URI of job runs")
    tracking_experiment: str = "hal9-serve"
    data_dir: Path = Field(Path(".hal9-serve"), description="fallback folder of job tracking")
    db_pool_size: int = Field(20, ge=1, description="kept open: size it to the request concurrency")
    db_max_overflow: int = Field(0, ge=0, description="extra connections, closed again after use")
    db_lean_reads: bool = Field(
        True, description="PostgreSQL: API-key lookup and run reads on a psycopg pool, prepared statements"
    )
    db_lean_pool_size: int = Field(8, ge=1, le=64, description="connections of that pool per process")
    log_level: str = "INFO"
    log_json: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65_535)
    workers: int = Field(1, ge=1, le=64)
    auto_migrate: bool = True
    docs_enabled: bool = True
    limits: JobLimits = Field(default_factory=JobLimits)

    @model_validator(mode="after")
    def _check_secret(self) -> Settings:
        if self.job_execution == "queue" and self.database_url.startswith("sqlite"):
            raise ValueError("HAL9_JOB_EXECUTION=queue needs PostgreSQL (DATABASE_URL=postgresql://...)")
        if self.secret_key is None:
            if self.environment != "development":
                raise ValueError("HAL9_SECRET_KEY must be set outside development")
            self.secret_key = SecretStr(secrets.token_urlsafe(48))
        value = self.secret_key.get_secret_value()
        if len(value.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"HAL9_SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes")
        if value in KNOWN_DEFAULT_SECRETS and self.environment != "development":
            raise ValueError("HAL9_SECRET_KEY is a published default; generate a new one")
        if self.worker_stalled_after_s <= 2 * self.worker_heartbeat_s:
            raise ValueError("HAL9_WORKER_STALLED_AFTER_S must exceed twice HAL9_WORKER_HEARTBEAT_S")
        if (self.admin_username is None) != (self.admin_password is None):
            raise ValueError("set both HAL9_ADMIN_USERNAME and HAL9_ADMIN_PASSWORD, or neither")
        return self

    @property
    def key_cache_pushed(self) -> bool:
        """Whether key revocations reach every process by ``LISTEN/NOTIFY`` (PostgreSQL, lean reads)."""
        return self.db_lean_reads and not self.database_url.startswith("sqlite")

    @property
    def key_cache_ttl_s(self) -> float:
        """``api_key_cache_s`` or its default: 30 s when revocations are pushed, else 0 (off)."""
        if self.api_key_cache_s is not None:
            return self.api_key_cache_s
        return 30.0 if self.key_cache_pushed else 0.0

    @property
    def queue_limit(self) -> int:
        """``job_queue_limit`` or its default for the execution mode."""
        if self.job_queue_limit is not None:
            return self.job_queue_limit
        return 10_000 if self.uses_queue else 16

    @property
    def uses_queue(self) -> bool:
        """Whether jobs go through the PostgreSQL queue to `hal9 worker` processes."""
        if self.job_execution == "auto":
            return not self.database_url.startswith("sqlite")
        return self.job_execution == "queue"

    @property
    def secret_bytes(self) -> bytes:
        """The signing key as bytes."""
        assert self.secret_key is not None  # set by the validator
        return self.secret_key.get_secret_value().encode()
