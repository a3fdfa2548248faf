"""Peak memory of a BucketingModule with every bucket bound and trained, against the largest
bucket alone (DESIGN.md: buckets share memory, so the ratio should stay near 1).

Each case runs in its own process: `largest` binds and trains only the largest bucket; `all`
binds every bucket and trains batches from all of them, largest first. Memory is the peak
resident set above the resident set just before bind (CPU; glibc's mmap threshold is fixed so
freed tensors go back to the system), or `torch.cuda.max_memory_allocated` on a GPU.

    python experiments/bench_bucket_memory.py                     # the LM example's sizes
    python experiments/bench_bucket_memory.py --vocab 2000 --batches 2 --json out.json
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _lm(mx, vocab, hidden, layers):
    stack = mx.rnn.SequentialRNNCell()
    for i in range(layers):
        stack.add(mx.rnn.LSTMCell(num_hidden=hidden, prefix=f"lstm_l{i}_"))

    def sym_gen(seq_len):
        data = mx.sym.Variable("data")
        label = mx.sym.Variable("softmax_label")
        embed = mx.sym.Embedding(data=data, input_dim=vocab, output_dim=hidden, name="embed")
        stack.reset()
        outputs, _ = stack.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.Reshape(outputs, shape=(-1, hidden))
        pred = mx.sym.FullyConnected(data=pred, num_hidden=vocab, name="pred")
        label = mx.sym.Reshape(label, shape=(-1,))
        return mx.sym.SoftmaxOutput(data=pred, label=label, name="softmax"), ("data",), \
            ("softmax_label",)
    return sym_gen


def run_case(args):
    """One process: bind, train, report the peak memory above the pre-bind baseline."""
    sys.path.insert(0, ROOT)
    import numpy as np
    import torch

    import bucketmod as mx
    gpu = args.gpus is not None
    ctx = mx.gpu(int(args.gpus)) if gpu else mx.cpu()
    buckets = sorted(args.buckets, reverse=True)
    keys = buckets[:1] if args.case == "largest" else buckets
    rng = np.random.RandomState(0)
    mod = mx.mod.BucketingModule(_lm(mx, args.vocab, args.hidden, args.layers),
                                 default_bucket_key=buckets[0], context=ctx)
    if gpu:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss_bytes()
    mod.bind([mx.io.DataDesc("data", (args.batch_size, buckets[0]))],
             [mx.io.DataDesc("softmax_label", (args.batch_size, buckets[0]))])
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.01})
    metric = mx.metric.Perplexity(0)
    tic = time.time()
    for _ in range(args.batches):
        for key in keys:
            data = rng.randint(1, args.vocab, size=(args.batch_size, key)).astype(np.float32)
            batch = mx.io.DataBatch(
                [mx.nd.array(data, ctx=ctx)], [mx.nd.array(np.roll(data, -1, 1), ctx=ctx)],
                bucket_key=key, provide_data=[mx.io.DataDesc("data", data.shape)],
                provide_label=[mx.io.DataDesc("softmax_label", data.shape)])
            mod.forward_backward(batch)
            mod.update()
            mod.update_metric(metric, batch.label)
    metric.get()
    if gpu:
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    return {"case": args.case, "peak_bytes": int(peak), "buckets_bound": len(mod.bucket_keys),
            "seconds": time.time() - tic}


def spawn(case, args):
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="65536")
    cmd = [sys.executable, os.path.abspath(__file__), "--case", case] + _forwarded(args)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _forwarded(args):
    flags = ["--vocab", str(args.vocab), "--hidden", str(args.hidden), "--layers",
             str(args.layers), "--batch-size", str(args.batch_size), "--batches",
             str(args.batches), "--buckets"] + [str(b) for b in args.buckets]
    return flags + (["--gpus", args.gpus] if args.gpus is not None else [])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=10000)
    parser.add_argument("--hidden", type=int, default=200)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=2, help="batches per bucket")
    parser.add_argument("--buckets", type=int, nargs="+", default=[10, 20, 30, 40, 50, 60])
    parser.add_argument("--gpus", type=str, default=None, help="e.g. 0; default: the CPU")
    parser.add_argument("--case", choices=("largest", "all"), default=None,
                        help="run one case in this process (what the driver spawns)")
    parser.add_argument("--json", type=str, default=None, help="write the result here")
    args = parser.parse_args(argv)
    if args.case is not None:
        print(json.dumps(run_case(args)))
        return None
    largest, every = spawn("largest", args), spawn("all", args)
    result = {"largest": largest, "all": every,
              "ratio": every["peak_bytes"] / max(largest["peak_bytes"], 1),
              "command": " ".join([os.path.basename(sys.executable)] + sys.argv)}
    print(f"peak above baseline: largest bucket alone {largest['peak_bytes'] / 2**20:.1f} MiB, "
          f"all {every['buckets_bound']} buckets {every['peak_bytes'] / 2**20:.1f} MiB, "
          f"ratio {result['ratio']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
