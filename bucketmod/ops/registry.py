"""The operator registry: per operator, its parameters, its inputs, a shape rule and a forward.

Backward comes from torch autograd through each forward (the functionals in `bucketmod/ops/*`
carry custom `autograd.Function`s where MXNet's gradient is not the plain derivative, as for
SoftmaxOutput). The executor runs every node through `OpDef.forward` and special-cases none.
"""
from dataclasses import dataclass, field
from typing import Callable

from ..base import MXNetError
from .params import parse_params

_REGISTRY = {}


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
    hint: str = None
    aliases: tuple = ()
    is_loss: bool = False
    doc: str = ""
    key_var_num_args: str = None
    extra: dict = field(default_factory=dict)

    def parse(self, given):
        return parse_params(self.name, self.params, given)

    def loss(self, p):
        """Whether a node with params `p` is a loss layer (its head gradient is not needed)."""
        return self.is_loss

    @property
    def name_hint(self):
        return self.hint or self.name.lower()


def register(opdef):
    for name in (opdef.name,) + tuple(opdef.aliases):
        _REGISTRY[name] = opdef
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
