"""Kill a process that is saving checkpoints at random moments; check what is left on disk.

A forked child saves generation after generation of one checkpoint prefix with
`Module.save_checkpoint(..., save_optimizer_states=True)`, alternating epochs 1 and 2 (so
`prefix-symbol.json` is shared between them). Every file of generation g carries g: the
symbol as an attribute of `data`, the parameters and the momentum states as their values.
The parent SIGKILLs the child after a random delay, then for each epoch:
- loads the checkpoint (`Module.load` with optimizer states): it must either raise
  `CheckpointMismatch`/`CheckpointNotFound`, or give symbol, parameters and states of one
  generation (a load that mixes generations is an *undetected mix*: a failure);
- counts the temporary files the kill left (orphans), saves once more itself, and checks that
  no temporary file remains and that the new generation loads whole.

    python experiments/kill_checkpoints.py --kills 200 --json kill.json
"""
import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import bucketmod as mx  # noqa: E402

HIDDEN = 192  # a few hundred KB per file, so a save takes long enough to be interrupted


def module_of(generation):
    """A bound module whose symbol, parameters and optimizer states all say `generation`."""
    data = mx.sym.Variable("data", attr={"__gen__": str(generation)})
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=HIDDEN, name="fc"),
                               name="softmax")
    mod = mx.mod.Module(net, logger=_Quiet())
    mod.bind([("data", (2, HIDDEN))], [("softmax_label", (2,))])
    value = float(generation)
    mod.init_params()
    for arr in mod.get_param_arrays()[0].values():
        arr.tensor.fill_(value)
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.0,
                                                         "momentum": 0.5})
    mod.forward_backward(mx.io.DataBatch([mx.nd.ones((2, HIDDEN))], [mx.nd.zeros((2,))]))
    mod.update()
    for state in mod._updater.states.values():
        state.tensor.fill_(value)
    return mod


class _Quiet:
    def info(self, *args, **kwargs):
        pass

    warning = info


def save(prefix, generation):
    module_of(generation).save_checkpoint(prefix, 1 + generation % 2,
                                          save_optimizer_states=True)


def inspect(prefix, epoch):
    """'absent', 'mismatch' (a mix reported), ('whole', generation) or ('mixed', gens)."""
    try:
        mod = mx.mod.Module.load(prefix, epoch, load_optimizer_states=True)
        states, _ = mx.model.load_optimizer_states(prefix, epoch)
    except mx.model.CheckpointNotFound:
        return "absent"
    except mx.model.CheckpointMismatch:
        return "mismatch"
    sym_gen = int(mod.symbol.attr_dict()["data"]["__gen__"])
    arg_params, _ = mod._preload_params
    param_gens = {float(v.asnumpy().flat[0]) for v in arg_params.values()}
    state_gens = {float(s.asnumpy().flat[0]) for s in states.values()}
    gens = {float(sym_gen)} | param_gens | state_gens
    if len(gens) == 1:
        return ("whole", sym_gen)
    return ("mixed", sorted(gens))


def temporaries(directory):
    return sorted(n for n in os.listdir(directory) if n.endswith(".tmp"))


def run_child(prefix, first_generation, progress_fd):
    """In the forked child: save generations until killed."""
    import torch
    torch.set_num_threads(1)
    generation = first_generation
    while True:
        save(prefix, generation)
        os.write(progress_fd, b".")
        generation += 1


def kill_once(prefix, first_generation, max_delay, rng):
    """Fork a saver, kill it after a random delay; return the number of saves it finished."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            run_child(prefix, first_generation, write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    time.sleep(rng.uniform(0, max_delay))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    finished = 0
    os.set_blocking(read_fd, False)
    try:
        while True:
            chunk = os.read(read_fd, 4096)
            if not chunk:
                break
            finished += len(chunk)
    except BlockingIOError:
        pass
    os.close(read_fd)
    return finished


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--max-delay", type=float, default=1.0,
                        help="the kill comes after a delay drawn from [0, this) seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", help="where to save (default: a new temporary directory)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    directory = args.dir or tempfile.mkdtemp(prefix="kill_checkpoints_")
    prefix = os.path.join(directory, "ck")
    counts = {"kills": 0, "saves_finished": 0, "kills_leaving_orphans": 0, "orphans": 0,
              "orphans_after_next_save": 0, "loads_whole": 0, "mixes_detected": 0,
              "absent": 0, "undetected_mixes": 0, "next_save_unreadable": 0}
    problems = []
    start = time.perf_counter()
    for kill in range(args.kills):
        first = 1000 * (kill + 1)
        counts["saves_finished"] += kill_once(prefix, first, args.max_delay, rng)
        counts["kills"] += 1
        for epoch in (1, 2):
            outcome = inspect(prefix, epoch)
            if outcome == "absent":
                counts["absent"] += 1
            elif outcome == "mismatch":
                counts["mixes_detected"] += 1
            elif outcome[0] == "whole":
                counts["loads_whole"] += 1
            else:
                counts["undetected_mixes"] += 1
                problems.append(f"kill {kill}, epoch {epoch}: generations {outcome[1]} loaded "
                                f"together")
        left = temporaries(directory)
        counts["orphans"] += len(left)
        counts["kills_leaving_orphans"] += bool(left)
        generation = first + 999
        save(prefix, generation)
        left = temporaries(directory)
        if left:
            counts["orphans_after_next_save"] += len(left)
            problems.append(f"kill {kill}: {left} remain after the next save")
        if inspect(prefix, 1 + generation % 2) != ("whole", generation):
            counts["next_save_unreadable"] += 1
            problems.append(f"kill {kill}: the save after the kill does not load whole")
    report = {"command": "python experiments/kill_checkpoints.py " + " ".join(
        argv if argv is not None else sys.argv[1:]), **counts,
        "seconds": round(time.perf_counter() - start, 1), "problems": problems[:20],
        "ok": not problems}
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
