"""A minimal Faust worker for the integration tests: copies every value from one topic to another.

Run as ``python -m tests.support.faust_echo BOOTSTRAP EMBEDDED(0|1) APP_ID IN OUT DATADIR``;
it proves that a Faust agent joins its group, consumes and produces on the broker under test.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pensionx.kafka_config import KafkaTarget
from services.app import create_app


def build(
    bootstrap: str, *, embedded: bool, app_id: str, source: str, sink: str, datadir: Path
) -> Any:
    target = KafkaTarget(tuple(bootstrap.split(",")), embedded=embedded)
    app = create_app(app_id, target, partitions=1, data_dir=datadir)
    in_topic = app.topic(source, key_type=bytes, value_type=bytes, value_serializer="raw")
    out_topic = app.topic(sink, key_type=bytes, value_type=bytes, value_serializer="raw")

    @app.agent(in_topic)
    async def echo(stream: Any) -> None:
        async for key, value in stream.items():
            await out_topic.send(key=key, value=b"echo:" + value)

    return app


if __name__ == "__main__":
    bootstrap, embedded, app_id, source, sink, datadir = sys.argv[1:7]
    application = build(
        bootstrap,
        embedded=embedded == "1",
        app_id=app_id,
        source=source,
        sink=sink,
        datadir=Path(datadir),
    )
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--without-web"]
    application.main()
