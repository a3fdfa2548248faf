"""Plain PyTorch baseline for lstm_bucketing.py: nn.Embedding + nn.LSTM + nn.Linear +
F.cross_entropy, each batch padded to its bucket, SGD with the example's hyper-parameters
(cuDNN's LSTM on a GPU).

It trains and validates on exactly the batches lstm_bucketing.py serves under the same
arguments (`prepare_batches` replays that script's seeded iterators), times them with the
script's own `EpochLog` and writes the same `--json`, so bench_lstm_bucketing.py can set the
runs side by side.

    python experiments/torch_lstm_lm.py --data ../shared/data/ptb --num-epochs 1 \\
        --max-batches 220 --warmup-batches 20 --json torch.json
"""
import argparse
import json
import logging
import math
import os
import random
import sys
import time
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NLL_CAP = -math.log(1e-10)
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lstm_bucketing as lb  # noqa: E402  (the script whose data and timing this shares)

parser = argparse.ArgumentParser(parents=[lb.parser], conflict_handler="resolve",
                                 description="The plain PyTorch counterpart of lstm_bucketing.py")
parser.add_argument("--batches-file", default=None,
                    help="an .npz from save_batches(): skip the data preparation (and with it "
                         "bucketmod's import, which the preparation needs)")


class LSTMLM(nn.Module):
    """Embedding, stacked LSTM (batch major), output layer over every step: `[N*T, vocab]`."""

    def __init__(self, vocab_size, num_embed, num_hidden, num_layers):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, num_embed)
        self.lstm = nn.LSTM(num_embed, num_hidden, num_layers, batch_first=True)
        self.pred = nn.Linear(num_hidden, vocab_size)

    def forward(self, data):
        out, _ = self.lstm(self.embed(data))
        return self.pred(out.reshape(-1, out.shape[-1]))


def init_like_mxnet(model, magnitude=2.34, forget_bias=1.0):
    """The example's initialisation: Xavier(factor_type='in', magnitude) on every weight,
    uniform in +-sqrt(magnitude / shape[1]); biases zero except LSTMCell's forget gate (1.0
    on the input-to-hidden bias; the gate order i, f, g, o is MXNet's too)."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                bound = math.sqrt(magnitude / p.shape[1])
                p.uniform_(-bound, bound)
            else:
                p.zero_()
        hidden = model.lstm.hidden_size
        for layer in range(model.lstm.num_layers):
            getattr(model.lstm, f"bias_ih_l{layer}")[hidden:2 * hidden] = forget_bias


def prepare_batches(args):
    """Every epoch's training and validation batches as lstm_bucketing.py's fit() sees them.

    Seeds python's and numpy's RNGs as the script does, builds its iterators with bucketmod
    and replays fit's order: an epoch's batches, then score()'s reset of the validation
    iterator, then the training iterator's reset. Training consumes no numpy/python random
    numbers, so replaying all epochs up front gives the same batches.

    Returns:
        `{"vocab_size": int, "epochs": [(train, valid), ...]}`, each a list of
        `(bucket_key, data, label)` with float32 `[batch_size, bucket_key]` arrays.
    """
    import bucketmod as mx
    random.seed(args.seed)
    np.random.seed(args.seed)
    data_train, data_val, vocab, _, _ = lb.prepare_data(args, mx)
    if args.max_batches:
        data_train = lb.FirstBatches(data_train, args.max_batches)

    def arrays(it):
        return [(b.bucket_key, b.data[0].asnumpy(), b.label[0].asnumpy()) for b in it]

    epochs = []
    for _ in range(args.num_epochs):
        train = arrays(data_train)
        data_val.reset()
        epochs.append((train, arrays(data_val)))
        data_train.reset()
    return {"vocab_size": len(vocab) + lb.START_LABEL, "epochs": epochs}


def save_batches(path, batches):
    flat = {"vocab_size": np.int64(batches["vocab_size"]),
            "num_epochs": np.int64(len(batches["epochs"]))}
    for e, pair in enumerate(batches["epochs"]):
        for part, items in zip(("train", "valid"), pair):
            flat[f"{part}{e}_keys"] = np.array([k for k, _, _ in items], dtype=np.int64)
            flat[f"{part}{e}_data"] = np.concatenate([d.ravel() for _, d, _ in items])
            flat[f"{part}{e}_label"] = np.concatenate([lab.ravel() for _, _, lab in items])
    np.savez(path, **flat)


def load_batches(path, batch_size):
    with np.load(path) as f:
        epochs = []
        for e in range(int(f["num_epochs"])):
            pair = []
            for part in ("train", "valid"):
                keys = f[f"{part}{e}_keys"]
                ends = np.cumsum(keys * batch_size)
                data = np.split(f[f"{part}{e}_data"], ends[:-1])
                label = np.split(f[f"{part}{e}_label"], ends[:-1])
                pair.append([(int(k), d.reshape(batch_size, k), lab.reshape(batch_size, k))
                             for k, d, lab in zip(keys, data, label)])
            epochs.append(tuple(pair))
        return {"vocab_size": int(f["vocab_size"]), "epochs": epochs}


def metric_sums(nll, label, invalid_label=lb.INVALID_LABEL):
    """(summed NLL, count) over real labels as MXNet's Perplexity(ignore_label) counts them,
    probabilities clipped at 1e-10; device tensors, no host sync."""
    mask = label != invalid_label
    return (nll.clamp(max=NLL_CAP) * mask).sum(), mask.sum()


def run(args):
    device = torch.device(f"cuda:{int(args.gpus.split(',')[0])}" if args.gpus else "cpu")
    if args.optimizer != "sgd":
        raise SystemExit(f"torch_lstm_lm: only the example's optimizer (sgd) is ported, got "
                         f"{args.optimizer!r}")
    batches = (load_batches(args.batches_file, args.batch_size) if args.batches_file
               else prepare_batches(args))
    torch.manual_seed(args.seed)
    model = LSTMLM(batches["vocab_size"], args.num_embed, args.num_hidden,
                   args.num_layers).to(device)
    init_like_mxnet(model)
    # MXNet decays only weights (wd_mult 0 for names not ending in _weight/_gamma).
    decayed = [p for p in model.parameters() if p.dim() == 2]
    rest = [p for p in model.parameters() if p.dim() != 2]
    opt = torch.optim.SGD([{"params": decayed, "weight_decay": args.wd},
                           {"params": rest, "weight_decay": 0.0}],
                          lr=args.lr, momentum=args.mom)

    def tensors(items):
        out = []
        for key, data, label in items:
            x, y = (torch.from_numpy(a.astype(np.int64)) for a in (data, label))
            if device.type == "cuda":
                x, y = x.pin_memory(), y.pin_memory()
            out.append((key, data, label, x, y.reshape(-1)))
        return out

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    log = lb.EpochLog(args.batch_size, warmup=args.warmup_batches, last_batch=args.max_batches,
                      sync=sync)
    tic = time.time()
    for epoch, (train, valid) in enumerate(batches["epochs"]):
        model.train()
        nll_sum = torch.zeros((), device=device)
        count = torch.zeros((), device=device, dtype=torch.int64)
        for key, data, label, x, y in tensors(train):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            nll = F.cross_entropy(model(x), y, reduction="none")
            # SoftmaxOutput's gradient is (p - onehot) per step, and Module rescales it by
            # 1/batch_size: the gradient of this sum.
            loss = nll.sum() / args.batch_size
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                total, n = metric_sums(nll, y)
                nll_sum += total
                count += n
            batch = SimpleNamespace(bucket_key=key, data=[data], label=[label])
            log.batch_end(SimpleNamespace(locals={"data_batch": batch}))
        log.epoch_end(epoch, None, None, None)
        log.epochs[-1]["train_perplexity"] = math.exp(nll_sum.item() / max(count.item(), 1))
        log.epochs[-1]["valid_perplexity"] = evaluate(model, tensors(valid), device, log)
        log.epochs[-1]["valid_digest"] = log.valid_digest.pop()
        logging.info("Epoch[%d] Validation-perplexity=%f", epoch,
                     log.epochs[-1]["valid_perplexity"])
    mem = {"peak_rss_mib": lb.peak_rss_mib()}
    if device.type == "cuda":
        mem["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    return {"framework": "torch", "version": torch.__version__,
            "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
            "data": args.data or "generated", "seed": args.seed,
            "num_epochs": args.num_epochs, "batch_size": args.batch_size,
            "total_seconds": time.time() - tic, "epochs": log.epochs,
            "warmup_batches": args.warmup_batches, "max_batches": args.max_batches,
            "first_seen": log.first_seen, "threads": torch.get_num_threads(), **mem}


@torch.no_grad()
def evaluate(model, batches, device, log):
    """Validation perplexity as MXNet's Perplexity(ignore_label=0) reports it."""
    model.eval()
    nll_sum = torch.zeros((), device=device, dtype=torch.float64)
    count = torch.zeros((), device=device, dtype=torch.int64)
    for key, data, label, x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        total, n = metric_sums(F.cross_entropy(model(x), y, reduction="none"), y)
        nll_sum += total
        count += n
        batch = SimpleNamespace(bucket_key=key, data=[data], label=[label])
        log.eval_batch_end(SimpleNamespace(locals={"eval_batch": batch}))
    return math.exp(nll_sum.item() / max(count.item(), 1))


def main(argv=None):
    args = parser.parse_args(argv)
    if args.warmup_batches < 1 or (args.max_batches and args.warmup_batches >= args.max_batches):
        parser.error(f"--warmup-batches must be at least 1 and below --max-batches, got "
                     f"{args.warmup_batches}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)-15s %(message)s")
    result = run(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
