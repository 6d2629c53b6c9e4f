"""``python -m services.prompts.worker``: one prompt-service worker process.

Everything is built here, at the entry point (STYLE.md 3): settings from the environment, the
Kafka target (a configured cluster, or the embedded broker ``pensionx run`` started from the
same data dir), the database (which holds the embedded schema registry, so every process of
the exchange agrees on schema ids), the codec, the service's internal topics, the Faust app.
Then Faust's own worker runs it until SIGTERM.

Live (default): ``--tick-seconds`` sets how often every enterprise is re-evaluated against the
wall clock, which is the date in China (UTC+8, no daylight saving), where the deadlines run.
Replay: ``--mode replay --as-of YYYY-MM-DD --run-id ID``; the replay driver sends that run's
end markers (:mod:`services.markers`) and waits for the done messages.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from pensionx.kafka_config import KafkaTarget
from pensionx.settings import Settings
from services.observability import add_operations_arguments, start_operations

CHINA = timezone(timedelta(hours=8), "CST")
DEFAULT_APP_ID = "pensionx-prompts"


def china_today() -> date:
    """Today's date in China: the legal deadlines are Chinese calendar days."""
    return datetime.now(UTC).astimezone(CHINA).date()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.prompts.worker",
        description="Run the registration-prompt stream processor (a Faust worker).",
    )
    parser.add_argument("--mode", choices=("live", "replay"), default="live")
    parser.add_argument("--as-of", type=date.fromisoformat, default=None, help="replay date")
    parser.add_argument("--run-id", default=None, help="the replay run whose end markers count")
    parser.add_argument("--app-id", default=DEFAULT_APP_ID, help="Faust app id (consumer group)")
    parser.add_argument("--tick-seconds", type=float, default=3600.0, help="live re-evaluation")
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=600.0,
        help="live: decide for an enterprise only once its facts stood still this long",
    )
    parser.add_argument("--batch-size", type=int, default=5000, help="events per batch")
    parser.add_argument("--batch-within", type=float, default=0.5, help="seconds")
    parser.add_argument("--store", default="memory://", help="Faust table store URL")
    parser.add_argument("--datadir", type=Path, default=None, help="Faust data dir")
    parser.add_argument("--loglevel", default="warn", help="Faust's own log level")
    parser.add_argument(
        "--evaluate-chunk", type=int, default=500, help="enterprises per publish round trip"
    )
    parser.add_argument("--test-kill-after-prompts", type=int, default=None, help=argparse.SUPPRESS)
    add_operations_arguments(parser)
    args = parser.parse_args(argv)
    if args.mode == "replay" and (args.as_of is None or not args.run_id):
        parser.error("--mode replay needs --as-of and --run-id")
    return args


def ensure_service_topics(settings: Settings, target: KafkaTarget, app_id: str) -> None:
    """Create the facts and control topics up front, with the configured partition count
    (the embedded broker would otherwise auto-create a missing one with 4)."""
    from pensionx.topics import TopicSpec, create_topics
    from services.markers import ensure_control_topic
    from services.prompts.topology import facts_topic_name

    facts = TopicSpec(facts_topic_name(app_id), "the prompt service", "uscc", ())
    create_topics(target, settings.partitions, settings.replication_factor, specs=(facts,))
    ensure_control_topic(target, settings.replication_factor)


def main(argv: Sequence[str] | None = None) -> None:
    """Build the service from settings and arguments, then run Faust's worker (blocks)."""
    args = parse_args(argv)
    from pensionx.bootstrap import make_codec, open_database
    from pensionx.logs import configure_logging, get_logger
    from pensionx.reference import agency_directory, floor_table
    from pensionx.runtime import kafka_target
    from services.app import create_app
    from services.prompts.topology import PromptServiceOptions, build_prompt_service

    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    target = kafka_target(settings)
    engine = open_database(settings)
    codec = make_codec(settings, engine)
    ensure_service_topics(settings, target, args.app_id)
    datadir = args.datadir or settings.data_path / "faust" / args.app_id
    datadir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    app = create_app(
        args.app_id,
        target,
        partitions=settings.partitions,
        replication_factor=settings.replication_factor,
        data_dir=datadir,
        store=args.store,
    )
    build_prompt_service(
        app,
        codec,
        clock=china_today,
        directory=agency_directory(settings),
        floors=floor_table(settings),
        mode=args.mode,
        as_of=args.as_of,
        run_id=args.run_id,
        options=PromptServiceOptions(
            batch_size=args.batch_size,
            batch_within=args.batch_within,
            tick_interval=args.tick_seconds,
            settle_seconds=args.settle_seconds if args.mode == "live" else 0.0,
            evaluate_chunk=args.evaluate_chunk,
            kill_after_prompts=args.test_kill_after_prompts,
        ),
    )
    get_logger(__name__).info(
        "prompt worker starting",
        app_id=args.app_id,
        mode=args.mode,
        as_of=args.as_of.isoformat() if args.as_of else None,
        run_id=args.run_id,
        bootstrap=target.bootstrap,
        partitions=settings.partitions,
    )
    start_operations(app, settings, args)
    sys.argv = [sys.argv[0], "worker", "--without-web", "--loglevel", args.loglevel]
    app.main()


if __name__ == "__main__":  # pragma: no cover
    main()
