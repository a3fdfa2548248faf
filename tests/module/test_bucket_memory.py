"""Memory stays flat in the number of buckets: peak memory with every bucket bound and trained
is within 5% of the largest bucket alone (each case in its own process, peak RSS above the
pre-bind baseline; experiments/bench_bucket_memory.py at a small size)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "experiments"))

import bench_bucket_memory  # noqa: E402


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_all_buckets_cost_no_more_memory_than_the_largest():
    result = bench_bucket_memory.main(["--vocab", "8000", "--hidden", "32", "--layers", "1",
                                       "--batch-size", "32", "--batches", "1",
                                       "--buckets", "10", "20", "30", "40"])
    assert result["all"]["buckets_bound"] == 4
    assert result["largest"]["peak_bytes"] > 30 * 2**20
    assert result["ratio"] <= 1.05, result
