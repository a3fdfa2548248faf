"""Fuzz the three loaders that read files a user may not trust: NDArray files (`nd.load`),
symbol JSON (`sym.load_json`) and optimizer states (`Updater.set_states`).

Inputs are seed files (`tests/golden/data/fuzz/`, made by `tests/golden/make_fuzz_seeds.py`,
written by MXNet 1.9.1 and by bucketmod) mutated by hypothesis strategies: byte flips, words
overwritten with boundary integers, insertions, deletions, truncation, and structure-aware
edits of the JSON (any value replaced, keys dropped, operators swapped, parameters set to
hostile strings, deep nesting). A target passes an input when the loader returns, or raises
MXNetError, within `--max-seconds` of CPU time (cyclic garbage collections that fall into an
input are counted apart); a loaded result is exercised too (arrays read
back, a symbol listed, inferred and written again, states re-encoded).

    python experiments/fuzz_loaders.py --iterations 100000          # the long run
    python experiments/fuzz_loaders.py --iterations 300 --targets symbol

Prints per-target counts and times and the process's memory growth; writes them as JSON with
`--json`; exits 1 if any input raised another exception type, took too long, or memory grew
by more than `--max-growth-mb`. Failing inputs are written to `--failures` (a directory).
"""
import argparse
import gc
import json
import os
import resource
import struct
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import bucketmod as mx  # noqa: E402
from bucketmod.optimizer import states as states_format  # noqa: E402

SEED_DIR = os.path.join(ROOT, "tests", "golden", "data", "fuzz")
INTERESTING_INTS = [0, 1, 2, 3, -1, -2, 7, 8, 31, 32, 33, 255, 256, 65535, 65536, 65537,
                    2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32 - 1, 2 ** 32, 2 ** 62, 2 ** 63 - 1,
                    2 ** 63, -(2 ** 63), 2 ** 64 - 1, 2 ** 64, 10 ** 30]
INTERESTING_STRINGS = ["", "0", "-1", "1", "2147483647", "2147483648", "-2147483649",
                       "65537", "9223372036854775808", "1e999", "-1e999", "nan", "inf", "4.5",
                       "None", "True", "null", "()", "(0,)", "(-1, 0)", "(2147483648,)",
                       "(1,2,3,4,5,6,7,8,9,10)", "[" * 300, "(" * 5000 + ")" * 5000,
                       "-" * 5000 + "1", "1" * 5000, "a" * 100000, "\u00e9\ud800",
                       "__shape__", "relu", "lstm", "(1, (2, 3))", "0x10", " 3 ", "3L"]


def seeds(kind):
    """The seed files of one target, as bytes, sorted by name."""
    directory = os.path.join(SEED_DIR, kind)
    out = []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            out.append(f.read())
    if not out:
        raise SystemExit(f"no seed files in {directory}; run tests/golden/make_fuzz_seeds.py")
    return out


# -- byte-level mutations: (kind, position in [0, 1), argument) applied in order -------------
_BYTE_MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(0, 7)),
    st.tuples(st.just("byte"), st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
    st.tuples(st.just("word"), st.floats(0, 1, exclude_max=True),
              st.tuples(st.sampled_from(INTERESTING_INTS) | st.integers(-(2 ** 63), 2 ** 64),
                        st.sampled_from([4, 8]))),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.floats(0, 1, exclude_max=True), st.integers(1, 64)),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.none()),
    st.tuples(st.just("repeat"), st.floats(0, 1, exclude_max=True), st.integers(1, 64)),
)


def mutate_bytes(raw, mutations):
    buf = bytearray(raw)
    for kind, where, arg in mutations:
        pos = int(where * len(buf)) if buf else 0
        if kind == "flip" and buf:
            buf[pos] ^= 1 << arg
        elif kind == "byte" and buf:
            buf[pos] = arg
        elif kind == "word":
            value, size = arg
            word = (value % (1 << (8 * size))).to_bytes(size, "little")
            buf[pos:pos + size] = word
        elif kind == "insert":
            buf[pos:pos] = arg
        elif kind == "delete":
            del buf[pos:pos + arg]
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "repeat":
            buf[pos:pos] = buf[pos:pos + arg]
    return bytes(buf)


# -- JSON-level mutations ---------------------------------------------------------------------
_JSON_VALUE = st.one_of(
    st.sampled_from(INTERESTING_INTS), st.sampled_from(INTERESTING_STRINGS),
    st.integers(-5, 40), st.none(), st.booleans(), st.floats(allow_nan=False),
    st.text(max_size=8), st.lists(st.integers(-3, 12), max_size=4),
    st.lists(st.lists(st.integers(-2, 12), min_size=1, max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2))


def _param_names():
    names = set()
    for opdef in mx.ops.registry.all_ops().values():
        names.update(opdef.params)
    return sorted(names) + ["__shape__", "__dtype__", "__lr_mult__", "__wd_mult__",
                            "__init__", "name", "op", "inputs", "attrs"]


def json_mutations():
    return st.one_of(
        st.tuples(st.just("set"), st.floats(0, 1, exclude_max=True), _JSON_VALUE),
        st.tuples(st.just("drop"), st.floats(0, 1, exclude_max=True), st.none()),
        st.tuples(st.just("dup"), st.floats(0, 1, exclude_max=True), st.none()),
        st.tuples(st.just("param"), st.floats(0, 1, exclude_max=True),
                  st.tuples(st.sampled_from(_param_names()),
                            st.sampled_from(INTERESTING_STRINGS) |
                            st.integers(-3, 2 ** 17).map(str))),
        st.tuples(st.just("op"), st.floats(0, 1, exclude_max=True),
                  st.sampled_from(sorted(mx.ops.registry.all_ops()) + ["null", "NoSuchOp"])),
    )


def _containers(doc):
    """Every (container, key) in the document, parents before children."""
    out, stack = [], [doc]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            out.append((node, key))
            if isinstance(value, (dict, list)):
                stack.append(value)
    return out


def mutate_json(doc, mutations):
    for kind, where, arg in mutations:
        if kind in ("param", "op"):
            nodes = [n for n in doc.get("nodes", []) if isinstance(n, dict)] \
                if isinstance(doc, dict) and isinstance(doc.get("nodes"), list) else []
            if not nodes:
                continue
            node = nodes[int(where * len(nodes))]
            if kind == "op":
                node["op"] = arg
            else:
                attrs = node.get("attrs")
                if not isinstance(attrs, dict):
                    attrs = node["attrs"] = {}
                attrs[arg[0]] = arg[1]
            continue
        places = _containers(doc)
        if not places:
            continue
        parent, key = places[int(where * len(places))]
        if kind == "set":
            parent[key] = arg
        elif kind == "drop":
            del parent[key]
        elif kind == "dup" and isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key])))
    return doc


def _json_or_none(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _nest(text, where, depth):
    pos = int(where * len(text))
    return text[:pos] + "[" * depth + "0" + "]" * depth + text[pos:]


def symbol_inputs():
    """Symbol JSON documents (bytes): seeds edited as JSON, then maybe as text or bytes."""
    docs = seeds("symbol")
    return st.builds(_symbol_input, st.sampled_from(range(len(docs))),
                     st.lists(json_mutations(), max_size=4),
                     st.one_of(st.none(), st.tuples(st.floats(0, 1), st.sampled_from(
                         [50, 999, 1001, 5000, 100000]))),
                     st.lists(_BYTE_MUTATION, max_size=2), st.just(docs))


def _symbol_input(i, mutations, nest, byte_mutations, docs):
    doc = mutate_json(json.loads(docs[i]), mutations)
    text = json.dumps(doc)
    if nest is not None:
        text = _nest(text, *nest)
    return mutate_bytes(text.encode("utf-8", "surrogatepass"), byte_mutations)


def ndarray_inputs():
    files = seeds("ndarray")
    return st.builds(lambda i, m: mutate_bytes(files[i], m), st.sampled_from(range(len(files))),
                     st.lists(_BYTE_MUTATION, min_size=1, max_size=6))


def states_inputs():
    """States blobs: the JSON header edited (length kept right), the body or bytes mutated."""
    blobs = seeds("states")
    return st.builds(_states_input, st.sampled_from(range(len(blobs))),
                     st.lists(json_mutations(), max_size=4),
                     st.lists(_BYTE_MUTATION, max_size=3), st.just(blobs))


def _states_input(i, header_mutations, byte_mutations, blobs):
    blob = blobs[i]
    start = len(states_format.MAGIC)
    (head_len,) = struct.unpack_from("<Q", blob, start)
    header = json.loads(blob[start + 8:start + 8 + head_len])
    head = json.dumps(mutate_json(header, header_mutations)).encode("utf-8", "surrogatepass")
    rebuilt = blob[:start] + struct.pack("<Q", len(head)) + head + blob[start + 8 + head_len:]
    return mutate_bytes(rebuilt, byte_mutations)


# -- targets: load, then use what loaded ------------------------------------------------------
def run_ndarray(raw):
    loaded = mx.nd.load_frombuffer(raw)
    arrays = loaded.values() if isinstance(loaded, dict) else loaded
    for arr in arrays:
        arr.asnumpy()
        _ = arr.shape, arr.dtype


def run_symbol(raw):
    sym = mx.sym.load_json(raw)
    sym.list_arguments()
    sym.list_auxiliary_states()
    sym.list_outputs()
    sym.get_internals().list_outputs()
    sym.attr_dict()
    text = sym.tojson()
    if mx.sym.load_json(text).tojson() != text:
        raise AssertionError("tojson -> load_json -> tojson changed the document")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sym.infer_shape_partial()
        sym.infer_type()


def run_states(raw):
    states, optimizer = states_format.decode(raw)
    again, _ = states_format.decode(states_format.encode(states, optimizer))
    if list(again) != list(states):
        raise AssertionError("encode -> decode changed the state indices")
    if optimizer is not None:
        _ = optimizer.learning_rate
    updater = mx.optimizer.get_updater(mx.optimizer.SGD(momentum=0.9))
    updater.set_states(raw)


TARGETS = {"ndarray": (ndarray_inputs, run_ndarray), "symbol": (symbol_inputs, run_symbol),
           "states": (states_inputs, run_states)}


class Untyped(Exception):
    """A loader raised something other than MXNetError."""


_GC = {"start": 0.0, "spent": 0.0}


def _time_gc(phase, info):
    if phase == "start":
        _GC["start"] = time.thread_time()
    else:
        _GC["spent"] += time.thread_time() - _GC["start"]


def check(run, raw):
    """(outcome, cpu seconds, wall seconds, gc seconds); outcome is 'loaded' or 'rejected'.

    The CPU time excludes the interpreter's cyclic garbage collections that happened to run
    during the input (a full one over the fuzzing process takes about 0.1-0.4 s); their time
    is the fourth value. Raises Untyped for any exception that is not an MXNetError.
    """
    if _time_gc not in gc.callbacks:
        gc.callbacks.append(_time_gc)
    wall, cpu, in_gc = time.perf_counter(), time.thread_time(), _GC["spent"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run(raw)
        outcome = "loaded"
    except mx.MXNetError:
        outcome = "rejected"
    except Exception as err:
        raise Untyped(f"{type(err).__name__}: {str(err)[:300]}") from err
    collecting = _GC["spent"] - in_gc
    return (outcome, time.thread_time() - cpu - collecting, time.perf_counter() - wall,
            collecting)


def rss_mb():
    """Resident memory now (MB), from /proc where there is one."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except OSError:
        return peak_rss_mb()


def peak_rss_mb():
    """Peak resident memory (MB) since the last `reset_peak_rss` (VmHWM on Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss():
    """Start the peak over from the current size (Linux: writing 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


class Stats:
    def __init__(self, name):
        self.name = name
        self.counts = {"loaded": 0, "rejected": 0, "untyped": 0, "slow": 0}
        self.max_cpu = self.max_wall = self.max_gc = 0.0
        self.slowest = ""
        self.seconds = 0.0
        self.failures = []

    def as_dict(self):
        return {"target": self.name, "inputs": sum(self.counts.values()) - self.counts["slow"],
                **self.counts, "max_cpu_s": round(self.max_cpu, 4),
                "max_wall_s": round(self.max_wall, 4), "max_gc_pause_s": round(self.max_gc, 4),
                "slowest_input": self.slowest,
                "seconds": round(self.seconds, 1)}


def fuzz(name, iterations, max_seconds, batch, failures_dir=None, seed=None):
    """Run one target over `iterations` generated inputs, in hypothesis runs of `batch`."""
    strategy, run = TARGETS[name]
    stats = Stats(name)
    start = time.perf_counter()

    def record(raw):
        try:
            outcome, cpu, wall, collecting = check(run, raw)
        except Untyped as err:
            stats.counts["untyped"] += 1
            stats.failures.append(str(err))
            _save_failure(failures_dir, name, len(stats.failures), raw, str(err))
            return
        stats.counts[outcome] += 1
        if cpu > stats.max_cpu:
            stats.max_cpu = cpu
            stats.slowest = f"{len(raw)} bytes, {outcome}: {raw[:60]!r}"
        stats.max_wall = max(stats.max_wall, wall)
        stats.max_gc = max(stats.max_gc, collecting)
        if cpu > max_seconds:
            stats.counts["slow"] += 1
            stats.failures.append(f"input took {cpu:.2f} s of CPU")
            _save_failure(failures_dir, name, len(stats.failures), raw, "slow")

    done = 0
    run_index = 0
    while done < iterations:
        n = min(batch, iterations - done)
        strat = strategy()
        options = settings(max_examples=n, deadline=None, database=None,
                           phases=[Phase.generate], suppress_health_check=list(HealthCheck))

        @options
        @given(strat)
        def one(raw):
            record(raw)

        if seed is not None:
            one = _seeded(one, seed * 1_000_003 + run_index)
        before = sum(stats.counts.values()) - stats.counts["slow"]
        one()
        made = sum(stats.counts.values()) - stats.counts["slow"] - before
        done += max(made, 1)
        run_index += 1
    stats.seconds = time.perf_counter() - start
    return stats


def _seeded(test, seed):
    from hypothesis import seed as hseed
    return hseed(seed)(test)


def _save_failure(directory, name, k, raw, why):
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    stem = os.path.join(directory, f"{name}-{k:04d}")
    with open(stem + ".bin", "wb") as f:
        f.write(raw)
    with open(stem + ".txt", "w") as f:
        f.write(why + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1000, help="inputs per target")
    parser.add_argument("--targets", default="ndarray,symbol,states",
                        help="comma-separated subset of " + ",".join(TARGETS))
    parser.add_argument("--batch", type=int, default=2000,
                        help="inputs per hypothesis run (each run starts a fresh engine)")
    parser.add_argument("--max-seconds", type=float, default=1.0,
                        help="CPU seconds one input may take")
    parser.add_argument("--max-growth-mb", type=float, default=100.0,
                        help="how much the process's memory may grow over the run")
    parser.add_argument("--seed", type=int, default=None, help="derandomised runs from this")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--failures", help="directory for failing inputs")
    args = parser.parse_args(argv)
    names = [t for t in args.targets.split(",") if t]
    unknown = [t for t in names if t not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {list(TARGETS)}")
    for name in names:  # warm up imports and caches before the memory baseline
        fuzz(name, 20, args.max_seconds, 20, seed=0)
    reset_peak_rss()
    base_rss, base_peak = rss_mb(), peak_rss_mb()
    results = []
    for name in names:
        stats = fuzz(name, args.iterations, args.max_seconds, args.batch, args.failures,
                     args.seed)
        results.append(stats)
        print(json.dumps(stats.as_dict()), flush=True)
        for failure in stats.failures[:10]:
            print(f"  {name}: {failure}", flush=True)
    report = {"command": "python experiments/fuzz_loaders.py " + " ".join(
        argv if argv is not None else sys.argv[1:]),
        "targets": [s.as_dict() for s in results],
        "rss_start_mb": round(base_rss, 1), "rss_end_mb": round(rss_mb(), 1),
        "peak_rss_start_mb": round(base_peak, 1), "peak_rss_end_mb": round(peak_rss_mb(), 1)}
    report["growth_mb"] = round(max(report["rss_end_mb"] - report["rss_start_mb"],
                                    report["peak_rss_end_mb"] - report["peak_rss_start_mb"]), 1)
    ok = all(not s.failures for s in results) and report["growth_mb"] <= args.max_growth_mb
    report["ok"] = ok
    print(json.dumps({k: v for k, v in report.items() if k != "targets"}), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
