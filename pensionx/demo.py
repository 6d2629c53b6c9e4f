"""`pensionx run --demo`: a realistic sample fed through the drop folders, and a way in to look.

Once the exchange is up, a sample (a few thousand people and a few hundred enterprises, with
every prompt kind and conflict rule planted) is generated and dropped into the inbox the way an
agency would deliver it — written under a temporary name, then renamed — and an auditor token is
created so the dashboard can be opened at once. The answer key stays beside the sample, so what
the dashboard shows can be checked against what was planted.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from pensionx.logs import get_logger
from pensionx.settings import Settings

log = get_logger(__name__)

DEMO_PERSONS = 3000
DEMO_ENTERPRISES = 300


def feed_sample(settings: Settings, drop_root: Path, *, seed: int = 2026) -> tuple[Path, int]:
    """Generate the sample under the data dir and drop its feed files; returns (sample, files)."""
    from connectors.readers import feed_from_name
    from pensionx.generator import ANSWER_KEY_FILE, generate

    sample = settings.data_path / "demo-sample"
    if sample.exists():
        shutil.rmtree(sample)
    today = datetime.now(UTC).date()
    generate(
        sample, enterprises=DEMO_ENTERPRISES, persons=DEMO_PERSONS, seed=seed, as_of=today
    )
    dropped = 0
    for path in sorted(sample.iterdir()):
        if path.name == ANSWER_KEY_FILE:
            continue
        feed = feed_from_name(path.name)
        folder = drop_root / feed.value
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / (path.name + ".part")
        shutil.copyfile(path, part)
        part.rename(folder / path.name)  # atomic: the inbox never sees half a file
        dropped += 1
    log.info("demo sample dropped", files=dropped, sample=str(sample))
    return sample, dropped


def demo_token(settings: Settings) -> str:
    """A fresh auditor token for the demo's dashboard (stored hashed like any other)."""
    from pensionx.bootstrap import open_database
    from pensionx.web.tokens import create_token

    engine = open_database(settings)
    try:
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        return create_token(engine, "supervisor", f"demo-{stamp}")
    finally:
        engine.dispose()
