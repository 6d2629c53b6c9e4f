"""`pensionx replay` end to end, as a user runs it, against the generator's answer key:
every prompt, every conflict, every dead letter on the right file and line — none extra."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from pensionx.generator import generate

pytestmark = pytest.mark.integration

AS_OF = date(2026, 11, 20)


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


def test_replay_outputs_are_exactly_the_answer_key(tmp_path: Path) -> None:
    feeds, out = tmp_path / "feeds", tmp_path / "out"
    key = generate(feeds, enterprises=30, persons=200, seed=21, as_of=AS_OF)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PENSIONX_")}
    env.update(PENSIONX_DATA_DIR=str(tmp_path / "var"), PENSIONX_PARTITIONS="3")
    result = subprocess.run(
        [
            sys.executable, "-m", "pensionx", "replay", str(feeds), "--as-of", AS_OF.isoformat(),
            "--out", str(out), "--timeout", "240",
        ],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "prompts per kind" in result.stdout

    prompts = _rows(out / "prompts.jsonl")
    got_prompts = {(p["kind"], p["uscc"], p["period"], p["priority"]) for p in prompts}
    assert got_prompts == {(p.kind, p.uscc, p.period, p.priority) for p in key.prompts}
    assert len({p["prompt_id"] for p in prompts}) == len(prompts)

    conflicts = _rows(out / "conflicts.jsonl")
    got_conflicts = {(c["rule"], c["person_id"], c["severity"], c["status"]) for c in conflicts}
    assert got_conflicts == {(c.rule, c.person_id, c.severity, c.status) for c in key.conflicts}
    for conflict in conflicts:
        assert conflict["conflict_id"].startswith("C-")
        estimate = conflict["overpayment_estimate"]
        assert estimate is None or isinstance(estimate, str)  # money as decimal strings

    letters = _rows(out / "dead-letters.jsonl")
    got_letters = {(d["feed"], d["file"], d["line"], d["error_code"]) for d in letters}
    assert {(f, ln, c) for _, f, ln, c in got_letters} == {
        (d.file, d.line, d.error_code) for d in key.dead_letters
    }
    print(
        f"\nreplay: {len(prompts)} prompts, {len(conflicts)} conflicts, {len(letters)} dead "
        "letters; missing 0, extra 0"
    )


def test_replay_of_a_folder_without_feed_files_fails_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a feed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PENSIONX_")}
    env["PENSIONX_DATA_DIR"] = str(tmp_path / "var")
    result = subprocess.run(
        [
            sys.executable, "-m", "pensionx", "replay", str(tmp_path), "--as-of", "2026-11-20",
            "--out", str(tmp_path / "out"),
        ],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "no feed files" in result.stderr
    assert "Traceback" not in result.stderr
