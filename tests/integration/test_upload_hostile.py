"""Hostile uploads through the HTTP endpoint onto the embedded broker and a SQLite archive.

Whatever body an agency's client sends — binary junk, Latin-1, a gzip bomb, a CSV ten thousand
columns wide, a single 50 MB line — the answer is a receipt (200, or 422 with the reason and
one file-level dead letter stored), never a 500, and the memory it takes is bounded by the
configured limits rather than by what the body unpacks to. Limits here are the settings'
(``PENSIONX_FEED_MAX_*``) set low, as an operator would for a small server.
"""

from __future__ import annotations

import gc
import gzip
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.ingest import Ingestor
from connectors.publisher import KafkaPublisher
from connectors.readers import ReadLimits
from connectors.upload import make_upload_app
from pensionx.avro.codec import Codec
from pensionx.avro.registry import InMemorySchemaRegistry
from pensionx.bootstrap import read_limits
from pensionx.broker import EmbeddedBroker
from pensionx.db.engine import make_engine, migrate
from pensionx.db.tables import dead_letters
from pensionx.db.upload_tokens import create_token
from pensionx.kafka_config import KafkaTarget
from pensionx.settings import Settings
from pensionx.topics import create_topics

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
MAX_BODY = 64 * MIB  # room for the 50 MB line: it must be refused for its line, not its size
AS_OF = date(2026, 11, 20)
TAX_HEADER = "公民身份号码,姓名,费款所属期,险种,缴费基数,入库日期,征收机关区划\n"


@dataclass
class Endpoint:
    client: TestClient
    engine: sa.Engine
    token: str

    def post(self, body: bytes, name: str, feed: str = "tax") -> Any:  # the client's Response
        return self.client.post(
            f"/feeds/{feed}",
            content=body,
            headers={"Authorization": f"Bearer {self.token}", "X-File-Name": name},
        )

    def stored_codes(self, name: str) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(dead_letters.c.error_code).where(dead_letters.c.file == name)
            )
            return [row.error_code for row in rows]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory, tansu: EmbeddedBroker) -> Iterator[Endpoint]:
    target = KafkaTarget((tansu.bootstrap,), embedded=True)
    create_topics(target, partitions=1)
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'x.db'}")
    migrate(engine)
    # The limits come from the settings, as `pensionx run` builds them.
    limits = read_limits(
        Settings.from_env(
            {
                "PENSIONX_FEED_MAX_DECOMPRESSED_BYTES": str(MIB),
                "PENSIONX_FEED_MAX_LINE_CHARS": "65536",
                "PENSIONX_FEED_MAX_COLUMNS": "256",
            }
        )
    )
    assert limits == ReadLimits(max_decompressed_bytes=MIB, max_line_chars=65536, max_columns=256)
    ingestor = Ingestor(
        engine,
        Codec(InMemorySchemaRegistry()),
        KafkaPublisher(target),
        today=AS_OF,
        max_bytes=MAX_BODY,
        limits=limits,
    )
    app = make_upload_app(engine, ingestor, max_bytes=MAX_BODY)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Endpoint(client, engine, create_token(engine, "tax"))
    finally:
        ingestor.close()
        engine.dispose()


def _peak_while(call: Any) -> tuple[Any, int]:
    """``call()``'s result and the peak bytes traced while it ran (every thread)."""
    gc.collect()
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _rejected(answer: Any, code: str) -> dict[str, Any]:
    assert answer.status_code == 422, answer.text
    receipt: dict[str, Any] = answer.json()
    assert receipt["rejected"], receipt
    assert receipt["first_dead_letter_reasons"][0].split("[", 1)[1].startswith(code), receipt
    return receipt


def test_a_gzip_bomb_is_refused_at_the_decompressed_limit_in_bounded_memory(
    endpoint: Endpoint,
) -> None:
    bomb = gzip.compress(b"0" * (10 * 1000 * 1000), compresslevel=9)
    assert len(bomb) < 20_000  # ~10 KB on the wire, 10 MB unpacked
    answer, peak = _peak_while(lambda: endpoint.post(bomb, "tax_bomb.csv.gz"))
    receipt = _rejected(answer, "FILE_TOO_LARGE")
    assert "decompressed file exceeds the limit of 1048576 bytes" in receipt["rejected"]
    assert endpoint.stored_codes("tax_bomb.csv.gz") == ["FILE_TOO_LARGE"]
    print(f"\ngzip bomb: {len(bomb)} bytes sent, peak {peak / MIB:.1f} MiB traced")
    assert peak < 8 * MIB, f"peak {peak / MIB:.1f} MiB for a 1 MiB limit and a 10 MB bomb"


def test_a_50_mb_single_line_is_refused_for_its_line_in_memory_a_few_times_its_size(
    endpoint: Endpoint,
) -> None:
    size = 50 * 1000 * 1000
    body = TAX_HEADER.encode() + b"9" * size
    answer, peak = _peak_while(lambda: endpoint.post(body, "tax_line.csv"))
    receipt = _rejected(answer, "LINE_TOO_LONG")
    assert "line 2 is 50000000 characters long" in receipt["rejected"]
    assert endpoint.stored_codes("tax_line.csv") == ["LINE_TOO_LONG"]
    print(f"\n50 MB line: peak {peak / size:.1f} times the body")
    assert peak < 6 * size


def test_a_ten_thousand_column_csv_is_refused_by_its_header(endpoint: Endpoint) -> None:
    header = TAX_HEADER.rstrip("\n") + "," + ",".join(f"c{i}" for i in range(10_000 - 7))
    answer = endpoint.post(f"{header}\n".encode(), "tax_wide.csv")
    receipt = _rejected(answer, "TOO_MANY_COLUMNS")
    assert "10000 columns, over the limit of 256" in receipt["rejected"]
    assert endpoint.stored_codes("tax_wide.csv") == ["TOO_MANY_COLUMNS"]


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("tax_junk.csv", bytes(range(256)) * 64),
        ("tax_latin1.csv", ("Zoë Müller,Ærøskøbing,Øresund,Åland\n" * 50).encode("latin-1")),
        ("tax_utf16.csv", TAX_HEADER.encode("utf-16")),
    ],
)
def test_binary_junk_latin_1_and_utf_16_are_refused_as_bad_encoding(
    endpoint: Endpoint, name: str, body: bytes
) -> None:
    receipt = _rejected(endpoint.post(body, name), "BAD_ENCODING")
    assert "UTF-8 or GB18030" in receipt["rejected"]
    assert endpoint.stored_codes(name) == ["BAD_ENCODING"]


_BODIES = st.one_of(
    st.binary(max_size=3000),
    st.text(max_size=400).map(lambda t: (TAX_HEADER + t).encode("utf-8")),
    st.text(max_size=400).map(lambda t: gzip.compress((TAX_HEADER + t).encode("gb18030"))),
    st.binary(max_size=200).map(gzip.compress),
)
_NAMES = st.sampled_from(
    ["tax_f.csv", "tax_f.csv.gz", "tax_f.jsonl", "tax_f.json.gz", "wages_f.csv", "tax_f.txt"]
)


@settings(max_examples=40)
@given(body=_BODIES, name=_NAMES)
def test_any_body_gets_a_receipt_or_a_plain_refusal_never_a_server_error(
    endpoint: Endpoint, body: bytes, name: str
) -> None:
    feed = name.split("_", 1)[0]
    answer = endpoint.post(body, name, feed=feed)
    assert answer.status_code in {200, 422}, answer.text
    receipt = answer.json()
    assert receipt["file"] == name
    assert (answer.status_code == 422) == bool(receipt["rejected"])
    assert receipt["records_read"] >= receipt["dead_letters"] >= 0
