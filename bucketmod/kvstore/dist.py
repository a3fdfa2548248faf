"""MXNet's distributed stores ('dist_sync', 'dist_device_sync', 'dist_sync_device') over
torch.distributed: gloo for CPU tensors, NCCL for CUDA tensors, started by `torchrun`.

Workers find each other through torchrun's environment (`RANK`, `WORLD_SIZE`, `MASTER_ADDR`,
`MASTER_PORT`); MXNet's `DMLC_PS_ROOT_URI`, `DMLC_PS_ROOT_PORT`, `DMLC_NUM_WORKER` and
`DMLC_WORKER_ID` stand in for them when those are unset. There are no server processes: a push
is an all-reduce (a sum over workers), and with an optimizer set every worker applies the same
update to the same sum, which is what MXNet's dist_sync servers compute. A process started
without any of these variables is the only worker of its group.

Failure: workers must all start within `BUCKETMOD_DIST_JOIN_TIMEOUT` seconds (default 300, or
the collective timeout if longer), and every collective after that completes within
`BUCKETMOD_DIST_TIMEOUT` seconds (default 300). Each
worker also beats a heartbeat into the rendezvous store every `BUCKETMOD_DIST_HEARTBEAT`
seconds (default 1), with how many collectives it has entered; when a collective fails or times
out, the survivors read the heartbeats and raise an MXNetError that names the rank that died,
stopped responding or fell behind. NCCL reports its own timeouts (its watchdog ends the
process, untested here), so the named-rank diagnosis is for gloo.
"""
import atexit
import logging
import os
import threading
import time
from datetime import timedelta

import torch
import torch.distributed as dist

from ..base import MXNetError
from .local import KVStore

SYNC_TYPES = ("dist_sync", "dist_device_sync", "dist_sync_device")
TIMEOUT_ENV = "BUCKETMOD_DIST_TIMEOUT"
JOIN_TIMEOUT_ENV = "BUCKETMOD_DIST_JOIN_TIMEOUT"
HEARTBEAT_ENV = "BUCKETMOD_DIST_HEARTBEAT"
_DMLC = (("MASTER_ADDR", "DMLC_PS_ROOT_URI"), ("MASTER_PORT", "DMLC_PS_ROOT_PORT"),
         ("WORLD_SIZE", "DMLC_NUM_WORKER"), ("RANK", "DMLC_WORKER_ID"))
WORKER_GROUP = 4


def _seconds(name, default):
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValueError(f"{name}: expected a positive number of seconds, got {raw!r}")
    return value


def _int_env(name):
    raw = os.environ[name]
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}: expected an integer, got {raw!r}") from None


def _environment():
    """Fill torchrun's variables from MXNet's DMLC_* ones where only those are set; returns
    whether this process was launched as one of several workers."""
    role = os.environ.get("DMLC_ROLE", "worker")
    if role != "worker":
        raise MXNetError(f"DMLC_ROLE={role!r}: bucketmod has no {role} processes (its dist "
                         f"stores all-reduce among workers); start only the workers, e.g. "
                         f"with torchrun")
    for torch_name, dmlc_name in _DMLC:
        if torch_name not in os.environ and dmlc_name in os.environ:
            os.environ[torch_name] = os.environ[dmlc_name]
    given = [name for name, _ in _DMLC if name in os.environ]
    if not given:
        return False
    missing = [name for name, _ in _DMLC if name not in os.environ]
    if missing:
        raise MXNetError(f"dist kvstore: {', '.join(given)} set but {', '.join(missing)} "
                         f"not; start the workers with torchrun (it sets RANK, WORLD_SIZE, "
                         f"MASTER_ADDR and MASTER_PORT) or set all four")
    return True


class _Group:
    """This process's place among the workers: the torch.distributed process group, the
    rendezvous store and the heartbeat. One per process, shared by every dist store."""

    _instance = None

    @classmethod
    def get(cls):
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __init__(self):
        self.timeout = _seconds(TIMEOUT_ENV, 300.0)
        self.join_timeout = _seconds(JOIN_TIMEOUT_ENV, max(300.0, self.timeout))
        self.interval = min(_seconds(HEARTBEAT_ENV, 1.0), self.timeout / 4)
        self.steps = 0
        self.failure = None
        self._beat_thread = None
        if not _environment():
            logging.warning("dist kvstore: no RANK/WORLD_SIZE (or DMLC_*) in the environment; "
                            "this process is the only worker (start several with torchrun)")
            self.rank, self.world_size = 0, 1
            return
        self.rank, self.world_size = _int_env("RANK"), _int_env("WORLD_SIZE")
        if not 0 <= self.rank < self.world_size:
            raise MXNetError(f"RANK={self.rank} is outside 0..WORLD_SIZE-1 "
                             f"(WORLD_SIZE={self.world_size})")
        self.address = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
        if self.world_size > 1:
            self._join()

    def _join(self):
        if dist.is_initialized():
            raise MXNetError("dist kvstore: torch.distributed is already initialised in this "
                             "process; bucketmod's dist stores start their own process group")
        limit = timedelta(seconds=self.join_timeout)
        try:
            store, _, _ = next(dist.rendezvous(
                f"env://?rank={self.rank}&world_size={self.world_size}", timeout=limit))
        except (RuntimeError, ValueError) as err:
            raise MXNetError(f"dist kvstore: rank {self.rank} could not meet the other "
                             f"{self.world_size - 1} worker(s) at {self.address} within "
                             f"{self.join_timeout:g} s ({JOIN_TIMEOUT_ENV}); is every worker "
                             f"started, with the same MASTER_ADDR/MASTER_PORT? "
                             f"({_first_line(err)})") from err
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        self.store = dist.PrefixStore(f"bucketmod/{attempt}/", store)
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend, store=dist.PrefixStore("pg/", self.store),
                                rank=self.rank, world_size=self.world_size, timeout=limit)
        self.store.set(f"hb/{self.rank}", "0 0")
        self._run("joining", lambda: dist.all_reduce(torch.zeros(1)))
        # training collectives run on their own group, under the (shorter) collective timeout
        self.pg = dist.new_group(timeout=timedelta(seconds=self.timeout))
        host, port = self.address.rsplit(":", 1)
        self._beats = _Heartbeat(self, dist.PrefixStore(
            f"bucketmod/{attempt}/",
            dist.TCPStore(host, int(port), is_master=False, timeout=limit)))
        self._beat_thread = threading.Thread(target=self._beats.run, daemon=True,
                                             name="bucketmod-heartbeat")
        self._beat_thread.start()
        atexit.register(self.close)

    def close(self):
        """Stop the heartbeat at exit (a thread still inside torch at shutdown aborts the
        process); one blocked on an unreachable store is left behind after a short wait."""
        if self._beat_thread is not None:
            self._beats.stop.set()
            self._beat_thread.join(timeout=2 * self.interval + 1.0)
            self._beat_thread = None

    def _run(self, what, fn):
        """Run one collective, turning a failure or timeout into an error naming the rank."""
        if self.failure is not None:
            raise MXNetError(f"{what}: an earlier collective failed ({self.failure}); restart "
                             f"every worker from the last checkpoint")
        self.steps += 1
        start = time.monotonic()
        try:
            return fn()
        except RuntimeError as err:
            waited = time.monotonic() - start
            self.failure = self._diagnose(err)
            raise MXNetError(f"dist kvstore: {what} failed after {waited:.1f} s on rank "
                             f"{self.rank} of {self.world_size} at collective #{self.steps}: "
                             f"{self.failure}. Restart every worker from the last checkpoint. "
                             f"({_first_line(err)})") from err

    def _diagnose(self, err):
        beats = getattr(self, "_beats", None)
        if beats is None:
            return "the workers could not synchronise"
        before, ticks = dict(beats.beat), beats.ticks
        since = time.monotonic()
        beats.wait_ticks(4, limit=8 * self.interval + 2.0)
        if beats.error is not None or beats.ticks == ticks:
            return (f"the rendezvous store at {self.address} does not answer, so rank 0 (or, "
                    f"under torchrun, the agent on the master node) died, is stuck or its "
                    f"machine is down")
        # a live worker beats about 4 times in 4 ticks; a dead one at most once (in flight)
        dead = [r for r, b in beats.beat.items()
                if r != self.rank and (b or 0) - (before[r] or 0) <= 1]
        if dead:
            return (f"worker rank {_ranks(dead)} stopped responding (its heartbeat stopped; "
                    f"watched for {time.monotonic() - since:.1f} s): it died or is stuck")
        behind = {r: s for r, s in beats.steps.items() if r != self.rank and s < self.steps}
        if behind:
            return (f"worker rank {_ranks(behind)} is alive but has not reached this "
                    f"collective (it is at #{min(behind.values())}): it hangs, or it runs a "
                    f"different number of steps")
        return f"every worker still beats; the collective itself failed: {_first_line(err)}"

    def allreduce(self, buffers, what):
        if self.world_size == 1 or not buffers:
            return

        def reduce_all():
            works = [dist.all_reduce(b, group=self.pg, async_op=True) for b in buffers]
            for work in works:
                work.wait()
        self._run(what, reduce_all)

    def broadcast(self, buffers, what):
        if self.world_size == 1 or not buffers:
            return

        def send_all():
            works = [dist.broadcast(b, src=0, group=self.pg, async_op=True) for b in buffers]
            for work in works:
                work.wait()
        self._run(what, send_all)

    def all_gather(self, tensor, what):
        """`[world_size, *tensor.shape]`: every worker's tensor, by rank."""
        if self.world_size == 1:
            return tensor[None]
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        self._run(what, lambda: dist.all_gather(parts, tensor, group=self.pg))
        return torch.stack(parts)

    def barrier(self, what="barrier"):
        """A one-element all-reduce on the CPU (gloo), whatever device the training uses."""
        if self.world_size > 1:
            self._run(what, lambda: dist.all_reduce(torch.zeros(1), group=self.pg))

    def dead_workers(self, timeout_sec):
        if self.world_size == 1:
            return 0
        return len(self._beats.silent_since(time.monotonic() - timeout_sec))


class _Heartbeat:
    """Publishes `"<beat> <collectives entered>"` under `hb/<rank>` and watches the others'."""

    def __init__(self, group, store):
        self.group = group
        self.store = store
        self.stop = threading.Event()
        self.error = None
        self.ticks = 0
        now = time.monotonic()
        self.changed = dict.fromkeys(range(group.world_size), now)
        self.beat = dict.fromkeys(range(group.world_size), None)
        self.steps = dict.fromkeys(range(group.world_size), 0)

    def run(self):
        keys = [f"hb/{r}" for r in range(self.group.world_size)]
        beat = 0
        while not self.stop.wait(self.group.interval):
            beat += 1
            try:
                self.store.set(keys[self.group.rank], f"{beat} {self.group.steps}")
                values = _multi_get(self.store, keys)
            except RuntimeError as err:
                self.error = err
                return
            now = time.monotonic()
            for rank, value in enumerate(values):
                their_beat, their_steps = (int(x) for x in bytes(value).decode().split())
                if their_beat != self.beat[rank]:
                    self.beat[rank], self.changed[rank] = their_beat, now
                self.steps[rank] = their_steps
            self.ticks += 1

    def wait_ticks(self, count, limit):
        """Wait (up to `limit` s) until `count` more ticks have run."""
        deadline = time.monotonic() + limit
        target = self.ticks + count
        while time.monotonic() < deadline and self.error is None and self.ticks < target:
            time.sleep(self.group.interval / 4)

    def silent_since(self, since):
        return [r for r, t in self.changed.items() if r != self.group.rank and t < since]


def _multi_get(store, keys):
    multi = getattr(store, "multi_get", None)
    return multi(keys) if multi is not None else [store.get(k) for k in keys]


def _ranks(ranks):
    return ", ".join(str(r) for r in sorted(ranks))


def _first_line(err):
    text = str(err).strip().splitlines()
    return text[0][:300] if text else type(err).__name__


def writes_checkpoints():
    """False on every rank but 0 once this process trains with a dist store: checkpoints and
    result files are written by rank 0 only."""
    group = _Group._instance
    return group is None or group.rank == 0


class DistKVStore(KVStore):
    """A dist store: the local store's API, with every reduction summed over the workers.

    `init` (and so `broadcast`) makes every worker hold rank 0's value, as MXNet's servers do.
    Every worker must make the same pushes, in the same order (they are collectives).
    """

    def __init__(self, kv_type="dist_sync"):
        super().__init__(kv_type)
        self._group = _Group.get()

    @property
    def rank(self):
        return self._group.rank

    @property
    def num_workers(self):
        return self._group.world_size

    def _after_init(self, keys):
        layout, slots = self._reduce([(k, [self._store[k]]) for k in keys], workers=False)
        self._group.broadcast([buffer for _, _, buffer in layout.groups], "init")
        with torch.no_grad():
            for k, s in zip(keys, slots):
                self._store[k].tensor.copy_(layout.views[s])

    def _sum_over_workers(self, buffers):
        self._group.allreduce(buffers, "all-reduce")

    def barrier(self):
        """Wait until every worker reaches this barrier (within the timeout)."""
        self._group.barrier()

    _barrier = barrier

    def num_dead_node(self, node_id, timeout_sec=60):
        """Workers not heard from for `timeout_sec` (node_id: MXNet's group bits; only the
        worker group, 4, has members here: there are no servers and no scheduler)."""
        if not node_id & WORKER_GROUP:
            return 0
        return self._group.dead_workers(timeout_sec)

    def reduce_metric(self, metric):
        """A copy of `metric` whose statistics cover every worker's batches."""
        from .metric_sync import reduce_metric
        return reduce_metric(metric, self._group)
