"""The auditors' case store (cases, append-only case_history) and the web API's tokens.

Written by hand against ``pensionx.db.tables`` (``tests/integration/test_db.py`` compares the
two). The history's append-only rule is also enforced by the database, with triggers that
refuse UPDATE and DELETE on both SQLite and PostgreSQL: metadata cannot express them, and a
history that a bug (or a hurried clean-up script) can rewrite is no audit trail.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MESSAGE = "case_history is append-only"


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _money() -> sa.Numeric[Decimal]:
    return sa.Numeric(18, 2)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("conflict_id", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(48), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("published_status", sa.String(16), nullable=False),
        sa.Column("person_id", sa.String(18), nullable=False),
        sa.Column("person_name", sa.Text(), nullable=True),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("overpayment_estimate", _money(), nullable=True),
        sa.Column("conflict", sa.JSON(), nullable=False),
        sa.Column("evidence_fingerprint", sa.String(64), nullable=False),
        sa.Column("detected_at", _utc(), nullable=False),
        sa.Column("first_detected_at", _utc(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(255), nullable=True),
        sa.Column("dismissal_reason", sa.String(32), nullable=True),
        sa.Column("dismissal_text", sa.Text(), nullable=True),
        sa.Column("amount_recovered", _money(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("closed_at", _utc(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('OPEN', 'UNDER_REVIEW', 'CONFIRMED', 'DISMISSED', 'WITHDRAWN')",
            name=op.f("ck_cases_status"),
        ),
        sa.CheckConstraint(
            "dismissal_reason IS NULL OR dismissal_reason IN "
            "('COINCIDENTAL_MATCH', 'DATA_ERROR_CORRECTED', 'ALREADY_RECOVERED', 'OTHER')",
            name=op.f("ck_cases_dismissal_reason"),
        ),
        sa.PrimaryKeyConstraint("conflict_id", name=op.f("pk_cases")),
    )
    op.create_index(op.f("ix_cases_status_rule"), "cases", ["status", "rule"])
    op.create_index(op.f("ix_cases_region_code"), "cases", ["region_code"])
    op.create_index(op.f("ix_cases_person_id"), "cases", ["person_id"])
    op.create_index(op.f("ix_cases_first_detected_at"), "cases", ["first_detected_at"])
    op.create_index(op.f("ix_cases_assignee"), "cases", ["assignee"])

    op.create_table(
        "case_history",
        sa.Column("entry_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conflict_id", sa.String(64), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conflict_id"],
            ["cases.conflict_id"],
            name=op.f("fk_case_history_conflict_id_cases"),
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_case_history")),
    )
    op.create_index(
        op.f("ix_case_history_conflict_id_entry_id"), "case_history", ["conflict_id", "entry_id"]
    )
    _append_only_triggers()

    op.create_table(
        "api_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("regions", sa.String(255), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("revoked_at", _utc(), nullable=True),
        sa.CheckConstraint(
            "role IN ('auditor', 'supervisor', 'agency')", name=op.f("ck_api_tokens_role")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_api_tokens")),
    )
    op.create_index(op.f("ix_api_tokens_name"), "api_tokens", ["name"])


def _append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION case_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER case_history_append_only BEFORE UPDATE OR DELETE ON case_history "
            "FOR EACH ROW EXECUTE FUNCTION case_history_append_only()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER case_history_no_{event.lower()} BEFORE {event} ON case_history "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_api_tokens_name"), table_name="api_tokens")
    op.drop_table("api_tokens")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS case_history_append_only ON case_history")
        op.execute("DROP FUNCTION IF EXISTS case_history_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS case_history_no_update")
        op.execute("DROP TRIGGER IF EXISTS case_history_no_delete")
    op.drop_index(op.f("ix_case_history_conflict_id_entry_id"), table_name="case_history")
    op.drop_table("case_history")
    for name in ("assignee", "first_detected_at", "person_id", "region_code", "status_rule"):
        op.drop_index(op.f(f"ix_cases_{name}"), table_name="cases")
    op.drop_table("cases")
