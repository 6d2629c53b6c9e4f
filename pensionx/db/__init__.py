"""The exchange's database: SQLite by default, PostgreSQL in production, migrated by Alembic.

Build an engine with :func:`make_engine` at the entry point, bring the schema to head with
:func:`migrate`, and pass the engine to the repositories (:mod:`pensionx.db.archive`,
:mod:`pensionx.db.dead_letters`, :mod:`pensionx.db.prompts`). Importing this package opens
nothing: every connection is made by an explicit call.
"""

from __future__ import annotations

from pensionx.db.engine import alembic_config, make_engine, migrate

__all__ = ["alembic_config", "make_engine", "migrate"]
