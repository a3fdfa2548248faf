"""MXNet 1.x's bucketing LSTM language model (example/rnn/bucketing/lstm_bucketing.py).

The model code below is MXNet-1.x code run by `import bucketmod as mx`; `--framework mxnet`
runs the very same code with real MXNet 1.9.1 for side-by-side comparisons.

    python experiments/lstm_bucketing.py                      # built-in generated corpus
    python experiments/lstm_bucketing.py --data ../shared/data/ptb --num-epochs 2
    torchrun --nproc_per_node 2 experiments/lstm_bucketing.py --kv-store dist_sync

With a dist kvstore each worker trains on its own part of the sentences (`num_parts`/
`part_index`) with `--batch-size` sentences per batch, so the global batch is `--batch-size`
times the number of workers; validation is split the same way and its perplexity reduced over
the workers. Only rank 0 writes `--json` and `--plot`.

What a benchmark needs sits outside the model code: `--hash-vocab` (the tiny size's text),
`--warmup-batches` (batches not timed), a crc32 of every batch seen (equal digests: identical
batches across frameworks) and peak memory in `--json`. `experiments/bench_lstm_bucketing.py`
drives it.
"""
import argparse
import importlib
import importlib.util
import json
import logging
import os
import random
import resource
import sys
import time
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MXNET_BUCKETS = [10, 20, 30, 40, 50, 60]
START_LABEL = 1
INVALID_LABEL = 0

parser = argparse.ArgumentParser(description="Train an LSTM language model with bucketing",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
parser.add_argument("--data", type=str, default=None,
                    help="directory with ptb.train.txt and ptb.valid.txt (one sentence a line);"
                         " default: the built-in generated corpus")
parser.add_argument("--framework", choices=("bucketmod", "mxnet"), default="bucketmod",
                    help="which library runs the model code (`import X as mx`)")
parser.add_argument("--num-layers", type=int, default=2, help="number of stacked LSTM layers")
parser.add_argument("--num-hidden", type=int, default=200, help="hidden layer size")
parser.add_argument("--num-embed", type=int, default=200, help="embedding layer size")
parser.add_argument("--gpus", type=str, help="gpus to run on, e.g. 0 or 0,2; empty means cpu")
parser.add_argument("--kv-store", type=str, default="device",
                    help="key-value store type; dist_sync trains on every process torchrun "
                         "starts")
parser.add_argument("--num-epochs", type=int, default=25, help="max num of epochs")
parser.add_argument("--lr", type=float, default=0.01, help="initial learning rate")
parser.add_argument("--optimizer", type=str, default="sgd", help="the optimizer type")
parser.add_argument("--mom", type=float, default=0.0, help="momentum for sgd")
parser.add_argument("--wd", type=float, default=0.00001, help="weight decay for sgd")
parser.add_argument("--batch-size", type=int, default=32, help="the batch size")
parser.add_argument("--val-batch-size", type=int, default=None,
                    help="validation batch size (default: --batch-size); a bucket's last "
                         "sentences that fill no batch are not validated")
parser.add_argument("--disp-batches", type=int, default=50, help="show progress every n batches")
parser.add_argument("--seed", type=int, default=0, help="seed for every random number")
parser.add_argument("--buckets", choices=("mxnet", "planned"), default="mxnet",
                    help="MXNet's buckets 10..60, or the planner's optimum for as many buckets")
parser.add_argument("--corpus-size", type=int, default=12000,
                    help="sentences in the generated training corpus (validation: a tenth)")
parser.add_argument("--max-batches", type=int, default=None,
                    help="stop each epoch after this many batches (smoke tests, benchmarks)")
parser.add_argument("--warmup-batches", type=int, default=1,
                    help="the first epoch's first N batches are not timed (later epochs: 1)")
parser.add_argument("--hash-vocab", type=int, default=None,
                    help="map every word to one of N ids by crc32(word) %% N (a tiny vocabulary"
                         " on the same text)")
parser.add_argument("--plot", type=str, default=None,
                    help="save a PNG of perplexity per epoch and the sentence-length histogram")
parser.add_argument("--json", type=str, default=None, help="write per-epoch results here")


def read_sentences(fname):
    with open(fname) as f:
        return [line.split() for line in f if line.strip()]


def load_text(args):
    """(train, valid) token lists; validation words unseen in training become <unk>."""
    if args.data is None:
        sys.path.insert(0, os.path.join(HERE, "..", "bucketmod", "rnn"))
        from corpus import generate_corpus  # plain numpy: runs under MXNet's venv too
        train, valid = generate_corpus(args.corpus_size, max(args.corpus_size // 10, 100),
                                       seed=args.seed)
    else:
        train = read_sentences(os.path.join(args.data, "ptb.train.txt"))
        valid = read_sentences(os.path.join(args.data, "ptb.valid.txt"))
    known = {w for s in train for w in s}
    valid = [[w if w in known else "<unk>" for w in s] for s in valid]
    if any("<unk>" in s for s in valid):
        train = train + [["<unk>"]]
    if args.hash_vocab:
        train, valid = ([[str(zlib.crc32(w.encode()) % args.hash_vocab) for w in s] for s in text]
                        for text in (train, valid))
    return train, valid


def prepare_data(args, mx, num_workers=1, rank=0):
    """(train iterator, validation iterator, vocabulary, buckets, training sentence lengths).

    Consumes python's and numpy's global RNGs exactly as MXNet's example does, so seeding them
    first gives the same batches under every framework (and in the plain PyTorch baseline).
    With several workers each gets its part of the sentences.
    """
    train_text, valid_text = load_text(args)
    lengths = [len(s) for s in train_text]
    buckets = choose_buckets(args, lengths)
    report_waste(args, lengths, buckets)
    start_label = START_LABEL
    invalid_label = INVALID_LABEL
    train_sent, vocab = mx.rnn.encode_sentences(train_text, start_label=start_label,
                                                invalid_label=invalid_label)
    val_sent, _ = mx.rnn.encode_sentences(valid_text, vocab=vocab, start_label=start_label,
                                          invalid_label=invalid_label)
    logging.info("%s: %d train / %d valid sentences, vocabulary %d, buckets %s",
                 args.data or "generated corpus", len(train_sent), len(val_sent), len(vocab),
                 buckets)
    parts = {} if num_workers == 1 else {"num_parts": num_workers, "part_index": rank}
    data_train = mx.rnn.BucketSentenceIter(train_sent, args.batch_size, buckets=buckets,
                                           invalid_label=invalid_label, **parts)
    data_val = mx.rnn.BucketSentenceIter(val_sent, args.val_batch_size or args.batch_size,
                                         buckets=buckets, invalid_label=invalid_label, **parts)
    return data_train, data_val, vocab, buckets, lengths


def choose_buckets(args, lengths):
    if args.buckets == "mxnet":
        return list(MXNET_BUCKETS)
    sys.path.insert(0, os.path.join(HERE, "..", "bucketmod", "rnn"))
    from bucket_planner import plan_buckets
    return plan_buckets(lengths, len(MXNET_BUCKETS), batch_size=args.batch_size)


def report_waste(args, lengths, buckets):
    sys.path.insert(0, os.path.join(HERE, "..", "bucketmod", "rnn"))
    from bucket_planner import padding_waste, plan_buckets
    planned = plan_buckets(lengths, len(MXNET_BUCKETS), batch_size=args.batch_size)
    for label, bks in (("mxnet default", MXNET_BUCKETS), ("planned", planned)):
        logging.info("buckets %-13s %s: %s", label, bks,
                     padding_waste(lengths, bks, batch_size=args.batch_size))


class FirstBatches:
    """`size` batches per epoch of `data_iter` (restarted when it runs out), each passed on as
    `data_iter` made it: MXNet 1.9.1's ResizeIter rebuilds batches without their bucket_key."""

    def __init__(self, data_iter, size):
        self.data_iter = data_iter
        self.size = size
        self.served = 0
        self.batch_size = data_iter.batch_size
        self.provide_data = data_iter.provide_data
        self.provide_label = data_iter.provide_label
        self.default_bucket_key = data_iter.default_bucket_key

    def __iter__(self):
        return self

    def reset(self):
        self.served = 0
        self.data_iter.reset()

    def __next__(self):
        if self.served == self.size:
            raise StopIteration
        try:
            batch = self.data_iter.next()
        except StopIteration:
            self.data_iter.reset()
            batch = self.data_iter.next()
        self.served += 1
        return batch

    next = __next__


class BatchDigest:
    """A crc32 over bucket keys, data and labels in order: equal digests, identical batches."""

    def __init__(self):
        self.crc = 0
        self.batches = 0

    def add_arrays(self, key, data, label):
        self.crc = zlib.crc32(np.int64(key or 0).tobytes(), self.crc)
        for arr in (data, label):
            self.crc = zlib.crc32(np.ascontiguousarray(arr, dtype=np.float32).tobytes(), self.crc)
        self.batches += 1

    def add(self, batch):
        data, label = (x.asnumpy() if hasattr(x, "asnumpy") else x
                       for x in (batch.data[0], batch.label[0]))
        self.add_arrays(batch.bucket_key, data, label)

    def pop(self):
        """'crc/batches' over what was added since the last pop."""
        out = "%08x/%d" % (self.crc, self.batches)
        self.crc, self.batches = 0, 0
        return out


class EpochLog:
    """Throughput per epoch and validation perplexity, from fit's callbacks.

    The clock starts at the end of batch `warmup` of the first epoch (batch 1 of later epochs)
    and stops at the end of the epoch's last batch. With `last_batch` known (--max-batches),
    `sync` (mx.nd.waitall) runs at both ends so that queued device work is counted. The time
    spent digesting batches is left out.
    """

    def __init__(self, batch_size, warmup=1, last_batch=None, sync=lambda: None,
                 num_workers=1):
        self.batch_size = batch_size
        # every worker runs as many batches of its own: the global rate is num_workers times
        self.num_workers = num_workers
        self.warmup = warmup
        self.last_batch = last_batch
        self.sync = sync
        self.epochs = []
        self.first_seen = {}
        self.train_digest = BatchDigest()
        self.valid_digest = BatchDigest()
        self._start_epoch()

    def _start_epoch(self):
        self._count = self._batches = self._samples = self._tokens = 0
        self._tic = self._toc = self._cpu_tic = self._cpu_toc = None
        self._left_out = self._digesting = 0.0

    def batch_end(self, param):
        now = time.perf_counter()
        self._count += 1
        start = self.warmup if not self.epochs else 1
        timed = self._count > start
        if self._count == start:
            self.sync()
            self._tic, self._cpu_tic = time.perf_counter(), time.thread_time()
        elif timed:
            self._left_out += self._digesting  # the last batch's digest fell in this window
            if self._count == self.last_batch:
                self.sync()
                now = time.perf_counter()
            self._toc, self._cpu_toc = now, time.thread_time()
            self._batches += 1
            self._samples += self.batch_size
        batch = param.locals.get("data_batch") if param.locals else None
        self._digesting = 0.0
        if batch is None:
            return
        if batch.bucket_key is not None:
            if timed:
                self._tokens += self.batch_size * int(batch.bucket_key)
            if not self.epochs:
                self.first_seen.setdefault(int(batch.bucket_key), self._count)
        tic = time.perf_counter()
        self.train_digest.add(batch)
        self._digesting = time.perf_counter() - tic

    def epoch_end(self, epoch, symbol, arg_params, aux_params):
        entry = {"epoch": epoch, "batches": self._batches, "train_digest": self.train_digest.pop()}
        if self._batches:
            elapsed = self._toc - self._tic - self._left_out
            cpu = self._cpu_toc - self._cpu_tic - self._left_out
            workers = self.num_workers
            entry.update(seconds=elapsed, samples_per_sec=workers * self._samples / elapsed,
                         tokens_per_sec=workers * self._tokens / elapsed,
                         ms_per_batch=1e3 * elapsed / self._batches,
                         cpu_ms_per_batch=1e3 * cpu / self._batches)
            logging.info("Epoch[%d] %.1f samples/s, %.0f tokens/s (padded, all workers) over "
                         "%d batches",
                         epoch, entry["samples_per_sec"], entry["tokens_per_sec"], self._batches)
        self.epochs.append(entry)
        self._start_epoch()

    def eval_batch_end(self, param):
        batch = param.locals.get("eval_batch") if param.locals else None
        if batch is not None:
            self.valid_digest.add(batch)

    def validation(self, param):
        self.epochs[-1]["valid_" + param.eval_metric.name] = param.eval_metric.get()[1]
        self.epochs[-1]["valid_digest"] = self.valid_digest.pop()


def num_threads(args):
    if args.framework == "bucketmod":
        import torch
        return torch.get_num_threads()
    return int(os.environ.get("OMP_NUM_THREADS", 0)) or None


def peak_rss_mib():
    """This process's peak resident memory. Linux's VmHWM, because ru_maxrss carries the
    parent's peak over fork and exec (a child of a big process would report the parent's)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory(args):
    """Peak RSS of this process; on a GPU under bucketmod also torch's peak CUDA allocation."""
    mem = {"peak_rss_mib": peak_rss_mib()}
    if args.gpus and args.framework == "bucketmod":
        import torch
        mem["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
    return mem


PLOT_MISSING = ("--plot: matplotlib is not installed, so no plot is drawn "
                "(pip install 'bucketmod[plot]'; .ci/setup installs it)")


def main(argv=None):
    args = parser.parse_args(argv)
    if args.warmup_batches < 1 or (args.max_batches and args.warmup_batches >= args.max_batches):
        parser.error("--warmup-batches must be at least 1 and below --max-batches, got %d"
                     % args.warmup_batches)
    mx = importlib.import_module(args.framework)
    kv = args.kv_store
    rank, num_workers = 0, 1
    if kv.startswith("dist"):
        kv = mx.kv.create(kv)
        rank, num_workers = kv.rank, kv.num_workers
    head = "%(asctime)-15s %(message)s" if num_workers == 1 else \
        f"%(asctime)-15s [rank {rank}] %(message)s"
    logging.basicConfig(level=logging.INFO, format=head)
    if args.plot and rank == 0 and importlib.util.find_spec("matplotlib") is None:
        logging.warning(PLOT_MISSING)  # said before training, and again where the plot would be
    random.seed(args.seed)
    np.random.seed(args.seed)
    mx.random.seed(args.seed)

    data_train, data_val, vocab, buckets, lengths = prepare_data(args, mx, num_workers, rank)
    start_label = START_LABEL
    invalid_label = INVALID_LABEL
    default_bucket_key = data_train.default_bucket_key
    if args.max_batches:
        data_train = FirstBatches(data_train, args.max_batches)

    stack = mx.rnn.SequentialRNNCell()
    for i in range(args.num_layers):
        stack.add(mx.rnn.LSTMCell(num_hidden=args.num_hidden, prefix="lstm_l%d_" % i))

    def sym_gen(seq_len):
        data = mx.sym.Variable("data")
        label = mx.sym.Variable("softmax_label")
        embed = mx.sym.Embedding(data=data, input_dim=len(vocab) + start_label,
                                 output_dim=args.num_embed, name="embed")
        stack.reset()
        outputs, states = stack.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.Reshape(outputs, shape=(-1, args.num_hidden))
        pred = mx.sym.FullyConnected(data=pred, num_hidden=len(vocab) + start_label,
                                     name="pred")
        label = mx.sym.Reshape(label, shape=(-1,))
        pred = mx.sym.SoftmaxOutput(data=pred, label=label, name="softmax")
        return pred, ("data",), ("softmax_label",)

    if args.gpus and num_workers > 1:
        # under torchrun each worker of a machine takes its own GPU from the list (untested)
        gpus = args.gpus.split(",")
        contexts = mx.gpu(int(gpus[int(os.environ.get("LOCAL_RANK", 0)) % len(gpus)]))
    elif args.gpus:
        contexts = [mx.gpu(int(i)) for i in args.gpus.split(",")]
    else:
        contexts = mx.cpu(0)

    model = mx.mod.BucketingModule(sym_gen=sym_gen,
                                   default_bucket_key=default_bucket_key,
                                   context=contexts)
    log = EpochLog(args.batch_size, warmup=args.warmup_batches, last_batch=args.max_batches,
                   sync=mx.nd.waitall, num_workers=num_workers)
    tic = time.time()
    model.fit(train_data=data_train, eval_data=data_val,
              eval_metric=mx.metric.Perplexity(invalid_label), kvstore=kv,
              optimizer=args.optimizer,
              optimizer_params={"learning_rate": args.lr, "momentum": args.mom, "wd": args.wd},
              initializer=mx.init.Xavier(factor_type="in", magnitude=2.34),
              num_epoch=args.num_epochs,
              batch_end_callback=[mx.callback.Speedometer(args.batch_size, args.disp_batches,
                                                          auto_reset=False), log.batch_end],
              epoch_end_callback=log.epoch_end, eval_end_callback=log.validation,
              eval_batch_end_callback=log.eval_batch_end)
    result = {"framework": args.framework, "version": getattr(mx, "__version__", "?"),
              "data": args.data or "generated", "seed": args.seed, "buckets": buckets,
              "num_epochs": args.num_epochs, "batch_size": args.batch_size,
              "kv_store": args.kv_store, "num_workers": num_workers,
              "global_batch_size": args.batch_size * num_workers,
              "total_seconds": time.time() - tic, "epochs": log.epochs,
              "warmup_batches": args.warmup_batches, "max_batches": args.max_batches,
              "first_seen": log.first_seen, "threads": num_threads(args), **peak_memory(args)}
    if rank != 0:
        return result
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if args.plot:
        save_plot(args.plot, log.epochs, lengths, buckets)
    return result


def save_plot(path, epochs, lengths, buckets):
    """Perplexity per epoch and the length histogram; one line, not a traceback, when the
    optional matplotlib is missing (the results are written by then)."""
    try:
        import matplotlib
    except ImportError:
        logging.warning(PLOT_MISSING)
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot([e["epoch"] for e in epochs], [e.get("valid_perplexity") for e in epochs], "o-")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("validation perplexity")
    ax2.hist(lengths, bins=range(1, max(lengths) + 2), color="gray")
    for b in buckets:
        ax2.axvline(b, color="red", linewidth=0.8)
    ax2.set_xlabel("sentence length (red: bucket boundaries)")
    fig.tight_layout()
    fig.savefig(path)
    logging.info("saved %s", path)


if __name__ == "__main__":
    main()
