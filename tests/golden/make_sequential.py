"""Golden fixtures for mx.mod.SequentialModule and PythonLossModule, made with MXNet 1.9.1.

Run with the MXNet reference venv, from the repository root:
    /tmp/mxnet-ref/bin/python tests/golden/make_sequential.py
Writes into tests/golden/data/sequential/:
- cases.npz: the data, the starting parameters and, per case, the parameters after training
  (`<case>:<param>`) and the predictions (`<case>:predict`) of
  - `two_modules`: Module(fc1, relu) -> Module(fc2, SoftmaxOutput) with take_labels, `fit`;
  - `pyloss`: Module(fc1, relu, fc2) -> PythonLossModule(grad_func, auto_wiring), `fit`;
  - `bucketed`: BucketingModule(Embedding -> Reshape -> FullyConnected -> Reshape to
    `[N, T, V]`) -> PythonLossModule,
    forward/backward/update over hand-made batches of two bucket lengths.
- behaviour.json: which exception type MXNet raises for each misuse.
"""
import json
import os

import mxnet as mx
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sequential")
BATCH = 8
VOCAB = 7
EMBED = 4
OPT_PARAMS = {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.001}


def softmax_grad(scores, labels):
    """Softmax cross-entropy gradient w.r.t. the scores, classes on the last axis."""
    s = scores.asnumpy()
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    p = (e / e.sum(axis=-1, keepdims=True)).reshape(-1, s.shape[-1])
    p[np.arange(p.shape[0]), labels.asnumpy().reshape(-1).astype(np.int64)] -= 1
    return p.reshape(s.shape)


def body(with_fc2):
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=6, name="fc1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    if with_fc2:
        net = mx.sym.FullyConnected(net, num_hidden=3, name="fc2")
    return net


def head(data_name="relu1_output"):
    net = mx.sym.FullyConnected(mx.sym.Variable(data_name), num_hidden=3, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def sym_gen(seq_len):
    data = mx.sym.Variable("data")
    embed = mx.sym.Embedding(data, input_dim=VOCAB, output_dim=EMBED, name="embed")
    flat = mx.sym.Reshape(embed, shape=(-1, EMBED))
    pred = mx.sym.FullyConnected(flat, num_hidden=VOCAB, name="pred")
    return mx.sym.Reshape(pred, shape=(-1, seq_len, VOCAB)), ("data",), None


def make_data():
    rng = np.random.RandomState(5)
    centers = rng.randn(3, 5).astype(np.float32) * 2
    y = rng.randint(0, 3, size=48)
    x = (centers[y] + rng.randn(48, 5).astype(np.float32)).astype(np.float32)
    rows = {5: rng.randint(0, VOCAB, size=(3 * BATCH, 5)),
            3: rng.randint(0, VOCAB, size=(2 * BATCH, 3))}
    return x, y.astype(np.float32), rows


def make_init():
    rng = np.random.RandomState(3)
    shapes = {"fc1_weight": (6, 5), "fc1_bias": (6,), "fc2_weight": (3, 6), "fc2_bias": (3,),
              "embed_weight": (VOCAB, EMBED), "pred_weight": (VOCAB, EMBED),
              "pred_bias": (VOCAB,)}
    return {k: rng.uniform(-0.5, 0.5, s).astype(np.float32) for k, s in shapes.items()}


def pick(init, names):
    return {n: mx.nd.array(init[n]) for n in names}


def fit_chain(seq, init, names, x, y):
    train = mx.io.NDArrayIter(x, y, batch_size=BATCH, shuffle=False)
    seq.fit(train, num_epoch=2, optimizer="sgd", optimizer_params=OPT_PARAMS,
            arg_params=pick(init, names), aux_params={}, eval_metric="acc")
    arg, _ = seq.get_params()
    pred = seq.predict(mx.io.NDArrayIter(x, y, batch_size=BATCH)).asnumpy()
    return arg, pred


def two_modules(init, x, y):
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(body(False), label_names=None))
    seq.add(mx.mod.Module(head(), data_names=["relu1_output"]), take_labels=True)
    return fit_chain(seq, init, ["fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"], x, y)


def pyloss(init, x, y):
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(body(True), label_names=None))
    seq.add(mx.mod.PythonLossModule(grad_func=softmax_grad), take_labels=True, auto_wiring=True)
    return fit_chain(seq, init, ["fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"], x, y)


def bucket_batches(rows):
    """No provide_label: MXNet's chain hands it to the BucketingModule, which then fails to bind
    a label its symbol lacks (bucketmod gives labels only to modules added with take_labels)."""
    batches = []
    for key in (5, 3, 5, 3, 5):
        start = sum(1 for b in batches if b.bucket_key == key) * BATCH
        data = rows[key][start:start + BATCH].astype(np.float32)
        label = np.roll(data, -1, axis=1)
        batches.append(mx.io.DataBatch(
            [mx.nd.array(data)], [mx.nd.array(label)], pad=0, bucket_key=key,
            provide_data=[mx.io.DataDesc("data", data.shape)]))
    return batches


def bucketed(init, rows):
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.BucketingModule(sym_gen, default_bucket_key=5))
    seq.add(mx.mod.PythonLossModule(grad_func=softmax_grad), take_labels=True, auto_wiring=True)
    seq.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH, 5))])
    seq.init_params(arg_params=pick(init, ["embed_weight", "pred_weight", "pred_bias"]))
    seq.init_optimizer(optimizer="sgd", optimizer_params=OPT_PARAMS)
    outputs = []
    for batch in bucket_batches(rows):
        seq.forward(batch, is_train=True)
        outputs.append(seq.get_outputs()[0].asnumpy().reshape(-1, VOCAB))
        seq.backward()
        seq.update()
    arg, _ = seq.get_params()
    return arg, np.concatenate(outputs, axis=0)


def raised(fn):
    try:
        fn()
    except Exception as err:  # noqa: BLE001 - recording which type MXNet raises
        return type(err).__name__
    return None


def behaviour(x):
    facts = {}
    facts["bind_empty"] = raised(lambda: mx.mod.SequentialModule().bind([("data", (BATCH, 5))]))
    seq = mx.mod.SequentialModule()
    seq.add(mx.mod.Module(body(False), label_names=None))
    seq.add(mx.mod.Module(head("data")), take_labels=True)
    facts["bind_mismatched_names"] = raised(
        lambda: seq.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))]))
    facts["add_unknown_meta"] = raised(lambda: seq.add(mx.mod.PythonLossModule(), bogus=True))
    loss = mx.mod.PythonLossModule()
    facts["pyloss_output_names"] = loss.output_names
    facts["pyloss_two_data_names"] = raised(
        lambda: mx.mod.PythonLossModule(data_names=("a", "b")))
    facts["pyloss_grad_func_not_callable"] = raised(
        lambda: mx.mod.PythonLossModule(grad_func=3))
    loss.bind([("data", (BATCH, 3))], [("softmax_label", (BATCH,))])
    facts["pyloss_binded_after_bind"] = loss.binded
    facts["pyloss_output_shapes"] = [[n, list(s)] for n, s in loss.output_shapes]
    facts["pyloss_bind_wrong_name"] = raised(
        lambda: mx.mod.PythonLossModule().bind([("x", (BATCH, 3))]))
    facts["pyloss_bind_grad_req_add"] = raised(
        lambda: mx.mod.PythonLossModule().bind([("data", (BATCH, 3))], grad_req="add"))
    facts["pyloss_backward_out_grads"] = raised(lambda: loss.backward(mx.nd.ones((BATCH, 3))))
    facts["pyloss_get_params"] = [len(d) for d in loss.get_params()]
    return facts


def main():
    os.makedirs(OUT, exist_ok=True)
    x, y, rows = make_data()
    init = make_init()
    arrays = {"x": x, "y": y, "rows5": rows[5], "rows3": rows[3]}
    arrays.update({"init:" + k: v for k, v in init.items()})
    for case, (arg, pred) in {"two_modules": two_modules(init, x, y),
                              "pyloss": pyloss(init, x, y),
                              "bucketed": bucketed(init, rows)}.items():
        arrays.update({f"{case}:{k}": v.asnumpy() for k, v in arg.items()})
        arrays[f"{case}:predict"] = pred
    np.savez(os.path.join(OUT, "cases.npz"), **arrays)
    facts = behaviour(x)
    with open(os.path.join(OUT, "behaviour.json"), "w") as f:
        json.dump(facts, f, indent=1, sort_keys=True)
    print(json.dumps(facts, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
