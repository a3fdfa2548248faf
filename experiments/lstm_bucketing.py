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
"""
import argparse
import importlib
import json
import logging
import os
import random
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MXNET_BUCKETS = [10, 20, 30, 40, 50, 60]

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
                    help="stop each epoch after this many batches (smoke tests)")
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
    return train, valid


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


class EpochLog:
    """Collects train/validation perplexity and throughput per epoch from fit's callbacks."""

    def __init__(self, batch_size, num_workers=1):
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.epochs = []
        self._tic = None
        self._samples = 0
        self._tokens = 0

    def batch_end(self, param):
        if self._tic is None:
            self._tic = time.time()
        batch = param.locals["data_batch"] if param.locals else None
        self._samples += self.batch_size
        if batch is not None and batch.bucket_key is not None:
            self._tokens += self.batch_size * int(batch.bucket_key)

    def epoch_end(self, epoch, symbol, arg_params, aux_params):
        elapsed = time.time() - self._tic
        # every worker runs as many batches of its own: the global rate is num_workers times
        workers = self.num_workers
        self.epochs.append({"epoch": epoch, "seconds": elapsed,
                            "samples_per_sec": workers * self._samples / elapsed,
                            "tokens_per_sec": workers * self._tokens / elapsed})
        logging.info("Epoch[%d] %.1f samples/s, %.0f tokens/s (padded, all workers)", epoch,
                     workers * self._samples / elapsed, workers * self._tokens / elapsed)
        self._tic, self._samples, self._tokens = None, 0, 0

    def validation(self, param):
        self.epochs[-1]["valid_" + param.eval_metric.name] = param.eval_metric.get()[1]

    def train_metric(self, param):
        pass


def main(argv=None):
    args = parser.parse_args(argv)
    mx = importlib.import_module(args.framework)
    kv = args.kv_store
    rank, num_workers = 0, 1
    if kv.startswith("dist"):
        kv = mx.kv.create(kv)
        rank, num_workers = kv.rank, kv.num_workers
    head = "%(asctime)-15s %(message)s" if num_workers == 1 else \
        f"%(asctime)-15s [rank {rank}] %(message)s"
    logging.basicConfig(level=logging.INFO, format=head)
    random.seed(args.seed)
    np.random.seed(args.seed)
    mx.random.seed(args.seed)

    train_text, valid_text = load_text(args)
    lengths = [len(s) for s in train_text]
    buckets = choose_buckets(args, lengths)
    report_waste(args, lengths, buckets)
    start_label = 1
    invalid_label = 0
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
    default_bucket_key = data_train.default_bucket_key
    if args.max_batches:
        data_train = mx.io.ResizeIter(data_train, args.max_batches)

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
    log = EpochLog(args.batch_size, num_workers)
    tic = time.time()
    model.fit(train_data=data_train, eval_data=data_val,
              eval_metric=mx.metric.Perplexity(invalid_label), kvstore=kv,
              optimizer=args.optimizer,
              optimizer_params={"learning_rate": args.lr, "momentum": args.mom, "wd": args.wd},
              initializer=mx.init.Xavier(factor_type="in", magnitude=2.34),
              num_epoch=args.num_epochs,
              batch_end_callback=[mx.callback.Speedometer(args.batch_size, args.disp_batches,
                                                          auto_reset=False), log.batch_end],
              epoch_end_callback=log.epoch_end, eval_end_callback=log.validation)
    result = {"framework": args.framework, "version": getattr(mx, "__version__", "?"),
              "data": args.data or "generated", "seed": args.seed, "buckets": buckets,
              "num_epochs": args.num_epochs, "batch_size": args.batch_size,
              "kv_store": args.kv_store, "num_workers": num_workers,
              "global_batch_size": args.batch_size * num_workers,
              "total_seconds": time.time() - tic, "epochs": log.epochs}
    if rank != 0:
        return result
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if args.plot:
        save_plot(args.plot, log.epochs, lengths, buckets)
    return result


def save_plot(path, epochs, lengths, buckets):
    import matplotlib
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
