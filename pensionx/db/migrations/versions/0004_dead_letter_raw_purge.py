"""Dead letters remember when their raw text was purged (PENSIONX_DEAD_LETTER_RAW_RETENTION_DAYS).

A dead letter's raw text is the record as the agency sent it, identity numbers and all; it is
kept only as long as a clerk may need it to fix the source record. After that it is blanked
and ``raw_purged_at`` says when, so a reader can tell "purged" from "the line was empty".

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "dead_letters", sa.Column("raw_purged_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_column("raw_purged_at")
