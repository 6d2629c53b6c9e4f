"""Bearer tokens for the auditors' API and page: created once, shown once, stored hashed.

A token is 256 random bits (``secrets.token_urlsafe(32)``) behind a ``pxa_`` prefix that makes
a leaked one easy to recognise in a log or a paste. Only its SHA-256 is stored: a secret that
was never guessable needs no password stretching, and a copy of the database lets no one in.

The lookup goes by the hash's primary key and the match is then confirmed with
:func:`hmac.compare_digest`. The index lookup's timing can only tell an attacker about the
SHA-256 of a token they made up, which brings them no closer to a real one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pensionx.core.cases import Role
from pensionx.db.tables import api_tokens
from pensionx.errors import PensionxError

PREFIX = "pxa_"
_REGION_PREFIX = re.compile(r"[0-9]{2}(?:[0-9]{2}(?:[0-9]{2})?)?")


class TokenError(PensionxError):
    """A token cannot be created as asked (a bad role, name or region list)."""


@dataclass(frozen=True)
class Principal:
    """Who a valid token belongs to. ``regions`` binds an agency to region-code prefixes."""

    name: str
    role: Role
    regions: tuple[str, ...] = ()

    def covers(self, region_code: str) -> bool:
        """Whether this principal may see records of ``region_code``."""
        if self.role is not Role.AGENCY:
            return True
        return any(region_code.startswith(prefix) for prefix in self.regions)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_regions(text: str) -> tuple[str, ...]:
    """``"61,4403"`` -> ``("61", "4403")``: 2, 4 or 6 digits each (province, city, county)."""
    regions = tuple(sorted({part.strip() for part in text.split(",") if part.strip()}))
    bad = [r for r in regions if not _REGION_PREFIX.fullmatch(r)]
    if bad:
        raise TokenError(
            f"{', '.join(bad)}: a region prefix is 2, 4 or 6 digits of a region code "
            "(61 = Shaanxi, 6103 = Baoji, 610302 = Weibin district)"
        )
    return regions


def create_token(
    engine: Engine,
    role: Role | str,
    name: str,
    regions: Sequence[str] = (),
    now: datetime | None = None,
) -> str:
    """Store a new token for ``name`` and return it: the only time it is ever seen whole."""
    try:
        role = Role(role)
    except ValueError:
        raise TokenError(f"{role!r} is not a role: use {', '.join(Role)}") from None
    name = name.strip()
    if not name or len(name) > 255:
        raise TokenError("a token needs a name of 1 to 255 characters (who it is for)")
    bound = parse_regions(",".join(regions))
    if (role is Role.AGENCY) != bool(bound):
        raise TokenError(
            "an agency token must be bound to region prefixes (--regions), and only an agency "
            "token may be"
        )
    token = PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            api_tokens.insert().values(
                token_hash=token_hash(token),
                name=name,
                role=role.value,
                regions=",".join(bound),
                created_at=now or datetime.now(UTC),
            )
        )
    return token


def authenticate(engine: Engine, token: str) -> Principal | None:
    """The principal of a valid, unrevoked ``token``; None for anything else."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    presented = token_hash(token)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(api_tokens).where(
                api_tokens.c.token_hash == presented, api_tokens.c.revoked_at.is_(None)
            )
        ).first()
    if row is None or not hmac.compare_digest(row.token_hash, presented):
        return None
    regions = tuple(r for r in row.regions.split(",") if r)
    return Principal(name=row.name, role=Role(row.role), regions=regions)


def revoke_tokens(engine: Engine, name: str, now: datetime | None = None) -> int:
    """Revoke every active token of ``name``; returns how many."""
    with engine.begin() as conn:
        result = conn.execute(
            api_tokens.update()
            .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now or datetime.now(UTC))
        )
    return int(result.rowcount)


def case_workers(engine: Engine) -> list[str]:
    """Names with an active auditor or supervisor token: who a case can be assigned to."""
    with engine.connect() as conn:
        names = conn.execute(
            sa.select(api_tokens.c.name)
            .where(
                api_tokens.c.revoked_at.is_(None),
                api_tokens.c.role.in_([Role.AUDITOR.value, Role.SUPERVISOR.value]),
            )
            .distinct()
            .order_by(api_tokens.c.name)
        ).scalars()
        return list(names)
