"""One worker of the dist-kvstore tests (`test_dist.py` starts one process per rank with
RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set, as torchrun would).

    python tests/kvstore/dist_worker.py SCENARIO OUT_DIR

Scenarios:
- train: the kvstore API, an MLP `Module.fit` on `dist_sync` (checkpoints every epoch), a
  BucketingModule whose workers are in different buckets in the same step, and a metric
  reduced over the workers; results go to OUT_DIR/rank<r>.npz / .json.
- die: the same MLP fit, where rank 1 kills itself (SIGKILL) in epoch DIE_EPOCH.
- hang: the same MLP fit, where rank 1 stops taking part (sleeps) in epoch DIE_EPOCH.
- resume: the MLP fit restarted from checkpoint DIE_EPOCH (parameters and optimizer states).

The models and data are functions here, so the test computes the one-process references from
exactly what the workers train on.
"""
import json
import os
import signal
import sys
import time

import numpy as np

BATCH = 4            # per worker
STEPS = 3            # batches per worker per epoch
EPOCHS = 3
DIE_EPOCH = 1        # rank 1 dies/hangs during this epoch; the checkpoint of DIE_EPOCH survives
FIT_PARAMS = {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.001}
LM_VOCAB, LM_HIDDEN, LM_BUCKETS = 11, 8, (4, 6)
LM_KEYS = {0: (4, 6, 4), 1: (6, 4, 6)}   # rank -> bucket of each step
LM_PARAMS = {"learning_rate": 0.5, "momentum": 0.9}


def mlp(mx):
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=16, name="fc1")
    act1 = mx.sym.Activation(fc1, act_type="relu", name="relu1")
    fc2 = mx.sym.FullyConnected(act1, num_hidden=3, name="fc2")
    return mx.sym.SoftmaxOutput(fc2, name="softmax")


def mlp_data(workers=2):
    rng = np.random.RandomState(7)
    n = workers * BATCH * STEPS
    x = rng.randn(n, 5).astype(np.float32)
    y = rng.randint(0, 3, n).astype(np.float32)
    return x, y


def mlp_init(mx):
    rng = np.random.RandomState(3)
    shapes = {"fc1_weight": (16, 5), "fc1_bias": (16,), "fc2_weight": (3, 16), "fc2_bias": (3,)}
    return {k: mx.nd.array(rng.uniform(-0.5, 0.5, s).astype(np.float32))
            for k, s in shapes.items()}


def lm_sym_gen(mx):
    def sym_gen(seq_len):
        data = mx.sym.Variable("data")
        label = mx.sym.Variable("softmax_label")
        embed = mx.sym.Embedding(data, input_dim=LM_VOCAB, output_dim=LM_HIDDEN, name="embed")
        cell = mx.rnn.LSTMCell(num_hidden=LM_HIDDEN, prefix="lstm_")
        outputs, _ = cell.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.Reshape(outputs, shape=(-1, LM_HIDDEN))
        pred = mx.sym.FullyConnected(pred, num_hidden=LM_VOCAB, name="pred")
        label = mx.sym.Reshape(label, shape=(-1,))
        return mx.sym.SoftmaxOutput(pred, label, name="softmax"), ("data",), ("softmax_label",)
    return sym_gen


def lm_batch(mx, rank, step):
    key = LM_KEYS[rank][step]
    rng = np.random.RandomState(100 * rank + step)
    tokens = rng.randint(1, LM_VOCAB, (BATCH, key + 1)).astype(np.float32)
    data, label = tokens[:, :-1], tokens[:, 1:]
    return mx.io.DataBatch([mx.nd.array(data)], [mx.nd.array(label)], bucket_key=key,
                           provide_data=[mx.io.DataDesc("data", data.shape)],
                           provide_label=[mx.io.DataDesc("softmax_label", label.shape)])


def lm_module(mx):
    mod = mx.mod.BucketingModule(lm_sym_gen(mx), default_bucket_key=max(LM_BUCKETS))
    shape = (BATCH, max(LM_BUCKETS))
    mod.bind([("data", shape)], [("softmax_label", shape)])
    mod.init_params(mx.init.Xavier(), arg_params=None, allow_missing=True)
    return mod


def lm_init(mx):
    """The same initial LM parameters on every worker and in the test."""
    mx.random.seed(11)
    np.random.seed(11)
    return lm_module(mx).get_params()


def fit_mlp(mx, kv, out_dir, begin_epoch=0, callback=None):
    x, y = mlp_data(kv.num_workers)
    train = mx.io.NDArrayIter(x, y, batch_size=BATCH, num_parts=kv.num_workers,
                              part_index=kv.rank)
    prefix = os.path.join(out_dir, "mlp")
    if begin_epoch:
        mod = mx.mod.Module.load(prefix, begin_epoch, load_optimizer_states=True)
        init = {}
    else:
        mod = mx.mod.Module(mlp(mx))
        # only rank 0's parameters matter: init_optimizer makes every worker start from them
        init = {"arg_params": mlp_init(mx)} if kv.rank == 0 else {}
        mx.random.seed(kv.rank)
    mod.fit(train, num_epoch=EPOCHS, begin_epoch=begin_epoch, kvstore=kv,
            optimizer="sgd", optimizer_params=FIT_PARAMS, eval_metric="acc",
            initializer=mx.init.Uniform(0.5), **init,
            epoch_end_callback=mx.callback.module_checkpoint(mod, prefix,
                                                             save_optimizer_states=True),
            batch_end_callback=callback)
    return mod


def check_api(mx, kv):
    """The kvstore surface on two workers; returns what the test checks."""
    rank = kv.rank
    out = {"rank": rank, "num_workers": kv.num_workers, "type": kv.type}
    kv.init(["a", "b"], [mx.nd.ones((2, 3)) * (rank + 1), mx.nd.ones((4,)) * (rank + 5)])
    got = mx.nd.zeros((2, 3))
    kv.pull("a", out=got)
    out["init_a"] = got.asnumpy().tolist()
    grads = [mx.nd.ones((2, 3)) * (rank + 1), mx.nd.ones((4,), dtype="float64") * 10]
    kv.init("c", mx.nd.zeros((4,), dtype="float64"))
    kv.pushpull(["a", "c"], grads)
    out["pushpull"] = [g.asnumpy().tolist() for g in grads]
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.5, rescale_grad=0.5))
    kv.push("b", [mx.nd.ones((4,)), mx.nd.ones((4,))])      # two contexts per worker
    weight = mx.nd.zeros((4,))
    kv.pull("b", out=weight)
    out["optimizer_b"] = weight.asnumpy().tolist()
    kv.barrier()
    out["dead"] = kv.num_dead_node(4, timeout_sec=60)
    try:
        kv.row_sparse_pull("b", out=weight, row_ids=mx.nd.array([0]))
    except mx.MXNetError as err:
        out["row_sparse"] = str(err)
    metric = mx.metric.create(["acc", "ce", mx.metric.F1(average="micro")])
    labels = [mx.nd.array([0, 1, 1, 0][: 2 + 2 * rank])]
    preds = [mx.nd.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9]][: 2 + 2 * rank])]
    metric.update(labels, preds)
    out["metric_local"] = metric.get_name_value()
    out["metric_reduced"] = kv.reduce_metric(metric).get_name_value()
    return out


def train_lm(mx, kv):
    arg_params, aux_params = lm_init(mx)
    mod = lm_module(mx)
    mod.set_params(arg_params, aux_params)
    mod.init_optimizer(kvstore=kv, optimizer="sgd", optimizer_params=LM_PARAMS)
    for step in range(len(LM_KEYS[kv.rank])):
        mod.forward_backward(lm_batch(mx, kv.rank, step))
        mod.update()
    return mod.get_params()[0]


def stop_in_epoch(kv, how):
    """A batch-end callback that makes rank 1 die or hang midway through DIE_EPOCH."""
    def callback(param):
        if kv.rank == 1 and param.epoch == DIE_EPOCH and param.nbatch == 1:
            if how == "die":
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(600)
    return callback


def main(scenario, out_dir):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
    import bucketmod as mx
    kv = mx.kv.create("dist_sync")
    rank = kv.rank
    if scenario == "train":
        report = check_api(mx, kv)
        mlp_params = fit_mlp(mx, kv, out_dir).get_params()[0]
        lm_params = train_lm(mx, kv)
        arrays = {f"mlp:{k}": v.asnumpy() for k, v in mlp_params.items()}
        arrays.update({f"lm:{k}": v.asnumpy() for k, v in lm_params.items()})
        np.savez(os.path.join(out_dir, f"rank{rank}.npz"), **arrays)
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(report, f)
    elif scenario in ("die", "hang"):
        fit_mlp(mx, kv, out_dir, callback=stop_in_epoch(kv, scenario))
    elif scenario == "resume":
        params = fit_mlp(mx, kv, out_dir, begin_epoch=DIE_EPOCH).get_params()[0]
        np.savez(os.path.join(out_dir, f"resumed{rank}.npz"),
                 **{f"mlp:{k}": v.asnumpy() for k, v in params.items()})
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
