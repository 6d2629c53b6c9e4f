"""Conflict detection as a Faust service (see :mod:`services.conflicts.service`)."""
