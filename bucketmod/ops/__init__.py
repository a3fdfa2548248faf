"""Operators: the registry (`registry.get(name)`) and the torch functionals behind each one."""
from . import cell_ops, fused_fc_ops, nn_ops, rnn_ops, tensor_ops  # noqa: F401  (registers)
from .registry import OpDef, all_ops, exists, get, register
