"""`dist_sync` with two worker processes on this machine (gloo over 127.0.0.1): training
equals one process on the combined batch, workers in different buckets agree, a killed or hung
worker makes the survivor fail with an error naming it, and a restart from the last checkpoint
finishes where an uninterrupted run does.

Each scenario starts its processes once (`dist_worker.py`); every process runs under a
deadline and is killed (with its process group) when the test ends, passing or failing.
"""
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import bucketmod as mx

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
_spec = importlib.util.spec_from_file_location("dist_worker", os.path.join(HERE, "dist_worker.py"))
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)
FAIL_TIMEOUT = 3.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(scenario, out_dir, timeout=120.0, dist_timeout=30.0, world=2, wait_for=None):
    """Run `world` workers of `scenario` until the ranks `wait_for` (default: all) end or
    `timeout` passes, then kill what still runs; returns [(returncode, output, seconds to
    exit or None)] by rank."""
    wait_for = range(world) if wait_for is None else wait_for
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
               WORLD_SIZE=str(world), BUCKETMOD_DIST_TIMEOUT=str(dist_timeout),
               BUCKETMOD_DIST_JOIN_TIMEOUT=str(timeout),
               BUCKETMOD_DIST_HEARTBEAT="0.25", PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    procs, logs = [], []
    start = time.monotonic()
    try:
        for rank in range(world):
            log = open(os.path.join(out_dir, f"log{rank}-{scenario}.txt"), "w+")
            logs.append(log)
            procs.append(subprocess.Popen(
                [sys.executable, os.path.join(HERE, "dist_worker.py"), scenario, str(out_dir)],
                env=dict(env, RANK=str(rank)), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True))
        ended = [None] * world
        while any(ended[r] is None for r in wait_for) and time.monotonic() - start < timeout:
            for rank, proc in enumerate(procs):
                if ended[rank] is None and proc.poll() is not None:
                    ended[rank] = time.monotonic() - start
            time.sleep(0.05)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    results = []
    for rank, (proc, log) in enumerate(zip(procs, logs)):
        log.seek(0)
        results.append((proc.returncode, log.read(), ended[rank]))
        log.close()
    return results


def assert_ok(results):
    for rank, (code, output, _) in enumerate(results):
        assert code == 0, f"rank {rank} exited with {code}:\n{output[-3000:]}"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    assert_ok(launch("train", out))
    ranks = [dict(np.load(out / f"rank{r}.npz")) for r in range(2)]
    reports = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    return out, ranks, reports


def test_kvstore_api_on_two_workers(trained):
    _, _, reports = trained
    for rank, report in enumerate(reports):
        assert (report["rank"], report["num_workers"], report["type"]) == (rank, 2, "dist_sync")
        assert report["init_a"] == [[1.0] * 3] * 2          # rank 0's value everywhere
        assert report["pushpull"] == [[[3.0] * 3] * 2, [20.0] * 4]
        # stored b = rank 0's 5; gradient 4 (2 contexts x 2 workers); 5 - 0.5 * 0.5 * 4 = 4
        assert report["optimizer_b"] == [4.0] * 4
        assert report["dead"] == 0
        assert "row_sparse_pull" in report["row_sparse"] and "dense" in report["row_sparse"]


def test_metric_reduced_over_workers(trained):
    _, _, reports = trained
    metric = mx.metric.create(["acc", "ce", mx.metric.F1(average="micro")])
    labels = np.array([0, 1] + [0, 1, 1, 0], dtype=np.float32)
    preds = np.array([[0.8, 0.2], [0.3, 0.7]] + [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4],
                                                 [0.1, 0.9]], dtype=np.float32)
    metric.update([mx.nd.array(labels)], [mx.nd.array(preds)])
    for report in reports:
        names, values = zip(*report["metric_reduced"])
        expected = dict(metric.get_name_value())
        assert list(names) == list(expected)
        np.testing.assert_allclose(values, list(expected.values()), rtol=1e-6)
    assert reports[0]["metric_local"] != reports[1]["metric_local"]


def one_process_mlp():
    """The MLP trained by one process on the batches of both workers put together."""
    x, y = worker.mlp_data()
    part = len(x) // 2
    order = np.concatenate([np.r_[s:s + worker.BATCH, part + s:part + s + worker.BATCH]
                            for s in range(0, part, worker.BATCH)])
    train = mx.io.NDArrayIter(x[order], y[order], batch_size=2 * worker.BATCH)
    mod = mx.mod.Module(worker.mlp(mx))
    mod.fit(train, num_epoch=worker.EPOCHS, optimizer="sgd", kvstore=None,
            optimizer_params=worker.FIT_PARAMS, arg_params=worker.mlp_init(mx))
    return {k: v.asnumpy() for k, v in mod.get_params()[0].items()}


def test_mlp_fit_equals_one_process_on_the_combined_batch(trained):
    _, ranks, _ = trained
    expected = one_process_mlp()
    for name, value in expected.items():
        np.testing.assert_array_equal(ranks[0][f"mlp:{name}"], ranks[1][f"mlp:{name}"])
        np.testing.assert_allclose(ranks[0][f"mlp:{name}"], value, rtol=1e-5, atol=1e-6,
                                   err_msg=name)
        assert not np.allclose(value, worker.mlp_init(mx)[name].asnumpy(), atol=1e-3)


def test_checkpoints_written_by_rank_0_only(trained):
    out, _, _ = trained
    names = sorted(os.listdir(out))
    assert [n for n in names if n.startswith("mlp-")] == [
        "mlp-0001.manifest", "mlp-0001.params", "mlp-0001.states", "mlp-0002.manifest",
        "mlp-0002.params", "mlp-0002.states", "mlp-0003.manifest", "mlp-0003.params",
        "mlp-0003.states", "mlp-symbol.json"]
    assert not [n for n in names if n.endswith(".tmp")]


def test_workers_in_different_buckets_equal_one_process_accumulating(trained):
    """Each step rank 0 and rank 1 are in different buckets; one process that accumulates
    both buckets' gradients before each update lands on the same parameters."""
    _, ranks, _ = trained
    arg_params, aux_params = worker.lm_init(mx)
    mod = worker.lm_module(mx)
    mod.set_params(arg_params, aux_params)
    params = dict(worker.LM_PARAMS, rescale_grad=1.0 / (2 * worker.BATCH))
    mod.init_optimizer(kvstore=None, optimizer="sgd", optimizer_params=params)
    for step in range(len(worker.LM_KEYS[0])):
        assert worker.LM_KEYS[0][step] != worker.LM_KEYS[1][step]
        mod.forward_backward(worker.lm_batch(mx, 0, step))
        first = {k: g.asnumpy().copy() for k, g in mod.get_grads().items()}
        mod.forward_backward(worker.lm_batch(mx, 1, step))
        for name, grad in mod.get_grads().items():
            grad[:] = grad.asnumpy() + first[name]
        mod.update()
    expected = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
    assert sorted(expected) == sorted(k[3:] for k in ranks[0] if k.startswith("lm:"))
    for name, value in expected.items():
        np.testing.assert_array_equal(ranks[0][f"lm:{name}"], ranks[1][f"lm:{name}"])
        np.testing.assert_allclose(ranks[0][f"lm:{name}"], value, rtol=1e-5, atol=1e-6,
                                   err_msg=name)


@pytest.mark.parametrize("how,expected", [
    ("die", "worker rank 1 stopped responding"),
    ("hang", "worker rank 1 is alive but has not reached this collective")])
def test_failed_worker_is_named_and_training_resumes(how, expected, trained, tmp_path):
    """Rank 1 dies (SIGKILL) or stops taking part midway through an epoch: rank 0 fails
    within the timeout with an error naming rank 1. Both restarted from the last checkpoint
    finish with the parameters of the uninterrupted run."""
    _, ranks, _ = trained
    results = launch(how, tmp_path, timeout=90.0, dist_timeout=FAIL_TIMEOUT, wait_for=[0])
    code, output, seconds = results[0]
    assert code not in (0, None) and seconds is not None, output[-3000:]
    assert "MXNetError" in output and expected in output, output[-3000:]
    assert "Restart every worker from the last checkpoint" in output
    failed_after = float(re.search(r"MXNetError: .* failed after ([0-9.]+) s", output)[1])
    assert failed_after < (1.0 if how == "die" else FAIL_TIMEOUT + 3.0), output[-3000:]
    if how == "die":
        assert results[1][0] == -signal.SIGKILL
    else:
        assert results[1][2] is None            # still asleep when rank 0 gave up: killed
        assert failed_after >= FAIL_TIMEOUT
    if how == "hang":
        return
    assert_ok(launch("resume", tmp_path))
    for rank in range(2):
        resumed = dict(np.load(tmp_path / f"resumed{rank}.npz"))
        for name, value in resumed.items():
            np.testing.assert_allclose(value, ranks[0][name], rtol=1e-6, atol=1e-7,
                                       err_msg=name)
