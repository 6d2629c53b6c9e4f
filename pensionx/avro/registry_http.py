"""A Confluent-compatible schema registry over HTTP, behind the codec's small Protocol.

Confluent's own :class:`~confluent_kafka.schema_registry.SchemaRegistryClient` does the HTTP
(retries, auth, caching of ids); this class only translates: Confluent's error codes become
the exchange's registry errors, and a registry that cannot be reached becomes a message that
names ``PENSIONX_SCHEMA_REGISTRY_URL`` instead of an httpx traceback. Compatibility is the
registry's business here: configure the subjects BACKWARD_TRANSITIVE on the server.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from pensionx.avro.compatibility import IncompatibleSchemaError
from pensionx.avro.registry_db import (
    InvalidSchemaError,
    SchemaNotFoundError,
    SubjectNotFoundError,
    Version,
    VersionNotFoundError,
)
from pensionx.errors import SchemaRegistryError

ENV_VAR = "PENSIONX_SCHEMA_REGISTRY_URL"
T = TypeVar("T")

# Confluent error code -> our error, where a caller may want to tell them apart.
_BY_CODE: dict[int, type[SchemaRegistryError]] = {
    40401: SubjectNotFoundError,
    40402: VersionNotFoundError,
    40403: SchemaNotFoundError,
    42201: InvalidSchemaError,
}


def _transport_errors() -> tuple[type[BaseException], ...]:
    """What the client raises when no answer came: httpx's (or its successor httpx2's)
    TransportError, which confluent-kafka lets through after its own retries."""
    found: list[type[BaseException]] = [OSError]
    for name in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


class HttpSchemaRegistry:
    """The :class:`~pensionx.avro.registry.SchemaRegistry` Protocol against ``url``.

    Nothing connects until the first call. ``max_retries`` and ``timeout_s`` bound how long
    an unreachable registry makes a caller wait (the client's defaults take ~10 s).
    """

    def __init__(self, url: str, *, timeout_s: float = 10.0, max_retries: int = 2) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        self.url = url
        try:
            self._client = SchemaRegistryClient(
                {"url": url, "timeout": timeout_s, "max.retries": max_retries}
            )
        except (ValueError, TypeError) as exc:
            raise SchemaRegistryError(
                f"{ENV_VAR}: {url!r} is not a usable schema registry URL ({exc}). Use "
                "http(s)://host:port, or leave it empty for the embedded registry."
            ) from exc
        self._transport = _transport_errors()

    def register(self, subject: str, schema_text: str) -> int:
        """Register under ``subject``; the registry answers the same id for the same schema."""
        from confluent_kafka.schema_registry import Schema

        schema_id: int = self._call(
            f"register a schema under {subject}",
            lambda: self._client.register_schema(subject, Schema(schema_text, "AVRO")),
            subject,
        )
        return schema_id

    def schema_by_id(self, schema_id: int) -> str:
        """The schema text of ``schema_id``."""
        schema = self._call(
            f"fetch schema id {schema_id}", lambda: self._client.get_schema(schema_id)
        )
        return str(schema.schema_str)

    def subjects(self) -> list[str]:
        """Every subject, sorted."""
        return sorted(self._call("list the subjects", self._client.get_subjects))

    def version_numbers(self, subject: str) -> list[int]:
        """``subject``'s version numbers, oldest first."""
        found = self._call(
            f"list the versions of {subject}", lambda: self._client.get_versions(subject)
        )
        return sorted(int(n) for n in found)

    def versions(self, subject: str) -> list[int]:
        """The schema ids of ``subject``'s versions, oldest first."""
        return [self.version(subject, n)[0] for n in self.version_numbers(subject)]

    def version(self, subject: str, version: Version) -> tuple[int, int, str]:
        """(schema id, version, text) of one of ``subject``'s versions, or the latest."""
        found = self._call(
            f"fetch version {version} of {subject}",
            lambda: self._client.get_version(subject, version),
            subject,
        )
        if found.schema_id is None or found.version is None:
            raise SchemaRegistryError(
                f"the schema registry at {self.url} answered version {version} of {subject} "
                "without an id or version number: it is not Confluent-compatible"
            )
        return found.schema_id, found.version, str(found.schema.schema_str)

    def _call(self, what: str, request: Callable[[], T], subject: str = "") -> T:
        from confluent_kafka.schema_registry.error import SchemaRegistryError as ConfluentError

        try:
            return request()
        except ConfluentError as exc:
            raise _translate(what, self.url, exc, subject) from exc
        except self._transport as exc:
            raise SchemaRegistryError(
                f"cannot reach the schema registry at {self.url} to {what} "
                f"({type(exc).__name__}: {exc}). Check {ENV_VAR} and that the registry is up, "
                "or leave it empty to use the embedded registry."
            ) from exc


def _translate(what: str, url: str, exc: Any, subject: str) -> SchemaRegistryError:
    """Confluent's error as ours: its message, said plainly, and the class by its code."""
    code, status, message = exc.error_code, exc.http_status_code, exc.error_message
    if status == 409 or code == 409:
        return IncompatibleSchemaError(subject, (), f"the registry at {url} says: {message}")
    if status in (401, 403):
        return SchemaRegistryError(
            f"the schema registry at {url} refused to {what}: not authorised ({message}). Put "
            f"the credentials in {ENV_VAR} as https://user:password@host:port."
        )
    cls = _BY_CODE.get(code, SchemaRegistryError)
    return cls(f"the schema registry at {url} could not {what}: {message} (error {code})")
