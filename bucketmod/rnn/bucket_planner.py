"""Choose bucket lengths that minimise padding, and measure the padding of any bucket list.

MXNet has no planner; its users hand-pick buckets (lstm_bucketing.py: 10, 20, ..., 60) or let
`BucketSentenceIter` take every length with at least `batch_size` sentences. The cost here
models what `BucketSentenceIter` really does with a bucket list in one epoch:

- a sentence goes to the smallest bucket at least as long as it, padded to that length;
  sentences longer than the largest bucket are discarded;
- without `batch_size`, every sentence is served once: padding = sum(bucket - length);
- with `batch_size`, a bucket of `n` sentences serves `n // batch_size` full batches of
  `batch_size * bucket` slots; the other `n % batch_size` sentences (a fresh random choice
  each epoch) wait for a later epoch. The served sentences are a uniform random subset, so
  the expected real tokens are `served / n * tokens(bucket)` and the padding is the rest of
  the slots. A bucket with fewer than `batch_size` sentences never serves any.

`plan_buckets` minimises that padding exactly: a bucket list splits the sorted distinct
lengths into contiguous groups, each padded to its longest length, so dynamic programming over
groups (O(buckets x distinct lengths^2)) finds the optimum. Its largest bucket is always the
longest sentence (nothing is discarded), no bucket is shorter than 1 (empty sentences share
the shortest bucket), and with `batch_size` every bucket must hold at least
`batch_size` sentences, so no bucket is a dead one that serves nothing.
"""
import numbers
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PaddingReport:
    """Padding of one bucket list over one epoch (expected values when `batch_size` is set).

    Attributes:
        buckets: the bucket lengths, sorted.
        counts: sentences falling in each bucket.
        served: sentences of each bucket served per epoch (whole batches only).
        real_tokens: tokens of served sentences.
        padded_tokens: padding slots served.
        waste: `padded_tokens / (real_tokens + padded_tokens)`.
        dropped_too_long: sentences longer than the largest bucket (never served).
        dropped_per_epoch: sentences that fit a bucket but are not served in an epoch.
    """

    buckets: tuple
    counts: tuple
    served: tuple
    real_tokens: float
    padded_tokens: float
    waste: float
    dropped_too_long: int
    dropped_per_epoch: int

    def __str__(self):
        rows = ", ".join(f"{b}:{c}" for b, c in zip(self.buckets, self.counts))
        return (f"buckets {list(self.buckets)}: padded {self.padded_tokens:.0f} of "
                f"{self.real_tokens + self.padded_tokens:.0f} token slots "
                f"({100 * self.waste:.1f}% waste); sentences per bucket {{{rows}}}; "
                f"dropped: {self.dropped_too_long} too long, {self.dropped_per_epoch} "
                f"left over per epoch")


def _check_lengths(lengths):
    arr = np.asarray(lengths)
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"lengths: expected a non-empty 1-D sequence of ints, got "
                         f"{type(lengths).__name__} of shape {arr.shape} and dtype {arr.dtype}")
    if arr.min() < 0:
        raise ValueError(f"lengths: expected lengths >= 0, got {int(arr.min())}")
    return arr.astype(np.int64)


def _check_batch_size(batch_size):
    if batch_size is not None and (isinstance(batch_size, bool)
                                   or not isinstance(batch_size, numbers.Integral)
                                   or batch_size <= 0):
        raise ValueError(f"batch_size: expected None or a positive int, got {batch_size!r}")


def padding_waste(lengths, buckets, batch_size=None):
    """How much padding `BucketSentenceIter(sentences, batch_size, buckets)` serves per epoch.

    Args:
        lengths: sentence lengths, `[N]` ints.
        buckets: bucket lengths (any order).
        batch_size: None to count every sentence once, or the iterator's batch size.

    Returns:
        a `PaddingReport`.

    Example:
        >>> padding_waste([2, 3, 3, 5], [3, 5]).padded_tokens
        1
    """
    lengths = _check_lengths(lengths)
    _check_batch_size(batch_size)
    bounds = np.sort(np.asarray(list(buckets), dtype=np.int64))
    if bounds.size == 0:
        raise ValueError("buckets: expected at least one bucket length, got none")
    which = np.searchsorted(bounds, lengths, side="left")
    fits = which < bounds.size
    counts = np.bincount(which[fits], minlength=bounds.size)
    tokens = np.bincount(which[fits], weights=lengths[fits], minlength=bounds.size)
    served = counts if batch_size is None else (counts // batch_size) * batch_size
    share = np.divide(served, counts, out=np.zeros(bounds.size), where=counts > 0)
    real = float((share * tokens).sum())
    slots = float((served * bounds).sum())
    padded = slots - real
    if batch_size is None:
        real, padded = int(round(real)), int(round(padded))
    return PaddingReport(
        buckets=tuple(int(b) for b in bounds), counts=tuple(int(c) for c in counts),
        served=tuple(int(s) for s in served), real_tokens=real, padded_tokens=padded,
        waste=padded / slots if slots else 0.0, dropped_too_long=int((~fits).sum()),
        dropped_per_epoch=int(counts.sum() - served.sum()))


def _group_costs(values, counts, batch_size, end):
    """Padding of each group `(i, end]` of distinct lengths, for every start i < end."""
    n_cum = np.concatenate([[0], np.cumsum(counts)])
    tok_cum = np.concatenate([[0], np.cumsum(counts * values)])
    n = n_cum[end] - n_cum[:end]
    tok = (tok_cum[end] - tok_cum[:end]).astype(np.float64)
    length = max(values[end - 1], 1)
    if batch_size is None:
        cost = (n * length - tok).astype(np.float64)
    else:
        served = (n // batch_size) * batch_size
        cost = served * length - served / n * tok
        cost[served == 0] = np.inf
    return cost


def plan_buckets(lengths, num_buckets, batch_size=None):
    """Bucket lengths minimising the padding `BucketSentenceIter` serves (see module doc).

    Args:
        lengths: sentence lengths, `[N]` ints.
        num_buckets: the most buckets to use (fewer come back when more would not pay, or
            when there are fewer distinct lengths).
        batch_size: None, or the batch size, which makes the cost per-epoch and requires every
            bucket to hold at least `batch_size` sentences.

    Returns:
        sorted list of bucket lengths; the last is `max(lengths)` (at least 1).

    Example:
        >>> plan_buckets([1, 2, 2, 3, 8, 9, 9], num_buckets=2)
        [3, 9]
    """
    lengths = _check_lengths(lengths)
    _check_batch_size(batch_size)
    if isinstance(num_buckets, bool) or not isinstance(num_buckets, numbers.Integral) \
            or num_buckets <= 0:
        raise ValueError(f"num_buckets: expected a positive int, got {num_buckets!r}")
    if batch_size is not None and lengths.size < batch_size:
        raise ValueError(f"lengths: {lengths.size} sentences cannot fill one batch of "
                         f"batch_size {batch_size}")
    values, counts = np.unique(lengths, return_counts=True)
    k = values.size
    costs = [None] + [_group_costs(values, counts, batch_size, end) for end in range(1, k + 1)]
    best = np.full(k + 1, np.inf)
    best[0] = 0.0
    choices = []
    answers = []
    for _ in range(min(num_buckets, k)):
        nxt = np.full(k + 1, np.inf)
        arg = np.zeros(k + 1, dtype=np.int64)
        for end in range(1, k + 1):
            total = best[:end] + costs[end]
            arg[end] = int(np.argmin(total))
            nxt[end] = total[arg[end]]
        best = nxt
        choices.append(arg)
        answers.append(best[k])
    m = int(np.argmin(answers))
    if not np.isfinite(answers[m]):
        raise ValueError(f"lengths: no bucket list gives every bucket batch_size {batch_size} "
                         f"sentences")
    bounds, end = [], k
    for step in range(m, -1, -1):
        bounds.append(max(int(values[end - 1]), 1))
        end = int(choices[step][end])
    return sorted(bounds)
