"""Connectors: agency feeds in (files, uploads), sinks out (database)."""
