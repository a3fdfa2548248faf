"""`_fused_fc_activation` and `_fused_fc_softmax_output`: a FullyConnected node and the one node
that reads it, as one operator each.

The graph passes in `bucketmod/symbol/passes/fc.py` put them in place of the pairs. Their
parameters are the two nodes' (FullyConnected's and the Activation's or SoftmaxOutput's), their
inputs FullyConnected's then SoftmaxOutput's label, and their shape rules the two rules chained.
"""
from .fc import FUSED_ACTS, fully_connected
from .fc_softmax_output import fc_softmax_output
from .loss import _softmax_output_infer
from .nn import _fc_infer, _fc_infer_backward
from .params import Param
from .registry import OpDef, get, register

_FC = get("FullyConnected")
_SOFTMAX_OUTPUT = get("SoftmaxOutput")


def _fc_arguments(p):
    return ["data", "weight"] + ([] if p["no_bias"] else ["bias"])


def _bias(p, x):
    return None if p["no_bias"] else x[2]


register(OpDef(
    name="_fused_fc_activation",
    params={**_FC.params, "act_type": Param("str", choices=FUSED_ACTS)},
    arguments=_fc_arguments, infer_shape=_fc_infer, infer_backward=_fc_infer_backward,
    forward=lambda p, x, aux, train: [fully_connected(
        x[0], x[1], _bias(p, x), act=p["act_type"], flatten=p["flatten"])],
))


def _fc_softmax_output_infer(p, s):
    n_fc = len(s) - 1
    fc_in, (out,) = _fc_infer(p, s[:n_fc])
    (out, label), outs = _softmax_output_infer(p, [out, s[n_fc]])
    return fc_in + [label], outs


register(OpDef(
    name="_fused_fc_softmax_output", is_loss=True, extra={"output_arena": True},
    params={**_FC.params, **_SOFTMAX_OUTPUT.params},
    arguments=lambda p: _fc_arguments(p) + ["label"],
    infer_shape=_fc_softmax_output_infer, infer_backward=_fc_infer_backward,
    forward=lambda p, x, aux, train: [fc_softmax_output(
        x[0], x[1], _bias(p, x), x[-1], flatten=p["flatten"], grad_scale=p["grad_scale"],
        ignore_label=p["ignore_label"], use_ignore=p["use_ignore"],
        normalization=p["normalization"], multi_output=p["multi_output"],
        preserve_shape=p["preserve_shape"], smooth_alpha=p["smooth_alpha"],
        arena=p.get("_arena"))],
))
