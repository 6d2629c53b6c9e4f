"""structlog, configured once: console output on a terminal, JSON lines otherwise.

A processor masks identity numbers in every value of every event, so no code path — not even a
careless ``log.info("x", record=raw_line)`` — can put a full identity number into a log line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

from pensionx.core.masking import mask_identity_numbers


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_identity_numbers(value)
    if isinstance(value, Mapping):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return (
            type(value)(_mask(v) for v in value)
            if not isinstance(value, set)
            else {_mask(v) for v in value}
        )
    if isinstance(value, bytes):
        return mask_identity_numbers(value.decode("utf-8", "replace"))
    return value


def mask_identity_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask identity numbers in every field, nested ones included."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _mask(value)
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog and the stdlib root logger (Faust, kafka-python) the same way.

    ``fmt`` is ``console``, ``json`` or ``auto`` (console when ``stream`` is a terminal).
    Safe to call again: the latest call wins, which the CLI and the tests rely on.
    """
    out = stream if stream is not None else sys.stderr
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    numeric = logging.getLevelName(level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        mask_identity_processor,
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if console
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    structlog.configure(
        processors=[
            *shared[:2],
            structlog.stdlib.PositionalArgumentsFormatter(),
            *shared[2:],
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info if not console else _noop,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # Client libraries are chatty at INFO about every connection; their warnings still show.
    for noisy in ("kafka", "aiokafka", "faust", "mode", "alembic"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))


def _noop(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return event_dict


def get_logger(name: str | None = None, **context: Any) -> Any:
    """A structlog logger with ``context`` bound (feed, topic, partition, offset...).

    Stays lazy until first used, so a module-level logger follows :func:`configure_logging`
    even when the module was imported before it ran.
    """
    return structlog.get_logger(name, **context)
