"""Executor: a symbol bound to arrays. Runs the graph node by node through the operator registry;
gradients come from torch autograd over those forwards.

Memory: an executor built with `shared_exec` holds the very same NDArrays for the parameters it
shares (same storage), and takes every other buffer (data, labels, their gradients) as a view of
the shared executor's buffer of the same name where it fits, so binding more buckets costs no
memory beyond what the largest one allocated. `total_exec_bytes` counts what it allocated itself.
"""
import os

import numpy as np
import torch

from .arena import OutputArena
from .base import MXNetError
from .context import Context, current_context
from .dtype import to_torch_dtype
from .ndarray.ndarray import NDArray, as_tensor
from .program import Program
from .symbol import graph, passes

GRAD_REQS = ("write", "add", "null")
# Graph rewrites (fused LSTM cells) at bind; BUCKETMOD_FUSE=0 runs every node as declared.
FUSE_GRAPHS = os.environ.get("BUCKETMOD_FUSE", "1") != "0"


def normalize_grad_req(grad_req, arg_names):
    """'write' | list | dict -> {arg name: req}, the one form used below the public API."""
    if isinstance(grad_req, str):
        reqs = {n: grad_req for n in arg_names}
    elif isinstance(grad_req, (list, tuple)):
        if len(grad_req) != len(arg_names):
            raise ValueError(f"grad_req: a list needs one entry per argument ({len(arg_names)}: "
                             f"{arg_names}), got {len(grad_req)}")
        reqs = dict(zip(arg_names, grad_req))
    elif isinstance(grad_req, dict):
        unknown = set(grad_req) - set(arg_names)
        if unknown:
            raise ValueError(f"grad_req: unknown arguments {sorted(unknown)}; arguments are "
                             f"{arg_names}")
        reqs = {n: grad_req.get(n, "null") for n in arg_names}
    else:
        raise TypeError(f"grad_req: expected a str, list or dict, got {type(grad_req).__name__}")
    for name, req in reqs.items():
        if req not in GRAD_REQS:
            raise ValueError(f"grad_req for {name}: expected one of {GRAD_REQS}, got {req!r}")
    return reqs


def _arrays_by_name(what, given, names, ctx, allow_missing):
    """list (in `names` order) or dict of arrays -> {name: NDArray} on `ctx`."""
    if given is None:
        given = {}
    if isinstance(given, (list, tuple)):
        if len(given) != len(names):
            raise ValueError(f"{what}: a list needs {len(names)} arrays ({names}), "
                             f"got {len(given)}")
        given = dict(zip(names, given))
    if not isinstance(given, dict):
        raise TypeError(f"{what}: expected a list or dict of arrays, got {type(given).__name__}")
    out = {}
    for name in names:
        arr = given.get(name)
        if arr is None:
            if not allow_missing:
                raise ValueError(f"{what}: no array given for {name!r}")
            continue
        out[name] = arr if isinstance(arr, NDArray) else NDArray(
            as_tensor(arr, device=ctx.torch_device), ctx)
    return out


_ENGINE_RUN_BACKWARD = getattr(getattr(torch.autograd, "graph", None), "_engine_run_backward", None)


def _backward(heads, head_grads):
    """`torch.autograd.backward(heads, head_grads)` for head gradients already checked against
    their heads (shape, dtype, device): straight into the engine where this torch has the
    entry point that `torch.autograd.backward` calls after its per-call checks."""
    if _ENGINE_RUN_BACKWARD is None:
        torch.autograd.backward(heads, head_grads)
        return
    _ENGINE_RUN_BACKWARD(tuple(heads), tuple(head_grads), False, False, (),
                         allow_unreachable=True, accumulate_grad=True)


class Executor:
    """A bound symbol. Use `Symbol.bind`/`simple_bind` to make one."""

    def __init__(self, symbol, ctx, args, args_grad=None, grad_req="write", aux_states=None,
                 owned_bytes=None, arena=None):
        self._symbol = symbol
        self._ctx = ctx if isinstance(ctx, Context) else Context(ctx or current_context())
        self._arg_names = symbol.list_arguments()
        self._aux_names = symbol.list_auxiliary_states()
        self._output_names = symbol.list_outputs()
        self._grad_req = normalize_grad_req(grad_req, self._arg_names)
        self.arg_dict = _arrays_by_name("args", args, self._arg_names, self._ctx, False)
        grads = _arrays_by_name("args_grad", args_grad, self._arg_names, self._ctx, True)
        self.grad_dict = {n: grads.get(n) for n in self._arg_names
                          if self._grad_req[n] != "null" and grads.get(n) is not None}
        for n in self._arg_names:
            if self._grad_req[n] != "null" and n not in self.grad_dict:
                self._grad_req[n] = "null"
        self.aux_dict = _arrays_by_name("aux_states", aux_states, self._aux_names, self._ctx,
                                        not self._aux_names)
        self._check_grad_shapes()
        self._heads = symbol._outputs
        known = self._bound_shapes()
        heads, shapes = passes.optimize_with_shapes(
            self._heads, known, symbol._entry_shapes(known)) if FUSE_GRAPHS else \
            (self._heads, symbol._entry_shapes(known))
        self._arena = arena if arena is not None else OutputArena()
        self._program = Program(heads, known, self._ctx.torch_device, shapes,
                                fold_constants=FUSE_GRAPHS, arena=self._arena)
        self._plain_program = None  # the graph as declared, every node run: for a monitor
        self._bind_gradients()
        self._monitor = None
        self._monitor_all = False
        self._graph = None
        self._head_ones = None
        self.outputs = []
        self._owned_bytes = owned_bytes if owned_bytes is not None else sum(
            a.tensor.numel() * a.tensor.element_size() for a in self._all_arrays())

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def simple_bind(cls, symbol, ctx, grad_req, type_dict, shape_dict, shared_exec=None,
                    shared_arg_names=None):
        ctx = ctx if isinstance(ctx, Context) else Context(ctx or current_context())
        arg_shapes, _, aux_shapes = symbol.infer_shape(**shape_dict)
        if arg_shapes is None:
            partial, _, _ = symbol.infer_shape_partial(**shape_dict)
            missing = [f"{n}: {s}" for n, s in zip(symbol.list_arguments(), partial)
                       if not s or not graph.is_known(s)]
            raise MXNetError("simple_bind: cannot infer the shapes of " + ", ".join(missing)
                             + "; give them as keyword shapes")
        known_types = {k: v for k, v in type_dict.items()}
        arg_types, _, aux_types = symbol.infer_type(**known_types) if known_types else (
            None, None, None)
        arg_names, aux_names = symbol.list_arguments(), symbol.list_auxiliary_states()
        if arg_types is None:
            arg_types = [known_types.get(n, np.float32) for n in arg_names]
            aux_types = [np.float32] * len(aux_names)
        reqs = normalize_grad_req(grad_req, arg_names)
        shared_names = set(shared_arg_names or [])
        pool = _BufferPool(shared_exec, ctx)
        args, grads, aux = {}, {}, {}
        for name, shape, dt in zip(arg_names, arg_shapes, arg_types):
            if name in shared_names and shared_exec is not None:
                args[name] = pool.share(name, shape, shared_exec.arg_dict)
                if reqs[name] != "null":
                    grads[name] = pool.share(name, shape, shared_exec.grad_dict)
                continue
            args[name] = pool.take(name, shape, dt, "arg")
            if reqs[name] != "null":
                grads[name] = pool.take(name, shape, dt, "grad")
        for name, shape, dt in zip(aux_names, aux_shapes, aux_types):
            if name in shared_names and shared_exec is not None:
                aux[name] = pool.share(name, shape, shared_exec.aux_dict)
            else:
                aux[name] = pool.take(name, shape, dt, "aux")
        return cls(symbol, ctx, args, grads, reqs, aux, owned_bytes=pool.allocated_bytes,
                   arena=shared_exec._arena if shared_exec is not None else None)

    def _all_arrays(self):
        return list(self.arg_dict.values()) + list(self.grad_dict.values()) + list(
            self.aux_dict.values())

    def _bound_shapes(self):
        known = {n: a.shape for n, a in self.arg_dict.items()}
        known.update({n: a.shape for n, a in self.aux_dict.items()})
        return known

    def _bind_gradients(self):
        """One autograd leaf per argument with a gradient, made once: it shares the argument's
        storage, and its `.grad` is the bound gradient array, so backward accumulates straight
        into it (write: zeroed first in one multi-tensor call)."""
        self._leaves = {}
        for name, grad in self.grad_dict.items():
            arg = self.arg_dict[name].tensor
            if not arg.is_floating_point():
                continue
            leaf = arg.detach().requires_grad_(True)
            leaf.grad = grad.tensor
            self._leaves[name] = leaf
        self._write_grads = [g.tensor for n, g in self.grad_dict.items()
                             if self._grad_req[n] == "write"]
        values = {n: a.tensor for n, a in self.arg_dict.items()}
        values.update({n: a.tensor for n, a in self.aux_dict.items()})
        self._infer_values = values
        self._train_values = dict(values, **self._leaves)
        self._filled_slots = {}  # (program, is_train): its slot list with the arrays in place

    def _check_grad_shapes(self):
        for name, arr in self.grad_dict.items():
            if arr.shape != self.arg_dict[name].shape:
                raise ValueError(f"args_grad: gradient of {name} has shape {arr.shape}, the "
                                 f"argument has {self.arg_dict[name].shape}")

    # -- views ------------------------------------------------------------------------------
    @property
    def arg_arrays(self):
        return [self.arg_dict[n] for n in self._arg_names]

    @property
    def grad_arrays(self):
        return [self.grad_dict.get(n) for n in self._arg_names]

    @property
    def aux_arrays(self):
        return [self.aux_dict[n] for n in self._aux_names]

    @property
    def output_dict(self):
        return dict(zip(self._output_names, self.outputs))

    @property
    def grad_req(self):
        return dict(self._grad_req)

    @property
    def total_exec_bytes(self):
        """Bytes of argument, gradient and aux memory this executor allocated (not borrowed)."""
        return self._owned_bytes

    def set_monitor_callback(self, callback, monitor_all=False):
        """Call `callback(name, NDArray)` on every operator output (and input, if monitor_all)
        during forward."""
        self._monitor = callback
        self._monitor_all = monitor_all

    # -- computation ------------------------------------------------------------------------
    def forward(self, is_train=False, **kwargs):
        """Run the graph. Keyword arrays are copied into the arguments of those names first."""
        for name, value in kwargs.items():
            if name not in self.arg_dict:
                raise TypeError(f"Unknown argument {name}")
            target = self.arg_dict[name]
            src = value.tensor if isinstance(value, NDArray) else as_tensor(value)
            if tuple(src.shape) != target.shape:
                raise ValueError(f"Shape not match! Argument {name}, need: {target.shape}, "
                                 f"received: {tuple(src.shape)}")
            with torch.no_grad():
                target.tensor.copy_(src)
        self.release_outputs()  # the last outputs need not live through this forward
        train = is_train and bool(self._leaves)
        program, observe = self._program, None
        if self._monitor is not None:
            if self._plain_program is None:
                self._plain_program = Program(self._heads, self._bound_shapes(),
                                              self._ctx.torch_device, fold_constants=False)
            program, observe = self._plain_program, self._report
        key = (program, train)
        filled = self._filled_slots.get(key)
        if filled is None:
            filled = self._filled_slots[key] = program.slots(
                self._train_values if train else self._infer_values)
        values = filled.copy()
        with torch.set_grad_enabled(train):
            heads = program.run(values, is_train, observe)
        self._graph = heads if train else None
        self.outputs = [NDArray(t.detach(), self._ctx) for t in heads]
        return self.outputs

    def _report(self, step, ins, outs):
        node = step.node
        if self._monitor_all:
            for label, t in zip(node.arg_names + node.aux_names, ins):
                self._monitor(f"{node.name}_{label}", NDArray(t.detach(), self._ctx))
        for i, t in enumerate(outs):
            self._monitor(node.output_name(i), NDArray(t.detach(), self._ctx))

    def backward(self, out_grads=None, is_train=True):
        """Gradients of the last training forward into `grad_dict` (write or add, per grad_req).

        `out_grads` (one array or a list, one per output) is required for outputs that are not
        loss layers; a loss layer's gradient ignores it, as in MXNet.
        """
        if not self.grad_dict:
            return  # nothing needs a gradient: a no-op, as in MXNet
        if self._graph is None:
            raise MXNetError("backward: no training forward to differentiate; call "
                             "forward(is_train=True) first (with some grad_req other than "
                             "'null')")
        out_tensors = self._graph
        if out_grads is not None and not isinstance(out_grads, (list, tuple)):
            out_grads = [out_grads]
        if out_grads is not None and len(out_grads) != len(out_tensors):
            raise MXNetError(f"backward: out_grads has {len(out_grads)} arrays, the symbol has "
                             f"{len(out_tensors)} outputs {self._output_names}")
        heads, head_grads = [], []
        for i, ((node, _), t) in enumerate(zip(self._heads, out_tensors)):
            g = None if out_grads is None else out_grads[i]
            if g is None:
                if node.op is None or not node.op.loss(node.params):
                    raise MXNetError(
                        f"backward: output {self._output_names[i]} is not a loss layer, so its "
                        f"head gradient is required in out_grads (or pass it through MakeLoss)")
                g = self._ones_like_head(i, t)
            else:
                g = g.tensor if isinstance(g, NDArray) else as_tensor(g, device=t.device)
                if tuple(g.shape) != tuple(t.shape):
                    raise MXNetError(f"backward: out_grads[{i}] has shape {tuple(g.shape)}, "
                                     f"output {self._output_names[i]} has {tuple(t.shape)}")
                g = g.to(t.dtype)
            if t.requires_grad:
                heads.append(t)
                head_grads.append(g)
        self._graph = None
        with torch.no_grad():
            if self._write_grads:
                torch._foreach_zero_(self._write_grads)
        if heads:
            _backward(heads, head_grads)

    def release_outputs(self):
        """Forget the last forward: its outputs and, if not yet differentiated, its graph."""
        self.outputs = []
        self._graph = None

    def _ones_like_head(self, i, t):
        """The head gradient of a loss output (its backward ignores it), made once."""
        if self._head_ones is None:
            self._head_ones = {}
        ones = self._head_ones.get(i)
        if ones is None or ones.shape != t.shape or ones.dtype != t.dtype:
            ones = torch.ones((), dtype=t.dtype, device=t.device).expand_as(t)
            self._head_ones[i] = ones
        return ones

    # -- reshaping and parameters -----------------------------------------------------------
    def reshape(self, partial_shaping=False, allow_up_sizing=False, **kwargs):
        """A new executor for new input shapes, sharing parameters and this one's memory."""
        new_shapes = {n: a.shape for n, a in self.arg_dict.items()}
        new_shapes.update({k: tuple(v) for k, v in kwargs.items()})
        arg_shapes, _, aux_shapes = self._symbol.infer_shape(**{
            k: v for k, v in new_shapes.items() if k in kwargs or partial_shaping is False})
        if arg_shapes is None:
            raise MXNetError(f"reshape: cannot infer all shapes from {kwargs}")
        same = [n for n, s in zip(self._arg_names, arg_shapes) if self.arg_dict[n].shape == s]
        same += [n for n, s in zip(self._aux_names, aux_shapes) if self.aux_dict[n].shape == s]
        for n, s in zip(self._arg_names, arg_shapes):
            old = self.arg_dict[n]
            if n not in same and int(np.prod(s)) > old.size and not allow_up_sizing:
                raise MXNetError(f"reshape: new shape of {n} {s} is larger than the original "
                                 f"{old.shape}; set allow_up_sizing=True")
            if n not in same and n not in kwargs and not partial_shaping:
                raise MXNetError(f"reshape: the shape of {n} changes from {old.shape} to {s}, "
                                 f"which kwargs do not name; set partial_shaping=True")
        types = {n: a.dtype for n, a in self.arg_dict.items()}
        return Executor.simple_bind(self._symbol, self._ctx, self._grad_req, types,
                                    dict(zip(self._arg_names, arg_shapes)), shared_exec=self,
                                    shared_arg_names=same)

    def copy_params_from(self, arg_params, aux_params=None, allow_extra_params=False):
        for what, params, target in (("arg_params", arg_params, self.arg_dict),
                                     ("aux_params", aux_params or {}, self.aux_dict)):
            for name, value in params.items():
                if name not in target:
                    if allow_extra_params:
                        continue
                    raise ValueError(f"{what}: found name {name!r} that is not in the "
                                     f"arguments; set allow_extra_params=True to skip it")
                dst = target[name]
                src = value.tensor if isinstance(value, NDArray) else as_tensor(value)
                if tuple(src.shape) != dst.shape:
                    raise ValueError(f"{what}: {name} has shape {tuple(src.shape)}, the "
                                     f"executor needs {dst.shape}")
                with torch.no_grad():
                    dst.tensor.copy_(src)

    def debug_str(self):
        lines = [f"Symbol outputs: {self._output_names}"]
        for node in graph.topo_order(self._program.heads):
            kind = "Variable" if node.is_variable else f"Op:{node.op.name}"
            lines.append(f"{kind}, Name={node.name}")
        lines.append(f"Total {self._owned_bytes / 2**20:.3f} MB allocated")
        return "\n".join(lines)


class _BufferPool:
    """Where a binding gets its arrays: the shared executor's memory when it fits, else new."""

    def __init__(self, shared_exec, ctx):
        self._shared = shared_exec
        self._ctx = ctx
        self.allocated_bytes = 0

    def share(self, name, shape, source):
        arr = source.get(name)
        if arr is None:
            raise MXNetError(f"shared_exec has no array for shared argument {name!r}")
        if arr.shape != tuple(shape):
            raise MXNetError(f"shared argument {name!r} has shape {arr.shape} in the shared "
                             f"executor but {tuple(shape)} here")
        return arr

    def take(self, name, shape, dtype, kind):
        dt = to_torch_dtype(dtype)
        numel = int(np.prod(shape)) if len(shape) else 1
        if self._shared is not None:
            source = {"arg": self._shared.arg_dict, "grad": self._shared.grad_dict,
                      "aux": self._shared.aux_dict}[kind]
            base = source.get(name)
            if base is not None and base.tensor.dtype == dt and base.size >= numel \
                    and base.tensor.is_contiguous():
                return NDArray(base.tensor.reshape(-1)[:numel].view(tuple(shape)), self._ctx)
        self.allocated_bytes += numel * torch.empty((), dtype=dt).element_size()
        return NDArray(torch.zeros(tuple(shape), dtype=dt, device=self._ctx.torch_device),
                       self._ctx)
