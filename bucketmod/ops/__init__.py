"""Operators: the registry (`registry.get(name)`) and the torch functionals behind each one."""
from . import gru, lstm, nn_ops, rnn_ops, tensor_ops, vanilla_rnn  # noqa: F401  (registers the operators)
from .registry import OpDef, all_ops, exists, get, register
