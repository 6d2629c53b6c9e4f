"""The stream benchmark on Apache Kafka: ``python -m bench.stream_bench --broker kafka``.

A module of its own so that ``python -m bench`` runs it as the ``stream_kafka`` benchmark and
keeps its figures (``bench/results-stream_kafka.json``) beside the embedded broker's.
"""

from __future__ import annotations

import sys

from bench.stream_bench import main

if __name__ == "__main__":
    raise SystemExit(main(["--broker", "kafka", *sys.argv[1:]]))
