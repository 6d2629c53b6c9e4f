"""Upload tokens: one or more per agency, shown once, stored hashed, bound to the agency's feeds.

A token is 256 random bits (``secrets.token_urlsafe(32)``) behind a ``pxu_`` prefix, so a
leaked one is easy to recognise in a log or a paste and is never mistaken for an auditor's
``pxa_`` token. Only its SHA-256 is stored: a secret that was never guessable needs no password
stretching, and a copy of the database lets no one upload.

Which feeds an agency may upload is fixed here (:data:`AGENCY_FEEDS`, after FEEDS.md section 2),
not chosen per token, so no token can ever let the commerce bureau write tax data; a token may
be narrower than its agency (the tax bureau's wage-detail system gets ``wages`` only).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pensionx.core.codes import Feed
from pensionx.db.tables import upload_tokens
from pensionx.errors import PensionxError

PREFIX = "pxu_"
# Longer than any token we issue; anything longer is refused before it is even hashed.
_MAX_TOKEN_CHARS = 200

AGENCY_FEEDS: Mapping[str, tuple[Feed, ...]] = {
    "commerce": (Feed.COMMERCE,),
    "tax": (Feed.TAX, Feed.WAGES),
    "pension": (Feed.PENSION,),
    "audit": (Feed.AUDIT,),
}
"""Each agency (by its short name) and the feeds it delivers."""

AGENCY_NAMES: Mapping[str, str] = {
    "commerce": "commerce bureau (市场监管)",
    "tax": "tax bureau (税务)",
    "pension": "pension agency (社保经办)",
    "audit": "audit office (审计)",
}


class UploadTokenError(PensionxError):
    """An upload token cannot be created or revoked as asked (unknown agency, foreign feed)."""


@dataclass(frozen=True)
class AgencyPrincipal:
    """Who a valid upload token belongs to, and the feeds it may upload."""

    agency: str
    feeds: frozenset[Feed]

    def may_upload(self, feed: Feed) -> bool:
        return feed in self.feeds


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _agency(agency: str) -> str:
    name = agency.strip().lower()
    if name not in AGENCY_FEEDS:
        raise UploadTokenError(f"{agency!r} is not an agency: use one of {', '.join(AGENCY_FEEDS)}")
    return name


def _feeds(agency: str, feeds: Iterable[Feed | str] | None) -> tuple[Feed, ...]:
    own = AGENCY_FEEDS[agency]
    if feeds is None:
        return own
    chosen: list[Feed] = []
    for item in feeds:
        try:
            feed = Feed(item)
        except ValueError:
            raise UploadTokenError(
                f"{item!r} is not a feed: use one of {', '.join(f.value for f in Feed)}"
            ) from None
        if feed not in own:
            raise UploadTokenError(
                f"the {AGENCY_NAMES[agency]} does not deliver the {feed.value} feed: its token "
                f"may carry only {', '.join(f.value for f in own)}"
            )
        if feed not in chosen:
            chosen.append(feed)
    if not chosen:
        raise UploadTokenError("a token must allow at least one feed")
    return tuple(f for f in own if f in chosen)


def create_token(
    engine: Engine,
    agency: str,
    feeds: Iterable[Feed | str] | None = None,
    *,
    now: datetime | None = None,
) -> str:
    """Store a new token for ``agency`` and return it: the only time it is ever seen whole.

    ``feeds`` defaults to every feed the agency delivers; a subset makes a narrower token.
    """
    name = _agency(agency)
    allowed = _feeds(name, feeds)
    token = PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            upload_tokens.insert().values(
                token_hash=token_hash(token),
                agency=name,
                feeds=",".join(f.value for f in allowed),
                created_at=now or datetime.now(UTC),
            )
        )
    return token


def revoke(
    engine: Engine, agency: str, *, token: str | None = None, now: datetime | None = None
) -> int:
    """Revoke every active token of ``agency`` (or only ``token``); returns how many."""
    name = _agency(agency)
    query = upload_tokens.update().where(
        upload_tokens.c.agency == name, upload_tokens.c.revoked_at.is_(None)
    )
    if token is not None:
        query = query.where(upload_tokens.c.token_hash == token_hash(token))
    with engine.begin() as conn:
        result = conn.execute(query.values(revoked_at=now or datetime.now(UTC)))
    return int(result.rowcount)


def authenticate(engine: Engine, token: str) -> AgencyPrincipal | None:
    """The agency of a valid, unrevoked ``token``; None for anything else.

    The row is found by the hash's primary key and the match confirmed with
    :func:`hmac.compare_digest`; the index lookup's timing could only tell an attacker about
    the SHA-256 of a token they made up, which brings them no closer to a real one.
    """
    if not token.startswith(PREFIX) or len(token) > _MAX_TOKEN_CHARS:
        return None
    presented = token_hash(token)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(upload_tokens).where(
                upload_tokens.c.token_hash == presented, upload_tokens.c.revoked_at.is_(None)
            )
        ).first()
    if row is None or not hmac.compare_digest(str(row.token_hash), presented):
        return None
    feeds = frozenset(Feed(f) for f in str(row.feeds).split(",") if f)
    return AgencyPrincipal(agency=str(row.agency), feeds=feeds)
