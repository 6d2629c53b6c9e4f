"""`pensionx conflicts tail | sink`: follow the conflicts live, or keep the case store filled.

``tail`` is for auditors who are not Kafka engineers: it prints each conflict as it arrives, a
readable line on a terminal or a JSON object per line for scripts (``| jq``), and stops
cleanly on Ctrl-C or SIGTERM. Without ``--group`` it joins no consumer group (it reads every
partition itself, so it commits nothing and cannot disturb anyone); with ``--group NAME`` the
auditor's own group remembers where they stopped, so the next run resumes there.

The embedded broker reports end offsets too low (NOTES-KAFKA.md: the first offset of the last
batch + 1), so "start at the end" would replay part of the last batch there; against it, tail
also skips records written before it started. Apache Kafka needs no such filter.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, TextIO

from pensionx.avro.codec import Codec
from pensionx.cases.queries import CHINA
from pensionx.cases.records import conflict_to_json
from pensionx.core.masking import mask_identity_numbers
from pensionx.core.outputs import Conflict, Rule, Severity
from pensionx.errors import BrokerError, SerializationError
from pensionx.kafka_config import KafkaTarget
from pensionx.logs import get_logger
from pensionx.settings import Settings
from pensionx.topics import CONFLICTS_TOPIC

log = get_logger(__name__)

FORMATS = ("table", "json")
_PARTITION_WAIT_S = 15.0


@dataclass(frozen=True, kw_only=True)
class TailOptions:
    """Which conflicts to print and how; empty filters match everything."""

    rules: tuple[Rule, ...] = ()
    severities: tuple[Severity, ...] = ()
    region_prefix: str = ""
    fmt: str = "json"

    def matches(self, conflict: Conflict) -> bool:
        return (
            (not self.rules or conflict.rule in self.rules)
            and (not self.severities or conflict.severity in self.severities)
            and conflict.region_code.startswith(self.region_prefix)
        )


def add_commands(sub: Any) -> None:
    """Add ``conflicts tail`` and ``conflicts sink`` to the top-level subparsers."""
    group = sub.add_parser("conflicts", help="follow conflicts live, or run the case-store sink")
    actions = group.add_subparsers(dest="conflicts_command", required=True, metavar="ACTION")

    p = actions.add_parser("tail", help="print conflicts as they arrive (Ctrl-C stops)")
    p.add_argument(
        "--rule",
        action="append",
        type=Rule,
        default=[],
        choices=list(Rule),
        metavar="RULE",
        help="only this rule (repeatable): " + ", ".join(Rule),
    )
    p.add_argument(
        "--severity",
        action="append",
        type=Severity,
        default=[],
        choices=list(Severity),
        metavar="S",
        help="only HIGH or MEDIUM (repeatable)",
    )
    p.add_argument(
        "--region",
        default="",
        metavar="PREFIX",
        help="only region codes starting with PREFIX (61 = Shaanxi, 6103 = Baoji)",
    )
    p.add_argument(
        "--from-beginning",
        action="store_true",
        help="start with the oldest conflict kept, not with the next one published",
    )
    p.add_argument(
        "--group",
        default=None,
        metavar="NAME",
        help="your own consumer group: the next run resumes where this one stopped",
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        dest="fmt",
        help="table (default on a terminal) or json lines (default otherwise)",
    )
    p.set_defaults(handler=cmd_tail)

    p = actions.add_parser("sink", help="store every conflict in the case store until Ctrl-C")
    p.set_defaults(handler=cmd_sink)


# --- output ---------------------------------------------------------------------------------

TABLE_HEADER = (
    f"{'DETECTED (UTC+8)':16}  {'SEV':6}  {'STATUS':9}  {'RULE':33}  {'REGION':6}  "
    f"{'ESTIMATE ¥':>13}  {'CONFLICT':22}  PERSON"
)


def table_line(conflict: Conflict) -> str:
    """One readable line; the identity number is masked (the JSON form carries it whole)."""
    estimate = conflict.overpayment_estimate
    person = mask_identity_numbers(conflict.person_id)
    if conflict.person_name:
        person += f" {conflict.person_name}"
    if conflict.name_mismatch:
        person += " (names differ)"
    detected = conflict.detected_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    money = f"{estimate:,.2f}" if estimate is not None else "-"
    return (
        f"{detected:16}  {conflict.severity.value:6}  {conflict.status.value:9}  "
        f"{conflict.rule.value:33}  {conflict.region_code:6}  {money:>13}  "
        f"{conflict.conflict_id:22}  {person}"
    )


def json_line(conflict: Conflict) -> str:
    return json.dumps(conflict_to_json(conflict), ensure_ascii=False, separators=(",", ":"))


# --- consuming ------------------------------------------------------------------------------


def open_consumer(
    target: KafkaTarget, group: str | None, from_beginning: bool, topic: str = CONFLICTS_TOPIC
) -> Any:
    """A kafka-python consumer positioned for tailing (see the module docstring)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    reset = "earliest" if from_beginning else "latest"
    config = target.consumer_config(group, client_id="pensionx-tail", auto_offset_reset=reset)
    try:
        if group:
            return KafkaConsumer(topic, **config)
        consumer = KafkaConsumer(**config)
    except KafkaError as exc:
        raise BrokerError(f"cannot reach Kafka at {target.bootstrap}: {exc}") from exc
    deadline = time.monotonic() + _PARTITION_WAIT_S
    partitions = consumer.partitions_for_topic(topic)
    while not partitions and time.monotonic() < deadline:
        time.sleep(0.2)
        partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        consumer.close()
        raise BrokerError(f"topic {topic} does not exist yet: run `pensionx topics create` first")
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    if from_beginning:
        consumer.seek_to_beginning(*assigned)
    else:
        consumer.seek_to_end(*assigned)
    return consumer


def tail(
    consumer: Any,
    codec: Codec,
    options: TailOptions,
    out: TextIO,
    stop: threading.Event,
    *,
    commit: bool = False,
    not_before_ms: int | None = None,
    max_messages: int | None = None,
) -> int:
    """Print matching conflicts from ``consumer`` until ``stop`` is set (or ``max_messages``
    have been printed); returns how many were printed.

    ``commit`` commits, after each batch, the offsets of the records handled (group mode):
    stopped mid-batch, the rest is shown next time. ``not_before_ms`` skips records with an
    earlier timestamp (the embedded broker's end-offset workaround). Values are decoded as
    the conflicts contract whatever topic the consumer reads.
    """
    printed = 0
    if options.fmt == "table":
        print(TABLE_HEADER, file=out, flush=True)
    while not stop.is_set():
        polled: dict[Any, list[Any]] = consumer.poll(timeout_ms=500)
        handled: dict[Any, int] = {}
        for partition, batch in polled.items():
            for record in batch:
                if stop.is_set():
                    break
                handled[partition] = record.offset + 1
                if _show(record, codec, options, out, not_before_ms):
                    printed += 1
                    if max_messages is not None and printed >= max_messages:
                        stop.set()
        if commit and handled:
            from kafka.structs import OffsetAndMetadata

            consumer.commit({p: OffsetAndMetadata(o, "", -1) for p, o in handled.items()})
    return printed


def _show(
    record: Any, codec: Codec, options: TailOptions, out: TextIO, not_before_ms: int | None
) -> bool:
    """Print ``record`` if it is a matching conflict; whether it was printed."""
    if not_before_ms is not None and record.timestamp < not_before_ms:
        return False
    try:
        conflict = codec.decode(CONFLICTS_TOPIC, record.value)
    except SerializationError as exc:
        log.warning("undecodable conflict skipped", topic=record.topic,
                    partition=record.partition, offset=record.offset, error=str(exc))  # fmt: skip
        return False
    if not isinstance(conflict, Conflict) or not options.matches(conflict):
        return False
    line = table_line(conflict) if options.fmt == "table" else json_line(conflict)
    print(line, file=out, flush=True)
    return True


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by Ctrl-C or SIGTERM (previous handlers restored on exit)."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


# --- commands -------------------------------------------------------------------------------


def cmd_tail(args: argparse.Namespace, settings: Settings) -> int:
    from pensionx.bootstrap import make_codec, open_database
    from pensionx.runtime import kafka_target

    fmt = args.fmt or ("table" if sys.stdout.isatty() else "json")
    options = TailOptions(
        rules=tuple(args.rule), severities=tuple(args.severity), region_prefix=args.region, fmt=fmt
    )
    target = kafka_target(settings)
    engine = open_database(settings)
    try:
        codec = make_codec(settings, engine)
        started_ms = int(time.time() * 1000)
        # A group resumes from its committed offsets: nothing of those may be skipped.
        skip_older = target.embedded and not args.from_beginning and not args.group
        consumer = open_consumer(target, args.group, args.from_beginning)
        try:
            with stop_on_signals() as stop:
                tail(
                    consumer,
                    codec,
                    options,
                    sys.stdout,
                    stop,
                    commit=bool(args.group),
                    not_before_ms=started_ms if skip_older else None,
                )
        finally:
            consumer.close()
    finally:
        engine.dispose()
    return 0


def cmd_sink(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.case_sink import CaseSink
    from pensionx.bootstrap import make_codec, open_database
    from pensionx.runtime import kafka_target

    engine = open_database(settings)
    sink = CaseSink(engine, make_codec(settings, engine), kafka_target(settings))
    try:
        sink.setup()
        print("case sink running: storing every conflict; Ctrl-C stops", flush=True)
        with stop_on_signals() as stop:
            sink.run(stop)
    finally:
        sink.close()
        engine.dispose()
    return 0
