"""`pensionx prompts list | ack | sink`: the agency's work list of registration prompts.

``list`` shows the stored prompts (oldest first), filtered by kind, region prefix and delivery
state, as a table for a person or JSON for a script; ``ack`` records that a clerk dealt with
one (the first acknowledgement stands); ``sink`` keeps the database filled from the prompt
topic until Ctrl-C. The handlers take the engine from :mod:`pensionx.bootstrap`, so tests call
them directly with settings pointing at a throwaway database.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Any, TextIO

from pensionx.core.outputs import PromptKind
from pensionx.db.prompts import DeliveryState, StoredPrompt, prompt_to_json
from pensionx.logs import get_logger
from pensionx.settings import Settings

log = get_logger(__name__)

FORMATS = ("table", "json")


def add_commands(sub: Any) -> None:
    """Add ``prompts list``, ``prompts ack`` and ``prompts sink`` to the top-level subparsers."""
    group = sub.add_parser("prompts", help="list or acknowledge registration prompts")
    actions = group.add_subparsers(dest="prompts_command", required=True, metavar="ACTION")

    p = actions.add_parser("list", help="list stored prompts, oldest first")
    p.add_argument(
        "--kind",
        type=PromptKind,
        choices=list(PromptKind),
        metavar="KIND",
        help="only this kind: " + ", ".join(PromptKind),
    )
    p.add_argument(
        "--region",
        default=None,
        metavar="PREFIX",
        help="only region codes starting with PREFIX (61 = Shaanxi, 6103 = Baoji)",
    )
    p.add_argument(
        "--state",
        type=DeliveryState,
        choices=list(DeliveryState),
        metavar="S",
        help="only PENDING, SENT or ACKNOWLEDGED",
    )
    p.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        dest="fmt",
        help="table (default) or json (one array)",
    )
    p.set_defaults(handler=cmd_prompts_list)

    p = actions.add_parser("ack", help="record that a prompt has been dealt with")
    p.add_argument("prompt_id", help="the prompt's id (P-...)")
    p.add_argument("--by", required=True, metavar="NAME", help="who dealt with it")
    p.set_defaults(handler=cmd_prompts_ack)

    p = actions.add_parser("sink", help="store every published prompt in the database")
    p.set_defaults(handler=cmd_prompts_sink)


# --- output ---------------------------------------------------------------------------------

TABLE_HEADER = (
    f"{'PROMPT':26}  {'KIND':25}  {'PRI':6}  {'STATE':12}  {'ISSUED':10}  {'DEADLINE':10}  "
    f"{'REGION':6}  {'USCC':18}  ENTERPRISE"
)


def table_line(stored: StoredPrompt) -> str:
    p = stored.prompt
    deadline = p.deadline.isoformat() if p.deadline else "-"
    name = p.enterprise_name or "-"
    if p.period:
        name += f" (period {p.period})"
    return (
        f"{p.prompt_id:26}  {p.kind.value:25}  {p.priority.value:6}  {stored.state.value:12}  "
        f"{p.issued_on.isoformat():10}  {deadline:10}  {p.region_code:6}  {p.uscc:18}  {name}"
    )


def stored_to_json(stored: StoredPrompt) -> dict[str, Any]:
    """The prompt and its delivery state, JSON-safe."""
    return {
        **prompt_to_json(stored.prompt),
        "state": stored.state.value,
        "first_seen_at": stored.first_seen_at.isoformat(),
        "last_seen_at": stored.last_seen_at.isoformat(),
        "sent_at": stored.sent_at.isoformat() if stored.sent_at else None,
        "acknowledged_at": stored.acknowledged_at.isoformat() if stored.acknowledged_at else None,
        "acknowledged_by": stored.acknowledged_by,
    }


def print_prompts(prompts: list[StoredPrompt], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        json.dump([stored_to_json(s) for s in prompts], out, ensure_ascii=False, indent=1)
        out.write("\n")
        return
    print(TABLE_HEADER, file=out)
    for stored in prompts:
        print(table_line(stored), file=out)
    print(f"{len(prompts)} prompt(s)", file=out)


# --- handlers -------------------------------------------------------------------------------


def cmd_prompts_list(args: argparse.Namespace, settings: Settings) -> int:
    from pensionx.bootstrap import open_database
    from pensionx.db.prompts import list_prompts

    engine = open_database(settings)
    try:
        found = list_prompts(
            engine, kind=args.kind, region_prefix=args.region, state=args.state, limit=args.limit
        )
    finally:
        engine.dispose()
    print_prompts(found, args.fmt, sys.stdout)
    return 0


def cmd_prompts_ack(args: argparse.Namespace, settings: Settings) -> int:
    from pensionx.bootstrap import open_database
    from pensionx.db.prompts import acknowledge_prompt, get_prompt

    engine = open_database(settings)
    try:
        if not acknowledge_prompt(engine, args.prompt_id, args.by, datetime.now(UTC)):
            print(f"no prompt {args.prompt_id}: see `pensionx prompts list`", file=sys.stderr)
            return 1
        stored = get_prompt(engine, args.prompt_id)
    finally:
        engine.dispose()
    assert stored is not None
    if stored.acknowledged_by != args.by:
        print(
            f"{args.prompt_id} was already acknowledged by {stored.acknowledged_by} "
            f"at {stored.acknowledged_at}; that acknowledgement stands"
        )
    else:
        print(f"{args.prompt_id} acknowledged by {args.by}")
    return 0


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
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


def cmd_prompts_sink(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.prompt_sink import PromptSink
    from pensionx.bootstrap import make_codec, open_database
    from pensionx.runtime import kafka_target

    engine = open_database(settings)
    sink = PromptSink(engine, make_codec(settings, engine), kafka_target(settings))
    try:
        sink.setup()
        print("prompt sink running: storing every prompt; Ctrl-C stops", flush=True)
        with _stop_on_signals() as stop:
            sink.run(stop)
    finally:
        sink.close()
        engine.dispose()
    return 0
