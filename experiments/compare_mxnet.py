"""Side-by-side: the same lstm_bucketing.py under bucketmod and under real MXNet 1.9.1.

Runs every (seed, framework) pair one after another on this machine and writes one JSON with
each run's per-epoch validation perplexity and throughput, plus the means.

    python experiments/compare_mxnet.py --data ../shared/data/ptb --num-epochs 2 --seeds 0 1 2
    (MXNet comes from ../shared/tools/mxnet-reference.sh, by default /tmp/mxnet-ref)
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_one(python, framework, seed, args):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = tmp.name
    cmd = [python, os.path.join(HERE, "lstm_bucketing.py"), "--framework", framework,
           "--num-epochs", str(args.num_epochs), "--seed", str(seed), "--json", out,
           "--disp-batches", "100"]
    if args.data:
        cmd += ["--data", args.data]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    with open(out) as f:
        result = json.load(f)
    os.remove(out)
    return result


def summarise(runs, num_epochs):
    summary = {}
    for framework in sorted({r["framework"] for r in runs}):
        mine = [r for r in runs if r["framework"] == framework]
        ppl = [r["epochs"][-1]["valid_perplexity"] for r in mine]
        sps = [statistics.mean(e["samples_per_sec"] for e in r["epochs"]) for r in mine]
        summary[framework] = {"valid_perplexity_after_%d_epochs" % num_epochs: ppl,
                              "mean_valid_perplexity": statistics.mean(ppl),
                              "samples_per_sec": sps, "mean_samples_per_sec": statistics.mean(sps)}
    if {"bucketmod", "mxnet"} <= set(summary):
        b, m = summary["bucketmod"], summary["mxnet"]
        summary["perplexity_ratio_bucketmod_over_mxnet"] = (b["mean_valid_perplexity"] /
                                                            m["mean_valid_perplexity"])
        summary["speed_ratio_bucketmod_over_mxnet"] = (b["mean_samples_per_sec"] /
                                                       m["mean_samples_per_sec"])
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="PTB-format directory (default: built-in)")
    parser.add_argument("--num-epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--frameworks", nargs="+", default=["bucketmod", "mxnet"])
    parser.add_argument("--mxnet-python", default="/tmp/mxnet-ref/bin/python")
    parser.add_argument("--out", default=os.path.join(HERE, "results",
                                                      "lstm_bucketing_vs_mxnet.json"))
    args = parser.parse_args()
    pythons = {"bucketmod": sys.executable, "mxnet": args.mxnet_python}
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                         capture_output=True, text=True).stdout.strip()
    runs = [run_one(pythons[fw], fw, seed, args) for seed in args.seeds
            for fw in args.frameworks]
    import torch
    env = {k: os.environ[k] for k in ("BUCKETMOD_FUSE", "BUCKETMOD_BACKEND", "OMP_NUM_THREADS")
           if k in os.environ}
    doc = {"command": " ".join([f"{k}={v}" for k, v in env.items()] +
                               [os.path.basename(sys.executable)] + sys.argv),
           "date": datetime.date.today().isoformat(), "machine": cpu_name(),
           "cpus": os.cpu_count(), "torch": torch.__version__,
           "git_sha": sha,
           "summary": summarise(runs, args.num_epochs), "runs": runs}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(json.dumps(doc["summary"], indent=1))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
