"""The data side of `mx.rnn`: encoding token sentences and serving them in length buckets.

`BucketSentenceIter` reproduces MXNet 1.9.1's batch order exactly: seed python's `random`
(bucket order) and numpy's global RNG (order inside buckets) as for MXNet, and the same
batches come out (checked against fixtures written by MXNet).
"""
import bisect
import functools
import random

import numpy as np
import torch

from ..io import DataBatch, DataDesc, DataIter, check_part
from ..ndarray.ndarray import NDArray, array


def encode_sentences(sentences, vocab=None, invalid_label=-1, invalid_key="\n", start_label=0,
                     unknown_token=None):
    """Map token sentences to integer sentences, building or extending a vocabulary.

    Args:
        sentences: list of lists of str tokens.
        vocab: dict token -> int to encode with; None builds a new one, starting from
            `{invalid_key: invalid_label}` and numbering new tokens from `start_label`
            (skipping `invalid_label`).
        invalid_label, invalid_key: the id and token of "no token" (end of sentence, padding).
        start_label: the lowest id given to a new token.
        unknown_token: every token missing from the vocabulary is encoded as this token. If
            the vocabulary lacks it too, it gets the id MXNet gives it at its first use:
            `start_label` (past `invalid_label`), or the next id no token holds. Without it, a
            token missing from a given `vocab` is an error.

    Returns:
        `(encoded, vocab)`: lists of ints, and the (possibly extended) vocabulary.

    MXNet 1.9.1 gives the unknown token a new id at every unknown word (start_label, then
    start_label + 1, ...), whether or not a real word already holds that id or the token was in
    `vocab`; here it gets one id, never a real word's. Without unknown words both agree exactly.

    Example:
        >>> encode_sentences([['the', 'cat'], ['the', 'dog']], invalid_label=0, start_label=1)
        ([[1, 2], [1, 3]], {'\\n': 0, 'the': 1, 'cat': 2, 'dog': 3})
    """
    new_vocab = vocab is None
    if new_vocab:
        vocab = {invalid_key: invalid_label}
    used = set(vocab.values())
    next_id = start_label
    encoded = []
    for sent in sentences:
        coded = []
        for word in sent:
            if word not in vocab:
                if not (new_vocab or unknown_token):
                    raise AssertionError(f"Unknown token {word!r}: it is not in vocab and no "
                                         f"unknown_token was given")
                if unknown_token:
                    word = unknown_token
                if word not in vocab:
                    while next_id == invalid_label or next_id in used:
                        next_id += 1
                    vocab[word] = next_id
                    used.add(next_id)
            coded.append(vocab[word])
        encoded.append(coded)
    return encoded, vocab


def _pinned(arr):
    """In page-locked memory where CUDA is present, so that a batch reaches the GPU in one
    asynchronous copy (into the executor's bound input)."""
    if torch.cuda.is_available():
        return NDArray(arr.tensor.pin_memory(), arr.context)
    return arr


def _default_buckets(lengths, batch_size):
    """MXNet's automatic buckets: every length at least `batch_size` sentences have."""
    counts = np.bincount(lengths) if len(lengths) else np.zeros(0, dtype=np.int64)
    return [length for length, count in enumerate(counts) if count >= batch_size]


class BucketSentenceIter(DataIter):
    """Batches of encoded sentences, grouped by length into buckets; label = next token.

    A sentence goes to the smallest bucket at least as long as it and is padded with
    `invalid_label`; sentences longer than the largest bucket are discarded. Each epoch
    serves only whole batches: a bucket's last `len % batch_size` sentences (different ones
    each epoch, as reset reshuffles) are not served, and a bucket with fewer sentences than
    `batch_size` serves none (it is still listed in `buckets` and can be
    `default_bucket_key`, as in MXNet). `bucketmod.rnn.bucket_planner` models exactly this.

    Args:
        sentences: list of lists of ints (see `encode_sentences`).
        batch_size: sentences per batch.
        buckets: bucket lengths; None picks every length with at least `batch_size` sentences.
        invalid_label: the padding id, also the label after each sentence's last step.
        data_name, label_name: names in `provide_data`/`provide_label`.
        dtype: dtype of data and label arrays.
        layout: 'NT' gives `[batch_size, bucket]` arrays, 'TN' gives `[bucket, batch_size]`.
        num_parts, part_index: keep only part `part_index` of `num_parts` equal contiguous
            parts of each bucket's sentences (one part per worker of a dist kvstore), so every
            worker serves the same number of batches of each bucket; a bucket's last
            `len % num_parts` sentences are left out. Workers shuffle their parts on their own,
            so in one step they may be in different buckets.

    Attributes:
        buckets: the bucket lengths that hold at least one sentence, sorted.
        default_bucket_key: the largest of them.
    """

    def __init__(self, sentences, batch_size, buckets=None, invalid_label=-1, data_name="data",
                 label_name="softmax_label", dtype="float32", layout="NT", num_parts=1,
                 part_index=0):
        super().__init__()
        check_part("BucketSentenceIter", num_parts, part_index, None)
        if layout not in ("NT", "TN"):
            raise ValueError(f"BucketSentenceIter: layout must be 'NT' (batch major) or 'TN' "
                             f"(time major), got {layout!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError(f"BucketSentenceIter: batch_size must be a positive int, "
                             f"got {batch_size!r}")
        lengths = [len(s) for s in sentences]
        buckets = sorted(_default_buckets(lengths, batch_size) if not buckets else buckets)
        per_bucket = [[] for _ in buckets]
        ndiscard = 0
        for sent in sentences:
            b = bisect.bisect_left(buckets, len(sent))
            if b == len(buckets):
                ndiscard += 1
                continue
            row = np.full((buckets[b],), invalid_label, dtype=dtype)
            row[:len(sent)] = sent
            per_bucket[b].append(row)
        print(f"WARNING: discarded {ndiscard} sentences longer than the largest bucket.")
        kept = [i for i, rows in enumerate(per_bucket) if rows]
        if not kept:
            raise ValueError(f"BucketSentenceIter: no sentence fits any bucket (buckets "
                             f"{buckets}, {len(sentences)} sentences, batch_size {batch_size})")
        self.buckets = [buckets[i] for i in kept]
        self.data = []
        for i in kept:
            share = len(per_bucket[i]) // num_parts
            rows = per_bucket[i][part_index * share:(part_index + 1) * share]
            self.data.append(np.asarray(rows, dtype=dtype).reshape(len(rows), buckets[i]))
        self.batch_size = batch_size
        self.data_name = data_name
        self.label_name = label_name
        self.dtype = dtype
        self.invalid_label = invalid_label
        self.layout = layout
        self.major_axis = layout.find("N")
        self.default_bucket_key = max(self.buckets)
        self.provide_data = [DataDesc(data_name, self._shape(self.default_bucket_key),
                                      layout=layout)]
        self.provide_label = [DataDesc(label_name, self._shape(self.default_bucket_key),
                                       layout=layout)]
        self.idx = [(i, j) for i, rows in enumerate(self.data)
                    for j in range(0, len(rows) - batch_size + 1, batch_size)]
        self.curr_idx = 0
        self.nddata = []
        self.ndlabel = []
        self.reset()

    def _shape(self, bucket):
        return (self.batch_size, bucket) if self.major_axis == 0 else (bucket, self.batch_size)

    def reset(self):
        """Reshuffle the batch order (python `random`) and each bucket's rows (numpy)."""
        self.curr_idx = 0
        random.shuffle(self.idx)
        for rows in self.data:
            np.random.shuffle(rows)
        self.nddata = []
        self.ndlabel = []
        for rows in self.data:
            label = np.empty_like(rows)
            label[:, :-1] = rows[:, 1:]
            label[:, -1] = self.invalid_label
            self.nddata.append(_pinned(array(rows, dtype=self.dtype)))
            self.ndlabel.append(_pinned(array(label, dtype=self.dtype)))

    def next(self):
        if self.curr_idx == len(self.idx):
            raise StopIteration
        i, j = self.idx[self.curr_idx]
        self.curr_idx += 1
        data, label = (NDArray(self._batch_view(rows.tensor, j), rows.context)
                       for rows in (self.nddata[i], self.ndlabel[i]))
        data_desc, label_desc = self._descs[i]
        return DataBatch([data], [label], pad=0, bucket_key=self.buckets[i],
                         provide_data=[data_desc], provide_label=[label_desc])

    def _batch_view(self, rows, start):
        """Rows `start:start + batch_size` of a bucket, as a view (transposed for 'TN')."""
        batch = rows.narrow(0, start, self.batch_size)
        return batch.t() if self.major_axis == 1 else batch

    @functools.cached_property
    def _descs(self):
        """(data, label) DataDesc of each bucket's batches."""
        return [tuple(DataDesc(name, self._shape(bucket), layout=self.layout)
                      for name in (self.data_name, self.label_name))
                for bucket in self.buckets]
