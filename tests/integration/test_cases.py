"""The auditors' side end to end: conflicts on a real broker into the case store (SQLite and
PostgreSQL), `conflicts tail` with its filters, and every API transition and refusal.

Conflicts are published on the embedded broker to a fresh topic per test and read by the real
sink and tail consumers; values are Confluent-framed Avro from the project's codec over the
database schema registry. The API runs in-process through FastAPI's TestClient.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

from connectors import case_sink
from connectors.case_sink import CaseSink
from pensionx.avro.codec import Codec
from pensionx.avro.registry_db import DatabaseSchemaRegistry
from pensionx.broker import EmbeddedBroker
from pensionx.cases.queries import week_start
from pensionx.cases.repository import apply_command, case_history, get_case
from pensionx.commands import conflicts as tail_command
from pensionx.core.cases import Action, CaseStatus, Dismiss, DismissalReason, Role, StartReview
from pensionx.core.outputs import Conflict, ConflictStatus, Evidence
from pensionx.db import make_engine, migrate
from pensionx.db.dead_letters import list_dead_letters
from pensionx.kafka_config import KafkaTarget
from pensionx.settings import Settings
from pensionx.web.api import make_app
from pensionx.web.tokens import create_token, revoke_tokens
from tests.conftest import unique
from tests.support.case_samples import NOW, populate, realistic_conflicts

pytestmark = pytest.mark.integration

CONTRACT_TOPIC = "exchange.conflicts.v1"
BUDGET_S = 30.0


@pytest.fixture
def codec(engine: Engine) -> Codec:
    return Codec(DatabaseSchemaRegistry(engine))


@pytest.fixture
def target(tansu: EmbeddedBroker) -> KafkaTarget:
    return KafkaTarget((tansu.bootstrap,), embedded=True)


def create_topic(target: KafkaTarget, name: str, partitions: int = 3) -> str:
    admin = KafkaAdminClient(**target.admin_config())
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            described = admin.describe_topics([name])
            if described and len(described[0].get("partitions", [])) == partitions:
                break
            time.sleep(0.1)
    finally:
        admin.close()
    return name


def publish(target: KafkaTarget, codec: Codec, topic: str, *items: Conflict | bytes) -> None:
    """Send conflicts (keyed by conflict_id, as the contract says) or raw bytes, and flush."""
    producer = KafkaProducer(**target.producer_config())
    try:
        for item in items:
            if isinstance(item, bytes):
                producer.send(topic, key=b"garbage", value=item)
            else:
                value = codec.encode(CONTRACT_TOPIC, item)
                producer.send(topic, key=item.conflict_id.encode(), value=value)
        producer.flush(30)
    finally:
        producer.close()


def drain(sink: CaseSink, expected: int) -> int:
    """Run the sink until ``expected`` messages were read (or the budget runs out)."""
    seen, deadline = 0, time.monotonic() + BUDGET_S
    while seen < expected and time.monotonic() < deadline:
        seen += sink.run_once(max_messages=100, timeout=0.5).messages
    return seen


def conflicts(count: int = 6) -> list[Conflict]:
    """Real-rule conflicts with millisecond instants (what the wire carries)."""
    return [
        dataclasses.replace(c, detected_at=c.detected_at.replace(microsecond=0))
        for c in realistic_conflicts(count, seed=count)
    ]


def extended(conflict: Conflict, days: int = 10) -> Conflict:
    """The same conflict published later with one more record of evidence."""
    more = Evidence(
        agency="PENSION_FUND",
        topic="pension.records.v1",
        event_id=f"SB-DY-EXTRA-{conflict.conflict_id}",
        record_type="BENEFIT_AWARD",
        occurred_on=date(2026, 10, 1),
        monthly_amount=Decimal("1880.00"),
        start_period="2026-10",
        months=("2026-10",),
    )
    return dataclasses.replace(
        conflict,
        evidence=(*conflict.evidence, more),
        detected_at=conflict.detected_at + timedelta(days=days),
    )


# --- the sink ------------------------------------------------------------------------------


def test_conflicts_published_on_the_broker_appear_in_the_case_store(
    engine: Engine, codec: Codec, target: KafkaTarget
) -> None:
    topic = create_topic(target, unique("conflicts"))
    sent = conflicts(6)
    publish(target, codec, topic, *sent)
    sink = CaseSink(engine, codec, target, group_id=unique("sink"), topic=topic)
    try:
        assert drain(sink, len(sent)) == len(sent)
    finally:
        sink.close()
    for conflict in sent:
        case = get_case(engine, conflict.conflict_id)
        assert case is not None
        assert case.status is CaseStatus.OPEN
        assert case.conflict == conflict
        [detected] = case_history(engine, conflict.conflict_id)
        assert detected.action is Action.DETECTED


def test_republication_and_redelivery_change_nothing(
    engine: Engine, codec: Codec, target: KafkaTarget
) -> None:
    """The same evidence published again (later), and the whole topic read again by a new
    group, leave every case and its history as they were."""
    topic = create_topic(target, unique("conflicts"))
    first = conflicts(3)
    again = [dataclasses.replace(c, detected_at=c.detected_at + timedelta(days=5)) for c in first]
    publish(target, codec, topic, *first, *again)
    for group in (unique("sink"), unique("sink-replay")):
        sink = CaseSink(engine, codec, target, group_id=group, topic=topic)
        try:
            assert drain(sink, 6) == 6
        finally:
            sink.close()
    for conflict in first:
        case = get_case(engine, conflict.conflict_id)
        assert case is not None
        assert case.version == 1
        assert len(case_history(engine, conflict.conflict_id)) == 1


def test_new_evidence_after_a_dismissal_reopens_the_case(
    engine: Engine, codec: Codec, target: KafkaTarget
) -> None:
    topic = create_topic(target, unique("conflicts"))
    [conflict] = conflicts(1)
    sink = CaseSink(engine, codec, target, group_id=unique("sink"), topic=topic)
    try:
        publish(target, codec, topic, conflict)
        drain(sink, 1)
        for command in (StartReview(), Dismiss(DismissalReason.COINCIDENTAL_MATCH)):
            apply_command(engine, conflict.conflict_id, command, actor="li.na", role=Role.AUDITOR)
        publish(target, codec, topic, extended(conflict))
        drain(sink, 1)
    finally:
        sink.close()
    case = get_case(engine, conflict.conflict_id)
    assert case is not None
    assert case.status is CaseStatus.OPEN
    history = case_history(engine, conflict.conflict_id)
    assert [h.action for h in history] == [
        Action.DETECTED, Action.REVIEW_STARTED, Action.DISMISSED, Action.REOPENED_BY_DATA
    ]  # fmt: skip
    assert f"SB-DY-EXTRA-{conflict.conflict_id}" in history[-1].detail


def test_a_withdrawn_publication_closes_an_undecided_case(
    engine: Engine, codec: Codec, target: KafkaTarget
) -> None:
    topic = create_topic(target, unique("conflicts"))
    [conflict] = conflicts(1)
    withdrawn = dataclasses.replace(
        conflict, status=ConflictStatus.WITHDRAWN, detected_at=conflict.detected_at + timedelta(1)
    )
    publish(target, codec, topic, conflict, withdrawn)
    sink = CaseSink(engine, codec, target, group_id=unique("sink"), topic=topic)
    try:
        drain(sink, 2)
    finally:
        sink.close()
    case = get_case(engine, conflict.conflict_id)
    assert case is not None
    assert case.status is CaseStatus.WITHDRAWN


def test_offsets_are_committed_only_after_the_database_commit(
    engine: Engine, codec: Codec, target: KafkaTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed database write leaves the batch uncommitted and re-read; once stored and
    committed, a new consumer in the same group reads nothing more."""
    topic, group = create_topic(target, unique("conflicts"), partitions=1), unique("sink")
    sent = conflicts(3)
    publish(target, codec, topic, *sent)
    real = case_sink.receive_conflicts

    def failing(*_args: Any, **_kwargs: Any) -> Any:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is down"))

    sink = CaseSink(engine, codec, target, group_id=group, topic=topic)
    try:
        monkeypatch.setattr(case_sink, "receive_conflicts", failing)
        deadline = time.monotonic() + BUDGET_S
        with pytest.raises(sa.exc.OperationalError):  # noqa: PT012 - poll until a batch arrives
            while time.monotonic() < deadline:
                sink.run_once(timeout=0.5)
        monkeypatch.setattr(case_sink, "receive_conflicts", real)
        assert drain(sink, 3) == 3
    finally:
        sink.close()
    assert all(get_case(engine, c.conflict_id) is not None for c in sent)
    again = CaseSink(engine, codec, target, group_id=group, topic=topic)
    try:
        assert again.run_once(timeout=3.0).messages == 0
    finally:
        again.close()


def test_an_undecodable_message_becomes_a_dead_letter_and_the_rest_go_on(
    engine: Engine, codec: Codec, target: KafkaTarget
) -> None:
    topic = create_topic(target, unique("conflicts"), partitions=1)
    [conflict] = conflicts(1)
    publish(target, codec, topic, b"\x00\x00\x00\x00\x63not avro", conflict)
    sink = CaseSink(engine, codec, target, group_id=unique("sink"), topic=topic)
    try:
        assert drain(sink, 2) == 2
    finally:
        sink.close()
    assert get_case(engine, conflict.conflict_id) is not None
    [letter] = list_dead_letters(engine, feed="exchange")
    assert letter.error_code == case_sink.DECODE_ERROR
    assert (letter.topic, letter.partition, letter.offset) == (topic, 0, 0)


# --- conflicts tail --------------------------------------------------------------------------


def _tail(
    target: KafkaTarget,
    codec: Codec,
    topic: str,
    options: tail_command.TailOptions,
    expected: int,
    *,
    group: str | None = None,
    from_beginning: bool = True,
) -> list[str]:
    out = io.StringIO()
    stop = threading.Event()
    timer = threading.Timer(BUDGET_S, stop.set)
    timer.start()
    consumer = tail_command.open_consumer(target, group, from_beginning, topic)
    try:
        tail_command.tail(consumer, codec, options, out, stop, commit=group is not None,
                          max_messages=expected)  # fmt: skip
    finally:
        timer.cancel()
        consumer.close()
    return out.getvalue().splitlines()


def _mixed() -> list[Conflict]:
    """Conflicts of several rules, severities and regions."""
    sample = conflicts(12)
    assert len({c.rule for c in sample}) > 1
    return sample


def test_tail_prints_json_lines_with_the_schema_field_names(
    engine: Engine, codec: Codec, target: KafkaTarget
) -> None:
    topic = create_topic(target, unique("conflicts"))
    sent = _mixed()
    publish(target, codec, topic, *sent)
    lines = _tail(target, codec, topic, tail_command.TailOptions(fmt="json"), len(sent))
    records = [json.loads(line) for line in lines]
    assert {r["conflict_id"] for r in records} == {c.conflict_id for c in sent}
    one = next(r for r in records if r["overpayment_estimate"] is not None)
    assert isinstance(one["overpayment_estimate"], str)
    Decimal(one["overpayment_estimate"])
    assert datetime.fromisoformat(one["detected_at"]).tzinfo is not None
    date.fromisoformat(one["evidence"][0]["occurred_on"])


@pytest.mark.parametrize("which", ["rule", "severity", "region"])
def test_tail_filters_by_rule_severity_and_region(
    engine: Engine, codec: Codec, target: KafkaTarget, which: str
) -> None:
    topic = create_topic(target, unique("conflicts"))
    sent = _mixed()
    publish(target, codec, topic, *sent)
    pick = sent[0]
    options = {
        "rule": tail_command.TailOptions(rules=(pick.rule,)),
        "severity": tail_command.TailOptions(severities=(pick.severity,)),
        "region": tail_command.TailOptions(region_prefix=pick.region_code[:4]),
    }[which]
    wanted = {c.conflict_id for c in sent if options.matches(c)}
    assert 0 < len(wanted) < len(sent)
    lines = _tail(target, codec, topic, options, len(wanted))
    assert {json.loads(line)["conflict_id"] for line in lines} == wanted


def test_tail_as_a_table_masks_the_identity_number(
    engine: Engine, codec: Codec, target: KafkaTarget
) -> None:
    topic = create_topic(target, unique("conflicts"))
    [conflict] = conflicts(1)
    publish(target, codec, topic, conflict)
    header, line = _tail(target, codec, topic, tail_command.TailOptions(fmt="table"), 1)
    assert header.startswith("DETECTED")
    assert conflict.conflict_id in line
    assert conflict.rule.value in line
    assert conflict.person_id not in line
    assert conflict.person_id[-4:] in line


def test_tail_with_a_group_resumes_where_it_stopped(
    engine: Engine, codec: Codec, target: KafkaTarget
) -> None:
    topic, group = create_topic(target, unique("conflicts"), partitions=1), unique("auditor")
    sent = conflicts(4)
    publish(target, codec, topic, *sent[:3])
    first = _tail(target, codec, topic, tail_command.TailOptions(), 2, group=group)
    publish(target, codec, topic, sent[3])
    second = _tail(target, codec, topic, tail_command.TailOptions(), 2, group=group)
    ids = [json.loads(line)["conflict_id"] for line in first + second]
    assert ids == [c.conflict_id for c in sent]


def test_tail_without_from_beginning_prints_only_what_is_published_after_it_starts(
    engine: Engine, codec: Codec, target: KafkaTarget
) -> None:
    topic = create_topic(target, unique("conflicts"), partitions=1)
    old, new = conflicts(2)
    publish(target, codec, topic, old)
    out, stop = io.StringIO(), threading.Event()
    started_ms = int(time.time() * 1000)
    consumer = tail_command.open_consumer(target, None, False, topic)
    worker = threading.Thread(
        target=tail_command.tail,
        args=(consumer, codec, tail_command.TailOptions(), out, stop),
        kwargs={"not_before_ms": started_ms, "max_messages": 1},
    )
    worker.start()
    try:
        time.sleep(1.0)
        publish(target, codec, topic, new)
        worker.join(BUDGET_S)
    finally:
        stop.set()
        worker.join(5)
        consumer.close()
    assert [json.loads(line)["conflict_id"] for line in out.getvalue().splitlines()] == [
        new.conflict_id
    ]


class _Lines(io.StringIO):
    """stdout that says when ``wanted`` lines have been written."""

    def __init__(self, wanted: int) -> None:
        super().__init__()
        self.wanted, self.enough = wanted, threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.getvalue().count("\n") >= self.wanted:
            self.enough.set()
        return written


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_tail_command_prints_and_stops_cleanly_on_a_signal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: signal.Signals
) -> None:
    """`pensionx conflicts tail --from-beginning --format json --rule R` as the CLI runs it:
    settings, database, registry and the contract topic of a broker of its own."""
    import argparse

    from pensionx.topics import create_topics

    url = f"sqlite:///{tmp_path / 'pensionx.db'}"
    eng = make_engine(url)
    migrate(eng)
    codec = Codec(DatabaseSchemaRegistry(eng))
    with EmbeddedBroker() as broker:
        target = KafkaTarget((broker.bootstrap,), embedded=True)
        create_topics(target, 2)
        sent = _mixed()
        publish(target, codec, CONTRACT_TOPIC, *sent)
        rule = sent[0].rule
        wanted = [c for c in sent if c.rule is rule]
        out = _Lines(len(wanted))
        monkeypatch.setattr("sys.stdout", out)
        settings = Settings(kafka_bootstrap_servers=(broker.bootstrap,), database_url=url,
                            data_dir=str(tmp_path))  # fmt: skip
        args = argparse.Namespace(rule=[rule], severity=[], region="", from_beginning=True,
                                  group=None, fmt="json")  # fmt: skip

        def interrupt() -> None:
            out.enough.wait(BUDGET_S)
            os.kill(os.getpid(), signum)

        threading.Thread(target=interrupt, daemon=True).start()
        assert tail_command.cmd_tail(args, settings) == 0
    eng.dispose()
    printed = [json.loads(line)["conflict_id"] for line in out.getvalue().splitlines()]
    assert sorted(printed) == sorted(c.conflict_id for c in wanted)


# --- the HTTP API --------------------------------------------------------------------------


@dataclasses.dataclass
class Desk:
    client: TestClient
    engine: Engine
    conflicts: list[Conflict]
    auditor: dict[str, str]
    other_auditor: dict[str, str]
    supervisor: dict[str, str]
    agency: dict[str, str]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def desk(engine: Engine) -> Iterator[Desk]:
    stored = populate(engine, realistic_conflicts(30))
    tokens = {
        "auditor": create_token(engine, Role.AUDITOR, "wang.li"),
        "other_auditor": create_token(engine, Role.AUDITOR, "li.na"),
        "supervisor": create_token(engine, Role.SUPERVISOR, "zhao.min"),
        "agency": create_token(engine, Role.AGENCY, "baoji-agency", ["6103"]),
    }
    with TestClient(make_app(engine, clock=lambda: NOW)) as client:
        yield Desk(client, engine, stored, **{k: _bearer(v) for k, v in tokens.items()})


def _open_case(desk: Desk) -> str:
    page = desk.client.get("/api/v1/cases?status=OPEN&limit=1", headers=desk.auditor).json()
    conflict_id: str = page["items"][0]["conflict_id"]
    return conflict_id


def test_every_transition_through_the_api_is_recorded_in_the_history(desk: Desk) -> None:
    cid, post = _open_case(desk), desk.client.post
    steps: list[tuple[dict[str, str], str, dict[str, Any] | None, str]] = [
        (desk.supervisor, "assign", {"assignee": "wang.li"}, "OPEN"),
        (desk.auditor, "review", None, "UNDER_REVIEW"),
        (desk.auditor, "notes", {"text": "已与民政核对死亡日期"}, "UNDER_REVIEW"),
        (desk.auditor, "confirm", {"amount_recovered": "1200.5"}, "CONFIRMED"),
        (desk.auditor, "recovery", {"amount": 2400}, "CONFIRMED"),
        (desk.supervisor, "reopen", {"reason": "复核发现证据不足"}, "OPEN"),
        (desk.other_auditor, "review", None, "UNDER_REVIEW"),
        (desk.other_auditor, "dismiss", {"reason": "OTHER", "text": "同号录入错误"}, "DISMISSED"),
    ]  # fmt: skip
    for who, command, body, status in steps:
        response = post(f"/api/v1/cases/{cid}/{command}", headers=who, json=body)
        assert response.status_code == 200, (command, response.text)
        assert response.json()["status"] == status
    detail = desk.client.get(f"/api/v1/cases/{cid}", headers=desk.auditor).json()
    assert detail["amount_recovered"] == "2400.00"
    assert detail["dismissal_reason"] == "OTHER"
    assert detail["dismissal_text"] == "同号录入错误"
    assert detail["allowed"] == ["notes", "recovery"]
    history = [(h["action"], h["actor"]) for h in detail["history"]]
    assert history == [
        ("DETECTED", "system:exchange"),
        ("ASSIGNED", "zhao.min"), ("REVIEW_STARTED", "wang.li"), ("NOTE_ADDED", "wang.li"),
        ("CONFIRMED", "wang.li"), ("RECOVERY_RECORDED", "wang.li"), ("REOPENED", "zhao.min"),
        ("REVIEW_STARTED", "li.na"), ("DISMISSED", "li.na"),
    ]  # fmt: skip
    assert detail["history"][5]["data"] == {"amount_recovered": "2400.00"}
    assert detail["conflict"]["evidence"]
    assert detail["conflict"]["explanation_zh"]


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "status"),
    [
        (None, "get", "/api/v1/cases", None, 401),
        ("bogus", "get", "/api/v1/cases", None, 401),
        ("agency", "get", "/api/v1/cases", None, 403),
        ("agency", "get", "/api/v1/summary", None, 403),
        ("agency", "post", "/api/v1/cases/{cid}/review", None, 403),
        ("auditor", "post", "/api/v1/cases/{cid}/reopen", {"reason": "x"}, 403),
        ("auditor", "post", "/api/v1/cases/{cid}/assign", {"assignee": "li.na"}, 403),
        ("auditor", "post", "/api/v1/cases/{cid}/confirm", {}, 409),
        ("auditor", "post", "/api/v1/cases/{cid}/reopen", None, 422),
        ("supervisor", "post", "/api/v1/cases/{cid}/reopen", {"reason": "x"}, 409),
        ("supervisor", "post", "/api/v1/cases/{cid}/assign", {"assignee": "nobody"}, 422),
        ("auditor", "post", "/api/v1/cases/{cid}/dismiss", {"reason": "BECAUSE"}, 422),
        ("auditor", "post", "/api/v1/cases/{cid}/notes", {"text": "  "}, 409),
        ("auditor", "post", "/api/v1/cases/{cid}/recovery", {"amount": "-5"}, 409),
        ("auditor", "post", "/api/v1/cases/C-NOSUCHCASE/review", None, 404),
        ("auditor", "get", "/api/v1/cases/C-NOSUCHCASE", None, 404),
        ("auditor", "post", "/api/v1/prompts/P-000000000000000000000000/acknowledge", None, 403),
        ("agency", "get", "/api/v1/prompts?region=6101", None, 403),
        ("agency", "post", "/api/v1/prompts/P-NOSUCHPROMPT/acknowledge", None, 404),
    ],
)
def test_requests_outside_a_role_or_the_workflow_are_refused(  # noqa: PLR0917 - parametrised
    desk: Desk, who: str | None, method: str, path: str, body: Any, status: int
) -> None:
    cid = _open_case(desk)
    headers = (
        {} if who is None else _bearer("pxa_" + "x" * 43) if who == "bogus" else getattr(desk, who)
    )
    before = desk.client.get(f"/api/v1/cases/{cid}", headers=desk.auditor).json()
    with capture_logs() as logs:
        response = desk.client.request(method, path.format(cid=cid), headers=headers, json=body)
    assert response.status_code == status, response.text
    refused = [e for e in logs if e["event"] == "request refused"]
    assert bool(refused) == (status == 403)
    if refused:
        assert refused[0]["path"] == path.format(cid=cid).split("?")[0]
    after = desk.client.get(f"/api/v1/cases/{cid}", headers=desk.auditor).json()
    assert after["history"] == before["history"]


def test_a_revoked_token_no_longer_works(desk: Desk) -> None:
    assert desk.client.get("/api/v1/me", headers=desk.other_auditor).json()["name"] == "li.na"
    assert revoke_tokens(desk.engine, "li.na") == 1
    assert desk.client.get("/api/v1/me", headers=desk.other_auditor).status_code == 401


def test_listing_filters_and_pages(desk: Desk) -> None:
    get = desk.client.get
    everything = get("/api/v1/cases?limit=500", headers=desk.auditor).json()
    assert everything["total"] == len(desk.conflicts)
    rule = desk.conflicts[0].rule.value
    by_rule = get(f"/api/v1/cases?rule={rule}&limit=500", headers=desk.auditor).json()
    assert by_rule["total"] == sum(c.rule.value == rule for c in desk.conflicts)
    assert {i["rule"] for i in by_rule["items"]} == {rule}
    high = get("/api/v1/cases?severity=HIGH&region=6103&limit=500", headers=desk.auditor).json()
    assert all(
        i["severity"] == "HIGH" and i["region_code"].startswith("6103") for i in high["items"]
    )
    undecided = get("/api/v1/cases?status=OPEN&status=UNDER_REVIEW&limit=500", headers=desk.auditor)
    assert {i["status"] for i in undecided.json()["items"]} <= {"OPEN", "UNDER_REVIEW"}
    pages = [
        get(f"/api/v1/cases?limit=10&offset={o}", headers=desk.auditor).json() for o in (0, 10)
    ]
    first, second = ({i["conflict_id"] for i in p["items"]} for p in pages)
    assert len(first) == len(second) == 10
    assert not first & second
    one = desk.conflicts[5]
    found = get(f"/api/v1/cases?q={one.person_id}", headers=desk.auditor).json()
    assert [i["conflict_id"] for i in found["items"]] == [one.conflict_id]


def test_the_csv_export_opens_in_excel_and_cannot_run_formulas(desk: Desk, engine: Engine) -> None:
    [sample] = conflicts(1)
    nasty = dataclasses.replace(sample, conflict_id="C-FORMULA", person_name="=HYPERLINK(1)")
    from pensionx.cases.repository import receive_conflicts

    receive_conflicts(engine, [nasty])
    response = desk.client.get("/api/v1/cases.csv?status=OPEN", headers=desk.auditor)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    total = desk.client.get("/api/v1/cases?status=OPEN", headers=desk.auditor).json()["total"]
    assert len(rows) == total
    [row] = [r for r in rows if r["conflict_id"] == "C-FORMULA"]
    assert row["person_name"] == "'=HYPERLINK(1)"


def test_an_agency_sees_and_acknowledges_only_its_own_prompts(desk: Desk) -> None:
    page = desk.client.get("/api/v1/prompts?state=WAITING", headers=desk.agency).json()
    assert page["items"]
    assert all(p["region_code"].startswith("6103") for p in page["items"])
    everyone = desk.client.get("/api/v1/prompts?limit=500", headers=desk.supervisor).json()
    outside = next(p for p in everyone["items"] if not p["region_code"].startswith("6103"))
    mine = page["items"][0]
    refused = desk.client.post(
        f"/api/v1/prompts/{outside['prompt_id']}/acknowledge", headers=desk.agency
    )
    assert refused.status_code == 403
    done = desk.client.post(f"/api/v1/prompts/{mine['prompt_id']}/acknowledge", headers=desk.agency)
    assert done.status_code == 200
    assert (done.json()["state"], done.json()["acknowledged_by"]) == (
        "ACKNOWLEDGED",
        "baoji-agency",
    )


def test_the_summary_and_feed_freshness(desk: Desk) -> None:
    summary = desk.client.get("/api/v1/summary", headers=desk.auditor).json()
    cases = [get_case(desk.engine, c.conflict_id) for c in desk.conflicts]
    undecided = sum(
        1 for c in cases if c and c.status in (CaseStatus.OPEN, CaseStatus.UNDER_REVIEW)
    )
    assert summary["active"] == undecided == sum(summary["active_by_rule"].values())
    assert len(summary["weeks"]) == 12
    first = date.fromisoformat(summary["weeks"][0]["start"])
    in_window = [c for c in desk.conflicts if week_start(c.detected_at) >= first]
    assert sum(w["detected"] for w in summary["weeks"]) == len(in_window)
    feeds = {f["feed"]: f for f in desk.client.get("/api/v1/feeds", headers=desk.auditor).json()}
    assert feeds["tax"]["last_file"] == "tax_202610.csv.gz"
    assert feeds["tax"]["last_dead_letters"] == 57


def test_the_openapi_description_covers_the_api_with_bearer_auth(desk: Desk) -> None:
    spec = desk.client.get("/openapi.json").json()
    for path in ("/api/v1/cases", "/api/v1/cases/{conflict_id}/confirm", "/api/v1/prompts",
                 "/api/v1/prompts/{prompt_id}/acknowledge", "/api/v1/cases.csv"):  # fmt: skip
        assert path in spec["paths"]
    assert "/cases/{conflict_id}" not in spec["paths"]  # the HTML pages stay out of it
    schemes = spec["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())


def test_the_history_is_append_only_in_the_database(desk: Desk, engine: Engine) -> None:
    for statement in ("UPDATE case_history SET actor = 'someone else'", "DELETE FROM case_history"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement))


# --- the pages (without a browser) ---------------------------------------------------------


def test_pages_need_a_login_and_the_cookie_is_httponly_and_strict(desk: Desk) -> None:
    client = desk.client
    assert client.get("/cases", follow_redirects=False).headers["location"].startswith("/login")
    wrong = client.post("/login", data={"token": "pxa_wrong"})
    assert wrong.status_code == 401
    token = create_token(desk.engine, Role.AUDITOR, "page.user")
    response = client.post(
        "/login", data={"token": token, "next": "/cases"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/cases"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


def test_a_case_is_worked_through_the_page_forms(desk: Desk) -> None:
    client, cid = desk.client, _open_case(desk)
    client.cookies.set("pensionx_token", desk.auditor["Authorization"].removeprefix("Bearer "))
    for action in ("review", "confirm"):
        response = client.post(f"/cases/{cid}", data={"action": action}, follow_redirects=False)
        assert response.status_code == 303, response.text
    page = client.get(f"/cases/{cid}")
    assert "已确认 Confirmed" in page.text
    refused = client.post(f"/cases/{cid}", data={"action": "review"})
    assert refused.status_code == 409
    assert "CONFIRMED" in refused.text
    cross_site = client.post(
        f"/cases/{cid}", data={"action": "notes", "text": "x"},
        headers={"Origin": "https://evil.example"},
    )  # fmt: skip
    assert cross_site.status_code == 403
    history = desk.client.get(f"/api/v1/cases/{cid}", headers=desk.auditor).json()["history"]
    assert [h["action"] for h in history][-2:] == ["REVIEW_STARTED", "CONFIRMED"]
