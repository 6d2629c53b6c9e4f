"""`pensionx ingest FILE...` and `pensionx archive verify|replay`: the connectors' one-shot side."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pensionx.settings import Settings


def add_commands(sub: Any) -> None:
    p = sub.add_parser("ingest", help="ingest feed files: validate, archive, publish")
    p.add_argument("files", nargs="+", type=Path, help="feed files (the name says the feed)")
    p.add_argument("--uploader", default="cli", help="who delivered the files (for the archive)")
    p.add_argument(
        "--as-of",
        type=date.fromisoformat,
        default=None,
        help="the date identity-number checks treat as today (default: today)",
    )
    p.set_defaults(handler=cmd_ingest)

    archive = sub.add_parser("archive", help="verify or replay the archive of received data")
    asub = archive.add_subparsers(dest="archive_command", required=True, metavar="ACTION")
    asub.add_parser(
        "verify", help="check the hash chain: names the first entry changed or removed"
    ).set_defaults(handler=cmd_archive_verify)
    r = asub.add_parser("replay", help="publish archived events again (refills a broker)")
    r.add_argument("--feed", default=None, help="only this feed (commerce, tax, ...)")
    r.add_argument(
        "--since",
        type=date.fromisoformat,
        default=None,
        help="only events archived on or after this date (YYYY-MM-DD)",
    )
    r.set_defaults(handler=cmd_archive_replay)


def _progress_bar(total: int, name: str) -> Any:
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=name, unit="rec", file=sys.stderr, leave=False)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.ingest import Ingestor
    from pensionx.bootstrap import make_codec, make_publisher, open_database, read_limits
    from pensionx.runtime import kafka_target

    target = kafka_target(settings)
    engine = open_database(settings)
    ingestor = Ingestor(
        engine,
        make_codec(settings, engine),
        make_publisher(target),
        today=args.as_of,
        limits=read_limits(settings),
    )
    failed = 0
    try:
        for path in args.files:
            if not path.is_file():
                print(f"{path}: no such file", file=sys.stderr)
                failed += 1
                continue
            bar = _progress_bar(0, path.name)
            receipt = ingestor.ingest(
                path, uploader=args.uploader, progress=(bar.update if bar else None)
            )
            if bar is not None:
                bar.close()
            print(receipt.summary(), flush=True)
            failed += 0 if receipt.ok else 1
    finally:
        ingestor.close()
        engine.dispose()
    return 1 if failed else 0


def cmd_archive_verify(args: argparse.Namespace, settings: Settings) -> int:
    from pensionx.bootstrap import open_database
    from pensionx.db.archive import verify

    engine = open_database(settings)
    try:
        result = verify(engine)
    finally:
        engine.dispose()
    if result.ok:
        print(
            f"archive intact: {result.entries} entries, {result.events} events; "
            f"head #{result.head_seq} {result.head_hash}"
        )
        return 0
    print(f"archive NOT intact at entry #{result.first_bad_seq}: {result.problem}")
    return 1


def cmd_archive_replay(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.publisher import Message
    from pensionx.bootstrap import make_publisher, open_database
    from pensionx.db.archive import iter_events
    from pensionx.runtime import kafka_target

    since = datetime.combine(args.since, datetime.min.time(), UTC) if args.since else None
    engine = open_database(settings)
    publisher = make_publisher(kafka_target(settings))
    publisher.setup()
    count = 0
    try:
        for event in iter_events(engine, feed=args.feed, since=since):
            publisher.add(Message(event.topic, event.key, event.value))
            count += 1
            if count % 5000 == 0:
                publisher.flush()
        publisher.flush()
    finally:
        publisher.close()
        engine.dispose()
    print(f"replayed {count} archived events")
    return 0
