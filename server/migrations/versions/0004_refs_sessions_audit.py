"""Per-owner dictation ids, browser sessions, and where an audited read came from.

* ``dictations.ref``: the id the physician gave (``start``'s ``dictation_id``), unique per
  owner. ``dictations.id`` stays the service's own key; it equals ``ref`` unless another
  owner already had that id, so the same id from a different owner neither collides nor
  reveals that it exists (issue 14, item 4). Existing rows get ``ref = id``.
* ``web_sessions``: a page opened with ``?access_token=`` exchanges the token once for an
  HttpOnly session cookie; the row holds the sha256 of the cookie's secret, the token it
  stands for (its revocation or expiry ends the session) and the session's own end.
* ``audit_log.address``: the client address of every audited read; ``actor_name`` indexed
  for ``GET /api/audit?actor=``.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-08
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dictations") as batch:
        batch.add_column(sa.Column("ref", sa.String(64)))
    op.execute("UPDATE dictations SET ref = id")
    with op.batch_alter_table("dictations") as batch:
        batch.alter_column("ref", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_dictations_owner_ref", ["owner", "ref"])
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("address", sa.String(64)))
        batch.create_index("ix_audit_log_actor_name", ["actor_name"])
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("token_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_web_sessions"),
        sa.UniqueConstraint("secret_hash", name="uq_web_sessions_secret_hash"),
    )
    op.create_index("ix_web_sessions_token_id", "web_sessions", ["token_id"])


def downgrade() -> None:
    op.drop_index("ix_web_sessions_token_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_log_actor_name")
        batch.drop_column("address")
    with op.batch_alter_table("dictations") as batch:
        batch.drop_constraint("uq_dictations_owner_ref", type_="unique")
        batch.drop_column("ref")
