"""The database schema, as SQLAlchemy Core tables: the one description Alembic is checked against.

Core rather than the ORM because every caller moves rows in bulk (a batch of archived events,
a page of prompts) and the domain records are already plain frozen dataclasses; a second,
mutable object model of the same facts would only have to be kept in step.

Only portable types are used, so one schema serves SQLite and PostgreSQL: money is
``Numeric(18, 2)`` (exact decimals, never floats), every timestamp is a :class:`UTCDateTime`.
Constraint names come from :data:`NAMING`, so a migration and ``metadata`` name them alike
on both databases. A change here needs a new revision under ``migrations/versions``;
``tests/integration/test_db.py`` fails while the two disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

NAMING: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored as UTC and always read back aware, in UTC.

    SQLite has no time zones: it would hand back a naive datetime that reads as local time
    (eight hours off here). PostgreSQL hands back the session's zone. Both are normalised to
    UTC, and a naive datetime is refused on the way in rather than guessed at.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give it a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


def Money() -> sa.Numeric[Any]:  # noqa: N802 - reads as a type in the column lists below
    """Yuan with fen: exact to 2 places, up to 16 digits before the point."""
    return sa.Numeric(18, 2)


# --- The embedded schema registry (Confluent numbering) --------------------------------------
# Confluent gives one global id per distinct schema, shared by every subject that registers it,
# and numbers versions per subject; hence two tables rather than one row per (subject, schema).

schemas = sa.Table(
    "schemas",
    metadata,
    sa.Column("schema_id", sa.Integer, primary_key=True, autoincrement=True),
    # sha256 hex of the schema's normalised form (pensionx.avro.schemas.identity): the same
    # schema registered again, under any subject, is found by it and keeps its id.
    sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
    sa.Column("schema_type", sa.String(16), nullable=False, server_default="AVRO"),
    sa.Column("schema_text", sa.Text, nullable=False),
    sa.Column("registered_at", UTCDateTime, nullable=False),
)

schema_subjects = sa.Table(
    "schema_subjects",
    metadata,
    sa.Column("subject", sa.String(255), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("schema_id", sa.Integer, sa.ForeignKey("schemas.schema_id"), nullable=False),
    sa.Column("registered_at", UTCDateTime, nullable=False),
    # a schema is one version of a subject at most: registering it again returns that version
    sa.UniqueConstraint("subject", "schema_id"),
    sa.Index(None, "schema_id"),
)

# --- The archive: a hash chain of entries, each a file or a batch of events -----------------

archive_head = sa.Table(
    "archive_head",
    metadata,
    # One row. Appenders lock it (SELECT ... FOR UPDATE), so two processes cannot both extend
    # the same last entry; it also remembers the last entry, so removing the newest entries
    # is seen by `verify` and not mistaken for a shorter, intact chain.
    sa.Column("chain_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_seq", sa.Integer, nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
    sa.CheckConstraint("chain_id = 1", name="single_row"),
)

archive_entries = sa.Table(
    "archive_entries",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("event_count", sa.Integer, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False),
    sa.CheckConstraint("kind IN ('FILE', 'EVENTS')", name="kind"),
    sa.Index(None, "recorded_at"),
)

archive_files = sa.Table(
    "archive_files",
    metadata,
    sa.Column(
        "seq",
        sa.Integer,
        sa.ForeignKey("archive_entries.seq"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("feed", sa.String(32), nullable=False),
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("uploader", sa.String(255), nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("lines_read", sa.Integer, nullable=False),
    sa.Column("published", sa.Integer, nullable=False),
    sa.Column("duplicates", sa.Integer, nullable=False),
    sa.Column("dead_letters", sa.Integer, nullable=False),
    sa.Index(None, "sha256"),
)

archive_events = sa.Table(
    "archive_events",
    metadata,
    # The primary key is what makes "the same record delivered twice is published once".
    sa.Column("event_id", sa.String(255), primary_key=True),
    sa.Column("seq", sa.Integer, sa.ForeignKey("archive_entries.seq"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("feed", sa.String(32), nullable=False),
    sa.Column("topic", sa.String(249), nullable=False),
    sa.Column("key", sa.Text, nullable=True),
    # The exact bytes published (Confluent wire format), so a replay republishes them as they were.
    sa.Column("value", sa.LargeBinary, nullable=False),
    # The file the event came from (archive_files.sha256) and its line; empty for other sources.
    sa.Column("file_sha256", sa.String(64), nullable=True),
    sa.Column("line", sa.Integer, nullable=True),
    # Archive order, for replay and verification; also the index that serves both.
    sa.UniqueConstraint("seq", "position"),
)

# --- Dead letters and registration prompts ---------------------------------------------------

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("dead_letter_id", sa.String(255), primary_key=True),
    sa.Column("feed", sa.String(32), nullable=False),
    sa.Column("error_code", sa.String(64), nullable=False),
    sa.Column("message_zh", sa.Text, nullable=False),
    sa.Column("message_en", sa.Text, nullable=False),
    sa.Column("raw_text", sa.Text, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("file", sa.Text, nullable=True),
    sa.Column("line", sa.Integer, nullable=True),
    sa.Column("topic", sa.String(249), nullable=True),
    # "partition" and "offset" are SQL keywords; prefixed so hand-written SQL needs no quoting.
    sa.Column("kafka_partition", sa.Integer, nullable=True),
    sa.Column("kafka_offset", sa.BigInteger, nullable=True),
    sa.Column("field_name", sa.String(128), nullable=True),
    sa.Column("extra", sa.JSON, nullable=False),
    # Set when the raw text was blanked after its retention (migration 0004).
    sa.Column("raw_purged_at", UTCDateTime, nullable=True),
    sa.Index(None, "feed", "received_at"),
    sa.Index(None, "error_code"),
)

PROMPT_STATES = ("PENDING", "SENT", "ACKNOWLEDGED")

prompts = sa.Table(
    "prompts",
    metadata,
    sa.Column("prompt_id", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("recipient", sa.String(16), nullable=False),
    sa.Column("priority", sa.String(8), nullable=False),
    sa.Column("uscc", sa.String(18), nullable=False),
    sa.Column("enterprise_name", sa.Text, nullable=False),
    sa.Column("region_code", sa.String(6), nullable=False),
    sa.Column("issued_on", sa.Date, nullable=False),
    sa.Column("deadline", sa.Date, nullable=True),
    sa.Column("period", sa.String(7), nullable=True),
    sa.Column("declared_base", Money(), nullable=True),
    sa.Column("base_floor", Money(), nullable=True),
    sa.Column("base_shortfall", Money(), nullable=True),
    # The whole RegistrationPrompt, so a letter can be printed again exactly as it was issued.
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, server_default="PENDING"),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("acknowledged_at", UTCDateTime, nullable=True),
    sa.Column("acknowledged_by", sa.String(255), nullable=True),
    sa.CheckConstraint("state IN ('PENDING', 'SENT', 'ACKNOWLEDGED')", name="state"),
    sa.Index(None, "kind", "state"),
    sa.Index(None, "region_code"),
    sa.Index(None, "uscc"),
)

# Which person an award belongs to. The audit office cancels an award by its id alone
# (AWARD_CANCELLED carries no person_id), but the conflict service is partitioned by person:
# the connector looks the person up here to key the cancellation to the right ledger.
award_subjects = sa.Table(
    "award_subjects",
    metadata,
    sa.Column("award_id", sa.String(255), primary_key=True),
    sa.Column("person_id", sa.String(18), nullable=False),
    sa.Column("event_id", sa.String(255), nullable=False),
)

# Upload tokens, one or more per agency, stored as SHA-256 hashes (a token is a random secret of
# 256 bits, so a plain hash suffices; no password stretching is needed). `feeds` lists the feeds
# the agency may upload, comma-separated.
upload_tokens = sa.Table(
    "upload_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("agency", sa.String(64), nullable=False),
    sa.Column("feeds", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Index(None, "agency"),
)

# --- The auditors' cases (one per conflict) and who may use the web API ---------------------

CASE_STATUSES = ("OPEN", "UNDER_REVIEW", "CONFIRMED", "DISMISSED", "WITHDRAWN")
DISMISSAL_REASONS = ("COINCIDENTAL_MATCH", "DATA_ERROR_CORRECTED", "ALREADY_RECOVERED", "OTHER")
API_ROLES = ("auditor", "supervisor", "agency")

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("conflict_id", sa.String(64), primary_key=True),
    # The listing fields are copied out of `conflict` so filters and the dashboard's counts are
    # plain indexed columns; `conflict` (JSON) keeps the whole record with its evidence.
    sa.Column("rule", sa.String(48), nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("published_status", sa.String(16), nullable=False),
    sa.Column("person_id", sa.String(18), nullable=False),
    sa.Column("person_name", sa.Text, nullable=True),
    sa.Column("region_code", sa.String(6), nullable=False),
    sa.Column("overpayment_estimate", Money(), nullable=True),
    sa.Column("conflict", sa.JSON, nullable=False),
    # sha256 of the published status and evidence: the same evidence again changes nothing.
    sa.Column("evidence_fingerprint", sa.String(64), nullable=False),
    sa.Column("detected_at", UTCDateTime, nullable=False),
    sa.Column("first_detected_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("assignee", sa.String(255), nullable=True),
    sa.Column("dismissal_reason", sa.String(32), nullable=True),
    sa.Column("dismissal_text", sa.Text, nullable=True),
    sa.Column("amount_recovered", Money(), nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.CheckConstraint(
        "status IN ('OPEN', 'UNDER_REVIEW', 'CONFIRMED', 'DISMISSED', 'WITHDRAWN')", name="status"
    ),
    sa.CheckConstraint(
        "dismissal_reason IS NULL OR dismissal_reason IN "
        "('COINCIDENTAL_MATCH', 'DATA_ERROR_CORRECTED', 'ALREADY_RECOVERED', 'OTHER')",
        name="dismissal_reason",
    ),
    sa.Index(None, "status", "rule"),
    sa.Index(None, "region_code"),
    sa.Index(None, "person_id"),
    sa.Index(None, "first_detected_at"),
    sa.Index(None, "assignee"),
)

# Append-only: the repository never updates or deletes a row, and migration 0003 adds triggers
# that make the database refuse it too, so "who did what" cannot be rewritten by a bug.
case_history = sa.Table(
    "case_history",
    metadata,
    sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "conflict_id", sa.String(64), sa.ForeignKey("cases.conflict_id"), nullable=False
    ),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("from_status", sa.String(16), nullable=True),
    sa.Column("to_status", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Index(None, "conflict_id", "entry_id"),
)

# Bearer tokens for the auditors' API and page, stored as SHA-256 hashes of 256-bit random
# secrets (no stretching needed for a secret that was never guessable). An agency token is
# bound to region-code prefixes (comma-separated in `regions`) and sees only those prompts.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("regions", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.CheckConstraint("role IN ('auditor', 'supervisor', 'agency')", name="role"),
    sa.Index(None, "name"),
)
