"""Engines for SQLite and PostgreSQL, tuned once here, and Alembic migrations run from code.

Why each setting:

* SQLite runs in WAL mode so readers (the auditors' CLI, a replay) never block the connectors'
  writes; foreign keys are off by default in SQLite and switched on; a busy timeout makes a
  second process wait for the write lock instead of failing with "database is locked".
* pysqlite's own transaction handling issues BEGIN late and never for SELECT; SQLAlchemy
  takes that job over (its documented recipe), which also lets :func:`write_transaction`
  start with ``BEGIN IMMEDIATE``: the write lock is taken first, so two appenders queue
  instead of deadlocking on a lock upgrade.
* PostgreSQL connections are checked before use (``pool_pre_ping``): a long-running worker
  survives a database restart.

Nothing here connects at import or in :func:`make_engine`; the first connection is made by
:func:`migrate` (or a repository call), and a database that cannot be reached is reported as a
:class:`DatabaseError` naming ``PENSIONX_DATABASE_URL``, not as a psycopg traceback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine

from pensionx.errors import DatabaseError

ENV_VAR = "PENSIONX_DATABASE_URL"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30
POSTGRES_CONNECT_TIMEOUT_S = 10
# pg_advisory_xact_lock key serialising migrations: 'pxmg' as a number, unlikely to collide.
MIGRATION_LOCK_KEY = 0x70786D67
_IMMEDIATE = "pensionx_begin_immediate"


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL of ``url``; bare ``postgresql://`` means psycopg 3, the driver we ship."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise DatabaseError(
            f"{ENV_VAR}: {url!r} is not a database URL. Use sqlite:///path/to/file.db or "
            "postgresql+psycopg://user:password@host:5432/dbname."
        ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (SQLite or PostgreSQL), configured as the module docstring says."""
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseError(
            f"{ENV_VAR}: the exchange supports SQLite and PostgreSQL, not {backend!r}. "
            "Use sqlite:///path/to/file.db or postgresql+psycopg://user:password@host/dbname."
        )
    try:
        if backend == "sqlite":
            return _sqlite_engine(parsed)
        return sa.create_engine(
            parsed,
            pool_pre_ping=True,
            connect_args={
                "connect_timeout": POSTGRES_CONNECT_TIMEOUT_S,
                "application_name": "pensionx",
            },
        )
    except (sa.exc.NoSuchModuleError, ImportError) as exc:
        raise DatabaseError(
            f"{ENV_VAR}: the database driver {parsed.drivername!r} is not installed. Use "
            "postgresql+psycopg:// (psycopg 3 comes with the exchange) or sqlite:///."
        ) from exc


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(
                f"{ENV_VAR}: cannot create the folder {folder} for the SQLite database "
                f"({exc.strerror}). Check the path and its permissions, or set PENSIONX_DATA_DIR "
                "to a writable folder."
            ) from exc
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    sa.event.listen(engine, "connect", _sqlite_on_connect)
    sa.event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_on_begin)
    cursor = dbapi_connection.cursor()
    try:
        # The busy timeout first, so everything after it waits for a lock instead of failing.
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        _enable_wal(cursor)
    finally:
        cursor.close()


def _enable_wal(cursor: Any, attempts: int = 50) -> None:
    """Switch to WAL; retried, because on a brand-new file several processes connecting at once
    race for the switch and SQLite reports "database is locked" without consulting the busy
    handler (seen as a rare failure of processes starting together)."""
    import sqlite3

    for attempt in range(attempts):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: on SQLite it holds the write lock from its first statement.

    With a plain (deferred) BEGIN, two SQLite writers that both read first would each wait for
    the other to release its read lock; ``BEGIN IMMEDIATE`` makes the second one wait at BEGIN
    (up to the busy timeout) instead. PostgreSQL ignores the option: its callers lock rows.
    """
    with engine.connect() as conn:
        conn.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            yield conn


def dialect_insert(conn: Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with ``ON CONFLICT`` support, for the dialect of ``conn`` (both spell it alike)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def unreachable(engine: Engine, exc: BaseException) -> DatabaseError:
    """A :class:`DatabaseError` saying, for a person, that ``engine``'s database cannot be used."""
    shown = engine.url.render_as_string(hide_password=True)
    orig = getattr(exc, "orig", None) or exc
    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    if engine.dialect.name == "sqlite":
        hint = (
            "Check that the file's folder exists and is writable, and that no other program "
            "holds the file locked"
        )
    else:
        hint = (
            "Check that the PostgreSQL server is running and accepts connections from this "
            "machine at that host and port, that the database exists, and that the user name "
            "and password are right"
        )
    return DatabaseError(
        f"{ENV_VAR}: cannot use the database {shown}: {reason}. {hint}; or leave "
        f"{ENV_VAR} empty to use the SQLite file in the data dir."
    )


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration, built in code: no ``alembic.ini`` is needed or read.

    To write a new revision against a database: ``alembic.command.revision(alembic_config(url),
    autogenerate=True, message="...")``.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # '%' is ConfigParser's interpolation character; a password may contain one.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema; a no-op when it is already there.

    Safe when several processes start at once: on PostgreSQL the whole upgrade runs in one
    transaction under an advisory lock (DDL is transactional there), on SQLite under
    ``BEGIN IMMEDIATE``; whoever comes second waits, then finds the schema at head.
    """
    try:
        with engine.connect():
            pass
    except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
        raise unreachable(engine, exc) from exc
    try:
        with write_transaction(engine) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except sa.exc.OperationalError as exc:
        raise DatabaseError(
            f"{ENV_VAR}: the database schema could not be brought up to date: "
            f"{(str(exc.orig).strip().splitlines() or ['unknown error'])[0]}. Check that the "
            "database user may create tables, and that the database is not read-only."
        ) from exc
