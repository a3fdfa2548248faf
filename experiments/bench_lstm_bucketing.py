"""bucketmod against plain PyTorch and MXNet 1.9.1 on MXNet's bucketing LSTM language model.

Each run is its own process on the same batches: bucketmod through MXNet's script
(lstm_bucketing.py), the same with BUCKETMOD_FUSE=0 (the graph as declared: the perplexity
reference), plain PyTorch (torch_lstm_lm.py: nn.Embedding + nn.LSTM + nn.Linear, padded per
bucket; cuDNN on a GPU) and MXNet 1.9.1 through the same script when its venv exists
(../shared/tools/mxnet-reference.sh). Two sizes: the example's (2x LSTM 200, embed 200, Penn
Treebank's vocabulary) and a tiny one (hidden 8, embed 8, every word hashed to one of 50 ids),
where the arithmetic is negligible and a batch's time is host time.

    python experiments/bench_lstm_bucketing.py                # both sizes, CPU
    python experiments/bench_lstm_bucketing.py --gpus 0       # on a GPU (cuDNN baseline)
    python experiments/bench_lstm_bucketing.py --sizes tiny --repeats 1 --batches 50

Fair by construction: every run trains on the same batches in the same order (each run
digests what it saw; the digests are compared), the first --warmup batches are untimed and the
clock starts and stops after a device sync in every run, every process gets the same thread
count (OMP_NUM_THREADS and MKL_NUM_THREADS; default torch.get_num_threads()), runs are
interleaved and repeated --repeats times, and medians are reported. Writes
experiments/results/lstm_bucketing_bench[_gpu].json (machine, versions, git sha, command, every
run) and a bar chart .png next to it.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPT = os.path.join(HERE, "lstm_bucketing.py")
TORCH_LM = os.path.join(HERE, "torch_lstm_lm.py")
PTB = os.path.join(ROOT, "..", "shared", "data", "ptb")
SIZES = {"example": ["--num-hidden", "200", "--num-embed", "200"],
         "tiny": ["--num-hidden", "8", "--num-embed", "8", "--hash-vocab", "50"]}
RUNS = ("bucketmod", "bucketmod_unfused", "torch", "mxnet")
PPL_TOLERANCE = 0.01

sys.path.insert(0, HERE)
from compare_mxnet import cpu_name  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--sizes", nargs="+", choices=tuple(SIZES), default=list(SIZES))
parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
parser.add_argument("--batches", type=int, default=200, help="timed batches per run")
parser.add_argument("--warmup", type=int, default=20,
                    help="batches trained first, untimed (the same first batches in every run)")
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--repeats", type=int, default=3, help="processes per run; medians reported")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--threads", type=int, default=None,
                    help="intra-op threads of every run (default: torch.get_num_threads()); "
                         "1 on a loaded shared machine, where two OpenMP threads on "
                         "oversubscribed cores measure spin-waiting (plain PyTorch, tiny size, "
                         "load 13 on 2 cores: 4,603 samples/s with 1 thread, 115 with 2)")
parser.add_argument("--gpus", default=None, help="e.g. 0: every run on that GPU")
parser.add_argument("--data", default=None,
                    help="PTB-format directory, or 'generated' for the built-in corpus "
                         "(default: ../shared/data/ptb when present)")
parser.add_argument("--corpus-size", type=int, default=12000,
                    help="sentences in the generated corpus (when it is used)")
parser.add_argument("--mxnet-python", default="/tmp/mxnet-ref/bin/python",
                    help="the python of the venv mxnet-reference.sh made")
parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
parser.add_argument("--out-dir", default=os.path.join(HERE, "results"))
parser.add_argument("--name", default=None,
                    help="output file stem (default lstm_bucketing_bench, _gpu with --gpus)")


def git(*cmd):
    out = subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def resolve_data(args):
    """(directory or None for the generated corpus, a note to print or None)."""
    if args.data == "generated":
        return None, None
    if args.data:
        if not os.path.isfile(os.path.join(args.data, "ptb.train.txt")):
            parser.error(f"--data: no ptb.train.txt in {args.data!r}")
        return os.path.abspath(args.data), None
    if os.path.isfile(os.path.join(PTB, "ptb.train.txt")):
        return os.path.abspath(PTB), None
    return None, (f"note: {os.path.normpath(PTB)} is absent: every run uses the built-in "
                  f"generated corpus ({args.corpus_size} sentences) instead of Penn Treebank")


def probe_mxnet(args):
    """(MXNet's version, None) when its venv can run the comparison, else (None, why not)."""
    if not os.access(args.mxnet_python, os.X_OK):
        return None, (f"no MXNet venv at {args.mxnet_python} (make it with "
                      f"../shared/tools/mxnet-reference.sh, or pass --mxnet-python)")
    code = "import mxnet; print(mxnet.__version__, mxnet.context.num_gpus())"
    out = subprocess.run([args.mxnet_python, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        return None, f"{args.mxnet_python} cannot import mxnet"
    version, gpus = out.stdout.split()[-2:]
    if args.gpus is not None and int(gpus) == 0:
        return None, f"MXNet {version} at {args.mxnet_python} is a CPU build (--gpus given)"
    return version, None


def child_env(args, threads, run):
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               BUCKETMOD_FUSE="0" if run == "bucketmod_unfused" else "1")
    if run != "mxnet":
        env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    return env


def size_args(args, size, data):
    out = ["--num-epochs", "1", "--batch-size", str(args.batch_size), "--seed", str(args.seed),
           "--max-batches", str(args.warmup + args.batches),
           "--warmup-batches", str(args.warmup), "--disp-batches", "50", *SIZES[size]]
    out += ["--data", data] if data else ["--corpus-size", str(args.corpus_size)]
    return out + (["--gpus", args.gpus] if args.gpus is not None else [])


def write_batches(argv, path):
    """The batches of this size, made once for the PyTorch runs (lstm_bucketing's data code)."""
    sys.path[:0] = [p for p in (HERE, ROOT) if p not in sys.path]  # as the runs' PYTHONPATH
    import torch_lstm_lm
    batches = torch_lstm_lm.prepare_batches(torch_lstm_lm.parser.parse_args(argv))
    torch_lstm_lm.save_batches(path, batches)
    return batches


def run_one(cmd, env, timeout, log_path):
    """Run one benchmark process; (its --json result or None, an error line or None)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = tmp.name
    try:
        with open(log_path, "w") as log:
            proc = subprocess.run(cmd + ["--json", out], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=timeout)
        if proc.returncode != 0:
            with open(log_path) as log:
                tail = log.read().strip().splitlines()[-5:]
            return None, f"exit {proc.returncode}: " + " | ".join(tail)
        with open(out) as f:
            return json.load(f), None
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    finally:
        os.remove(out)


def summarise(size, results, args):
    """Medians per run, the ratios and the checks (same batches, fused vs unfused perplexity)."""
    runs = {}
    for run, reps in results.items():
        epochs = [r["epochs"][0] for r in reps]

        def med(key, epochs=epochs):
            vals = [e[key] for e in epochs if e.get(key) is not None]
            return statistics.median(vals) if vals else None

        def med_top(key, reps=reps):
            vals = [r[key] for r in reps if r.get(key) is not None]
            return statistics.median(vals) if vals else None

        ms = med("ms_per_batch")
        if size == "tiny":
            host = ms
        elif args.gpus is not None and run != "mxnet":
            host = med("cpu_ms_per_batch")
        else:
            host = None
        runs[run] = {
            "samples_per_sec": med("samples_per_sec"), "tokens_per_sec": med("tokens_per_sec"),
            "ms_per_batch": ms, "host_ms_per_batch": host,
            "peak_rss_mib": med_top("peak_rss_mib"),
            "cuda_max_allocated_mib": med_top("cuda_max_allocated_mib"),
            "valid_perplexity": med("valid_perplexity"),
            "samples_per_sec_all": [e.get("samples_per_sec") for e in epochs],
            "valid_perplexity_all": [e.get("valid_perplexity") for e in epochs],
            "threads": reps[0].get("threads"), "version": reps[0].get("version"),
            "digests": sorted({(e["train_digest"], e.get("valid_digest")) for e in epochs})}
    ratios = {}
    for a, b in (("bucketmod", "torch"), ("bucketmod", "mxnet"),
                 ("bucketmod", "bucketmod_unfused")):
        if a in runs and b in runs and runs[b]["samples_per_sec"]:
            ratios[f"{a}/{b}"] = runs[a]["samples_per_sec"] / runs[b]["samples_per_sec"]
    digests = {run: r["digests"] for run, r in runs.items()}
    checks = {"same_batches": len({tuple(map(tuple, d)) for d in digests.values()}) == 1
              and all(len(d) == 1 for d in digests.values()), "digests": digests}
    if "bucketmod" in runs and "bucketmod_unfused" in runs:
        rel = (runs["bucketmod"]["valid_perplexity"] /
               runs["bucketmod_unfused"]["valid_perplexity"] - 1)
        checks["fused_vs_unfused_perplexity"] = {"relative_difference": rel,
                                                 "within_1_percent": abs(rel) <= PPL_TOLERANCE}
    first_seen = next(iter(results.values()))[0].get("first_seen", {})
    checks["buckets_first_used_while_timed"] = sorted(
        int(k) for k, v in first_seen.items() if v > args.warmup)
    return {"runs": runs, "ratios": ratios, "checks": checks}


def fmt(value, spec, unit=""):
    return "-" if value is None else format(value, spec) + unit


def print_size(size, summary, header):
    print(f"\n== {size} size: {header}")
    print(f"{'run':<19}{'samples/s':>11}{'tokens/s':>11}{'ms/batch':>10}{'host ms/batch':>15}"
          f"{'peak memory':>17}{'valid ppl':>11}")
    for run, r in summary["runs"].items():
        mem = (fmt(r["cuda_max_allocated_mib"], ".0f", " MiB CUDA")
               if r["cuda_max_allocated_mib"] is not None
               else fmt(r["peak_rss_mib"], ".0f", " MiB RSS"))
        print(f"{run:<19}{fmt(r['samples_per_sec'], ',.1f'):>11}"
              f"{fmt(r['tokens_per_sec'], ',.0f'):>11}{fmt(r['ms_per_batch'], '.2f'):>10}"
              f"{fmt(r['host_ms_per_batch'], '.2f'):>15}{mem:>17}"
              f"{fmt(r['valid_perplexity'], '.2f'):>11}")
    ratios = ", ".join(f"{k} {v:.2f}x" for k, v in summary["ratios"].items())
    print(f"samples/s ratios: {ratios or '-'}")
    checks = summary["checks"]
    if "fused_vs_unfused_perplexity" in checks:
        c = checks["fused_vs_unfused_perplexity"]
        print(f"perplexity fused vs BUCKETMOD_FUSE=0: {100 * c['relative_difference']:+.3f}% "
              f"({'within' if c['within_1_percent'] else 'NOT within'} 1%)")
    print("same batches in every run: " + ("yes" if checks["same_batches"] else
                                            f"NO: {checks['digests']}"))
    if checks["buckets_first_used_while_timed"]:
        print(f"buckets first used inside the timed batches (their first-use cost counts in "
              f"every run): {checks['buckets_first_used_while_timed']}")


def save_chart(path, doc):
    try:
        import matplotlib
    except ImportError:
        print("chart: skipped (matplotlib is not installed; it is in the [bench] extra)")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sizes = list(doc["sizes"])
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.5 * len(sizes), 4), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        runs = {k: v for k, v in doc["sizes"][size]["runs"].items() if v["samples_per_sec"]}
        names = list(runs)
        meds = [runs[n]["samples_per_sec"] for n in names]
        lows = [m - min(runs[n]["samples_per_sec_all"]) for m, n in zip(meds, names)]
        highs = [max(runs[n]["samples_per_sec_all"]) - m for m, n in zip(meds, names)]
        colors = ["C0" if n.startswith("bucketmod") else "C1" if n == "torch" else "C2"
                  for n in names]
        ax.bar(names, meds, yerr=[lows, highs], color=colors, capsize=4)
        base = runs.get("torch", {}).get("samples_per_sec")
        for i, (n, m) in enumerate(zip(names, meds)):
            label = f"{m:,.0f}" + (f"\n{m / base:.2f}x torch" if base and n != "torch" else "")
            ax.text(i, m + highs[i], label, ha="center", va="bottom", fontsize=8)
        ax.margins(y=0.2)
        ax.set_title(f"{size} size (vocabulary {doc['sizes'][size]['vocab_size']})")
        ax.set_ylabel("samples/s (median; bars: min-max)")
        ax.tick_params(axis="x", labelrotation=15)
    where = (doc["machine"]["gpu"] or
             f"{doc['machine']['cpu']}, {doc['settings']['threads']} thread(s)")
    fig.suptitle(f"lstm_bucketing.py, {doc['settings']['batches']} timed batches of "
                 f"{doc['settings']['batch_size']}, {where}; {doc['date']}, "
                 f"git {(doc['git_sha'] or '?')[:8]}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None):
    args = parser.parse_args(argv)
    args.gpus = args.gpus or None  # --gpus '' means the CPU, as in lstm_bucketing.py
    if args.batches < 1 or args.warmup < 1 or args.repeats < 1:
        parser.error("--batches, --warmup and --repeats must be at least 1")
    import torch
    threads = args.threads or torch.get_num_threads()
    data, note = resolve_data(args)
    if note:
        print(note)
    runs = list(args.runs)
    skipped = {}
    mxnet_version = None
    if "mxnet" in runs:
        mxnet_version, why = probe_mxnet(args)
        if why:
            print(f"mxnet: skipped: {why}")
            skipped["mxnet"] = why
            runs.remove("mxnet")
    name = args.name or "lstm_bucketing_bench" + ("_gpu" if args.gpus is not None else "")
    os.makedirs(args.out_dir, exist_ok=True)
    gpu = torch.cuda.get_device_name(int(args.gpus.split(",")[0])) if args.gpus else None
    try:
        import triton
        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    env = [f"{k}={os.environ[k]}" for k in sorted(os.environ)
           if k.startswith("BUCKETMOD_") or k.endswith("_NUM_THREADS")]
    doc = {"command": " ".join([*env, os.path.basename(sys.executable),
                                os.path.relpath(os.path.abspath(__file__), ROOT),
                                *map(shlex.quote, sys.argv[1:] if argv is None else argv)]),
           "date": datetime.datetime.now().isoformat(timespec="seconds"),
           "git_sha": git("rev-parse", "HEAD"),
           "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
           "machine": {"cpu": cpu_name(), "cpu_count": os.cpu_count(),
                       "cpus_usable": len(os.sched_getaffinity(0)), "gpu": gpu,
                       "loadavg_start": os.getloadavg()},
           "versions": {"python": platform.python_version(), "torch": torch.__version__,
                        "triton": triton_version, "numpy": __import__("numpy").__version__,
                        "mxnet": mxnet_version,
                        "cudnn": torch.backends.cudnn.version() if gpu else None},
           "settings": {"batches": args.batches, "warmup": args.warmup,
                        "batch_size": args.batch_size, "repeats": args.repeats,
                        "seed": args.seed, "threads": threads, "gpus": args.gpus,
                        "buckets": "mxnet (10..60)",
                        "data": data or f"generated ({args.corpus_size} sentences)"},
           "skipped": skipped, "sizes": {}, "failures": []}
    with tempfile.TemporaryDirectory(prefix="bench_lstm_") as tmp:
        for size in args.sizes:
            argv_size = size_args(args, size, data)
            batches_file = os.path.join(tmp, f"{size}.npz")
            vocab = write_batches(argv_size, batches_file)["vocab_size"]
            results = {run: [] for run in runs}
            commands = {}
            for rep in range(args.repeats):
                for run in runs:
                    if run == "torch":
                        cmd = [sys.executable, TORCH_LM, *argv_size, "--batches-file",
                               batches_file]
                    else:
                        python = args.mxnet_python if run == "mxnet" else sys.executable
                        framework = "mxnet" if run == "mxnet" else "bucketmod"
                        cmd = [python, SCRIPT, "--framework", framework, *argv_size]
                    env = child_env(args, threads, run)
                    commands[run] = " ".join(
                        [f"BUCKETMOD_FUSE={env['BUCKETMOD_FUSE']}" if run.startswith("bucketmod")
                         else "", f"OMP_NUM_THREADS={threads}", *map(shlex.quote, cmd)]).strip()
                    tic = time.time()
                    result, error = run_one(cmd, env, args.timeout,
                                            os.path.join(tmp, f"{size}-{run}-{rep}.log"))
                    if error:
                        print(f"{size} {run} #{rep + 1}: FAILED ({error})", flush=True)
                        doc["failures"].append({"size": size, "run": run, "repeat": rep,
                                                "error": error})
                        continue
                    results[run].append(result)
                    e = result["epochs"][0]
                    print(f"{size} {run} #{rep + 1}: {e['samples_per_sec']:,.1f} samples/s, "
                          f"valid ppl {e.get('valid_perplexity', float('nan')):.2f} "
                          f"({time.time() - tic:.0f} s)", flush=True)
            results = {run: reps for run, reps in results.items() if reps}
            if not results:
                continue
            summary = summarise(size, results, args)
            summary.update(vocab_size=vocab, args=argv_size, commands=commands, raw=results)
            doc["sizes"][size] = summary
            h, e = SIZES[size][1], SIZES[size][3]
            print_size(size, summary,
                       f"2x LSTM {h}, "
                       f"embed {e}, vocabulary {vocab}; {args.batches} batches after "
                       f"{args.warmup} warm-up, batch {args.batch_size}, {threads} thread(s), "
                       f"median of {args.repeats}")
    doc["machine"]["loadavg_end"] = os.getloadavg()
    json_path = os.path.join(args.out_dir, name + ".json")
    doc["chart"] = save_chart(os.path.join(args.out_dir, name + ".png"), doc)
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"\nload average {doc['machine']['loadavg_start'][0]:.1f} at the start, "
          f"{doc['machine']['loadavg_end'][0]:.1f} at the end ({doc['machine']['cpus_usable']} "
          f"CPUs)\nwrote {json_path}" + (f" and {doc['chart']}" if doc["chart"] else ""))
    if doc["failures"]:
        raise SystemExit(f"{len(doc['failures'])} run(s) failed")
    return doc


if __name__ == "__main__":
    # A killed benchmark takes its running child with it: SystemExit unwinds subprocess.run,
    # which kills the child, and removes the temporary directory.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    main()
