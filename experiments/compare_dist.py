"""The bucketing LM on `dist_sync`: `torchrun --nproc_per_node N` workers with batch B each,
against one process with batch N*B (the same global batch), seed by seed.

Runs one after another on this machine and writes one JSON with each run's per-epoch
validation perplexity and throughput, and the ratio of the final perplexities.

    python experiments/compare_dist.py --seeds 0 1 -- --corpus-size 6000 --num-hidden 32 \\
        --num-embed 32 --lr 0.05 --mom 0.9 --num-epochs 5
(arguments after `--` go to lstm_bucketing.py for both runs)
"""
import argparse
import datetime
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from compare_mxnet import cpu_name  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_one(workers, batch_size, val_batch_size, seed, extra):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = tmp.name
    script = [os.path.join(HERE, "lstm_bucketing.py"), "--seed", str(seed), "--json", out,
              "--batch-size", str(batch_size), "--val-batch-size", str(val_batch_size),
              "--disp-batches", "1000"] + extra
    if workers == 1:
        cmd = [sys.executable] + script
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(workers),
               "--master_addr", "127.0.0.1", "--master_port", str(free_port())] + script + [
               "--kv-store", "dist_sync"]
    print("+", " ".join(cmd), flush=True)
    env = dict(os.environ, PYTHONPATH=ROOT)
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)
    with open(out) as f:
        result = json.load(f)
    os.remove(out)
    result["command"] = " ".join(["python" if c == sys.executable else c for c in cmd])
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32, help="per worker")
    parser.add_argument("--val-batch-size", type=int, default=4,
                        help="per worker: small, so that both runs validate almost every "
                             "sentence (the same number of them)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default=os.path.join(HERE, "results",
                                                      "lstm_bucketing_dist_sync.json"))
    parser.add_argument("extra", nargs=argparse.REMAINDER,
                        help="-- then arguments for lstm_bucketing.py")
    args = parser.parse_args()
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                         capture_output=True, text=True).stdout.strip()
    import torch
    runs, ratios = [], []
    for seed in args.seeds:
        w = args.workers
        one = run_one(1, w * args.batch_size, w * args.val_batch_size, seed, extra)
        many = run_one(w, args.batch_size, args.val_batch_size, seed, extra)
        runs += [one, many]
        ratios.append(many["epochs"][-1]["valid_perplexity"] /
                      one["epochs"][-1]["valid_perplexity"])
    report = {
        "command": " ".join(["python"] + sys.argv), "date": datetime.date.today().isoformat(),
        "machine": cpu_name(), "cpus": os.cpu_count(), "torch": torch.__version__,
        "git_sha": sha, "workers": args.workers, "batch_size_per_worker": args.batch_size,
        "val_batch_size_per_worker": args.val_batch_size,
        "summary": {
            "valid_perplexity_one_process": [r["epochs"][-1]["valid_perplexity"]
                                             for r in runs[0::2]],
            "valid_perplexity_dist_sync": [r["epochs"][-1]["valid_perplexity"]
                                           for r in runs[1::2]],
            "ratio_dist_over_one_process": ratios,
            "max_relative_difference": max(abs(r - 1) for r in ratios),
            "mean_samples_per_sec_one_process": statistics.mean(
                e["samples_per_sec"] for r in runs[0::2] for e in r["epochs"]),
            "mean_samples_per_sec_dist_sync": statistics.mean(
                e["samples_per_sec"] for r in runs[1::2] for e in r["epochs"])},
        "runs": runs}
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report["summary"], indent=1))


if __name__ == "__main__":
    main()
