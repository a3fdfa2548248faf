"""Operators: the registry (`registry.get(name)`) and the torch functionals behind each one.

Each family module registers its operators, one table entry each: math (elementwise), reduce,
shape, index, nn, loss, linalg, random, optimizer, vision (detection and spatial sampling),
quantization and image; lstm, gru and vanilla_rnn hold the recurrent cells' step, sequence and
(through rnn_ops) RNN operators, custom the `Custom` operator of mx.operator, fused_fc_ops the
operators the graph passes fuse layers into, backward MXNet's exposed `_contrib_backward_*`
operators, control_flow the subgraph operators `_foreach`, `_while_loop` and `_cond`.
"""
from . import (  # noqa: F401  (registers the operators)
    backward,
    control_flow,
    custom,
    fused_fc_ops,
    gru,
    image,
    index,
    linalg,
    loss,
    lstm,
    math,
    nn,
    optimizer,
    quantization,
    random,
    reduce,
    rnn_ops,
    shape,
    vanilla_rnn,
    vision,
)
from .registry import OpDef, all_ops, exists, get, register
