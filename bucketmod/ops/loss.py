"""Loss layers: SoftmaxOutput, the regression outputs, MakeLoss, SVMOutput (gradients that
ignore the head gradient, as in MXNet), CTCLoss and softmax_cross_entropy."""
import torch
import torch.nn.functional as F

from .params import Param
from .registry import OpDef, register
from .regression_output import make_loss, regression_output
from .shape_ops import merge, size
from .softmax_output import softmax_output


def _softmax_output_label_shape(p, d):
    if p["multi_output"]:
        return (d[0],) + tuple(d[2:])
    if p["preserve_shape"]:
        return tuple(d[:-1])
    return (d[0],)


def _softmax_output_infer(p, s):
    d = s[0]
    if d is not None:
        expected = _softmax_output_label_shape(p, d)
        if s[1] is not None and tuple(s[1]) == tuple(d):
            return s, [d]
        if s[1] is not None and p["multi_output"] and len(s[1]) == 2 and \
                s[1][1] == size(d[2:]) and s[1][0] in (0, d[0]):
            return s, [d]
        s[1] = merge("label", s[1], expected)
    return s, [d]


register(OpDef(
    name="SoftmaxOutput", aliases=("Softmax",), is_loss=True,
    params={"grad_scale": Param("float", 1.0), "ignore_label": Param("float", -1.0),
            "multi_output": Param("bool", False), "use_ignore": Param("bool", False),
            "preserve_shape": Param("bool", False),
            "normalization": Param("str", "null", ("null", "batch", "valid")),
            "out_grad": Param("bool", False), "smooth_alpha": Param("float", 0.0)},
    arguments=lambda p: ["data", "label"],
    infer_shape=_softmax_output_infer,
    forward=lambda p, x, aux, train: [softmax_output(
        x[0], x[1], grad_scale=p["grad_scale"], ignore_label=p["ignore_label"],
        use_ignore=p["use_ignore"], normalization=p["normalization"],
        multi_output=p["multi_output"], preserve_shape=p["preserve_shape"],
        smooth_alpha=p["smooth_alpha"])],
))


def _regression_infer(p, s):
    d = s[0]
    if d is not None and s[1] is not None and len(s[1]) == 1 and len(d) == 2 and d[1] == 1:
        return s, [d]
    if d is not None:
        s[1] = merge("label", s[1], d)
    return s, [d]


for _name, _kind in (("LinearRegressionOutput", "linear"), ("LogisticRegressionOutput",
                                                            "logistic"),
                     ("MAERegressionOutput", "mae")):
    register(OpDef(
        name=_name, is_loss=True, params={"grad_scale": Param("float", 1.0)},
        arguments=lambda p: ["data", "label"], infer_shape=_regression_infer,
        forward=lambda p, x, aux, train, kind=_kind: [regression_output(
            x[0], x[1], kind, p["grad_scale"])],
    ))


register(OpDef(
    name="MakeLoss", is_loss=True, infer_shape=lambda p, s: (s, [s[0]]),
    params={"grad_scale": Param("float", 1.0), "valid_thresh": Param("float", 0.0),
            "normalization": Param("str", "null", ("null", "batch", "valid"))},
    forward=lambda p, x, aux, train: [make_loss(x[0], p["grad_scale"], p["normalization"],
                                                p["valid_thresh"])],
))
register(OpDef(
    name="make_loss", is_loss=True, params={}, outputs=lambda p: ["loss"],
    infer_shape=lambda p, s: (s, [s[0]]),
    forward=lambda p, x, aux, train: [make_loss(x[0])],
))




class SVMOutputFunction(torch.autograd.Function):
    """Identity forward; backward the L1 (use_linear) or L2 hinge gradient of MXNet's
    SVMOutput, scaled by regularization_coefficient, ignoring the head gradient."""

    @staticmethod
    def forward(ctx, data, label, margin, coef, linear):
        ctx.save_for_backward(data, label)
        ctx.margin, ctx.coef, ctx.linear = margin, coef, linear
        return data.clone()

    @staticmethod
    def backward(ctx, grad_out):
        data, label = ctx.saved_tensors
        x = data.reshape(data.shape[0], -1)
        onehot = F.one_hot(label.reshape(-1).long(), x.shape[1]).bool()
        m = ctx.margin
        if ctx.linear:
            own = -(m > x).to(x.dtype)
            other = (m > -x).to(x.dtype)
        else:
            own = -2 * torch.clamp(m - x, min=0)
            other = 2 * torch.clamp(m + x, min=0)
        grad = torch.where(onehot, own, other) * ctx.coef
        return grad.reshape(data.shape), None, None, None, None


def _svm_infer(p, s):
    d = s[0]
    if d is not None:
        s[1] = merge("label", s[1], (d[0],))
    return s, [d]


register(OpDef(
    name="SVMOutput", is_loss=True,
    params={"margin": Param("float", 1.0), "regularization_coefficient": Param("float", 1.0),
            "use_linear": Param("bool", False)},
    arguments=lambda p: ["data", "label"], infer_shape=_svm_infer,
    forward=lambda p, x, aux, train: [SVMOutputFunction.apply(
        x[0], x[1], p["margin"], p["regularization_coefficient"], p["use_linear"])],
))


def _ctc_arguments(p):
    return ["data", "label"] + (["data_lengths"] if p["use_data_lengths"] else []) + (
        ["label_lengths"] if p["use_label_lengths"] else [])


def _ctc_infer(p, s):
    d = s[0]
    return s, [None if d is None else (d[1],)]


def _ctc_forward(p, x, aux, train):
    data, label = x[0], x[1].detach()
    steps, batch, alphabet = data.shape
    first = p["blank_label"] == "first"
    blank = 0 if first else alphabet - 1
    lengths = iter(x[2:])
    if p["use_data_lengths"]:
        data_lengths = next(lengths).detach().long()
    else:
        data_lengths = torch.full((batch,), steps, dtype=torch.long)
    labels = label.long()
    if p["use_label_lengths"]:
        label_lengths = next(lengths).detach().long()
    else:
        pad = 0 if first else -1
        label_lengths = (labels != pad).long().cumprod(1).sum(1)
    log_probs = torch.log_softmax(data, dim=-1)
    loss = F.ctc_loss(log_probs, labels.clamp(min=0), data_lengths, label_lengths, blank=blank,
                      reduction="none", zero_infinity=False)
    return [loss.to(data.dtype)]


register(OpDef(
    name="CTCLoss", aliases=("ctc_loss", "_contrib_CTCLoss", "_contrib_ctc_loss"),
    params={"use_data_lengths": Param("bool", False), "use_label_lengths": Param("bool", False),
            "blank_label": Param("str", "first", ("first", "last"))},
    inputs=("data", "label", "data_lengths", "label_lengths"),
    arguments=_ctc_arguments, outputs=lambda p: ["output0"], infer_shape=_ctc_infer,
    forward=_ctc_forward, num_all_outputs=lambda p: 2,
))


def _softmax_ce_forward(p, x, aux, train):
    data, label = x
    logp = torch.log_softmax(data, dim=-1)
    picked = logp.gather(1, label.detach().long().reshape(-1, 1))
    return [-picked.sum().reshape(1)]


register(OpDef(
    name="softmax_cross_entropy", params={}, arguments=lambda p: ["data", "label"],
    infer_shape=lambda p, s: (
        [s[0], merge("label", s[1], None if s[0] is None else (s[0][0],))], [(1,)]),
    forward=_softmax_ce_forward,
))


def _hawkesll(p, x, aux, train):
    """Log likelihood of univariate Hawkes processes (one per mark) over ragged sequences,
    and the decayed memory state at max_time, as MXNet's hawkesll computes them.

    MXNet 1.9.1 returns a zero gradient for `state`; the gradient here is the true one."""
    lda, alpha, beta, state, lags, marks, valid_length, max_time = x
    batch, k = lda.shape
    lls, states = [], []
    for i in range(batch):
        st = [state[i, m] for m in range(k)]
        last = [lda.new_zeros(()) for _ in range(k)]
        t = lda.new_zeros(())
        ll = lda.new_zeros(())
        for j in range(int(valid_length[i].item())):
            m = int(marks[i, j].item())
            t = t + lags[i, j]
            d = t - last[m]
            ed = torch.exp(-beta[m] * d)
            intensity = lda[i, m] + alpha[m] * beta[m] * st[m] * ed
            ll = ll + torch.log(intensity) - (lda[i, m] * d + alpha[m] * st[m] * (1 - ed))
            st[m] = 1 + st[m] * ed
            last[m] = t
        for m in range(k):
            d = max_time[i] - last[m]
            ed = torch.exp(-beta[m] * d)
            ll = ll - (lda[i, m] * d + alpha[m] * st[m] * (1 - ed))
            st[m] = ed * st[m]
        lls.append(ll)
        states.append(torch.stack(st))
    # MXNet's backward takes no gradient through out_state
    return [torch.stack(lls), torch.stack(states).detach()]


register(OpDef(
    name="_contrib_hawkesll", params={},
    arguments=lambda p: ["lda", "alpha", "beta", "state", "lags", "marks", "valid_length",
                         "max_time"],
    outputs=lambda p: ["output", "out_state"],
    infer_shape=lambda p, s: (s, [None if s[0] is None else (s[0][0],), s[0]]),
    infer_type=lambda p, t: (t, [t[0], t[0]]),
    forward=_hawkesll,
))
