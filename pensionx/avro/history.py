"""Earlier versions of each topic's schema, kept in the repo: ``schemas/history/<topic>/v<N>.avsc``.

A registry only knows the versions registered in *it*; a fresh embedded registry knows none.
The history keeps every version the exchange ever published, so ``pensionx schemas check``
(and a test) can hold a change to ``schemas/`` against all of them, on any machine. Each file
is the self-contained text registered for the topic (pretty-printed for review; whitespace
does not change a schema's identity). A change to ``schemas/`` is recorded on purpose with
``python -m pensionx.avro.history``, which refuses an incompatible one.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from pensionx.avro import compatibility, schemas
from pensionx.errors import SerializationError

_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.avsc$")


def history_dir() -> Path:
    """``schemas/history`` beside the contracts (inside the wheel too)."""
    return schemas.schemas_dir() / "history"


def versions(topic: str, root: Path | None = None) -> list[tuple[int, str]]:
    """``topic``'s recorded versions, oldest first, as (N, registered text); empty if none."""
    folder = (root or history_dir()) / topic
    found: list[tuple[int, str]] = []
    for path in folder.glob("v*.avsc"):
        match = _VERSION_FILE.match(path.name)
        if match is None:
            continue
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SerializationError(f"schema history file {path} cannot be read: {exc}") from exc
        # Back to the registered text: compact, in the file's key order (schemas._text).
        found.append(
            (int(match.group(1)), json.dumps(schema, ensure_ascii=False, separators=(",", ":")))
        )
    found.sort()
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise SerializationError(
            f"schema history of {topic} in {folder} has versions {numbers}: they must be "
            "v1.avsc, v2.avsc, ... with none missing"
        )
    return found


def latest(topic: str, root: Path | None = None) -> tuple[int, str] | None:
    """The newest recorded version of ``topic``'s schema, or None if it has no history."""
    recorded = versions(topic, root)
    return recorded[-1] if recorded else None


def record_current(
    root: Path | None = None, topics: Iterable[str] = tuple(schemas.TOPIC_SCHEMAS)
) -> dict[str, Path]:
    """Write each topic's current schema as its next history version where it changed.

    Returns topic -> the file written. A change that breaks an earlier version raises
    :class:`~pensionx.avro.compatibility.IncompatibleSchemaError` before anything is written:
    the history only ever holds compatible successors.
    """
    folder = root or history_dir()
    pending: dict[str, tuple[Path, str]] = {}
    for topic in topics:
        text = schemas.topic_schema_text(topic)
        recorded = versions(topic, folder)
        if recorded and schemas.identity(recorded[-1][1]) == schemas.identity(text):
            continue
        problems = compatibility.check(
            text, [t for _, t in recorded], [f"history v{n}" for n, _ in recorded]
        )
        if problems:
            raise compatibility.IncompatibleSchemaError(schemas.subject(topic), problems)
        pending[topic] = (folder / topic / f"v{len(recorded) + 1}.avsc", text)
    for path, text in pending.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        pretty = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
        path.write_text(pretty + "\n", encoding="utf-8")
    return {topic: path for topic, (path, _) in pending.items()}


def main() -> int:
    """``python -m pensionx.avro.history``: record every changed topic schema."""
    try:
        written = record_current()
    except compatibility.IncompatibleSchemaError as exc:
        print(f"not recorded: {exc}", file=sys.stderr)
        return 1
    for topic, path in written.items():
        print(f"{topic:40} recorded {path}")
    if not written:
        print("every topic schema is already recorded in the history")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
