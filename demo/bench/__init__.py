"""The benchmarks behind `manage.py bench_events`, `bench_ingest` and `bench_seed`: each module
measures, its command only parses the arguments and calls it."""

from __future__ import annotations


class BenchError(Exception):
    """The benchmark cannot run here, or what it measured went wrong: no figures to trust."""
