"""Neural-network operators: FullyConnected, Convolution, Deconvolution, Pooling, activations,
softmax, normalisation layers, Dropout, Embedding, upsampling and spatial sampling, registered
with MXNet's names and parameters."""
import math

import numpy as np
import torch
import torch.nn.functional as F

from .activation import ACT_TYPES, LEAKY_ACT_TYPES, activation, leaky_relu
from .common import first_shape, norm_axis, torch_dtype, variadic_args
from .embedding import embedding
from .fc import fully_connected
from .params import Param
from .registry import OpDef, register
from .shape_ops import ShapeMismatch, merge, size
from .softmax import log_softmax, softmax


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
    "kernel": Param("shape"), "stride": Param("shape", ()), "dilate": Param("shape", ()),
    "pad": Param("shape", ()), "num_filter": Param("int", lower=1), "num_group": Param("int", 1),
    "workspace": Param("int", 1024), "no_bias": Param("bool", False),
    "cudnn_tune": Param("str", None), "cudnn_off": Param("bool", False),
    "layout": Param("str", None),
}
register(OpDef(
    name="Convolution", params=_CONV_PARAMS,
    arguments=lambda p: ["data", "weight"] + ([] if p["no_bias"] else ["bias"]),
    infer_shape=_conv_infer, forward=_conv_forward,
))


def _deconv_geometry(p, d):
    """(stride, dilate, pad, adj) with MXNet's pad/adj from target_shape when it is set."""
    n, stride, dilate, pad = _conv_geometry(p)
    adj = _tuple(p["adj"], n, 0)
    if any(p["target_shape"]) and d is not None:
        pads, adjs = [], []
        for x, k, st, dl, t in zip(d[2:], p["kernel"], stride, dilate, p["target_shape"]):
            total = st * (x - 1) + dl * (k - 1) + 1 - t
            pads.append((total + 1) // 2)
            adjs.append(total % 2)
        pad, adj = tuple(pads), tuple(adjs)
    return stride, dilate, pad, adj


def _deconv_infer(p, s):
    d = s[0]
    if d is None:
        return s, [None]
    stride, dilate, pad, adj = _deconv_geometry(p, d)
    s[1] = merge("weight", s[1], (d[1], p["num_filter"] // p["num_group"]) + tuple(p["kernel"]))
    if not p["no_bias"]:
        s[2] = merge("bias", s[2], (p["num_filter"],))
    spatial = tuple(st * (x - 1) + dl * (k - 1) + 1 - 2 * pd + aj for x, k, st, dl, pd, aj in
                    zip(d[2:], p["kernel"], stride, dilate, pad, adj))
    return s, [(d[0], p["num_filter"]) + spatial]


def _deconv_forward(p, x, aux, train):
    stride, dilate, pad, adj = _deconv_geometry(p, x[0].shape)
    conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[len(p["kernel"]) - 1]
    bias = None if p["no_bias"] else x[2]
    return [conv(x[0], x[1], bias, stride, pad, adj, p["num_group"], dilate)]


register(OpDef(
    name="Deconvolution",
    params={"kernel": Param("shape"), "stride": Param("shape", ()),
            "dilate": Param("shape", ()), "pad": Param("shape", ()), "adj": Param("shape", ()),
            "target_shape": Param("shape", ()), "num_filter": Param("int", lower=1),
            "num_group": Param("int", 1), "workspace": Param("int", 512),
            "no_bias": Param("bool", True), "cudnn_tune": Param("str", None),
            "cudnn_off": Param("bool", False), "layout": Param("str", None)},
    inputs=("data", "weight", "bias"),
    arguments=lambda p: ["data", "weight"] + ([] if p["no_bias"] else ["bias"]),
    infer_shape=_deconv_infer, forward=_deconv_forward,
))


def _channels_last(p, ndim):
    return (p["layout"] or "").endswith("C") and ndim > 2


def _pool_geometry(p, d):
    n = len(d) - 2
    if p["global_pool"]:
        return n, tuple(d[2:]), (1,) * n, (0,) * n
    return n, tuple(p["kernel"]), _tuple(p["stride"], n, 1), _tuple(p["pad"], n, 0)


def _pool_out(p, d):
    n, kernel, stride, pad = _pool_geometry(p, d)
    conv = p["pooling_convention"]
    if conv == "same":
        return tuple(-(-x // st) for x, st in zip(d[2:], stride))
    rnd = math.ceil if conv == "full" else math.floor
    return tuple(int(rnd((x + 2 * pd - k) / st)) + 1
                 for x, k, st, pd in zip(d[2:], kernel, stride, pad))


def _pool_infer(p, s):
    d = s[0]
    if d is None:
        return s, [None]
    if _channels_last(p, len(d)):
        nchw = (d[0], d[-1]) + tuple(d[1:-1])
        out = _pool_out(p, nchw)
        return s, [(d[0],) + out + (d[-1],)]
    return s, [tuple(d[:2]) + _pool_out(p, d)]


def _window_sum(data, kernel, stride, pad, ceil):
    fn = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[len(kernel) - 1]
    return fn(data, kernel, stride, pad, ceil_mode=ceil, count_include_pad=True) * math.prod(
        kernel)


def _pool_nchw(p, data):
    n, kernel, stride, pad = _pool_geometry(p, data.shape)
    ceil = p["pooling_convention"] == "full"
    if p["pooling_convention"] == "same":
        out = _pool_out(p, data.shape)
        extra = [max((o - 1) * st + k - x, 0) for o, st, k, x in
                 zip(out, stride, kernel, data.shape[2:])]
        data = F.pad(data, [v for e in reversed(extra) for v in (0, e)], value=-math.inf)
    if p["pool_type"] == "max":
        fn = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[n - 1]
        return fn(data, kernel, stride, pad, ceil_mode=ceil)
    if p["pool_type"] == "lp":
        power = p["p_value"]
        total = _window_sum(data ** power, kernel, stride, pad, ceil)
        if power == 1:
            return total
        if power == 2:
            return total.sqrt()
        return torch.sign(total) * total.abs().pow(1.0 / power)
    fn = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[n - 1]
    include_pad = True if p["count_include_pad"] is None else p["count_include_pad"]
    out = fn(data, kernel, stride, pad, ceil_mode=ceil, count_include_pad=include_pad)
    if p["pool_type"] == "sum":
        out = out * math.prod(kernel)
    return out


def _pool_forward(p, x, aux, train):
    data = x[0]
    if _channels_last(p, data.dim()):
        perm = (0, data.dim() - 1) + tuple(range(1, data.dim() - 1))
        out = _pool_nchw(p, data.permute(perm))
        return [out.permute((0,) + tuple(range(2, data.dim())) + (1,))]
    return [_pool_nchw(p, data)]


POOLING_PARAMS = {
    "kernel": Param("shape", ()), "pool_type": Param("str", "max", ("avg", "lp", "max", "sum")),
    "global_pool": Param("bool", False), "cudnn_off": Param("bool", False),
    "pooling_convention": Param("str", "valid", ("full", "same", "valid")),
    "stride": Param("shape", ()), "pad": Param("shape", ()),
    "p_value": Param("int_or_none", None), "count_include_pad": Param("bool_or_none", None),
    "layout": Param("str", None)}
register(OpDef(name="Pooling", params=POOLING_PARAMS, infer_shape=_pool_infer,
               forward=_pool_forward))


register(OpDef(
    name="Activation", params={"act_type": Param("str", choices=ACT_TYPES)},
    infer_shape=first_shape,
    forward=lambda p, x, aux, train: [activation(x[0], p["act_type"])],
))


def _leaky_infer(p, s):
    if p["act_type"] == "prelu" and s[0] is not None:
        s[1] = merge("gamma", s[1], (s[0][1] if len(s[0]) > 1 else 1,))
    return s, [s[0]] * (2 if p["act_type"] == "rrelu" else 1)


def _leaky_forward(p, x, aux, train):
    """rrelu also outputs its per-element slopes (`mask`): random in training, their mean
    (what the prediction uses) otherwise."""
    data = x[0]
    if p["act_type"] != "rrelu":
        return [leaky_relu(data, p["act_type"], p["slope"], x[1] if len(x) > 1 else None)]
    lo, hi = p["lower_bound"], p["upper_bound"]
    if train:
        mask = torch.empty_like(data).uniform_(lo, hi).detach()
    else:
        mask = torch.full_like(data, (lo + hi) / 2).detach()
    return [torch.where(data > 0, data, data * mask), mask]


register(OpDef(
    name="LeakyReLU", inputs=("data", "gamma"),
    outputs=lambda p: ["output", "mask"] if p["act_type"] == "rrelu" else ["output"],
    params={"act_type": Param("str", "leaky", LEAKY_ACT_TYPES), "slope": Param("float", 0.25),
            "lower_bound": Param("float", 0.125), "upper_bound": Param("float", 0.334)},
    arguments=lambda p: ["data", "gamma"] if p["act_type"] == "prelu" else ["data"],
    infer_shape=_leaky_infer, forward=_leaky_forward,
))


_SOFTMAX_PARAMS = {"axis": Param("int", -1), "temperature": Param("float_or_none", None),
                   "dtype": Param("dtype", None), "use_length": Param("bool_or_none", False)}


def _softmax_forward(fn, negate=False):
    def forward(p, x, aux, train):
        data = -x[0] if negate else x[0]
        axis = norm_axis(p["axis"], data.dim())
        if p["use_length"]:
            steps = torch.arange(data.shape[axis], device=data.device).reshape(
                (-1,) + (1,) * (data.dim() - axis - 1))
            valid = steps < x[1].detach().to(torch.int64).unsqueeze(axis)
            data = data.masked_fill(~valid, -math.inf)
            out = fn(data, axis, p["temperature"])
            out = out.masked_fill(~valid, 0.0)
        else:
            out = fn(data, axis, p["temperature"])
        return [out if p["dtype"] is None else out.to(torch_dtype(p["dtype"]))]
    return forward


def _softmax_infer(p, s):
    if p["use_length"] and s[0] is not None:
        axis = norm_axis(p["axis"], len(s[0]))
        s[1] = merge("length", s[1], tuple(n for i, n in enumerate(s[0]) if i != axis))
    return s, [s[0]]


def _softmax_type(p, t):
    return t, [p["dtype"] or t[0]]


for _name, _fn, _negate in (("softmax", softmax, False), ("log_softmax", log_softmax, False),
                            ("softmin", softmax, True)):
    register(OpDef(
        name=_name, params=_SOFTMAX_PARAMS, inputs=("data", "length") if _name == "softmax"
        else None, arguments=lambda p: ["data", "length"] if p["use_length"] else ["data"],
        infer_shape=_softmax_infer, infer_type=_softmax_type,
        forward=_softmax_forward(_fn, _negate),
    ))


def _softmax_activation(p, x, aux, train):
    """instance: over the last axis (MXNet flattens to 2-D keeping it); channel: over axis 1.

    MXNet 1.9.1's backward reduces over axis 1 in both modes, which is wrong for instance mode
    on data of more than two axes; the gradient here is softmax's own."""
    return [torch.softmax(x[0], dim=1 if p["mode"] == "channel" else -1)]


register(OpDef(name="SoftmaxActivation",
               params={"mode": Param("str", "instance", ("channel", "instance"))},
               infer_shape=first_shape, forward=_softmax_activation))


def _embedding_infer(p, s):
    if s[0] is None:
        return s, [None]
    s[1] = merge("weight", s[1], (p["input_dim"], p["output_dim"]))
    return s, [tuple(s[0]) + (p["output_dim"],)]


# SparseEmbedding's gradient is row_sparse in MXNet; here it is the same values, dense.
for _name in ("Embedding", "_contrib_SparseEmbedding"):
    register(OpDef(
        name=_name,
        params={"input_dim": Param("int", lower=1), "output_dim": Param("int", lower=1),
                "dtype": Param("dtype", "float32"), "sparse_grad": Param("bool", False)},
        arguments=lambda p: ["data", "weight"],
        infer_shape=_embedding_infer,
        infer_type=lambda p, t: ([t[0], t[1] or p["dtype"]], [t[1] or p["dtype"]]),
        forward=lambda p, x, aux, train: [embedding(x[0], x[1])],
    ))


def _bn_infer(p, s):
    d = s[0]
    if d is not None:
        c = (d[p.get("axis", 1) % len(d)],)
        for i, name in enumerate(("gamma", "beta", "moving_mean", "moving_var"), start=1):
            s[i] = merge(name, s[i], c)
    return s, [d]


def _bn_forward(p, x, aux, train):
    data, gamma, beta = x
    moving_mean, moving_var = aux
    axis = p.get("axis", 1) % data.dim()
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
        return [out, mean.detach(), inv.detach()]
    return [out]


def _bn_infer_type(p, t):
    """float16 data keeps float32 gamma, beta and moving statistics, as in MXNet."""
    data = t[0]
    param = "float32" if data is not None and np.dtype(data) == np.float16 else data
    outs = [data] + ([param, param] if p["output_mean_var"] else [])
    return [data] + [param] * 4, outs


_BN_PARAMS = {"eps": Param("float", 1e-3), "momentum": Param("float", 0.9),
              "fix_gamma": Param("bool", True), "use_global_stats": Param("bool", False),
              "output_mean_var": Param("bool", False), "axis": Param("int", 1),
              "cudnn_off": Param("bool", False),
              "min_calib_range": Param("float_or_none", None),
              "max_calib_range": Param("float_or_none", None)}
_SYNC_BN_PARAMS = dict({k: _BN_PARAMS[k] for k in ("eps", "momentum", "fix_gamma",
                                                   "use_global_stats", "output_mean_var")},
                       ndev=Param("int", 1), key=Param("str"))


def _bn_with_relu(p, x, aux, train):
    outs = _bn_forward(p, x, aux, train)
    return [torch.relu(outs[0])] + outs[1:]


# SyncBatchNorm reduces its statistics over `ndev` devices; on one device it is BatchNorm.
for _name, _params, _forward in (("BatchNorm", _BN_PARAMS, _bn_forward),
                                 ("_contrib_BatchNormWithReLU", _BN_PARAMS, _bn_with_relu),
                                 ("_contrib_SyncBatchNorm", _SYNC_BN_PARAMS, _bn_forward)):
    register(OpDef(
        name=_name, params=_params,
        arguments=lambda p: ["data", "gamma", "beta"],
        aux=lambda p: ["moving_mean", "moving_var"],
        outputs=lambda p: ["output", "mean", "var"] if p["output_mean_var"] else ["output"],
        infer_type=_bn_infer_type, num_all_outputs=lambda p: 3,
        infer_shape=lambda p, s: (_bn_infer(p, s)[0], [s[0]] + (
            [(s[0][p.get("axis", 1) % len(s[0])],) if s[0] else None] * 2
            if p["output_mean_var"] else [])),
        forward=_forward,
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
    infer_shape=first_shape, forward=_dropout_forward, num_all_outputs=lambda p: 2,
))


def _norm_shape(d, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(d))


def _normalize(data, axes, eps):
    mean = data.mean(dim=axes, keepdim=True)
    var = (data - mean).square().mean(dim=axes, keepdim=True)
    std = torch.sqrt(var + eps)
    return (data - mean) / std, mean, std


def _layer_norm_infer(p, s):
    d = s[0]
    if d is None:
        return s, [None] * (3 if p["output_mean_var"] else 1)
    axis = norm_axis(p["axis"], len(d))
    s[1] = merge("gamma", s[1], (d[axis],))
    s[2] = merge("beta", s[2], (d[axis],))
    stats = _norm_shape(d, (axis,))
    return s, [d] + ([stats, stats] if p["output_mean_var"] else [])


def _layer_norm_forward(p, x, aux, train):
    data, gamma, beta = x
    axis = norm_axis(p["axis"], data.dim())
    view = [1] * data.dim()
    view[axis] = -1
    out, mean, std = _normalize(data, (axis,), p["eps"])
    out = out * gamma.reshape(view) + beta.reshape(view)
    return [out, mean.detach(), std.detach()] if p["output_mean_var"] else [out]


def _mean_std_outputs(p):
    return ["output", "mean", "std"] if p["output_mean_var"] else ["output"]


register(OpDef(
    name="LayerNorm",
    params={"axis": Param("int", -1), "eps": Param("float", 1e-5),
            "output_mean_var": Param("bool", False)},
    arguments=lambda p: ["data", "gamma", "beta"], outputs=_mean_std_outputs,
    num_all_outputs=lambda p: 3, infer_shape=_layer_norm_infer, forward=_layer_norm_forward,
))


def _group_norm_infer(p, s):
    d = s[0]
    if d is None:
        return s, [None] * (3 if p["output_mean_var"] else 1)
    g = p["num_groups"]
    if d[1] % g:
        raise ShapeMismatch("data", f"channels divisible by num_groups={g}", d)
    s[1] = merge("gamma", s[1], (g,))
    s[2] = merge("beta", s[2], (g,))
    stats = (d[0], g) + (1,) * (len(d) - 2)
    return s, [d] + ([stats, stats] if p["output_mean_var"] else [])


def _group_norm_forward(p, x, aux, train):
    data, gamma, beta = x
    g = p["num_groups"]
    grouped = data.reshape((data.shape[0], g, -1) + tuple(data.shape[2:]))
    out, mean, std = _normalize(grouped, tuple(range(2, grouped.dim())), p["eps"])
    view = (1, g) + (1,) * (grouped.dim() - 2)
    out = (out * gamma.reshape(view) + beta.reshape(view)).reshape(data.shape)
    stats = (data.shape[0], g) + (1,) * (data.dim() - 2)
    if p["output_mean_var"]:
        return [out, mean.detach().reshape(stats), std.detach().reshape(stats)]
    return [out]


register(OpDef(
    name="GroupNorm",
    params={"num_groups": Param("int", 1), "eps": Param("float", 1e-5),
            "output_mean_var": Param("bool", False)},
    arguments=lambda p: ["data", "gamma", "beta"], outputs=_mean_std_outputs,
    num_all_outputs=lambda p: 3, infer_shape=_group_norm_infer, forward=_group_norm_forward,
))


def _instance_norm_infer(p, s):
    d = s[0]
    if d is not None:
        s[1] = merge("gamma", s[1], (d[1],))
        s[2] = merge("beta", s[2], (d[1],))
    return s, [d]


def _instance_norm_forward(p, x, aux, train):
    data, gamma, beta = x
    out, _, _ = _normalize(data, tuple(range(2, data.dim())), p["eps"])
    view = (1, -1) + (1,) * (data.dim() - 2)
    return [out * gamma.reshape(view) + beta.reshape(view)]


register(OpDef(
    name="InstanceNorm", params={"eps": Param("float", 1e-3)},
    arguments=lambda p: ["data", "gamma", "beta"], num_all_outputs=lambda p: 3,
    infer_shape=_instance_norm_infer, forward=_instance_norm_forward,
))


def _l2_normalization(p, x, aux, train):
    data = x[0]
    axes = {"instance": tuple(range(1, data.dim())), "channel": (1,),
            "spatial": tuple(range(2, data.dim()))}[p["mode"]]
    norm = torch.sqrt(data.square().sum(dim=axes, keepdim=True) + p["eps"])
    return [data / norm]


register(OpDef(
    name="L2Normalization",
    params={"eps": Param("float", 1e-10),
            "mode": Param("str", "instance", ("channel", "instance", "spatial"))},
    num_all_outputs=lambda p: 2, infer_shape=first_shape, forward=_l2_normalization,
))
register(OpDef(
    name="LRN",
    params={"alpha": Param("float", 1e-4), "beta": Param("float", 0.75),
            "knorm": Param("float", 2.0), "nsize": Param("int")},
    num_all_outputs=lambda p: 2, infer_shape=first_shape,
    forward=lambda p, x, aux, train: [F.local_response_norm(
        x[0], p["nsize"], p["alpha"], p["beta"], p["knorm"])],
))


def _upsampling_arguments(p):
    if p["sample_type"] == "bilinear":
        return ["data", "weight"]
    return variadic_args(p)


def _upsampling_infer(p, s):
    scale = p["scale"]
    if p["sample_type"] == "bilinear":
        d = s[0]
        if d is None:
            return s, [None]
        k = 2 * scale - scale % 2
        s[1] = merge("weight", s[1], (p["num_filter"], 1, k, k))
        return s, [tuple(d[:2]) + tuple(n * scale for n in d[2:])]
    if any(x is None for x in s):
        return s, [None]
    out = tuple(n * scale for n in s[0][2:])
    for i, x in enumerate(s[1:], start=1):
        if any(o % n for o, n in zip(out, x[2:])):
            raise ShapeMismatch(f"arg{i}", f"a size dividing the output size {out}", x)
    channels = s[0][1] if p["multi_input_mode"] == "sum" else sum(x[1] for x in s)
    return s, [(s[0][0], channels) + out]


def _upsampling_forward(p, x, aux, train):
    scale = p["scale"]
    if p["sample_type"] == "bilinear":
        data, weight = x
        k = 2 * scale - scale % 2
        pad = (scale - 1 + 1) // 2
        return [F.conv_transpose2d(data, weight, None, scale, pad, 0, data.shape[1])[
            ..., :data.shape[2] * scale, :data.shape[3] * scale]] if k else [data]
    size = tuple(n * scale for n in x[0].shape[2:])
    parts = [F.interpolate(t, size=size, mode="nearest") for t in x]
    if p["multi_input_mode"] == "sum":
        out = parts[0]
        for t in parts[1:]:
            out = out + t
        return [out]
    return [torch.cat(parts, dim=1)]


register(OpDef(
    name="UpSampling", variadic="num_args", key_var_num_args="num_args",
    params={"scale": Param("int"), "num_filter": Param("int", 0),
            "sample_type": Param("str", choices=("bilinear", "nearest")),
            "multi_input_mode": Param("str", "concat", ("concat", "sum")),
            "num_args": Param("int"), "workspace": Param("int", 512)},
    arguments=_upsampling_arguments, infer_shape=_upsampling_infer,
    forward=_upsampling_forward,
))


def _sample_grid(data, grid):
    """Bilinear sampling at grid (N, 2, H, W) of x, y in [-1, 1]; zeros outside, as MXNet."""
    return F.grid_sample(data, grid.permute(0, 2, 3, 1), mode="bilinear", padding_mode="zeros",
                         align_corners=True)


register(OpDef(
    name="BilinearSampler", params={"cudnn_off": Param("bool_or_none", None)},
    arguments=lambda p: ["data", "grid"],
    infer_shape=lambda p, s: (s, [None if s[0] is None or s[1] is None else
                                  tuple(s[0][:2]) + tuple(s[1][2:])]),
    forward=lambda p, x, aux, train: [_sample_grid(x[0], x[1])],
))


def _affine_grid(theta, h, w):
    ys = torch.linspace(-1.0, 1.0, h, dtype=theta.dtype, device=theta.device)
    xs = torch.linspace(-1.0, 1.0, w, dtype=theta.dtype, device=theta.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    coords = torch.stack([gx, gy, torch.ones_like(gx)]).reshape(3, -1)
    return (theta.reshape(-1, 2, 3) @ coords).reshape(-1, 2, h, w)


def _grid_generator(p, x, aux, train):
    data = x[0]
    if p["transform_type"] == "affine":
        h, w = p["target_shape"]
        return [_affine_grid(data, h, w)]
    n, _, h, w = data.shape
    ys = torch.arange(h, dtype=data.dtype, device=data.device)
    xs = torch.arange(w, dtype=data.dtype, device=data.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    gx = (data[:, 0] + gx) / ((w - 1) / 2.0) - 1.0
    gy = (data[:, 1] + gy) / ((h - 1) / 2.0) - 1.0
    return [torch.stack([gx, gy], dim=1)]


def _grid_generator_infer(p, s):
    d = s[0]
    if d is None:
        return s, [None]
    if p["transform_type"] == "affine":
        return s, [(d[0], 2) + tuple(p["target_shape"])]
    return s, [d]


register(OpDef(
    name="GridGenerator",
    params={"transform_type": Param("str", choices=("affine", "warp")),
            "target_shape": Param("shape", (0, 0))},
    num_all_outputs=lambda p: 2, infer_shape=_grid_generator_infer, forward=_grid_generator,
))
register(OpDef(
    name="SpatialTransformer",
    params={"target_shape": Param("shape", (0, 0)),
            "transform_type": Param("str", choices=("affine",)),
            "sampler_type": Param("str", choices=("bilinear",)),
            "cudnn_off": Param("bool_or_none", None)},
    arguments=lambda p: ["data", "loc"], num_all_outputs=lambda p: 3,
    infer_shape=lambda p, s: (s, [None if s[0] is None else tuple(s[0][:2]) + tuple(
        p["target_shape"])]),
    forward=lambda p, x, aux, train: [_sample_grid(x[0], _affine_grid(
        x[1], *p["target_shape"]))],
))


class KLSparseRegFunction(torch.autograd.Function):
    """Identity forward; the backward updates the moving mean activation and adds the KL
    sparseness penalty's gradient to the head gradient (IdentityAttachKLSparseReg)."""

    @staticmethod
    def forward(ctx, data, moving_avg, target, penalty, momentum):
        ctx.save_for_backward(data)
        ctx.moving_avg, ctx.args = moving_avg, (target, penalty, momentum)
        return data.clone()

    @staticmethod
    def backward(ctx, grad_out):
        (data,) = ctx.saved_tensors
        target, penalty, momentum = ctx.args
        avg = ctx.moving_avg
        flat = data.reshape(data.shape[0], -1)
        avg.mul_(momentum).add_(flat.mean(0) * (1 - momentum))
        reg = penalty * (-target / avg + (1 - target) / (1 - avg))
        return grad_out + reg.reshape((1,) + tuple(data.shape[1:])), None, None, None, None


register(OpDef(
    name="IdentityAttachKLSparseReg", inputs=("data",),
    params={"sparseness_target": Param("float", 0.1), "penalty": Param("float", 1e-3),
            "momentum": Param("float", 0.9)},
    aux=lambda p: ["moving_avg"],
    infer_shape=lambda p, s: ([s[0], None if s[0] is None else (s[0][1],)], [s[0]]),
    forward=lambda p, x, aux, train: [KLSparseRegFunction.apply(
        x[0], aux[0], p["sparseness_target"], p["penalty"], p["momentum"])],
))


def _adaptive_size(p, d):
    size = p["output_size"]
    if not size:
        return (1, 1)
    return (size[0], size[0]) if len(size) == 1 else tuple(size)


register(OpDef(
    name="_contrib_AdaptiveAvgPooling2D", params={"output_size": Param("shape", ())},
    infer_shape=lambda p, s: (s, [None if s[0] is None else tuple(s[0][:2]) + _adaptive_size(
        p, s[0])]),
    forward=lambda p, x, aux, train: [F.adaptive_avg_pool2d(x[0], _adaptive_size(
        p, x[0].shape))],
))


def _resize_size(p, d, like):
    h, w = d[2], d[3]
    mode = p["mode"]
    if mode == "size":
        return (int(p["scale_height"] * h) if p["scale_height"] is not None else p["height"],
                int(p["scale_width"] * w) if p["scale_height"] is not None else p["width"])
    if mode == "odd_scale":
        return tuple(int(n * sc) if n % 2 == 0 else int((n - 1) * sc) + 1
                     for n, sc in ((h, p["scale_height"]), (w, p["scale_width"])))
    if mode == "like":
        return (like[2], like[3])
    even = mode.startswith("to_even")
    step = 1 if mode.endswith("up") else -1
    return tuple(n if (n % 2 == 0) == even else n + step for n in (h, w))


def _resize_infer(p, s):
    like = s[1] if p["mode"] == "like" else None
    if s[0] is None or (p["mode"] == "like" and like is None):
        return s, [None]
    return s, [tuple(s[0][:2]) + _resize_size(p, s[0], like)]


def _resize_forward(p, x, aux, train):
    size = _resize_size(p, x[0].shape, x[1].shape if len(x) > 1 else None)
    return [F.interpolate(x[0], size=size, mode="bilinear", align_corners=p["align_corners"])]


register(OpDef(
    name="_contrib_BilinearResize2D",
    params={"height": Param("int", 1), "width": Param("int", 1),
            "scale_height": Param("float_or_none", None),
            "scale_width": Param("float_or_none", None),
            "mode": Param("str", "size", ("like", "odd_scale", "size", "to_even_down",
                                          "to_even_up", "to_odd_down", "to_odd_up")),
            "align_corners": Param("bool", True)},
    inputs=("data", "like"),
    arguments=lambda p: ["data", "like"] if p["mode"] == "like" else ["data"],
    infer_shape=_resize_infer, forward=_resize_forward,
))


class _StraightThrough(torch.autograd.Function):
    """`fn(x)` forward, the head gradient unchanged backward (round_ste, sign_ste)."""

    @staticmethod
    def forward(ctx, x, fn):
        return fn(x)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class _GradientMultiplier(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scalar):
        ctx.scalar = scalar
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scalar, None


CONTRIB_ELEMENTWISE = {
    "_contrib_round_ste": ({}, lambda x, p: _StraightThrough.apply(
        x, lambda t: torch.sign(t) * torch.floor(t.abs() + 0.5))),
    "_contrib_sign_ste": ({}, lambda x, p: _StraightThrough.apply(x, torch.sign)),
    "_contrib_gradientmultiplier": (
        {"scalar": Param("float", 1.0), "is_int": Param("bool", True)},
        lambda x, p: _GradientMultiplier.apply(x, p["scalar"])),
    "_contrib_quadratic": (
        {"a": Param("float", 0.0), "b": Param("float", 0.0), "c": Param("float", 0.0)},
        lambda x, p: p["a"] * x * x + p["b"] * x + p["c"]),
    "_contrib_div_sqrt_dim": ({}, lambda x, p: x / math.sqrt(x.shape[-1])),
}
for _name, (_params, _fn) in CONTRIB_ELEMENTWISE.items():
    register(OpDef(name=_name, params=_params, infer_shape=first_shape,
                   forward=lambda p, x, aux, train, fn=_fn: [fn(x[0], p)]))
