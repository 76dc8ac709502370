"""Retrospective audits loaded from `scribe audit` results, kept apart from live dictations.

``audits``: one row per loaded audit (the results' run id, a name, the source file, the
cases' date range, who loaded it and when, totals). ``audit_cases``: one row per checked
case (provider, date, counts of open gaps, complete or not); ``audit_case_codes``: its CPT
and ICD-10-CM codes; ``audit_gaps``: one row per gap (code, severity, rule, CPT, line,
ICD-10-CM). No note text, message or evidence is loaded: the dashboard reads aggregates.

Revision ID: 0005
Revises: 0006 (0005 was reserved for this change; 0006 landed first, so it follows it)
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audits",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("date_from", sa.Date),
        sa.Column("date_to", sa.Date),
        sa.Column("loaded_at", sa.DateTime, nullable=False),
        sa.Column("loaded_by", sa.String(100), nullable=False),
        sa.Column("cases", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("clean", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audits"),
        sa.UniqueConstraint("run_id", name="uq_audits_run_id"),
    )
    op.create_table(
        "audit_cases",
        sa.Column("audit_id", sa.Integer, nullable=False),
        sa.Column("row", sa.BigInteger, nullable=False),
        sa.Column("case_id", sa.String(200)),
        sa.Column("provider", sa.String(200), nullable=False),
        sa.Column("service_date", sa.Date),
        sa.Column("clean", sa.Boolean, nullable=False),
        sa.Column("open_errors", sa.Integer, nullable=False),
        sa.Column("open_warnings", sa.Integer, nullable=False),
        sa.Column("open_infos", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(["audit_id"], ["audits.id"], name="fk_audit_cases_audit_id_audits", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("audit_id", "row", name="pk_audit_cases"),
    )
    op.create_index("ix_audit_cases_audit_id_provider", "audit_cases", ["audit_id", "provider"])
    op.create_table(
        "audit_case_codes",
        sa.Column("audit_id", sa.Integer, nullable=False),
        sa.Column("row", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(["audit_id"], ["audits.id"], name="fk_audit_case_codes_audit_id_audits",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("audit_id", "row", "kind", "code", name="pk_audit_case_codes"),
    )
    op.create_index("ix_audit_case_codes_audit_id_kind_code", "audit_case_codes", ["audit_id", "kind", "code"])
    op.create_table(
        "audit_gaps",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("audit_id", sa.Integer, nullable=False),
        sa.Column("row", sa.BigInteger, nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("rule_id", sa.String(20), nullable=False),
        sa.Column("cpt", sa.String(8)),
        sa.Column("line", sa.Integer),
        sa.Column("icd10", sa.String(10)),
        sa.ForeignKeyConstraint(["audit_id"], ["audits.id"], name="fk_audit_gaps_audit_id_audits", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_gaps"),
    )
    op.create_index("ix_audit_gaps_audit_id_code", "audit_gaps", ["audit_id", "code"])


def downgrade() -> None:
    for table in ("audit_gaps", "audit_case_codes", "audit_cases", "audits"):
        op.drop_table(table)
