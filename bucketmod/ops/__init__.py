"""Operators: the registry (`registry.get(name)`) and the torch functionals behind each one.

Each family module registers its operators, one table entry each: math (elementwise), reduce,
shape, index, nn, loss, linalg, random, optimizer, vision (detection and spatial sampling),
quantization and image; cell_ops/rnn_ops hold the recurrent operators, custom the `Custom`
operator of mx.operator, fused_fc_ops the operators the graph passes fuse layers into.
"""
from . import (  # noqa: F401  (registers the operators)
    cell_ops,
    custom,
    fused_fc_ops,
    image,
    index,
    linalg,
    loss,
    math,
    nn,
    optimizer,
    quantization,
    random,
    reduce,
    rnn_ops,
    shape,
    vision,
)
from .registry import OpDef, all_ops, exists, get, register
