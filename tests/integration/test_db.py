"""The database layer on real SQLite and PostgreSQL: migrations, the archive, dead letters, prompts.

Every test that takes ``database_url`` runs twice, on a fresh SQLite file and on a fresh
PostgreSQL database. Tampering is done the way an intruder would: plain SQL on the tables.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from pensionx.core.outputs import (
    DeadLetter,
    Priority,
    PromptKind,
    PromptRecipient,
    RegistrationPrompt,
    ServiceAgency,
)
from pensionx.db import alembic_config, make_engine, migrate
from pensionx.db.archive import (
    EventRecord,
    FileReceipt,
    iter_events,
    list_files,
    record_events,
    record_file,
    verify,
)
from pensionx.db.dead_letters import list_dead_letters, save_dead_letters
from pensionx.db.prompts import (
    DeliveryState,
    acknowledge_prompt,
    get_prompt,
    list_prompts,
    mark_prompts_sent,
    upsert_prompts,
)
from pensionx.db.tables import metadata
from pensionx.errors import DatabaseError

pytestmark = pytest.mark.integration

NOW = datetime(2026, 10, 31, 9, 30, tzinfo=UTC)


def _event(event_id: str, feed: str = "tax", line: int | None = None) -> EventRecord:
    value = b"\x00\x00\x00\x00\x07" + hashlib.sha256(event_id.encode()).digest() * 4
    return EventRecord(
        event_id=event_id,
        feed=feed,
        topic=f"{feed}.records.v1",
        key=f"key-{event_id}",
        value=value,
        file_sha256="f" * 64,
        line=line,
    )


def _receipt(name: str = "tax-2026-10.csv", published: int = 3) -> FileReceipt:
    return FileReceipt(
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        feed="tax",
        file_name=name,
        uploader="tax-bureau-sftp",
        received_at=NOW,
        lines_read=4,
        published=published,
        duplicates=0,
        dead_letters=1,
    )


def _tamper(engine: Engine, sql: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _three_entries(engine: Engine) -> None:
    """Entry 1: events a-c; entry 2: the file; entry 3: events d-e."""
    record_events(engine, [_event("a", line=2), _event("b", line=3), _event("c", line=4)])
    record_file(engine, _receipt())
    record_events(engine, [_event("d"), _event("e")])


# --- migrations ------------------------------------------------------------------------------


def test_migrating_twice_is_a_no_op_and_matches_the_tables(database_url: str) -> None:
    """The hand-checked migration creates exactly tables.metadata; a second run changes nothing."""
    eng = make_engine(database_url)
    try:
        migrate(eng)
        migrate(eng)
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        with eng.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert context.get_current_revision() == head
            assert compare_metadata(context, metadata) == []
            assert conn.execute(sa.text("SELECT count(*) FROM archive_head")).scalar() == 1
        assert verify(eng).ok
    finally:
        eng.dispose()


def test_processes_starting_at_once_migrate_once(database_url: str) -> None:
    """Two engines (as two processes would) migrating a fresh database together both succeed."""
    engines = [make_engine(database_url) for _ in range(3)]
    errors: list[BaseException] = []

    def run(eng: Engine) -> None:
        try:
            migrate(eng)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(eng,)) for eng in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        with engines[0].connect() as conn:
            context = MigrationContext.configure(conn)
            assert compare_metadata(context, metadata) == []
            assert conn.execute(sa.text("SELECT count(*) FROM archive_head")).scalar() == 1
    finally:
        for eng in engines:
            eng.dispose()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_an_unreachable_database_names_the_setting_and_hides_the_password() -> None:
    url = f"postgresql://pensionx:s3cret@127.0.0.1:{_closed_port()}/pensionx"
    eng = make_engine(url)
    with pytest.raises(DatabaseError) as caught:
        migrate(eng)
    message = str(caught.value)
    assert "PENSIONX_DATABASE_URL" in message
    assert "running" in message
    assert "s3cret" not in message
    assert "\n" not in message


def test_a_url_of_another_database_is_refused_at_once() -> None:
    with pytest.raises(DatabaseError, match="PENSIONX_DATABASE_URL"):
        make_engine("mysql://user@localhost/db")


# --- the archive ---------------------------------------------------------------------------


def test_archive_records_a_file_and_its_events_and_finds_duplicates_across_calls(
    engine: Engine,
) -> None:
    first = record_events(engine, [_event("a"), _event("b"), _event("a")])
    assert first.new == ("a", "b")
    assert first.duplicates == ("a",)
    second = record_events(engine, [_event("b"), _event("c")])
    assert second.new == ("c",)
    assert second.duplicates == ("b",)
    assert record_events(engine, [_event("c")]).seq is None  # nothing new: no entry
    seq = record_file(engine, _receipt())
    assert seq == 3
    [stored] = list_files(engine, sha256=_receipt().sha256)
    assert stored.published == 3
    assert stored.received_at == NOW
    result = verify(engine)
    assert (result.ok, result.entries, result.events, result.head_seq) == (True, 3, 3, 3)


def test_a_failed_publish_inside_the_transaction_archives_nothing(engine: Engine) -> None:
    def broker_down(_events: Sequence[EventRecord]) -> None:
        raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        record_events(engine, [_event("a")], before_commit=broker_down)
    published: list[str] = []
    again = record_events(
        engine, [_event("a")], before_commit=lambda evs: published.extend(e.event_id for e in evs)
    )
    assert again.new == ("a",)
    assert published == ["a"]
    assert verify(engine).ok


def test_verify_passes_on_an_untouched_archive(engine: Engine) -> None:
    _three_entries(engine)
    result = verify(engine, page=2)  # pages smaller than the chain: entries cross pages
    assert result.ok, result.problem
    assert (result.entries, result.events, result.first_bad_seq) == (3, 5, None)
    assert len(result.head_hash) == 64


@pytest.mark.parametrize(
    ("sql", "bad_seq", "says"),
    [
        ("UPDATE archive_files SET published = 99 WHERE seq = 2", 2, "file row"),
        ("UPDATE archive_entries SET recorded_at = :moment WHERE seq = 1", 1, "no longer matches"),
        ("UPDATE archive_events SET key = 'forged' WHERE event_id = 'b'", 1, "event rows"),
        ("UPDATE archive_events SET value = :blob WHERE event_id = 'e'", 3, "event rows"),
        ("DELETE FROM archive_events WHERE event_id = 'd'", 3, "removed or added"),
        ("UPDATE archive_entries SET entry_hash = :hash WHERE seq = 2", 2, "no longer matches"),
    ],
    ids=["file-row", "entry-row", "event-key", "event-value", "event-deleted", "entry-hash"],
)
def test_verify_names_the_first_altered_entry(
    engine: Engine, sql: str, bad_seq: int, says: str
) -> None:
    _three_entries(engine)
    _tamper(engine, sql, moment=NOW, blob=b"\x00forged", hash="1" * 64)
    result = verify(engine)
    assert not result.ok
    assert result.first_bad_seq == bad_seq
    assert result.problem is not None
    assert says in result.problem


def test_verify_names_an_entry_removed_from_the_middle(engine: Engine) -> None:
    _three_entries(engine)
    _tamper(engine, "DELETE FROM archive_files WHERE seq = 2")
    _tamper(engine, "DELETE FROM archive_entries WHERE seq = 2")
    result = verify(engine)
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert result.problem == "entry 2 was removed from the archive"


def test_verify_notices_entries_removed_from_the_end(engine: Engine) -> None:
    _three_entries(engine)
    _tamper(engine, "DELETE FROM archive_events WHERE seq = 3")
    _tamper(engine, "DELETE FROM archive_entries WHERE seq = 3")
    result = verify(engine)
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert result.problem is not None
    assert "removed from the end" in result.problem


def test_concurrent_appenders_do_not_fork_the_chain(database_url: str, engine: Engine) -> None:
    """Four writers (own engines, as separate processes would have) append at once."""
    writers = [make_engine(database_url) for _ in range(4)]
    errors: list[BaseException] = []

    def append(index: int, eng: Engine) -> None:
        try:
            for batch in range(5):
                # every writer also offers one shared id: exactly one of them may archive it
                ids = [f"w{index}-b{batch}-{n}" for n in range(20)] + [f"shared-{batch}"]
                record_events(eng, [_event(i) for i in ids])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(i, w)) for i, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for writer in writers:
        writer.dispose()
    assert errors == []
    result = verify(engine)
    assert result.ok, result.problem
    assert (result.entries, result.events) == (20, 4 * 5 * 20 + 5)


def test_replay_yields_events_in_archive_order(engine: Engine) -> None:
    record_events(engine, [_event("z", line=2), _event("m", feed="commerce"), _event("a")])
    before_second = datetime.now(UTC)
    record_events(engine, [_event("b", feed="commerce"), _event("y")])
    everything = list(iter_events(engine, chunk=2))  # pages smaller than the archive
    assert [e.event_id for e in everything] == ["z", "m", "a", "b", "y"]
    assert everything[0].value == _event("z").value
    assert everything[0].line == 2
    assert everything[0].recorded_at.tzinfo is not None
    assert [e.event_id for e in iter_events(engine, feed="commerce")] == ["m", "b"]
    assert [e.event_id for e in iter_events(engine, since=before_second)] == ["b", "y"]
    assert list(iter_events(engine, since=datetime.now(UTC) + timedelta(days=1))) == []


# --- dead letters and prompts ----------------------------------------------------------------


def _dead_letter(dead_letter_id: str, line: int) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=dead_letter_id,
        feed="tax",
        error_code="BAD_PERSON_ID",
        message_zh="公民身份号码校验位错误",
        message_en="The identity number's check digit is wrong.",
        raw_text="110101199003071234,202610,PENSION",
        received_at=NOW,
        file="tax-2026-10.csv",
        line=line,
        field_name="person_id",
        extra={"column": "公民身份号码"},
    )


def test_dead_letters_are_saved_once(engine: Engine) -> None:
    letters = [_dead_letter("dl-1", 2), _dead_letter("dl-2", 3)]
    assert sorted(save_dead_letters(engine, letters)) == ["dl-1", "dl-2"]
    assert save_dead_letters(engine, [*letters, _dead_letter("dl-3", 4)]) == ["dl-3"]
    stored = list_dead_letters(engine, feed="tax")
    assert [d.dead_letter_id for d in stored] == ["dl-1", "dl-2", "dl-3"]
    assert stored[0] == letters[0]
    assert list_dead_letters(engine, error_code="OTHER") == []
    assert len(list_dead_letters(engine, file="tax-2026-10.csv", limit=2)) == 2


def _prompt(
    prompt_id: str, region: str = "440305", priority: Priority = Priority.NORMAL
) -> RegistrationPrompt:
    return RegistrationPrompt(
        prompt_id=prompt_id,
        kind=PromptKind.BASE_BELOW_FLOOR,
        recipient=PromptRecipient.ENTERPRISE,
        priority=priority,
        uscc="91440300MA5DC1234X",
        enterprise_name="深圳市某某科技有限公司",
        region_code=region,
        issued_on=date(2026, 10, 31),
        deadline=date(2026, 11, 30),
        agency=ServiceAgency(
            name="深圳市社会保险基金管理局",
            address="深圳市福田区",
            phone="12333",
            online_platform="https://example.invalid",
        ),
        text_zh="缴费基数低于下限",
        text_en="The contribution base is below the floor.",
        period="2026-10",
        declared_base=Decimal("2360.00"),
        base_floor=Decimal("4775.40"),
        base_shortfall=Decimal("2415.40"),
        floor_source="粤人社规〔2024〕1号",
        reasons=("base 2360.00 < floor 4775.40",),
        triggering_event_ids=("tax-1", "tax-2"),
    )


def test_prompt_upsert_keeps_the_delivery_state(engine: Engine) -> None:
    assert upsert_prompts(engine, [_prompt("p-1"), _prompt("p-2", region="110105")], NOW) == [
        "p-1",
        "p-2",
    ]
    assert mark_prompts_sent(engine, ["p-1", "p-2"], NOW) == 2
    assert acknowledge_prompt(engine, "p-1", by="clerk-17", at=NOW + timedelta(hours=1))
    assert not acknowledge_prompt(engine, "p-missing", by="clerk-17", at=NOW)
    # issued again, with raised priority: the letter is refreshed, the state is not
    later = NOW + timedelta(days=1)
    assert upsert_prompts(engine, [_prompt("p-1", priority=Priority.HIGH)], later) == []
    stored = get_prompt(engine, "p-1")
    assert stored is not None
    assert stored.state is DeliveryState.ACKNOWLEDGED
    assert (stored.acknowledged_by, stored.acknowledged_at) == (
        "clerk-17",
        NOW + timedelta(hours=1),
    )
    assert stored.prompt == _prompt("p-1", priority=Priority.HIGH)
    assert (stored.first_seen_at, stored.last_seen_at) == (NOW, later)
    # acknowledging again keeps who dealt with it first
    assert acknowledge_prompt(engine, "p-1", by="clerk-99", at=later)
    assert [p.acknowledged_by for p in list_prompts(engine, state="ACKNOWLEDGED")] == ["clerk-17"]


def test_prompts_are_listed_by_kind_region_and_state(engine: Engine) -> None:
    regions = ["440305", "440106", "110105"]
    upsert_prompts(engine, [_prompt(f"p-{n}", region=r) for n, r in enumerate(regions)])
    assert [p.prompt.prompt_id for p in list_prompts(engine, region_prefix="44")] == ["p-0", "p-1"]
    assert len(list_prompts(engine, kind=PromptKind.BASE_BELOW_FLOOR, state="PENDING")) == 3
    assert list_prompts(engine, kind=PromptKind.REGISTER_PENSION) == []
    assert [p.prompt.prompt_id for p in list_prompts(engine, limit=1, offset=2)] == ["p-2"]
    assert list_prompts(engine, region_prefix="4%") == []  # a prefix, not a pattern


# --- throughput (reported, not asserted) -----------------------------------------------------


def _rate(engine: Engine, batches: int, size: int, record: Callable[..., object]) -> float:
    payload = [[_event(f"t-{b}-{n}") for n in range(size)] for b in range(batches)]
    started = time.perf_counter()
    for batch in payload:
        record(engine, batch)
    return batches * size / (time.perf_counter() - started)


def test_record_events_throughput(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """How many events/s record_events sustains in batches of 1,000 (see the printed figure)."""
    rate = _rate(engine, batches=30, size=1000, record=record_events)
    verified_at = time.perf_counter()
    assert verify(engine).events == 30_000
    verify_rate = 30_000 / (time.perf_counter() - verified_at)
    with capsys.disabled():
        print(
            f"\n[{engine.dialect.name}] record_events: {rate:,.0f} events/s in batches of 1,000;"
            f" verify: {verify_rate:,.0f} events/s"
        )
