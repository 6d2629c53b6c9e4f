"""`pensionx dead-letters purge`: blank the raw text of dead letters past their retention.

The raw text of a dead letter is the agency's record, identity numbers and all; it is kept for
``PENSIONX_DEAD_LETTER_RAW_RETENTION_DAYS`` (time for a clerk to fix the source) and then
blanked, with the code, messages, file and line kept. ``pensionx run`` does this once a day by
itself; this command is for deployments that run the parts separately (a cron job), or to purge
sooner with ``--retention-days``.
"""

from __future__ import annotations

import argparse
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from pensionx.logs import get_logger
from pensionx.settings import Settings

log = get_logger(__name__)

PURGE_EVERY_S = 24 * 3600.0


def add_commands(sub: Any) -> None:
    """Add ``dead-letters purge`` to the top-level subparsers."""
    group = sub.add_parser("dead-letters", help="look after the stored dead letters")
    actions = group.add_subparsers(dest="dead_letters_command", required=True, metavar="ACTION")
    p = actions.add_parser(
        "purge", help="blank the raw text of dead letters past their retention (idempotent)"
    )
    p.add_argument(
        "--retention-days",
        type=int,
        default=None,
        metavar="N",
        help="keep raw text this many days (default: PENSIONX_DEAD_LETTER_RAW_RETENTION_DAYS)",
    )
    p.set_defaults(handler=cmd_purge)


def purge(engine: Engine, retention_days: int, now: datetime | None = None) -> int:
    """Purge what is past ``retention_days``; logged with the count (never the text)."""
    from pensionx.db.dead_letters import purge_raw_text

    purged = purge_raw_text(engine, retention_days=retention_days, now=now or datetime.now(UTC))
    log.info("dead-letter raw text purged", purged=purged, retention_days=retention_days)
    return purged


def purge_periodically(
    engine: Engine, retention_days: int, stop: threading.Event, every_s: float = PURGE_EVERY_S
) -> None:
    """Purge now, then every ``every_s`` seconds until ``stop`` (``pensionx run``'s thread)."""
    while not stop.is_set():
        purge(engine, retention_days)
        stop.wait(every_s)


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from pensionx.bootstrap import open_database

    days = settings.dead_letter_raw_retention_days
    if args.retention_days is not None:
        if args.retention_days < 1:
            print("--retention-days must be 1 or more", file=sys.stderr)
            return 2
        days = args.retention_days
    engine = open_database(settings)
    try:
        purged = purge(engine, days)
    finally:
        engine.dispose()
    print(f"purged the raw text of {purged} dead letter(s) received over {days} day(s) ago")
    return 0
