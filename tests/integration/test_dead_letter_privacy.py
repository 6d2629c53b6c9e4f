"""Dead-letter privacy on SQLite and PostgreSQL: raw text purged after its retention (the code,
messages, file and line kept; idempotent; by `pensionx dead-letters purge` and by the periodic
purge `pensionx run` starts), and the API's copy — raw text whole for an auditor's token,
masked for a supervisor's, refused to an agency's."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from pensionx.commands.dead_letters import purge_periodically
from pensionx.core.dead_letters import dead_letter_for
from pensionx.core.outputs import DeadLetter
from pensionx.core.validation_errors import InvalidField
from pensionx.db.dead_letters import (
    list_stored_dead_letters,
    purge_raw_text,
    save_dead_letters,
)
from pensionx.db.tables import dead_letters
from pensionx.web.api import make_app
from pensionx.web.tokens import create_token

pytestmark = pytest.mark.integration

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
PERSON = "110105194912310021"  # fails its check character: the reason it is a dead letter
MASKED = "110105********0021"


def _letter(line: int, age_days: int) -> DeadLetter:
    return dead_letter_for(
        feed="tax",
        file_name="tax_202610.csv",
        line=line,
        raw_text=f"{PERSON},张三,202609,养老,4077.50,{line}",
        error=InvalidField(
            "PERSON_ID_CHECK", "person_id", "身份证号码校验位错误", "person_id fails its check"
        ),
        received_at=NOW - timedelta(days=age_days, minutes=1),
        extra={"file_sha256": "ab" * 32},
    )


@pytest.fixture
def engine(engine: Engine) -> Engine:
    """The shared migrated engine (tests/conftest.py), with five dead letters stored: lines 1-3
    are 100, 91 and 90 days old (and a minute); 4 and 5 are 89 and 0."""
    save_dead_letters(engine, [_letter(n, age) for n, age in enumerate((100, 91, 90, 89, 0), 1)])
    return engine


def _by_line(engine: Engine) -> dict[int, tuple[str, datetime | None]]:
    return {
        s.letter.line or 0: (s.letter.raw_text, s.raw_purged_at)
        for s in list_stored_dead_letters(engine)
    }


def test_raw_text_past_its_retention_is_blanked_and_the_rest_kept(engine: Engine) -> None:
    before = {s.letter.line: s.letter for s in list_stored_dead_letters(engine)}
    assert purge_raw_text(engine, retention_days=90, now=NOW) == 3
    after = _by_line(engine)
    assert [line for line, (raw, _) in after.items() if raw == ""] == [1, 2, 3]
    assert {after[n][1] for n in (1, 2, 3)} == {NOW}
    assert after[4] == (before[4].raw_text, None)
    assert after[5] == (before[5].raw_text, None)
    for stored in list_stored_dead_letters(engine):
        kept = before[stored.letter.line]
        assert stored.letter.error_code == kept.error_code == "PERSON_ID_CHECK"
        assert (stored.letter.file, stored.letter.line) == (kept.file, kept.line)
        assert stored.letter.message_en == kept.message_en
        assert stored.letter.dead_letter_id == kept.dead_letter_id
    # Again: nothing more to purge, and the purge time stays the first one.
    assert purge_raw_text(engine, retention_days=90, now=NOW + timedelta(hours=1)) == 0
    assert {_by_line(engine)[n][1] for n in (1, 2, 3)} == {NOW}


def test_a_purged_letter_delivered_again_stays_purged(engine: Engine) -> None:
    purge_raw_text(engine, retention_days=90, now=NOW)
    assert save_dead_letters(engine, [_letter(1, 100)]) == []
    assert _by_line(engine)[1] == ("", NOW)


def test_the_purge_command_uses_the_retention_setting(engine: Engine, database_url: str) -> None:
    env = {
        **os.environ,
        "PENSIONX_DATABASE_URL": database_url,
        "PENSIONX_DEAD_LETTER_RAW_RETENTION_DAYS": "30",
        "PENSIONX_LOG_FORMAT": "json",
    }
    # The command purges against the real clock: move the letters' ages to count from today.
    with engine.begin() as conn:
        shift = datetime.now(UTC) - NOW
        for stored in list_stored_dead_letters(engine):
            conn.execute(
                dead_letters.update()
                .where(dead_letters.c.dead_letter_id == stored.letter.dead_letter_id)
                .values(received_at=stored.letter.received_at + shift)
            )
    done = subprocess.run(
        [sys.executable, "-m", "pensionx", "dead-letters", "purge"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "purged the raw text of 4 dead letter(s) received over 30 day(s) ago" in done.stdout
    assert PERSON not in done.stdout + done.stderr
    assert [line for line, (raw, _) in _by_line(engine).items() if raw] == [5]
    refused = subprocess.run(
        [sys.executable, "-m", "pensionx", "dead-letters", "purge", "--retention-days", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2
    assert "--retention-days must be 1 or more" in refused.stderr


def test_the_periodic_purge_of_pensionx_run_purges_and_stops(engine: Engine) -> None:
    with engine.begin() as conn:  # make line 1 old by today's clock
        conn.execute(
            dead_letters.update()
            .where(dead_letters.c.line == 1)
            .values(received_at=datetime.now(UTC) - timedelta(days=400))
        )
        conn.execute(
            dead_letters.update()
            .where(dead_letters.c.line != 1)
            .values(received_at=datetime.now(UTC) - timedelta(days=1))
        )
    stop = threading.Event()
    thread = threading.Thread(target=purge_periodically, args=(engine, 90, stop, 0.05))
    thread.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while _by_line(engine)[1][0] and datetime.now(UTC) < deadline:
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert [line for line, (raw, _) in _by_line(engine).items() if not raw] == [1]


def test_the_api_shows_raw_text_to_auditors_and_masks_it_for_other_roles(
    engine: Engine,
) -> None:
    purge_raw_text(engine, retention_days=90, now=NOW)
    auditor = create_token(engine, "auditor", "auditor-a")
    supervisor = create_token(engine, "supervisor", "supervisor-s")
    agency = create_token(engine, "agency", "baoji-office", regions=["6103"])
    with TestClient(make_app(engine, clock=lambda: NOW)) as client:

        def page(token: str, **params: str) -> Any:  # the client's Response
            return client.get(
                "/api/v1/dead-letters",
                params=params,
                headers={"Authorization": f"Bearer {token}"},
            )

        seen = page(auditor).json()
        assert [item["line"] for item in seen["items"]] == [1, 2, 3, 4, 5]
        assert [item["raw_text"].split(",")[0] for item in seen["items"][3:]] == [PERSON] * 2
        assert not any(item["raw_masked"] for item in seen["items"])
        assert [item["raw_purged"] for item in seen["items"]] == [True] * 3 + [False] * 2

        masked = page(supervisor).json()
        assert PERSON not in str(masked)
        assert [item["raw_text"].split(",")[0] for item in masked["items"][3:]] == [MASKED] * 2
        assert all(item["raw_masked"] for item in masked["items"])

        filtered = page(supervisor, code="PERSON_ID_CHECK", limit="2", offset="3").json()
        assert ([i["line"] for i in filtered["items"]], filtered["has_more"]) == ([4, 5], False)

        refused = page(agency)
        assert refused.status_code == 403
        assert "may not read dead letters" in refused.json()["detail"]
        assert client.get("/api/v1/dead-letters").status_code == 401
