"""The pure core: identifiers, rules, prompts and conflicts over plain dataclasses.

Nothing here imports faust, kafka, sqlalchemy or fastavro, so the same functions serve the
stream workers, a batch replay and the unit tests.
"""
