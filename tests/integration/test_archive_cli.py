"""`pensionx archive verify` and `pensionx archive replay`, run as a user runs them.

Verify passes on an untouched archive and names the entry an UPDATE changed. Replay onto a
*fresh* embedded broker — what restores it after a restart, since it keeps nothing on disk —
republishes every archived event exactly once. The commands run as subprocesses on embedded
defaults (``PENSIONX_DATA_DIR`` only), finding the broker through ``broker.json``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from kafka import KafkaConsumer, TopicPartition

from pensionx.avro.codec import Codec
from pensionx.avro.registry_db import DatabaseSchemaRegistry
from pensionx.broker import EmbeddedBroker
from pensionx.core.codes import Feed
from pensionx.db import archive
from pensionx.db.engine import make_engine
from pensionx.db.tables import archive_events
from pensionx.generator import generate
from pensionx.generator.answer_key import ANSWER_KEY_FILE, AnswerKey
from pensionx.kafka_config import KafkaTarget
from pensionx.runtime import publish_embedded_broker
from pensionx.settings import Settings
from pensionx.topics import create_topics

pytestmark = pytest.mark.integration

AS_OF = date(2026, 11, 20)
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Ingested:
    """A data dir whose archive holds the generated feeds, and how to run commands on it."""

    settings: Settings
    key: AnswerKey

    def pensionx(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PENSIONX_")}
        env |= {"PENSIONX_DATA_DIR": str(self.settings.data_path), "PENSIONX_LOG_FORMAT": "json"}
        return subprocess.run(
            [sys.executable, "-m", "pensionx", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def engine(self) -> sa.Engine:
        return make_engine(self.settings.effective_database_url)


def _serve(settings: Settings, broker: EmbeddedBroker) -> KafkaTarget:
    """Make ``broker`` the embedded broker the data dir's commands find, with every topic."""
    target = KafkaTarget((broker.bootstrap,), embedded=True)
    create_topics(target, partitions=3)
    publish_embedded_broker(settings, broker.bootstrap)
    return target


@pytest.fixture
def ingested(tmp_path: Path) -> Ingested:
    """Generated feeds ingested with `pensionx ingest` through a broker that is then stopped."""
    feeds = tmp_path / "feeds"
    key = generate(feeds, enterprises=15, persons=80, seed=11, as_of=AS_OF)
    settings = Settings.from_env({"PENSIONX_DATA_DIR": str(tmp_path / "var")})
    data = Ingested(settings, key)
    files = sorted(str(p) for p in feeds.iterdir() if p.name != ANSWER_KEY_FILE)
    with EmbeddedBroker() as broker:
        _serve(settings, broker)
        done = data.pensionx("ingest", "--as-of", AS_OF.isoformat(), *files)
        assert done.returncode == 0, done.stdout + done.stderr
    return data


def test_verify_passes_untouched_and_names_the_entry_an_update_changed(
    ingested: Ingested,
) -> None:
    intact = ingested.pensionx("archive", "verify")
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert intact.stdout.startswith("archive intact:")
    assert f"{sum(ingested.key.counts.values())} events" in intact.stdout

    engine = ingested.engine()
    with engine.begin() as conn:
        seqs = sorted(set(conn.execute(sa.select(archive_events.c.seq)).scalars()))
        altered = seqs[len(seqs) // 2]
        conn.execute(
            sa.text(
                "UPDATE archive_events SET key = 'someone else' WHERE event_id = "
                "(SELECT min(event_id) FROM archive_events WHERE seq = :seq)"
            ),
            {"seq": altered},
        )
    engine.dispose()

    tampered = ingested.pensionx("archive", "verify")
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert f"archive NOT intact at entry #{altered}:" in tampered.stdout


def test_replay_onto_a_fresh_broker_republishes_every_archived_event_once(
    ingested: Ingested,
) -> None:
    engine = ingested.engine()
    archived = Counter((e.topic, e.event_id) for e in archive.iter_events(engine))
    assert sum(archived.values()) == sum(ingested.key.counts.values())
    codec = Codec(DatabaseSchemaRegistry(engine))
    try:
        with EmbeddedBroker() as fresh:
            target = _serve(ingested.settings, fresh)
            replay = ingested.pensionx("archive", "replay")
            assert replay.returncode == 0, replay.stdout + replay.stderr
            assert replay.stdout.strip() == f"replayed {sum(archived.values())} archived events"
            on_topics = Counter(
                (feed.topic, event_id)
                for feed in Feed
                for event_id in _event_ids(target, feed.topic, codec)
            )
    finally:
        engine.dispose()
    assert on_topics == archived, "every archived event on its topic, exactly once"


def _event_ids(target: KafkaTarget, topic: str, codec: Codec) -> list[str]:
    """Every event id on ``topic``: read until 2 s pass with nothing new (the broker is quiet)."""
    consumer = KafkaConsumer(**target.consumer_config(None, consumer_timeout_ms=2000))
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    events: list[Any] = [codec.decode(topic, record.value) for record in consumer]
    consumer.close()
    return [e.event_id for e in events]
