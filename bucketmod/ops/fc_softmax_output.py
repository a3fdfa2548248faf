"""FullyConnected followed by SoftmaxOutput as one operator, for a language model's output layer.

Its output is SoftmaxOutput's, the probabilities `p`, and its gradients are exactly the two
nodes' (the head gradient is ignored, as MXNet's SoftmaxOutput does). The forward is one GEMM
into the output buffer and a softmax over it in place; on oneDNN, from 128 rows, the GEMMs run
in row blocks (gemm.py: one compiled primitive for every bucket) and each block's softmax is
written into the output, which an executor takes from the arena its buckets share (arena.py).
The backward never forms the logits' gradient `s·(p − q)`: with `s` the row scale
(grad_scale / normaliser, 0 on ignored rows), `a = α/(V−1)` and `k = s·(1 − α − a)` on rows
whose label is a class (0 elsewhere),

    dx = s·(p W) − k·W[label] − a·s·Σ_v W_v
    dW = pᵀ(s·x) − scatter_label(k·x) − a·Σ_i s_i x_i
    db = pᵀ s − scatter_label(k) − a·Σ s

so the backward reads `p` (two GEMMs and a GEMV) and writes nothing of size `[M, V]`
(kernels/README.md). Small layers (`DENSE_MAX`) form `s·(p − q)` instead: fewer operator calls.
"""
import torch

from . import gemm
from ._triton_path import triton_ok
from .fc import fully_connected
from .softmax_output import normalised_scale, softmax_output

# Up to this many probabilities (`M x V`, 16 MB in float32) the backward forms the logits'
# gradient: a buffer that size costs less than the split's extra operator calls (measured on
# the CPU at M = 320, V = 10,000; from M = 960 on the split wins by 1.1-1.6x).
DENSE_MAX = 1 << 22


def _softmax_(logits, triton):
    """Softmax over the rows of `logits`, in place on the Triton path and for wide rows on the
    CPU (ATen's in-place softmax is the slower one for rows of tens of classes)."""
    if triton:
        from bucketmod.kernels.fc_softmax_output import softmax_rows_
        return softmax_rows_(logits)
    if logits.is_cuda or logits.shape[1] < 1024:
        return torch.softmax(logits, -1)
    return torch.ops.aten._softmax.out(logits, -1, False, out=logits)


def _probabilities(x, w, b, triton, arena):
    """`(softmax(x Wᵀ + b), arena token)`; where the GEMM runs in row blocks (gemm.py) each
    block's softmax goes straight into the output, taken from `arena` where there is one (the
    token then says which write it is, else None)."""
    if not gemm.blocks_rows(x, w):
        return _softmax_(gemm.linear(x, w, b), triton), None
    shape = (x.shape[0], w.shape[0])
    p, token = arena(shape, x.dtype, x.device) if arena is not None else \
        (x.new_empty(shape), None)
    for i, j, logits in gemm.linear_blocks(x, w, b):
        torch.ops.aten._softmax.out(logits, -1, False, out=p[i:j])
    return p, token


def _row_factors(label, options, shape, p):
    """`(s, k, rows, a)`: per-row scale and target weight (`[M]`, p's dtype), the label rows
    clamped into `[0, V)`, and the smoothing weight `a` of every other class."""
    V = p.shape[1]
    scale = normalised_scale(label, options, shape)
    if options["use_ignore"]:
        s = (label != options["ignore_label"]).to(p.dtype).mul_(scale)
    elif isinstance(scale, float):
        s = torch.full(label.shape, scale, dtype=p.dtype, device=p.device)
    else:
        s = torch.ones(label.shape, dtype=p.dtype, device=p.device).mul_(scale)
    idx = label.long()
    rows = idx.clamp(0, V - 1)
    k = s.masked_fill(rows != idx, 0.0)
    alpha = options["smooth_alpha"]
    a = alpha / max(V - 1, 1) if alpha else 0.0
    if alpha:
        k.mul_(1.0 - alpha - a)
    return s, k, rows, a


def _logits_grad(p, label, options, shape):
    """The logits' gradient `s·(p − q)`, q the (smoothed) one-hot label; with one scale for
    every row (no ignored label, a fixed normaliser) in fewer operations."""
    scale = normalised_scale(label, options, shape)
    if options["use_ignore"] or not isinstance(scale, float):
        s, k, rows, a = _row_factors(label, options, shape, p)
        g = (p * s[:, None]).scatter_add_(1, rows[:, None], -k[:, None])
        return g.sub_(s[:, None], alpha=a) if a else g
    V = p.shape[1]
    alpha = options["smooth_alpha"]
    a = alpha / max(V - 1, 1) if alpha else 0.0
    idx = label.long()
    rows = idx.clamp(0, V - 1)
    target = torch.where(rows != idx, 0.0, -scale * (1.0 - alpha - a))
    g = torch.mul(p, scale).scatter_add_(1, rows[:, None], target.to(p.dtype)[:, None])
    return g.sub_(scale * a) if a else g


def _dx(t, w, idx, s, k, a, triton):
    """`s·t − k·W[idx] − a·s·Σ_v W_v`, written over `t = p W`."""
    colsum = w.sum(0) if a else None
    if triton:
        from bucketmod.kernels.fc_softmax_output import fc_softmax_output_dx
        return fc_softmax_output_dx(t, w, idx, s, k, a, colsum, out=t)
    t.mul_(s[:, None]).addcmul_(w.index_select(0, idx), k[:, None], value=-1.0)
    if a:
        t.addr_(s, colsum, alpha=-a)
    return t


class FCSoftmaxOutputFunction(torch.autograd.Function):
    """`softmax(x Wᵀ + b)` over rows `x: [M, K]`, with SoftmaxOutput's backward."""

    @staticmethod
    def forward(ctx, x, w, b, label, options, shape, triton, arena):
        p, token = _probabilities(x, w, b, triton, arena)
        ctx.save_for_backward(x, w, label, p)
        ctx.options, ctx.shape, ctx.triton, ctx.has_bias = options, shape, triton, b is not None
        ctx.arena = (arena, token) if token is not None else None
        return p

    @staticmethod
    def backward(ctx, grad_out):
        if ctx.arena is not None:
            ctx.arena[0].check(ctx.arena[1])
        x, w, label, p = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        need_b = need_b and ctx.has_bias
        if p.numel() <= DENSE_MAX:
            g = _logits_grad(p, label, ctx.options, ctx.shape)
            return (gemm.mm_rows(g, w) if need_x else None,
                    gemm.mm_tn_rows(g, x) if need_w else None,
                    g.sum(0) if need_b else None, None, None, None, None, None)
        s, k, rows, a = _row_factors(label, ctx.options, ctx.shape, p)
        dx = dw = db = None
        if need_x:
            dx = _dx(gemm.mm_rows(p, w), w, rows, s, k, a, ctx.triton)
        if need_w:
            xs = x * s[:, None]
            dw = gemm.mm_tn_rows(p, xs).index_add_(0, rows, x * k[:, None], alpha=-1.0)
            if a:
                dw.sub_(xs.sum(0), alpha=a)
        if need_b:
            db = torch.mv(p.t(), s).index_add_(0, rows, k, alpha=-1.0)
            if a:
                db.sub_(s.sum(), alpha=a)
        return dx, dw, db, None, None, None, None, None


def fc_softmax_output(x, w, b, label, *, flatten=True, grad_scale=1.0, ignore_label=-1.0,
                      use_ignore=False, normalization="null", multi_output=False,
                      preserve_shape=False, smooth_alpha=0.0, arena=None):
    """`SoftmaxOutput(FullyConnected(x, w, b, flatten), label, ...)` as one autograd node.

    The arguments mean what they mean to the two operators. Where the softmax rows are not
    the FC rows (an `[N, T, V]` output without preserve_shape, or with multi_output) or the
    labels are probabilities, it runs the two operators one after the other.

    Args:
        x: FC input. w: `[V, K]`. b: `[V]` or None. label: class ids, one per row.
        arena: an executor's `NodeBuffer` (arena.py), where the probabilities go when the
            GEMM runs in row blocks; None: a new tensor.
    Returns:
        the probabilities, shaped as FullyConnected's output.
    """
    if flatten:
        rows = x.reshape(x.shape[0], -1) if x.dim() != 1 else x.reshape(x.shape[0], 1)
        shape = (rows.shape[0], w.shape[0])
    else:
        rows = x.reshape(-1, x.shape[-1])
        shape = tuple(x.shape[:-1]) + (w.shape[0],)
    options = dict(grad_scale=grad_scale, ignore_label=ignore_label, use_ignore=use_ignore,
                   normalization=normalization, multi_output=multi_output,
                   preserve_shape=preserve_shape, smooth_alpha=smooth_alpha)
    aligned = len(shape) == 2 or (preserve_shape and not multi_output)
    if not aligned or label.numel() != rows.shape[0] or tuple(label.shape) == shape:
        return softmax_output(fully_connected(x, w, b, flatten=flatten), label, **options)
    p = FCSoftmaxOutputFunction.apply(rows, w, b, label.reshape(-1), options, shape,
                                      triton_ok(rows, w, b), arena)
    return p.reshape(shape)
