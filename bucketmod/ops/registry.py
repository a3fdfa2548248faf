"""The operator registry: per operator, its parameters, its inputs, a shape rule and a forward.

Backward comes from torch autograd through each forward (the functionals in `bucketmod/ops/*`
carry custom `autograd.Function`s where MXNet's gradient is not the plain derivative, as for
SoftmaxOutput). The executor runs every node through `OpDef.forward` and special-cases none.

This module also holds MXNet's calling convention (`split_call`) and where MXNet puts each
operator (`placement`): both `mx.sym` and `mx.nd` build their functions from them.
"""
import sys
from dataclasses import dataclass, field
from typing import Callable

from ..base import MXNetError
from .params import REQUIRED, parse_params

_REGISTRY = {}
_SIGNATURES = {}


@dataclass
class OpDef:
    """What the graph needs to know of one operator.

    `arguments(p)` and `aux(p)` name the inputs (e.g. data, weight, bias; moving_mean) given the
    parsed params `p`; `outputs(p)` names the visible outputs. `infer_shape(p, in_shapes)`
    takes a list with None for unknown input shapes and returns `(in_shapes, out_shapes)` with
    whatever it could fill in (inputs too, where MXNet infers backward: a weight from data).
    `forward(p, inputs, aux, is_train)` maps torch tensors to a list of output tensors.
    `infer_backward(p, in_shapes, out_shapes)`, where given, fills input shapes from output
    shapes (MXNet infers a begin state's batch size this way). `bind_params(p, out_shapes,
    device)`, where given, specialises the params once shapes are known (a source operator
    such as `_zeros` learns its full shape and device at bind time).

    The python signature MXNet generates is the array inputs, then `params` in their order.
    `inputs` lists those array inputs where `arguments` + `aux` under the default params do not
    (an input that only some params switch on, as Deconvolution's bias). A `variadic` operator
    takes its inputs as `*args`; `key_var_num_args` names the param MXNet fills with their
    count. `mutates` lists the positions of inputs the forward writes into (optimizer states).
    """

    name: str
    params: dict
    forward: Callable
    infer_shape: Callable
    arguments: Callable = lambda p: ["data"]
    aux: Callable = lambda p: []
    outputs: Callable = lambda p: ["output"]
    # MXNet counts hidden outputs too in JSON's node_row_ptr (BatchNorm: 3, Dropout: 2)
    num_all_outputs: Callable = None
    infer_type: Callable = None
    infer_backward: Callable = None
    bind_params: Callable = None
    variadic: str = None
    aliases: tuple = ()
    is_loss: bool = False
    key_var_num_args: str = None
    inputs: tuple = None
    mutates: tuple = ()
    extra: dict = field(default_factory=dict)

    def parse(self, given):
        return parse_params(self.name, self.params, given)

    def loss(self, p):
        """Whether a node with params `p` is a loss layer (its head gradient is not needed)."""
        return self.is_loss


def register(opdef):
    """Add `opdef` under its name and aliases (replacing any earlier one); the registering
    module is kept as its family (`extra['module']`)."""
    opdef.extra.setdefault("module", sys._getframe(1).f_globals.get("__name__", ""))
    for name in (opdef.name,) + tuple(opdef.aliases):
        _REGISTRY[name] = opdef
        _SIGNATURES.pop(name, None)
    return opdef


def get(name):
    try:
        return _REGISTRY[name]
    except KeyError:
        raise MXNetError(f"unknown operator {name!r}: bucketmod has no operator of that name") \
            from None


def exists(name):
    return name in _REGISTRY


def all_ops():
    """{name: OpDef}, aliases included."""
    return dict(_REGISTRY)


def given_params(opdef, params):
    """The params a call sets: a None is kept where the param can be None (MXNet writes it as
    "None", e.g. topk's axis=None) and dropped elsewhere (not given)."""
    out = {}
    for key, value in params.items():
        if value is None:
            spec = opdef.params.get(key)
            try:
                if spec is None or spec.parse(opdef.name, key, None) is not None:
                    continue
            except MXNetError:
                continue
        out[key] = value
    return out


def signature_inputs(opdef):
    """The array inputs of MXNet's generated python function, in order; None where they
    depend on params that have no default (a custom operator's prop): such an operator takes
    its inputs positionally, like a variadic one."""
    if opdef.inputs is not None:
        return list(opdef.inputs)
    if opdef.name not in _SIGNATURES:
        defaults = {k: (None if p.default is REQUIRED else p.default)
                    for k, p in opdef.params.items()}
        try:
            names = list(opdef.arguments(defaults)) + list(opdef.aux(defaults))
        except (KeyError, TypeError, AttributeError, ValueError):
            names = None
        _SIGNATURES[opdef.name] = names
    names = _SIGNATURES[opdef.name]
    return None if names is None else list(names)


def positional_inputs(opdef):
    """Whether the operator's python function takes its inputs as `*args`."""
    return bool(opdef.variadic) or signature_inputs(opdef) is None


def split_call(opdef, func_name, args, kwargs, is_array, kind):
    """MXNet's calling convention -> (positional inputs, named inputs, params).

    A variadic operator takes its inputs positionally; any other takes its inputs and then its
    parameters in MXNet's order, positionally or by name (`Dropout(data, 0.5)` gives p=0.5).
    `is_array(v)` tells an input value (Symbol, NDArray) from a parameter value.
    """
    if positional_inputs(opdef):
        for i, a in enumerate(args):
            if not is_array(a):
                raise TypeError(f"{func_name}: positional argument {i} must be a {kind} (the "
                                f"inputs of {func_name} are positional), got "
                                f"{type(a).__name__}; give parameters by keyword")
        named = {k: v for k, v in kwargs.items() if is_array(v)}
        return list(args), named, {k: v for k, v in kwargs.items() if k not in named}
    in_names = signature_inputs(opdef)
    names = in_names + list(opdef.params)
    if len(args) > len(names):
        raise TypeError(f"{func_name}() takes at most {len(names)} positional arguments "
                        f"({', '.join(names)}) but {len(args)} were given")
    kwargs = dict(kwargs)
    for name, value in zip(names, args):
        if name in kwargs:
            raise TypeError(f"{func_name}() got multiple values for argument {name!r}")
        kwargs[name] = value
    named, params = {}, {}
    for key, value in kwargs.items():
        if key in in_names or (key not in opdef.params and is_array(value)):
            if value is None:
                continue
            if not is_array(value):
                raise TypeError(f"{func_name}: input {key} must be a {kind}, got "
                                f"{type(value).__name__}")
            named[key] = value
        elif is_array(value):
            raise TypeError(f"{func_name}: {key} is a parameter, got a {kind}")
        else:
            params[key] = value
    return [], named, params


_PREFIXES = (("_contrib_", "contrib"), ("_linalg_", "linalg"), ("_image_", "image"),
             ("_random_", "random"), ("_sample_", "random"))


def placement(name):
    """(namespace, function name) where MXNet's generated API puts operator `name`.

    `_contrib_x`, `_linalg_x`, `_image_x` and `_random_x_like` go to their namespace as `x`;
    every other `_`-prefixed name goes to `_internal`; the rest is top-level ("").
    """
    for prefix, namespace in _PREFIXES:
        if name.startswith(prefix):
            if prefix in ("_random_", "_sample_") and not name.endswith("_like"):
                return "_internal", name
            return namespace, name[len(prefix):]
    return ("_internal" if name.startswith("_") else ""), name


def names_in(namespace):
    """{function name: operator name} of one namespace ("" is the top level)."""
    out = {}
    for name in _REGISTRY:
        ns, func = placement(name)
        if ns == namespace:
            out[func] = name
    return out


def find(namespace, func_name):
    """The operator name behind `namespace.func_name`, or None."""
    if namespace in ("", "_internal"):
        return func_name if func_name in _REGISTRY and placement(func_name)[0] == namespace \
            else None
    prefixes = [p for p, ns in _PREFIXES if ns == namespace]
    return next((p + func_name for p in prefixes if p + func_name in _REGISTRY
                 and placement(p + func_name) == (namespace, func_name)), None)


def doc(opdef, kind):
    """The docstring of a generated operator function."""
    inputs = "*data" if positional_inputs(opdef) else ", ".join(signature_inputs(opdef)) or \
        "none"
    return (f"MXNet's {opdef.name} operator ({kind}). Inputs: {inputs}; parameters: "
            f"{', '.join(opdef.params) or 'none'}.")


def lazy_namespace(namespace, module_globals, make):
    """Module `__getattr__`/`__dir__` resolving `namespace`'s operators through the registry
    on first use, so operators registered after import appear too. `make(op, func_name)`
    builds the function (symbolic or imperative)."""
    def __getattr__(name):
        op = find(namespace, name)
        if op is None:
            raise AttributeError(f"module {module_globals['__name__']!r} has no attribute "
                                 f"{name!r}")
        module_globals[name] = make(op, name)
        return module_globals[name]

    def __dir__():
        return sorted(set(module_globals) | set(names_in(namespace)))

    return __getattr__, __dir__
