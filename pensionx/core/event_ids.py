"""Event ids: the agency's own id where it sends one, else one derived from the record's facts.

The same record sent twice must be one event (FEEDS.md section 2), whether it came again in the
same file, in a re-sent file, reordered, as CSV one day and JSON Lines the next, or with
``4,077.50`` written ``4077.5``. So a derived id hashes the *validated, normalised* facts of the
event — never the raw text, the file, the line or the time it was received.

Forms (stable: changing them re-keys every event, which is a versioned change):

- ``<feed>:<agency id>`` — the agency's id, prefixed by the feed because two agencies' id spaces
  are independent and may collide (``tax:2026100001`` vs ``wages:2026100001``);
- ``<feed>:sha256:<32 hex>`` — derived; 128 bits, so an accidental collision is not a concern.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import fields
from decimal import Decimal
from operator import attrgetter

from pensionx.core.codes import Feed
from pensionx.core.events import (
    AwardCancelled,
    BenefitAwarded,
    BusinessRegistrationEvent,
    ContributionPaid,
    DeathRecorded,
    Envelope,
    Event,
    UnitRegistered,
    WageWithheld,
    WorkInjuryDetermined,
)

# What kind of fact a hash is over, so two kinds with equal fields can never share an id. These
# are contract words (Evidence.record_type uses them), not class names, so renaming a class does
# not re-key events.
RECORD_KINDS: dict[type[Envelope], str] = {
    BusinessRegistrationEvent: "BUSINESS_REGISTRATION",
    ContributionPaid: "CONTRIBUTION",
    WageWithheld: "WAGE",
    UnitRegistered: "UNIT_REGISTERED",
    BenefitAwarded: "BENEFIT_AWARD",
    DeathRecorded: "DEATH_RECORD",
    WorkInjuryDetermined: "WORK_INJURY_DETERMINATION",
    AwardCancelled: "AWARD_CANCELLED",
}

_ENVELOPE_FIELDS = frozenset(field.name for field in fields(Envelope))


# The fields of each event type that are facts of the record, sorted. ``occurred_on`` is left out
# with the rest of the envelope: it is one of the record's own dates (or the first day of a wage
# period), so the hash covers it already.
_FACT_FIELDS: dict[type[Envelope], tuple[str, ...]] = {
    event_type: tuple(sorted(f.name for f in fields(event_type) if f.name not in _ENVELOPE_FIELDS))
    for event_type in RECORD_KINDS
}
# One C-level call per event instead of one getattr per field: this runs for every record.
_FACTS: dict[type[Envelope], Callable[[Envelope], tuple[object, ...]]] = {
    event_type: attrgetter(*names) for event_type, names in _FACT_FIELDS.items()
}


def agency_event_id(feed: Feed, agency_id: str) -> str:
    """The event id for an id the agency sent itself (already stripped, never empty)."""
    return f"{feed.value}:{agency_id}"


def canonical_text(value: object) -> str:
    """One normalised field value as text: equal values give equal text, whatever their form.

    Money compares by value (``4077.50`` = ``4077.5``), so a Decimal is written without trailing
    zeros and never in exponent form; a date is ISO 8601, a Month ``YYYY-MM``, a code its value.
    """
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)  # a StrEnum's str is its value, a date's ISO 8601, a Month's YYYY-MM


def canonical_form(event: Event) -> str:
    """The text a derived id hashes: the record kind, then its non-empty facts sorted by name.

    Absent and empty optional fields are both None by the time an event exists, so both are
    left out. Each value is length-prefixed (``name=<len>:<text>``), which keeps the form
    unambiguous whatever a name or address contains, at a fraction of the cost of JSON.
    """
    event_type = type(event)
    parts = [RECORD_KINDS[event_type]]
    for name, value in zip(_FACT_FIELDS[event_type], _FACTS[event_type](event), strict=True):
        if value is not None:
            # canonical_text, inlined: this loop runs for every field of every record.
            text = format(value.normalize(), "f") if type(value) is Decimal else str(value)
            parts.append(f"{name}={len(text)}:{text}")
    return "|".join(parts)


def content_event_id(feed: Feed, event: Event) -> str:
    """The id derived from ``event``'s facts; its own ``event_id`` is not read."""
    digest = hashlib.sha256(canonical_form(event).encode("utf-8")).hexdigest()
    return f"{feed.value}:sha256:{digest[:32]}"
