"""One typed, frozen settings object, read from ``PENSIONX_*`` environment variables.

Every variable is declared once, in :data:`VARIABLES`, with its default and what it means; the
README's settings table is generated from (and tested against) that declaration, so the two
cannot drift. A wrong value fails at start with a :class:`ConfigurationError` naming the
variable, instead of a traceback from deep inside a Kafka or database client.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pensionx.errors import ConfigurationError

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
LOG_FORMATS = ("auto", "console", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
STATE_STORES = ("memory", "rocksdb")


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, default, meaning, and the settings field it fills."""

    attr: str
    default: str
    doc: str
    secret: bool = False

    @property
    def env(self) -> str:
        return "PENSIONX_" + self.attr.upper()


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "kafka_bootstrap_servers",
        "",
        "Kafka bootstrap servers, `host:port[,host:port...]`. Empty: start the embedded broker.",
    ),
    Variable(
        "kafka_security_protocol",
        "PLAINTEXT",
        "`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.",
    ),
    Variable(
        "kafka_sasl_mechanism",
        "SCRAM-SHA-512",
        "`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (used with a `SASL_*` protocol).",
    ),
    Variable("kafka_sasl_username", "", "SASL user name (required with a `SASL_*` protocol)."),
    Variable("kafka_sasl_password", "", "SASL password. Never printed.", secret=True),
    Variable("kafka_ssl_cafile", "", "PEM file of the CA that signed the brokers' certificates."),
    Variable(
        "schema_registry_url",
        "",
        "URL of a Confluent-compatible schema registry. Empty: the embedded registry.",
    ),
    Variable(
        "database_url",
        "",
        "SQLAlchemy URL of the database. Empty: a SQLite file `pensionx.db` in the data dir; "
        "production: `postgresql+psycopg://user:pass@host/db`.",
        secret=True,
    ),
    Variable("data_dir", "var", "Folder for the SQLite file, drop folders and caches."),
    Variable("partitions", "6", "Partitions per topic when the exchange creates its topics."),
    Variable(
        "replication_factor",
        "1",
        "Replicas per topic when the exchange creates its topics (3 in production).",
    ),
    Variable("broker_port", "0", "Port of the embedded broker on 127.0.0.1; 0 picks a free one."),
    Variable(
        "state_store",
        "memory",
        "Where the conflict service keeps its per-person ledgers: `memory` (tests, small "
        "regions: ~4 KB a person) or `rocksdb` (a province: on disk, memory bounded below).",
    ),
    Variable(
        "rocksdb_block_cache_mib",
        "128",
        "RocksDB block cache per table partition a worker holds, in MiB (with `rocksdb`).",
    ),
    Variable(
        "rocksdb_write_buffer_mib",
        "32",
        "RocksDB memtable size, in MiB; two per table partition a worker holds (with `rocksdb`).",
    ),
    Variable(
        "metrics_port",
        "0",
        "Port of a part's `/healthz`, `/livez` and `/metrics`; 0 picks a free one (printed by "
        "`pensionx run`). In production set one (9100): probes and Prometheus need it fixed.",
    ),
    Variable(
        "metrics_sources",
        "",
        "Other parts' `/metrics` URLs, comma-separated, that the web page's Operations view adds "
        "up with its own (`pensionx run` passes its workers'). Empty: only what it knows itself.",
    ),
    Variable(
        "log_format",
        "auto",
        "`console`, `json`, or `auto` (console on a terminal, JSON lines otherwise).",
    ),
    Variable("log_level", "INFO", "`DEBUG`, `INFO`, `WARNING` or `ERROR`."),
    Variable(
        "upload_max_bytes",
        str(256 * 1024 * 1024),
        "Largest file the HTTP upload endpoint accepts, in bytes (256 MiB); larger gets 413.",
    ),
    Variable(
        "feed_max_decompressed_bytes",
        str(256 * 1024 * 1024),
        "Largest text a gzipped feed file may unpack to, in bytes (256 MiB): a gzip bomb is "
        "rejected (`FILE_TOO_LARGE`) once it gets there.",
    ),
    Variable(
        "feed_max_line_chars",
        str(64 * 1024),
        "Longest line a feed file may hold, in characters; a longer one rejects the file "
        "(`LINE_TOO_LONG`).",
    ),
    Variable(
        "feed_max_columns",
        "256",
        "Most columns a CSV header may have; more rejects the file (`TOO_MANY_COLUMNS`).",
    ),
    Variable(
        "dead_letter_raw_retention_days",
        "90",
        "Days a dead letter's raw text is kept; then it is blanked (code, message, file and "
        "line stay) by `pensionx dead-letters purge` and by `pensionx run` once a day.",
    ),
    Variable(
        "agencies_file",
        "",
        "JSON file of the agencies serving each region (docs/configuration.md). Empty: built-in "
        "illustrative Shaanxi/Baoji contacts.",
    ),
    Variable(
        "floors_file",
        "",
        "JSON file of contribution-base floors and ceilings per province and year, each with its "
        "published source. Empty: built-in Shaanxi 2023 only.",
    ),
)


def _servers(var: Variable, raw: str) -> tuple[str, ...]:
    if not raw.strip():
        return ()
    servers = tuple(s.strip() for s in raw.split(",") if s.strip())
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigurationError(
                var.env,
                f"{server!r} is not a host:port pair",
                "Write it as host:port, several separated by commas, e.g. kafka-1:9092,kafka-2:9092"
                " — or leave it empty to use the embedded broker.",
            )
    return servers


def _choice(options: tuple[str, ...], upper: bool = True) -> Callable[[Variable, str], str]:
    def parse(var: Variable, raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in options:
            raise ConfigurationError(
                var.env, f"{raw!r} is not one of {', '.join(options)}", "Use one of those values."
            )
        return value

    return parse


def _positive_int(var: Variable, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigurationError(
            var.env, f"{raw!r} is not a whole number of at least 1", "Set 1 or more."
        )
    return value


def _port(var: Variable, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if not 0 <= value < 65536:
        raise ConfigurationError(
            var.env, f"{raw!r} is not a port number", "Use 1-65535, or 0 to pick a free port."
        )
    return value


def _url(schemes: tuple[str, ...]) -> Callable[[Variable, str], str]:
    def parse(var: Variable, raw: str) -> str:
        value = raw.strip()
        if not value:
            return ""
        parts = urlsplit(value)
        scheme = parts.scheme.split("+", 1)[0]
        if scheme not in schemes or (scheme != "sqlite" and not parts.netloc):
            raise ConfigurationError(
                var.env,
                f"{_without_password(value)!r} is not a usable URL (expected a "
                + " or ".join(f"{s}://" for s in schemes)
                + " URL)",
                "Check the spelling, or leave it empty for the embedded default.",
            )
        return value

    return parse


def _url_list(var: Variable, raw: str) -> tuple[str, ...]:
    one = _url(("http", "https"))
    return tuple(one(var, item) for item in raw.split(",") if item.strip())


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _text(var: Variable, raw: str) -> str:
    return raw.strip()


_PARSERS: dict[str, Callable[[Variable, str], Any]] = {
    "kafka_bootstrap_servers": _servers,
    "kafka_security_protocol": _choice(SECURITY_PROTOCOLS),
    "kafka_sasl_mechanism": _choice(SASL_MECHANISMS),
    "schema_registry_url": _url(("http", "https")),
    "database_url": _url(("sqlite", "postgresql")),
    "data_dir": _text,
    "partitions": _positive_int,
    "replication_factor": _positive_int,
    "broker_port": _port,
    "state_store": _choice(STATE_STORES, upper=False),
    "rocksdb_block_cache_mib": _positive_int,
    "rocksdb_write_buffer_mib": _positive_int,
    "metrics_port": _port,
    "metrics_sources": _url_list,
    "log_format": _choice(LOG_FORMATS, upper=False),
    "log_level": _choice(LOG_LEVELS),
    "upload_max_bytes": _positive_int,
    "feed_max_decompressed_bytes": _positive_int,
    "feed_max_line_chars": _positive_int,
    "feed_max_columns": _positive_int,
    "dead_letter_raw_retention_days": _positive_int,
}


@dataclass(frozen=True)
class Settings:
    """Everything the exchange can be told from outside, validated; built by :meth:`from_env`."""

    kafka_bootstrap_servers: tuple[str, ...] = ()
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = field(default="", repr=False)
    kafka_ssl_cafile: str = ""
    schema_registry_url: str = ""
    database_url: str = field(default="", repr=False)
    data_dir: str = "var"
    partitions: int = 6
    replication_factor: int = 1
    broker_port: int = 0
    state_store: str = "memory"
    rocksdb_block_cache_mib: int = 128
    rocksdb_write_buffer_mib: int = 32
    metrics_port: int = 0
    metrics_sources: tuple[str, ...] = ()
    log_format: str = "auto"
    log_level: str = "INFO"
    agencies_file: str = ""
    floors_file: str = ""
    upload_max_bytes: int = 256 * 1024 * 1024
    feed_max_decompressed_bytes: int = 256 * 1024 * 1024
    feed_max_line_chars: int = 64 * 1024
    feed_max_columns: int = 256
    dead_letter_raw_retention_days: int = 90

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check every ``PENSIONX_*`` variable; a bad one raises ConfigurationError."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var in VARIABLES:
            raw = env.get(var.env, var.default)
            values[var.attr] = _PARSERS.get(var.attr, _text)(var, raw)
        settings = cls(**values)
        settings._check_consistency()
        return settings

    def _check_consistency(self) -> None:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ConfigurationError(
                "PENSIONX_KAFKA_SASL_USERNAME",
                f"security protocol {self.kafka_security_protocol} needs a user name and password",
                "Set PENSIONX_KAFKA_SASL_USERNAME and PENSIONX_KAFKA_SASL_PASSWORD.",
            )
        if self.kafka_ssl_cafile and not Path(self.kafka_ssl_cafile).is_file():
            raise ConfigurationError(
                "PENSIONX_KAFKA_SSL_CAFILE",
                f"{self.kafka_ssl_cafile!r} is not a readable file",
                "Point it at the CA certificate (PEM) of the brokers.",
            )
        if self.embedded_broker and self.kafka_security_protocol != "PLAINTEXT":
            raise ConfigurationError(
                "PENSIONX_KAFKA_SECURITY_PROTOCOL",
                "the embedded broker only speaks PLAINTEXT",
                "Set PENSIONX_KAFKA_BOOTSTRAP_SERVERS to your Kafka cluster, or use PLAINTEXT.",
            )

    @property
    def embedded_broker(self) -> bool:
        """True when no external Kafka is configured and the exchange starts its own broker."""
        return not self.kafka_bootstrap_servers

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def effective_database_url(self) -> str:
        """The configured database, or the SQLite file under the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_path / 'pensionx.db').as_posix()}"

    def redacted(self) -> dict[str, object]:
        """The settings as a dict fit to print or log: secrets replaced by ``***``."""
        secret = {v.attr for v in VARIABLES if v.secret}
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = "***" if f.name in secret and value else value
        return out


def settings_table_markdown() -> str:
    """The README's settings table, generated from :data:`VARIABLES`."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for var in VARIABLES:
        default = f"`{var.default}`" if var.default else "(empty)"
        rows.append(f"| `{var.env}` | {default} | {var.doc} |")
    return "\n".join(rows)
