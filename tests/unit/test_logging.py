"""Logging: JSON lines off a terminal, context bound per call, identity numbers always masked."""

from __future__ import annotations

import io
import json

from pensionx.core.masking import mask_identity_numbers
from pensionx.logs import configure_logging, get_logger

PERSON_ID = "61030219800101123X"


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_bound_context() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    get_logger("test", feed="tax", topic="tax.contributions.v1").info("published", offset=42)
    (line,) = _lines(out)
    assert line["event"] == "published"
    assert line["feed"] == "tax"
    assert line["topic"] == "tax.contributions.v1"
    assert line["offset"] == 42
    assert line["level"] == "info"


def test_identity_numbers_are_masked_in_every_field_and_nested_value() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    log = get_logger("test", person=PERSON_ID)
    log.warning(
        f"rejected {PERSON_ID}",
        raw=f"{PERSON_ID},张三,202610",
        nested={"ids": [PERSON_ID.lower()]},
    )
    text = out.getvalue()
    assert PERSON_ID not in text
    assert PERSON_ID.lower() not in text
    assert "610302********123X" in text


def test_stdlib_loggers_go_through_the_same_masking() -> None:
    import logging

    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    logging.getLogger("some.library").error("bad record %s", PERSON_ID)
    assert PERSON_ID not in out.getvalue()
    assert "610302********123X" in out.getvalue()


def test_level_filters() -> None:
    out = io.StringIO()
    configure_logging("WARNING", "json", stream=out)
    get_logger("test").info("hidden")
    get_logger("test").warning("shown")
    assert [line["event"] for line in _lines(out)] == ["shown"]


def test_console_format_is_used_when_asked() -> None:
    out = io.StringIO()
    configure_logging("INFO", "console", stream=out)
    get_logger("test").info("hello", feed="commerce")
    text = out.getvalue()
    assert "hello" in text
    assert "feed" in text
    assert not text.lstrip().startswith("{")


def test_masking_leaves_other_numbers_alone() -> None:
    assert mask_identity_numbers("order 1234567890123456789012") == "order 1234567890123456789012"
    assert mask_identity_numbers("uscc 91350100M000100Y43") == "uscc 91350100M000100Y43"
    assert mask_identity_numbers(f"id:{PERSON_ID};") == "id:610302********123X;"
