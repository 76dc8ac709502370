"""Several server processes on one database: a version per dictation, tickets in the database.

``scribe serve --workers N`` (PostgreSQL) runs N processes behind one port, any of which may
receive any message of any dictation.

* ``dictations.version``: how many changes (events and partials) the dictation has had. A
  process holding the dictation's session compares it with the version its session holds
  (read with the row lock, in the statement that takes it) and, when behind, applies the
  events it has not seen. Existing rows count their events.
* ``ws_tickets``: a page may ask one worker for a ticket (``POST /api/ws-ticket``) and open its
  WebSocket on another, so the tickets live in the shared database: the sha256 of the
  ticket, the token it stands for and its deadline; redeeming deletes the row (one use). A
  single process (SQLite) still keeps its tickets in memory and leaves this table empty.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-15
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dictations") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="0"))
    op.execute("UPDATE dictations SET version = (SELECT count(*) FROM events WHERE events.dictation_id = dictations.id)")
    op.create_table(
        "ws_tickets",
        sa.Column("ticket_hash", sa.String(64), nullable=False),
        sa.Column("token_id", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("ticket_hash", name="pk_ws_tickets"),
    )
    op.create_index("ix_ws_tickets_expires_at", "ws_tickets", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_ws_tickets_expires_at", table_name="ws_tickets")
    op.drop_table("ws_tickets")
    with op.batch_alter_table("dictations") as batch:
        batch.drop_column("version")
