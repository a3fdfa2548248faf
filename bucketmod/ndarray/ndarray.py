"""NDArray: MXNet's array surface as a thin view over one torch.Tensor.

`NDArray(t).tensor is t`: nothing is copied either way. Arithmetic returns new NDArrays,
in-place operators and slice assignment write into the tensor's own storage, so every
NDArray that shares that storage (a parameter seen by several bucket executors) sees it.
"""
import numbers

import numpy as np
import torch

from ..base import MXNetError, as_shape
from ..context import Context, context_of_device, current_context
from ..dtype import DEFAULT_DTYPE, dtype_name, to_numpy_dtype, to_torch_dtype


class NDArray:
    """An n-dimensional array on a context.

    Attributes:
        tensor: the `torch.Tensor` holding the data (no copy; writes show through both ways).
    """

    __slots__ = ("tensor", "_ctx", "__weakref__")
    __array_priority__ = 1000.0

    def __init__(self, tensor, ctx=None):
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"NDArray: expected a torch.Tensor, got {type(tensor).__name__}")
        self.tensor = tensor
        self._ctx = ctx if ctx is not None else context_of_device(tensor.device)

    # -- properties -------------------------------------------------------------------------
    @property
    def shape(self):
        return tuple(self.tensor.shape)

    @property
    def dtype(self):
        return to_numpy_dtype(self.tensor.dtype)

    @property
    def size(self):
        return self.tensor.numel()

    @property
    def ndim(self):
        return self.tensor.dim()

    @property
    def context(self):
        return self._ctx

    ctx = context

    @property
    def stype(self):
        return "default"

    @property
    def T(self):
        """The array with its axes reversed (a copy, as MXNet's transpose)."""
        return self.transpose()

    @property
    def handle(self):
        return self.tensor.data_ptr()

    # -- conversion ------------------------------------------------------------------------
    def asnumpy(self):
        """A numpy copy of the data (bfloat16 comes back as float32)."""
        t = self.tensor.detach()
        if t.dtype == torch.bfloat16:
            t = t.float()
        return t.cpu().numpy().copy()

    def asscalar(self):
        if self.shape != (1,):
            raise ValueError(f"asscalar: the array must have shape (1,), got {self.shape}")
        return self.asnumpy()[0]

    def __array__(self, dtype=None, copy=None):
        out = self.asnumpy()
        return out.astype(dtype) if dtype is not None else out

    def __float__(self):
        return float(self.asscalar())

    def __int__(self):
        return int(self.asscalar())

    def __bool__(self):
        if self.size == 1:
            return bool(self.tensor.reshape(-1)[0])
        if self.size == 0:
            return False
        raise ValueError("The truth value of an NDArray with more than one element is ambiguous.")

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d NDArray")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def tolist(self):
        return self.asnumpy().tolist()

    def astype(self, dtype, copy=True):
        dt = to_torch_dtype(dtype)
        if not copy and dt == self.tensor.dtype:
            return self
        return self._new(self.tensor.to(dt, copy=True))

    def copy(self):
        return self._new(self.tensor.clone())

    def copyto(self, other):
        """Copy into `other` (an NDArray of the same shape) or onto a new array on a Context."""
        if isinstance(other, NDArray):
            if other.shape != self.shape:
                raise MXNetError(f"copyto: shape mismatch, source {self.shape} vs target "
                                 f"{other.shape}")
            if other.tensor.data_ptr() != self.tensor.data_ptr():
                with torch.no_grad():
                    other.tensor.copy_(self.tensor)
            return other
        if isinstance(other, Context):
            return NDArray(self.tensor.detach().to(other.torch_device, copy=True), other)
        raise TypeError(f"copyto: expected an NDArray or a Context, got {type(other).__name__}")

    def as_in_context(self, context):
        if context == self._ctx:
            return self
        return self.copyto(context)

    def wait_to_read(self):
        if self.tensor.is_cuda:
            torch.cuda.synchronize(self.tensor.device)

    def attach_grad(self, *args, **kwargs):
        raise AttributeError("attach_grad belongs to MXNet's autograd (gluon), which bucketmod "
                             "does not implement; use the symbol/module API")

    # -- shape -----------------------------------------------------------------------------
    def reshape(self, *shape, **kwargs):
        """A view of the data in a new shape, with MXNet's codes: 0 keeps a dim, -1 infers
        one, -2 keeps the rest, -3 merges two dims, -4 splits one into the next two values;
        `reverse=True` reads the codes right to left."""
        if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
            shape = shape[0]
        if "shape" in kwargs:
            shape = kwargs.pop("shape")
        shape = as_shape("reshape: shape", shape)
        reverse = kwargs.pop("reverse", False)
        if kwargs:
            raise TypeError(f"reshape: unknown arguments {sorted(kwargs)}")
        from ..ops.shape_ops import infer_reshape
        try:
            new_shape = infer_reshape(self.shape, shape, reverse)
        except ValueError as err:
            raise MXNetError(str(err)) from err
        return self._new(self.tensor.reshape(new_shape))

    def reshape_like(self, other):
        return self._new(self.tensor.reshape(other.shape))

    def expand_dims(self, axis):
        return self._new(self.tensor.unsqueeze(axis))

    def flatten(self):
        return self._new(self.tensor.reshape(self.shape[0] if self.ndim else 1, -1))

    def transpose(self, axes=None):
        if not axes:
            return self._new(self.tensor.permute(*reversed(range(self.ndim))).contiguous())
        return self._new(self.tensor.permute(*axes).contiguous())

    def swapaxes(self, dim1, dim2):
        return self._new(self.tensor.transpose(dim1, dim2).contiguous())

    def broadcast_to(self, shape):
        """A copy repeated along the axes of size 1 (missing leading axes count as 1)."""
        shape = as_shape("broadcast_to: shape", shape)
        padded = (1,) * (len(shape) - self.ndim) + self.shape
        if len(shape) < self.ndim or any(s != d and s != 1 for s, d in zip(padded, shape)):
            raise ValueError(f"operands could not be broadcast together with remapped shapes"
                             f"[original->remapped]: {self.shape} and requested shape {shape}")
        return self._new(self.tensor.reshape(padded).expand(*shape).contiguous())

    def slice(self, begin, end, step=()):
        """A copy of `self[begin[0]:end[0]:step[0], ...]` over the first len(begin) axes
        (None for an open end, negative steps allowed), as MXNet's slice operator; a range
        that selects nothing is an MXNetError, as in MXNet."""
        begin, end, step = tuple(begin), tuple(end), tuple(step or ())
        if len(begin) != len(end) or len(begin) > self.ndim or len(step) > len(begin):
            raise MXNetError(f"slice: begin {begin}, end {end} and step {step} must have "
                             f"one entry per sliced axis (at most {self.ndim}), step at most "
                             f"as many")
        out = self.tensor
        for axis, (b, e) in enumerate(zip(begin, end)):
            s = step[axis] if axis < len(step) and step[axis] is not None else 1
            if s == 0:
                raise MXNetError(f"slice: step of axis {axis} must not be 0")
            picked = range(*slice(b, e, s).indices(out.shape[axis]))
            if not picked:
                raise MXNetError(f"slice: begin {b}, end {e} and step {s} select nothing of "
                                 f"axis {axis} (size {out.shape[axis]})")
            index = torch.tensor(picked, dtype=torch.long, device=out.device)
            out = out.index_select(axis, index)
        return self._new(out.contiguous())

    def tostype(self, stype):
        """A copy in storage type `stype`; bucketmod arrays are dense, so only 'default'."""
        if stype == "default":
            return self.copy()
        if stype in ("csr", "row_sparse"):
            raise MXNetError(f"tostype: bucketmod has dense storage only, so {stype!r} is not "
                             f"available; use 'default'")
        raise MXNetError(f"tostype: invalid stype {stype!r}, valid values are 'csr', "
                         f"'default', 'row_sparse'")

    # -- reductions and elementwise helpers ------------------------------------------------
    def _reduce(self, fn, axis, keepdims):
        t = self.tensor
        if axis is None or axis == ():
            out = fn(t.reshape(-1), 0)
            if keepdims:
                out = out.reshape((1,) * self.ndim)
        else:
            axes = (axis,) if isinstance(axis, int) else tuple(axis)
            out = t
            for ax in sorted((a % self.ndim for a in axes), reverse=True):
                out = fn(out, ax)
                if keepdims:
                    out = out.unsqueeze(ax)
        return self._new(out.reshape(1) if out.dim() == 0 else out)

    def sum(self, axis=None, keepdims=False):
        return self._reduce(lambda t, a: t.sum(a), axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return self._reduce(lambda t, a: t.mean(a), axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return self._reduce(lambda t, a: t.amax(a), axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return self._reduce(lambda t, a: t.amin(a), axis, keepdims)

    def prod(self, axis=None, keepdims=False):
        return self._reduce(lambda t, a: t.prod(a), axis, keepdims)

    def norm(self):
        return self._new(self.tensor.float().norm().reshape(1).to(self.tensor.dtype))

    def argmax(self, axis=None, keepdims=False):
        return self._reduce(lambda t, a: t.argmax(a).to(self.tensor.dtype), axis, keepdims)

    def argmin(self, axis=None, keepdims=False):
        return self._reduce(lambda t, a: t.argmin(a).to(self.tensor.dtype), axis, keepdims)

    def abs(self):
        return self._new(self.tensor.abs())

    def exp(self):
        return self._new(self.tensor.exp())

    def log(self):
        return self._new(self.tensor.log())

    def sqrt(self):
        return self._new(self.tensor.sqrt())

    def square(self):
        return self._new(self.tensor.square())

    def clip(self, a_min, a_max):
        return self._new(self.tensor.clamp(a_min, a_max))

    def sign(self):
        return self._new(self.tensor.sign())

    def zeros_like(self):
        return self._new(torch.zeros_like(self.tensor))

    def ones_like(self):
        return self._new(torch.ones_like(self.tensor))

    # -- indexing --------------------------------------------------------------------------
    def __getitem__(self, key):
        key = _index_key(key)
        out = self.tensor[key]
        if out.dim() == 0:
            out = out.reshape(1)
        elif not out.is_contiguous():
            out = out.clone()  # MXNet shares memory only for contiguous results, like a[1:3]
        return self._new(out)

    def __setitem__(self, key, value):
        key = _index_key(key)
        with torch.no_grad():
            if isinstance(value, numbers.Number):
                self.tensor[key] = value
            else:
                src = as_tensor(value, dtype=self.tensor.dtype, device=self.tensor.device)
                target = self.tensor[key]
                if src.shape != target.shape and src.numel() == target.numel() \
                        and src.dim() != target.dim():
                    src = src.reshape(target.shape)
                self.tensor[key] = src

    # -- arithmetic ------------------------------------------------------------------------
    def _new(self, tensor):
        return NDArray(tensor, self._ctx)

    def _binary(self, other, fn, reverse=False):
        a = self.tensor
        b = _scalar_as(a, other) if isinstance(other, numbers.Number) else as_tensor(
            other, dtype=a.dtype, device=a.device)
        return self._new(fn(b, a) if reverse else fn(a, b))

    def _inplace(self, other, fn):
        b = _scalar_as(self.tensor, other) if isinstance(other, numbers.Number) else as_tensor(
            other, dtype=self.tensor.dtype, device=self.tensor.device)
        with torch.no_grad():
            fn(self.tensor, b)
        return self

    def _compare(self, other, fn):
        return self._binary(other, lambda a, b: fn(a, b).to(a.dtype))

    def __add__(self, o): return self._binary(o, torch.add)
    def __radd__(self, o): return self._binary(o, torch.add, True)
    def __sub__(self, o): return self._binary(o, torch.sub)
    def __rsub__(self, o): return self._binary(o, lambda a, b: a - b, True)
    def __mul__(self, o): return self._binary(o, torch.mul)
    def __rmul__(self, o): return self._binary(o, torch.mul, True)
    def __truediv__(self, o): return self._binary(o, _div)
    def __rtruediv__(self, o): return self._binary(o, _div, True)
    def __mod__(self, o): return self._binary(o, torch.remainder)
    def __rmod__(self, o): return self._binary(o, torch.remainder, True)
    def __pow__(self, o): return self._binary(o, _pow)
    def __rpow__(self, o): return self._binary(o, _pow, True)
    def __neg__(self): return self._new(-self.tensor)
    def __abs__(self): return self.abs()
    def __iadd__(self, o): return self._inplace(o, lambda a, b: a.add_(b))
    def __isub__(self, o): return self._inplace(o, lambda a, b: a.sub_(b))
    def __imul__(self, o): return self._inplace(o, lambda a, b: a.mul_(b))
    def __itruediv__(self, o): return self._inplace(o, _idiv)
    def __imod__(self, o): return self._inplace(o, lambda a, b: a.copy_(torch.remainder(a, b)))
    def __eq__(self, o): return self._compare(o, torch.eq)
    def __ne__(self, o): return self._compare(o, torch.ne)
    def __lt__(self, o): return self._compare(o, torch.lt)
    def __le__(self, o): return self._compare(o, torch.le)
    def __gt__(self, o): return self._compare(o, torch.gt)
    def __ge__(self, o): return self._compare(o, torch.ge)

    __hash__ = object.__hash__

    def __repr__(self):
        shape = "x".join(str(s) for s in self.shape)
        return f"\n{self.asnumpy()}\n<NDArray {shape} @{self._ctx}>"


def _scalar_as(tensor, value):
    """MXNet casts a scalar operand to the array's dtype (C++ cast: 1.7 -> 1 for int arrays)."""
    if tensor.is_floating_point():
        return value
    if tensor.dtype == torch.bool:
        return bool(value)
    return int(value)


def _idiv(a, b):
    if a.is_floating_point():
        return a.div_(b)
    return a.div_(b, rounding_mode="trunc")


def _div(a, b):
    t = a if isinstance(a, torch.Tensor) else b
    if not t.is_floating_point():
        a = a if isinstance(a, torch.Tensor) else torch.tensor(a, dtype=t.dtype, device=t.device)
        return torch.div(a, b, rounding_mode="trunc").to(t.dtype)
    return a / b


def _pow(a, b):
    return torch.pow(a, b)


def _index_key(key):
    if isinstance(key, NDArray):
        return key.tensor.long()
    if isinstance(key, tuple):
        return tuple(k.tensor.long() if isinstance(k, NDArray) else k for k in key)
    if isinstance(key, np.ndarray):
        return torch.as_tensor(key).long()
    return key


def as_ndarray(value, arg="array"):
    """NDArray, torch.Tensor or numpy array -> an NDArray sharing its memory, so that writes
    (an optimizer's update, an initializer's fill) show through to the caller's array."""
    if isinstance(value, NDArray):
        return value
    if isinstance(value, torch.Tensor):
        return NDArray(value)
    if isinstance(value, np.ndarray):
        return NDArray(torch.from_numpy(value))
    raise TypeError(f"{arg}: expected an NDArray, torch.Tensor or numpy array, "
                    f"got {type(value).__name__}")


def as_tensor(value, dtype=None, device=None):
    """NDArray, torch.Tensor, numpy array, list or scalar -> torch.Tensor (no copy if possible).

    A numpy or list source becomes float32 unless `dtype` is given, as `mx.nd.array` does.
    """
    if isinstance(value, NDArray):
        t = value.tensor
    elif isinstance(value, torch.Tensor):
        t = value
    else:
        if dtype is None:
            dtype = DEFAULT_DTYPE
        if isinstance(value, np.ndarray) or isinstance(value, (list, tuple, numbers.Number)) \
                or hasattr(value, "__array__"):
            arr = np.asarray(value)
            tdt = to_torch_dtype(dtype)
            if tdt == torch.bfloat16:
                t = torch.as_tensor(arr.astype(np.float32)).to(tdt)
            else:
                t = torch.as_tensor(np.ascontiguousarray(arr, dtype=to_numpy_dtype(dtype)))
        else:
            raise TypeError(f"expected an NDArray, torch.Tensor, numpy array or list, "
                            f"got {type(value).__name__}")
    if dtype is not None and t.dtype != to_torch_dtype(dtype):
        t = t.to(to_torch_dtype(dtype))
    if device is not None and t.device != torch.device(device):
        t = t.to(device)
    return t


def _ctx_and_dtype(ctx, dtype):
    ctx = ctx if ctx is not None else current_context()
    if isinstance(ctx, str):
        ctx = Context(ctx)
    return ctx, to_torch_dtype(dtype if dtype is not None else DEFAULT_DTYPE)


def array(source_array, ctx=None, dtype=None):
    """An NDArray copied from any array-like; float32 unless `dtype` is given (an NDArray or
    tensor source keeps its dtype)."""
    ctx = ctx if ctx is not None else (
        source_array.context if isinstance(source_array, NDArray) else current_context())
    if dtype is None and isinstance(source_array, (NDArray, torch.Tensor)):
        dtype = as_tensor(source_array).dtype
    t = as_tensor(source_array, dtype=dtype if dtype is not None else DEFAULT_DTYPE)
    t = t.detach().to(ctx.torch_device, copy=True)
    return NDArray(t, ctx)


def from_tensor(tensor, ctx=None):
    """Wrap a torch tensor without copying."""
    return NDArray(tensor, ctx)


def _shape(shape, what="shape"):
    return as_shape(what, shape)


def empty(shape, ctx=None, dtype=None):
    ctx, dt = _ctx_and_dtype(ctx, dtype)
    return NDArray(torch.empty(_shape(shape, "empty: shape"), dtype=dt,
                               device=ctx.torch_device), ctx)


def zeros(shape, ctx=None, dtype=None, **kwargs):
    ctx, dt = _ctx_and_dtype(ctx, dtype)
    return NDArray(torch.zeros(_shape(shape, "zeros: shape"), dtype=dt,
                               device=ctx.torch_device), ctx)


def ones(shape, ctx=None, dtype=None, **kwargs):
    ctx, dt = _ctx_and_dtype(ctx, dtype)
    return NDArray(torch.ones(_shape(shape, "ones: shape"), dtype=dt,
                              device=ctx.torch_device), ctx)


def full(shape, val, ctx=None, dtype=None, out=None):
    ctx, dt = _ctx_and_dtype(ctx, dtype)
    res = NDArray(torch.full(_shape(shape, "full: shape"), val, dtype=dt,
                             device=ctx.torch_device), ctx)
    if out is not None:
        out[:] = res
        return out
    return res


def arange(start, stop=None, step=1.0, repeat=1, infer_range=None, ctx=None, dtype=None):
    ctx, dt = _ctx_and_dtype(ctx, dtype)
    if stop is None:
        start, stop = 0, start
    vals = np.arange(start, stop, step, dtype=np.float64)
    if repeat > 1:
        vals = np.repeat(vals, repeat)
    return NDArray(torch.as_tensor(vals).to(dt).to(ctx.torch_device), ctx)


def _ensure(x):
    return x if isinstance(x, NDArray) else array(x)


def concat(*data, dim=1, out=None, **kwargs):
    if "num_args" in kwargs:
        kwargs.pop("num_args")
    if kwargs:
        raise TypeError(f"concat: unknown arguments {sorted(kwargs)}")
    if len(data) == 1 and isinstance(data[0], (list, tuple)):
        data = tuple(data[0])
    arrays = [_ensure(d) for d in data]
    try:
        res = NDArray(torch.cat([a.tensor for a in arrays], dim=dim), arrays[0].context)
    except (RuntimeError, IndexError) as err:
        raise MXNetError(f"concat: cannot join shapes {[a.shape for a in arrays]} along dim "
                         f"{dim}: every other dim must match") from err
    if out is not None:
        out[:] = res
        return out
    return res


def concatenate(arrays, axis=0, always_copy=True):
    """The arrays (same dtype, same shape but along `axis`) joined along `axis` (MXNet's older
    form of `concat`); with `always_copy=False` a single array comes back as itself."""
    if not isinstance(arrays, list) or not arrays or not all(
            isinstance(a, NDArray) for a in arrays):
        raise AssertionError("concatenate: arrays must be a non-empty list of NDArrays")
    if not always_copy and len(arrays) == 1:
        return arrays[0]
    first = arrays[0]
    axis = axis % first.ndim if first.ndim else axis
    for a in arrays[1:]:
        if a.dtype != first.dtype or a.shape[:axis] != first.shape[:axis] or \
                a.shape[axis + 1:] != first.shape[axis + 1:]:
            raise AssertionError(f"concatenate: every array needs dtype {first.dtype.__name__} "
                                 f"and shape {first.shape} except along axis {axis}, got "
                                 f"{a.dtype.__name__} {a.shape}")
    return NDArray(torch.cat([a.tensor for a in arrays], dim=axis), first.context)


def onehot_encode(indices, out):
    """Write the one-hot rows of `indices` (`[N]`, truncated to ints) into `out` (`[N, depth]`,
    float32) and return `out`; an index outside [0, depth) gives a row of zeros, as MXNet."""
    if out.ndim != 2 or indices.shape != (out.shape[0],):
        raise MXNetError(f"onehot_encode: indices must have shape (N,) and out (N, depth), "
                         f"got {indices.shape} and {out.shape}")
    if out.tensor.dtype != torch.float32:
        raise MXNetError(f"onehot_encode: out must be float32, got {dtype_name(out.dtype)}")
    idx = indices.tensor.to(out.tensor.device).long()
    valid = (idx >= 0) & (idx < out.shape[1])
    hot = torch.zeros(out.shape, dtype=out.tensor.dtype, device=out.tensor.device)
    rows = torch.arange(out.shape[0], device=hot.device)
    hot[rows[valid], idx[valid]] = 1.0
    with torch.no_grad():
        out.tensor.copy_(hot)
    return out


def dot(lhs, rhs, transpose_a=False, transpose_b=False):
    a, b = _ensure(lhs).tensor, _ensure(rhs).tensor
    if transpose_a:
        a = a.t() if a.dim() == 2 else a.permute(*reversed(range(a.dim())))
    if transpose_b:
        b = b.t() if b.dim() == 2 else b.permute(*reversed(range(b.dim())))
    if a.dim() == 1 and b.dim() == 1:
        return NDArray((a * b).sum().reshape(1), _ensure(lhs).context)
    try:
        out = torch.tensordot(a, b, dims=1)
    except RuntimeError as err:
        raise MXNetError(f"dot: the last dim of lhs {tuple(a.shape)} must equal the first dim of "
                         f"rhs {tuple(b.shape)} (after transpose_a={transpose_a}, "
                         f"transpose_b={transpose_b})") from err
    return NDArray(out, _ensure(lhs).context)


def waitall():
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def dtype_str(arr):
    return dtype_name(arr.tensor.dtype)
