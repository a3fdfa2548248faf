"""`mx.nd.<Operator>(...)`: every registered operator, run imperatively on NDArrays."""
import numpy as np
import torch

from ..base import MXNetError
from ..context import Context, current_context
from ..ops import all_ops, registry
from ..ops.shape_ops import ShapeMismatch
from .ndarray import NDArray, as_tensor


def _is_array(value):
    return isinstance(value, (NDArray, np.ndarray, torch.Tensor))


def _device_of(parsed, inputs):
    """The context an operator runs in: its inputs', else its `ctx` param ('gpu(1)'), else
    the current one."""
    ctx = next((a.context for a in inputs if isinstance(a, NDArray)), None)
    given = parsed.get("ctx")
    if ctx is None and given:
        if isinstance(given, Context):
            return given
        kind, _, rest = str(given).partition("(")
        ctx = Context(kind, int(rest.rstrip(")") or 0))
    return ctx or current_context()


def invoke(op_name, inputs, params, out=None, is_train=False, named=None):
    """Run one operator on arrays; returns an NDArray or a list of them (several outputs).

    `inputs` are positional, `named` ({input name: array}) fill the inputs after them. Inputs
    the operator mutates (optimizer states) are written in place, as MXNet does.
    """
    opdef = registry.get(op_name)
    params = registry.given_params(opdef, params)
    if opdef.key_var_num_args and opdef.key_var_num_args not in params:
        params[opdef.key_var_num_args] = len(inputs)
    parsed = opdef.parse(params)
    names = opdef.arguments(parsed) + opdef.aux(parsed)
    inputs = list(inputs)
    named = dict(named or {})
    unknown = [k for k in named if k not in names[len(inputs):]]
    if unknown:
        raise TypeError(f"{op_name}: unknown or repeated input {unknown[0]!r}; the inputs of "
                        f"{op_name} here are {names}")
    if len(inputs) > len(names):
        raise TypeError(f"{op_name}: {len(inputs)} inputs given, it takes {len(names)} "
                        f"({names})")
    for name in names[len(inputs):]:
        if name not in named:
            raise TypeError(f"{op_name}: input {name!r} is missing (inputs: {names})")
        inputs.append(named[name])
    ctx = _device_of(parsed, inputs)
    tensors = [a.tensor if isinstance(a, NDArray) else as_tensor(a, device=ctx.torch_device)
               for a in inputs]
    try:
        _, out_shapes = opdef.infer_shape(parsed, [tuple(t.shape) for t in tensors])
    except ShapeMismatch as err:
        given = ", ".join(f"{n} {tuple(t.shape)}" for n, t in zip(names, tensors))
        raise MXNetError(f"Error in operator {op_name} (inputs {given}): shape of input "
                         f"{err.input_name!r} is {err.got}, expected {err.expected}. "
                         f"Shape inconsistent") from None
    if opdef.bind_params is not None:
        parsed = opdef.bind_params(parsed, out_shapes, ctx.torch_device)
    if out is not None and opdef.mutates and not isinstance(out, (list, tuple)):
        parsed = dict(parsed, _out=out.tensor)
    n_args = len(opdef.arguments(parsed))
    with torch.no_grad():
        outs = opdef.forward(parsed, tensors[:n_args], tensors[n_args:], is_train)
    results = [NDArray(t, ctx) for t in outs]
    if out is not None:
        targets = out if isinstance(out, (list, tuple)) else [out]
        for target, res in zip(targets, results):
            target[:] = res
        return out
    return results[0] if len(results) == 1 else results


def make_function(op_name, func_name=None):
    """`mx.nd.<func_name>`: operator `op_name` with MXNet's calling convention."""
    opdef = registry.get(op_name)
    func_name = func_name or op_name

    def op_function(*args, out=None, name=None, **kwargs):
        positional, named, params = registry.split_call(opdef, func_name, args, kwargs,
                                                        _is_array, "NDArray")
        if named and not registry.positional_inputs(opdef):
            # MXNet's imperative functions hand the given inputs over in signature order,
            # skipping those left out (bias with no_bias=True)
            order = registry.signature_inputs(opdef)
            positional = [named.pop(n) for n in order if n in named]
        return invoke(op_name, positional, params, out, named=named)

    op_function.__name__ = func_name
    op_function.__doc__ = registry.doc(opdef, "imperative")
    return op_function


def install(namespace):
    for op_name in all_ops():
        if op_name not in namespace:
            namespace[op_name] = make_function(op_name)
