"""The bucket planner: optimal against brute force, and its cost model against the iterator."""
import itertools
import random

import numpy as np
import pytest

from bucketmod.rnn.bucket_planner import padding_waste, plan_buckets
from bucketmod.rnn.io import BucketSentenceIter


def _brute_force(lengths, num_buckets, batch_size):
    """Least padding over every bucket list of at most num_buckets lengths ending at the max."""
    top = max(max(lengths), 1)
    best = np.inf
    for m in range(num_buckets):
        for rest in itertools.combinations(range(1, top), m):
            report = padding_waste(lengths, list(rest) + [top], batch_size)
            if batch_size is not None and any(0 < c < batch_size for c in report.counts):
                continue
            best = min(best, report.padded_tokens)
    return best


@pytest.mark.parametrize("batch_size", [None, 1, 2, 3])
def test_plan_buckets_is_optimal(batch_size):
    rng = np.random.RandomState(0 if batch_size is None else batch_size)
    for _ in range(40):
        lengths = rng.randint(0, 11, size=rng.randint(3, 14)).tolist()
        num_buckets = rng.randint(1, 5)
        plan = plan_buckets(lengths, num_buckets, batch_size)
        report = padding_waste(lengths, plan, batch_size)
        assert len(plan) <= num_buckets and plan[-1] == max(max(lengths), 1)
        assert report.dropped_too_long == 0
        if batch_size is not None:
            assert all(c >= batch_size for c in report.counts)
        assert report.padded_tokens == pytest.approx(
            _brute_force(lengths, num_buckets, batch_size), abs=1e-9)


def test_padding_waste_counts():
    report = padding_waste([2, 3, 3, 5, 7], [5, 3])
    assert report.buckets == (3, 5) and report.counts == (3, 1)
    assert (report.real_tokens, report.padded_tokens) == (13, 1)
    assert report.dropped_too_long == 1 and report.dropped_per_epoch == 0
    assert report.waste == pytest.approx(1 / 14)
    assert "7.1% waste" in str(report)


def test_padding_waste_with_batch_size_is_per_epoch_expectation():
    # bucket 4 holds lengths [1, 2, 4] -> one batch of 2 serves 2 of 3 sentences
    report = padding_waste([1, 2, 4, 6, 6], [4, 6], batch_size=2)
    assert report.counts == (3, 2) and report.served == (2, 2)
    assert report.dropped_per_epoch == 1
    assert report.real_tokens == pytest.approx(2 / 3 * 7 + 12)
    assert report.padded_tokens == pytest.approx(8 - 2 / 3 * 7)
    starved = padding_waste([1, 2, 4], [2, 4], batch_size=2)
    assert starved.served == (2, 0) and starved.dropped_per_epoch == 1


def test_padding_waste_matches_bucket_sentence_iter(capsys):
    rng = random.Random(5)
    lengths = [rng.randint(1, 20) for _ in range(300)]
    batch_size = 4
    buckets = plan_buckets(lengths, 4, batch_size)
    # make each bucket a whole number of batches, so one epoch serves every sentence
    report = padding_waste(lengths, buckets, batch_size)
    keep, left = [], dict(zip(buckets, (c % batch_size for c in report.counts)))
    for n in lengths:
        b = next(x for x in buckets if x >= n)
        if left[b]:
            left[b] -= 1
        else:
            keep.append(n)
    report = padding_waste(keep, buckets, batch_size)
    assert report.dropped_per_epoch == 0
    sentences = [[1] * n for n in keep]
    it = BucketSentenceIter(sentences, batch_size, buckets=list(buckets), invalid_label=-1)
    data = [b.data[0].asnumpy() for b in it]
    assert sum((d == -1).sum() for d in data) == report.padded_tokens
    assert sum((d == 1).sum() for d in data) == report.real_tokens


def test_planned_buckets_beat_fixed_ones_on_ptb_like_lengths():
    rng = np.random.RandomState(1)
    lengths = np.clip(rng.gamma(4.3, 5.0, size=5000).astype(int), 1, 80)
    fixed = [10, 20, 30, 40, 50, 60, 80]
    planned = plan_buckets(lengths, len(fixed), batch_size=32)
    assert padding_waste(lengths, planned, 32).padded_tokens < \
        padding_waste(lengths, fixed, 32).padded_tokens


def test_plan_buckets_fewer_distinct_lengths_than_buckets():
    assert plan_buckets([3, 3, 5], 10) == [3, 5]
    assert plan_buckets([0, 0, 4], 3) == [1, 4]
    assert plan_buckets([0, 0], 2) == [1]


@pytest.mark.parametrize("args, words", [
    (([], 2), "lengths"),
    (([1.5, 2], 2), "lengths"),
    (([-1, 2], 2), "lengths >= 0"),
    (([1, 2], 0), "num_buckets"),
    (([1, 2], 2, 0), "batch_size"),
    (([1, 2], 2, 3), "cannot fill one batch"),
])
def test_plan_buckets_bad_input(args, words):
    with pytest.raises(ValueError, match=words):
        plan_buckets(*args)


def test_padding_waste_bad_input():
    with pytest.raises(ValueError, match="buckets"):
        padding_waste([1, 2], [])
