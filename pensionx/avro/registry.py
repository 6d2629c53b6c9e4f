"""The schema registry as the codec sees it, and an in-memory one for tests and the embedded run.

The codec needs only two calls — register a subject's schema, fetch a schema by id — so a
Confluent-compatible HTTP client, Apicurio or the in-memory registry here all fit behind the
same small Protocol, and a unit test never needs a server.
"""

from __future__ import annotations

import threading
from typing import Protocol

from pensionx.avro.schemas import identity, parse
from pensionx.errors import SchemaRegistryError, SerializationError


class SchemaRegistry(Protocol):
    """What the codec needs from a schema registry."""

    def register(self, subject: str, schema_text: str) -> int:
        """Register ``schema_text`` under ``subject`` (idempotent) and return its global id."""
        ...

    def schema_by_id(self, schema_id: int) -> str:
        """The schema text registered with ``schema_id``; :class:`SchemaRegistryError` if none."""
        ...


class InMemorySchemaRegistry:
    """A registry in a dict, with Confluent's numbering: global ids from 1, versions per subject.

    Like Confluent, the same schema gets the same id under every subject, and registering it
    again is a no-op that returns that id. "Same" is decided on the parsed, normalised text
    (:func:`pensionx.avro.schemas.identity`), so whitespace and key order do not matter but
    docs, defaults and logical types do. No compatibility checks: tests of evolution use the
    real registry.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._texts: dict[int, str] = {}
        self._ids_by_identity: dict[str, int] = {}
        self._versions: dict[str, list[int]] = {}

    def register(self, subject: str, schema_text: str) -> int:
        """Register ``schema_text`` under ``subject``; a new version only if it is new there."""
        try:
            parse(schema_text)
            key = identity(schema_text)
        except SerializationError as exc:
            raise SchemaRegistryError(
                f"the registry refuses the schema for subject {subject}: {exc}"
            ) from exc
        with self._lock:
            schema_id = self._ids_by_identity.get(key)
            if schema_id is None:
                schema_id = len(self._texts) + 1
                self._texts[schema_id] = schema_text
                self._ids_by_identity[key] = schema_id
            versions = self._versions.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
            return schema_id

    def schema_by_id(self, schema_id: int) -> str:
        """The text registered with ``schema_id``."""
        try:
            return self._texts[schema_id]
        except KeyError:
            raise SchemaRegistryError(f"schema id {schema_id} is not registered") from None

    def subjects(self) -> list[str]:
        """Every subject with at least one version, sorted."""
        with self._lock:
            return sorted(self._versions)

    def versions(self, subject: str) -> list[int]:
        """The schema ids of ``subject``'s versions, oldest first (version n is item n-1)."""
        with self._lock:
            try:
                return list(self._versions[subject])
            except KeyError:
                raise SchemaRegistryError(f"subject {subject} is not registered") from None
