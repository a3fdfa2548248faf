"""int8/uint8 quantization operators: quantize, quantize_v2, dequantize, requantize and the
quantized layers whose arithmetic is exact on integers (flatten, relu activation, max
pooling, concat with MXNet's requantization, embedding). Every quantized tensor travels with
its float range (min, max) as two (1,)-shaped float32 outputs, as in MXNet.

int8 and uint8 values are the real value times 127.5 (255.5) over the range's largest
magnitude, rounded and saturated, as MXNet 1.9.1's CPU (MKL-DNN) kernels compute them; int32
(requantize's input) maps that magnitude to 2^31 - 1.
"""
import numpy as np
import torch
import torch.nn.functional as F

from .common import variadic_args
from .nn import POOLING_PARAMS, _pool_infer, _pool_nchw
from .params import Param
from .registry import OpDef, register

_INT32_RANGE = float(0x7FFFFFFF)
# MXNet 1.9.1's CPU (MKL-DNN) kernels scale by these half-step ranges and round to nearest
_INT8_RANGE, _UINT8_RANGE = 127.5, 255.5


def _range(t):
    return float(t.reshape(-1)[0])


def _max_abs(lo, hi):
    return max(abs(lo), abs(hi))


def _scalar(value, like):
    return torch.tensor([value], dtype=torch.float32, device=like.device)


def quantize_values(x, real_range, dtype, half_step=True):
    """int8 or uint8 values of `x` for a range whose largest magnitude is `real_range`: scaled
    by 127.5 (255.5) as MKL-DNN's quantize_v2 does, or by 127 (255) as quantize and
    requantize do, then rounded and saturated."""
    if dtype == torch.uint8:
        top = _UINT8_RANGE if half_step else 255.0
        q = torch.round(x.to(torch.float32) * (top / real_range)).clamp(0, 255)
    else:
        top = _INT8_RANGE if half_step else 127.0
        q = torch.round(x.to(torch.float32) * (top / real_range)).clamp(-128, 127)
    return q.to(dtype)


def dequantize_values(q, lo, hi):
    scale = _UINT8_RANGE if q.dtype == torch.uint8 else _INT8_RANGE
    return q.to(torch.float32) * (_max_abs(lo, hi) / scale)


def _quantize(p, x, aux, train):
    data = x[0]
    lo, hi = _range(x[1]), _range(x[2])
    dtype = torch.uint8 if p["out_type"] == "uint8" else torch.int8
    real = _max_abs(lo, hi)
    q = quantize_values(data.detach(), real, dtype, half_step=False)
    if dtype == torch.int8:
        lo, hi = -real, real
    return [q, _scalar(lo, data), _scalar(hi, data)]


def _qtype(name):
    return lambda p, t: (t, [p.get(name) or "int8", "float32", "float32"])


_RANGE_OUTPUTS = lambda p: ["output", "min_output", "max_output"]  # noqa: E731


def _with_ranges(p, s):
    return s, [s[0], (1,), (1,)]


register(OpDef(
    name="_contrib_quantize", params={"out_type": Param("str", "uint8", ("int8", "uint8"))},
    arguments=lambda p: ["data", "min_range", "max_range"], outputs=_RANGE_OUTPUTS,
    infer_shape=lambda p, s: ([s[0], (1,), (1,)], [s[0], (1,), (1,)]),
    infer_type=lambda p, t: (t, [p["out_type"], "float32", "float32"]), forward=_quantize,
))


def _v2_type(p, data_min):
    """'auto' is uint8 only for a calibrated non-negative range (int8 otherwise)."""
    if p["out_type"] == "auto":
        calibrated = p["min_calib_range"] is not None
        return "uint8" if calibrated and p["min_calib_range"] >= 0 else "int8"
    return p["out_type"]


def _quantize_v2(p, x, aux, train):
    data = x[0].detach()
    if data.dtype in (torch.int8, torch.uint8):
        lo = p["min_calib_range"] if p["min_calib_range"] is not None else float(data.min())
        hi = p["max_calib_range"] if p["max_calib_range"] is not None else float(data.max())
        return [data, _scalar(lo, data), _scalar(hi, data)]
    if p["min_calib_range"] is not None and p["max_calib_range"] is not None:
        lo, hi = p["min_calib_range"], p["max_calib_range"]
    else:
        lo, hi = float(data.min()), float(data.max())
    real = _max_abs(lo, hi)
    if _v2_type(p, lo) == "uint8":
        return [quantize_values(data, real, torch.uint8), _scalar(0.0, data),
                _scalar(real, data)]
    return [quantize_values(data, real, torch.int8), _scalar(-real, data), _scalar(real, data)]


register(OpDef(
    name="_contrib_quantize_v2",
    params={"out_type": Param("str", "int8", ("auto", "int8", "uint8")),
            "min_calib_range": Param("float_or_none", None),
            "max_calib_range": Param("float_or_none", None)},
    outputs=_RANGE_OUTPUTS, infer_shape=_with_ranges,
    infer_type=lambda p, t: (t, [_v2_type(p, None), "float32", "float32"]),
    forward=_quantize_v2,
))
register(OpDef(
    name="_contrib_dequantize", params={"out_type": Param("str", "float32", ("float32",))},
    arguments=lambda p: ["data", "min_range", "max_range"],
    infer_shape=lambda p, s: ([s[0], (1,), (1,)], [s[0]]),
    infer_type=lambda p, t: (t, ["float32"]),
    forward=lambda p, x, aux, train: [dequantize_values(x[0].detach(), _range(x[1]),
                                                        _range(x[2]))],
))


def _requantize(p, x, aux, train):
    data = x[0].detach()
    real = data.to(torch.float64) * (_max_abs(_range(x[1]), _range(x[2])) / _INT32_RANGE)
    if p["min_calib_range"] is not None and p["max_calib_range"] is not None:
        lo, hi = p["min_calib_range"], p["max_calib_range"]
    else:
        lo, hi = float(real.min()), float(real.max())
    out_range = _max_abs(lo, hi)
    return [quantize_values(real.to(torch.float32), out_range, torch.int8, half_step=False),
            _scalar(-out_range, data), _scalar(out_range, data)]


register(OpDef(
    name="_contrib_requantize",
    params={"out_type": Param("str", "int8", ("auto", "int8", "uint8")),
            "min_calib_range": Param("float_or_none", None),
            "max_calib_range": Param("float_or_none", None)},
    arguments=lambda p: ["data", "min_range", "max_range"], outputs=_RANGE_OUTPUTS,
    infer_shape=lambda p, s: ([s[0], (1,), (1,)], [s[0], (1,), (1,)]),
    infer_type=lambda p, t: (t, ["int8", "float32", "float32"]), forward=_requantize,
))

_QIN = ["data", "min_data", "max_data"]
register(OpDef(
    name="_contrib_quantized_flatten", params={}, arguments=lambda p: list(_QIN),
    outputs=_RANGE_OUTPUTS,
    infer_shape=lambda p, s: (s, [None if s[0] is None else (s[0][0], int(torch.tensor(
        s[0][1:]).prod())), (1,), (1,)]),
    infer_type=lambda p, t: (t, [t[0], "float32", "float32"]),
    forward=lambda p, x, aux, train: [x[0].reshape(x[0].shape[0], -1), x[1].clone(),
                                      x[2].clone()],
))


def _quantized_act(p, x, aux, train):
    if p["act_type"] != "relu":
        from ..base import MXNetError
        raise MXNetError(f"quantized_act: act_type {p['act_type']!r}; MXNet 1.9.1 quantizes "
                         f"relu only")
    return [x[0].clamp(min=0), x[1].clone(), x[2].clone()]


register(OpDef(
    name="_contrib_quantized_act",
    params={"act_type": Param("str", choices=("relu", "sigmoid", "softrelu", "softsign",
                                              "tanh"))},
    arguments=lambda p: list(_QIN), outputs=_RANGE_OUTPUTS,
    infer_shape=lambda p, s: (s, [s[0], (1,), (1,)]),
    infer_type=lambda p, t: (t, [t[0], "float32", "float32"]), forward=_quantized_act,
))


def _quantized_pooling(p, x, aux, train):
    if p["pool_type"] != "max":
        from ..base import MXNetError
        raise MXNetError("quantized_pooling: bucketmod quantizes max pooling only")
    out = _pool_nchw(p, x[0].to(torch.float32)).to(x[0].dtype)
    return [out, x[1].clone(), x[2].clone()]


def _quantized_pooling_infer(p, s):
    _, (out,) = _pool_infer(p, [s[0]])
    return s, [out, (1,), (1,)]


register(OpDef(
    name="_contrib_quantized_pooling", params=POOLING_PARAMS,
    arguments=lambda p: list(_QIN), outputs=_RANGE_OUTPUTS,
    infer_shape=_quantized_pooling_infer,
    infer_type=lambda p, t: (t, [t[0], "float32", "float32"]), forward=_quantized_pooling,
))


def _quantized_concat(p, x, aux, train):
    """Output range [min(0, mins), max(0, maxs)]; inputs whose scale differs are rescaled to
    it (rounded, saturated), as MXNet's MKL-DNN concat does."""
    n = p["num_args"]
    data, ranges = x[:n], [(_range(x[n + 2 * i]), _range(x[n + 2 * i + 1])) for i in range(n)]
    out_min = min([0.0] + [lo for lo, _ in ranges])
    out_max = max([0.0] + [hi for _, hi in ranges])
    out_dtype = data[0].dtype

    def scale(t, lo, hi):
        top = _INT8_RANGE if t.dtype == torch.int8 else _UINT8_RANGE
        return top / _max_abs(lo, hi)

    out_scale = scale(data[0], out_min, out_max)
    parts = []
    for t, (lo, hi) in zip(data, ranges):
        factor = out_scale / scale(t, lo, hi)
        if factor == 1.0:
            parts.append(t)
        else:
            q = torch.round(t.to(torch.float32) * factor)
            info = torch.iinfo(out_dtype)
            parts.append(q.clamp(info.min, info.max).to(out_dtype))
    out = torch.cat(parts, dim=p["dim"])
    return [out, _scalar(out_min, out), _scalar(out_max, out)]


def _quantized_concat_args(p):
    n = p["num_args"]
    return variadic_args(p) + [f"arg{i}_{end}" for i in range(n) for end in ("min", "max")]


def _quantized_concat_infer(p, s):
    from .shape import _concat_infer
    n = p["num_args"]
    _, (out,) = _concat_infer(p, s[:n])
    return s, [out, (1,), (1,)]


register(OpDef(
    name="_contrib_quantized_concat", variadic="num_args", key_var_num_args="num_args",
    params={"num_args": Param("int", lower=1), "dim": Param("int", 1)},
    arguments=_quantized_concat_args, outputs=_RANGE_OUTPUTS,
    infer_shape=_quantized_concat_infer,
    infer_type=lambda p, t: (t, [t[0], "float32", "float32"]), forward=_quantized_concat,
))


def _quantized_embedding(p, x, aux, train):
    idx = x[0].detach().to(torch.int64).clamp(0, p["input_dim"] - 1)
    return [F.embedding(idx, x[1]), x[2].clone(), x[3].clone()]


register(OpDef(
    name="_contrib_quantized_embedding",
    params={"input_dim": Param("int", lower=1), "output_dim": Param("int", lower=1),
            "dtype": Param("dtype", "float32"), "sparse_grad": Param("bool", False)},
    arguments=lambda p: ["data", "weight", "min_weight", "max_weight"], outputs=_RANGE_OUTPUTS,
    infer_shape=lambda p, s: (s, [None if s[0] is None else tuple(s[0]) + (p["output_dim"],),
                                  (1,), (1,)]),
    infer_type=lambda p, t: (t, [t[1] or "int8", "float32", "float32"]),
    forward=_quantized_embedding,
))


def _level(t_dtype, lo, hi, all_sign):
    """Float value of one quantized step (FloatForOneQuantizedLevel)."""
    top = {torch.int8: 127.0, torch.uint8: 127.0 if all_sign else 255.0}[t_dtype]
    return _max_abs(lo, hi) / top


def _int_matmul_inputs(p, x, all_sign=None):
    """(data, weight, int32 bias or None, output range) of a quantized FC/conv. The output
    range counts uint8 data steps as 1/255 of the range for FC and as 1/127 for conv
    (`all_sign`), as MXNet's kernels do."""
    n = 2 if p["no_bias"] else 3
    data, weight = x[0], x[1]
    ranges = [_range(t) for t in x[n:]]
    d_lo, d_hi, w_lo, w_hi = ranges[:4]
    d_scale = (_INT8_RANGE if data.dtype == torch.int8 else _UINT8_RANGE) / _max_abs(d_lo, d_hi)
    w_scale = _INT8_RANGE / _max_abs(w_lo, w_hi)
    bias = None
    if not p["no_bias"]:
        rescale = d_scale * w_scale * _max_abs(ranges[4], ranges[5]) / _INT8_RANGE
        bias = (x[2].to(torch.float64) * rescale).trunc().to(torch.int64)
    all_sign = data.dtype == torch.int8 if all_sign is None else all_sign
    out_max = _level(data.dtype, d_lo, d_hi, all_sign) * _level(
        torch.int8, w_lo, w_hi, all_sign) * _INT32_RANGE
    return data.to(torch.int64), weight.to(torch.int64), bias, out_max


def _int_result(out, out_max, like):
    return [out.to(torch.int32), _scalar(-out_max, like), _scalar(out_max, like)]


def _quantized_fc(p, x, aux, train):
    data, weight, bias, out_max = _int_matmul_inputs(p, x)
    if p["flatten"]:
        data = data.reshape(data.shape[0], -1)
    out = data @ weight.t()
    if bias is not None:
        out = out + bias
    return _int_result(out, out_max, x[0])


def _quantized_arguments(core):
    def arguments(p):
        names = list(core) + ([] if p["no_bias"] else ["bias"])
        ranges = ["min_data", "max_data", "min_weight", "max_weight"]
        return names + ranges + ([] if p["no_bias"] else ["min_bias", "max_bias"])
    return arguments


def _quantized_fc_infer(p, s):
    d = s[0]
    if d is None:
        return s, [None, (1,), (1,)]
    rows = (d[0],) if p["flatten"] else tuple(d[:-1])
    return s, [rows + (p["num_hidden"],), (1,), (1,)]


_QUANTIZED_INPUTS = ("data", "weight", "bias", "min_data", "max_data", "min_weight",
                     "max_weight", "min_bias", "max_bias")
register(OpDef(
    name="_contrib_quantized_fully_connected",
    params={"num_hidden": Param("int", lower=1), "no_bias": Param("bool", False),
            "flatten": Param("bool", True)},
    inputs=_QUANTIZED_INPUTS, arguments=_quantized_arguments(["data", "weight"]),
    outputs=_RANGE_OUTPUTS, infer_shape=_quantized_fc_infer,
    infer_type=lambda p, t: (t, ["int32", "float32", "float32"]), forward=_quantized_fc,
))


def _quantized_conv(p, x, aux, train):
    from .nn import _conv_geometry
    data, weight, _, out_max = _int_matmul_inputs(p, x, all_sign=True)
    n, stride, dilate, pad = _conv_geometry(p)
    conv = (F.conv1d, F.conv2d, F.conv3d)[n - 1]
    # float64 holds every int8 x int8 sum of these sizes exactly
    out = conv(data.to(torch.float64), weight.to(torch.float64), None, stride, pad, dilate,
               p["num_group"]).round().to(torch.int64)
    if not p["no_bias"]:
        # MXNet 1.9.1's CPU kernel adds the int8 bias as stored, without the rescaling its
        # fully-connected kernel applies
        out = out + x[2].to(torch.int64).reshape((1, -1) + (1,) * n)
    return _int_result(out, out_max, x[0])


def _quantized_conv_infer(p, s):
    from .nn import _conv_infer
    core = list(s[:2]) + ([None] if p["no_bias"] else [s[2]])
    _, (out,) = _conv_infer(p, core)
    return s, [out, (1,), (1,)]


register(OpDef(
    name="_contrib_quantized_conv",
    params={"kernel": Param("shape"), "stride": Param("shape", ()),
            "dilate": Param("shape", ()), "pad": Param("shape", ()),
            "num_filter": Param("int", lower=1), "num_group": Param("int", 1),
            "workspace": Param("int", 1024), "no_bias": Param("bool", False),
            "cudnn_tune": Param("str", None), "cudnn_off": Param("bool", False),
            "layout": Param("str", None)},
    inputs=_QUANTIZED_INPUTS, arguments=_quantized_arguments(["data", "weight"]),
    outputs=_RANGE_OUTPUTS, infer_shape=_quantized_conv_infer,
    infer_type=lambda p, t: (t, ["int32", "float32", "float32"]), forward=_quantized_conv,
))


def _quantized_add(p, x, aux, train):
    """int8 + int8 -> int32 over the range ±(|a| + |b|), or int8 over the calibrated range,
    each input scaled as MXNet's CPU kernel scales it (rounded, saturated)."""
    a, b = x[0], x[1]
    a_abs = _max_abs(_range(x[2]), _range(x[3]))
    b_abs = _max_abs(_range(x[4]), _range(x[5]))
    a_top = _INT8_RANGE if a.dtype == torch.int8 else _UINT8_RANGE
    b_top = _INT8_RANGE if b.dtype == torch.int8 else _UINT8_RANGE
    calibrated = p["min_calib_range"] is not None and p["max_calib_range"] is not None
    if calibrated:
        lo, hi = p["min_calib_range"], p["max_calib_range"]
        out_scale = _INT8_RANGE / _max_abs(lo, hi)
        scales = (out_scale / (a_top / a_abs), out_scale / (b_top / b_abs))
        dtype, limits = torch.int8, (-128, 127)
    else:
        hi = a_abs + b_abs
        lo = -hi
        scales = (a_abs * _INT32_RANGE / (hi * a_top), b_abs * _INT32_RANGE / (hi * a_top))
        dtype, limits = torch.int32, (-_INT32_RANGE - 1, _INT32_RANGE)
    out = torch.round(a.to(torch.float64) * scales[0] + b.to(torch.float64) * scales[1])
    return [out.clamp(*limits).to(dtype), _scalar(lo, a), _scalar(hi, a)]


def _calibrated_type(p):
    calibrated = p["min_calib_range"] is not None and p["max_calib_range"] is not None
    return "int8" if calibrated else "int32"


register(OpDef(
    name="_contrib_quantized_elemwise_add",
    params={"min_calib_range": Param("float_or_none", None),
            "max_calib_range": Param("float_or_none", None)},
    arguments=lambda p: ["lhs", "rhs", "lhs_min", "lhs_max", "rhs_min", "rhs_max"],
    outputs=_RANGE_OUTPUTS, infer_shape=lambda p, s: (s, [s[0], (1,), (1,)]),
    infer_type=lambda p, t: (t, [_calibrated_type(p), "float32", "float32"]),
    forward=_quantized_add,
))


def _smooth(p, eps=0.0001):
    zeros = p == 0
    n_zeros, n_nonzeros = int(zeros.sum()), int((~zeros).sum())
    if not n_nonzeros:
        return None
    eps1 = np.float32(eps * n_zeros / n_nonzeros)
    if eps1 >= 1.0:
        return None
    return (p + np.float32(eps) * zeros - eps1 * (~zeros)).astype(np.float32)


def _kl(p, q):
    p = p / p.sum(dtype=np.float32)
    q = q / q.sum(dtype=np.float32)
    return np.float32(np.sum(p * np.log(p / q), dtype=np.float32))


def _calibrate_entropy(p, x, aux, train):
    """The clipping threshold of a histogram that minimises the KL divergence between the
    clipped distribution and its quantization into num_quantized_bins (MXNet's entropy
    calibration, including its integer truncation of the histogram counts)."""
    hist = x[0].detach().cpu().numpy().astype(np.float32)
    edges = x[1].detach().cpu().numpy().astype(np.float32)
    bins, nq = len(hist), p["num_quantized_bins"]
    zero = bins // 2
    best = (np.finfo(np.float32).max, 0.0)
    for i in range(nq // 2, zero + 1):
        start, stop = zero - i, zero + i + 1
        sliced = np.zeros(stop - start, dtype=np.int64)
        sliced[1:] = hist[start + 1:stop].astype(np.int64)
        prob = np.zeros(stop - start, dtype=np.float32)
        prob[1:] = hist[start + 1:stop]
        prob[0] = hist[:start + 1].sum(dtype=np.float32)
        prob[-1] += hist[stop:].sum(dtype=np.float32)
        merged = len(sliced) // nq
        quantized = np.array([sliced[j * merged:(j + 1) * merged].sum() for j in range(nq)],
                             dtype=np.float32)
        quantized[-1] += sliced[nq * merged:].sum()
        q = np.zeros(len(sliced), dtype=np.float32)
        for j in range(nq):
            lo, hi = j * merged, (len(q) if j == nq - 1 else (j + 1) * merged)
            norm = int(np.count_nonzero(sliced[lo:hi]))
            if norm:
                keep = prob[lo:hi] != 0
                q[lo:hi][keep] = quantized[j] / norm
        ps, qs = _smooth(prob), _smooth(q)
        divergence = np.float32(np.inf) if qs is None or ps is None else _kl(ps, qs)
        if divergence < best[0]:
            best = (divergence, edges[stop])
    device = x[0].device
    return [torch.tensor([best[1]], dtype=torch.float32, device=device),
            torch.tensor([best[0]], dtype=torch.float32, device=device)]


register(OpDef(
    name="_contrib_calibrate_entropy", params={"num_quantized_bins": Param("int", 255)},
    arguments=lambda p: ["hist", "hist_edges"], outputs=lambda p: ["threshold", "divergence"],
    infer_shape=lambda p, s: (s, [(1,), (1,)]),
    infer_type=lambda p, t: (t, ["float32", "float32"]), forward=_calibrate_entropy,
))


def _quantized_batch_norm(p, x, aux, train):
    """Inference batch norm on int8 data into the calibrated int8 range, as MXNet's CPU
    kernel computes it: per channel `round(q * w + b)` with w = gamma / std * |in| / |out| and
    b = (beta - mean * gamma / std) * 127.5 / |out|, after a unit-variance pass that divides
    by sqrt(1 + eps) once more (gamma is used as given)."""
    if p["min_calib_range"] is None or p["max_calib_range"] is None:
        from ..base import MXNetError
        raise MXNetError("quantized_batch_norm: min_calib_range and max_calib_range are "
                         "required (MXNet supports no uncalibrated quantized BN)")
    data, gamma, beta = x[0], x[1], x[2]
    mean, var = x[3], x[4]
    in_abs = _max_abs(_range(x[5]), _range(x[6]))
    out_abs = _max_abs(p["min_calib_range"], p["max_calib_range"])
    q = data.to(torch.float32)
    if data.dtype == torch.uint8:
        q = torch.round(q * (_INT8_RANGE / _UINT8_RANGE)).clamp(-128, 127)
    invstd = 1.0 / torch.sqrt(var.to(torch.float32) + p["eps"])
    weight = gamma * invstd * in_abs / out_abs
    bias = (beta - mean * gamma * invstd) * _INT8_RANGE / out_abs
    axis = p["axis"] % data.dim()
    view = [1] * data.dim()
    view[axis] = -1
    out = q / torch.sqrt(torch.tensor(1.0 + p["eps"])) * weight.reshape(view) + bias.reshape(
        view)
    out = torch.round(out).clamp(-128, 127).to(torch.int8)
    return [out, _scalar(p["min_calib_range"], data), _scalar(p["max_calib_range"], data)]


register(OpDef(
    name="_contrib_quantized_batch_norm",
    params={"eps": Param("float", 1e-3), "momentum": Param("float", 0.9),
            "fix_gamma": Param("bool", True), "use_global_stats": Param("bool", False),
            "output_mean_var": Param("bool", False), "axis": Param("int", 1),
            "cudnn_off": Param("bool", False), "min_calib_range": Param("float_or_none", None),
            "max_calib_range": Param("float_or_none", None)},
    arguments=lambda p: ["data", "gamma", "beta", "moving_mean", "moving_var", "min_data",
                         "max_data"],
    outputs=_RANGE_OUTPUTS, infer_shape=lambda p, s: (s, [s[0], (1,), (1,)]),
    infer_type=lambda p, t: (t, ["int8", "float32", "float32"]),
    forward=_quantized_batch_norm,
))


def _quantized_mul(p, x, aux, train):
    """int8 * int8: the int32 product over the range (|a|/127)(|b|/127)(2^31 - 1); with
    enable_float_output the float product (steps of |a|/127.5 and |b|/127.5); with a
    calibrated range, that float product quantized to int8 (truncated, as MXNet casts it)."""
    a, b = x[0].to(torch.int64), x[1].to(torch.int64)
    a_abs = _max_abs(_range(x[2]), _range(x[3]))
    b_abs = _max_abs(_range(x[4]), _range(x[5]))
    product = a * b
    real = product.to(torch.float64) * (a_abs / _INT8_RANGE) * (b_abs / _INT8_RANGE)
    if p["enable_float_output"]:
        return [real.to(torch.float32)]
    if p["min_calib_range"] is not None and p["max_calib_range"] is not None:
        lo, hi = p["min_calib_range"], p["max_calib_range"]
        q = torch.trunc(real * (_INT8_RANGE / _max_abs(lo, hi))).clamp(-128, 127)
        return [q.to(torch.int8), _scalar(lo, x[0]), _scalar(hi, x[0])]
    out_max = (a_abs / 127.0) * (b_abs / 127.0) * _INT32_RANGE
    return [product.to(torch.int32), _scalar(-out_max, x[0]), _scalar(out_max, x[0])]


def _mul_type(p):
    if p["enable_float_output"]:
        return ["float32"]
    return [_calibrated_type(p), "float32", "float32"]


register(OpDef(
    name="_contrib_quantized_elemwise_mul",
    params={"min_calib_range": Param("float_or_none", None),
            "max_calib_range": Param("float_or_none", None),
            "enable_float_output": Param("bool", False)},
    arguments=lambda p: ["lhs", "rhs", "lhs_min", "lhs_max", "rhs_min", "rhs_max"],
    outputs=lambda p: ["output"] if p["enable_float_output"] else _RANGE_OUTPUTS(p),
    infer_shape=lambda p, s: (s, [s[0]] if p["enable_float_output"] else [s[0], (1,), (1,)]),
    infer_type=lambda p, t: (t, _mul_type(p)), forward=_quantized_mul,
))
