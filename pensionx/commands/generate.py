"""`pensionx generate`: realistic feed files with planted cases and an answer key."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pensionx.settings import Settings


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "generate",
        help="write realistic feed files, with planted prompts/conflicts/bad records and a key",
    )
    p.add_argument("--enterprises", type=int, default=200, help="clean enterprises (default 200)")
    p.add_argument("--persons", type=int, default=2000, help="clean persons (default 2000)")
    p.add_argument("--seed", type=int, default=1, help="same seed, same files (default 1)")
    p.add_argument("--out", type=Path, required=True, help="folder to write the files into")
    p.add_argument(
        "--as-of",
        type=date.fromisoformat,
        default=None,
        help="the date the data runs up to and the answer key is for (default: today)",
    )
    p.add_argument("--months", type=int, default=12, help="months of monthly files (default 12)")
    p.set_defaults(handler=cmd_generate)


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from pensionx.generator import generate

    as_of = args.as_of or datetime.now(UTC).date()
    key = generate(
        args.out,
        enterprises=args.enterprises,
        persons=args.persons,
        seed=args.seed,
        as_of=as_of,
        months=args.months,
    )
    files = sorted(p.name for p in args.out.iterdir() if p.name != "answer-key.json")
    print(
        f"wrote {len(files)} feed files to {args.out} (as of {as_of}): "
        f"{sum(key.counts.values())} good records, {len(key.dead_letters)} bad, "
        f"{len(key.prompts)} prompts and {len(key.conflicts)} conflicts expected — "
        f"see {args.out / 'answer-key.json'}"
    )
    return 0
