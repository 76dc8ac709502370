"""The CDS Hooks service's cards and the feedback the EHR sends on them.

``cds_cards``: one row per card answered (its uuid, the service, the hook instance, the
CDS client, the rule and gap code); ``cds_feedback``: accepted / overridden per card,
with the override reason, so order-time override rates by rule sit next to the review
queue's dismissal rates.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "cds_cards",
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("hook_instance", sa.String(64), nullable=False),
        sa.Column("client_iss", sa.String(300), nullable=False),
        sa.Column("rule_id", sa.String(20), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("cpt", sa.String(8)),
        sa.Column("icd10", sa.String(10)),
        sa.Column("issued_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("uuid", name="pk_cds_cards"),
    )
    op.create_index("ix_cds_cards_rule_id", "cds_cards", ["rule_id"])
    op.create_index("ix_cds_cards_issued_at", "cds_cards", ["issued_at"])
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


def downgrade() -> None:
    op.drop_table("cds_feedback")
    op.drop_table("cds_cards")
