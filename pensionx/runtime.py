"""Where a running exchange is: the embedded broker's address, shared between shells.

`pensionx run` (or `pensionx broker`) writes the embedded broker's address to
``<data_dir>/broker.json``; other commands started on embedded defaults (``pensionx topics list``
in another shell) read it, so they reach the same broker without being told its port.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from pensionx.broker import answers_kafka
from pensionx.errors import BrokerError
from pensionx.kafka_config import KafkaTarget
from pensionx.settings import Settings

STATE_FILE = "broker.json"


def state_path(settings: Settings) -> Path:
    return settings.data_path / STATE_FILE


def publish_embedded_broker(settings: Settings, bootstrap: str) -> Path:
    """Record the embedded broker's address for other commands; returns the file written."""
    path = state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"bootstrap": bootstrap, "pid": os.getpid()}), "utf-8")
    tmp.replace(path)
    return path


def forget_embedded_broker(settings: Settings, bootstrap: str) -> None:
    """Remove the record, if it is still ours."""
    path = state_path(settings)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text("utf-8")).get("bootstrap") == bootstrap:
            path.unlink()


def running_embedded_broker(settings: Settings) -> str | None:
    """The bootstrap address of an embedded broker started from this data dir, if one answers."""
    try:
        data = json.loads(state_path(settings).read_text("utf-8"))
        host, _, port = str(data["bootstrap"]).rpartition(":")
    except (OSError, ValueError, KeyError):
        return None
    if answers_kafka(host, int(port)):
        return str(data["bootstrap"])
    return None


def kafka_target(settings: Settings) -> KafkaTarget:
    """The Kafka to talk to: the configured cluster, or the embedded broker already running."""
    if not settings.embedded_broker:
        return KafkaTarget.from_settings(settings)
    bootstrap = running_embedded_broker(settings)
    if bootstrap is None:
        raise BrokerError(
            f"no Kafka broker is configured and no embedded broker is running from "
            f"{settings.data_path}/. Start one with `pensionx run` (or `pensionx broker`) in "
            "another shell, or set PENSIONX_KAFKA_BOOTSTRAP_SERVERS to your Kafka cluster."
        )
    return KafkaTarget.from_settings(settings, bootstrap)
