"""Indexing operators: take/pick/gather/scatter by index arrays, one_hot, sorting and top-k,
multi-index raveling, and contrib's boolean_mask/index_copy/index_array. Index arrays may be
floats (MXNet's default dtype); they are truncated to integers, and out-of-range indices are
clipped or wrapped as each operator's `mode` says."""
import numpy as np
import torch

from .common import norm_axis, torch_dtype
from .params import Param
from .registry import OpDef, register
from .shape_ops import ShapeMismatch, size


def _index(t, n, mode):
    idx = t.detach().to(torch.int64)
    if mode == "wrap":
        return torch.remainder(idx, n)
    return idx.clamp(0, n - 1)


def _take_infer(p, s):
    a, idx = s
    if a is None or idx is None:
        return s, [None]
    axis = norm_axis(p["axis"], len(a))
    return s, [tuple(a[:axis]) + tuple(idx) + tuple(a[axis + 1:])]


def _take_forward(p, x, aux, train):
    a, indices = x
    axis = norm_axis(p["axis"], a.dim())
    idx = _index(indices, a.shape[axis], p["mode"])
    out = a.index_select(axis, idx.reshape(-1))
    return [out.reshape(a.shape[:axis] + indices.shape + a.shape[axis + 1:])]


register(OpDef(
    name="take", params={"axis": Param("int", 0),
                         "mode": Param("str", "clip", ("clip", "raise", "wrap"))},
    arguments=lambda p: ["a", "indices"], infer_shape=_take_infer, forward=_take_forward,
))


def _batch_take_forward(p, x, aux, train):
    a, indices = x
    rows = a.reshape(indices.numel(), -1)
    idx = _index(indices, rows.shape[1], "clip").reshape(-1, 1)
    return [rows.gather(1, idx).reshape(indices.shape)]


register(OpDef(name="batch_take", params={}, arguments=lambda p: ["a", "indices"],
               infer_shape=lambda p, s: (s, [s[1]]), forward=_batch_take_forward))


def _pick_shape(p, d):
    if p["axis"] is None:
        return (1,) * len(d) if p["keepdims"] else (1,)
    axis = norm_axis(p["axis"], len(d))
    return tuple(1 if i == axis else n for i, n in enumerate(d)) if p["keepdims"] else \
        tuple(n for i, n in enumerate(d) if i != axis) or (1,)


def _pick_forward(p, x, aux, train):
    data, index = x
    if p["axis"] is None:
        flat = data.reshape(-1)
        idx = _index(index, flat.numel(), p["mode"]).reshape(-1)[:1]
        return [flat.gather(0, idx).reshape(_pick_shape(p, data.shape))]
    axis = norm_axis(p["axis"], data.dim())
    idx = _index(index, data.shape[axis], p["mode"])
    idx = idx.reshape(tuple(1 if i == axis else n for i, n in enumerate(data.shape)))
    return [data.gather(axis, idx).reshape(_pick_shape(p, data.shape))]


_PICK_PARAMS = {"axis": Param("int_or_none", -1), "keepdims": Param("bool", False),
                "mode": Param("str", "clip", ("clip", "wrap"))}
for _name in ("pick", "choose_element_0index"):
    register(OpDef(
        name=_name, params=_PICK_PARAMS, arguments=lambda p: ["data", "index"],
        infer_shape=lambda p, s: (s, [None if s[0] is None else _pick_shape(p, s[0])]),
        forward=_pick_forward,
    ))


def _fill_element_forward(p, x, aux, train):
    lhs, mhs, rhs = x
    idx = _index(rhs, lhs.shape[1], "clip").reshape(-1, 1)
    return [lhs.scatter(1, idx, mhs.reshape(-1, 1).to(lhs.dtype))]


register(OpDef(name="fill_element_0index", params={},
               arguments=lambda p: ["lhs", "mhs", "rhs"],
               infer_shape=lambda p, s: (s, [s[0]]), forward=_fill_element_forward))


def _nd_index(indices, shape):
    m = indices.shape[0]
    if m > len(shape):
        raise ShapeMismatch("indices", f"first axis at most {len(shape)}", tuple(indices.shape))
    idx = indices.detach().to(torch.int64)
    return tuple(torch.remainder(idx[i], shape[i]) for i in range(m))


def _gather_nd_infer(p, s):
    d, idx = s
    if d is None or idx is None:
        return s, [None]
    return s, [tuple(idx[1:]) + tuple(d[idx[0]:])]


register(OpDef(
    name="gather_nd", params={}, arguments=lambda p: ["data", "indices"],
    infer_shape=_gather_nd_infer,
    forward=lambda p, x, aux, train: [x[0][_nd_index(x[1], x[0].shape)]],
))


def _scatter_nd_forward(p, x, aux, train):
    data, indices = x
    out = torch.zeros(p["shape"], dtype=data.dtype, device=data.device)
    return [out.index_put(_nd_index(indices, p["shape"]), data)]


register(OpDef(
    name="scatter_nd", params={"shape": Param("shape")}, arguments=lambda p: ["data", "indices"],
    infer_shape=lambda p, s: (s, [p["shape"]]), forward=_scatter_nd_forward,
))
register(OpDef(
    name="_scatter_set_nd", params={"shape": Param("shape")},
    arguments=lambda p: ["lhs", "rhs", "indices"],
    infer_shape=lambda p, s: (s, [s[0]]),
    forward=lambda p, x, aux, train: [x[0].index_put(_nd_index(x[2], x[0].shape), x[1])],
))


def _one_hot_forward(p, x, aux, train):
    idx = x[0].detach().to(torch.int64)
    valid = (idx >= 0) & (idx < p["depth"])
    hot = torch.nn.functional.one_hot(idx.clamp(0, max(p["depth"] - 1, 0)), p["depth"])
    hot = hot.bool() & valid[..., None]
    dt = torch_dtype(p["dtype"])
    on = torch.full((), p["on_value"], dtype=torch.float64)
    off = torch.full((), p["off_value"], dtype=torch.float64)
    return [torch.where(hot, on, off).to(dt).to(x[0].device)]


register(OpDef(
    name="one_hot",
    params={"depth": Param("int"), "on_value": Param("float", 1.0),
            "off_value": Param("float", 0.0), "dtype": Param("dtype", "float32")},
    arguments=lambda p: ["indices"],
    infer_shape=lambda p, s: (s, [None if s[0] is None else tuple(s[0]) + (p["depth"],)]),
    infer_type=lambda p, t: (t, [p["dtype"]]),
    forward=_one_hot_forward,
))


def _sort_axis(p, data):
    if p["axis"] is None:
        return data.reshape(-1), 0
    return data, norm_axis(p["axis"], data.dim())


def _topk_k(p, n):
    return n if p["k"] < 1 else min(p["k"], n)


def _topk_outputs(p):
    """MXNet names a top-k's values output0 (its indices are a hidden second output)."""
    return {"both": ["output0", "output1"], "value": ["output0"]}.get(p["ret_typ"], ["output"])


def _topk_infer(p, s):
    d = s[0]
    if d is None:
        return s, [None] * len(_topk_outputs(p))
    if p["ret_typ"] == "mask":
        return s, [d]
    if p["axis"] is None:
        shape = (_topk_k(p, size(d)),)
    else:
        axis = norm_axis(p["axis"], len(d))
        shape = tuple(_topk_k(p, n) if i == axis else n for i, n in enumerate(d))
    return s, [shape] * len(_topk_outputs(p))


def _topk_type(p, t):
    idx = p["dtype"]
    return t, {"value": [t[0]], "indices": [idx], "mask": [t[0]], "both": [t[0], idx]}[
        p["ret_typ"]]


def _topk_forward(p, x, aux, train):
    data, axis = _sort_axis(p, x[0])
    k = _topk_k(p, data.shape[axis])
    order = torch.sort(data.detach(), dim=axis, descending=not p["is_ascend"], stable=True)[1]
    idx = order.narrow(axis, 0, k)
    if p["ret_typ"] == "mask":
        mask = torch.zeros_like(data).scatter(axis, idx, 1.0)
        return [mask.reshape(x[0].shape)]
    values = data.gather(axis, idx)
    indices = idx.to(torch_dtype(p["dtype"]))
    return {"value": [values], "indices": [indices], "both": [values, indices]}[p["ret_typ"]]


_SORT_DTYPES = ("float16", "float32", "float64", "int32", "int64", "uint8")
register(OpDef(
    name="topk",
    params={"axis": Param("int_or_none", -1), "k": Param("int", 1),
            "ret_typ": Param("str", "indices", ("both", "indices", "mask", "value")),
            "is_ascend": Param("bool", False),
            "dtype": Param("dtype", "float32", _SORT_DTYPES)},
    outputs=_topk_outputs, infer_shape=_topk_infer, infer_type=_topk_type,
    forward=_topk_forward,
))


def _sort_infer(p, s):
    d = s[0]
    return s, [None if d is None else (d if p["axis"] is not None else (size(d),))]


def _sort_forward(p, x, aux, train):
    data, axis = _sort_axis(p, x[0])
    order = torch.sort(data.detach(), dim=axis, descending=not p["is_ascend"], stable=True)[1]
    return [data.gather(axis, order)]


def _argsort_forward(p, x, aux, train):
    data, axis = _sort_axis(p, x[0])
    order = torch.sort(data.detach(), dim=axis, descending=not p["is_ascend"], stable=True)[1]
    return [order.to(torch_dtype(p["dtype"]))]


register(OpDef(name="sort", params={"axis": Param("int_or_none", -1),
                                    "is_ascend": Param("bool", True)},
               outputs=lambda p: ["output0"], infer_shape=_sort_infer, forward=_sort_forward))
register(OpDef(
    name="argsort",
    params={"axis": Param("int_or_none", -1), "is_ascend": Param("bool", True),
            "dtype": Param("dtype", "float32", _SORT_DTYPES)},
    infer_shape=_sort_infer, infer_type=lambda p, t: (t, [p["dtype"]]),
    forward=_argsort_forward,
))


def _strides(shape):
    out, acc = [], 1
    for n in reversed(shape):
        out.append(acc)
        acc *= n
    return list(reversed(out))


def _ravel_forward(p, x, aux, train):
    data = x[0].detach()
    strides = torch.as_tensor(_strides(p["shape"]), dtype=torch.float64, device=data.device)
    flat = (data.to(torch.float64) * strides[:data.shape[0]].reshape(
        (-1,) + (1,) * (data.dim() - 1))).sum(0)
    return [flat.to(data.dtype)]


def _unravel_forward(p, x, aux, train):
    data = x[0].detach().to(torch.int64)
    out = []
    for stride, n in zip(_strides(p["shape"]), p["shape"]):
        out.append(torch.div(data, stride, rounding_mode="floor") % n)
    return [torch.stack(out).to(x[0].dtype)]


register(OpDef(
    name="_ravel_multi_index", aliases=("ravel_multi_index",),
    params={"shape": Param("shape_or_none", None)},
    infer_shape=lambda p, s: (s, [None if s[0] is None else tuple(s[0][1:])]),
    forward=_ravel_forward,
))
register(OpDef(
    name="_unravel_index", aliases=("unravel_index",),
    params={"shape": Param("shape_or_none", None)},
    infer_shape=lambda p, s: (s, [None if s[0] is None else (len(p["shape"]),) + tuple(s[0])]),
    forward=_unravel_forward,
))


def _boolean_mask_forward(p, x, aux, train):
    data, index = x
    axis = norm_axis(p["axis"], data.dim())
    keep = torch.nonzero(index.detach().reshape(-1) != 0).reshape(-1)
    return [data.index_select(axis, keep)]


register(OpDef(
    name="_contrib_boolean_mask", params={"axis": Param("int", 0)},
    arguments=lambda p: ["data", "index"],
    infer_shape=lambda p, s: (s, [None]), forward=_boolean_mask_forward,
    extra={"dynamic_shape": True},
))


def _index_copy_forward(p, x, aux, train):
    old, index, new = x
    idx = index.detach().to(torch.int64).reshape(-1)
    return [old.index_copy(0, idx, new)]


register(OpDef(
    name="_contrib_index_copy", params={},
    arguments=lambda p: ["old_tensor", "index_vector", "new_tensor"],
    infer_shape=lambda p, s: (s, [s[0]]), forward=_index_copy_forward,
))


def _index_array_forward(p, x, aux, train):
    data = x[0]
    axes = [norm_axis(a, data.dim()) for a in p["axes"]] if p["axes"] is not None else list(
        range(data.dim()))
    grids = torch.meshgrid(*[torch.arange(n, device=data.device) for n in data.shape],
                           indexing="ij")
    return [torch.stack([grids[a] for a in axes], dim=-1).to(torch.int64)]


register(OpDef(
    name="_contrib_index_array", params={"axes": Param("shape_or_none", None)},
    infer_shape=lambda p, s: (s, [None if s[0] is None else tuple(s[0]) + (
        len(p["axes"]) if p["axes"] is not None else len(s[0]),)]),
    infer_type=lambda p, t: (t, [np.int64]),
    forward=_index_array_forward,
))
