"""The backward operators MXNet 1.9.1 exposes in `contrib`: `_contrib_backward_quadratic`,
`_contrib_backward_gradientmultiplier`, `_contrib_backward_index_copy`,
`_contrib_backward_hawkesll`.

Each takes what MXNet's gradient pass gives it (the head gradients of the forward operator's
outputs, then the forward's inputs; gradientmultiplier's only the head gradient) and returns
the gradient of every forward input. They are computed as the vector-Jacobian product of the
forward operator's own functional, so they agree with the gradients autograd gives that
operator. As in MXNet they have no gradient themselves. MXNet declares no inputs for three of
them (its python functions take none: `mx.nd.contrib.backward_quadratic(ograd=..., data=...)`
names them here); the input names here are the head gradients (`ograd`, or `ograd_<output>`)
followed by the forward's argument names. Where MXNet leaves an output unwritten (the index
vector's gradient of index_copy, the gradients of hawkesll's sufficient statistics), it is
zeros here.
"""
import torch

from . import registry
from .params import Param
from .registry import OpDef, register


def _vjp(forward_op, n_ograds, constant):
    """Forward of the backward operator of `forward_op`: (head grads, inputs) -> input grads,
    zeros for the inputs at positions `constant`."""
    def forward(p, x, aux, train):
        opdef = registry.get(forward_op)
        ograds, inputs = x[:n_ograds], x[n_ograds:]
        with torch.enable_grad():
            leaves = [t.detach().requires_grad_(t.is_floating_point() and i not in constant)
                      for i, t in enumerate(inputs)]
            outs = opdef.forward(p, leaves, [], True)
            pairs = [(o, g) for o, g in zip(outs, ograds) if o.requires_grad]
            wanted = [t for t in leaves if t.requires_grad]
            grads = torch.autograd.grad([o for o, _ in pairs], wanted, [g for _, g in pairs],
                                        allow_unused=True) if pairs and wanted else []
        it = iter(grads)
        out = []
        for t in leaves:
            g = next(it) if t.requires_grad else None
            out.append(torch.zeros_like(t) if g is None else g.detach())
        return out
    return forward


def _backward_op(forward_op, params, inputs, ograd_names, constant=()):
    n = len(ograd_names)
    outputs = ["output"] if len(inputs) == 1 else [f"output{i}" for i in range(len(inputs))]
    return OpDef(
        name=f"_contrib_backward_{forward_op[len('_contrib_'):]}", params=params,
        inputs=(), arguments=lambda p: list(ograd_names) + list(inputs),
        outputs=lambda p: outputs,
        infer_shape=lambda p, s: (s, list(s[n:])),
        infer_type=lambda p, t: (t, list(t[n:])),
        forward=_vjp(forward_op, n, frozenset(constant)),
    )


register(_backward_op("_contrib_quadratic", {"a": Param("float", 0.0), "b": Param("float", 0.0),
                                             "c": Param("float", 0.0)},
                      ["data"], ["ograd"]))
register(_backward_op("_contrib_index_copy", {},
                      ["old_tensor", "index_vector", "new_tensor"], ["ograd"], constant=(1,)))
# MXNet differentiates hawkesll with respect to lda, alpha, beta and state only (it requires
# that the gradients of the sufficient statistics lags, marks, valid_length, max_time be
# asked for by nobody)
register(_backward_op("_contrib_hawkesll", {},
                      ["lda", "alpha", "beta", "state", "lags", "marks", "valid_length",
                       "max_time"], ["ograd_output", "ograd_out_state"],
                      constant=(4, 5, 6, 7)))


def _scale(p, x, aux, train):
    return [x[0] * p["scalar"]]


register(OpDef(
    name="_contrib_backward_gradientmultiplier",
    params={"scalar": Param("float", 1.0), "is_int": Param("bool", True)},
    infer_shape=lambda p, s: (s, list(s)), forward=_scale,
))
