"""Golden fixtures for `mx.operator` custom ops under MXNet 1.9.1.

The custom ops, models and training loops are defined once here over a given `mx`, so that
`tests/core/test_operator.py` runs the very same code with bucketmod. From the repository root:

    /tmp/mxnet-ref/bin/python tests/golden/make_operator.py
        writes tests/golden/data/operator/: mlp.npz (a 3-layer MLP trained six steps with the
        NumPy softmax custom op and with the built-in SoftmaxOutput: per-step outputs, final
        parameters), bucketing.npz (a bucketed model ending in the custom softmax, trained over
        buckets 5, 3, 3, 5), probe.json (what a custom op with two outputs, an aux state, a
        string parameter and a partial backward dependency is given and gives: the prop's
        arguments, the calls MXNet makes, the symbol JSON, outputs, gradients, aux states).
"""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "operator")
SIZES = (10, 16, 8, 4)
BATCH = 8
STEPS = 6
OPT = {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-5}
BUCKETS = (5, 3, 3, 5)
VOCAB, EMBED = 12, 6


def define_ops(mx):
    """Register 'np_softmax' (MXNet's example/numpy-ops softmax, written anew) and 'probe';
    returns the list the probe op appends its calls to."""
    log = []

    class NumpySoftmax(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            x = in_data[0].asnumpy()
            e = np.exp(x - x.max(axis=1, keepdims=True))
            self.assign(out_data[0], req[0], mx.nd.array(e / e.sum(axis=1, keepdims=True)))

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            label = in_data[1].asnumpy().ravel().astype(np.int64)
            y = out_data[0].asnumpy().copy()
            y[np.arange(label.shape[0]), label] -= 1.0
            self.assign(in_grad[0], req[0], mx.nd.array(y))

    @mx.operator.register("np_softmax")
    class NumpySoftmaxProp(mx.operator.CustomOpProp):
        def __init__(self):
            super().__init__(need_top_grad=False)

        def list_arguments(self):
            return ["data", "label"]

        def infer_shape(self, in_shape):
            return [in_shape[0], (in_shape[0][0],)], [in_shape[0]], []

        def create_operator(self, ctx, shapes, dtypes):
            return NumpySoftmax()

    def shapes(arrays):
        return [list(a.shape) if a.size and len(a.shape) else "empty" for a in arrays]

    class Probe(mx.operator.CustomOp):
        def __init__(self, scale):
            super().__init__()
            self.scale = scale

        def forward(self, is_train, req, in_data, out_data, aux):
            log.append(["forward", bool(is_train), list(req), shapes(in_data), shapes(aux)])
            data, weight = in_data
            self.assign(out_data[0], req[0], data * weight.reshape((1, -1)) * self.scale)
            self.assign(out_data[1], req[1], (data * data).sum(axis=1))
            if is_train:
                aux[0][:] += 1

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            log.append(["backward", list(req), shapes(out_grad), shapes(in_data),
                        shapes(out_data), shapes(in_grad)])
            data, weight = in_data
            g_out, g_norm = out_grad
            self.assign(in_grad[0], req[0], g_out * weight.reshape((1, -1)) * self.scale
                        + 2 * data * g_norm.reshape((-1, 1)))
            self.assign(in_grad[1], req[1], (g_out * data * self.scale).sum(axis=0))

    @mx.operator.register("probe")
    class ProbeProp(mx.operator.CustomOpProp):
        def __init__(self, scale="1.0", tag=None):
            super().__init__()
            log.append(["prop", scale, tag])
            self.scale = float(scale)

        def list_arguments(self):
            return ["data", "weight"]

        def list_outputs(self):
            return ["output", "norm"]

        def list_auxiliary_states(self):
            return ["count"]

        def infer_shape(self, in_shape):
            data = in_shape[0]
            return [data, [data[1]]], [data, [data[0]]], [[1]]

        def declare_backward_dependency(self, out_grad, in_data, out_data):
            log.append(["deps", list(out_grad), list(in_data), list(out_data)])
            return list(out_grad) + list(in_data)

        def create_operator(self, ctx, in_shapes, in_dtypes):
            log.append(["create", str(ctx), [list(s) for s in in_shapes], list(in_dtypes)])
            return Probe(self.scale)

    return log


def mlp_symbol(mx, custom):
    net = mx.sym.var("data")
    for i, size in enumerate(SIZES[1:]):
        net = mx.sym.FullyConnected(net, num_hidden=size, name="fc%d" % i)
        if i < len(SIZES) - 2:
            net = mx.sym.Activation(net, act_type="relu", name="relu%d" % i)
    if custom:
        return mx.sym.Custom(data=net, op_type="np_softmax", name="softmax")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def mlp_init():
    rng = np.random.default_rng(5)
    params = {}
    for i, (fan_in, fan_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        params["fc%d_weight" % i] = rng.normal(0, 0.3, (fan_out, fan_in)).astype(np.float32)
        params["fc%d_bias" % i] = rng.normal(0, 0.1, (fan_out,)).astype(np.float32)
    return params


def mlp_batches():
    rng = np.random.default_rng(6)
    return [(rng.normal(0, 1, (BATCH, SIZES[0])).astype(np.float32),
             rng.integers(0, SIZES[-1], BATCH).astype(np.float32)) for _ in range(STEPS)]


def train(mx, mod, batches, init):
    """forward/backward/update over `batches` ((bucket key or None, data, label) triples);
    returns {step<i>_output, final <param>} arrays."""
    mod.init_params(arg_params={k: mx.nd.array(v) for k, v in init.items()},
                    aux_params={}, allow_missing=False)
    mod.init_optimizer(optimizer="sgd", optimizer_params=dict(OPT))
    record = {}
    for step, (key, data, label) in enumerate(batches):
        batch = mx.io.DataBatch([mx.nd.array(data)], [mx.nd.array(label)], bucket_key=key,
                                provide_data=[mx.io.DataDesc("data", data.shape)],
                                provide_label=[mx.io.DataDesc("softmax_label", label.shape)])
        mod.forward(batch, is_train=True)
        record["step%d_output" % step] = mod.get_outputs()[0].asnumpy()
        mod.backward()
        mod.update()
    for name, value in mod.get_params()[0].items():
        record[name] = value.asnumpy()
    return record


def train_mlp(mx, custom):
    mod = mx.mod.Module(mlp_symbol(mx, custom), context=mx.cpu())
    mod.bind(data_shapes=[("data", (BATCH, SIZES[0]))],
             label_shapes=[("softmax_label", (BATCH,))])
    return train(mx, mod, [(None, d, lab) for d, lab in mlp_batches()], mlp_init())


def bucket_sym_gen(mx):
    def sym_gen(seq_len):
        data = mx.sym.var("data")
        embed = mx.sym.Embedding(data, input_dim=VOCAB, output_dim=EMBED, name="embed")
        pooled = mx.sym.sum(embed, axis=1) / float(seq_len)
        pred = mx.sym.FullyConnected(pooled, num_hidden=SIZES[-1], name="pred")
        out = mx.sym.Custom(data=pred, op_type="np_softmax", name="softmax")
        return out, ("data",), ("softmax_label",)
    return sym_gen


def bucket_init():
    rng = np.random.default_rng(7)
    return {"embed_weight": rng.normal(0, 0.5, (VOCAB, EMBED)).astype(np.float32),
            "pred_weight": rng.normal(0, 0.5, (SIZES[-1], EMBED)).astype(np.float32),
            "pred_bias": np.zeros(SIZES[-1], np.float32)}


def bucket_batches():
    rng = np.random.default_rng(8)
    return [(key, rng.integers(0, VOCAB, (BATCH, key)).astype(np.float32),
             rng.integers(0, SIZES[-1], BATCH).astype(np.float32)) for key in BUCKETS]


def train_bucketing(mx):
    mod = mx.mod.BucketingModule(bucket_sym_gen(mx), default_bucket_key=max(BUCKETS),
                                 context=mx.cpu())
    mod.bind(data_shapes=[("data", (BATCH, max(BUCKETS)))],
             label_shapes=[("softmax_label", (BATCH,))])
    return train(mx, mod, bucket_batches(), bucket_init())


def probe_inputs():
    rng = np.random.default_rng(9)
    return {"data": rng.normal(0, 1, (3, 4)).astype(np.float32),
            "weight": rng.normal(0, 1, (4,)).astype(np.float32),
            "head0": rng.normal(0, 1, (3, 4)).astype(np.float32),
            "head1": rng.normal(0, 1, (3,)).astype(np.float32)}


def _type_names(types):
    if types[0] is None:
        return None
    return [[np.dtype(t).name for t in ts] for ts in types]


def run_probe(mx, log):
    """Build, infer, bind, run twice and differentiate the probe op; returns a JSON-able
    record (the calls are in `log`)."""
    del log[:]
    x = mx.sym.var("x")
    sym = mx.sym.Custom(x, op_type="probe", scale=0.5, tag=True, name="pr")
    doc = json.loads(sym.tojson())
    record = {"arguments": sym.list_arguments(), "outputs": sym.list_outputs(),
              "aux": sym.list_auxiliary_states(),
              "nodes": [{k: n.get(k) for k in ("op", "name", "attrs")} for n in doc["nodes"]],
              "infer_shape": [list(map(list, s)) for s in sym.infer_shape(x=(3, 4))],
              "infer_type": _type_names(sym.infer_type(x="float32")),
              "infer_type_both": _type_names(sym.infer_type(x="float32", pr_weight="float64"))}
    record["prop_calls"] = [c for c in log if c[0] in ("prop", "deps")][:2]
    del log[:]
    inputs = probe_inputs()
    exe = sym.simple_bind(mx.cpu(), x=(3, 4), grad_req="write")
    exe.arg_dict["x"][:] = inputs["data"]
    exe.arg_dict["pr_weight"][:] = inputs["weight"]
    exe.aux_dict["pr_count"][:] = 0
    exe.forward(is_train=False)
    mx.nd.waitall()  # MXNet runs custom ops on a worker thread: keep the calls in order
    exe.forward(is_train=True)
    exe.backward([mx.nd.array(inputs["head0"]), mx.nd.array(inputs["head1"])])
    mx.nd.waitall()
    record.update(calls=[c for c in log if c[0] in ("create", "forward", "backward")],
                  values={"output": exe.outputs[0].asnumpy().tolist(),
                          "norm": exe.outputs[1].asnumpy().tolist(),
                          "grad_x": exe.grad_dict["x"].asnumpy().tolist(),
                          "grad_weight": exe.grad_dict["pr_weight"].asnumpy().tolist(),
                          "count": exe.aux_dict["pr_count"].asnumpy().tolist()})
    nd_out = mx.nd.Custom(mx.nd.array(inputs["data"]), mx.nd.array(inputs["weight"]),
                          mx.nd.zeros((1,)), op_type="probe", scale=2)
    record["nd_custom"] = [a.asnumpy().tolist() for a in nd_out]
    return record


def main():
    import mxnet as mx
    os.makedirs(OUT, exist_ok=True)
    log = define_ops(mx)
    mlp = {"custom_" + k: v for k, v in train_mlp(mx, True).items()}
    mlp.update({"builtin_" + k: v for k, v in train_mlp(mx, False).items()})
    np.savez(os.path.join(OUT, "mlp.npz"), **mlp)
    np.savez(os.path.join(OUT, "bucketing.npz"), **train_bucketing(mx))
    with open(os.path.join(OUT, "probe.json"), "w") as f:
        json.dump(run_probe(mx, log), f, indent=1, sort_keys=True)
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
