"""Reductions over axes (sum, mean, prod, max, min, their nan-skipping forms, norm, moments),
arg-reductions and cumsum, with MXNet's axis rules: None or () reduce every axis, `exclude`
reduces the others, and a full reduction without keepdims has shape (1,)."""
import torch

from .common import norm_axis, reduce_axes, reduced_shape, torch_dtype
from .params import Param
from .registry import OpDef, register
from .shape_ops import size

REDUCE_PARAMS = {"axis": Param("axis", None), "keepdims": Param("bool", False),
                 "exclude": Param("bool", False)}


def _reduce_infer(p, s):
    d = s[0]
    if d is None:
        return s, [None]
    return s, [reduced_shape(d, reduce_axes(p["axis"], len(d), p["exclude"]), p["keepdims"])]


def _extreme(fn):
    """max/min: the whole gradient goes to every element equal to the result, as in MXNet."""
    def reduce(x, dims):
        value = fn(x, dim=dims, keepdim=True)
        mask = x == value.detach()
        return value.detach() + torch.where(mask, x - x.detach(), torch.zeros_like(x)).sum(
            dim=dims, keepdim=True)
    return reduce


def _prod(x, dims):
    for d in dims:
        x = x.prod(dim=d, keepdim=True)
    return x


def _nan_to(x, value):
    return torch.where(torch.isnan(x), torch.full_like(x, value), x)


REDUCERS = {
    "sum": (lambda x, d: x.sum(dim=d, keepdim=True), ("sum_axis",)),
    "mean": (lambda x, d: x.mean(dim=d, keepdim=True), ()),
    "prod": (_prod, ()),
    "nansum": (lambda x, d: _nan_to(x, 0.0).sum(dim=d, keepdim=True), ()),
    "nanprod": (lambda x, d: _prod(_nan_to(x, 1.0), d), ()),
    "max": (_extreme(torch.amax), ("max_axis",)),
    "min": (_extreme(torch.amin), ("min_axis",)),
}


def reduce_forward(fn, p, data):
    axes = reduce_axes(p["axis"], data.dim(), p["exclude"])
    out = fn(data, axes) if axes else data
    return out.reshape(reduced_shape(data.shape, axes, p["keepdims"]))


for _name, (_fn, _aliases) in REDUCERS.items():
    register(OpDef(name=_name, params=REDUCE_PARAMS, aliases=_aliases, infer_shape=_reduce_infer,
                   forward=lambda p, x, aux, train, fn=_fn: [reduce_forward(fn, p, x[0])]))


def _norm_forward(p, x, aux, train):
    data = x[0]
    axes = reduce_axes(p["axis"], data.dim())
    if p["ord"] == 1:
        out = data.abs().sum(dim=axes, keepdim=True)
    else:
        out = data.square().sum(dim=axes, keepdim=True).sqrt()
    out = out.reshape(reduced_shape(data.shape, axes, p["keepdims"]))
    return [out if p["out_dtype"] is None else out.to(torch_dtype(p["out_dtype"]))]


register(OpDef(
    name="norm",
    params={"ord": Param("int", 2, (1, 2)), "axis": Param("axis", None),
            "out_dtype": Param("dtype", None), "keepdims": Param("bool", False)},
    infer_shape=lambda p, s: (s, [None if s[0] is None else reduced_shape(
        s[0], reduce_axes(p["axis"], len(s[0])), p["keepdims"])]),
    infer_type=lambda p, t: (t, [p["out_dtype"] or t[0]]),
    forward=_norm_forward,
))


def _arg_infer(p, s):
    d = s[0]
    if d is None:
        return s, [None]
    if p["axis"] is None:
        return s, [(1,) * len(d) if p["keepdims"] else (1,)]
    return s, [reduced_shape(d, (norm_axis(p["axis"], len(d)),), p["keepdims"])]


def _arg(fn):
    def forward(p, x, aux, train):
        data = x[0].detach()
        if p["axis"] is None:
            out = fn(data.reshape(-1)).reshape((1,) * data.dim() if p["keepdims"] else (1,))
        else:
            axis = norm_axis(p["axis"], data.dim())
            out = fn(data, dim=axis, keepdim=p["keepdims"])
        return [out.to(x[0].dtype)]
    return forward


_ARG_PARAMS = {"axis": Param("int_or_none", None), "keepdims": Param("bool", False)}
register(OpDef(name="argmax", params=_ARG_PARAMS, infer_shape=_arg_infer,
               forward=_arg(torch.argmax)))
register(OpDef(name="argmin", params=_ARG_PARAMS, infer_shape=_arg_infer,
               forward=_arg(torch.argmin)))
register(OpDef(
    name="argmax_channel", params={},
    infer_shape=lambda p, s: (s, [None if s[0] is None else tuple(s[0][:-1]) or (1,)]),
    forward=lambda p, x, aux, train: [
        torch.argmax(x[0].detach(), dim=-1).to(x[0].dtype).reshape(x[0].shape[:-1] or (1,))],
))


def _moments_forward(p, x, aux, train):
    data = x[0]
    axes = reduce_axes(p["axes"], data.dim())
    mean = data.mean(dim=axes, keepdim=True)
    var = (data - mean).square().mean(dim=axes, keepdim=True)
    shape = reduced_shape(data.shape, axes, p["keepdims"])
    return [mean.reshape(shape), var.reshape(shape)]


register(OpDef(
    name="moments", params={"axes": Param("axis", None), "keepdims": Param("bool", False)},
    outputs=lambda p: ["output0", "output1"],
    infer_shape=lambda p, s: (s, [None if s[0] is None else reduced_shape(
        s[0], reduce_axes(p["axes"], len(s[0])), p["keepdims"])] * 2),
    forward=_moments_forward,
))


def _cumsum_forward(p, x, aux, train):
    data = x[0]
    if p["axis"] is None:
        data, axis = data.reshape(-1), 0
    else:
        axis = norm_axis(p["axis"], data.dim())
    out = torch.cumsum(data, dim=axis)
    return [out if p["dtype"] is None else out.to(torch_dtype(p["dtype"]))]


register(OpDef(
    name="cumsum", params={"axis": Param("int_or_none", None), "dtype": Param("dtype", None)},
    arguments=lambda p: ["a"],
    infer_shape=lambda p, s: (s, [None if s[0] is None else (
        s[0] if p["axis"] is not None else (size(s[0]),))]),
    infer_type=lambda p, t: (t, [p["dtype"] or t[0]]),
    forward=_cumsum_forward,
))
