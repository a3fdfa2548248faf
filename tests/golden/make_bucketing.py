"""Golden fixtures for BucketingModule: a small bucketed LSTM language model under MXNet 1.9.1.

The same functions run under either framework (`mx` is passed in), so the model, the batches and
the training steps are defined once. From the repository root:

    /tmp/mxnet-ref/bin/python tests/golden/make_bucketing.py
        writes tests/golden/data/bucketing/: lm_init.params (the fixed start parameters,
        mx.nd.save), lm_steps.npz (batches, and per step: outputs, gradients, parameters after
        the update, perplexity), grad_req.json (MXNet's test_bucket_module_grad_req values),
        and an MXNet checkpoint mxnet_lm-{4,6}-symbol.json, mxnet_lm.buckets,
        mxnet_lm-0001.params with the
        outputs MXNet gives after loading it (mxnet_lm_outputs.npz).
    python tests/golden/make_bucketing.py --write DIR
        (project python) trains the same model with bucketmod and writes its checkpoint and
        outputs into DIR.
    /tmp/mxnet-ref/bin/python tests/golden/make_bucketing.py --check DIR
        MXNet loads bucketmod's checkpoint from DIR and compares outputs; exits 1 on a mismatch.
"""
import json
import os
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "bucketing")

VOCAB, EMBED, HIDDEN, LAYERS, BATCH = 20, 8, 8, 2, 3
BUCKETS = (4, 6)
DEFAULT_KEY = 6
STEP_KEYS = (6, 4, 4, 6)
OPTIMIZER_PARAMS = {"learning_rate": 0.5, "momentum": 0.9, "wd": 1e-3}
TOL = 1e-5


def lm_sym_gen(mx, cells=True):
    """MXNet's lstm_bucketing.py model: Embedding, LAYERS LSTM layers, FC, SoftmaxOutput.

    With `cells`, the LSTM comes from mx.rnn.LSTMCell/SequentialRNNCell as in the example;
    otherwise the same graph (same parameter names and maths) is written out from mx.sym ops.
    """
    def sym_gen(seq_len):
        data = mx.sym.Variable("data")
        label = mx.sym.Variable("softmax_label")
        embed = mx.sym.Embedding(data=data, input_dim=VOCAB, output_dim=EMBED, name="embed")
        if cells:
            stack = mx.rnn.SequentialRNNCell()
            for i in range(LAYERS):
                stack.add(mx.rnn.LSTMCell(num_hidden=HIDDEN, prefix="lstm_l%d_" % i))
            stack.reset()
            outputs, _ = stack.unroll(seq_len, inputs=embed, merge_outputs=True)
        else:
            outputs = _manual_lstm_stack(mx, embed, seq_len)
        pred = mx.sym.Reshape(outputs, shape=(-1, HIDDEN))
        pred = mx.sym.FullyConnected(data=pred, num_hidden=VOCAB, name="pred")
        label = mx.sym.Reshape(label, shape=(-1,))
        pred = mx.sym.SoftmaxOutput(data=pred, label=label, name="softmax")
        return pred, ("data",), ("softmax_label",)
    return sym_gen


def _manual_lstm_stack(mx, embed, seq_len):
    steps = mx.sym.SliceChannel(embed, num_outputs=seq_len, axis=1, squeeze_axis=True,
                                name="split_steps")
    inputs = [steps[t] for t in range(seq_len)]
    for layer in range(LAYERS):
        prefix = "lstm_l%d_" % layer
        weights = {k: mx.sym.Variable(prefix + k) for k in
                   ("i2h_weight", "i2h_bias", "h2h_weight", "h2h_bias")}
        h = mx.sym.zeros(shape=(BATCH, HIDDEN), name=prefix + "h0")
        c = mx.sym.zeros(shape=(BATCH, HIDDEN), name=prefix + "c0")
        outputs = []
        for t, x in enumerate(inputs):
            name = "%st%d_" % (prefix, t)
            i2h = mx.sym.FullyConnected(data=x, weight=weights["i2h_weight"],
                                        bias=weights["i2h_bias"], num_hidden=4 * HIDDEN,
                                        name=name + "i2h")
            h2h = mx.sym.FullyConnected(data=h, weight=weights["h2h_weight"],
                                        bias=weights["h2h_bias"], num_hidden=4 * HIDDEN,
                                        name=name + "h2h")
            gates = mx.sym.SliceChannel(i2h + h2h, num_outputs=4, name=name + "slice")
            in_gate = mx.sym.Activation(gates[0], act_type="sigmoid")
            forget_gate = mx.sym.Activation(gates[1], act_type="sigmoid")
            in_transform = mx.sym.Activation(gates[2], act_type="tanh")
            out_gate = mx.sym.Activation(gates[3], act_type="sigmoid")
            c = forget_gate * c + in_gate * in_transform
            h = out_gate * mx.sym.Activation(c, act_type="tanh")
            outputs.append(h)
        inputs = outputs
    return mx.sym.Concat(*[mx.sym.expand_dims(h, axis=1) for h in inputs], dim=1)


def param_shapes():
    shapes = {"embed_weight": (VOCAB, EMBED), "pred_weight": (VOCAB, HIDDEN),
              "pred_bias": (VOCAB,)}
    for layer in range(LAYERS):
        in_dim = EMBED if layer == 0 else HIDDEN
        prefix = "lstm_l%d_" % layer
        shapes.update({prefix + "i2h_weight": (4 * HIDDEN, in_dim),
                       prefix + "i2h_bias": (4 * HIDDEN,),
                       prefix + "h2h_weight": (4 * HIDDEN, HIDDEN),
                       prefix + "h2h_bias": (4 * HIDDEN,)})
    return shapes


def initial_params():
    rng = np.random.RandomState(7)
    return {name: (rng.randn(*shape) * 0.4).astype(np.float32)
            for name, shape in sorted(param_shapes().items())}


def batches():
    """(bucket_key, data, label) per training step; the label is the data shifted by one."""
    rng = np.random.RandomState(11)
    out = []
    for key in STEP_KEYS:
        seq = rng.randint(1, VOCAB, size=(BATCH, key + 1)).astype(np.float32)
        out.append((key, seq[:, :-1], seq[:, 1:]))
    return out


def make_batch(mx, key, data, label):
    return mx.io.DataBatch(
        [mx.nd.array(data)], [mx.nd.array(label)], bucket_key=key,
        provide_data=[mx.io.DataDesc("data", data.shape)],
        provide_label=[mx.io.DataDesc("softmax_label", label.shape)])


def new_module(mx, cells=True):
    mod = mx.mod.BucketingModule(lm_sym_gen(mx, cells), default_bucket_key=DEFAULT_KEY,
                                 context=mx.cpu())
    mod.bind(data_shapes=[("data", (BATCH, DEFAULT_KEY))],
             label_shapes=[("softmax_label", (BATCH, DEFAULT_KEY))])
    return mod


def train(mx, mod, grads_of):
    """Run STEP_KEYS; returns {name: array} of per-step outputs, grads, params, perplexity."""
    mod.init_optimizer(optimizer="sgd", optimizer_params=dict(OPTIMIZER_PARAMS))
    metric = mx.metric.Perplexity(None)
    record = {}
    for step, (key, data, label) in enumerate(batches()):
        batch = make_batch(mx, key, data, label)
        mod.forward(batch, is_train=True)
        mod.backward()
        record["step%d_output" % step] = mod.get_outputs()[0].asnumpy()
        for name, grad in grads_of(mod).items():
            record["step%d_grad_%s" % (step, name)] = grad
        mod.update()
        mod.update_metric(metric, batch.label)
        record["step%d_perplexity" % step] = np.array(metric.get()[1])
        for name, value in mod.get_params()[0].items():
            record["step%d_param_%s" % (step, name)] = value.asnumpy()
    return record


def eval_outputs(mx, mod):
    """Inference outputs on every step's batch (each bucket in turn)."""
    return {"eval%d_output" % step: _eval(mx, mod, key, data, label)
            for step, (key, data, label) in enumerate(batches())}


def _eval(mx, mod, key, data, label):
    mod.forward(make_batch(mx, key, data, label), is_train=False)
    return mod.get_outputs()[0].asnumpy()


def grad_req_values(mx, grad_of_a):
    """MXNet's test_bucket_module_grad_req with a loss layer bucketmod has: the gradient of `a`
    after a forward/backward under bucket 10 then under bucket 5, for grad_req write and add."""
    def sym_gen(_):
        data = mx.sym.Variable("data")
        weight = mx.sym.Variable("a", shape=(1,), init=mx.init.One())
        out = mx.sym.LinearRegressionOutput(mx.sym.broadcast_mul(data, weight),
                                            mx.sym.zeros(shape=(2,)), name="loss")
        return out, ("data",), None

    values = {}
    for req in ("write", "add"):
        mod = mx.mod.BucketingModule(sym_gen=sym_gen, default_bucket_key=10)
        mod.bind(data_shapes=[["data", (2,)]], for_training=True, grad_req=req)
        mod.init_params()
        seen = []
        for key in (10, 5):
            mod.forward_backward(mx.io.DataBatch(
                data=[mx.nd.ones((2,))], label=None,
                provide_data=[mx.io.DataDesc(name="data", shape=(2,), layout="N")],
                bucket_key=key))
            seen.append(grad_of_a(mod))
        values[req] = seen
    return values


def _mxnet_grads(mod):
    group = mod._curr_module._exec_group
    return {name: grads[0].asnumpy() for name, grads in zip(group.param_names, group.grad_arrays)}


def _mxnet_grad_of_a(mod):
    return float(mod._curr_module._exec_group.execs[0].grad_dict["a"].asscalar())


def _bucketmod_grads(mod):
    return {name: grad.asnumpy() for name, grad in mod.get_grads().items()}


def _compare(what, expected, got):
    bad = []
    for name, value in expected.items():
        diff = float(np.max(np.abs(value - got[name])))
        if diff > TOL:
            bad.append("%s %s: max abs diff %g" % (what, name, diff))
    return bad


def generate():
    import mxnet as mx
    os.makedirs(OUT, exist_ok=True)
    params = initial_params()
    mx.nd.save(os.path.join(OUT, "lm_init.params"),
               {name: mx.nd.array(value) for name, value in params.items()})
    record = {}
    for step, (key, data, label) in enumerate(batches()):
        record.update({"step%d_key" % step: np.array(key), "step%d_data" % step: data,
                       "step%d_label" % step: label})
    runs = []
    for cells in (True, False):
        mod = new_module(mx, cells)
        mod.set_params({n: mx.nd.array(v) for n, v in params.items()}, {})
        runs.append((mod, train(mx, mod, _mxnet_grads)))
    (mod, trained), (_, manual) = runs
    mismatch = _compare("manual graph vs cells", trained, manual)
    if mismatch:
        sys.exit("\n".join(mismatch))
    record.update(trained)
    np.savez_compressed(os.path.join(OUT, "lm_steps.npz"), **record)
    prefix = os.path.join(OUT, "mxnet_lm")
    mod.save_checkpoint(prefix, 1)
    loaded = mx.mod.BucketingModule.load(prefix, 1, sym_gen=lm_sym_gen(mx),
                                         default_bucket_key=DEFAULT_KEY)
    loaded.bind(data_shapes=[("data", (BATCH, DEFAULT_KEY))],
                label_shapes=[("softmax_label", (BATCH, DEFAULT_KEY))], for_training=False)
    np.savez_compressed(os.path.join(OUT, "mxnet_lm_outputs.npz"), **eval_outputs(mx, loaded))
    with open(os.path.join(OUT, "grad_req.json"), "w") as f:
        json.dump(grad_req_values(mx, _mxnet_grad_of_a), f, indent=1)


def write(directory):
    """bucketmod trains the fixture model and writes its checkpoint for --check."""
    import bucketmod as mx
    import bucketmod.rnn  # noqa: F401  (mx.rnn before bucketmod exports it)
    os.makedirs(directory, exist_ok=True)
    mod = new_module(mx)
    mod.set_params({n: mx.nd.array(v) for n, v in initial_params().items()}, {})
    train(mx, mod, _bucketmod_grads)
    mod.save_checkpoint(os.path.join(directory, "bm_lm"), 3)
    np.savez(os.path.join(directory, "bm_lm_outputs.npz"), **eval_outputs(mx, mod))


def check(directory):
    """MXNet loads bucketmod's checkpoint in `directory` and must give bucketmod's outputs."""
    import mxnet as mx
    prefix = os.path.join(directory, "bm_lm")
    keys = sorted(int(k) for k in mx.nd.load(prefix + ".buckets")[0].asnumpy())
    problems = [] if keys == sorted(BUCKETS) else ["buckets file holds %s" % keys]
    for key in keys:
        expected = lm_sym_gen(mx)(key)[0].list_arguments()
        got = mx.sym.load("%s-%d-symbol.json" % (prefix, key)).list_arguments()
        if got != expected:
            problems.append("bucket %d symbol arguments %s, expected %s" % (key, got, expected))
    mod = mx.mod.BucketingModule.load(prefix, 3, sym_gen=lm_sym_gen(mx),
                                      default_bucket_key=DEFAULT_KEY)
    mod.bind(data_shapes=[("data", (BATCH, DEFAULT_KEY))],
             label_shapes=[("softmax_label", (BATCH, DEFAULT_KEY))], for_training=False)
    expected = dict(np.load(os.path.join(directory, "bm_lm_outputs.npz")))
    problems += _compare("output", expected, eval_outputs(mx, mod))
    print("\n".join(problems) or "MXNet 1.9.1 loads bucketmod's checkpoint: outputs match")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        write(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    elif len(sys.argv) == 1:
        generate()
    else:
        sys.exit(__doc__)
