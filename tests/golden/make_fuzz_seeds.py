"""Seed corpora of the loader fuzz targets (`experiments/fuzz_loaders.py`): small, valid files.

The same builders run under either framework, from the repository root:

    /tmp/mxnet-ref/bin/python tests/golden/make_fuzz_seeds.py    files written by MXNet 1.9.1
    python tests/golden/make_fuzz_seeds.py --bucketmod           files written by bucketmod,
                                                                 optimizer states included

Files go to tests/golden/data/fuzz/{ndarray,symbol,states}/<framework>-<case>.<ext>. Each is a
few hundred bytes to a few KB, so mutations of them reach every field of the formats.
MXNet's `.states` are pickles, which bucketmod does not load; the states seeds are bucketmod's.
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, "tests", "golden", "data", "fuzz")


def ndarray_cases(mx):
    rng = np.random.RandomState(0)
    dtypes = ["float32", "float64", "float16", "uint8", "int8", "int32", "int64"]
    return {
        "list_dtypes": [mx.nd.array(rng.randn(2, 3) * 10, dtype=dt) for dt in dtypes],
        "dict_params": {"arg:fc_weight": mx.nd.array(rng.randn(4, 3)),
                        "arg:fc_bias": mx.nd.zeros((4,)),
                        "aux:bn_moving_var": mx.nd.ones((4,))},
        "utf8_names": {"wé": mx.nd.ones((2,)), "": mx.nd.zeros((1, 1, 2))},
        "empty": [],
        "buckets": [mx.nd.array([10, 20, 30], dtype="int32")],
        "rank4": [mx.nd.array(rng.randn(1, 2, 2, 3))],
    }


def np_shape_cases(mx):
    """Arrays MXNet writes only under np_shape semantics (V3 records): 0-d and zero-size."""
    return {"np_scalar": [mx.nd.array(np.float32(2.5)), mx.nd.ones((2,))],
            "zero_size": [mx.nd.zeros((0, 3)), mx.nd.zeros((2, 0), dtype="int64")]}


def symbol_cases(mx):
    data = mx.sym.Variable("data")
    out = {}
    fc = mx.sym.FullyConnected(data, num_hidden=4, name="fc1")
    act = mx.sym.Activation(fc, act_type="relu", name="relu1")
    out["mlp"] = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(act, num_hidden=3, name="fc2"),
                                      name="softmax")
    conv = mx.sym.Convolution(data, kernel=(3, 3), num_filter=2, pad=(1, 1), name="conv")
    bn = mx.sym.BatchNorm(conv, fix_gamma=False, name="bn")
    pool = mx.sym.Pooling(bn, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool")
    out["conv_bn"] = mx.sym.LinearRegressionOutput(
        mx.sym.FullyConnected(mx.sym.Flatten(pool), num_hidden=1, name="fc"), name="reg")
    emb = mx.sym.Embedding(data, input_dim=10, output_dim=4, name="embed")
    cell = mx.rnn.LSTMCell(num_hidden=4, prefix="lstm_")
    outputs, _ = cell.unroll(2, inputs=emb, merge_outputs=True)
    out["lstm_unrolled"] = mx.sym.SoftmaxOutput(
        mx.sym.FullyConnected(mx.sym.Reshape(outputs, shape=(-1, 4)), num_hidden=10,
                              name="pred"), name="softmax")
    parts = mx.sym.SliceChannel(data, num_outputs=3, axis=1, name="split")
    out["slice_concat"] = mx.sym.Group([
        mx.sym.Concat(parts[0], parts[2], num_args=2, dim=1, name="cat"),
        mx.sym.add_n(parts[0], parts[1], parts[2], name="sum3") * 2.0 - parts[1]])
    out["fused_rnn"] = mx.sym.RNN(data, mx.sym.Variable("rnn_params"),
                                  mx.sym.Variable("rnn_state"),
                                  mx.sym.Variable("rnn_state_cell"), state_size=4,
                                  num_layers=1, mode="lstm", name="rnn")
    out["attrs"] = mx.sym.Dropout(mx.sym.FullyConnected(
        mx.sym.Variable("x", shape=(2, 3), lr_mult=2.0, wd_mult=0.5, dtype="float16"),
        num_hidden=2, name="fcx"), p=0.3, name="drop")
    return out


def states_cases(mx):
    """bucketmod's `.states`: momentum, Adam with a dumped optimizer and schedule, a
    multi-precision tuple, a string index, and an empty updater."""
    from bucketmod.optimizer import states as states_format
    rng = np.random.RandomState(0)
    cases = {}
    specs = {
        "sgd_momentum": (mx.optimizer.SGD(momentum=0.9, param_idx2name={0: "fc_weight"}),
                         [0, 1], "float32", False),
        "adam_dumped": (mx.optimizer.Adam(
            lr_scheduler=mx.lr_scheduler.FactorScheduler(step=2, factor=0.5),
            param_idx2name={0: "fc_weight", 1: "fc_bias"}, wd=0.01), [0, 1], "float32", True),
        "multi_precision": (mx.optimizer.SGD(momentum=0.9, multi_precision=True), [0],
                            "float16", True),
        "named_index": (mx.optimizer.RMSProp(centered=True), ["w"], "float32", False),
    }
    for name, (opt, indices, dtype, dump) in specs.items():
        updater = mx.optimizer.get_updater(opt)
        for _ in range(2):
            for idx in indices:
                weight = mx.nd.array(rng.randn(2, 3), dtype=dtype)
                updater(idx, mx.nd.array(rng.randn(2, 3), dtype=dtype), weight)
        cases[name] = updater.get_states(dump_optimizer=dump)
    cases["empty"] = states_format.encode({})
    return cases


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bucketmod", action="store_true",
                        help="write bucketmod's files (run with the project's python)")
    args = parser.parse_args(argv)
    if args.bucketmod:
        sys.path.insert(0, ROOT)
        import bucketmod as mx
        framework = "bucketmod"
    else:
        import mxnet as mx
        framework = "mxnet"
    for sub in ("ndarray", "symbol", "states"):
        os.makedirs(os.path.join(OUT_DIR, sub), exist_ok=True)
    for name, value in ndarray_cases(mx).items():
        mx.nd.save(os.path.join(OUT_DIR, "ndarray", f"{framework}-{name}.nd"), value)
    with (mx.util.np_shape(True) if framework == "mxnet" else _nothing()):
        for name, value in np_shape_cases(mx).items():
            mx.nd.save(os.path.join(OUT_DIR, "ndarray", f"{framework}-{name}.nd"), value)
    for name, sym in symbol_cases(mx).items():
        with open(os.path.join(OUT_DIR, "symbol", f"{framework}-{name}.json"), "w") as f:
            f.write(sym.tojson())
    if framework == "bucketmod":
        for name, blob in states_cases(mx).items():
            with open(os.path.join(OUT_DIR, "states", f"{framework}-{name}.states"), "wb") as f:
                f.write(blob)


if __name__ == "__main__":
    main()
