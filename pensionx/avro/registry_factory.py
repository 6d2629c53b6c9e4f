"""Which schema registry the exchange uses: the embedded one, or a Confluent-compatible one.

Decided once, by ``PENSIONX_SCHEMA_REGISTRY_URL``, at the composition root; everything after
it sees only :class:`BrowsableSchemaRegistry`.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.engine import Engine

from pensionx.avro.registry_db import DatabaseSchemaRegistry, Version
from pensionx.settings import Settings


class BrowsableSchemaRegistry(Protocol):
    """A registry the codec can use and a person (or `schemas check`) can look through."""

    def register(self, subject: str, schema_text: str) -> int: ...

    def schema_by_id(self, schema_id: int) -> str: ...

    def subjects(self) -> list[str]: ...

    def version_numbers(self, subject: str) -> list[int]: ...

    def version(self, subject: str, version: Version) -> tuple[int, int, str]: ...


def make_registry(settings: Settings, engine: Engine | None) -> BrowsableSchemaRegistry:
    """The HTTP registry when a URL is configured, else the embedded one in ``engine``'s
    (migrated) database; ``engine`` may be None only when a URL is configured."""
    if settings.schema_registry_url:
        from pensionx.avro.registry_http import HttpSchemaRegistry

        return HttpSchemaRegistry(settings.schema_registry_url)
    if engine is None:
        raise ValueError("the embedded schema registry needs the database engine")
    return DatabaseSchemaRegistry(engine)
