"""Golden files for the core graph (operators, symbols, executor), made with real MXNet 1.9.1.

Run with MXNet's python (`/tmp/mxnet-ref/bin/python`), from the repository root:

    make_core.py               write MXNet's results into tests/golden/data/core/
    make_core.py --check DIR   load the symbols, parameters and outputs bucketmod wrote into DIR
                               (tests/golden/write_core.py) in MXNet; exit 1 on any mismatch

The case tables and the graph builders below take the framework module `mx` as an argument and
import nothing, so the tests build the very same graphs with `import bucketmod as mx`.

Files written:
  ops.json / ops.npz          one entry per OP_CASES row: inputs, outputs, gradients for given
                              head gradients, aux states after a training forward
  symbols.json                names, list_* results, internals, children, attributes and
                              inference results of the SYMBOL_BUILDERS graphs
  net_<name>-symbol.json      MXNet's JSON of the NET_BUILDERS graphs and of an LSTM LM unrolled
  net_<name>.params           with mx.rnn.LSTMCell; parameters and inputs in nd.save format
  net_<name>.npz              outputs, gradients and aux states after forward(is_train=True) and
                              backward() with the head gradients stored beside them
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from operator_cases import make_value  # noqa: E402  (the input kinds, shared)

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "core")


# -- operator cases ---------------------------------------------------------------------------
# (case id, operator, params, [(input name, shape, kind)], options)
# kinds: n normal, p positive, b 0/1 mask, iK integers in [0, K), u uniform away from 0 (|x|>0.1)
# options: train (default True), nograd (inputs without gradient), aux (inputs that are aux)
def _c(cid, op, params, inputs, **options):
    return (cid, op, params, inputs, options)


def _unary_cases():
    out = []
    for op, kind in (("negative", "n"), ("exp", "n"), ("log", "p"), ("sqrt", "p"),
                     ("square", "n"), ("abs", "u"), ("tanh", "n"), ("sigmoid", "n"),
                     ("relu", "u"), ("zeros_like", "n"), ("ones_like", "n"),
                     ("BlockGrad", "n")):
        out.append(_c(op, op, {}, [("data", (3, 4), kind)]))
    out.append(_c("clip", "clip", {"a_min": -0.5, "a_max": 0.5}, [("data", (3, 4), "u")]))
    for act in ("relu", "sigmoid", "tanh", "softrelu", "softsign"):
        out.append(_c(f"act_{act}", "Activation", {"act_type": act}, [("data", (3, 5), "u")]))
    return out


def _binary_cases():
    out = []
    pos = {"elemwise_div": ("n", "p"), "_power": ("p", "n"), "broadcast_div": ("n", "p"),
           "broadcast_power": ("p", "n")}
    for op in ("elemwise_add", "elemwise_sub", "elemwise_mul", "elemwise_div", "_power",
               "_maximum", "_minimum"):
        k = pos.get(op, ("n", "n"))
        out.append(_c(op, op, {}, [("lhs", (3, 4), k[0]), ("rhs", (3, 4), k[1])]))
    for op in ("broadcast_add", "broadcast_sub", "broadcast_mul", "broadcast_div",
               "broadcast_power", "broadcast_maximum", "broadcast_minimum"):
        k = pos.get(op, ("n", "n"))
        out.append(_c(op, op, {}, [("lhs", (3, 1, 4), k[0]), ("rhs", (1, 2, 4), k[1])]))
    for op, scalar, kind in (("_plus_scalar", 2.0, "n"), ("_minus_scalar", 1.5, "n"),
                             ("_rminus_scalar", 1.5, "n"), ("_mul_scalar", -3.0, "n"),
                             ("_div_scalar", 4.0, "n"), ("_rdiv_scalar", 2.0, "p"),
                             ("_power_scalar", 3.0, "n"), ("_rpower_scalar", 2.0, "n"),
                             ("_maximum_scalar", 0.1, "u"), ("_minimum_scalar", -0.1, "u")):
        out.append(_c(op, op, {"scalar": scalar}, [("data", (2, 5), kind)]))
    out.append(_c("where", "where", {}, [("condition", (3, 4), "b"), ("x", (3, 4), "n"),
                                         ("y", (3, 4), "n")], nograd=["condition"]))
    out.append(_c("where_1d", "where", {}, [("condition", (3,), "b"), ("x", (3, 4), "n"),
                                            ("y", (3, 4), "n")], nograd=["condition"]))
    return out


def _nn_cases():
    return [
        _c("fc", "FullyConnected", {"num_hidden": 5},
           [("data", (3, 4), "n"), ("weight", (5, 4), "n"), ("bias", (5,), "n")]),
        _c("fc_nobias_3d", "FullyConnected", {"num_hidden": 3, "no_bias": True},
           [("data", (2, 3, 4), "n"), ("weight", (3, 12), "n")]),
        _c("fc_noflatten", "FullyConnected", {"num_hidden": 3, "flatten": False},
           [("data", (2, 3, 4), "n"), ("weight", (3, 4), "n"), ("bias", (3,), "n")]),
        _c("fc_1d", "FullyConnected", {"num_hidden": 2},
           [("data", (4,), "n"), ("weight", (2, 1), "n"), ("bias", (2,), "n")]),
        _c("conv", "Convolution", {"kernel": (3, 3), "num_filter": 4},
           [("data", (2, 3, 6, 6), "n"), ("weight", (4, 3, 3, 3), "n"), ("bias", (4,), "n")]),
        _c("conv_stride_pad", "Convolution",
           {"kernel": (3, 3), "num_filter": 2, "stride": (2, 2), "pad": (1, 1)},
           [("data", (1, 2, 7, 7), "n"), ("weight", (2, 2, 3, 3), "n"), ("bias", (2,), "n")]),
        _c("conv_dilate_group", "Convolution",
           {"kernel": (3, 3), "num_filter": 4, "dilate": (2, 2), "num_group": 2,
            "no_bias": True},
           [("data", (2, 4, 8, 8), "n"), ("weight", (4, 2, 3, 3), "n")]),
        _c("pool_max", "Pooling", {"kernel": (2, 2), "stride": (2, 2), "pool_type": "max"},
           [("data", (2, 3, 6, 6), "n")]),
        _c("pool_avg_pad", "Pooling",
           {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "avg"},
           [("data", (1, 2, 7, 7), "n")]),
        _c("pool_sum", "Pooling", {"kernel": (2, 2), "stride": (1, 1), "pool_type": "sum"},
           [("data", (1, 2, 4, 4), "n")]),
        _c("pool_global_avg", "Pooling", {"global_pool": True, "pool_type": "avg"},
           [("data", (2, 3, 4, 5), "n")]),
        _c("pool_global_max", "Pooling", {"global_pool": True, "kernel": (1, 1),
                                          "pool_type": "max"},
           [("data", (2, 3, 4, 5), "n")]),
        _c("pool_max_full", "Pooling",
           {"kernel": (3, 3), "stride": (2, 2), "pool_type": "max",
            "pooling_convention": "full"}, [("data", (1, 2, 8, 8), "n")]),
        _c("pool_avg_full", "Pooling",
           {"kernel": (3, 3), "stride": (2, 2), "pool_type": "avg",
            "pooling_convention": "full"}, [("data", (1, 2, 8, 8), "n")]),
        _c("leaky", "LeakyReLU", {"act_type": "leaky", "slope": 0.1}, [("data", (3, 4), "u")]),
        _c("elu", "LeakyReLU", {"act_type": "elu", "slope": 0.3}, [("data", (3, 4), "u")]),
        _c("prelu", "LeakyReLU", {"act_type": "prelu"},
           [("data", (2, 3, 4), "u"), ("gamma", (3,), "p")]),
        _c("selu", "LeakyReLU", {"act_type": "selu"}, [("data", (3, 4), "u")]),
        _c("gelu", "LeakyReLU", {"act_type": "gelu"}, [("data", (3, 4), "u")]),
        _c("softmax", "softmax", {}, [("data", (3, 5), "n")]),
        _c("softmax_axis1_temp", "softmax", {"axis": 1, "temperature": 2.0},
           [("data", (2, 3, 4), "n")]),
        _c("log_softmax", "log_softmax", {}, [("data", (3, 5), "n")]),
        _c("log_softmax_axis0", "log_softmax", {"axis": 0}, [("data", (3, 5), "n")]),
        _c("embedding", "Embedding", {"input_dim": 6, "output_dim": 3},
           [("data", (2, 4), "i6"), ("weight", (6, 3), "n")], nograd=["data"]),
        _c("dropout_predict", "Dropout", {"p": 0.5}, [("data", (3, 4), "n")], train=False),
        _c("bn", "BatchNorm", {},
           [("data", (4, 3, 2, 2), "n"), ("gamma", (3,), "p"), ("beta", (3,), "n"),
            ("moving_mean", (3,), "n"), ("moving_var", (3,), "p")],
           aux=["moving_mean", "moving_var"]),
        _c("bn_nofix", "BatchNorm", {"fix_gamma": False, "momentum": 0.8, "eps": 1e-5},
           [("data", (4, 3, 2, 2), "n"), ("gamma", (3,), "p"), ("beta", (3,), "n"),
            ("moving_mean", (3,), "n"), ("moving_var", (3,), "p")],
           aux=["moving_mean", "moving_var"]),
        _c("bn_global", "BatchNorm", {"fix_gamma": False, "use_global_stats": True},
           [("data", (4, 3, 2, 2), "n"), ("gamma", (3,), "p"), ("beta", (3,), "n"),
            ("moving_mean", (3,), "n"), ("moving_var", (3,), "p")],
           aux=["moving_mean", "moving_var"]),
        _c("bn_2d_predict", "BatchNorm", {"fix_gamma": False},
           [("data", (5, 4), "n"), ("gamma", (4,), "p"), ("beta", (4,), "n"),
            ("moving_mean", (4,), "n"), ("moving_var", (4,), "p")],
           aux=["moving_mean", "moving_var"], train=False),
    ]


def _loss_cases():
    sm = "SoftmaxOutput"
    return [
        _c("so", sm, {}, [("data", (4, 5), "n"), ("label", (4,), "i5")], nograd=["label"]),
        _c("so_scale_batch", sm, {"grad_scale": 2.0, "normalization": "batch"},
           [("data", (4, 5), "n"), ("label", (4,), "i5")], nograd=["label"]),
        _c("so_ignore_valid", sm, {"use_ignore": True, "ignore_label": 1,
                                   "normalization": "valid"},
           [("data", (6, 3), "n"), ("label", (6,), "i3")], nograd=["label"]),
        _c("so_ignore_off", sm, {"use_ignore": False, "ignore_label": 1},
           [("data", (6, 3), "n"), ("label", (6,), "i3")], nograd=["label"]),
        _c("so_multi", sm, {"multi_output": True},
           [("data", (2, 3, 4), "n"), ("label", (2, 4), "i3")], nograd=["label"]),
        _c("so_multi_batch", sm, {"multi_output": True, "normalization": "batch"},
           [("data", (2, 3, 5), "n"), ("label", (2, 5), "i3")], nograd=["label"]),
        _c("so_multi_ignore_valid", sm, {"multi_output": True, "use_ignore": True,
                                         "ignore_label": 0, "normalization": "valid"},
           [("data", (2, 3, 5), "n"), ("label", (2, 5), "i3")], nograd=["label"]),
        _c("so_preserve", sm, {"preserve_shape": True},
           [("data", (2, 3, 4), "n"), ("label", (2, 3), "i4")], nograd=["label"]),
        _c("linreg", "LinearRegressionOutput", {},
           [("data", (4, 3), "n"), ("label", (4, 3), "n")], nograd=["label"]),
        _c("linreg_scale", "LinearRegressionOutput", {"grad_scale": 0.5},
           [("data", (4, 1), "n"), ("label", (4,), "n")], nograd=["label"]),
        _c("logreg", "LogisticRegressionOutput", {},
           [("data", (4, 3), "n"), ("label", (4, 3), "b")], nograd=["label"]),
        _c("maereg", "MAERegressionOutput", {"grad_scale": 2.0},
           [("data", (4, 3), "u"), ("label", (4, 3), "n")], nograd=["label"]),
    ]


def _shape_cases():
    out = []
    for cid, shape, src, reverse in (("reshape_0_m1", (0, -1), (2, 3, 4), False),
                                     ("reshape_m2", (-1, 2, -2), (2, 3, 4, 5), False),
                                     ("reshape_m3", (-3, -2), (2, 3, 4, 5), False),
                                     ("reshape_m4", (-4, -1, 2, -2), (4, 3, 5), False),
                                     ("reshape_m4_m3", (-4, 2, 3, -3), (6, 2, 2), False),
                                     ("reshape_plain", (4, -1), (2, 3, 4), False),
                                     ("reshape_reverse", (-1, 0), (10, 5, 4), True),
                                     ("reshape_reverse_m4", (0, -1, 2, -4, 0), (3, 4, 6),
                                      True)):
        out.append(_c(cid, "Reshape", {"shape": shape, "reverse": reverse},
                      [("data", src, "n")]))
    out += [
        _c("flatten", "Flatten", {}, [("data", (2, 3, 4), "n")]),
        _c("concat", "Concat", {"dim": 1, "num_args": 2},
           [("arg0", (2, 3), "n"), ("arg1", (2, 4), "n")]),
        _c("concat_dim0", "Concat", {"dim": 0, "num_args": 3},
           [("arg0", (1, 3), "n"), ("arg1", (2, 3), "n"), ("arg2", (1, 3), "n")]),
        _c("split", "SliceChannel", {"num_outputs": 3, "axis": 1}, [("data", (2, 6), "n")]),
        _c("split_squeeze", "SliceChannel", {"num_outputs": 3, "axis": 1,
                                             "squeeze_axis": True},
           [("data", (2, 3, 4), "n")]),
        _c("split_axis0", "SliceChannel", {"num_outputs": 2, "axis": 0},
           [("data", (4, 3), "n")]),
        _c("expand_dims", "expand_dims", {"axis": 1}, [("data", (2, 3), "n")]),
        _c("expand_dims_neg", "expand_dims", {"axis": -1}, [("data", (2, 3), "n")]),
        _c("stack", "stack", {"axis": 0, "num_args": 2},
           [("arg0", (2, 3), "n"), ("arg1", (2, 3), "n")]),
        _c("stack_axis2", "stack", {"axis": 2, "num_args": 3},
           [("arg0", (2, 3), "n"), ("arg1", (2, 3), "n"), ("arg2", (2, 3), "n")]),
        _c("swapaxes", "SwapAxis", {"dim1": 0, "dim2": 2}, [("data", (2, 3, 4), "n")]),
        _c("transpose", "transpose", {}, [("data", (2, 3, 4), "n")]),
        _c("transpose_axes", "transpose", {"axes": (1, 0, 2)}, [("data", (2, 3, 4), "n")]),
        _c("sum_all", "sum", {}, [("data", (2, 3, 4), "n")]),
        _c("sum_axis1", "sum", {"axis": 1}, [("data", (2, 3, 4), "n")]),
        _c("sum_keepdims", "sum", {"axis": (0, 2), "keepdims": True},
           [("data", (2, 3, 4), "n")]),
        _c("sum_exclude", "sum", {"axis": 1, "exclude": True}, [("data", (2, 3, 4), "n")]),
        _c("mean_all", "mean", {}, [("data", (2, 3, 4), "n")]),
        _c("mean_axis", "mean", {"axis": -1}, [("data", (2, 3, 4), "n")]),
        _c("mean_keepdims", "mean", {"axis": 0, "keepdims": True}, [("data", (2, 3, 4), "n")]),
    ]
    return out


OP_CASES = _unary_cases() + _binary_cases() + _nn_cases() + _loss_cases() + _shape_cases()


def op_function(mx, op):
    """The symbol function of operator `op` (MXNet keeps `_`-prefixed ones in `_internal`)."""
    fn = getattr(mx.sym, op, None)
    if fn is None:
        fn = getattr(mx.sym._internal, op)
    return fn


def build_op(mx, case):
    """The symbol of one OP_CASES row, with one Variable per input named after the input."""
    _, op, params, inputs, _ = case
    variables = [mx.sym.Variable(name) for name, _, _ in inputs]
    fn = op_function(mx, op)
    if op in ("Concat", "stack"):
        return fn(*variables, name="op", **params)
    return fn(name="op", **params, **{name: v for (name, _, _), v in zip(inputs, variables)})


def case_values(case, seed):
    """Deterministic inputs and head gradients of a case: {name: float32 array}."""
    rng = np.random.RandomState(seed)
    return {name: make_value(kind, shape, rng) for name, shape, kind in case[3]}


# -- symbols for naming, attributes and inference ---------------------------------------------
def sym_mlp_names(mx):
    with mx.name.NameManager():
        data = mx.sym.Variable("data")
        fc1 = mx.sym.FullyConnected(data, num_hidden=8)
        act = mx.sym.Activation(fc1, act_type="relu")
        fc2 = mx.sym.FullyConnected(act, num_hidden=4)
        out = mx.sym.SoftmaxOutput(fc2)
    return {"fc1": fc1, "act": act, "fc2": fc2, "out": out}


def sym_arith_names(mx):
    with mx.name.NameManager():
        a = mx.sym.Variable("a")
        b = mx.sym.Variable("b")
        plus = a + b
        minus = a - b
        mul = a * b
        div = a / b
        mul_s = a * 2
        rsub = 3 - a
        rdiv = 1.0 / b
        add_s = a + 1
        power = a ** 2
        neg = -a
        plus2 = plus + mul
        sp = mx.sym.split(plus2, num_outputs=2, axis=1)
        sp1 = mx.sym.SliceChannel(plus2, num_outputs=2)
        grp = mx.sym.Group([sp[0], sp1[1], div, minus, mul_s, rsub, rdiv, add_s, power, neg])
    return {"plus": plus, "minus": minus, "mul": mul, "div": div, "mul_s": mul_s,
            "rsub": rsub, "rdiv": rdiv, "add_s": add_s, "power": power, "neg": neg,
            "sp": sp, "sp0": sp[0], "grp": grp}


def sym_conv_names(mx):
    with mx.name.NameManager():
        data = mx.sym.Variable("data")
        conv = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, pad=(1, 1))
        bn = mx.sym.BatchNorm(conv)
        pool = mx.sym.Pooling(bn, kernel=(2, 2), stride=(2, 2), pool_type="max")
        flat = mx.sym.Flatten(pool)
        emb = mx.sym.Embedding(mx.sym.Variable("words"), input_dim=10, output_dim=4)
        cat = mx.sym.Concat(flat, mx.sym.Flatten(emb), dim=1)
        drop = mx.sym.Dropout(cat, p=0.2)
        reshaped = mx.sym.Reshape(drop, shape=(0, -1, 1))
        out = mx.sym.LinearRegressionOutput(mx.sym.sum(reshaped, axis=2))
    return {"conv": conv, "bn": bn, "pool": pool, "emb": emb, "cat": cat, "drop": drop,
            "out": out}


def sym_prefix_attrs(mx):
    with mx.name.NameManager():
        data = mx.sym.Variable("data", lr_mult=0.5, shape=(2, 3),
                               attr={"mood": "calm", "__extra__": "1"})
        with mx.name.Prefix("enc_"):
            fc = mx.sym.FullyConnected(data, num_hidden=5)
            with mx.AttrScope(ctx_group="dev1", lr_mult="2"):
                act = mx.sym.Activation(fc, act_type="tanh", name="act")
                w = mx.sym.Variable("w", wd_mult=0.1)
        fc2 = mx.sym.FullyConnected(act, weight=w, num_hidden=3, attr={"__tag__": "head"})
        with mx.AttrScope(__group__="g"):
            out = mx.sym.softmax(fc2, axis=-1)
    return {"data": data, "fc": fc, "act": act, "w": w, "fc2": fc2, "out": out}


SYMBOL_BUILDERS = {"mlp_names": sym_mlp_names, "arith_names": sym_arith_names,
                   "conv_names": sym_conv_names, "prefix_attrs": sym_prefix_attrs}

# infer_shape / infer_shape_partial / infer_type queries: (builder, symbol key, kwargs)
INFER_QUERIES = [
    ("mlp_names", "out", {"data": (5, 7)}),
    ("mlp_names", "fc2", {"data": (5, 7)}),
    ("conv_names", "out", {"data": (2, 3, 8, 8), "words": (2, 6)}),
    ("arith_names", "grp", {"a": (2, 4), "b": (2, 4)}),
    ("prefix_attrs", "out", {}),
]
PARTIAL_QUERIES = [
    ("mlp_names", "out", {}),
    ("mlp_names", "out", {"fullyconnected0_weight": (8, 7)}),
    ("conv_names", "pool", {}),
    ("conv_names", "emb", {"words": (2, 6)}),
    ("mlp_names", "out", {"softmaxoutput0_label": (5,)}),
]
TYPE_QUERIES = [
    ("mlp_names", "out", {"data": "float64"}),
    ("conv_names", "out", {"data": "float32", "words": "float32"}),
    ("conv_names", "pool", {"data": "float16"}),
    ("conv_names", "emb", {"words": "int32"}),
]


def describe(sym):
    """Everything the tests compare about one symbol."""
    children = sym.get_children()
    return {
        "name": sym.name,
        "arguments": sym.list_arguments(),
        "outputs": sym.list_outputs(),
        "aux": sym.list_auxiliary_states(),
        "inputs": sym.list_inputs(),
        "internals": sym.get_internals().list_outputs(),
        "children": None if children is None else children.list_outputs(),
        "attr_dict": sym.attr_dict(),
        "list_attr": sym.list_attr(),
        "len": len(sym),
    }


# -- networks with parameters -----------------------------------------------------------------
def net_mlp(mx):
    with mx.name.NameManager():
        data = mx.sym.Variable("data")
        h = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=16, name="fc1"),
                              act_type="relu", name="relu1")
        h = mx.sym.Activation(mx.sym.FullyConnected(h, num_hidden=12, name="fc2"),
                              act_type="tanh", name="tanh2")
        h = mx.sym.FullyConnected(h, num_hidden=5, name="fc3")
        return mx.sym.SoftmaxOutput(h, name="softmax")


def net_emb_fc(mx):
    with mx.name.NameManager():
        data = mx.sym.Variable("data")
        emb = mx.sym.Embedding(data, input_dim=20, output_dim=6, name="embed")
        h = mx.sym.FullyConnected(emb, num_hidden=10, flatten=False, name="proj")
        h = mx.sym.Activation(h, act_type="sigmoid")
        h = mx.sym.Reshape(h, shape=(-1, 10))
        h = mx.sym.FullyConnected(h, num_hidden=20, name="pred")
        return mx.sym.SoftmaxOutput(h, name="softmax", normalization="batch")


def net_conv_bn(mx):
    with mx.name.NameManager():
        data = mx.sym.Variable("data")
        h = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, pad=(1, 1), name="conv1")
        h = mx.sym.BatchNorm(h, fix_gamma=False, name="bn1")
        h = mx.sym.Activation(h, act_type="relu")
        h = mx.sym.Pooling(h, kernel=(2, 2), stride=(2, 2), pool_type="max")
        h = mx.sym.Convolution(h, kernel=(3, 3), num_filter=6, stride=(2, 2), name="conv2")
        h = mx.sym.BatchNorm(h, name="bn2")
        h = mx.sym.Pooling(h, global_pool=True, pool_type="avg", kernel=(1, 1))
        h = mx.sym.FullyConnected(mx.sym.Flatten(h), num_hidden=3, name="fc")
        return mx.sym.SoftmaxOutput(h, name="softmax")


def net_bn(mx):
    """The BatchNorm net: fully connected layers with BatchNorm between them."""
    with mx.name.NameManager():
        data = mx.sym.Variable("data")
        h = mx.sym.FullyConnected(data, num_hidden=8, name="fc1")
        h = mx.sym.BatchNorm(h, fix_gamma=False, momentum=0.7, eps=1e-4, name="bn1")
        h = mx.sym.Activation(h, act_type="relu")
        h = mx.sym.FullyConnected(h, num_hidden=6, name="fc2")
        h = mx.sym.BatchNorm(h, name="bn2")
        h = mx.sym.FullyConnected(h, num_hidden=4, name="fc3")
        return mx.sym.SoftmaxOutput(h, name="softmax")


def net_zoo(mx):
    """Many operators and parameter encodings in one graph, for JSON written here."""
    with mx.name.NameManager():
        data = mx.sym.Variable("data")
        other = mx.sym.Variable("other")
        a = mx.sym.Reshape(data, shape=(0, -4, 2, -1, -2))
        a = mx.sym.Reshape(a, shape=(-3, -2))
        a = mx.sym.swapaxes(a, dim1=1, dim2=2)
        b = mx.sym.transpose(other, axes=(0, 2, 1))
        c = mx.sym.broadcast_mul(a, mx.sym.expand_dims(mx.sym.mean(b, axis=0), axis=0))
        c = mx.sym.clip(c * 2 + 1, a_min=-3, a_max=3)
        parts = mx.sym.split(c, num_outputs=2, axis=2)
        d = mx.sym.where(parts[0] > 0, mx.sym.exp(parts[0] * 0.1), mx.sym.square(parts[1]))
        e = mx.sym.Concat(d, mx.sym.abs(parts[1]), dim=1)
        f = mx.sym.stack(e, mx.sym.sigmoid(e), axis=1)
        g = mx.sym.log_softmax(mx.sym.Flatten(f), axis=-1)
        h = mx.sym.LeakyReLU(mx.sym.FullyConnected(g, num_hidden=5), act_type="leaky",
                             slope=0.2)
        return mx.sym.Group([mx.sym.sum(h, axis=1, keepdims=True), mx.sym.softmax(h)])


NET_BUILDERS = {"mlp": net_mlp, "emb_fc": net_emb_fc, "conv_bn": net_conv_bn, "bn": net_bn}
WRITE_BUILDERS = dict(NET_BUILDERS, zoo=net_zoo)
# input shapes and which inputs hold class indices (their values are integers)
NET_INPUTS = {
    "mlp": ({"data": (6, 10), "softmax_label": (6,)}, {"softmax_label": 5}),
    "emb_fc": ({"data": (3, 4), "softmax_label": (12,)}, {"data": 20, "softmax_label": 20}),
    "conv_bn": ({"data": (4, 2, 8, 8), "softmax_label": (4,)}, {"softmax_label": 3}),
    "bn": ({"data": (8, 5), "softmax_label": (8,)}, {"softmax_label": 4}),
    "lstm": ({"data": (2, 3), "softmax_label": (6,)}, {"data": 15, "softmax_label": 15}),
    "zoo": ({"data": (2, 8, 3), "other": (2, 4, 3)}, {}),
}
LSTM_HIDDEN, LSTM_VOCAB, LSTM_STEPS = 8, 15, 3


def net_lstm(mx):
    """MXNet's LSTM language model (lstm_bucketing.py) for 3 steps; built with mx.rnn."""
    with mx.name.NameManager():
        data = mx.sym.Variable("data")
        label = mx.sym.Variable("softmax_label")
        embed = mx.sym.Embedding(data, input_dim=LSTM_VOCAB, output_dim=6, name="embed")
        stack = mx.rnn.SequentialRNNCell()
        stack.add(mx.rnn.LSTMCell(num_hidden=LSTM_HIDDEN, prefix="lstm_l0_"))
        stack.add(mx.rnn.LSTMCell(num_hidden=LSTM_HIDDEN, prefix="lstm_l1_"))
        outputs, _ = stack.unroll(LSTM_STEPS, inputs=embed, merge_outputs=True)
        pred = mx.sym.Reshape(outputs, shape=(-1, LSTM_HIDDEN))
        pred = mx.sym.FullyConnected(pred, num_hidden=LSTM_VOCAB, name="pred")
        label = mx.sym.Reshape(label, shape=(-1,))
        return mx.sym.SoftmaxOutput(pred, label=label, name="softmax")


def net_values(mx, sym, net, seed):
    """Deterministic inputs, parameters and aux states of a network: (args, aux) numpy dicts."""
    shapes, classes = NET_INPUTS[net]
    arg_shapes, _, aux_shapes = sym.infer_shape(**shapes)
    rng = np.random.RandomState(seed)
    args = {}
    for name, shape in zip(sym.list_arguments(), arg_shapes):
        if name in classes:
            args[name] = rng.randint(0, classes[name], shape).astype(np.float32)
        elif name.endswith("gamma") or name.endswith("var"):
            args[name] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        else:
            args[name] = (rng.standard_normal(shape) * 0.5).astype(np.float32)
    aux = {}
    for name, shape in zip(sym.list_auxiliary_states(), aux_shapes):
        low = 0.5 if name.endswith("var") else -0.5
        aux[name] = rng.uniform(low, low + 1.0, shape).astype(np.float32)
    return args, aux


def head_grads(shapes, seed):
    rng = np.random.RandomState(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


# -- running a graph in MXNet -----------------------------------------------------------------
def run_mx(mx, sym, args, aux, grad_req, train=True, out_grads=None):
    """Bind, forward, backward in MXNet: (outputs, {name: grad}, {aux name: value after})."""
    exe = sym.bind(mx.cpu(), {k: mx.nd.array(v) for k, v in args.items()},
                   args_grad={k: mx.nd.zeros(v.shape) for k, v in args.items()
                              if grad_req[k] != "null"},
                   grad_req=grad_req, aux_states={k: mx.nd.array(v) for k, v in aux.items()})
    outs = [o.asnumpy() for o in exe.forward(is_train=train)]
    grads = {}
    if train:
        exe.backward([mx.nd.array(g) for g in out_grads] if out_grads is not None else None)
        grads = {k: v.asnumpy() for k, v in exe.grad_dict.items() if v is not None}
    aux_after = {k: v.asnumpy() for k, v in exe.aux_dict.items()}
    return outs, grads, aux_after


def make_ops(mx):
    table, arrays = [], {}
    for i, case in enumerate(OP_CASES):
        cid, op, params, inputs, opts = case
        values = case_values(case, 1000 + i)
        aux_names = opts.get("aux", [])
        args = {k: v for k, v in values.items() if k not in aux_names}
        aux = {k: v for k, v in values.items() if k in aux_names}
        sym = build_op(mx, case)
        grad_req = {k: "null" if k in opts.get("nograd", []) else "write" for k in args}
        _, out_shapes, _ = sym.infer_shape(**{k: v.shape for k, v in args.items()})
        ogs = head_grads(out_shapes, 5000 + i)
        train = opts.get("train", True)
        outs, grads, aux_after = run_mx(mx, sym, args, aux, grad_req, train, ogs)
        for k, v in values.items():
            arrays[f"{cid}/in/{k}"] = v
        for j, (o, g) in enumerate(zip(outs, ogs)):
            arrays[f"{cid}/out/{j}"] = o
            arrays[f"{cid}/head/{j}"] = g
        for k, v in grads.items():
            arrays[f"{cid}/grad/{k}"] = v
        for k, v in aux_after.items():
            arrays[f"{cid}/aux/{k}"] = v
        table.append({"id": cid, "op": op, "train": train, "outputs": sym.list_outputs(),
                      "arguments": sym.list_arguments(),
                      "aux": sym.list_auxiliary_states()})
    with open(os.path.join(OUT_DIR, "ops.json"), "w") as f:
        json.dump(table, f, indent=1)
    np.savez_compressed(os.path.join(OUT_DIR, "ops.npz"), **arrays)


def _listify(x):
    if x is None:
        return None
    return [None if s is None else [list(t) if isinstance(t, tuple) else t for t in s]
            for s in x]


def make_symbols(mx):
    doc = {"describe": {}, "infer_shape": [], "infer_shape_partial": [], "infer_type": []}
    for key, builder in SYMBOL_BUILDERS.items():
        syms = builder(mx)
        doc["describe"][key] = {k: describe(s) for k, s in syms.items()}
    for key, part, kwargs in INFER_QUERIES:
        res = SYMBOL_BUILDERS[key](mx)[part].infer_shape(**kwargs)
        doc["infer_shape"].append([key, part, kwargs, [_listify(r) for r in res]])
    for key, part, kwargs in PARTIAL_QUERIES:
        res = SYMBOL_BUILDERS[key](mx)[part].infer_shape_partial(**kwargs)
        doc["infer_shape_partial"].append([key, part, kwargs, [_listify(r) for r in res]])
    for key, part, kwargs in TYPE_QUERIES:
        res = SYMBOL_BUILDERS[key](mx)[part].infer_type(**kwargs)
        names = [None if r is None else [np.dtype(t).name for t in r] for r in res]
        doc["infer_type"].append([key, part, kwargs, names])
    with open(os.path.join(OUT_DIR, "symbols.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)


def make_nets(mx):
    builders = dict(NET_BUILDERS, lstm=net_lstm)
    for i, (net, builder) in enumerate(builders.items()):
        sym = builder(mx)
        args, aux = net_values(mx, sym, net, 77 + i)
        classes = NET_INPUTS[net][1]
        grad_req = {k: "null" if k in classes else "write" for k in args}
        outs, grads, aux_after = run_mx(mx, sym, args, aux, grad_req, train=True)
        pred, _, _ = run_mx(mx, sym, args, aux, grad_req, train=False)
        sym.save(os.path.join(OUT_DIR, f"net_{net}-symbol.json"))
        saved = {f"arg:{k}": mx.nd.array(v) for k, v in args.items()}
        saved.update({f"aux:{k}": mx.nd.array(v) for k, v in aux.items()})
        mx.nd.save(os.path.join(OUT_DIR, f"net_{net}.params"), saved)
        arrays = {f"out/{j}": o for j, o in enumerate(outs)}
        arrays.update({f"pred/{j}": o for j, o in enumerate(pred)})
        arrays.update({f"grad/{k}": v for k, v in grads.items()})
        arrays.update({f"aux/{k}": v for k, v in aux_after.items()})
        np.savez_compressed(os.path.join(OUT_DIR, f"net_{net}.npz"), **arrays)


# -- checking what bucketmod wrote ------------------------------------------------------------
def check(mx, directory):
    """Load each `<case>-symbol.json` + `<case>.params` written by write_core.py and compare
    MXNet's outputs and gradients to `<case>.expected.params`. Returns the list of failures."""
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    failures = []
    for case in manifest["cases"]:
        sym = mx.sym.load(os.path.join(directory, f"{case['name']}-symbol.json"))
        params = mx.nd.load(os.path.join(directory, f"{case['name']}.params"))
        expected = mx.nd.load(os.path.join(directory, f"{case['name']}.expected.params"))
        args = {k[4:]: v.asnumpy() for k, v in params.items() if k.startswith("arg:")}
        aux = {k[4:]: v.asnumpy() for k, v in params.items() if k.startswith("aux:")}
        if sorted(args) != sorted(sym.list_arguments()):
            failures.append(f"{case['name']}: arguments {sym.list_arguments()} vs {sorted(args)}")
            continue
        grad_req = {k: "null" if k in case["nograd"] else "write" for k in args}
        out_grads = [expected[f"head:{j}"].asnumpy() for j in range(case["num_outputs"])] \
            if case["head_grads"] else None
        outs, grads, aux_after = run_mx(mx, sym, args, aux, grad_req, True, out_grads)
        got = {f"out:{j}": o for j, o in enumerate(outs)}
        got.update({f"grad:{k}": v for k, v in grads.items()})
        got.update({f"aux:{k}": v for k, v in aux_after.items()})
        for key, value in expected.items():
            if key.startswith("head:"):
                continue
            if key not in got:
                failures.append(f"{case['name']}: MXNet has no {key}")
            elif not np.allclose(got[key], value.asnumpy(), rtol=1e-4, atol=1e-5):
                err = np.abs(got[key] - value.asnumpy()).max()
                failures.append(f"{case['name']}: {key} differs (max abs {err:.3g})")
        print(f"{case['name']}: {len(expected)} arrays compared")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", metavar="DIR", help="check files bucketmod wrote in DIR")
    opts = parser.parse_args()
    import mxnet as mx
    if opts.check:
        failures = check(mx, opts.check)
        for line in failures:
            print("MISMATCH", line)
        print("ok" if not failures else f"{len(failures)} mismatches")
        return 1 if failures else 0
    os.makedirs(OUT_DIR, exist_ok=True)
    make_ops(mx)
    make_symbols(mx)
    make_nets(mx)
    print(f"wrote {sorted(os.listdir(OUT_DIR))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
