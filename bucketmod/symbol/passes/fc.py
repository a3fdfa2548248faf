"""The FullyConnected passes: an FC node whose only reader is an Activation
(`_fused_fc_activation`, the FC kernel's fused epilogue) or a SoftmaxOutput
(`_fused_fc_softmax_output`, the output layer that never forms the logits' gradient)."""
from ...ops.fc import FUSED_ACTS
from .pattern import Graph, Match, is_op, replace


def _fc_feeding(g, node):
    """The FullyConnected node whose output 0 is `node`'s first input and read by nothing
    else, or None."""
    fc, idx = node.inputs[0]
    if idx != 0 or not is_op(fc, "FullyConnected") or g.sole_user(fc) is not node:
        return None
    return fc


def _match_activation(g, act):
    if not is_op(act, "Activation") or act.params["act_type"] not in FUSED_ACTS:
        return None
    fc = _fc_feeding(g, act)
    if fc is None:
        return None
    return Match("_fused_fc_activation", {**fc.params, "act_type": act.params["act_type"]},
                 list(fc.inputs), [(act, 0)], [fc])


def _rows_match(fc, sm):
    """Whether SoftmaxOutput's rows are FullyConnected's, whatever the input's rank: the output
    is 2-D (flatten), or the softmax runs over its last axis (preserve_shape)."""
    p = sm.params
    return fc.params["flatten"] or (p["preserve_shape"] and not p["multi_output"])


def _match_softmax_output(g, sm):
    if not is_op(sm, "SoftmaxOutput", out_grad=False):
        return None
    fc = _fc_feeding(g, sm)
    if fc is None or not _rows_match(fc, sm):
        return None
    return Match("_fused_fc_softmax_output", {**fc.params, **sm.params},
                 list(fc.inputs) + [sm.inputs[1]], [(sm, 0)], [fc])


def _fuse(heads, matcher):
    g = Graph(heads)
    return replace(g, heads, [m for m in (matcher(g, n) for n in g.nodes) if m is not None])


def fuse_fc_activation(heads):
    """Replace FullyConnected -> Activation (relu, sigmoid, tanh, softrelu) by one node."""
    return _fuse(heads, _match_activation)


def fuse_fc_softmax_output(heads):
    """Replace FullyConnected -> SoftmaxOutput by one node, where the softmax rows are the FC
    rows and out_grad is off."""
    return _fuse(heads, _match_softmax_output)
