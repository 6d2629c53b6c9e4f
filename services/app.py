"""Building a Faust app for the exchange's stream processors from a :class:`KafkaTarget`.

All processors share these choices: manual at-least-once processing (never Faust's experimental
exactly-once: it cannot even start on the embedded broker, NOTES-KAFKA.md), no web server unless
asked, short group sessions against the embedded broker, and — because Tansu's ListOffsets
reports wrong end offsets — no recovery consistency check there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pensionx.kafka_config import KafkaTarget


def create_app(
    app_id: str,
    target: KafkaTarget,
    *,
    partitions: int,
    replication_factor: int = 1,
    data_dir: Path | None = None,
    store: str = "memory://",
    web_port: int | None = None,
    **overrides: Any,
) -> Any:
    """A configured ``faust.App``; agents and tables are attached by the service modules."""
    import faust

    conf: dict[str, Any] = {
        **target.faust_config(),
        "store": store,
        "topic_partitions": partitions,
        "topic_replication_factor": replication_factor,
        "topic_allow_declare": True,
        "processing_guarantee": "at_least_once",
        "web_enabled": web_port is not None,
        "consumer_auto_offset_reset": "earliest",
        # Faust's own default (60 s) makes a first join on Tansu take ~32 s; its rebalance
        # waits are likewise shortened only where the broker is ours.
        "stream_wait_empty": False,
    }
    if web_port is not None:
        conf["web_port"] = web_port
        conf["web_bind"] = "127.0.0.1"
    if data_dir is not None:
        conf["datadir"] = str(data_dir)
    if target.embedded:
        conf["recovery_consistency_check"] = False
    conf.update(overrides)
    return faust.App(app_id, **conf)
