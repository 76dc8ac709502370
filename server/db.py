"""Database: the tables (SQLAlchemy Core), the engine for a URL, and migrations.

The schema is created and upgraded only by the Alembic migrations in
``server/migrations`` (run by ``Database.migrate``, at start-up of ``scribe serve``
and ``scribe token create``); ``METADATA`` mirrors them and a test checks the two
agree. Times are naive UTC on every backend.

Tables:
  api_tokens      who may call the service (sha256 of the token, name, role, revoked_at,
                  expires_at, rotated_to: the token a rotation issued in its place)
  token_epoch     one row: a counter every revocation, rotation or account deletion bumps,
                  so that live connections (in any process) notice a change with one read
  dictations      one row per dictation: owner, the owner's id for it (ref), current encounter, status, timestamps,
                  version (a count of its changes); the final text and the counts of open gaps are filled at finalize
  dictation_codes the dictation's CPT / ICD-10-CM / modifier codes, one row each (filters)
  events          append-only log: start, segment (final), edit, context, finalize;
                  a dictation is rebuilt by replaying it
  gaps            gaps open at finalization, one row each, with their review status
  gap_actions     what was done about a finding: resolve / dismiss / query / answer on a stored gap (the
                  review queue), accept / override on an order-time card (CDS Hooks feedback): who, when,
                  reason, text
  audit_log       every read of note text (and token management): who, what, when, from where
  web_sessions    browser sessions (HttpOnly cookie) a page's URL token was exchanged for
  cds_cards       every card the CDS Hooks service answered: its uuid, service, rule, code
  smart_launches, smart_codes, smart_sessions
                  SMART launch state: pending launches (state hash, PKCE verifier), authorization codes
                  exchanged, the EHR's tokens of a launch; each single-use or expiring
  cds_jwt_ids     (iss, jti) of CDS JWTs accepted, until they expire (replay)
  audits          retrospective audits loaded from `scribe audit` results (`scribe audit-load`): name,
                  source file, the cases' date range, totals; never mixed with live dictations
  audit_cases     one row per audited case: provider, date, open gaps by severity, complete or not
  audit_case_codes the audited case's CPT / ICD-10-CM codes
  audit_gaps      one row per gap an audit found (code, severity, rule, CPT, line, ICD-10-CM; no text)
  ws_tickets      one-time WebSocket tickets when several processes serve (PostgreSQL): sha256, the
                  token it stands for, its deadline (a single process keeps them in memory)
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

log = logging.getLogger("scribe.server.db")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
JSON = sa.JSON().with_variant(JSONB(), "postgresql")
ROLES = ("physician", "scribe", "manager", "admin")

METADATA = sa.MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
})

api_tokens = sa.Table(
    "api_tokens", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(12), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.String(100)),
    sa.Column("revoked_at", sa.DateTime),
    sa.Column("expires_at", sa.DateTime),                      # null: never (no token is created so)
    sa.Column("rotated_to", sa.Integer),                       # the id of the token that replaced it
)

token_epoch = sa.Table(
    "token_epoch", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),   # always 1
    sa.Column("epoch", sa.Integer, nullable=False),
)

dictations = sa.Table(
    "dictations", METADATA,
    sa.Column("id", sa.String(64), primary_key=True),          # the service's key (== ref unless taken)
    sa.Column("owner", sa.String(100), nullable=False, index=True),
    sa.Column("ref", sa.String(64), nullable=False),           # the id the owner gave; unique per owner
    sa.Column("provider", sa.String(200), nullable=False, index=True),
    sa.Column("encounter", JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("finalized_at", sa.DateTime, index=True),
    sa.Column("finalized_week", sa.String(10), index=True),   # Monday of the ISO week, YYYY-MM-DD
    sa.Column("partial_seq", sa.Integer),                     # the latest partial (not an event)
    sa.Column("partial_text", sa.Text),
    sa.Column("final_text", sa.Text),                          # snapshot at finalize
    sa.Column("open_errors", sa.Integer),
    sa.Column("open_warnings", sa.Integer),
    sa.Column("open_infos", sa.Integer),
    sa.Column("clean", sa.Boolean),                            # no error/warning gap at finalize
    # how many changes it has had (event or partial): processes sharing the database compare it
    # with the version their cached session holds (server/hub.py)
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("owner", "ref"),
)

dictation_codes = sa.Table(
    "dictation_codes", METADATA,
    sa.Column("dictation_id", sa.String(64), sa.ForeignKey("dictations.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.String(8), primary_key=True),         # cpt | icd10 | modifier
    sa.Column("code", sa.String(16), primary_key=True),
    sa.Index(None, "kind", "code"),
)

events = sa.Table(
    "events", METADATA,
    sa.Column("dictation_id", sa.String(64), sa.ForeignKey("dictations.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("n", sa.Integer, primary_key=True),              # 1, 2, 3... per dictation
    sa.Column("kind", sa.String(16), nullable=False),          # start | segment | edit | context | finalize
    sa.Column("seq", sa.Integer),                              # the client's seq, for segments
    sa.Column("payload", JSON, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

gaps = sa.Table(
    "gaps", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dictation_id", sa.String(64), sa.ForeignKey("dictations.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("code", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("rule_id", sa.String(20), nullable=False),
    sa.Column("cpt", sa.String(8)),
    sa.Column("icd10", sa.String(10)),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("fix", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("evidence", JSON, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),        # open | resolved | dismissed
    sa.Column("queried", sa.Boolean, nullable=False),           # a query to the physician is pending
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index(None, "status", "code"),
)

gap_actions = sa.Table(
    "gap_actions", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    # what was acted on: a gap stored at finalization (the review queue), or a card the CDS Hooks
    # service answered at order time (the EHR's feedback)
    sa.Column("gap_id", sa.Integer, sa.ForeignKey("gaps.id", ondelete="CASCADE"), index=True),
    sa.Column("dictation_id", sa.String(64), sa.ForeignKey("dictations.id", ondelete="CASCADE"), index=True),
    sa.Column("card_uuid", sa.String(36), sa.ForeignKey("cds_cards.uuid", ondelete="CASCADE"), index=True),
    sa.Column("action", sa.String(12), nullable=False),        # resolve | dismiss | query | answer | accept | override
    sa.Column("reason", sa.String(40)),                         # dismiss, override: one of DISMISS_REASONS (or the EHR's)
    sa.Column("text", sa.Text),                                 # addendum, dismissal note, query; the override comment
    sa.Column("detail", JSON),                                  # accept: the ids of the suggestions taken
    sa.Column("actor_token_id", sa.Integer),
    sa.Column("actor_name", sa.String(100), nullable=False),   # the EHR's CDS client for accept / override
    sa.Column("actor_role", sa.String(16), nullable=False),    # ... whose role is "ehr"
    sa.Column("at", sa.DateTime, nullable=False),
    sa.CheckConstraint("gap_id IS NOT NULL OR card_uuid IS NOT NULL", name="subject"),
)

audit_log = sa.Table(
    "audit_log", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("actor_token_id", sa.Integer),
    sa.Column("actor_name", sa.String(100), nullable=False, index=True),
    sa.Column("actor_role", sa.String(16), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("dictation_id", sa.String(64), index=True),
    sa.Column("detail", sa.String(200)),
    sa.Column("address", sa.String(64)),                        # the client address of the request
)

web_sessions = sa.Table(
    "web_sessions", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),   # sha256 of the cookie's secret
    sa.Column("token_id", sa.Integer, nullable=False, index=True),          # the token it was exchanged for
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)

cds_cards = sa.Table(
    "cds_cards", METADATA,
    sa.Column("uuid", sa.String(36), primary_key=True),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("hook_instance", sa.String(64), nullable=False),
    sa.Column("client_iss", sa.String(300), nullable=False),
    sa.Column("rule_id", sa.String(20), nullable=False, index=True),
    sa.Column("code", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("cpt", sa.String(8)),
    sa.Column("icd10", sa.String(10)),
    sa.Column("issued_at", sa.DateTime, nullable=False, index=True),
    sa.Column("provider", sa.String(200)),                      # the order's requester
)

smart_launches = sa.Table(
    "smart_launches", METADATA,
    sa.Column("state_hash", sa.String(64), primary_key=True),   # sha256 of the launch's state
    sa.Column("iss", sa.String(300), nullable=False),
    sa.Column("verifier", sa.String(128), nullable=False),     # the PKCE code_verifier
    sa.Column("config", JSON, nullable=False),                  # the EHR's smart-configuration
    sa.Column("standalone", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False, index=True),
    sa.Column("used_at", sa.DateTime),                          # a state is good once
)

smart_codes = sa.Table(
    "smart_codes", METADATA,
    sa.Column("code_hash", sa.String(64), primary_key=True),   # sha256 of an authorization code exchanged
    sa.Column("used_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False, index=True),
)

smart_sessions = sa.Table(
    "smart_sessions", METADATA,
    sa.Column("id_hash", sa.String(64), primary_key=True),     # sha256 of the browser's session cookie
    sa.Column("iss", sa.String(300), nullable=False),
    sa.Column("account", sa.String(100), nullable=False),
    sa.Column("fhir_user", sa.String(300), nullable=False),
    sa.Column("access_token", sa.Text, nullable=False),        # the EHR's tokens: server-side only, never logged
    sa.Column("refresh_token", sa.Text),
    sa.Column("patient", sa.String(100)),
    sa.Column("encounter", sa.String(100)),
    sa.Column("service_request", sa.String(120)),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False, index=True),
)

cds_jwt_ids = sa.Table(
    "cds_jwt_ids", METADATA,
    sa.Column("key_hash", sa.String(64), primary_key=True),    # sha256 of iss and jti of an accepted CDS JWT
    sa.Column("expires_at", sa.DateTime, nullable=False, index=True),
)


audits = sa.Table(
    "audits", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.String(32), nullable=False, unique=True),   # the results' manifest: loaded once
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("source", sa.String(500), nullable=False),               # the audited input file
    sa.Column("date_from", sa.Date),                                   # the cases' dates (or as given at load)
    sa.Column("date_to", sa.Date),
    sa.Column("loaded_at", sa.DateTime, nullable=False),
    sa.Column("loaded_by", sa.String(100), nullable=False),
    sa.Column("cases", sa.Integer, nullable=False),
    sa.Column("errors", sa.Integer, nullable=False),                   # rows that could not be checked
    sa.Column("clean", sa.Integer, nullable=False),
)

audit_cases = sa.Table(
    "audit_cases", METADATA,
    sa.Column("audit_id", sa.Integer, sa.ForeignKey("audits.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("row", sa.BigInteger, primary_key=True, autoincrement=False),   # the input's row number
    sa.Column("case_id", sa.String(200)),
    sa.Column("provider", sa.String(200), nullable=False),
    sa.Column("service_date", sa.Date),
    sa.Column("clean", sa.Boolean, nullable=False),
    sa.Column("open_errors", sa.Integer, nullable=False),
    sa.Column("open_warnings", sa.Integer, nullable=False),
    sa.Column("open_infos", sa.Integer, nullable=False),
    sa.Index(None, "audit_id", "provider"),
)

audit_case_codes = sa.Table(
    "audit_case_codes", METADATA,
    sa.Column("audit_id", sa.Integer, sa.ForeignKey("audits.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("row", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(8), primary_key=True),          # cpt | icd10
    sa.Column("code", sa.String(16), primary_key=True),
    sa.Index(None, "audit_id", "kind", "code"),
)

audit_gaps = sa.Table(
    "audit_gaps", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("audit_id", sa.Integer, sa.ForeignKey("audits.id", ondelete="CASCADE"), nullable=False),
    sa.Column("row", sa.BigInteger, nullable=False),
    sa.Column("code", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("rule_id", sa.String(20), nullable=False),
    sa.Column("cpt", sa.String(8)),
    sa.Column("line", sa.Integer),
    sa.Column("icd10", sa.String(10)),
    sa.Index(None, "audit_id", "code"),
)


ws_tickets = sa.Table(
    "ws_tickets", METADATA,
    sa.Column("ticket_hash", sa.String(64), primary_key=True),  # sha256 of the ticket
    sa.Column("token_id", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False, index=True),
)

# Several `scribe serve` processes starting at once on one PostgreSQL database take turns to
# migrate it (a transaction-scoped advisory lock; its key is arbitrary and used for nothing else).
MIGRATION_LOCK = 0x5C21BE0001


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def make_engine(url: str, *, sqlite_synchronous: str = "NORMAL") -> sa.Engine:
    """An engine that never logs statement parameters (they carry note text)."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, hide_parameters=True, connect_args={"check_same_thread": False, "timeout": 30},
                                  pool_size=8, max_overflow=8)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every sqlite test
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # PostgreSQL: each server process (a worker of `scribe serve --workers N`) holds at most 16 pooled
    # connections and two of its own (notifications, connection caps), so four workers stay well inside
    # the server's default max_connections (100)
    # No ping before each use (a round trip per message): a connection PostgreSQL dropped fails its
    # one statement (STORAGE_UNAVAILABLE: "send again"), the pool is then renewed.
    return sa.create_engine(url, hide_parameters=True, pool_size=8, max_overflow=8, pool_pre_ping=False)


def alembic_config(connection=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest migration (idempotent).

    On SQLite a migration that changes a table's columns copies it into a new table and drops the
    old one (alembic's batch mode); with foreign keys enforced, that drop would delete every row
    that refers to the table with ON DELETE CASCADE (a dictation's events and gaps when
    ``dictations`` is rebuilt). So foreign keys are off while migrating, as SQLite's documentation
    for table rebuilds prescribes, and checked (``PRAGMA foreign_key_check``) before the commit."""
    from alembic import command

    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")    # outside a transaction, or SQLite ignores it
            conn.commit()
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":   # several processes starting at once take turns
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                command.upgrade(alembic_config(conn), "head")
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migration left {len(broken)} row(s) whose foreign key "
                                           f"points nowhere (first in table {broken[0][0]})")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as such
        return "<unparseable URL>"
