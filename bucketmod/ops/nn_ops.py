"""Neural-network operators: FullyConnected, Convolution, Pooling, activations, normalisation,
Dropout, Embedding, softmax and the loss layers, registered with MXNet's names and parameters."""
import math

import numpy as np
import torch
import torch.nn.functional as F

from .activation import ACT_TYPES, LEAKY_ACT_TYPES, activation, leaky_relu
from .embedding import embedding
from .fc import fully_connected
from .params import Param
from .registry import OpDef, register
from .regression_output import make_loss, regression_output
from .shape_ops import ShapeMismatch, merge, size
from .softmax import log_softmax, softmax
from .softmax_output import softmax_output


def _same_shape(p, s):
    return s, [s[0]]


# -- FullyConnected ---------------------------------------------------------------------------
def _fc_infer(p, s):
    """Nothing is inferred before data's shape is known (MXNet leaves bias unknown too)."""
    d = s[0]
    nh = p["num_hidden"]
    if d is None:
        return s, [None]
    if p["flatten"]:
        k = size(d[1:]) if len(d) > 1 else 1
        out = (d[0], nh)
    else:
        k = d[-1]
        out = tuple(d[:-1]) + (nh,)
    s[1] = merge("weight", s[1], (nh, k))
    if not p["no_bias"]:
        s[2] = merge("bias", s[2], (nh,))
    return s, [out]


def _fc_infer_backward(p, s, outs):
    """The data's leading dims from the output's (a begin state of batch size 0, in MXNet)."""
    d, out = s[0], outs[0]
    if d is None or out is None:
        return s
    if p["flatten"] and len(d) >= 1 and d[0] == 0:
        s[0] = merge("data", d, (out[0],) + tuple(d[1:]))
    elif not p["flatten"]:
        s[0] = merge("data", d, tuple(out[:-1]) + (d[-1],))
    return s


register(OpDef(
    name="FullyConnected",
    params={"num_hidden": Param("int", lower=1), "no_bias": Param("bool", False),
            "flatten": Param("bool", True)},
    arguments=lambda p: ["data", "weight"] + ([] if p["no_bias"] else ["bias"]),
    infer_shape=_fc_infer, infer_backward=_fc_infer_backward,
    forward=lambda p, x, aux, train: [fully_connected(
        x[0], x[1], None if p["no_bias"] else x[2], flatten=p["flatten"])],
))


# -- Convolution and Pooling ------------------------------------------------------------------
def _tuple(v, n, fill):
    return tuple(v) if v else (fill,) * n


def _conv_geometry(p):
    n = len(p["kernel"])
    return (n, _tuple(p["stride"], n, 1), _tuple(p["dilate"], n, 1), _tuple(p["pad"], n, 0))


def _conv_infer(p, s):
    d = s[0]
    n, stride, dilate, pad = _conv_geometry(p)
    if d is None:
        return s, [None]
    if len(d) != n + 2:
        raise ShapeMismatch("data", f"{n + 2}-d (N, C, spatial...) for a {n}-d kernel", d)
    w = (p["num_filter"], d[1] // p["num_group"]) + tuple(p["kernel"])
    s[1] = merge("weight", s[1], w)
    spatial = tuple((x + 2 * pd - dl * (k - 1) - 1) // st + 1 for x, k, st, dl, pd in
                    zip(d[2:], p["kernel"], stride, dilate, pad))
    out = (d[0], p["num_filter"]) + spatial
    if not p["no_bias"]:
        s[2] = merge("bias", s[2], (p["num_filter"],))
    return s, [out]


def _conv_forward(p, x, aux, train):
    n, stride, dilate, pad = _conv_geometry(p)
    conv = (F.conv1d, F.conv2d, F.conv3d)[n - 1]
    bias = None if p["no_bias"] else x[2]
    return [conv(x[0], x[1], bias, stride, pad, dilate, p["num_group"])]


_CONV_PARAMS = {
    "kernel": Param("shape"), "num_filter": Param("int", lower=1), "stride": Param("shape", ()),
    "dilate": Param("shape", ()), "pad": Param("shape", ()), "num_group": Param("int", 1),
    "workspace": Param("int", 1024), "no_bias": Param("bool", False),
    "cudnn_tune": Param("str", None), "cudnn_off": Param("bool", False),
    "layout": Param("str", None),
}
register(OpDef(
    name="Convolution", params=_CONV_PARAMS,
    arguments=lambda p: ["data", "weight"] + ([] if p["no_bias"] else ["bias"]),
    infer_shape=_conv_infer, forward=_conv_forward,
))


def _pool_geometry(p, d):
    n = len(d) - 2
    if p["global_pool"]:
        return n, tuple(d[2:]), (1,) * n, (0,) * n
    return n, tuple(p["kernel"]), _tuple(p["stride"], n, 1), _tuple(p["pad"], n, 0)


def _pool_infer(p, s):
    d = s[0]
    if d is None:
        return s, [None]
    n, kernel, stride, pad = _pool_geometry(p, d)
    rnd = math.ceil if p["pooling_convention"] == "full" else math.floor
    spatial = tuple(int(rnd((x + 2 * pd - k) / st)) + 1
                    for x, k, st, pd in zip(d[2:], kernel, stride, pad))
    return s, [tuple(d[:2]) + spatial]


def _pool_forward(p, x, aux, train):
    data = x[0]
    n, kernel, stride, pad = _pool_geometry(p, data.shape)
    ceil = p["pooling_convention"] == "full"
    if p["pool_type"] == "max":
        fn = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[n - 1]
        return [fn(data, kernel, stride, pad, ceil_mode=ceil)]
    fn = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[n - 1]
    include_pad = True if p["count_include_pad"] is None else p["count_include_pad"]
    out = fn(data, kernel, stride, pad, ceil_mode=ceil, count_include_pad=include_pad)
    if p["pool_type"] == "sum":
        out = out * math.prod(kernel)
    return [out]


register(OpDef(
    name="Pooling",
    params={"kernel": Param("shape", ()), "pool_type": Param("str", "max", ("max", "avg", "sum")),
            "global_pool": Param("bool", False), "cudnn_off": Param("bool", False),
            "pooling_convention": Param("str", "valid", ("valid", "full")),
            "stride": Param("shape", ()), "pad": Param("shape", ()),
            "p_value": Param("int_or_none", None), "count_include_pad": Param("bool_or_none", None),
            "layout": Param("str", None)},
    infer_shape=_pool_infer, forward=_pool_forward,
))


# -- activations ------------------------------------------------------------------------------
register(OpDef(
    name="Activation", params={"act_type": Param("str", choices=ACT_TYPES)},
    infer_shape=_same_shape,
    forward=lambda p, x, aux, train: [activation(x[0], p["act_type"])],
))


def _leaky_infer(p, s):
    if p["act_type"] == "prelu" and s[0] is not None:
        s[1] = merge("gamma", s[1], (s[0][1] if len(s[0]) > 1 else 1,))
    return s, [s[0]]


register(OpDef(
    name="LeakyReLU",
    params={"act_type": Param("str", "leaky", LEAKY_ACT_TYPES), "slope": Param("float", 0.25),
            "lower_bound": Param("float", 0.125), "upper_bound": Param("float", 0.334)},
    arguments=lambda p: ["data", "gamma"] if p["act_type"] == "prelu" else ["data"],
    infer_shape=_leaky_infer,
    forward=lambda p, x, aux, train: [leaky_relu(
        x[0], p["act_type"], p["slope"], x[1] if len(x) > 1 else None,
        p["lower_bound"], p["upper_bound"], train)],
))


# -- softmax family and losses ----------------------------------------------------------------
_SOFTMAX_PARAMS = {"axis": Param("int", -1), "temperature": Param("float_or_none", None),
                   "dtype": Param("dtype_or_none", None), "use_length": Param("bool", False)}
register(OpDef(name="softmax", params=_SOFTMAX_PARAMS, infer_shape=_same_shape,
               forward=lambda p, x, aux, train: [softmax(x[0], p["axis"], p["temperature"])]))
register(OpDef(name="log_softmax", params=_SOFTMAX_PARAMS, infer_shape=_same_shape,
               forward=lambda p, x, aux, train: [log_softmax(x[0], p["axis"],
                                                             p["temperature"])]))


def _softmax_output_label_shape(p, d):
    if p["multi_output"]:
        return (d[0],) + tuple(d[2:])
    if p["preserve_shape"]:
        return tuple(d[:-1])
    return (d[0],)


def _softmax_output_infer(p, s):
    d = s[0]
    if d is not None:
        expected = _softmax_output_label_shape(p, d)
        if s[1] is not None and tuple(s[1]) == tuple(d):
            return s, [d]
        if s[1] is not None and p["multi_output"] and len(s[1]) == 2 and \
                s[1][1] == size(d[2:]) and s[1][0] in (0, d[0]):
            return s, [d]
        s[1] = merge("label", s[1], expected)
    return s, [d]


register(OpDef(
    name="SoftmaxOutput", aliases=("Softmax",), is_loss=True,
    params={"grad_scale": Param("float", 1.0), "ignore_label": Param("float", -1.0),
            "multi_output": Param("bool", False), "use_ignore": Param("bool", False),
            "preserve_shape": Param("bool", False),
            "normalization": Param("str", "null", ("null", "batch", "valid")),
            "out_grad": Param("bool", False), "smooth_alpha": Param("float", 0.0)},
    arguments=lambda p: ["data", "label"],
    infer_shape=_softmax_output_infer,
    forward=lambda p, x, aux, train: [softmax_output(
        x[0], x[1], grad_scale=p["grad_scale"], ignore_label=p["ignore_label"],
        use_ignore=p["use_ignore"], normalization=p["normalization"],
        multi_output=p["multi_output"], preserve_shape=p["preserve_shape"],
        smooth_alpha=p["smooth_alpha"])],
))


def _regression_infer(p, s):
    d = s[0]
    if d is not None and s[1] is not None and len(s[1]) == 1 and len(d) == 2 and d[1] == 1:
        return s, [d]
    if d is not None:
        s[1] = merge("label", s[1], d)
    return s, [d]


for _name, _kind in (("LinearRegressionOutput", "linear"), ("LogisticRegressionOutput",
                                                            "logistic"),
                     ("MAERegressionOutput", "mae")):
    register(OpDef(
        name=_name, is_loss=True, params={"grad_scale": Param("float", 1.0)},
        arguments=lambda p: ["data", "label"], infer_shape=_regression_infer,
        forward=lambda p, x, aux, train, kind=_kind: [regression_output(
            x[0], x[1], kind, p["grad_scale"])],
    ))


register(OpDef(
    name="MakeLoss", is_loss=True, infer_shape=lambda p, s: (s, [s[0]]),
    params={"grad_scale": Param("float", 1.0), "valid_thresh": Param("float", 0.0),
            "normalization": Param("str", "null", ("null", "batch", "valid"))},
    forward=lambda p, x, aux, train: [make_loss(x[0], p["grad_scale"], p["normalization"],
                                                p["valid_thresh"])],
))
register(OpDef(
    name="make_loss", is_loss=True, params={}, outputs=lambda p: ["loss"],
    infer_shape=lambda p, s: (s, [s[0]]),
    forward=lambda p, x, aux, train: [make_loss(x[0])],
))


# -- Embedding --------------------------------------------------------------------------------
def _embedding_infer(p, s):
    if s[0] is None:
        return s, [None]
    s[1] = merge("weight", s[1], (p["input_dim"], p["output_dim"]))
    return s, [tuple(s[0]) + (p["output_dim"],)]


register(OpDef(
    name="Embedding",
    params={"input_dim": Param("int", lower=1), "output_dim": Param("int", lower=1),
            "dtype": Param("dtype", "float32"), "sparse_grad": Param("bool", False)},
    arguments=lambda p: ["data", "weight"],
    infer_shape=_embedding_infer,
    infer_type=lambda p, t: ([t[0], t[1] or p["dtype"]], [t[1] or p["dtype"]]),
    forward=lambda p, x, aux, train: [embedding(x[0], x[1])],
))


# -- BatchNorm and Dropout --------------------------------------------------------------------
def _bn_infer(p, s):
    d = s[0]
    if d is not None:
        c = (d[p["axis"] % len(d)],)
        for i, name in enumerate(("gamma", "beta", "moving_mean", "moving_var"), start=1):
            s[i] = merge(name, s[i], c)
    return s, [d]


def _bn_forward(p, x, aux, train):
    data, gamma, beta = x
    moving_mean, moving_var = aux
    axis = p["axis"] % data.dim()
    view = [1] * data.dim()
    view[axis] = -1
    if p["fix_gamma"]:
        gamma = torch.ones_like(gamma)
    if train and not p["use_global_stats"]:
        dims = [i for i in range(data.dim()) if i != axis]
        mean = data.mean(dim=dims)
        var = data.var(dim=dims, unbiased=False)
        with torch.no_grad():
            m = p["momentum"]
            moving_mean.mul_(m).add_(mean.detach() * (1 - m))
            moving_var.mul_(m).add_(var.detach() * (1 - m))
    else:
        mean, var = moving_mean, moving_var
    inv = torch.rsqrt(var + p["eps"])
    out = (data - mean.reshape(view)) * (inv * gamma).reshape(view) + beta.reshape(view)
    if p["output_mean_var"]:
        return [out, mean, inv]
    return [out]


def _bn_infer_type(p, t):
    """float16 data keeps float32 gamma, beta and moving statistics, as in MXNet."""
    data = t[0]
    param = "float32" if data is not None and np.dtype(data) == np.float16 else data
    outs = [data] + ([param, param] if p["output_mean_var"] else [])
    return [data] + [param] * 4, outs


register(OpDef(
    name="BatchNorm",
    params={"eps": Param("float", 1e-3), "momentum": Param("float", 0.9),
            "fix_gamma": Param("bool", True), "use_global_stats": Param("bool", False),
            "output_mean_var": Param("bool", False), "axis": Param("int", 1),
            "cudnn_off": Param("bool", False), "min_calib_range": Param("float_or_none", None),
            "max_calib_range": Param("float_or_none", None)},
    arguments=lambda p: ["data", "gamma", "beta"],
    aux=lambda p: ["moving_mean", "moving_var"],
    outputs=lambda p: ["output", "mean", "var"] if p["output_mean_var"] else ["output"],
    infer_type=_bn_infer_type, num_all_outputs=lambda p: 3,
    infer_shape=lambda p, s: (_bn_infer(p, s)[0], [s[0]] + (
        [(s[0][p["axis"] % len(s[0])],) if s[0] else None] * 2 if p["output_mean_var"] else [])),
    forward=_bn_forward,
    extra={"var_init": {3: '["zero", {}]', 4: '["one", {}]'}},
))


def _dropout_forward(p, x, aux, train):
    data = x[0]
    if p["p"] <= 0 or not (train or p["mode"] == "always"):
        return [data]
    shape = list(data.shape)
    for ax in p["axes"]:
        shape[ax] = 1
    keep = 1.0 - p["p"]
    mask = (torch.rand(shape, device=data.device) < keep).to(data.dtype) / keep
    return [data * mask]


register(OpDef(
    name="Dropout",
    params={"p": Param("float", 0.5, lower=0.0, upper=1.0),
            "mode": Param("str", "training", ("training", "always")),
            "axes": Param("shape", ()), "cudnn_off": Param("bool", False)},
    infer_shape=_same_shape, forward=_dropout_forward, num_all_outputs=lambda p: 2,
))
