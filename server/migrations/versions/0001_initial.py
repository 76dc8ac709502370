"""Initial schema: tokens, dictations, codes, events, gaps, gap actions, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(12), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(100)),
        sa.Column("revoked_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_name", "api_tokens", ["name"])

    op.create_table(
        "dictations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("provider", sa.String(200), nullable=False),
        sa.Column("encounter", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("finalized_at", sa.DateTime),
        sa.Column("finalized_week", sa.String(10)),
        sa.Column("partial_seq", sa.Integer),
        sa.Column("partial_text", sa.Text),
        sa.Column("final_text", sa.Text),
        sa.Column("open_errors", sa.Integer),
        sa.Column("open_warnings", sa.Integer),
        sa.Column("open_infos", sa.Integer),
        sa.Column("clean", sa.Boolean),
        sa.PrimaryKeyConstraint("id", name="pk_dictations"),
    )
    op.create_index("ix_dictations_owner", "dictations", ["owner"])
    op.create_index("ix_dictations_provider", "dictations", ["provider"])
    op.create_index("ix_dictations_finalized_at", "dictations", ["finalized_at"])
    op.create_index("ix_dictations_finalized_week", "dictations", ["finalized_week"])

    op.create_table(
        "dictation_codes",
        sa.Column("dictation_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("dictation_id", "kind", "code", name="pk_dictation_codes"),
        sa.ForeignKeyConstraint(["dictation_id"], ["dictations.id"], ondelete="CASCADE",
                                name="fk_dictation_codes_dictation_id_dictations"),
    )
    op.create_index("ix_dictation_codes_kind_code", "dictation_codes", ["kind", "code"])

    op.create_table(
        "events",
        sa.Column("dictation_id", sa.String(64), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("seq", sa.Integer),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("dictation_id", "n", name="pk_events"),
        sa.ForeignKeyConstraint(["dictation_id"], ["dictations.id"], ondelete="CASCADE",
                                name="fk_events_dictation_id_dictations"),
    )

    op.create_table(
        "gaps",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("dictation_id", sa.String(64), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("rule_id", sa.String(20), nullable=False),
        sa.Column("cpt", sa.String(8)),
        sa.Column("icd10", sa.String(10)),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("fix", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("queried", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gaps"),
        sa.ForeignKeyConstraint(["dictation_id"], ["dictations.id"], ondelete="CASCADE",
                                name="fk_gaps_dictation_id_dictations"),
    )
    op.create_index("ix_gaps_dictation_id", "gaps", ["dictation_id"])
    op.create_index("ix_gaps_status_code", "gaps", ["status", "code"])

    op.create_table(
        "gap_actions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("gap_id", sa.Integer, nullable=False),
        sa.Column("dictation_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(12), nullable=False),
        sa.Column("reason", sa.String(40)),
        sa.Column("text", sa.Text),
        sa.Column("actor_token_id", sa.Integer),
        sa.Column("actor_name", sa.String(100), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gap_actions"),
        sa.ForeignKeyConstraint(["gap_id"], ["gaps.id"], ondelete="CASCADE", name="fk_gap_actions_gap_id_gaps"),
        sa.ForeignKeyConstraint(["dictation_id"], ["dictations.id"], ondelete="CASCADE",
                                name="fk_gap_actions_dictation_id_dictations"),
    )
    op.create_index("ix_gap_actions_gap_id", "gap_actions", ["gap_id"])
    op.create_index("ix_gap_actions_dictation_id", "gap_actions", ["dictation_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor_token_id", sa.Integer),
        sa.Column("actor_name", sa.String(100), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("dictation_id", sa.String(64)),
        sa.Column("detail", sa.String(200)),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_dictation_id", "audit_log", ["dictation_id"])


def downgrade() -> None:
    for table in ("audit_log", "gap_actions", "gaps", "events", "dictation_codes", "dictations", "api_tokens"):
        op.drop_table(table)
