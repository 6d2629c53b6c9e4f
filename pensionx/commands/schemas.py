"""`pensionx schemas check | register | serve`: the topics' Avro contracts and their registry.

``check`` is what a change to ``schemas/`` must pass before it ships: every topic's schema
against each version already registered *and* each version kept in ``schemas/history``, under
BACKWARD_TRANSITIVE and the project's rules, with every violation named. ``--candidate`` checks
a proposed schema file instead of the repo's, so an agency can try a change before asking.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from pensionx.avro import compatibility, history, schemas
from pensionx.avro.compatibility import IncompatibleSchemaError, Violation
from pensionx.avro.registry_db import SubjectNotFoundError
from pensionx.avro.registry_factory import BrowsableSchemaRegistry, make_registry
from pensionx.errors import ConfigurationError, SchemaRegistryError
from pensionx.settings import Settings


def add_commands(sub: Any) -> None:
    """Add ``schemas`` and its actions to the top-level subparsers."""
    group = sub.add_parser("schemas", help="check, register or serve the topics' Avro schemas")
    actions = group.add_subparsers(dest="schemas_command", required=True, metavar="ACTION")

    p = actions.add_parser(
        "check",
        help="check every topic schema against its registered and earlier versions",
    )
    p.add_argument(
        "--candidate",
        action="append",
        default=[],
        metavar="TOPIC=FILE",
        help="check this self-contained schema file for TOPIC instead of the repo's (repeatable)",
    )
    p.add_argument(
        "--history",
        type=Path,
        default=None,
        help="folder of earlier versions (default: schemas/history)",
    )
    p.add_argument(
        "--offline", action="store_true", help="check against the history only, not a registry"
    )
    p.set_defaults(handler=cmd_check)

    p = actions.add_parser("register", help="register every topic schema in the registry")
    p.set_defaults(handler=cmd_register)

    p = actions.add_parser("serve", help="serve the embedded registry's REST API until Ctrl-C")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.set_defaults(handler=cmd_serve)


# -- check -----------------------------------------------------------------------------------


@dataclass
class TopicCheck:
    """What `check` found for one topic."""

    topic: str
    against: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    unrecorded: bool = False  # differs from its newest history version


def check_topics(
    current: Mapping[str, str],
    history_root: Path | None = None,
    registry: BrowsableSchemaRegistry | None = None,
) -> list[TopicCheck]:
    """Each topic's schema text in ``current`` against its history and registered versions."""
    reports: list[TopicCheck] = []
    for topic, text in current.items():
        recorded = history.versions(topic, history_root)
        labels = [f"history v{n}" for n, _ in recorded]
        texts = [t for _, t in recorded]
        if registry is not None:
            for number, registered in _registered(registry, schemas.subject(topic)):
                labels.append(f"registry version {number}")
                texts.append(registered)
        reports.append(
            TopicCheck(
                topic=topic,
                against=labels,
                violations=compatibility.check(text, texts, labels),
                unrecorded=bool(recorded)
                and schemas.identity(recorded[-1][1]) != schemas.identity(text),
            )
        )
    return reports


def _registered(registry: BrowsableSchemaRegistry, subject: str) -> list[tuple[int, str]]:
    try:
        numbers = registry.version_numbers(subject)
    except SubjectNotFoundError:
        return []
    return [(n, registry.version(subject, n)[2]) for n in numbers]


def current_schemas(candidates: list[str]) -> dict[str, str]:
    """topic -> schema text: the repo's, replaced by each ``TOPIC=FILE`` candidate."""
    current = {topic: schemas.topic_schema_text(topic) for topic in schemas.TOPIC_SCHEMAS}
    for candidate in candidates:
        topic, sep, path = candidate.partition("=")
        if not sep or topic not in current:
            raise SchemaRegistryError(
                f"--candidate {candidate!r}: write TOPIC=FILE with one of the contract's topics "
                f"({', '.join(current)})"
            )
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SchemaRegistryError(f"--candidate {candidate!r}: {exc.strerror}") from exc
        try:
            compatibility.parse(text)
        except SchemaRegistryError as exc:
            raise SchemaRegistryError(f"--candidate {candidate!r}: {exc}") from exc
        current[topic] = text
    return current


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every schema is a compatible successor, 1 naming each violation."""
    current = current_schemas(args.candidate)
    registry = None if args.offline else _registry_to_check(settings)
    reports = check_topics(current, args.history, registry)
    failed = 0
    for report in reports:
        against = ", ".join(report.against) or "nothing earlier"
        if report.violations:
            failed += 1
            print(f"INCOMPATIBLE {report.topic}  (against {against})")
            for violation in report.violations:
                print(f"  - {report.topic}: {violation}")
        else:
            print(f"ok           {report.topic}  (against {against})")
        if report.unrecorded and not report.violations:
            print(
                f"  note: {report.topic} changed since its newest history version: record it "
                "with `python -m pensionx.avro.history` before it ships"
            )
    if failed:
        print(f"{failed} topic schema(s) would break earlier versions under {compatibility.LEVEL}")
        return 1
    print(f"every topic schema is compatible under {compatibility.LEVEL}")
    return 0


def _registry_to_check(settings: Settings) -> BrowsableSchemaRegistry | None:
    """The configured registry; None when the embedded one has no database yet (nothing is
    registered, and a check should not create one)."""
    if settings.schema_registry_url:
        return make_registry(settings, None)
    if not settings.database_url and not (settings.data_path / "pensionx.db").exists():
        print("note: no embedded registry database yet; checking against the history only")
        return None
    return make_registry(settings, _migrated_engine(settings))


# -- register and serve ----------------------------------------------------------------------


def cmd_register(args: argparse.Namespace, settings: Settings) -> int:
    """Register every topic schema; print subject -> id. Exit 1 if a registry refused one."""
    engine = None if settings.schema_registry_url else _migrated_engine(settings)
    registry = make_registry(settings, engine)
    where = settings.schema_registry_url or "the embedded registry"
    refused = 0
    for topic in schemas.TOPIC_SCHEMAS:
        subject = schemas.subject(topic)
        try:
            schema_id = registry.register(subject, schemas.topic_schema_text(topic))
        except IncompatibleSchemaError as exc:
            refused += 1
            print(f"{subject:45} REFUSED: {exc}")
            continue
        print(f"{subject:45} id {schema_id}")
    print(f"registered in {where}" if not refused else f"{refused} schema(s) refused by {where}")
    return 1 if refused else 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the embedded registry's REST API until Ctrl-C."""
    from pensionx.registry_server import serve_registry

    if settings.schema_registry_url:
        raise ConfigurationError(
            "PENSIONX_SCHEMA_REGISTRY_URL",
            f"it names an external registry ({settings.schema_registry_url}), and `schemas "
            "serve` serves the embedded one",
            "Leave it empty to serve the embedded registry, or use your registry directly.",
        )
    with serve_registry(_migrated_engine(settings), args.host, args.port) as server:
        print(
            f"schema registry API (Confluent-compatible): {server.url}\n"
            f"  e.g. curl {server.url}/subjects\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


def _migrated_engine(settings: Settings) -> Engine:
    from pensionx.db.engine import make_engine, migrate

    engine = make_engine(settings.effective_database_url)
    migrate(engine)
    return engine
