"""The conflict service's LedgerCache: a parsed ledger is reused only while the table holds it."""

from __future__ import annotations

import json

from pensionx.core.ledger import PersonLedger
from services.conflicts.service import LedgerCache
from tests.unit.factories import PERSON_ID, contribution, ledger_of, pension


def test_the_same_stored_object_gives_back_the_same_ledger() -> None:
    """The memory store hands back the very dict that was written."""
    cache = LedgerCache()
    ledger = ledger_of(contribution("2024-01"))
    stored = ledger.to_dict()
    cache.put(PERSON_ID, stored, ledger)
    assert cache.get(PERSON_ID, stored) is ledger


def test_an_equal_value_read_back_gives_back_the_same_ledger() -> None:
    """The RocksDB store hands back a new dict per read: equal content still hits."""
    cache = LedgerCache()
    ledger = ledger_of(contribution("2024-01"))
    stored = ledger.to_dict()
    cache.put(PERSON_ID, stored, ledger)
    assert cache.get(PERSON_ID, json.loads(json.dumps(stored))) is ledger


def test_a_value_written_elsewhere_is_parsed_again() -> None:
    """After a rebalance the table may hold another worker's newer ledger for the person."""
    cache = LedgerCache()
    ours = ledger_of(contribution("2024-01"))
    cache.put(PERSON_ID, ours.to_dict(), ours)
    theirs = ledger_of(contribution("2024-01"), pension("P-1", "2024-01"))
    got = cache.get(PERSON_ID, json.loads(json.dumps(theirs.to_dict())))
    assert got == theirs
    assert got != ours
    assert cache.get(PERSON_ID, None) == PersonLedger(person_id=PERSON_ID)
