"""The composition root's building blocks: database, codec, publisher, built from the settings.

Commands and long-running parts get their collaborators from here and pass them down; nothing
below this module reads the environment or opens a connection on its own, so tests build the
same objects around fakes or throwaway brokers and databases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pensionx.kafka_config import KafkaTarget
from pensionx.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from connectors.publisher import KafkaPublisher
    from connectors.readers import ReadLimits
    from pensionx.avro.codec import Codec


def open_database(settings: Settings) -> Engine:
    """The configured database, migrated to the current schema."""
    from pensionx.db.engine import make_engine, migrate

    if not settings.database_url:
        settings.data_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    migrate(engine)
    return engine


def make_codec(settings: Settings, engine: Engine) -> Codec:
    """A codec over the configured schema registry, with every topic schema registered.

    Registering at start means a registry that refuses a schema stops the process before it
    publishes anything, instead of failing on the first message.
    """
    from pensionx.avro.codec import Codec
    from pensionx.avro.registry_factory import make_registry

    codec = Codec(make_registry(settings, engine))
    codec.register_all()
    return codec


def read_limits(settings: Settings) -> ReadLimits:
    """What a feed file may unpack to, and how long its lines and how wide its header may be."""
    from connectors.readers import ReadLimits

    return ReadLimits(
        max_decompressed_bytes=settings.feed_max_decompressed_bytes,
        max_line_chars=settings.feed_max_line_chars,
        max_columns=settings.feed_max_columns,
    )


def make_publisher(target: KafkaTarget) -> KafkaPublisher:
    from connectors.publisher import KafkaPublisher

    return KafkaPublisher(target)
