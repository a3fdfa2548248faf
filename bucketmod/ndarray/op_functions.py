"""`mx.nd.<Operator>(...)`: every registered operator, run imperatively on NDArrays."""
import torch

from ..ops import all_ops, registry
from .ndarray import NDArray, as_tensor


def invoke(op_name, inputs, params, out=None, is_train=False):
    """Run one operator on arrays; returns an NDArray or a list of them (several outputs)."""
    opdef = registry.get(op_name)
    if opdef.variadic and opdef.variadic not in params:
        params = dict(params, **{opdef.variadic: len(inputs)})
    parsed = opdef.parse({k: v for k, v in params.items() if v is not None})
    n_args = len(opdef.arguments(parsed))
    ctx = next((a.context for a in inputs if isinstance(a, NDArray)), None)
    tensors = [a.tensor if isinstance(a, NDArray) else as_tensor(a) for a in inputs]
    with torch.no_grad():
        outs = opdef.forward(parsed, tensors[:n_args], tensors[n_args:], is_train)
    results = [NDArray(t, ctx) for t in outs]
    if out is not None:
        targets = out if isinstance(out, (list, tuple)) else [out]
        for target, res in zip(targets, results):
            target[:] = res
        return out
    return results[0] if len(results) == 1 else results


def make_function(op_name):
    opdef = registry.get(op_name)

    def op_function(*args, out=None, name=None, **kwargs):
        params = {k: v for k, v in kwargs.items()
                  if not isinstance(v, NDArray) and not hasattr(v, "__array__")}
        named = {k: v for k, v in kwargs.items() if k not in params}
        inputs = list(args)
        if named:
            probe = opdef.parse({k: v for k, v in params.items() if v is not None} | (
                {opdef.variadic: len(args)} if opdef.variadic and opdef.variadic not in params
                else {}))
            for arg in (opdef.arguments(probe) + opdef.aux(probe))[len(inputs):]:
                if arg not in named:
                    break
                inputs.append(named.pop(arg))
            if named:
                raise TypeError(f"{op_name}: unknown or out-of-order array inputs {sorted(named)}")
        return invoke(op_name, inputs, params, out)

    op_function.__name__ = op_name
    op_function.__doc__ = f"MXNet's {op_name} operator, imperative; parameters: " + ", ".join(
        opdef.params) + "."
    return op_function


def install(namespace):
    for op_name in all_ops():
        if op_name not in namespace:
            namespace[op_name] = make_function(op_name)
