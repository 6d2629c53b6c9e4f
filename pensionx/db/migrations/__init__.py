"""Alembic migrations of the exchange's database; run by :func:`pensionx.db.engine.migrate`."""
