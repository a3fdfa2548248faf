"""Operators: the registry (`registry.get(name)`) and the torch functionals behind each one."""
from . import (  # noqa: F401  (importing them registers the operators)
    cell_ops,
    custom,
    fused_fc_ops,
    nn_ops,
    rnn_ops,
    tensor_ops,
)
from .registry import OpDef, all_ops, exists, get, register
