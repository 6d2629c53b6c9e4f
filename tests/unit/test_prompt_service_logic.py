"""PromptService (services/prompts/topology.py) driven without Faust: fake topics and a dict table.

What is pinned here is the edge's own behaviour: prompts are acknowledged before the table
records them, one table write per enterprise per batch, tax records folded per enterprise
before the hop, markers forwarded after the facts, replay only once every marker is in,
poison and person-only records skipped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from structlog.testing import capture_logs

from pensionx.avro.codec import Codec
from pensionx.avro.registry import InMemorySchemaRegistry
from pensionx.core.codes import Benefit, PayingAgency
from pensionx.core.enterprise import EnterpriseState
from pensionx.core.events import PENSION_AGENCY, BenefitAwarded, Event
from pensionx.core.months import Month
from pensionx.core.outputs import PromptKind
from pensionx.core.prompts import prompt_id
from services.markers import CONTROL_TOPIC, Done, EndMarker, partition_for
from services.prompts.batches import RawRecord, decode_partials
from services.prompts.topology import (
    COMMERCE,
    CONTRIBUTIONS,
    PENSION,
    PROMPTS,
    WAGES,
    PromptService,
    PromptServiceOptions,
)
from tests.unit.prompt_factories import (
    PERSON,
    USCC,
    contribution,
    directory,
    established,
    floors,
    make_uscc,
    unit_registered,
    wage,
)

TODAY = date(2026, 11, 20)
FACTS = "app-enterprise-facts"
PARTITIONS = 3
CODEC = Codec(InMemorySchemaRegistry())


class Journal(list[str]):
    """The order things happened in, across topics and the table."""


class FakeTopic:
    def __init__(self, name: str, journal: Journal, fail: bool = False) -> None:
        self.name, self.journal, self.fail = name, journal, fail
        self.sent: list[dict[str, Any]] = []

    async def send(self, **message: Any) -> asyncio.Future[None]:
        assert message.pop("force") is True, "an attached send would wait for a commit"
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail:
            future.set_exception(RuntimeError("broker down"))
            return future

        def acknowledged() -> None:
            self.sent.append(message)
            self.journal.append(f"ack {self.name}")
            future.set_result(None)

        asyncio.get_running_loop().call_soon(acknowledged)
        return future


class FakeTable(dict[bytes, Any]):
    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal
        self.writes = 0

    def __setitem__(self, key: bytes, value: Any) -> None:
        self.writes += 1
        self.journal.append(f"write {key.decode()}")
        super().__setitem__(key, json.loads(json.dumps(value)))


def service(
    mode: str = "live",
    *,
    fail_prompts: bool = False,
    active: Callable[[], set[int]] = lambda: {0, 1, 2},
    ready: bool = True,
) -> tuple[PromptService, Journal]:
    journal = Journal()
    return (
        PromptService(
            codec=CODEC,
            table=FakeTable(journal),
            prompts_topic=FakeTopic(PROMPTS, journal, fail=fail_prompts),
            facts_topic=FakeTopic(FACTS, journal),
            control_topic=FakeTopic(CONTROL_TOPIC, journal),
            facts_topic_name=FACTS,
            partitions=PARTITIONS,
            clock=lambda: TODAY,
            directory=directory(),
            floors=floors(),
            mode=mode,  # type: ignore[arg-type]
            as_of=TODAY if mode == "replay" else None,
            run_id="run-1" if mode == "replay" else None,
            options=PromptServiceOptions(evaluate_chunk=2),
            active_partitions=active,
            ready=lambda: ready,
        ),
        journal,
    )


_offsets = iter(range(10**6))


def record(topic: str, event: Event, key: str | None = None) -> RawRecord:
    key = key or getattr(event, "uscc", None) or getattr(event, "person_id", "")
    partition = partition_for(key, PARTITIONS)
    return RawRecord(topic, partition, next(_offsets), key.encode(), CODEC.encode(topic, event))


def marker(topic: str, partition: int, run_id: str = "run-1") -> RawRecord:
    m = EndMarker(run_id, topic, partition)
    return RawRecord(topic, partition, next(_offsets), m.key(), m.value())


def stored(svc: PromptService, uscc: str = USCC) -> EnterpriseState:
    return EnterpriseState.from_dict(svc.table[uscc.encode()])


def award() -> BenefitAwarded:
    """A BENEFIT_AWARD on pension.records.v1: keyed by person, nothing to do with enterprises."""
    return BenefitAwarded(
        event_id="A-1",
        source_agency=PENSION_AGENCY,
        occurred_on=TODAY,
        received_at=unit_registered().received_at,
        award_id="AW-1",
        person_id=PERSON,
        benefit=Benefit.NON_WORK_DEATH_GRANT,
        agency=PayingAgency.PENSION_FUND,
        region_code="610302",
        awarded_on=TODAY,
        lump_sum=Decimal("50000"),
    )


# --- live ---------------------------------------------------------------------------------------


def test_live_publishes_and_awaits_the_prompt_before_recording_it() -> None:
    svc, journal = service()
    asyncio.run(svc.on_enterprise_batch([record(COMMERCE, established(TODAY))]))
    [sent] = svc.prompts_topic.sent
    prompt = CODEC.decode(PROMPTS, sent["value"])
    assert sent["key"] == USCC.encode()
    assert prompt.kind is PromptKind.REGISTER_PENSION
    assert prompt.issued_on == TODAY
    assert journal == [f"ack {PROMPTS}", f"write {USCC}"]
    assert stored(svc).issued == {prompt_id(PromptKind.REGISTER_PENSION, USCC)}


def test_live_sends_nothing_for_a_redelivered_batch() -> None:
    svc, _ = service()
    batch = [record(COMMERCE, established(TODAY))]
    asyncio.run(svc.on_enterprise_batch(batch))
    writes = svc.table.writes
    asyncio.run(svc.on_enterprise_batch(batch))
    assert len(svc.prompts_topic.sent) == 1
    assert svc.table.writes == writes, "nothing new: no table write either"


def test_a_failed_acknowledgement_leaves_the_table_unwritten() -> None:
    svc, _ = service(fail_prompts=True)
    with pytest.raises(RuntimeError, match="broker down"):
        asyncio.run(svc.on_enterprise_batch([record(COMMERCE, established(TODAY))]))
    assert svc.table == {}, "the input is processed again, and the prompt sent again"


def test_one_table_write_per_enterprise_per_batch() -> None:
    svc, _ = service()
    other = make_uscc(serial="MA6X0002B")
    batch = [
        record(COMMERCE, established(TODAY)),
        record(PENSION, unit_registered(TODAY)),
        record(COMMERCE, established(TODAY, uscc=other)),
        record(COMMERCE, established(TODAY, uscc=other, name="另一个名称", event_id="E-2")),
    ]
    asyncio.run(svc.on_enterprise_batch(batch))
    assert svc.table.writes == 2
    assert stored(svc).registered_on == TODAY
    assert [CODEC.decode(PROMPTS, m["value"]).uscc for m in svc.prompts_topic.sent] == [other]


def test_poison_and_person_only_records_are_skipped_and_poison_logged() -> None:
    svc, _ = service()
    poison = RawRecord(COMMERCE, 1, 42, USCC.encode(), b"\x00\x00\x00\x00\x63garbage")
    with capture_logs() as logs:
        asyncio.run(svc.on_enterprise_batch([poison, record(PENSION, award())]))
    assert svc.table == {}
    [entry] = [e for e in logs if e["event"] == "unreadable message skipped"]
    assert (entry["topic"], entry["partition"], entry["offset"]) == (COMMERCE, 1, 42)


def test_the_tick_evaluates_only_this_workers_active_partitions() -> None:
    mine = next(p for p in range(PARTITIONS) if p != partition_for(USCC, PARTITIONS))
    svc, _ = service(active=lambda: {mine})
    svc.table[USCC.encode()] = {
        **EnterpriseState(uscc=USCC).to_dict(),
        "established": ["2026-10-01", "E-1", ""],
    }
    assert asyncio.run(svc.tick()) == 0
    svc.active_partitions = lambda: {partition_for(USCC, PARTITIONS)}
    assert asyncio.run(svc.tick()) == 2  # the letter and, 50 days on, the overdue notice
    assert asyncio.run(svc.tick()) == 0


def test_the_tick_waits_while_partitions_are_assigned_or_recovered() -> None:
    svc, _ = service(ready=False)
    svc.table[USCC.encode()] = {**EnterpriseState(uscc=USCC).to_dict()}
    assert asyncio.run(svc.tick()) == 0


# --- the tax router -------------------------------------------------------------------------------


def test_tax_records_become_one_partial_state_per_enterprise_one_message_per_partition() -> None:
    svc, _ = service()
    other = make_uscc("610303", serial="MA6X0002B")
    batch = [
        record(CONTRIBUTIONS, contribution(Month(2026, 9), "3000", person_id="p1"), key="p1"),
        record(CONTRIBUTIONS, contribution(Month(2026, 9), "2000", person_id="p2"), key="p2"),
        record(WAGES, wage(Month(2026, 9)), key="p1"),
        record(WAGES, wage(Month(2026, 9), uscc=other), key="p4"),
        record(CONTRIBUTIONS, replace(contribution(), uscc=None, event_id="self"), key="p3"),
    ]
    asyncio.run(svc.on_tax_batch(batch))
    partials = {
        state.uscc: (message["partition"], state)
        for message in svc.facts_topic.sent
        for state in decode_partials(message["value"])
    }
    assert len(svc.facts_topic.sent) == len({partition_for(u, PARTITIONS) for u in (USCC, other)})
    assert set(partials) == {USCC, other}
    for uscc, (partition, _) in partials.items():
        assert partition == partition_for(uscc, PARTITIONS)
    mine = partials[USCC][1]
    assert mine.pension_bases[Month(2026, 9)].base == 2000
    assert {str(k) for k in mine.paid_months} == {"PENSION", "WAGES"}


def test_a_marker_is_forwarded_to_every_partition_after_the_facts_before_it() -> None:
    svc, journal = service()
    batch = [
        record(WAGES, wage(Month(2026, 9)), key="p1"),
        marker(WAGES, 1),
        record(WAGES, wage(Month(2026, 10)), key="p1"),
    ]
    asyncio.run(svc.on_tax_batch(batch))
    sent = svc.facts_topic.sent
    q = partition_for(USCC, PARTITIONS)
    assert [m["partition"] for m in sent] == [q, 0, 1, 2, q]
    assert all(m["key"] == EndMarker("run-1", WAGES, 1).key() for m in sent[1:4])
    assert journal[0] == f"ack {FACTS}"


# --- replay ---------------------------------------------------------------------------------------


def all_markers(partition: int, run_id: str = "run-1") -> list[RawRecord]:
    """What partition ``partition`` receives: its own commerce and pension markers, and every
    tax partition's marker as forwarded by the router onto the facts topic."""
    direct = [marker(COMMERCE, partition, run_id), marker(PENSION, partition, run_id)]
    forwarded = [
        RawRecord(FACTS, partition, next(_offsets), m.key(), m.value())
        for m in (
            EndMarker(run_id, t, p) for t in (CONTRIBUTIONS, WAGES) for p in range(PARTITIONS)
        )
    ]
    return direct + forwarded


def test_replay_evaluates_a_partition_only_once_every_marker_is_in() -> None:
    svc, journal = service("replay")
    q = partition_for(USCC, PARTITIONS)
    asyncio.run(svc.on_enterprise_batch([record(COMMERCE, established(date(2026, 10, 1)))]))
    markers = all_markers(q)
    asyncio.run(svc.on_enterprise_batch(markers[:-1]))
    assert svc.prompts_topic.sent == []
    assert svc.control_topic.sent == []
    asyncio.run(svc.on_enterprise_batch(markers[-1:]))
    kinds = [CODEC.decode(PROMPTS, m["value"]).kind for m in svc.prompts_topic.sent]
    assert kinds == [
        PromptKind.REGISTER_PENSION,
        PromptKind.REGISTRATION_REMINDER,
        PromptKind.REGISTRATION_OVERDUE,
    ]
    [done] = [Done.parse(m["value"]) for m in svc.control_topic.sent]
    assert (done.run_id, done.partition, dict(done.counts)) == (
        "run-1",
        q,
        {"enterprises": 1, "prompts": 3},
    )
    assert journal.index(f"write {USCC}") < journal.index(f"ack {CONTROL_TOPIC}")


def test_resent_markers_get_the_done_again_without_a_second_evaluation() -> None:
    svc, _ = service("replay")
    q = partition_for(USCC, PARTITIONS)
    asyncio.run(svc.on_enterprise_batch([record(COMMERCE, established(date(2026, 10, 1)))]))
    asyncio.run(svc.on_enterprise_batch(all_markers(q)))
    asyncio.run(svc.on_enterprise_batch(all_markers(q)))
    assert len(svc.prompts_topic.sent) == 3
    assert len(svc.control_topic.sent) == 2


def test_markers_of_another_run_are_ignored() -> None:
    svc, _ = service("replay")
    q = partition_for(USCC, PARTITIONS)
    asyncio.run(svc.on_enterprise_batch([record(COMMERCE, established(date(2026, 10, 1)))]))
    asyncio.run(svc.on_enterprise_batch(all_markers(q, run_id="an-old-run")))
    assert svc.prompts_topic.sent == []
    assert svc.control_topic.sent == []


def test_a_replay_needs_its_date_and_run() -> None:
    svc, _ = service("live")
    with pytest.raises(ValueError, match="as-of date and run id"):
        PromptService(
            codec=CODEC,
            table=svc.table,
            prompts_topic=svc.prompts_topic,
            facts_topic=svc.facts_topic,
            control_topic=svc.control_topic,
            facts_topic_name=FACTS,
            partitions=PARTITIONS,
            clock=lambda: TODAY,
            directory=directory(),
            floors=floors(),
            mode="replay",
            as_of=None,
            run_id="run-1",
            options=PromptServiceOptions(),
            active_partitions=set,
            ready=lambda: True,
        )


def test_an_unreadable_facts_message_is_poison_not_a_crash() -> None:
    svc, _ = service()
    bad = RawRecord(FACTS, 0, 7, None, b'{"v": 2, "states": []}')
    with capture_logs() as logs:
        asyncio.run(svc.on_enterprise_batch([bad]))
    [entry] = [e for e in logs if e["event"] == "unreadable message skipped"]
    assert (entry["topic"], entry["offset"]) == (FACTS, 7)
    assert "version" in entry["error"]


def test_the_worker_refuses_a_replay_without_its_date_and_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from services.prompts.worker import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--mode", "replay", "--as-of", "2026-11-20"])
    assert "--as-of and --run-id" in capsys.readouterr().err
    args = parse_args(["--mode", "replay", "--as-of", "2026-11-20", "--run-id", "r1"])
    assert (args.as_of, args.run_id, args.batch_size) == (date(2026, 11, 20), "r1", 5000)


# --- live, with a settle time ---------------------------------------------------------------


def settling(seconds: float) -> tuple[PromptService, list[float]]:
    """A live service that decides only once an enterprise's facts stood still ``seconds``."""
    svc, _ = service()
    now = [1000.0]
    svc.options = replace(svc.options, settle_seconds=seconds)
    svc.monotonic = lambda: now[0]
    return svc, now


def test_with_a_settle_time_a_batch_decides_nothing_and_the_tick_waits_for_quiet() -> None:
    svc, now = settling(60)
    asyncio.run(svc.on_enterprise_batch([record(COMMERCE, established(date(2026, 9, 1)))]))
    assert svc.prompts_topic.sent == [], "the batch only records the facts"
    now[0] += 30
    assert asyncio.run(svc.tick()) == 0, "still within the settle time"
    now[0] += 31
    assert asyncio.run(svc.tick()) == 2  # the letter, and 80 days on the overdue notice
    assert asyncio.run(svc.tick()) == 0


def test_a_registration_arriving_within_the_settle_time_prevents_a_false_notice() -> None:
    """The commerce file a few minutes before the pension agency's: no letter, no overdue."""
    svc, now = settling(60)
    asyncio.run(svc.on_enterprise_batch([record(COMMERCE, established(date(2020, 3, 1)))]))
    now[0] += 40
    asyncio.run(svc.on_enterprise_batch([record(PENSION, unit_registered(date(2020, 3, 5)))]))
    now[0] += 40
    assert asyncio.run(svc.tick()) == 0, "the registration reset the settle time"
    now[0] += 30
    assert asyncio.run(svc.tick()) == 0, "registered: nothing is due"
    assert svc.prompts_topic.sent == []
