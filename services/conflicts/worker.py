"""`python -m services.conflicts.worker`: one worker of the conflict service.

Reads the settings from the environment like every `pensionx` command; ``--as-of`` pins the
month up to which open-ended awards count as paid (a replay), otherwise it is the wall-clock
month. ``pensionx run`` starts the same worker in-process (a later issue); this entry point is
what docker-compose, Kubernetes and the tests run.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pensionx.core.months import Month
from pensionx.settings import Settings
from services.observability import add_operations_arguments, start_operations

APP_ID = "pensionx-conflicts"


def build(settings: Settings, *, app_id: str, as_of: date | None, data_dir: Path) -> Any:
    from pensionx.bootstrap import make_codec, open_database
    from pensionx.runtime import kafka_target
    from services.app import create_app, store_url, table_options
    from services.conflicts.service import build_conflict_service

    target = kafka_target(settings)
    engine = open_database(settings)
    codec = make_codec(settings, engine)
    app = create_app(
        app_id,
        target,
        partitions=settings.partitions,
        replication_factor=settings.replication_factor,
        data_dir=data_dir,
        store=store_url(settings),
    )

    def month() -> Month:
        return Month.of(as_of or datetime.now(UTC).date())

    build_conflict_service(
        app,
        codec,
        as_of=month,
        partitions=settings.partitions,
        table_options=table_options(settings),
    )
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.conflicts.worker")
    parser.add_argument("--as-of", type=date.fromisoformat, default=None)
    parser.add_argument("--app-id", default=APP_ID)
    parser.add_argument("--data-dir", type=Path, default=None)
    add_operations_arguments(parser)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    from pensionx.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    data_dir = args.data_dir or settings.data_path / "faust" / args.app_id
    app = build(settings, app_id=args.app_id, as_of=args.as_of, data_dir=data_dir)
    start_operations(app, settings, args)
    sys.argv = [sys.argv[0], "worker", "--without-web", "--loglevel", "warn"]
    app.main()


if __name__ == "__main__":
    main()
