"""Generated feed files through the HTTP upload endpoint onto a real broker: every good record on
its topic exactly once, every bad one in the dead letters at its file, line and code, also when
the same files are uploaded again; and every refusal with its status — 401 no valid token, 403
another agency's feed, 400 no usable name, 413 too large (before the body is read whole), 422 a
file rejected as a whole — with the tokens stored only as hashes."""

from __future__ import annotations

import argparse
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition
from structlog.testing import capture_logs

from connectors.ingest import DEAD_LETTER_TOPIC, Ingestor
from connectors.publisher import KafkaPublisher
from connectors.readers import feed_from_name
from connectors.upload import make_upload_app
from pensionx.avro.codec import Codec
from pensionx.avro.registry import InMemorySchemaRegistry
from pensionx.broker import EmbeddedBroker
from pensionx.commands.connectors import add_commands
from pensionx.core.codes import Feed
from pensionx.db import archive
from pensionx.db.engine import make_engine, migrate
from pensionx.db.tables import archive_events, upload_tokens
from pensionx.db.upload_tokens import (
    AGENCY_FEEDS,
    authenticate,
    create_token,
    revoke,
    token_hash,
)
from pensionx.generator import generate
from pensionx.generator.answer_key import ANSWER_KEY_FILE, AnswerKey
from pensionx.kafka_config import KafkaTarget
from pensionx.settings import Settings
from pensionx.topics import create_topics

pytestmark = pytest.mark.integration

AS_OF = date(2026, 11, 20)
MAX_BYTES = 4 * 1024 * 1024
AGENCY_OF = {feed: agency for agency, feeds in AGENCY_FEEDS.items() for feed in feeds}


@dataclass
class Exchange:
    target: KafkaTarget
    engine: sa.Engine
    codec: Codec
    ingestor: Ingestor
    client: TestClient
    tokens: dict[str, str]  # agency -> its token
    db_file: Path

    def upload(self, path: Path, *, agency: str | None = None) -> Any:  # the client's Response
        feed = feed_from_name(path.name)
        token = self.tokens[agency or AGENCY_OF[feed]]
        return self.client.post(
            f"/feeds/{feed.value}",
            content=path.read_bytes(),
            headers={"Authorization": f"Bearer {token}", "X-File-Name": path.name},
        )


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AnswerKey]:
    out = tmp_path_factory.mktemp("feeds")
    key = generate(out, enterprises=40, persons=300, seed=7, as_of=AS_OF)
    return out, key


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    with EmbeddedBroker() as broker:
        target = KafkaTarget((broker.bootstrap,), embedded=True)
        create_topics(target, partitions=3)
        db_file = tmp_path / "x.db"
        engine = make_engine(f"sqlite:///{db_file}")
        migrate(engine)
        codec = Codec(InMemorySchemaRegistry())
        ingestor = Ingestor(engine, codec, KafkaPublisher(target), today=AS_OF)
        tokens = {agency: create_token(engine, agency) for agency in AGENCY_FEEDS}
        app = make_upload_app(engine, ingestor, max_bytes=MAX_BYTES)
        try:
            with TestClient(app) as client:
                yield Exchange(target, engine, codec, ingestor, client, tokens, db_file)
        finally:
            ingestor.close()
            engine.dispose()


def _feed_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name != ANSWER_KEY_FILE)


def read_topic(target: KafkaTarget, topic: str, expected: int, codec: Codec) -> list[Any]:
    """Every message on ``topic``, decoded; waits until ``expected`` arrived (or 20 s), then
    polls once more so that a duplicate beyond ``expected`` is seen too."""
    consumer = KafkaConsumer(**target.consumer_config(None, consumer_timeout_ms=1000))
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    got: list[Any] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(got) < expected:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend(codec.decode(topic, r.value) for r in records)
    for records in consumer.poll(timeout_ms=1000).values():
        got.extend(codec.decode(topic, r.value) for r in records)
    consumer.close()
    return got


def _assert_matches_answer_key(x: Exchange, key: AnswerKey) -> None:
    for feed in Feed:
        events = read_topic(x.target, feed.topic, key.counts[feed.value], x.codec)
        ids = Counter(e.event_id for e in events)
        assert not [i for i, n in ids.items() if n > 1], f"{feed}: an event was published twice"
        assert len(ids) == key.counts[feed.value], f"{feed}: published {len(ids)}"
    letters = read_topic(x.target, DEAD_LETTER_TOPIC, len(key.dead_letters), x.codec)
    found = Counter((d.file, d.line, d.error_code) for d in letters)
    assert found == Counter((d.file, d.line, d.error_code) for d in key.dead_letters)


def _archived_events(x: Exchange) -> int:
    with x.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(archive_events)).scalar_one()


def test_every_feed_uploaded_once_even_when_uploaded_twice(
    feeds: tuple[Path, AnswerKey], exchange: Exchange
) -> None:
    folder, key = feeds
    files = _feed_files(folder)

    answers = [exchange.upload(path) for path in files]
    assert [a.status_code for a in answers] == [200] * len(files), [
        a.text for a in answers if a.status_code != 200
    ]
    receipts = [a.json() for a in answers]
    assert [r["file"] for r in receipts] == [p.name for p in files]
    assert sum(r["published"] for r in receipts) == sum(key.counts.values())
    assert sum(r["dead_letters"] for r in receipts) == len(key.dead_letters)
    assert {r["uploader"] for r in receipts} == {f"upload:{a}" for a in AGENCY_FEEDS}
    _assert_matches_answer_key(exchange, key)

    again = [exchange.upload(path).json() for path in files]
    assert sum(r["published"] for r in again) == 0
    assert sum(r["duplicates_skipped"] for r in again) == sum(key.counts.values())
    _assert_matches_answer_key(exchange, key)
    assert archive.verify(exchange.engine).ok


def test_the_file_name_may_come_as_a_query_parameter_and_a_path_is_ignored(
    feeds: tuple[Path, AnswerKey], exchange: Exchange
) -> None:
    path = next(p for p in _feed_files(feeds[0]) if p.name == "commerce-history.csv")
    answer = exchange.client.post(
        "/feeds/commerce",
        params={"name": "C:\\exports\\" + path.name},
        content=path.read_bytes(),
        headers={"Authorization": f"Bearer {exchange.tokens['commerce']}"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["file"] == path.name


def test_no_unknown_or_revoked_token_is_401_and_never_logged(
    feeds: tuple[Path, AnswerKey], exchange: Exchange
) -> None:
    path = next(p for p in _feed_files(feeds[0]) if p.name == "commerce-history.csv")
    body, name = path.read_bytes(), {"X-File-Name": path.name}
    revoked = create_token(exchange.engine, "commerce")
    assert revoke(exchange.engine, "commerce", token=revoked) == 1
    made_up = "pxu_" + "A" * 43
    with capture_logs() as logs:
        for headers in (
            {},
            {"Authorization": f"Bearer {made_up}"},
            {"Authorization": f"Bearer {revoked}"},
            {"Authorization": f"Basic {exchange.tokens['commerce']}"},
            {"Authorization": "Bearer " + exchange.tokens["commerce"] + "x"},
        ):
            answer = exchange.client.post("/feeds/commerce", content=body, headers=headers | name)
            assert answer.status_code == 401, headers
            assert answer.headers["www-authenticate"] == "Bearer"
            assert "token" in answer.json()["detail"]
    assert len(logs) == 5
    assert all(e["status"] == 401 for e in logs)
    secrets_ = [made_up, revoked, *exchange.tokens.values()]
    assert not [s for s in secrets_ if s in repr(logs)], "a token was logged"
    assert _archived_events(exchange) == 0


def test_an_agency_may_upload_only_its_own_feeds(
    feeds: tuple[Path, AnswerKey], exchange: Exchange
) -> None:
    tax_file = next(p for p in _feed_files(feeds[0]) if p.name == "tax-history.csv")
    with capture_logs() as logs:
        answer = exchange.upload(tax_file, agency="commerce")
    assert answer.status_code == 403
    assert answer.json()["detail"] == "the commerce agency's token may upload commerce, not tax"
    assert logs[0]["agency"] == "commerce"
    assert logs[0]["feed"] == "tax"
    wages_file = next(p for p in _feed_files(feeds[0]) if p.name == "wages-history.csv")
    assert exchange.upload(wages_file, agency="tax").status_code == 200
    assert exchange.upload(wages_file, agency="pension").status_code == 403

    narrow = create_token(exchange.engine, "tax", ["wages"])
    answer = exchange.client.post(
        "/feeds/tax",
        content=tax_file.read_bytes(),
        headers={"Authorization": f"Bearer {narrow}", "X-File-Name": tax_file.name},
    )
    assert answer.status_code == 403


def test_a_missing_or_foreign_file_name_is_400_and_an_unknown_feed_404(
    exchange: Exchange,
) -> None:
    auth = {"Authorization": f"Bearer {exchange.tokens['tax']}"}
    for headers, params in (
        ({}, {}),
        ({"X-File-Name": "wages_202610.csv"}, {}),
        ({}, {"name": "contributions.csv"}),
        ({"X-File-Name": "taxes_202610.csv"}, {}),
    ):
        answer = exchange.client.post(
            "/feeds/tax", content=b"x", headers=auth | headers, params=params
        )
        assert answer.status_code == 400, (headers, params)
        assert "tax" in answer.json()["detail"]
    answer = exchange.client.post("/feeds/payroll", content=b"x", headers=auth)
    assert answer.status_code == 404
    assert "commerce, tax, wages, pension, audit" in answer.json()["detail"]


def test_a_non_ascii_file_name_is_percent_encoded_in_the_header(exchange: Exchange) -> None:
    answer = exchange.client.post(
        "/feeds/commerce",
        content="统一社会信用代码,企业名称\n".encode(),
        headers={
            "Authorization": f"Bearer {exchange.tokens['commerce']}",
            "X-File-Name": "commerce-%E5%B8%82%E5%9C%BA.csv",
        },
    )
    assert answer.json()["file"] == "commerce-市场.csv"


def test_a_file_rejected_as_a_whole_is_422_with_the_reason(exchange: Exchange) -> None:
    answer = exchange.client.post(
        "/feeds/tax",
        content=b"person_id,period\n110101199003071234,202610\n",
        headers={
            "Authorization": f"Bearer {exchange.tokens['tax']}",
            "X-File-Name": "tax-2026-10.csv",
        },
    )
    assert answer.status_code == 422
    receipt = answer.json()
    assert receipt["rejected"]
    assert receipt["published"] == 0
    assert "[MISSING_COLUMN]" in receipt["first_dead_letter_reasons"][0]


def test_a_body_over_the_limit_is_413(exchange: Exchange) -> None:
    answer = exchange.client.post(
        "/feeds/tax",
        content=b"x" * (MAX_BYTES + 1),
        headers={
            "Authorization": f"Bearer {exchange.tokens['tax']}",
            "X-File-Name": "tax-2026-10.csv",
        },
    )
    assert answer.status_code == 413
    assert str(MAX_BYTES) in answer.json()["detail"]
    assert _archived_events(exchange) == 0


def test_tokens_are_stored_only_as_their_hashes(exchange: Exchange) -> None:
    with exchange.engine.connect() as conn:
        rows = conn.execute(sa.select(upload_tokens)).all()
    assert {r.agency for r in rows} == set(AGENCY_FEEDS)
    assert {r.token_hash for r in rows} == {token_hash(t) for t in exchange.tokens.values()}
    assert {r.agency: r.feeds for r in rows}["tax"] == "tax,wages"
    exchange.engine.dispose()  # everything written out of the WAL into the file
    stored = exchange.db_file.read_bytes() + b"".join(
        p.read_bytes() for p in exchange.db_file.parent.glob("x.db-*")
    )
    for token in exchange.tokens.values():
        assert token.encode() not in stored


# --- a real server: an oversized body is refused before it is all sent ----------------------


@pytest.fixture
def server(exchange: Exchange) -> Iterator[tuple[str, int]]:
    app = make_upload_app(exchange.engine, exchange.ingestor, max_bytes=64 * 1024)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    running = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running.started
    try:
        yield exchange.tokens["tax"], port
    finally:
        running.should_exit = True
        thread.join(timeout=10)


def _request_head(token: str, extra: str) -> bytes:
    return (
        "POST /feeds/tax HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nX-File-Name: tax-2026-10.csv\r\n{extra}\r\n"
    ).encode()


def _status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_a_declared_length_over_the_limit_is_refused_without_waiting_for_the_body(
    server: tuple[str, int],
) -> None:
    token, port = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(_request_head(token, f"Content-Length: {10 * 1024**3}\r\n"))
        assert _status_of(conn.recv(4096)) == 413


def test_a_streamed_body_is_refused_once_it_passes_the_limit(server: tuple[str, int]) -> None:
    """Chunked, so no length is declared: the server counts, and answers 413 while the client
    is still sending — it never reads (or holds) the 64 MiB the client meant to send."""
    token, port = server
    chunk = b"x" * 16384
    planned, sent = 64 * 1024 * 1024, 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(_request_head(token, "Transfer-Encoding: chunked\r\n"))
        answer = b""
        while sent < planned:
            readable, _, _ = select.select([conn], [], [], 0)
            if readable:
                answer = conn.recv(4096)
                break
            try:
                conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                answer = conn.recv(4096)
                break
            sent += len(chunk)
    assert _status_of(answer) == 413
    assert sent < planned / 4


# --- the commands ---------------------------------------------------------------------------


def test_pensionx_upload_tokens_create_prints_a_working_token_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.from_env({"PENSIONX_DATA_DIR": str(tmp_path / "var")})
    parser = argparse.ArgumentParser(prog="pensionx")
    add_commands(parser.add_subparsers(dest="command", required=True))

    args = parser.parse_args(["upload-tokens", "create", "--agency", "tax"])
    assert args.handler(args, settings) == 0
    printed = capsys.readouterr()
    token = printed.out.strip()
    assert "feeds: tax, wages" in printed.err
    assert token not in printed.err

    engine = make_engine(settings.effective_database_url)
    try:
        principal = authenticate(engine, token)
        assert principal is not None
        assert principal.agency == "tax"
        assert principal.feeds == {Feed.TAX, Feed.WAGES}
        args = parser.parse_args(["upload-tokens", "revoke", "--agency", "tax"])
        assert args.handler(args, settings) == 0
        assert authenticate(engine, token) is None
    finally:
        engine.dispose()
    with pytest.raises(SystemExit):
        parser.parse_args(["upload-tokens", "create", "--agency", "police"])
