"""`pensionx inbox`, `pensionx upload-server`, `pensionx upload-tokens`: the standing ways in.

``inbox`` watches the drop folders (:mod:`connectors.inbox`), ``upload-server`` serves the HTTP
upload endpoint (:mod:`connectors.upload`), ``upload-tokens`` issues and revokes the agencies'
upload tokens. A token is printed once, when it is created, and never stored or shown again
(only its hash is kept): hand it to the agency then, or revoke it and create another.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from pensionx.settings import Settings

if TYPE_CHECKING:
    from connectors.ingest import Ingestor

DEFAULT_UPLOAD_PORT = 8082  # 8080 is `pensionx web`, 8081 the schema registry


def add_commands(sub: Any) -> None:
    """Add ``inbox``, ``upload-server`` and ``upload-tokens create | revoke``."""
    p = sub.add_parser("inbox", help="watch the drop folders and ingest what agencies drop there")
    p.add_argument("--once", action="store_true", help="ingest what is there now, then exit")
    p.add_argument(
        "--root",
        type=Path,
        default=None,
        help="the folder holding <feed>/ (default DATA_DIR/inbox)",
    )
    p.add_argument(
        "--settle",
        type=float,
        default=2.0,
        help="seconds a file's size and time must stay the same before it is read (default 2)",
    )
    p.add_argument("--poll", type=float, default=1.0, help="seconds between scans (default 1)")
    p.set_defaults(handler=cmd_inbox)

    p = sub.add_parser("upload-server", help="serve the agencies' HTTP upload endpoint")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_UPLOAD_PORT,
        help=f"port (default {DEFAULT_UPLOAD_PORT})",
    )
    p.set_defaults(handler=cmd_upload_server)

    from pensionx.db.upload_tokens import AGENCY_FEEDS

    tokens = sub.add_parser("upload-tokens", help="create or revoke the agencies' upload tokens")
    actions = tokens.add_subparsers(dest="upload_tokens_command", required=True, metavar="ACTION")
    p = actions.add_parser("create", help="create an upload token and print it (once)")
    p.add_argument("--agency", required=True, choices=list(AGENCY_FEEDS))
    p.add_argument(
        "--feeds",
        default="",
        metavar="F,...",
        help="narrow the token to some of the agency's feeds (default: all of them)",
    )
    p.set_defaults(handler=cmd_upload_tokens_create)
    p = actions.add_parser("revoke", help="revoke every upload token of an agency")
    p.add_argument("--agency", required=True, choices=list(AGENCY_FEEDS))
    p.set_defaults(handler=cmd_upload_tokens_revoke)


@contextmanager
def _ingestor(settings: Settings) -> Iterator[Ingestor]:
    """The configured ingestor (database, registry, broker), closed on the way out."""
    from connectors.ingest import Ingestor
    from connectors.readers import DEFAULT_MAX_BYTES
    from pensionx.bootstrap import make_codec, make_publisher, open_database, read_limits
    from pensionx.runtime import kafka_target

    target = kafka_target(settings)
    engine = open_database(settings)
    # Uploads are bounded by their own setting; let the reader allow at least as much.
    max_bytes = max(DEFAULT_MAX_BYTES, settings.upload_max_bytes)
    ingestor = Ingestor(
        engine,
        make_codec(settings, engine),
        make_publisher(target),
        max_bytes=max_bytes,
        limits=read_limits(settings),
    )
    try:
        yield ingestor
    finally:
        ingestor.close()
        engine.dispose()


@contextmanager
def _stop_on_signal() -> Iterator[threading.Event]:
    """An event set by Ctrl-C or SIGTERM, so the file being ingested is finished first."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def cmd_inbox(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.inbox import Inbox

    root = args.root if args.root is not None else settings.data_path / "inbox"
    with _ingestor(settings) as ingestor:
        inbox = Inbox(root, ingestor, settle_s=args.settle, poll_s=args.poll)
        folders = inbox.prepare()
        print(f"drop folders under {root.resolve()}:", flush=True)
        for folder in folders:
            print(f"  {folder}/   (then done/ or failed/, with <name>.receipt.json)", flush=True)
        if args.once:
            receipts = inbox.drain()
            for receipt in receipts:
                print(receipt.summary(), flush=True)
            return 0 if all(r.ok for r in receipts) else 1
        print(
            "write a file under a temporary name (.part) and rename it when complete. "
            "Press Ctrl-C to stop.",
            flush=True,
        )
        with _stop_on_signal() as stop:
            inbox.run(stop)
    return 0


def cmd_upload_server(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from connectors.upload import make_upload_app

    with _ingestor(settings) as ingestor:
        app = make_upload_app(ingestor.engine, ingestor, max_bytes=settings.upload_max_bytes)
        print(
            f"upload endpoint on http://{args.host}:{args.port}/feeds/{{feed}} "
            f"(API docs at /docs; limit {settings.upload_max_bytes} bytes)",
            flush=True,
        )
        # uvicorn handles Ctrl-C and SIGTERM itself: it finishes the uploads in flight.
        uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def cmd_upload_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    from pensionx.bootstrap import open_database
    from pensionx.db.upload_tokens import AGENCY_NAMES, authenticate, create_token

    feeds = [f.strip() for f in args.feeds.split(",") if f.strip()] or None
    engine = open_database(settings)
    try:
        token = create_token(engine, args.agency, feeds)
        principal = authenticate(engine, token)
    finally:
        engine.dispose()
    assert principal is not None
    allowed = ", ".join(sorted(f.value for f in principal.feeds))
    print(token)
    print(
        f"(an upload token for the {AGENCY_NAMES[args.agency]}, for feeds: {allowed}; "
        "shown this once: store it now)",
        file=sys.stderr,
    )
    return 0


def cmd_upload_tokens_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from pensionx.bootstrap import open_database
    from pensionx.db.upload_tokens import revoke

    engine = open_database(settings)
    try:
        count = revoke(engine, args.agency)
    finally:
        engine.dispose()
    print(f"revoked {count} upload token(s) of {args.agency}")
    return 0
