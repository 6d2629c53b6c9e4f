"""Award owners (to route cancellations to the right person) and agencies' upload tokens.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "award_subjects",
        sa.Column("award_id", sa.String(255), nullable=False),
        sa.Column("person_id", sa.String(18), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("award_id", name=op.f("pk_award_subjects")),
    )
    op.create_table(
        "upload_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("agency", sa.String(64), nullable=False),
        sa.Column("feeds", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_upload_tokens")),
    )
    op.create_index(op.f("ix_upload_tokens_agency"), "upload_tokens", ["agency"])


def downgrade() -> None:
    op.drop_index(op.f("ix_upload_tokens_agency"), table_name="upload_tokens")
    op.drop_table("upload_tokens")
    op.drop_table("award_subjects")
