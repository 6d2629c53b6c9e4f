"""The conflict service's table store: chosen by PENSIONX_STATE_STORE, its RocksDB memory bounded.

Faust hands a table's ``options`` to every partition store it opens (``RocksDBOptions``); the
test builds the real Faust table and store (no broker is contacted) and reads them back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pensionx.avro import Codec, InMemorySchemaRegistry
from pensionx.core.months import Month
from pensionx.errors import ConfigurationError
from pensionx.kafka_config import KafkaTarget
from pensionx.settings import Settings
from services.app import MIB, create_app, store_url, table_options
from services.conflicts.service import TABLE_NAME, build_conflict_service


def test_the_store_and_its_bounds_come_from_the_settings() -> None:
    assert store_url(Settings.from_env({})) == "memory://"
    settings = Settings.from_env(
        {
            "PENSIONX_STATE_STORE": "rocksdb",
            "PENSIONX_ROCKSDB_BLOCK_CACHE_MIB": "64",
            "PENSIONX_ROCKSDB_WRITE_BUFFER_MIB": "16",
        }
    )
    assert store_url(settings) == "pensionx-rocksdb://"
    assert table_options(settings) == {
        "block_cache_size": 64 * MIB,
        "write_buffer_size": 16 * MIB,
        "max_write_buffer_number": 2,
    }


def test_a_wrong_store_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigurationError, match="memory, rocksdb"):
        Settings.from_env({"PENSIONX_STATE_STORE": "redis"})


def test_faust_opens_the_ledger_table_with_the_bounded_options(tmp_path: Path) -> None:
    settings = Settings.from_env({"PENSIONX_STATE_STORE": "rocksdb"})
    target = KafkaTarget(bootstrap_servers=("127.0.0.1:9",), embedded=False)
    app = create_app(
        "pensionx-store-options-test",
        target,
        partitions=1,
        data_dir=tmp_path,
        store=store_url(settings),
    )
    codec = Codec(InMemorySchemaRegistry())
    build_conflict_service(
        app,
        codec,
        as_of=lambda: Month(2026, 11),
        partitions=1,
        table_options=table_options(settings),
    )
    store = app.tables[TABLE_NAME].data
    assert type(store).__name__ == "PartitionedRocksDBStore"
    rocks = store.rocksdb_options
    assert rocks.block_cache_size == settings.rocksdb_block_cache_mib * MIB
    assert rocks.write_buffer_size == settings.rocksdb_write_buffer_mib * MIB
    assert rocks.max_write_buffer_number == 2
