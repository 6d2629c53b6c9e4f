"""Memory per person in the conflict service's state: the memory store and the RocksDB store.

Each person has a year of monthly facts: twelve pension contributions and twelve wage lines
from one employer, with the person's name on the contributions — built with the exchange's own
``ledger.apply``, so the ledger is exactly what the service stores (two runs of months with
their sampled record ids, one name). Three stores, each in a fresh subprocess, RSS read from
``/proc/self/status`` before and after:

* ``memory``: a plain dict person id -> ``PersonLedger.to_dict()`` (what Faust's memory store
  holds for the ``person-ledgers`` table);
* ``objects``: a dict person id -> ``PersonLedger`` (what the service's ``LedgerCache`` keeps
  beside the table, for up to 200,000 people);
* ``rocksdb``: rocksdict opened with the options the conflict service gives its table
  (``services.app.table_options``: a bounded block cache and two memtables per partition store,
  from ``PENSIONX_ROCKSDB_*``) turned into options exactly as Faust's store does
  (``RocksDBOptions(**options).as_options()``): key bytes -> JSON bytes. All people written,
  flushed and compacted, then *every* person read back in random order (a monthly peak reads
  everyone), so the block cache is as full as it gets; RSS then, RocksDB's own account of its
  memory (block cache usage against its cap, memtables, index and filter blocks held outside
  the cache), and the size on disk.

RocksDB's resident memory is modelled as what it is: per partition store a fixed budget (block
cache cap + memtables), plus index and filter blocks that grow with the people held. Two sizes
(N/4 and N) give the growth per person of everything but the cache and memtables; the 10M
figure is ``partitions x (cache cap + 2 x write buffer) + fixed + per-person x 10M``, the
partitions being ``PENSIONX_PARTITIONS`` (the worst case: one worker holding every partition).

Only the first ``TEMPLATES`` ledgers are built with ``apply``; the rest are the same structure
with the person id and event ids rewritten (the JSON text re-parsed, so no string is shared
between people — as after a changelog restore).

Target (issue 9): 10M people fit in 4 GiB with RocksDB; the memory store's per-person figure is
stated. ``python -m bench.state_bench [--people 1000000] [--quick]`` writes
``bench/results-state.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results-state.json")
TARGET_PEOPLE = 10_000_000
TARGET_BYTES = 4 * 1024**3
CACHE_LIMIT = 200_000  # services.conflicts.service.LedgerCache's default limit
TEMPLATES = 1000


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def year_ledger(i: int) -> dict[str, Any]:
    """The stored form of person ``i``'s ledger after a year of monthly facts."""
    from bench.stream_bench import person
    from pensionx.core import ledger as ledgers
    from pensionx.core.codes import Insurance
    from pensionx.core.events import TAX_BUREAU, ContributionPaid, WageWithheld
    from pensionx.core.months import Month

    pid = person(i)
    uscc = "91610302MA6X123457"
    received = datetime(2026, 12, 1, tzinfo=UTC)
    ledger = ledgers.empty(pid)
    for m in range(1, 13):
        day = date(2026, m, 15)
        contribution = ContributionPaid(
            event_id=f"tax:sha256:{i:016x}{m:016x}", source_agency=TAX_BUREAU, occurred_on=day,
            received_at=received, person_id=pid, period=Month(2026, m),
            insurance=Insurance.PENSION, base=Decimal("6000.00"), paid_on=day,
            region_code="610302", uscc=uscc, person_name="王秀英",
        )  # fmt: skip
        wage = WageWithheld(
            event_id=f"wages:sha256:{i:016x}{m:016x}", source_agency=TAX_BUREAU,
            occurred_on=day, received_at=received, uscc=uscc, person_id=pid,
            period=Month(2026, m), gross_wage=Decimal("7200.00"), region_code="610302",
        )  # fmt: skip
        ledger = ledgers.apply(ledger, contribution)
        ledger = ledgers.apply(ledger, wage)
    return ledger.to_dict()


def people(n: int) -> Iterator[tuple[str, str]]:
    """(person id, JSON of the stored ledger) for ``n`` distinct people."""
    from bench.stream_bench import person

    templates = []
    for t in range(min(TEMPLATES, n)):
        text = json.dumps(year_ledger(t), ensure_ascii=False, separators=(",", ":"))
        templates.append((person(t), f"{t:016x}", text))
    for i in range(n):
        pid_t, hex_t, text = templates[i % len(templates)]
        pid = _distinct_person(i)
        yield pid, text.replace(pid_t, pid).replace(hex_t, f"{i:016x}")


def _distinct_person(i: int) -> str:
    # 18 characters like a real id; unique for any i < 10**11 (check char not needed here)
    return f"61{i:011d}00000"[:17] + "X"


def measure_store(store: str, n: int, folder: Path) -> dict[str, Any]:
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    out: dict[str, Any] = {"store": store, "people": n}
    if store == "memory":
        table: dict[str, Any] = {}
        for pid, text in people(n):
            table[pid] = json.loads(text)
        out["sample_json_bytes"] = len(json.dumps(table[pid], ensure_ascii=False))
    elif store == "objects":
        from pensionx.core.ledger import PersonLedger

        cache: dict[str, Any] = {}
        for pid, text in people(n):
            cache[pid] = PersonLedger.from_dict(json.loads(text))
    else:
        out.update(_rocksdb(n, folder, before))
    gc.collect()
    out["seconds"] = round(time.perf_counter() - started, 1)
    out["rss_growth_bytes"] = rss_bytes() - before
    out["rss_bytes_per_person"] = round(out["rss_growth_bytes"] / n)
    return out


def rocksdb_options() -> dict[str, Any]:
    """The table options the conflict worker passes to Faust (services.app.table_options)."""
    from pensionx.settings import Settings
    from services.app import table_options

    return table_options(Settings.from_env())


def _rocksdb(n: int, folder: Path, before: int) -> dict[str, Any]:
    import rocksdict
    from faust.stores.rocksdb import RocksDBOptions

    options = rocksdb_options()
    path = folder / "person-ledgers-0.db"
    db = rocksdict.Rdict(str(path), options=RocksDBOptions(**options).as_options())
    batch = rocksdict.WriteBatch(raw_mode=True)
    value_bytes = 0
    for written, (pid, text) in enumerate(people(n), 1):
        value = text.encode()
        value_bytes += len(value)
        batch.put(pid.encode(), value)
        if written % 10_000 == 0:
            db.write(batch)
            batch = rocksdict.WriteBatch(raw_mode=True)
    db.write(batch)
    after_write = rss_bytes()
    db.flush()
    db.compact_range(None, None)
    order = list(range(n))
    random.Random(9).shuffle(order)
    missing = sum(1 for i in order if db.get(_distinct_person(i).encode()) is None)
    if missing:
        raise RuntimeError(f"{missing} of {n} people did not read back from RocksDB")
    gc.collect()
    after_read = rss_bytes()

    def prop(name: str) -> int:
        return int(db.property_int_value(name) or 0)

    held = {
        "block_cache_usage": prop("rocksdb.block-cache-usage"),
        "block_cache_capacity": prop("rocksdb.block-cache-capacity"),
        "memtables": prop("rocksdb.size-all-mem-tables"),
        "index_and_filter": prop("rocksdb.estimate-table-readers-mem"),
    }
    disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    sst = sum(f.stat().st_size for f in path.rglob("*.sst"))
    db.close()
    growth = after_read - before
    return {
        "options": options,
        "value_json_bytes_per_person": round(value_bytes / n),
        "rss_after_write": after_write,
        "rss_after_reading_all": after_read,
        # while open, after writing everyone and reading everyone back: what a worker holds
        "rss_growth_open_bytes": growth,
        "rocksdb_memory": held,
        # everything resident but the block cache and memtables, which the model caps per store
        "rss_beyond_cache_and_memtables": growth - held["block_cache_usage"] - held["memtables"],
        "disk_bytes": disk,
        "sst_bytes": sst,
        "disk_bytes_per_person": round(disk / n),
    }


def run_child(store: str, n: int, folder: Path) -> dict[str, Any]:
    out = folder / f"{store}.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.state_bench", "--child", store, "--people", str(n),
         "--folder", str(folder)],
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"state child {store} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50,000 people")
    parser.add_argument("--child", choices=("memory", "objects", "rocksdb"))
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args(argv)
    n = 50_000 if args.quick else args.people
    if args.child:
        assert args.folder is not None
        result = measure_store(args.child, n, args.folder)
        (args.folder / f"{args.child}.json").write_text(json.dumps(result))
        return 0
    stores: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        stores["memory"] = run_child("memory", n, folder)
        stores["objects"] = run_child("objects", min(n, CACHE_LIMIT), folder)
        try:
            import rocksdict  # noqa: F401

            stores["rocksdb_quarter"] = run_child("rocksdb", n // 4, folder)
            shutil.rmtree(folder / "person-ledgers-0.db", ignore_errors=True)
            stores["rocksdb"] = run_child("rocksdb", n, folder)
        except ImportError:
            stores["rocksdb"] = {"skipped": "rocksdict is not installed"}
        shutil.rmtree(folder / "person-ledgers-0.db", ignore_errors=True)
    result = summarise(n, stores)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print_summary(result)
    return 0 if result.get("rocksdb_target_met") else 1


def summarise(n: int, stores: dict[str, Any]) -> dict[str, Any]:
    gib = 1024**3
    memory = stores["memory"]
    objects = stores["objects"]
    result: dict[str, Any] = {
        "benchmark": "state",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "people": n,
        "facts_per_person": "12 pension contributions + 12 wage lines, one employer, one name",
        "stores": stores,
        "memory_store_bytes_per_person": memory["rss_bytes_per_person"],
        "memory_store_10m_gib": round(memory["rss_bytes_per_person"] * TARGET_PEOPLE / gib, 1),
        "ledger_cache_bytes_per_person": objects["rss_bytes_per_person"],
        "ledger_cache_full_gib": round(objects["rss_bytes_per_person"] * CACHE_LIMIT / gib, 2),
        "target_people": TARGET_PEOPLE,
        "target_gib": TARGET_BYTES / gib,
    }
    rocks = stores.get("rocksdb", {})
    if "disk_bytes" in rocks:
        result.update(rocksdb_model(rocks, stores["rocksdb_quarter"]))
        # With RocksDB the LedgerCache also keeps each ledger's stored dict (the store hands
        # back a new one per read, compared by value), so a full cache costs both.
        cache = (objects["rss_bytes_per_person"] + memory["rss_bytes_per_person"]) * CACHE_LIMIT
        worker = result["rocksdb_10m_rss_gib"] * gib + cache
        result["ledger_cache_full_with_rocksdb_gib"] = round(cache / gib, 2)
        result["worker_10m_rss_gib"] = round(worker / gib, 2)
        result["rocksdb_target_met"] = worker < TARGET_BYTES
    return result


def rocksdb_model(rocks: dict[str, Any], quarter: dict[str, Any]) -> dict[str, Any]:
    """RocksDB's resident memory at 10M people: a fixed budget per partition store plus what
    grows per person (index and filter blocks), from two measured sizes."""
    from pensionx.settings import Settings

    gib = 1024**3
    options = rocks["options"]
    per_store = options["block_cache_size"] + (
        options["write_buffer_size"] * options["max_write_buffer_number"]
    )
    stores = Settings.from_env().partitions
    # Growth per person of what is resident beyond the (capped) cache and memtables; RSS noise
    # can make it slightly negative, and RocksDB's own count of index and filter blocks is a
    # floor for it.
    slope = (
        rocks["rss_beyond_cache_and_memtables"] - quarter["rss_beyond_cache_and_memtables"]
    ) / (rocks["people"] - quarter["people"])
    index_filter = rocks["rocksdb_memory"]["index_and_filter"] / rocks["people"]
    slope = max(slope, index_filter, 0.0)
    fixed = max(rocks["rss_beyond_cache_and_memtables"] - slope * rocks["people"], 0.0)
    at_target = stores * per_store + fixed + slope * TARGET_PEOPLE
    held = rocks["rocksdb_memory"]
    return {
        "rocksdb_options_per_store": options,
        "rocksdb_stores_modelled": stores,
        "rocksdb_fixed_mib_per_store": round(per_store / 1024**2),
        "rocksdb_cache_bounded": held["block_cache_usage"] <= held["block_cache_capacity"],
        "rocksdb_cache_usage_mib": round(held["block_cache_usage"] / 1024**2, 1),
        "rocksdb_rss_after_reading_all_mib": round(rocks["rss_growth_open_bytes"] / 1024**2),
        "rocksdb_index_filter_bytes_per_person": round(index_filter, 1),
        "rocksdb_rss_bytes_per_person_marginal": round(slope, 1),
        # every store's cap and memtables plus what else RocksDB holds: the whole fixed part
        "rocksdb_rss_fixed_mib": round((stores * per_store + fixed) / 1024**2),
        "rocksdb_rss_fixed_other_mib": round(fixed / 1024**2),
        "rocksdb_disk_bytes_per_person": rocks["disk_bytes_per_person"],
        "rocksdb_10m_disk_gib": round(rocks["disk_bytes_per_person"] * TARGET_PEOPLE / gib, 2),
        "rocksdb_10m_rss_gib": round(at_target / gib, 2),
        "rocksdb_target_met": at_target < TARGET_BYTES,
    }


def print_summary(r: dict[str, Any]) -> None:
    print(f"{r['people']:,} people, {r['facts_per_person']}:")
    m = r["stores"]["memory"]
    print(
        f"  memory store (dict of to_dict())   {m['rss_bytes_per_person']:>6} B/person"
        f"  -> 10M: {r['memory_store_10m_gib']} GiB"
    )
    o = r["stores"]["objects"]
    print(
        f"  LedgerCache (PersonLedger objects) {o['rss_bytes_per_person']:>6} B/person"
        f"  -> full cache ({CACHE_LIMIT:,}): {r['ledger_cache_full_gib']} GiB"
    )
    if "rocksdb_disk_bytes_per_person" in r:
        print(
            f"  RocksDB (the service's options)  after reading everyone back:"
            f" RSS +{r['rocksdb_rss_after_reading_all_mib']} MiB, block cache"
            f" {r['rocksdb_cache_usage_mib']} MiB (bounded: {r['rocksdb_cache_bounded']})"
        )
        print(
            f"    model: {r['rocksdb_stores_modelled']} stores x"
            f" {r['rocksdb_fixed_mib_per_store']} MiB + {r['rocksdb_rss_fixed_other_mib']} MiB +"
            f" {r['rocksdb_rss_bytes_per_person_marginal']} B/person"
            f" (index+filter {r['rocksdb_index_filter_bytes_per_person']} B),"
            f" {r['rocksdb_disk_bytes_per_person']} B/person on disk"
            f"  -> 10M: {r['rocksdb_10m_rss_gib']} GiB RSS, {r['rocksdb_10m_disk_gib']} GiB disk"
        )
        print(
            f"  worker at 10M: RocksDB {r['rocksdb_10m_rss_gib']} GiB + full LedgerCache"
            f" {r['ledger_cache_full_with_rocksdb_gib']} GiB = {r['worker_10m_rss_gib']} GiB"
            f" (target < {TARGET_BYTES / 1024**3:.0f} GiB)"
        )
    else:
        print(f"  RocksDB: {r['stores']['rocksdb'].get('skipped')}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    raise SystemExit(main())
