"""The schema history in ``schemas/history`` keeps every published version of each topic.

A change to ``schemas/`` fails here until it is recorded, on purpose, as the next version
(``python -m pensionx.avro.history``), and it can only be recorded if every earlier version's
data stays readable.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pensionx.avro import history, schemas
from pensionx.avro.compatibility import IncompatibleSchemaError, check
from pensionx.errors import SerializationError

FIXTURES = Path(__file__).parent / "fixtures"
TOPICS = list(schemas.TOPIC_SCHEMAS)


@pytest.mark.parametrize("topic", TOPICS)
def test_every_topic_has_a_history_numbered_from_v1(topic: str) -> None:
    recorded = history.versions(topic)
    assert recorded, f"{topic} has no schemas/history/{topic}/v1.avsc"
    assert [n for n, _ in recorded] == list(range(1, len(recorded) + 1))


@pytest.mark.parametrize("topic", TOPICS)
def test_the_current_schema_is_its_newest_history_version(topic: str) -> None:
    """A change to schemas/ must be recorded in the history, and only a compatible one can."""
    current = schemas.topic_schema_text(topic)
    number, newest = history.versions(topic)[-1]
    if schemas.identity(newest) == schemas.identity(current):
        return
    problems = check(current, [t for _, t in history.versions(topic)])
    if problems:
        pytest.fail(
            f"{topic}: the schema in schemas/ breaks its history, so it cannot ship:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    pytest.fail(
        f"{topic}: the schema in schemas/ is a compatible successor of history v{number} but "
        f"is not recorded: run `python -m pensionx.avro.history` and commit v{number + 1}"
    )


@pytest.mark.parametrize("topic", TOPICS)
def test_each_history_version_reads_every_earlier_one(topic: str) -> None:
    recorded = history.versions(topic)
    for index in range(1, len(recorded)):
        earlier = [t for _, t in recorded[:index]]
        assert check(recorded[index][1], earlier) == [], f"{topic} v{index + 1}"


def test_a_history_file_gives_back_the_exact_registered_text(tmp_path: Path) -> None:
    history.record_current(tmp_path)
    for topic in TOPICS:
        assert history.versions(topic, tmp_path) == [(1, schemas.topic_schema_text(topic))]


def test_recording_again_without_a_change_writes_nothing(tmp_path: Path) -> None:
    first = history.record_current(tmp_path)
    assert sorted(first) == sorted(TOPICS)
    assert all(path.name == "v1.avsc" for path in first.values())
    assert history.record_current(tmp_path) == {}


def test_a_compatible_change_is_recorded_as_the_next_version(tmp_path: Path) -> None:
    topic = "exchange.conflicts.v1"
    folder = tmp_path / topic
    folder.mkdir()
    # An earlier version with two defaulted fields more than today's (the v2 fixture):
    # dropping a defaulted field is allowed, so today's schema becomes v2.
    shutil.copy(FIXTURES / "conflict_v2.avsc", folder / "v1.avsc")
    written = history.record_current(tmp_path, [topic])
    assert written == {topic: folder / "v2.avsc"}
    assert history.latest(topic, tmp_path) == (2, schemas.topic_schema_text(topic))


def test_an_incompatible_change_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    topic = "exchange.conflicts.v1"
    folder = tmp_path / topic
    folder.mkdir()
    # An earlier version without region_code: today's schema (region_code required, no
    # default) could not read what it wrote.
    shutil.copy(FIXTURES / "conflict_v2_breaking.avsc", folder / "v1.avsc")
    with pytest.raises(IncompatibleSchemaError, match="field region_code: new field without"):
        history.record_current(tmp_path, [topic, "tax.wages.v1"])
    assert sorted(p.name for p in folder.iterdir()) == ["v1.avsc"]
    assert not (tmp_path / "tax.wages.v1").exists(), "all or nothing"


def test_a_gap_in_the_history_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "tax.wages.v1"
    folder.mkdir()
    text = schemas.topic_schema_text("tax.wages.v1")
    (folder / "v1.avsc").write_text(text, encoding="utf-8")
    (folder / "v3.avsc").write_text(text, encoding="utf-8")
    with pytest.raises(SerializationError, match=r"versions \[1, 3\]"):
        history.versions("tax.wages.v1", tmp_path)
