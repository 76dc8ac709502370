"""Token expiry and rotation, and the revocation epoch live connections poll.

``api_tokens.expires_at`` (every token now expires) and ``api_tokens.rotated_to`` (the
token ``scribe token rotate`` issued in its place); ``token_epoch``, a one-row counter
that every revocation, rotation or account deletion bumps in the same transaction, so a
server learns of a change made by another process with one cheap read.

Tokens that exist at the upgrade get their role's default lifetime counted from the
upgrade, not from their creation: an upgrade must not lock a running deployment out at
once, and no token is left without an end.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# the defaults of this revision (server/config.py DEFAULT_TOKEN_DAYS at the time)
LIFETIME_DAYS = {"admin": 30, "physician": 90, "scribe": 90, "manager": 90}


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime))
        batch.add_column(sa.Column("rotated_to", sa.Integer))
    op.create_table(
        "token_epoch",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_token_epoch"),
    )
    conn = op.get_bind()
    tokens = sa.table("api_tokens", sa.column("id", sa.Integer), sa.column("role", sa.String),
                      sa.column("expires_at", sa.DateTime))
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for role, days in LIFETIME_DAYS.items():
        conn.execute(sa.update(tokens).where(tokens.c.role == role, tokens.c.expires_at.is_(None))
                     .values(expires_at=now + timedelta(days=days)))
    conn.execute(sa.insert(sa.table("token_epoch", sa.column("id", sa.Integer), sa.column("epoch", sa.Integer)))
                 .values(id=1, epoch=0))


def downgrade() -> None:
    op.drop_table("token_epoch")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("rotated_to")
        batch.drop_column("expires_at")
