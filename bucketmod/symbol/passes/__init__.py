"""Graph rewrites applied when an executor binds: patterns replaced by fused operators.

A pass is a function `rewrite(heads) -> heads` over head entries `(node, index)`. It never
mutates the nodes it is given (a Symbol may be bound many times): variables are shared, the
rewritten operator nodes are new (`pattern.replace` does this for a list of `pattern.Match`).

`optimize` runs the passes in order. A pass either rewrites correctly or leaves the graph
alone: where the bound shapes are given, the rewrites are checked by shape inference (the
outputs must keep their shapes), and a pass that fails or breaks that check is skipped with
a warning naming it and the reason. The check runs once, on the result of all passes; only
when that fails are the passes run again one by one, each checked, to find the culprit (shape
inference of an unrolled bucket dominates the cost of binding it).
`BUCKETMOD_FUSE=0` (the executor) skips all passes.
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


def _head_shapes(heads, shapes):
    return [shapes.get((id(n), i)) for n, i in heads]


def optimize(heads, known_shapes=None):
    """Run every pass of `PASSES` on `heads`; `known_shapes` {variable name: shape} enables the
    shape check of the rewrites."""
    return optimize_with_shapes(heads, known_shapes)[0]


def optimize_with_shapes(heads, known_shapes=None, shapes=None):
    """`optimize`, also returning the inferred shapes of the result ({(id(node), index):
    shape}, as `graph.infer_shapes`), or None when no shapes were given. `shapes`: those of
    `heads` where the caller has them."""
    if known_shapes is None:
        return _one_by_one(heads, None, None), None
    if shapes is None:
        shapes = infer_shapes(heads, known_shapes, partial=True)
    expected = _head_shapes(heads, shapes)
    new = heads
    try:
        for _, rewrite in PASSES:
            new = rewrite(new)
        if new is heads:
            return heads, shapes
        shapes = infer_shapes(new, known_shapes, partial=True)
        if _head_shapes(new, shapes) == expected:
            return new, shapes
    except Exception:  # noqa: BLE001  (found again, and named, one pass at a time)
        pass
    new = _one_by_one(heads, known_shapes, expected)
    return new, infer_shapes(new, known_shapes, partial=True)


def _one_by_one(heads, known_shapes, expected):
    for name, rewrite in PASSES:
        try:
            new = rewrite(heads)
            if new is not heads and expected is not None:
                got = _head_shapes(new, infer_shapes(new, known_shapes, partial=True))
                if got != expected:
                    raise MXNetError(f"output shapes {got} after the rewrite, {expected} "
                                     f"before")
        except Exception as err:  # noqa: BLE001  (a pass must never break a bind)
            warnings.warn(f"graph pass {name!r} left the graph unchanged: "
                          f"{type(err).__name__}: {err}", PassWarning, stacklevel=3)
            continue
        heads = new
    return heads
