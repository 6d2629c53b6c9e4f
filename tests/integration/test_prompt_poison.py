"""Poison messages on every input of the prompt service: dead letters, and the partitions move.

The prompt service's counterpart of ``test_poison.py``. Four kinds of poison go onto every
partition of each of its four inputs — a wrong magic byte, an unknown schema id, garbage bytes,
and a *valid* Avro value of another topic's schema (a wage record on the commerce topic, a
commerce registration on the others) — once before the good data and once after it. The good
data is a generated feed, ingested through the connector; the worker runs as its own process
in replay mode.

Each poison message must come out on ``exchange.dead-letters.v1`` naming its topic, partition
and offset (exactly those the broker gave it), and the replay must still finish — every
partition's end marker sits *behind* the poison, so a partition that stalled on a value it
cannot decode would never report done — with exactly the answer key's prompts.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from pensionx.core.outputs import DeadLetter, PromptKind
from pensionx.core.prompts import prompt_id
from pensionx.generator import generate
from pensionx.topics import DEAD_LETTERS_TOPIC
from services.prompts import input_topics
from tests.integration import test_prompt_service
from tests.integration.test_poison import (
    KINDS,
    Reader,
    Where,
    send_poison,
    undecodable_letters,
)
from tests.integration.test_prompt_service import Exchange, Worker, read_prompts
from tests.unit.test_replay_answer_key import enterprise_states, expected_prompt_keys, feed_files

pytestmark = pytest.mark.integration

# the prompt service tests' broker, topics and data dir, shared by this module's test
exchange = test_prompt_service.exchange

AS_OF = date(2026, 11, 20)
PARTITIONS = 3


def test_poison_on_every_input_of_the_prompt_service_becomes_dead_letters(
    exchange: Exchange, tmp_path: Path, fault_figures: Callable[[str], None]
) -> None:
    rng = random.Random(41)
    folder = tmp_path / "feeds"
    key = generate(folder, enterprises=15, persons=50, seed=41, as_of=AS_OF, bad_rate=0.0)
    expected = expected_prompt_keys(key, enterprise_states(folder, AS_OF))
    assert expected, "the generated feed should call for prompts"
    expected_ids = {prompt_id(PromptKind(kind), uscc, period) for kind, uscc, period in expected}

    def poison_every_partition() -> dict[Where, str]:
        return send_poison(exchange.target, exchange.codec, input_topics(), PARTITIONS, rng)

    started = time.monotonic()
    poison = poison_every_partition()  # before the good data on every partition
    exchange.ingest(feed_files(folder))
    poison |= poison_every_partition()  # and after it, before the end markers
    worker = Worker(exchange, run_id=uuid.uuid4().hex[:12])
    letters = Reader(exchange, DEAD_LETTERS_TOPIC)  # type: ignore[arg-type]  # same fields
    try:
        worker.start()
        done = worker.finish()  # every partition: all its poison was passed
        prompts = read_prompts(exchange, at_least=len(expected))

        def undecodable() -> dict[Where, DeadLetter]:
            return undecodable_letters(letters.values)

        deadline = time.monotonic() + 30  # acknowledged before done: already on the topic
        while time.monotonic() < deadline and set(undecodable()) != set(poison):
            letters.poll()
        settle = time.monotonic() + 2  # anything extra must show up before we judge
        while time.monotonic() < settle:
            letters.poll()
    finally:
        worker.kill()
        letters.close()

    dead = undecodable()
    copies = sum(1 for d in letters.values if d.error_code == "UNDECODABLE_MESSAGE")
    got = {p.prompt_id for p in prompts}
    by_kind = {kind: sum(1 for k in poison.values() if k == kind) for kind in KINDS}
    fault_figures(
        f"prompt service poison: sent {len(poison)} "
        f"({', '.join(f'{n} {k}' for k, n in by_kind.items())}) on {len(input_topics())} topics "
        f"x {PARTITIONS} partitions; dead letters {len(dead)} distinct in {copies} messages, "
        f"{len(set(poison) - set(dead))} missing, {len(set(dead) - set(poison))} extra; "
        f"partitions done {len(done)} of {PARTITIONS}; prompts {len(got)} distinct in "
        f"{len(prompts)} messages, expected {len(expected_ids)} (missing "
        f"{len(expected_ids - got)}, extra {len(got - expected_ids)}); "
        f"{time.monotonic() - started:.1f} s"
    )
    assert sorted(done) == list(range(PARTITIONS))
    assert set(dead) == set(poison)
    for where, letter in dead.items():
        assert letter.feed == where[0].split(".", 1)[0]
        assert f"{where[0]}[{where[1]}]@{where[2]}" in letter.message_en
    assert got == expected_ids
