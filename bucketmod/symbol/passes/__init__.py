"""Graph rewrites applied when an executor binds: patterns replaced by fused operators.

A pass is a function `rewrite(heads) -> heads` over head entries `(node, index)`. It never
mutates the nodes it is given (a Symbol may be bound many times): variables are shared, the
rewritten operator nodes are new (`pattern.replace` does this for a list of `pattern.Match`).

`optimize` runs the passes in order. A pass either rewrites correctly or leaves the graph
alone: where the bound shapes are given, every rewrite is checked by shape inference (the
outputs must keep their shapes), and a pass that fails or breaks that check is skipped with
a warning naming it and the reason. `BUCKETMOD_FUSE=0` (the executor) skips all passes.
"""
import warnings

from ...base import MXNetError
from ..graph import infer_shapes
from .cells import fuse_cells
from .fc import fuse_fc_activation, fuse_fc_softmax_output
from .sequences import fuse_sequences

PASSES = [("cells", fuse_cells), ("sequences", fuse_sequences),
          ("fc_activation", fuse_fc_activation), ("fc_softmax_output", fuse_fc_softmax_output)]


class PassWarning(UserWarning):
    """A graph pass could not rewrite a graph and left it as it was."""


def _head_shapes(heads, known):
    shapes = infer_shapes(heads, known, partial=True)
    return [shapes.get((id(n), i)) for n, i in heads]


def optimize(heads, known_shapes=None):
    """Run every pass of `PASSES` on `heads`; `known_shapes` {variable name: shape} enables the
    shape check of each rewrite."""
    expected = None
    if known_shapes is not None:
        expected = _head_shapes(heads, known_shapes)
    for name, rewrite in PASSES:
        try:
            new = rewrite(heads)
            if new is not heads and expected is not None:
                got = _head_shapes(new, known_shapes)
                if got != expected:
                    raise MXNetError(f"output shapes {got} after the rewrite, {expected} "
                                     f"before")
        except Exception as err:  # noqa: BLE001  (a pass must never break a bind)
            warnings.warn(f"graph pass {name!r} left the graph unchanged: "
                          f"{type(err).__name__}: {err}", PassWarning, stacklevel=2)
            continue
        heads = new
    return heads
