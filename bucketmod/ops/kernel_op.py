"""A user's own kernel as an operator: its torch reference and (optionally) a Triton forward and
backward, registered together so that `BUCKETMOD_BACKEND` chooses between them like it does for
the built-in kernels. `mx.operator.register_kernel` is the public face; see its docstring.
"""
import warnings

import torch

from ..backend import use_triton
from ..base import MXNetError
from .params import Param
from .registry import OpDef, exists, register

_KERNEL_OPS = {}
_PARAM_TYPES = ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (tuple, "shape"))


def _param(name, value):
    if isinstance(value, Param):
        return value
    for cls, type_name in _PARAM_TYPES:
        if isinstance(value, cls):
            return Param(type_name, value)
    raise TypeError(f"register_kernel: parameter {name!r} needs a default of type bool, int, "
                    f"float, str or tuple (or a bucketmod.ops.params.Param), got {value!r}")


def _as_tuple(value):
    return (value,) if isinstance(value, torch.Tensor) else tuple(value)


def _elementwise(in_shapes, **params):
    first = in_shapes[0]
    return [first] * len(in_shapes), None


class _Spec:
    """One registered kernel op: the user's functions and what they are declared to take."""

    def __init__(self, name, reference, forward, backward, arguments, outputs, infer_shape):
        self.name, self.reference, self.forward, self.backward = name, reference, forward, backward
        self.arguments, self.outputs = list(arguments), list(outputs)
        self.infer_shape = infer_shape

    def kernel_outputs(self, inputs, p):
        result = self.forward(*inputs, **p)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise MXNetError(f"{self.name}: the forward kernel must return (outputs, saved), "
                             f"got {type(result).__name__}")
        outs, saved = _as_tuple(result[0]), tuple(result[1])
        self.check_count("forward kernel", outs)
        return outs, saved

    def check_count(self, what, outs):
        if len(outs) != len(self.outputs):
            raise MXNetError(f"{self.name}: the {what} returned {len(outs)} outputs, the op "
                             f"declares {len(self.outputs)} ({self.outputs})")

    def run_reference(self, inputs, p):
        outs = _as_tuple(self.reference(*inputs, **p))
        self.check_count("reference", outs)
        return list(outs)


class KernelFunction(torch.autograd.Function):
    """The kernel pair as one autograd node. Without a backward kernel, the gradient comes from
    the reference, recomputed from the saved inputs under autograd."""

    @staticmethod
    def forward(ctx, spec, p, *inputs):
        outs, saved = spec.kernel_outputs(inputs, p)
        ctx.spec, ctx.p = spec, p
        ctx.save_for_backward(*(saved if spec.backward is not None else inputs))
        return outs

    @staticmethod
    def backward(ctx, *grads):
        spec, p, need = ctx.spec, ctx.p, ctx.needs_input_grad[2:]
        if spec.backward is not None:
            result = _as_tuple(spec.backward(tuple(ctx.saved_tensors), *grads, **p))
        else:
            with torch.enable_grad():
                xs = [x.detach().requires_grad_(n) for x, n in zip(ctx.saved_tensors, need)]
                outs = spec.run_reference(xs, p)
                wanted = [x for x in xs if x.requires_grad]
                pairs = [(o, g) for o, g in zip(outs, grads) if o.requires_grad]
                found = iter(torch.autograd.grad([o for o, _ in pairs], wanted,
                                                 [g for _, g in pairs], allow_unused=True)
                             if pairs and wanted else [None] * len(wanted))
                result = tuple(next(found) if x.requires_grad else None for x in xs)
        if len(result) != len(need):
            raise MXNetError(f"{spec.name}: the backward kernel returned {len(result)} "
                             f"gradients for {len(need)} arguments {spec.arguments}")
        return (None, None, *[g if n else None for g, n in zip(result, need)])


def _forward(spec):
    def forward(p, inputs, aux, is_train):
        if spec.forward is not None and use_triton(inputs[0]):
            return list(KernelFunction.apply(spec, p, *inputs))
        return spec.run_reference(inputs, p)
    return forward


def _shape_rule(spec):
    def infer(p, s):
        if s[0] is None:
            return s, [None] * len(spec.outputs)
        ins, outs = spec.infer_shape(list(s), **p)
        outs = [s[0]] * len(spec.outputs) if outs is None else list(outs)
        return [None if x is None else tuple(x) for x in ins], \
            [None if x is None else tuple(x) for x in outs]
    return infer


def register_kernel(name, reference, forward=None, backward=None, arguments=("data",),
                    outputs=("output",), params=None, infer_shape=None):
    """Register an operator `name` made of a torch reference and, optionally, a kernel.

    The op appears as `mx.sym.<name>` and `mx.nd.<name>` and runs in every executor, Module and
    bucket like a built-in one. `BUCKETMOD_BACKEND` (or `mx.set_backend`) picks the kernel or the
    reference, as it does for bucketmod's own kernels: `auto` runs the kernel on CUDA tensors
    and the reference on CPU tensors; `triton` always runs the kernel (on the CPU through
    `TRITON_INTERPRET=1`); `torch` always runs the reference.

    Args:
        name: the operator's name (not one of the built-in operators).
        reference: `reference(*inputs, **params)` -> a tensor or a tuple of tensors, in torch,
            differentiable by autograd. It defines what the op computes.
        forward: `forward(*inputs, **params)` -> `(outputs, saved)`, the kernel's launcher:
            `outputs` a tensor or tuple of tensors, `saved` a tuple of tensors for `backward`.
        backward: `backward(saved, *grad_outputs, **params)` -> one gradient per argument (a
            tensor, or None where there is none). Without it, gradients come from the
            reference, recomputed from the inputs.
        arguments, outputs: the names of the inputs and outputs (MXNet names each input
            variable `<node>_<argument>` when it is not given).
        params: `{name: default}` (type from the default: bool, int, float, str or tuple), or
            `{name: Param(type_name)}` for a required one; they reach the functions as keyword
            arguments.
        infer_shape: `infer_shape(in_shapes, **params)` -> `(in_shapes, out_shapes)`, called
            once the first argument's shape is known (other entries may be None; fill them to
            infer e.g. a weight's shape); `out_shapes` None means each output has the first
            argument's shape. By default every input and output has the first's shape.

    Returns:
        The registered `OpDef`.

    Example:
        >>> mx.operator.register_kernel("scaled_tanh", reference=lambda x, alpha: torch.tanh(
        ...     alpha * x), forward=scaled_tanh_fwd, backward=scaled_tanh_bwd,
        ...     params={"alpha": 1.0})
        >>> y = mx.sym.scaled_tanh(mx.sym.var("x"), alpha=2.0)
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"register_kernel: name must be a Python identifier, got {name!r}")
    if exists(name) and name not in _KERNEL_OPS:
        raise ValueError(f"register_kernel: {name!r} is a built-in operator; choose another "
                         f"name")
    if not callable(reference):
        raise TypeError("register_kernel: reference must be a callable torch function")
    if backward is not None and forward is None:
        raise ValueError("register_kernel: a backward kernel needs a forward kernel")
    if name in _KERNEL_OPS:
        warnings.warn(f"register_kernel: {name!r} is registered again; the new definition "
                      f"replaces the old", stacklevel=2)
        _forget_namespace_functions(name)
    spec = _Spec(name, reference, forward, backward, arguments, outputs,
                 infer_shape or _elementwise)
    schema = {k: _param(k, v) for k, v in (params or {}).items()}
    opdef = register(OpDef(
        name=name, params=schema, forward=_forward(spec), infer_shape=_shape_rule(spec),
        arguments=lambda p: list(spec.arguments), outputs=lambda p: list(spec.outputs)))
    _KERNEL_OPS[name] = spec
    return opdef


def _forget_namespace_functions(name):
    """mx.sym/mx.nd cache an op's function on first use; a re-registered op gets fresh ones."""
    import sys
    for module in ("bucketmod.symbol", "bucketmod.ndarray"):
        namespace = sys.modules.get(module)
        if namespace is not None:
            vars(namespace).pop(name, None)
