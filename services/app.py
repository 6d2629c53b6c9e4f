"""Building a Faust app for the exchange's stream processors from a :class:`KafkaTarget`.

All processors share these choices: manual at-least-once processing (never Faust's experimental
exactly-once: it cannot even start on the embedded broker, NOTES-KAFKA.md), no web server unless
asked, short group sessions against the embedded broker, and — because Tansu's ListOffsets
reports wrong end offsets — no recovery consistency check there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pensionx.kafka_config import KafkaTarget
from pensionx.settings import Settings

MIB = 1024**2
ROCKSDB_MEMTABLES = 2
"""Memtables per RocksDB store: one filling while the other is flushed (Faust's default is 3)."""


ROCKSDB_STORE = "pensionx-rocksdb"
"""Store scheme of :class:`PartitionedRocksDBStore` (registered with Faust's store registry)."""


def store_url(settings: Settings) -> str:
    """The Faust table store ``PENSIONX_STATE_STORE`` asks for."""
    return f"{ROCKSDB_STORE}://" if settings.state_store == "rocksdb" else "memory://"


def _partitioned_rocksdb_store() -> type[Any]:
    from faust.stores.rocksdb import Store

    from services.markers import partition_for

    class PartitionedRocksDBStore(Store):
        """Faust's RocksDB store, keeping each key in the store of its changelog partition.

        Faust's store puts a key into the RocksDB of the partition of the event being processed
        (``current_event()``). The conflict service takes events in batches that mix partitions
        and writes each ledger after the batch, under whichever event is current then, so a
        person's ledger would land, version by version, in other partitions' stores; a read
        searching every store can then return a stale version (lost updates, missing conflicts:
        tests/integration/test_conflict_service.py caught it), and a rebalance moves the wrong
        keys. The service therefore says which partition a ledger belongs to (:meth:`put_at`:
        the input partition its person's events came in on, which is also the changelog
        partition it sends the record to, and the one recovery restores it into).
        """

        def put_at(self, key: Any, value: Any, partition: int) -> None:
            """Store ``key`` in the store of ``partition`` (no changelog send)."""
            raw_key, raw_value = self._encode_key(key), self._encode_value(value)
            self._key_index[raw_key] = partition
            self._db_for_partition(partition).put(raw_key, raw_value)

        def _set(self, key: bytes, value: bytes | None) -> None:
            if not self.table.use_partitioner:
                super()._set(key, value)
                return
            # A write without a partition (not the service's path): hash the person id as the
            # input's producer did (murmur2 of the raw id), not the table's JSON-quoted key.
            raw = key[1:-1] if key[:1] == b'"' and key[-1:] == b'"' else key
            partition = partition_for(raw, self.table.partitions or self.app.conf.topic_partitions)
            self._key_index[key] = partition
            self._db_for_partition(partition).put(key, value)

    return PartitionedRocksDBStore


def register_stores() -> None:
    """Make ``pensionx-rocksdb://`` a Faust store URL (idempotent)."""
    from faust.stores import STORES

    if ROCKSDB_STORE not in STORES.aliases:
        STORES.aliases[ROCKSDB_STORE] = "services.app:PartitionedRocksDBStore"


def __getattr__(name: str) -> Any:
    # The store class is built on first use, so importing this module does not import Faust.
    if name == "PartitionedRocksDBStore":
        cls = _partitioned_rocksdb_store()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def table_options(settings: Settings) -> dict[str, Any]:
    """``options=`` for ``app.Table``: the RocksDB store's memory bounds (a memory store
    ignores them).

    Faust opens one RocksDB store per table partition a worker holds, each with its own block
    cache and memtables, and passes the table's ``options`` to each store's
    ``RocksDBOptions`` (faust/stores/rocksdb.py, ``Store.__init__``). Faust's defaults (a
    2 GiB cache cap and 3 x 64 MiB memtables per store) add up to ~13 GiB on a worker holding
    6 partitions; with these bounds a store holds at most ``block cache + 2 x write buffer``
    plus its index and filter blocks (a few bytes per person): bench/state_bench.py.
    """
    return {
        "block_cache_size": settings.rocksdb_block_cache_mib * MIB,
        "write_buffer_size": settings.rocksdb_write_buffer_mib * MIB,
        "max_write_buffer_number": ROCKSDB_MEMTABLES,
    }


def create_app(
    app_id: str,
    target: KafkaTarget,
    *,
    partitions: int,
    replication_factor: int = 1,
    data_dir: Path | None = None,
    store: str = "memory://",
    web_port: int | None = None,
    **overrides: Any,
) -> Any:
    """A configured ``faust.App``; agents and tables are attached by the service modules."""
    import faust

    register_stores()
    conf: dict[str, Any] = {
        **target.faust_config(),
        "store": store,
        "topic_partitions": partitions,
        "topic_replication_factor": replication_factor,
        "topic_allow_declare": True,
        "processing_guarantee": "at_least_once",
        "web_enabled": web_port is not None,
        "consumer_auto_offset_reset": "earliest",
        # Faust's own default (60 s) makes a first join on Tansu take ~32 s; its rebalance
        # waits are likewise shortened only where the broker is ours.
        "stream_wait_empty": False,
    }
    if web_port is not None:
        conf["web_port"] = web_port
        conf["web_bind"] = "127.0.0.1"
    if data_dir is not None:
        conf["datadir"] = str(data_dir)
    if target.embedded:
        conf["recovery_consistency_check"] = False
    conf.update(overrides)
    return faust.App(app_id, **conf)
