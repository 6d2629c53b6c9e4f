"""Alembic's entry point, run by ``alembic.command`` with the config of ``alembic_config()``.

:func:`pensionx.db.engine.migrate` passes its own connection, already inside a locked
transaction (``config.attributes["connection"]``); the migrations then run in that transaction.
Without one (a developer writing a revision), the URL of the config or else of the
``PENSIONX_*`` settings is used. Logging is left as the exchange configured it: no
``fileConfig`` here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from pensionx.db.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from pensionx.settings import Settings

    return Settings.from_env().effective_database_url


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from pensionx.db.engine import make_engine

    engine = make_engine(_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
