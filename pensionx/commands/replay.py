"""`pensionx replay DIR --as-of DATE --out OUT`: the whole pipeline over a folder, to the end."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from pensionx.settings import Settings


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="run every feed file of a folder through the whole exchange; write the outputs",
    )
    p.add_argument("folder", type=Path, help="folder of feed files (the names say the feed)")
    p.add_argument(
        "--as-of", type=date.fromisoformat, required=True, help="the replay's clock (YYYY-MM-DD)"
    )
    p.add_argument("--out", type=Path, required=True, help="folder for the *.jsonl outputs")
    p.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")
    p.set_defaults(handler=cmd_replay)


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from pensionx.replay import run_replay

    summary = run_replay(args.folder, args.as_of, args.out, settings, timeout=args.timeout)
    for line in summary.lines():
        print(line)
    print(f"outputs: {args.out}/prompts.jsonl, conflicts.jsonl, dead-letters.jsonl")
    return 0
