"""The prompt sink (connectors/prompt_sink.py) and `pensionx prompts list | ack` on a real
database, with the list-backed fake consumer in place of Kafka: offsets are committed only
after the database commit, a failed batch is read again, poison is skipped, re-delivery is an
upsert that keeps a clerk's acknowledgement."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from connectors.prompt_sink import PROMPTS_TOPIC, ListConsumer, PromptSink
from pensionx.avro.codec import Codec
from pensionx.avro.registry import InMemorySchemaRegistry
from pensionx.commands.prompts import add_commands, cmd_prompts_ack, cmd_prompts_list
from pensionx.core.agencies import default_directory
from pensionx.core.enterprise import EnterpriseState, apply_all
from pensionx.core.floors import default_floor_table
from pensionx.core.outputs import PromptKind, RegistrationPrompt
from pensionx.core.prompts import replay_prompts
from pensionx.db.prompts import DeliveryState, acknowledge_prompt, get_prompt, list_prompts
from pensionx.settings import Settings
from tests.unit.prompt_factories import USCC, established, make_uscc

pytestmark = pytest.mark.integration

CODEC = Codec(InMemorySchemaRegistry())
OTHER = make_uscc("610303", serial="MA6X0002B")


def prompts() -> list[RegistrationPrompt]:
    """Four prompts of two enterprises in two regions (letters, reminders, an overdue)."""
    out: list[RegistrationPrompt] = []
    for uscc, region in ((USCC, "610302"), (OTHER, "610303")):
        state = apply_all(EnterpriseState(uscc=uscc), [established(uscc=uscc, region=region)])
        out += replay_prompts(state, date(2023, 3, 25), default_directory(), default_floor_table())[
            1
        ]
    return out


def sink_over(engine: Engine, values: list[bytes | None]) -> tuple[PromptSink, ListConsumer]:
    consumer = ListConsumer(PROMPTS_TOPIC, values)
    return PromptSink(engine, CODEC, consumer_factory=lambda: consumer), consumer


def encoded(items: list[RegistrationPrompt]) -> list[bytes | None]:
    return [CODEC.encode(PROMPTS_TOPIC, p) for p in items]


def test_the_sink_stores_prompts_then_commits(engine: Engine) -> None:
    sink, consumer = sink_over(engine, encoded(prompts()))
    report = sink.run_once(max_messages=3)
    assert (report.read, report.stored, report.new) == (3, 3, 3)
    assert consumer.commits == [3]
    report = sink.run_once(max_messages=3)
    assert (report.read, report.new) == (1, 1)
    assert sink.run_once().read == 0
    assert consumer.commits == [3, 4]
    assert len(list_prompts(engine)) == 4
    sink.close()
    assert consumer.closed


def test_a_redelivered_prompt_is_an_upsert_that_keeps_the_acknowledgement(engine: Engine) -> None:
    batch = encoded(prompts())
    sink, consumer = sink_over(engine, batch)
    sink.run_once()
    first = prompts()[0].prompt_id
    assert acknowledge_prompt(engine, first, "王会计", datetime(2023, 4, 1, tzinfo=UTC))
    consumer.append(batch)  # the worker crashed and sent them all again
    report = sink.run_once()
    assert (report.read, report.new) == (4, 0)
    stored = get_prompt(engine, first)
    assert stored is not None
    assert stored.state is DeliveryState.ACKNOWLEDGED
    assert stored.acknowledged_by == "王会计"


def test_a_batch_the_database_refuses_is_read_again_not_committed(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, consumer = sink_over(engine, encoded(prompts()))

    def refuse(*_args: object, **_kwargs: object) -> list[str]:
        raise RuntimeError("database unavailable")

    monkeypatch.setattr("connectors.prompt_sink.upsert_prompts", refuse)
    with pytest.raises(RuntimeError, match="database unavailable"):
        sink.run_once()
    assert consumer.commits == []
    monkeypatch.undo()
    assert sink.run_once().new == 4
    assert consumer.commits == [4]


def test_poison_is_skipped_and_committed_past(engine: Engine) -> None:
    good = encoded(prompts()[:1])
    sink, consumer = sink_over(engine, [b"not avro", None, *good])
    report = sink.run_once()
    assert (report.read, report.unreadable, report.new) == (3, 2, 1)
    assert consumer.commits == [3]


# --- the CLI ------------------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pensionx")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


@pytest.fixture
def settings(database_url: str, tmp_path: Path, engine: Engine) -> Settings:
    sink, _ = sink_over(engine, encoded(prompts()))
    sink.run_once()
    return Settings(database_url=database_url, data_dir=str(tmp_path))


def test_prompts_list_filters_by_kind_region_and_state(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cmd_prompts_list(parse("prompts", "list"), settings) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("PROMPT")
    assert "4 prompt(s)" in out

    args = parse("prompts", "list", "--kind", "REGISTRATION_REMINDER", "--format", "json")
    assert cmd_prompts_list(args, settings) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {p["kind"] for p in listed} == {"REGISTRATION_REMINDER"}
    assert {p["uscc"] for p in listed} == {USCC, OTHER}
    assert all(p["state"] == "PENDING" for p in listed)

    args = parse("prompts", "list", "--region", "610303", "--format", "json")
    cmd_prompts_list(args, settings)
    assert {p["uscc"] for p in json.loads(capsys.readouterr().out)} == {OTHER}

    cmd_prompts_list(parse("prompts", "list", "--state", "ACKNOWLEDGED"), settings)
    assert "0 prompt(s)" in capsys.readouterr().out


def test_prompts_ack_records_who_and_keeps_the_first(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    pid = next(p.prompt_id for p in prompts() if p.kind is PromptKind.REGISTER_PENSION)
    assert cmd_prompts_ack(parse("prompts", "ack", pid, "--by", "李科员"), settings) == 0
    assert "acknowledged by 李科员" in capsys.readouterr().out
    assert cmd_prompts_ack(parse("prompts", "ack", pid, "--by", "张科长"), settings) == 0
    assert "already acknowledged by 李科员" in capsys.readouterr().out

    args = parse("prompts", "list", "--state", "ACKNOWLEDGED", "--format", "json")
    cmd_prompts_list(args, settings)
    [acknowledged] = json.loads(capsys.readouterr().out)
    assert (acknowledged["prompt_id"], acknowledged["acknowledged_by"]) == (pid, "李科员")

    assert cmd_prompts_ack(parse("prompts", "ack", "P-nonexistent", "--by", "x"), settings) == 1
    assert "no prompt P-nonexistent" in capsys.readouterr().err
