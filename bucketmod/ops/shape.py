"""Layout operators: reshape and flatten, concatenation, stacking and splitting, axis moves,
tiling, padding, broadcasting to a shape, slicing, space/depth moves, im2col/col2im and the
constant sources (`_full`, `_arange`, `_eye`, `_linspace`)."""
import numpy as np
import torch
import torch.nn.functional as F

from ..context import current_context
from .common import broadcast_shape, norm_axis, same_shape, torch_dtype, variadic_args
from .params import Param
from .registry import OpDef, register
from .shape_ops import ShapeMismatch, infer_reshape, size


def _known(*shapes):
    return all(s is not None for s in shapes)


def _reshape_target(p):
    return p["shape"] if p["shape"] else p["target_shape"]


def _reshape_infer(p, s):
    if s[0] is None:
        return s, [None]
    try:
        return s, [infer_reshape(s[0], _reshape_target(p), p["reverse"])]
    except (ValueError, IndexError) as err:
        raise ShapeMismatch("data", f"a shape that Reshape {_reshape_target(p)} accepts "
                            f"({err})", s[0]) from None


def _reshape_bind(p, out_shapes, device):
    """The output shape, worked out once where the bound shapes give it."""
    shape = out_shapes[0]
    return dict(p, _bound_shape=tuple(shape)) if shape is not None and all(shape) else p


register(OpDef(
    name="Reshape", aliases=("reshape",),
    params={"shape": Param("shape", ()), "reverse": Param("bool", False),
            "target_shape": Param("shape", ()), "keep_highest": Param("bool", False)},
    infer_shape=_reshape_infer,
    bind_params=_reshape_bind,
    forward=lambda p, x, aux, train: [x[0].reshape(
        p.get("_bound_shape") or infer_reshape(x[0].shape, _reshape_target(p), p["reverse"]))],
))
register(OpDef(
    name="Flatten", aliases=("flatten",), params={},
    infer_shape=lambda p, s: (s, [None if s[0] is None else (s[0][0], size(s[0][1:]))]),
    forward=lambda p, x, aux, train: [x[0].reshape(x[0].shape[0], -1)],
))


def _concat_infer(p, s):
    known = [x for x in s if x is not None]
    if not known:
        return s, [None]
    ref = known[0]
    dim = norm_axis(p["dim"], len(ref), "dim")
    for i, x in enumerate(s):
        if x is not None and (len(x) != len(ref) or any(
                a != b and a and b for j, (a, b) in enumerate(zip(x, ref)) if j != dim)):
            raise ShapeMismatch(f"arg{i}", f"{ref} apart from axis {dim}", x)
    if len(known) < len(s) or any(x[dim] == 0 for x in known):
        return s, [None]
    out = list(ref)
    out[dim] = sum(x[dim] for x in s)
    return s, [tuple(out)]


register(OpDef(
    name="Concat", aliases=("concat",), variadic="num_args", key_var_num_args="num_args",
    params={"num_args": Param("int", lower=1), "dim": Param("int", 1)},
    arguments=variadic_args, infer_shape=_concat_infer,
    forward=lambda p, x, aux, train: [torch.cat(list(x), dim=p["dim"])],
))
register(OpDef(
    name="_rnn_param_concat", variadic="num_args", key_var_num_args="num_args",
    params={"num_args": Param("int", lower=1), "dim": Param("int", 1)},
    arguments=variadic_args, infer_shape=_concat_infer,
    forward=lambda p, x, aux, train: [torch.cat(list(x), dim=p["dim"])],
))


def _stack_infer(p, s):
    s, (shape,) = same_shape(p, s)
    if shape is None:
        return s, [None]
    out = list(shape)
    out.insert(p["axis"] % (len(shape) + 1), len(s))
    return s, [tuple(out)]


register(OpDef(
    name="stack", variadic="num_args", key_var_num_args="num_args",
    params={"axis": Param("int", 0), "num_args": Param("int", lower=1)},
    arguments=variadic_args, infer_shape=_stack_infer,
    forward=lambda p, x, aux, train: [torch.stack(list(x), dim=p["axis"])],
))


def _split_sizes(p, n):
    """(start, stop) of each part of an axis of size n: equal sections or explicit indices."""
    if "sections" in p and p["sections"] > 0:
        k = p["sections"]
        bounds = [i * (n // k) for i in range(k)] + [n]
    elif "indices" in p:
        bounds = list(p["indices"]) + [n]
    else:
        k = p["num_outputs"]
        bounds = [i * (n // k) for i in range(k)] + [n]
    return list(zip(bounds[:-1], bounds[1:]))


def _split_infer(p, s):
    d = s[0]
    n_out = len(_split_outputs(p))
    if d is None:
        return s, [None] * n_out
    axis = norm_axis(p["axis"], len(d))
    if ("sections" not in p or p["sections"] > 0) and "num_outputs" in p and d[axis] % n_out:
        raise ShapeMismatch("data", f"axis {axis} divisible by num_outputs={n_out}", d)
    outs = []
    for lo, hi in _split_sizes(p, d[axis]):
        part = list(d)
        part[axis] = hi - lo
        if p["squeeze_axis"]:
            if hi - lo != 1:
                raise ShapeMismatch("data", f"parts of size 1 along axis {axis} to squeeze", d)
            part.pop(axis)
        outs.append(tuple(part))
    return s, outs


def _split_forward(p, x, aux, train):
    data = x[0]
    axis = norm_axis(p["axis"], data.dim())
    parts = [data.narrow(axis, lo, hi - lo) for lo, hi in _split_sizes(p, data.shape[axis])]
    return [t.squeeze(axis) if p["squeeze_axis"] else t for t in parts]


def _split_outputs(p):
    if "num_outputs" in p:
        n = p["num_outputs"]
    else:
        n = p["sections"] if p["sections"] > 0 else len(p["indices"])
    return [f"output{i}" for i in range(n)]


register(OpDef(
    name="SliceChannel", aliases=("split",),
    params={"num_outputs": Param("int", lower=1), "axis": Param("int", 1),
            "squeeze_axis": Param("bool", False)},
    outputs=_split_outputs, infer_shape=_split_infer, forward=_split_forward,
))
register(OpDef(
    name="_split_v2",
    params={"indices": Param("shape"), "axis": Param("int", 1),
            "squeeze_axis": Param("bool", False), "sections": Param("int", 0)},
    outputs=_split_outputs, infer_shape=_split_infer, forward=_split_forward,
))


def _expand_infer(p, s):
    if s[0] is None:
        return s, [None]
    out = list(s[0])
    out.insert(p["axis"] % (len(out) + 1), 1)
    return s, [tuple(out)]


register(OpDef(name="expand_dims", params={"axis": Param("int")}, infer_shape=_expand_infer,
               forward=lambda p, x, aux, train: [x[0].unsqueeze(p["axis"])]))


def _squeeze_shape(p, d):
    if p["axis"] is None:
        out = tuple(n for n in d if n != 1)
    else:
        axes = {norm_axis(a, len(d)) for a in ((p["axis"],) if isinstance(p["axis"], int)
                                                else p["axis"])}
        for a in axes:
            if d[a] != 1:
                raise ShapeMismatch("data", f"size 1 on squeezed axis {a}", d)
        out = tuple(n for i, n in enumerate(d) if i not in axes)
    return out or (1,)


register(OpDef(
    name="squeeze", params={"axis": Param("axis", None)},
    infer_shape=lambda p, s: (s, [None if s[0] is None else _squeeze_shape(p, s[0])]),
    forward=lambda p, x, aux, train: [x[0].reshape(_squeeze_shape(p, x[0].shape))],
))


def _swap(p, d):
    out = list(d)
    a, b = norm_axis(p["dim1"], len(d)), norm_axis(p["dim2"], len(d))
    out[a], out[b] = out[b], out[a]
    return tuple(out)


register(OpDef(name="SwapAxis", aliases=("swapaxes",),
               params={"dim1": Param("int", 0), "dim2": Param("int", 0)},
               infer_shape=lambda p, s: (s, [None if s[0] is None else _swap(p, s[0])]),
               forward=lambda p, x, aux, train: [x[0].transpose(p["dim1"], p["dim2"])]))


def _axes(p, ndim):
    return tuple(a % ndim for a in p["axes"]) if p["axes"] else tuple(reversed(range(ndim)))


register(OpDef(
    name="transpose", params={"axes": Param("shape", ())},
    infer_shape=lambda p, s: (s, [None if s[0] is None else
                                  tuple(s[0][a] for a in _axes(p, len(s[0])))]),
    forward=lambda p, x, aux, train: [x[0].permute(*_axes(p, x[0].dim()))],
))


def _tile_shape(d, reps):
    n = max(len(d), len(reps))
    d = (1,) * (n - len(d)) + tuple(d)
    reps = (1,) * (n - len(reps)) + tuple(reps)
    return tuple(a * b for a, b in zip(d, reps))


register(OpDef(
    name="tile", params={"reps": Param("shape")},
    infer_shape=lambda p, s: (s, [None if s[0] is None else _tile_shape(s[0], p["reps"])]),
    forward=lambda p, x, aux, train: [x[0].tile(tuple(p["reps"])) if p["reps"] else x[0]],
))


def _repeat_shape(p, d):
    if p["axis"] is None:
        return (size(d) * p["repeats"],)
    out = list(d)
    out[norm_axis(p["axis"], len(d))] *= p["repeats"]
    return tuple(out)


def _repeat_forward(p, x, aux, train):
    data = x[0]
    if p["axis"] is None:
        return [data.reshape(-1).repeat_interleave(p["repeats"])]
    return [data.repeat_interleave(p["repeats"], dim=norm_axis(p["axis"], data.dim()))]


register(OpDef(
    name="repeat", params={"repeats": Param("int"), "axis": Param("int_or_none", None)},
    infer_shape=lambda p, s: (s, [None if s[0] is None else _repeat_shape(p, s[0])]),
    forward=_repeat_forward,
))


def _pad_infer(p, s):
    d = s[0]
    if d is None:
        return s, [None]
    w = p["pad_width"]
    if len(w) != 2 * len(d):
        raise ShapeMismatch("data", f"{len(w) // 2} axes for pad_width {w}", d)
    if any(w[:4]):
        raise ShapeMismatch("data", "no padding on the first two axes (pad_width must start "
                            "with four zeros)", d)
    return s, [tuple(n + w[2 * i] + w[2 * i + 1] for i, n in enumerate(d))]


def _pad_forward(p, x, aux, train):
    data = x[0]
    w = p["pad_width"]
    torch_pad = []
    for i in reversed(range(2, data.dim())):
        torch_pad += [w[2 * i], w[2 * i + 1]]
    if p["mode"] == "constant":
        return [F.pad(data, torch_pad, value=p["constant_value"])]
    return [F.pad(data, torch_pad, mode="replicate" if p["mode"] == "edge" else "reflect")]


register(OpDef(
    name="Pad", aliases=("pad",),
    params={"mode": Param("str", choices=("constant", "edge", "reflect")),
            "pad_width": Param("shape"), "constant_value": Param("float", 0.0)},
    infer_shape=_pad_infer, forward=_pad_forward,
))


def _broadcast_to_shape(p, d):
    target = p["shape"]
    if len(target) != len(d):
        raise ShapeMismatch("data", f"{len(target)} axes to broadcast to {target}", d)
    out = []
    for n, t in zip(d, target):
        if t == 0:
            out.append(n)
        elif n in (1, t):
            out.append(t)
        else:
            raise ShapeMismatch("data", f"size 1 or {t} to broadcast to {target}", d)
    return tuple(out)


register(OpDef(
    name="broadcast_to", params={"shape": Param("shape", ())},
    infer_shape=lambda p, s: (s, [None if s[0] is None else _broadcast_to_shape(p, s[0])]),
    forward=lambda p, x, aux, train: [x[0].expand(_broadcast_to_shape(p, x[0].shape))],
))


def _broadcast_axis_shape(p, d):
    out = list(d)
    if len(p["axis"]) != len(p["size"]):
        raise ShapeMismatch("data", f"as many sizes as axes ({p['axis']}, {p['size']})", d)
    for a, n in zip(p["axis"], p["size"]):
        a = norm_axis(a, len(d))
        if d[a] != 1:
            raise ShapeMismatch("data", f"size 1 on broadcast axis {a}", d)
        out[a] = n
    return tuple(out)


register(OpDef(
    name="broadcast_axis", aliases=("broadcast_axes",),
    params={"axis": Param("shape", ()), "size": Param("shape", ())},
    infer_shape=lambda p, s: (s, [None if s[0] is None else _broadcast_axis_shape(p, s[0])]),
    forward=lambda p, x, aux, train: [x[0].expand(_broadcast_axis_shape(p, x[0].shape))],
))


def _broadcast_like_shape(p, a, b):
    if p["lhs_axes"] is None:
        return broadcast_shape(a, b, "rhs")
    out = list(a)
    for la, ra in zip(p["lhs_axes"], p["rhs_axes"]):
        out[norm_axis(la, len(a))] = b[norm_axis(ra, len(b))]
    return tuple(out)


register(OpDef(
    name="broadcast_like",
    params={"lhs_axes": Param("shape_or_none", None), "rhs_axes": Param("shape_or_none", None)},
    arguments=lambda p: ["lhs", "rhs"],
    infer_shape=lambda p, s: (s, [_broadcast_like_shape(p, *s) if _known(*s) else None]),
    forward=lambda p, x, aux, train: [x[0].expand(_broadcast_like_shape(
        p, tuple(x[0].shape), tuple(x[1].shape)))],
))


def _reshape_like_shape(p, a, b):
    def span(begin, end, n):
        lo = 0 if begin is None else begin % n if begin < 0 else begin
        hi = n if end is None else end % n if end < 0 else end
        return lo, hi
    lb, le = span(p["lhs_begin"], p["lhs_end"], len(a))
    rb, re = span(p["rhs_begin"], p["rhs_end"], len(b))
    out = tuple(a[:lb]) + tuple(b[rb:re]) + tuple(a[le:])
    if size(out) != size(a):
        raise ShapeMismatch("rhs", f"a shape with {size(a[lb:le])} elements in {rb}:{re}", b)
    return out


register(OpDef(
    name="reshape_like",
    params={k: Param("int_or_none", None) for k in ("lhs_begin", "lhs_end", "rhs_begin",
                                                     "rhs_end")},
    arguments=lambda p: ["lhs", "rhs"],
    infer_shape=lambda p, s: (s, [_reshape_like_shape(p, *s) if _known(*s) else None]),
    forward=lambda p, x, aux, train: [x[0].reshape(_reshape_like_shape(
        p, tuple(x[0].shape), tuple(x[1].shape)))],
))


def slice_ranges(begin, end, step, shape):
    """[range of kept indices per axis] for MXNet's slice (python slicing, negative steps)."""
    out = []
    for i, n in enumerate(shape):
        if i >= len(begin):
            out.append(range(n))
            continue
        st = step[i] if i < len(step) and step[i] is not None else 1
        if st == 0:
            raise ShapeMismatch("data", "non-zero slice steps", step)
        out.append(range(n)[slice(begin[i], end[i] if i < len(end) else None, st)])
    return out


def slice_tensor(data, ranges):
    for axis, r in enumerate(ranges):
        if r.step == 1:
            data = data.narrow(axis, r.start, len(r))
        else:
            index = torch.as_tensor(list(r), dtype=torch.long, device=data.device)
            data = data.index_select(axis, index)
    return data


def _slice_shape(p, d):
    if len(p["begin"]) > len(d):
        raise ShapeMismatch("data", f"at least {len(p['begin'])} axes for begin "
                            f"{p['begin']}", d)
    return tuple(len(r) for r in slice_ranges(p["begin"], p["end"], p["step"], d))


_SLICE_PARAMS = {"begin": Param("slice"), "end": Param("slice"), "step": Param("slice", ())}
register(OpDef(
    name="slice", aliases=("crop",), params=_SLICE_PARAMS,
    infer_shape=lambda p, s: (s, [None if s[0] is None else _slice_shape(p, s[0])]),
    forward=lambda p, x, aux, train: [slice_tensor(x[0], slice_ranges(
        p["begin"], p["end"], p["step"], x[0].shape))],
))


def _assign_forward(p, x, aux, train):
    """`lhs` with its slice set to `rhs` (or to the scalar), out of place."""
    data = x[0]
    ranges = slice_ranges(p["begin"], p["end"], p["step"], data.shape)
    grids = torch.meshgrid(*[torch.as_tensor(list(r), dtype=torch.long, device=data.device)
                             for r in ranges], indexing="ij")
    shape = tuple(len(r) for r in ranges)
    value = x[1].reshape(shape) if len(x) > 1 else torch.full(
        shape, p["scalar"], dtype=data.dtype, device=data.device)
    return [data.index_put(grids, value.to(data.dtype))]


register(OpDef(name="_slice_assign", aliases=("_crop_assign",), params=_SLICE_PARAMS,
               arguments=lambda p: ["lhs", "rhs"], infer_shape=lambda p, s: (s, [s[0]]),
               forward=_assign_forward))
register(OpDef(name="_slice_assign_scalar", aliases=("_crop_assign_scalar",),
               params=dict({"scalar": Param("float", 0.0)}, **_SLICE_PARAMS),
               infer_shape=lambda p, s: (s, [s[0]]), forward=_assign_forward))


def _slice_like_shape(p, d, like):
    axes = [norm_axis(a, len(d)) for a in p["axes"]] if p["axes"] else range(
        min(len(d), len(like)))
    out = list(d)
    for a in axes:
        if like[a] > d[a]:
            raise ShapeMismatch("shape_like", f"at most {d[a]} on axis {a}", like)
        out[a] = like[a]
    return tuple(out)


register(OpDef(
    name="slice_like", params={"axes": Param("shape", ())},
    arguments=lambda p: ["data", "shape_like"],
    infer_shape=lambda p, s: (s, [_slice_like_shape(p, *s) if _known(*s) else None]),
    forward=lambda p, x, aux, train: [slice_tensor(x[0], [range(n) for n in _slice_like_shape(
        p, tuple(x[0].shape), tuple(x[1].shape))])],
))


def _crop_window(p, d, like):
    h, w = (like[2], like[3]) if like is not None else p["h_w"]
    if p["center_crop"]:
        top, left = (d[2] - h) // 2, (d[3] - w) // 2
    else:
        top, left = p["offset"]
    return top, left, h, w


def _crop_infer(p, s):
    d = s[0]
    like = s[1] if len(s) > 1 else None
    if d is None or (len(s) > 1 and like is None):
        return s, [None]
    _, _, h, w = _crop_window(p, d, like)
    return s, [(d[0], d[1], h, w)]


def _crop_forward(p, x, aux, train):
    data = x[0]
    top, left, h, w = _crop_window(p, data.shape, x[1].shape if len(x) > 1 else None)
    return [data[:, :, top:top + h, left:left + w]]


register(OpDef(
    name="Crop", variadic="num_args", key_var_num_args="num_args",
    params={"num_args": Param("int", lower=1), "offset": Param("shape", (0, 0)),
            "h_w": Param("shape", (0, 0)), "center_crop": Param("bool", False)},
    arguments=lambda p: ["data", "crop_like"][:p["num_args"]],
    infer_shape=_crop_infer, forward=_crop_forward,
))


def _d2s_shape(p, d, inverse):
    b = p["block_size"]
    n, c, h, w = d
    if inverse:
        if h % b or w % b:
            raise ShapeMismatch("data", f"height and width divisible by block_size={b}", d)
        return (n, c * b * b, h // b, w // b)
    if c % (b * b):
        raise ShapeMismatch("data", f"channels divisible by block_size^2={b * b}", d)
    return (n, c // (b * b), h * b, w * b)


def _depth_to_space(p, x, aux, train):
    data, b = x[0], p["block_size"]
    n, c, h, w = data.shape
    out = data.reshape(n, b, b, c // (b * b), h, w).permute(0, 3, 4, 1, 5, 2)
    return [out.reshape(n, c // (b * b), h * b, w * b)]


def _space_to_depth(p, x, aux, train):
    data, b = x[0], p["block_size"]
    n, c, h, w = data.shape
    out = data.reshape(n, c, h // b, b, w // b, b).permute(0, 3, 5, 1, 2, 4)
    return [out.reshape(n, c * b * b, h // b, w // b)]


for _name, _fn, _inverse in (("depth_to_space", _depth_to_space, False),
                             ("space_to_depth", _space_to_depth, True)):
    register(OpDef(
        name=_name, params={"block_size": Param("int")},
        infer_shape=lambda p, s, inv=_inverse: (s, [None if s[0] is None else _d2s_shape(
            p, s[0], inv)]),
        forward=_fn,
    ))

register(OpDef(
    name="shape_array", params={},
    infer_shape=lambda p, s: (s, [None if s[0] is None else (len(s[0]),)]),
    infer_type=lambda p, t: (t, [np.int64]),
    forward=lambda p, x, aux, train: [torch.tensor(x[0].shape, dtype=torch.int64,
                                                   device=x[0].device)],
))
register(OpDef(
    name="size_array", params={}, infer_shape=lambda p, s: (s, [(1,)]),
    infer_type=lambda p, t: (t, [np.int64]),
    forward=lambda p, x, aux, train: [torch.tensor([x[0].numel()], dtype=torch.int64,
                                                   device=x[0].device)],
))


def _diag_shape(p, d):
    k = p["k"]
    if len(d) == 1:
        n = d[0] + abs(k)
        return (n, n)
    a1, a2 = norm_axis(p["axis1"], len(d)), norm_axis(p["axis2"], len(d))
    n = max(0, min(d[a1] - max(0, -k), d[a2] - max(0, k)))
    return tuple(x for i, x in enumerate(d) if i not in (a1, a2)) + (n,)


def _diag_forward(p, x, aux, train):
    data = x[0]
    if data.dim() == 1:
        return [torch.diag(data, p["k"])]
    return [torch.diagonal(data, p["k"], p["axis1"], p["axis2"])]


register(OpDef(
    name="diag", params={"k": Param("int", 0), "axis1": Param("int", 0),
                         "axis2": Param("int", 1)},
    infer_shape=lambda p, s: (s, [None if s[0] is None else _diag_shape(p, s[0])]),
    forward=_diag_forward,
))


def _conv_like(p, n):
    def get(key, fill):
        return tuple(p[key]) if p[key] else (fill,) * n
    return get("stride", 1), get("dilate", 1), get("pad", 0)


def _im2col_infer(p, s):
    d = s[0]
    if d is None:
        return s, [None]
    k = p["kernel"]
    stride, dilate, pad = _conv_like(p, len(k))
    blocks = 1
    for x, kk, st, dl, pd in zip(d[2:], k, stride, dilate, pad):
        blocks *= (x + 2 * pd - dl * (kk - 1) - 1) // st + 1
    return s, [(d[0], d[1] * size(k), blocks)]


def _im2col(p, x, aux, train):
    stride, dilate, pad = _conv_like(p, len(p["kernel"]))
    return [F.unfold(x[0], tuple(p["kernel"]), dilate, pad, stride)]


def _col2im(p, x, aux, train):
    stride, dilate, pad = _conv_like(p, len(p["kernel"]))
    return [F.fold(x[0], tuple(p["output_size"]), tuple(p["kernel"]), dilate, pad, stride)]


_WINDOW = {"kernel": Param("shape"), "stride": Param("shape", ()),
           "dilate": Param("shape", ()), "pad": Param("shape", ())}
register(OpDef(name="im2col", params=_WINDOW, infer_shape=_im2col_infer, forward=_im2col))
register(OpDef(
    name="col2im", params=dict({"output_size": Param("shape")}, **_WINDOW),
    infer_shape=lambda p, s: (s, [None if s[0] is None else (
        s[0][0], s[0][1] // size(p["kernel"])) + tuple(p["output_size"])]),
    forward=_col2im,
))


def _source_device(p):
    return p.get("_device") or current_context().torch_device


def _bind_device(p, out_shapes, device):
    return dict(p, _device=device)


def _source(name, params, shape_of, make, dtype_of=lambda p: p["dtype"]):
    """An operator with no inputs whose shape comes from its params."""
    register(OpDef(name=name, params=params, arguments=lambda p: [],
                   infer_shape=lambda p, s: ([], [shape_of(p)]),
                   infer_type=lambda p, t: ([], [dtype_of(p)]),
                   bind_params=_bind_device,
                   forward=lambda p, x, aux, train: [make(p).to(_source_device(p))],
                   extra={"constant": True}))


_CTX_DTYPE = {"ctx": Param("str", ""), "dtype": Param("dtype", "float32")}
_source("_full", dict({"shape": Param("shape", ())}, **_CTX_DTYPE, value=Param("float")),
        lambda p: p["shape"],
        lambda p: torch.full(p["shape"], p["value"], dtype=torch_dtype(p["dtype"])))


def _range_values(p):
    stop = p["stop"]
    start, stop = (0.0, p["start"]) if stop is None else (p["start"], stop)
    values = np.arange(start, stop, p["step"], dtype=np.float64)
    return np.repeat(values, p["repeat"]) if p["repeat"] > 1 else values


_RANGE = {"start": Param("float"), "stop": Param("float_or_none", None),
          "step": Param("float", 1.0), "repeat": Param("int", 1),
          "infer_range": Param("bool", False)}
_source("_arange", dict(_RANGE, **_CTX_DTYPE), lambda p: (len(_range_values(p)),),
        lambda p: torch.as_tensor(_range_values(p)).to(torch_dtype(p["dtype"])))
_source("_linspace", dict({"start": Param("float"), "stop": Param("float"), "num": Param("int"),
                          "endpoint": Param("bool", True)}, **_CTX_DTYPE),
        lambda p: (p["num"],),
        lambda p: torch.as_tensor(np.linspace(p["start"], p["stop"], p["num"], p["endpoint"])).to(
            torch_dtype(p["dtype"])))
_source("_eye", dict({"N": Param("int"), "M": Param("int", 0), "k": Param("int", 0)},
                     **_CTX_DTYPE),
        lambda p: (p["N"], p["M"] or p["N"]),
        lambda p: torch.as_tensor(np.eye(p["N"], p["M"] or p["N"], p["k"])).to(
            torch_dtype(p["dtype"])))


def _arange_like_shape(p, d):
    return d if p["axis"] is None else (d[norm_axis(p["axis"], len(d))],)


def _arange_like(p, x, aux, train):
    data = x[0]
    shape = _arange_like_shape(p, tuple(data.shape))
    n = size(shape)
    values = p["start"] + p["step"] * torch.div(
        torch.arange(n, dtype=torch.float64, device=data.device), p["repeat"],
        rounding_mode="floor")
    return [values.reshape(shape).to(data.dtype)]


register(OpDef(
    name="_contrib_arange_like",
    params={"start": Param("float", 0.0), "step": Param("float", 1.0),
            "repeat": Param("int", 1), "ctx": Param("str", ""),
            "axis": Param("int_or_none", None)},
    infer_shape=lambda p, s: (s, [None if s[0] is None else _arange_like_shape(p, s[0])]),
    forward=_arange_like,
))


def _cast_storage(p, x, aux, train):
    if p["stype"] != "default":
        from ..base import MXNetError
        raise MXNetError(f"cast_storage: stype {p['stype']!r} is a sparse storage type; "
                         f"bucketmod arrays are dense only (stype 'default')")
    return [x[0]]


register(OpDef(name="cast_storage",
               params={"stype": Param("str", choices=("csr", "default", "row_sparse"))},
               infer_shape=same_shape, forward=_cast_storage))
