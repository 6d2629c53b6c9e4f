"""The embedded schema registry: Confluent's numbering, kept in the exchange's database.

Ids must survive a restart: every message on a topic and in the archive carries its schema id,
so a registry that forgot them would make the archive unreadable. Hence the ``schemas`` and
``schema_subjects`` tables (one global id per distinct schema, versions per subject), with
the database's unique constraints, not this process, deciding races: two workers registering
at once on PostgreSQL both try, one insert loses with an IntegrityError, and the loser starts
again and finds the winner's row. On SQLite ``BEGIN IMMEDIATE`` already queues them.

A schema that breaks the subject's earlier versions (BACKWARD_TRANSITIVE, see
:mod:`pensionx.avro.compatibility`) is refused, as Confluent refuses it with HTTP 409.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pensionx.avro import compatibility
from pensionx.avro.compatibility import IncompatibleSchemaError, Violation
from pensionx.avro.schemas import identity, parse
from pensionx.db.engine import dialect_insert, unreachable, write_transaction
from pensionx.db.tables import schema_subjects, schemas
from pensionx.errors import SchemaRegistryError, SerializationError

# Each retry follows a concurrent registration that won a unique constraint; three in a row
# would mean something else is wrong.
_ATTEMPTS = 4

Version = int | Literal["latest"]


class SubjectNotFoundError(SchemaRegistryError):
    """No version is registered under the subject (Confluent error 40401)."""

    error_code = 40401


class VersionNotFoundError(SchemaRegistryError):
    """The subject exists but has no such version (Confluent error 40402)."""

    error_code = 40402


class SchemaNotFoundError(SchemaRegistryError):
    """No schema has that id (Confluent error 40403)."""

    error_code = 40403


class InvalidSchemaError(SchemaRegistryError):
    """The text is not a usable Avro schema (Confluent error 42201)."""

    error_code = 42201


def schema_fingerprint(schema_text: str) -> str:
    """sha256 of the normalised text: equal for the same schema whatever its whitespace."""
    return hashlib.sha256(identity(schema_text).encode("utf-8")).hexdigest()


class DatabaseSchemaRegistry:
    """A :class:`~pensionx.avro.registry.SchemaRegistry` in the ``schemas`` tables of ``engine``.

    The database must be migrated (:func:`pensionx.db.engine.migrate`). Texts are cached by id
    once read: a registered schema never changes.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._texts: dict[int, str] = {}

    # -- the Protocol --------------------------------------------------------------------

    def register(self, subject: str, schema_text: str) -> int:
        """Register ``schema_text`` under ``subject`` and return its global id.

        The same schema again returns the same id and adds no version; a schema known under
        another subject keeps its id and becomes a version here. Refused with
        :class:`IncompatibleSchemaError` when it breaks one of the subject's versions.
        """
        _validate(subject, schema_text)
        fingerprint = schema_fingerprint(schema_text)
        known = self._known(subject, fingerprint)
        if known is not None:  # the usual case at startup: no write lock needed
            return known
        for attempt in range(_ATTEMPTS):
            try:
                return self._register_once(subject, schema_text, fingerprint)
            except sa.exc.IntegrityError as exc:
                if attempt == _ATTEMPTS - 1:
                    raise SchemaRegistryError(
                        f"could not register the schema for subject {subject}: concurrent "
                        f"registrations kept conflicting ({exc.orig})"
                    ) from exc
            except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
                raise unreachable(self._engine, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def schema_by_id(self, schema_id: int) -> str:
        """The text registered with ``schema_id``; :class:`SchemaNotFoundError` if none."""
        cached = self._texts.get(schema_id)
        if cached is not None:
            return cached
        with self._read() as conn:
            text = conn.scalar(
                sa.select(schemas.c.schema_text).where(schemas.c.schema_id == schema_id)
            )
        if text is None:
            raise SchemaNotFoundError(f"schema id {schema_id} is not registered")
        self._texts[schema_id] = text
        return str(text)

    # -- browsing (the REST API and `schemas check`) -------------------------------------

    def subjects(self) -> list[str]:
        """Every subject with at least one version, sorted."""
        with self._read() as conn:
            rows = conn.scalars(
                sa.select(schema_subjects.c.subject).distinct().order_by(schema_subjects.c.subject)
            )
            return list(rows)

    def versions(self, subject: str) -> list[int]:
        """The schema ids of ``subject``'s versions, oldest first (as the in-memory registry)."""
        return [schema_id for _, schema_id in self._versions(subject)]

    def version_numbers(self, subject: str) -> list[int]:
        """``subject``'s version numbers, oldest first."""
        return [number for number, _ in self._versions(subject)]

    def version(self, subject: str, version: Version) -> tuple[int, int, str]:
        """(schema id, version, text) of ``subject``'s version ``version`` (or the latest;
        Confluent's ``-1`` means latest too)."""
        query = (
            sa.select(schema_subjects.c.schema_id, schema_subjects.c.version)
            .where(schema_subjects.c.subject == subject)
            .order_by(schema_subjects.c.version.desc())
            .limit(1)
        )
        if version not in ("latest", -1):
            query = query.where(schema_subjects.c.version == version)
        with self._read() as conn:
            row = conn.execute(query).first()
            if row is None:
                if self._exists(conn, subject):
                    raise VersionNotFoundError(f"subject {subject} has no version {version}")
                raise SubjectNotFoundError(f"subject {subject} is not registered")
        return row.schema_id, row.version, self.schema_by_id(row.schema_id)

    def lookup(self, subject: str, schema_text: str) -> tuple[int, int, str]:
        """(schema id, version, text) under which ``schema_text`` is registered in ``subject``
        (Confluent's ``POST /subjects/{subject}``); not-found errors otherwise."""
        _validate(subject, schema_text)
        with self._read() as conn:
            row = conn.execute(
                sa.select(schemas.c.schema_id, schema_subjects.c.version)
                .join(schema_subjects, schema_subjects.c.schema_id == schemas.c.schema_id)
                .where(
                    schemas.c.fingerprint == schema_fingerprint(schema_text),
                    schema_subjects.c.subject == subject,
                )
            ).first()
            if row is None:
                if self._exists(conn, subject):
                    raise SchemaNotFoundError(f"the schema is not registered under {subject}")
                raise SubjectNotFoundError(f"subject {subject} is not registered")
        return row.schema_id, row.version, self.schema_by_id(row.schema_id)

    def compatibility(
        self, subject: str, schema_text: str, version: Version | None = None
    ) -> list[Violation]:
        """What ``schema_text`` would break in ``subject``: against one version, or against all
        (``None``, BACKWARD_TRANSITIVE); empty when it could be registered."""
        _validate(subject, schema_text)
        if version is not None:
            _, number, text = self.version(subject, version)
            return compatibility.check(schema_text, [text], [f"version {number}"])
        try:
            numbers = self._versions(subject)
        except SubjectNotFoundError:
            return []
        texts = [self.schema_by_id(schema_id) for _, schema_id in numbers]
        return compatibility.check(schema_text, texts, [f"version {n}" for n, _ in numbers])

    # -- internals -----------------------------------------------------------------------

    def _register_once(self, subject: str, schema_text: str, fingerprint: str) -> int:
        with write_transaction(self._engine) as conn:
            schema_id = conn.scalar(
                sa.select(schemas.c.schema_id).where(schemas.c.fingerprint == fingerprint)
            )
            if schema_id is not None:
                known = conn.scalar(
                    sa.select(schema_subjects.c.version).where(
                        schema_subjects.c.subject == subject,
                        schema_subjects.c.schema_id == schema_id,
                    )
                )
                if known is not None:
                    return int(schema_id)
            existing = conn.execute(
                sa.select(schema_subjects.c.version, schemas.c.schema_text)
                .join(schemas, schemas.c.schema_id == schema_subjects.c.schema_id)
                .where(schema_subjects.c.subject == subject)
                .order_by(schema_subjects.c.version)
            ).all()
            problems = compatibility.check(
                schema_text,
                [r.schema_text for r in existing],
                [f"version {r.version}" for r in existing],
            )
            if problems:
                raise IncompatibleSchemaError(subject, problems)
            now = datetime.now(UTC)
            if schema_id is None:
                schema_id = _insert_schema(conn, schema_text, fingerprint, now)
            conn.execute(
                schema_subjects.insert().values(
                    subject=subject,
                    version=(existing[-1].version + 1) if existing else 1,
                    schema_id=schema_id,
                    registered_at=now,
                )
            )
            return int(schema_id)

    def _known(self, subject: str, fingerprint: str) -> int | None:
        """The id of the schema if it already is a version of ``subject``."""
        with self._read() as conn:
            schema_id = conn.scalar(
                sa.select(schemas.c.schema_id)
                .join(schema_subjects, schema_subjects.c.schema_id == schemas.c.schema_id)
                .where(schemas.c.fingerprint == fingerprint, schema_subjects.c.subject == subject)
            )
        return None if schema_id is None else int(schema_id)

    def _versions(self, subject: str) -> list[tuple[int, int]]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(schema_subjects.c.version, schema_subjects.c.schema_id)
                .where(schema_subjects.c.subject == subject)
                .order_by(schema_subjects.c.version)
            ).all()
        if not rows:
            raise SubjectNotFoundError(f"subject {subject} is not registered")
        return [(row.version, row.schema_id) for row in rows]

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for reading; a database that cannot be used becomes a DatabaseError."""
        try:
            with self._engine.connect() as conn:
                yield conn
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
            raise unreachable(self._engine, exc) from exc

    @staticmethod
    def _exists(conn: Connection, subject: str) -> bool:
        found = conn.scalar(
            sa.select(schema_subjects.c.version)
            .where(schema_subjects.c.subject == subject)
            .limit(1)
        )
        return found is not None


def _insert_schema(conn: Connection, schema_text: str, fingerprint: str, now: datetime) -> int:
    """The id of the schema row for ``fingerprint``, inserting it unless a concurrent
    registration just did (ON CONFLICT DO NOTHING waits for that one, then finds its row)."""
    conn.execute(
        dialect_insert(conn, schemas)
        .values(
            fingerprint=fingerprint, schema_type="AVRO", schema_text=schema_text, registered_at=now
        )
        .on_conflict_do_nothing(index_elements=["fingerprint"])
    )
    schema_id = conn.scalar(
        sa.select(schemas.c.schema_id).where(schemas.c.fingerprint == fingerprint)
    )
    if schema_id is None:  # pragma: no cover - the row was inserted or found just above
        raise SchemaRegistryError(f"schema with fingerprint {fingerprint} vanished")
    return int(schema_id)


def _validate(subject: str, schema_text: str) -> None:
    """Refuse a text that fastavro (the codec) or Apache Avro (the checker) cannot parse."""
    try:
        parse(schema_text)
        compatibility.parse(schema_text)
    except (SerializationError, SchemaRegistryError) as exc:
        raise InvalidSchemaError(
            f"the registry refuses the schema for subject {subject}: {exc}"
        ) from exc
