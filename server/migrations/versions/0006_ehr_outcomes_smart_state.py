"""Order-time outcomes in the review queue's outcome table; SMART launch state and CDS JWT ids in the database.

* ``gap_actions`` becomes the one table of what people did about a rule's finding, whichever
  channel showed it: the review queue's resolve / dismiss / query / answer on a stored gap
  (``gap_id``, ``dictation_id``), and the EHR's CDS Hooks feedback on an order-time card
  (``card_uuid``; ``action`` accept / override, ``reason`` the override reason's code, which is
  one of the dismissal reasons, ``text`` the user's comment, ``detail`` the accepted
  suggestions). ``gap_id`` and ``dictation_id`` become nullable; a row names a gap or a card.
  The rows of ``cds_feedback`` (migration 0003) move there and the table goes.
* ``cds_cards.provider``: the ordering provider of the order a card was about (the
  dashboard's provider filter).
* ``smart_launches`` (a launch's ``state``, stored as sha256, its PKCE verifier, the EHR's
  endpoints, expiry, when it was used), ``smart_codes`` (sha256 of every authorization code
  exchanged, until it expires) and ``smart_sessions`` (the EHR's tokens of a launch, under the
  sha256 of the browser's session cookie): a launch survives a restart of scribe, each state
  and code is good once, and all of them expire.
* ``cds_jwt_ids``: sha256 of (iss, jti) of every CDS JWT accepted, until its ``exp``: a replay
  is refused after a restart too.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-09
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("cds_cards") as batch:
        batch.add_column(sa.Column("provider", sa.String(200)))
    with op.batch_alter_table("gap_actions") as batch:
        batch.alter_column("gap_id", existing_type=sa.Integer, nullable=True)
        batch.alter_column("dictation_id", existing_type=sa.String(64), nullable=True)
        batch.add_column(sa.Column("card_uuid", sa.String(36)))
        batch.add_column(sa.Column("detail", JSON))
        batch.create_foreign_key("fk_gap_actions_card_uuid_cds_cards", "cds_cards", ["card_uuid"], ["uuid"],
                                 ondelete="CASCADE")
        batch.create_index("ix_gap_actions_card_uuid", ["card_uuid"])
        batch.create_check_constraint("ck_gap_actions_subject", "gap_id IS NOT NULL OR card_uuid IS NOT NULL")
    op.execute(
        "INSERT INTO gap_actions (card_uuid, action, reason, text, detail, actor_name, actor_role, at) "
        "SELECT f.card_uuid, CASE f.outcome WHEN 'accepted' THEN 'accept' ELSE 'override' END, "
        "f.override_reason, f.comment, f.accepted_suggestions, substr(c.client_iss, 1, 100), 'ehr', f.outcome_at "
        "FROM cds_feedback f JOIN cds_cards c ON c.uuid = f.card_uuid ORDER BY f.id")
    op.drop_table("cds_feedback")

    op.create_table(
        "smart_launches",
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("iss", sa.String(300), nullable=False),
        sa.Column("verifier", sa.String(128), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("standalone", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("used_at", sa.DateTime),
        sa.PrimaryKeyConstraint("state_hash", name="pk_smart_launches"),
    )
    op.create_index("ix_smart_launches_expires_at", "smart_launches", ["expires_at"])
    op.create_table(
        "smart_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("code_hash", name="pk_smart_codes"),
    )
    op.create_index("ix_smart_codes_expires_at", "smart_codes", ["expires_at"])
    op.create_table(
        "smart_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("iss", sa.String(300), nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("fhir_user", sa.String(300), nullable=False),
        sa.Column("access_token", sa.Text, nullable=False),
        sa.Column("refresh_token", sa.Text),
        sa.Column("patient", sa.String(100)),
        sa.Column("encounter", sa.String(100)),
        sa.Column("service_request", sa.String(120)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name="pk_smart_sessions"),
    )
    op.create_index("ix_smart_sessions_expires_at", "smart_sessions", ["expires_at"])
    op.create_table(
        "cds_jwt_ids",
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name="pk_cds_jwt_ids"),
    )
    op.create_index("ix_cds_jwt_ids_expires_at", "cds_jwt_ids", ["expires_at"])


def downgrade() -> None:
    op.drop_table("cds_jwt_ids")
    op.drop_table("smart_sessions")
    op.drop_table("smart_codes")
    op.drop_table("smart_launches")
    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("card_uuid", sa.String(36), nullable=False),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("override_reason", sa.String(40)),
        sa.Column("comment", sa.Text),
        sa.Column("accepted_suggestions", JSON, nullable=False),
        sa.Column("outcome_at", sa.DateTime, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.ForeignKeyConstraint(["card_uuid"], ["cds_cards.uuid"], name="fk_cds_feedback_card_uuid_cds_cards",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_cds_feedback"),
    )
    op.create_index("ix_cds_feedback_card_uuid", "cds_feedback", ["card_uuid"])
    op.execute(
        "INSERT INTO cds_feedback (card_uuid, outcome, override_reason, comment, accepted_suggestions, outcome_at, "
        "received_at) SELECT card_uuid, CASE action WHEN 'accept' THEN 'accepted' ELSE 'overridden' END, reason, "
        "text, COALESCE(detail, '[]'), at, at FROM gap_actions WHERE card_uuid IS NOT NULL ORDER BY id")
    op.execute("DELETE FROM gap_actions WHERE card_uuid IS NOT NULL")
    with op.batch_alter_table("gap_actions") as batch:
        batch.drop_constraint("ck_gap_actions_subject", type_="check")
        batch.drop_index("ix_gap_actions_card_uuid")
        batch.drop_constraint("fk_gap_actions_card_uuid_cds_cards", type_="foreignkey")
        batch.drop_column("detail")
        batch.drop_column("card_uuid")
        batch.alter_column("dictation_id", existing_type=sa.String(64), nullable=False)
        batch.alter_column("gap_id", existing_type=sa.Integer, nullable=False)
    # not a batch (which would copy cds_cards and drop the old table: on SQLite with foreign keys
    # on, that deletes the cds_feedback rows put back above); SQLite drops a column itself since 3.35
    op.execute("ALTER TABLE cds_cards DROP COLUMN provider")
