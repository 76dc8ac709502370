"""Service settings: one typed object, defaults overridable by ``SCRIBE_*`` environment
variables and then by command-line options.

``pydantic-settings`` is not a dependency of the project, so the environment is read
here by hand: every field ``x`` is overridden by ``SCRIBE_X`` (``SCRIBE_DB_URL``,
``SCRIBE_PORT``, ...) and validated by pydantic like any other value.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ENV_PREFIX = "SCRIBE_"
# How long a new token lives, by role (days). An admin token manages every other token and
# reads the audit log, so it lives shortest; the others reach at most one role's data and
# are used daily from pages an EHR keeps open, so a quarter keeps renewals rare while a
# lost or forgotten token stops working on its own. ``scribe token rotate`` renews one.
DEFAULT_TOKEN_DAYS = {"admin": 30.0, "physician": 90.0, "scribe": 90.0, "manager": 90.0}
DEFAULT_FRAME_CAP = 16 * 1024 * 1024    # an 8 MiB paste gets MESSAGE_TOO_LARGE, not a closed socket


def default_data_dir() -> Path:
    """The folder the engine also uses for site data (``SCRIBE_DATA_DIR``)."""
    return Path(os.environ.get("SCRIBE_DATA_DIR") or Path.home() / ".local" / "share" / "scribe")


def normalize_db_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 (the installed driver)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    db_url: str = Field("", description="SQLAlchemy URL; empty means a SQLite file in data_dir")
    data_dir: Path = Field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # WebSocket limits (documented in the README, "Live dictation")
    max_message_bytes: int = Field(64 * 1024, ge=1024, description="larger frames get MESSAGE_TOO_LARGE")
    transport_max_bytes: int | None = Field(
        None, ge=1024, description="larger frames close the connection (1009); default: the larger of "
        "16 MiB and 4x max_message_bytes, never below max_message_bytes")
    rate_per_second: float = Field(20.0, gt=0, description="sustained messages per second per connection")
    rate_burst: int = Field(60, ge=1, description="messages a connection may send at once")
    ws_compression: bool = Field(False, description="accept permessage-deflate (compressed frames) when a client "
                                 "offers it; off by default: compressing every state frame costs server CPU (README, \"Several "
                                 "worker processes\")")
    # live dictations
    workers: int = Field(1, ge=1, le=64, description="server processes behind the port (more than one needs "
                         "PostgreSQL)")
    worker_threads: int = Field(4, ge=1, le=64, description="threads that analyse and persist messages")
    idle_evict_seconds: float = Field(1800.0, gt=0, description="unattached sessions leave memory after this")
    max_cached_sessions: int = Field(5000, ge=1)
    gc_freeze_seconds: float = Field(10.0, ge=0, description="how often what survived is moved out of the cyclic "
                                     "collector's reach (0: never); see server/app.py")
    gc_full_minutes: float = Field(60.0, ge=0, description="how often one full collection looks at everything "
                                   "(0: never)")
    stale_open_minutes: float = Field(120.0, gt=0, description="an open dictation with no change this long "
                                      "is listed for the scribes (GET /api/review/open)")
    # tokens and the HTTP surface (README, "Security")
    token_days_admin: float = Field(DEFAULT_TOKEN_DAYS["admin"], gt=0, description="lifetime of a new admin token")
    token_days_physician: float = Field(DEFAULT_TOKEN_DAYS["physician"], gt=0)
    token_days_scribe: float = Field(DEFAULT_TOKEN_DAYS["scribe"], gt=0)
    token_days_manager: float = Field(DEFAULT_TOKEN_DAYS["manager"], gt=0)
    token_rotate_grace_hours: float = Field(12.0, ge=0, description="how long a rotated token keeps working")
    token_sweep_seconds: float = Field(0.25, gt=0, le=3600,
                                       description="how often open sockets are checked against revocations")
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="larger HTTP request bodies get 413 unread")
    cors_origins: str = Field("", description="comma-separated origins allowed to call the API; none when empty")
    session_hours: float = Field(12.0, gt=0, description="how long a page's session cookie lasts (at most the token)")
    ws_ticket_seconds: float = Field(30.0, gt=0, le=600, description="how long a one-time WebSocket ticket lasts")
    frame_ancestors: str = Field("", description="space- or comma-separated origins (EHRs) that may frame the "
                                 "pages, besides the service itself")
    ws_origins: str = Field("", description="comma-separated origins, besides the service's own, whose pages may "
                            "open the WebSocket")
    max_connections_per_token: int = Field(16, ge=1, description="open WebSockets one token may hold")
    max_connections_per_address: int = Field(256, ge=1, description="open WebSockets one client address may hold")
    # storage
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = Field(
        "NORMAL", description="NORMAL (WAL) survives kill -9; FULL also survives power loss")
    fee_table: Path | None = Field(None, description="JSON {cpt: dollars}; default: payments in lexicons")
    log_level: str = "INFO"
    # the EHR integration (SMART launch, CDS Hooks): a JSON file, see server/ehr_config.py
    ehr_config: Path | None = Field(None, description="JSON file registering EHRs (SMART client, CDS clients)")

    @field_validator("db_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        return normalize_db_url(value.strip())

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"unknown log level {value!r}")
        return value

    @property
    def frame_cap(self) -> int:
        """The transport's hard limit on a frame: a frame up to it is read and, when over
        ``max_message_bytes``, answered with MESSAGE_TOO_LARGE; a larger one closes the socket."""
        if self.transport_max_bytes is not None:
            return max(self.transport_max_bytes, self.max_message_bytes)
        return max(DEFAULT_FRAME_CAP, 4 * self.max_message_bytes)

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.data_dir / 'scribe.sqlite'}"

    def token_lifetime(self, role: str) -> timedelta:
        return timedelta(days=getattr(self, f"token_days_{role}"))

    @property
    def allowed_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @property
    def frame_ancestor_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.frame_ancestors.replace(",", " ").split() if o.strip()]

    @property
    def ws_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/").lower() for o in self.ws_origins.split(",") if o.strip()]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def load(cls, **overrides: Any) -> "Settings":
        """Defaults < ``SCRIBE_*`` environment < ``overrides`` (``None`` values are ignored)."""
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            env = os.environ.get(ENV_PREFIX + name.upper())
            if env is not None and env != "":
                values[name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
