"""Matrix products and linear algebra: dot, batch_dot, the `linalg_*` operators (BLAS and
LAPACK-style, batched over leading axes) and contrib's interleaved attention matmuls."""
import math

import torch

from .common import norm_axis
from .params import Param
from .registry import OpDef, register
from .shape_ops import ShapeMismatch


def _dot_parts(p, a, b):
    """(rows of lhs, contraction, columns of rhs) shapes, as MXNet's DotShape splits them."""
    if p["transpose_a"]:
        rows, k1 = tuple(a[1:]) if len(a) > 1 else (), a[0]
    else:
        rows, k1 = tuple(a[:-1]), a[-1]
    if p["transpose_b"]:
        k2, cols = b[-1], tuple(b[:-1])
    else:
        k2, cols = b[0], tuple(b[1:])
    return rows, k1, k2, cols


def _dot_shape(p, a, b):
    if len(a) == 1 and len(b) == 1:
        if p["transpose_a"] or p["transpose_b"]:
            raise ShapeMismatch("lhs", "a matrix to transpose (vectors cannot be)", a)
        if a[0] != b[0]:
            raise ShapeMismatch("rhs", f"({a[0]},)", b)
        return (1,)
    rows, k1, k2, cols = _dot_parts(p, a, b)
    if k1 != k2:
        raise ShapeMismatch("rhs", f"a contraction dimension of {k1} (lhs {tuple(a)})", b)
    return rows + cols if (rows + cols) else (1,)


def _dot_forward(p, x, aux, train):
    a, b = x
    if a.dim() == 1 and b.dim() == 1:
        return [(a * b).sum().reshape(1)]
    a2 = a.reshape(a.shape[0], -1).t() if p["transpose_a"] else a.reshape(-1, a.shape[-1])
    b2 = b.reshape(-1, b.shape[-1]).t() if p["transpose_b"] else b.reshape(b.shape[0], -1)
    return [(a2 @ b2).reshape(_dot_shape(p, tuple(a.shape), tuple(b.shape)))]


_DOT_PARAMS = {"transpose_a": Param("bool", False), "transpose_b": Param("bool", False),
               "forward_stype": Param("str", None, (None, "None", "csr", "default",
                                                    "row_sparse"))}
register(OpDef(
    name="dot", params=_DOT_PARAMS, arguments=lambda p: ["lhs", "rhs"],
    infer_shape=lambda p, s: (s, [None if None in s else _dot_shape(p, s[0], s[1])]),
    forward=_dot_forward,
))


def _batch_dot_shape(p, a, b):
    m, k1 = (a[-1], a[-2]) if p["transpose_a"] else (a[-2], a[-1])
    k2, n = (b[-1], b[-2]) if p["transpose_b"] else (b[-2], b[-1])
    if k1 != k2 or tuple(a[:-2]) != tuple(b[:-2]):
        raise ShapeMismatch("rhs", f"a batch of matrices matching lhs {tuple(a)}", b)
    return tuple(a[:-2]) + (m, n)


def _t(x, flag):
    return x.transpose(-1, -2) if flag else x


register(OpDef(
    name="batch_dot", params=_DOT_PARAMS, arguments=lambda p: ["lhs", "rhs"],
    infer_shape=lambda p, s: (s, [None if None in s else _batch_dot_shape(p, s[0], s[1])]),
    forward=lambda p, x, aux, train: [_t(x[0], p["transpose_a"]) @ _t(x[1], p["transpose_b"])],
))


def _rows_last(x, axis):
    """Move the matrix-row axis to -2 (MXNet's `axis` param of gemm/gemm2)."""
    axis = norm_axis(axis, x.dim())
    return x if axis == x.dim() - 2 else x.movedim(axis, -2)


def _gemm_forward(p, x, aux, train):
    a, b = (_rows_last(t, p["axis"]) for t in x[:2])
    out = p["alpha"] * (_t(a, p["transpose_a"]) @ _t(b, p["transpose_b"]))
    if len(x) > 2:
        out = out + p["beta"] * _rows_last(x[2], p["axis"])
    axis = norm_axis(p["axis"], x[0].dim())
    return [out if axis == x[0].dim() - 2 else out.movedim(-2, axis)]


def _gemm_shape(p, a, b):
    axis = norm_axis(p["axis"], len(a))

    def rows_second_last(shape):
        dims = list(shape)
        rows = dims.pop(axis)
        dims.insert(len(dims) - 1, rows)
        return tuple(dims)

    out = list(_batch_dot_shape(p, rows_second_last(a), rows_second_last(b)))
    out.insert(axis, out.pop(-2))
    return tuple(out)


_GEMM = {"transpose_a": Param("bool", False), "transpose_b": Param("bool", False),
         "alpha": Param("float", 1.0)}
register(OpDef(
    name="_linalg_gemm", aliases=("linalg_gemm",),
    params=dict(_GEMM, beta=Param("float", 1.0), axis=Param("int", -2)),
    arguments=lambda p: ["A", "B", "C"],
    infer_shape=lambda p, s: (s, [s[2] if s[2] is not None else (
        None if None in s[:2] else _gemm_shape(p, s[0], s[1]))]),
    forward=_gemm_forward,
))
register(OpDef(
    name="_linalg_gemm2", aliases=("linalg_gemm2",), params=dict(_GEMM, axis=Param("int", -2)),
    arguments=lambda p: ["A", "B"],
    infer_shape=lambda p, s: (s, [None if None in s else _gemm_shape(p, s[0], s[1])]),
    forward=_gemm_forward,
))


def _tri(a, lower):
    return torch.tril(a) if lower else torch.triu(a)


def _trmm(p, x, aux, train):
    a, b = x
    op = _t(_tri(a, p["lower"]), p["transpose"])
    return [p["alpha"] * (b @ op if p["rightside"] else op @ b)]


def _trsm(p, x, aux, train):
    a, b = x
    tri = _tri(a, p["lower"])
    upper = p["lower"] == p["transpose"]
    op = _t(tri, p["transpose"])
    return [torch.linalg.solve_triangular(op, p["alpha"] * b, upper=upper,
                                          left=not p["rightside"])]


_TRIANGULAR = {"transpose": Param("bool", False), "rightside": Param("bool", False),
               "lower": Param("bool", True), "alpha": Param("float", 1.0)}
for _name, _fn in (("trmm", _trmm), ("trsm", _trsm)):
    register(OpDef(name=f"_linalg_{_name}", aliases=(f"linalg_{_name}",), params=_TRIANGULAR,
                   arguments=lambda p: ["A", "B"], infer_shape=lambda p, s: (s, [s[1]]),
                   forward=_fn))


def _square(s):
    if s is not None and (len(s) < 2 or s[-1] != s[-2]):
        raise ShapeMismatch("A", "a batch of square matrices (..., n, n)", s)
    return s


def _batch_of(s):
    return None if s is None else (tuple(_square(s)[:-2]) or (1,))


def _syevd_signs(u):
    """MXNet flips each eigenvector (row of U) so that its largest-magnitude entry is
    positive."""
    idx = u.detach().abs().argmax(dim=-1, keepdim=True)
    sign = torch.sign(u.detach().gather(-1, idx))
    return u * torch.where(sign == 0, torch.ones_like(sign), sign)


def _syevd(p, x, aux, train):
    values, vectors = torch.linalg.eigh(x[0])
    return [_syevd_signs(vectors.transpose(-1, -2)), values]


def _gelqf(p, x, aux, train):
    q, r = torch.linalg.qr(x[0].transpose(-1, -2))
    return [q.transpose(-1, -2), r.transpose(-1, -2)]


def _gelqf_shape(p, s):
    a = s[0]
    if a is None:
        return s, [None, None]
    if a[-2] > a[-1]:
        raise ShapeMismatch("A", "at most as many rows as columns", a)
    return s, [a, tuple(a[:-1]) + (a[-2],)]


def _slogdet(p, x, aux, train):
    sign, logdet = torch.linalg.slogdet(x[0])
    return [sign.detach(), logdet]


def _syrk(p, x, aux, train):
    a = x[0]
    at = a.transpose(-1, -2)
    return [p["alpha"] * (at @ a if p["transpose"] else a @ at)]


def _syrk_shape(p, s):
    a = s[0]
    if a is None:
        return s, [None]
    n = a[-1] if p["transpose"] else a[-2]
    return s, [tuple(a[:-2]) + (n, n)]


SQUARE_OPS = {
    "potrf": lambda p, x: [torch.linalg.cholesky(x[0])],
    "potri": lambda p, x: [torch.cholesky_inverse(torch.tril(x[0]))],
    "inverse": lambda p, x: [torch.linalg.inv(x[0])],
}
for _name, _fn in SQUARE_OPS.items():
    register(OpDef(name=f"_linalg_{_name}", aliases=(f"linalg_{_name}",), params={},
                   arguments=lambda p: ["A"], infer_shape=lambda p, s: (s, [_square(s[0])]),
                   forward=lambda p, x, aux, train, fn=_fn: fn(p, x)))

register(OpDef(name="_linalg_det", aliases=("linalg_det",), params={}, arguments=lambda p: ["A"],
               outputs=lambda p: ["output0"], num_all_outputs=lambda p: 3,
               infer_shape=lambda p, s: (s, [_batch_of(s[0])]),
               forward=lambda p, x, aux, train: [torch.linalg.det(x[0]).reshape(
                   tuple(x[0].shape[:-2]) or (1,))]))
register(OpDef(name="_linalg_slogdet", aliases=("linalg_slogdet",), params={},
               arguments=lambda p: ["A"], outputs=lambda p: ["output0", "output1"],
               infer_shape=lambda p, s: (s, [_batch_of(s[0])] * 2),
               forward=lambda p, x, aux, train: [t.reshape(tuple(x[0].shape[:-2]) or (1,))
                                                 for t in _slogdet(p, x, aux, train)]))
register(OpDef(
    name="_linalg_sumlogdiag", aliases=("linalg_sumlogdiag",), params={},
    arguments=lambda p: ["A"], infer_shape=lambda p, s: (s, [_batch_of(s[0])]),
    forward=lambda p, x, aux, train: [torch.log(torch.diagonal(x[0], 0, -2, -1)).sum(-1).reshape(
        tuple(x[0].shape[:-2]) or (1,))],
))
register(OpDef(name="_linalg_syrk", aliases=("linalg_syrk",),
               params={"transpose": Param("bool", False), "alpha": Param("float", 1.0)},
               arguments=lambda p: ["A"], infer_shape=_syrk_shape, forward=_syrk))
register(OpDef(name="_linalg_gelqf", aliases=("linalg_gelqf",), params={},
               arguments=lambda p: ["A"], outputs=lambda p: ["output0", "output1"],
               infer_shape=_gelqf_shape, forward=_gelqf))
register(OpDef(name="_linalg_syevd", aliases=("linalg_syevd",), params={},
               arguments=lambda p: ["A"], outputs=lambda p: ["output0", "output1"],
               infer_shape=lambda p, s: (s, [_square(s[0]), None if s[0] is None else tuple(
                   s[0][:-1])]),
               forward=_syevd))


def _diag_len(n, m, offset):
    return max(0, min(n + min(offset, 0), m - max(offset, 0)))


def _extractdiag(p, x, aux, train):
    return [torch.diagonal(x[0], p["offset"], -2, -1)]


def _makediag(p, x, aux, train):
    return [torch.diag_embed(x[0], p["offset"], -2, -1)]


def _trian_index(n, offset, lower, device=None):
    """(rows, cols) of the triangle extracttrian/maketrian pack, in MXNet's order: below the
    diagonal row by row, above it column by column (above from `offset` for offset > 0,
    below for offset < 0, `lower` deciding at offset 0)."""
    if offset > 0 or (offset == 0 and not lower):
        cols, rows = torch.tril_indices(n, n, -offset, device=device)
        return rows, cols
    return torch.tril_indices(n, n, offset, device=device)


def _extracttrian(p, x, aux, train):
    a = x[0]
    rows, cols = _trian_index(a.shape[-1], p["offset"], p["lower"], a.device)
    return [a[..., rows, cols]]


def _maketrian_dim(p, length):
    """The matrix size whose triangle holds `length` entries."""
    m = int(round((math.sqrt(8 * length + 1) - 1) / 2))
    if m * (m + 1) // 2 != length:
        raise ShapeMismatch("A", "a triangle's number of entries (m(m+1)/2)", (length,))
    return m + abs(p["offset"])


def _maketrian(p, x, aux, train):
    a = x[0]
    n = _maketrian_dim(p, a.shape[-1])
    rows, cols = _trian_index(n, p["offset"], p["lower"], a.device)
    flat = a.reshape(-1, a.shape[-1])
    out = torch.zeros(flat.shape[0], n * n, dtype=a.dtype, device=a.device)
    out = out.index_copy(1, rows * n + cols, flat)
    return [out.reshape(tuple(a.shape[:-1]) + (n, n))]


_OFFSET = {"offset": Param("int", 0)}
_TRIAN = {"offset": Param("int", 0), "lower": Param("bool", True)}
register(OpDef(
    name="_linalg_extractdiag", aliases=("linalg_extractdiag",), params=_OFFSET,
    arguments=lambda p: ["A"],
    infer_shape=lambda p, s: (s, [None if s[0] is None else tuple(s[0][:-2]) + (
        _diag_len(s[0][-2], s[0][-1], p["offset"]),)]),
    forward=_extractdiag,
))
register(OpDef(
    name="_linalg_makediag", aliases=("linalg_makediag",), params=_OFFSET,
    arguments=lambda p: ["A"],
    infer_shape=lambda p, s: (s, [None if s[0] is None else tuple(s[0][:-1]) + (
        s[0][-1] + abs(p["offset"]),) * 2]),
    forward=_makediag,
))
register(OpDef(
    name="_linalg_extracttrian", aliases=("linalg_extracttrian",), params=_TRIAN,
    arguments=lambda p: ["A"],
    infer_shape=lambda p, s: (s, [None if s[0] is None else tuple(s[0][:-2]) + (
        len(_trian_index(s[0][-1], p["offset"], p["lower"])[0]),)]),
    forward=_extracttrian,
))
register(OpDef(
    name="_linalg_maketrian", aliases=("linalg_maketrian",), params=_TRIAN,
    arguments=lambda p: ["A"],
    infer_shape=lambda p, s: (s, [None if s[0] is None else tuple(s[0][:-1]) + (
        _maketrian_dim(p, s[0][-1]),) * 2]),
    forward=_maketrian,
))


def _heads_split(x, heads, parts):
    """(seq, batch, heads * parts * d) -> `parts` tensors of (batch * heads, seq, d)."""
    seq, batch, width = x.shape
    t = x.reshape(seq, batch, heads, parts, width // (heads * parts))
    return [t[:, :, :, i, :].permute(1, 2, 0, 3).reshape(batch * heads, seq, -1)
            for i in range(parts)]


def _heads_merge(x, heads):
    """(batch * heads, seq, d) -> (seq, batch, heads * d)."""
    bh, seq, d = x.shape
    return x.reshape(bh // heads, heads, seq, d).permute(2, 0, 1, 3).reshape(seq, bh // heads, -1)


def _selfatt_qk(p, x, aux, train):
    q, k, _ = _heads_split(x[0], p["heads"], 3)
    return [(q / math.sqrt(q.shape[-1])) @ k.transpose(1, 2)]


def _selfatt_valatt(p, x, aux, train):
    _, _, v = _heads_split(x[0], p["heads"], 3)
    return [_heads_merge(x[1] @ v, p["heads"])]


def _encdec_qk(p, x, aux, train):
    (q,) = _heads_split(x[0], p["heads"], 1)
    k, _ = _heads_split(x[1], p["heads"], 2)
    return [(q / math.sqrt(q.shape[-1])) @ k.transpose(1, 2)]


def _encdec_valatt(p, x, aux, train):
    _, v = _heads_split(x[0], p["heads"], 2)
    return [_heads_merge(x[1] @ v, p["heads"])]


def _att_shape(fn):
    def infer(p, s):
        return s, [None if None in s else fn(p["heads"], *s)]
    return infer


ATTENTION = {
    "selfatt_qk": (["queries_keys_values"], _selfatt_qk,
                   lambda h, qkv: (h * qkv[1], qkv[0], qkv[0])),
    "selfatt_valatt": (["queries_keys_values", "attention"], _selfatt_valatt,
                       lambda h, qkv, att: (qkv[0], qkv[1], qkv[2] // 3)),
    "encdec_qk": (["queries", "keys_values"], _encdec_qk,
                  lambda h, q, kv: (q[1] * h, q[0], kv[0])),
    "encdec_valatt": (["keys_values", "attention"], _encdec_valatt,
                      lambda h, kv, att: (att[1], kv[1], kv[2] // 2)),
}
for _name, (_inputs, _fn, _shape) in ATTENTION.items():
    register(OpDef(name=f"_contrib_interleaved_matmul_{_name}", params={"heads": Param("int")},
                   arguments=lambda p, names=tuple(_inputs): list(names),
                   infer_shape=_att_shape(_shape), forward=_fn))


def _count_sketch(p, x, aux, train):
    """out[n, h[i]] += s[i] * data[n, i] (MXNet runs it on GPUs only)."""
    data, h, s = x
    rows = data.reshape(-1, data.shape[-1])
    idx = h.detach().reshape(-1).long().expand(rows.shape[0], -1)
    out = torch.zeros(rows.shape[0], p["out_dim"], dtype=data.dtype, device=data.device)
    out = out.scatter_add(1, idx, rows * s.reshape(1, -1).to(data.dtype))
    return [out.reshape(tuple(data.shape[:-1]) + (p["out_dim"],))]


register(OpDef(
    name="_contrib_count_sketch",
    params={"out_dim": Param("int"), "processing_batch_size": Param("int", 32)},
    arguments=lambda p: ["data", "h", "s"],
    infer_shape=lambda p, s: (s, [None if s[0] is None else tuple(s[0][:-1]) + (
        p["out_dim"],)]),
    forward=_count_sketch,
))
