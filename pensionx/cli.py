"""The `pensionx` command: the one composition root of the exchange.

Each subcommand reads the settings, configures logging, builds the clients it needs and hands
them to the code that does the work. A :class:`PensionxError` becomes a plain message and exit
status 2 — a user never sees a traceback for a mistake they can fix.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from pensionx import __version__
from pensionx.errors import PensionxError
from pensionx.logs import configure_logging, get_logger
from pensionx.settings import Settings, settings_table_markdown

log = get_logger("pensionx.cli")

Handler = Callable[[argparse.Namespace, Settings], int]


def _wait_for_stop_signal() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    """Run the embedded broker alone until Ctrl-C/SIGTERM."""
    from pensionx.broker import EmbeddedBroker
    from pensionx.runtime import forget_embedded_broker, publish_embedded_broker

    port = args.port if args.port is not None else settings.broker_port
    with EmbeddedBroker(port=port, log_dir=settings.data_path / "logs") as broker:
        publish_embedded_broker(settings, broker.bootstrap)
        print(f"embedded broker ready: bootstrap servers {broker.bootstrap}", flush=True)
        try:
            if args.create_topics:
                _create_contract_topics(settings, broker.bootstrap)
            _wait_for_stop_signal()
        finally:
            forget_embedded_broker(settings, broker.bootstrap)
    return 0


def _create_contract_topics(settings: Settings, bootstrap: str | None) -> dict[str, str]:
    from pensionx.kafka_config import KafkaTarget
    from pensionx.runtime import kafka_target
    from pensionx.topics import create_topics

    target = KafkaTarget.from_settings(settings, bootstrap) if bootstrap else kafka_target(settings)
    return create_topics(target, settings.partitions, settings.replication_factor)


def cmd_topics_create(args: argparse.Namespace, settings: Settings) -> int:
    outcome = _create_contract_topics(settings, None)
    for name, what in outcome.items():
        print(f"{name:40} {what}")
    return 0


def cmd_topics_list(args: argparse.Namespace, settings: Settings) -> int:
    from pensionx.runtime import kafka_target
    from pensionx.topics import TOPIC_NAMES, list_topics

    topics = list_topics(kafka_target(settings))
    print(f"{'topic':40} partitions")
    for name, count in topics.items():
        marker = "" if name in TOPIC_NAMES else "   (not a contract topic)"
        print(f"{name:40} {count:>10}{marker}")
    missing = [n for n in TOPIC_NAMES if n not in topics]
    if missing:
        print(f"missing contract topics: {', '.join(missing)} — run `pensionx topics create`")
        return 1
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the exchange: every part on embedded defaults, or ``--only`` one of them."""
    from pensionx.runner import RunInfo, run_exchange, stop_on_signals

    def announce(info: RunInfo) -> None:
        print("\n".join(info.lines()), flush=True)
        if args.demo and info.drop_root is not None:
            from pensionx.demo import demo_token, feed_sample

            sample, files = feed_sample(settings, info.drop_root)
            print(
                f"demo: {files} sample feed files dropped into {info.drop_root}/ — the inbox is "
                f"ingesting them now (what was planted: {sample}/answer-key.json)\n"
                f"demo: open {info.web_url or 'the web page'} and log in with this token:\n"
                f"      {demo_token(settings)}\n"
                "      conflicts and prompts appear within a minute or two. Ctrl-C stops it all.",
                flush=True,
            )

    if args.metrics_port is not None:
        from dataclasses import replace

        settings = replace(settings, metrics_port=args.metrics_port)
    with stop_on_signals() as stop:
        return run_exchange(
            settings,
            only=args.only,
            web_port=args.web_port,
            upload_port=args.upload_port,
            host=args.host,
            stop=stop,
            ready=announce,
        )


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    if args.markdown:
        print(settings_table_markdown())
        return 0
    for key, value in settings.redacted().items():
        print(f"{key:26} {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pensionx",
        description="pension-exchange: an event-driven data exchange for pension insurance.",
    )
    parser.add_argument("--version", action="version", version=f"pensionx {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the exchange (embedded broker by default)")
    p.add_argument(
        "--only",
        choices=["connectors", "prompts", "conflicts", "sinks", "web"],
        default=None,
        help="run one part against the configured Kafka and database (default: every part)",
    )
    p.add_argument("--web-port", type=int, default=8080, help="web page and API (default 8080)")
    p.add_argument("--upload-port", type=int, default=8082, help="upload endpoint (default 8082)")
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="/healthz, /livez and /metrics (default: PENSIONX_METRICS_PORT; 0: a free port); "
        "running every part, the workers take the next ports",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the web page and upload endpoint listen on (0.0.0.0 in a container)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="also generate a realistic sample, drop it into the inbox and print a login token",
    )
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("broker", help="run the embedded Kafka-compatible broker alone")
    p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: free)")
    p.add_argument("--create-topics", action="store_true", help="also create the contract's topics")
    p.set_defaults(handler=cmd_broker)

    topics = sub.add_parser("topics", help="create or list the contract's topics")
    tsub = topics.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    tsub.add_parser("create", help="create every contract topic (idempotent)").set_defaults(
        handler=cmd_topics_create
    )
    tsub.add_parser("list", help="list topics with their partition counts").set_defaults(
        handler=cmd_topics_list
    )

    from pensionx.commands import acl as acl_commands
    from pensionx.commands import conflicts, connectors, generate, ingest, prompts, replay, web
    from pensionx.commands import dead_letters as dead_letter_commands
    from pensionx.commands import schemas as schema_commands

    ingest.add_commands(sub)
    connectors.add_commands(sub)
    generate.add_commands(sub)
    replay.add_commands(sub)
    schema_commands.add_commands(sub)
    prompts.add_commands(sub)
    conflicts.add_commands(sub)
    web.add_commands(sub)
    acl_commands.add_commands(sub)
    dead_letter_commands.add_commands(sub)

    p = sub.add_parser("settings", help="show the effective settings (secrets hidden)")
    p.add_argument("--markdown", action="store_true", help="print the README's settings table")
    p.set_defaults(handler=cmd_settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except PensionxError as exc:
        print(f"pensionx: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except PensionxError as exc:
        print(f"pensionx: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
