"""Every operator's gradient, in float64, against finite differences and against torch.autograd
of a plain torch expression, over parametrized shapes; loss layers against the loss they are the
gradient of; Dropout and BatchNorm state behaviour."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import bucketmod as mx
from bucketmod.ops import registry

F64 = torch.float64


def _normal(*shape):
    return torch.randn(*shape, dtype=F64)


def _away(*shape):
    """Values with |x| in [0.1, 1]: no kink of relu/abs/max/clip within finite-difference reach."""
    return (torch.rand(*shape, dtype=F64) * 0.9 + 0.1) * torch.sign(torch.randn(*shape))


def _pos(*shape):
    return torch.rand(*shape, dtype=F64) * 1.5 + 0.5


def _distinct(*shape):
    """A permutation scaled to distinct values 0.1 apart: no ties for max pooling/maximum."""
    n = math.prod(shape)
    return (torch.randperm(n).to(F64) * 0.1 - n * 0.05).reshape(shape)


# (id, operator, params, {input: tensor maker}, torch reference over the inputs' dict)
def _cases():
    cases = []
    for shape in ((2, 3), (3, 2, 5)):
        tag = "x".join(map(str, shape))
        for op, maker, ref in (
                ("negative", _normal, torch.neg), ("exp", _normal, torch.exp),
                ("log", _pos, torch.log), ("sqrt", _pos, torch.sqrt),
                ("square", _normal, torch.square), ("abs", _away, torch.abs),
                ("tanh", _normal, torch.tanh), ("sigmoid", _normal, torch.sigmoid),
                ("relu", _away, torch.relu), ("BlockGrad", _normal, lambda x: x.detach()),
                ("zeros_like", _normal, lambda x: x * 0), ("ones_like", _normal,
                                                          lambda x: x * 0 + 1)):
            cases.append((f"{op}-{tag}", op, {}, {"data": lambda s=shape, m=maker: m(*s)},
                          lambda x, r=ref: [r(x["data"])]))
        cases.append((f"clip-{tag}", "clip", {"a_min": -0.5, "a_max": 0.5},
                      {"data": lambda s=shape: _away(*s) * 0.9 + 0.05 * torch.sign(_away(*s))},
                      lambda x: [torch.clamp(x["data"], -0.5, 0.5)]))
        for act, ref in (("relu", torch.relu), ("sigmoid", torch.sigmoid),
                         ("tanh", torch.tanh), ("softrelu", F.softplus),
                         ("softsign", F.softsign)):
            cases.append((f"act_{act}-{tag}", "Activation", {"act_type": act},
                          {"data": lambda s=shape: _away(*s)},
                          lambda x, r=ref: [r(x["data"])]))
        for act, params, ref in (
                ("leaky", {"slope": 0.1}, lambda t: F.leaky_relu(t, 0.1)),
                ("elu", {"slope": 0.3}, lambda t: F.elu(t, 0.3)),
                ("selu", {}, F.selu), ("gelu", {}, F.gelu)):
            cases.append((f"leaky_{act}-{tag}", "LeakyReLU", dict(params, act_type=act),
                          {"data": lambda s=shape: _away(*s)},
                          lambda x, r=ref: [r(x["data"])]))
        for op, ref in (("elemwise_add", torch.add), ("elemwise_sub", torch.sub),
                        ("elemwise_mul", torch.mul), ("_maximum", torch.maximum),
                        ("_minimum", torch.minimum)):
            cases.append((f"{op}-{tag}", op, {},
                          {"lhs": lambda s=shape: _distinct(*s),
                           "rhs": lambda s=shape: _distinct(*s) + 0.0237},
                          lambda x, r=ref: [r(x["lhs"], x["rhs"])]))
        cases.append((f"elemwise_div-{tag}", "elemwise_div", {},
                      {"lhs": lambda s=shape: _normal(*s), "rhs": lambda s=shape: _pos(*s)},
                      lambda x: [x["lhs"] / x["rhs"]]))
        cases.append((f"_power-{tag}", "_power", {},
                      {"lhs": lambda s=shape: _pos(*s), "rhs": lambda s=shape: _normal(*s)},
                      lambda x: [x["lhs"] ** x["rhs"]]))
        for op, scalar, maker, ref in (
                ("_plus_scalar", 2.0, _normal, lambda t, c: t + c),
                ("_minus_scalar", 1.5, _normal, lambda t, c: t - c),
                ("_rminus_scalar", 1.5, _normal, lambda t, c: c - t),
                ("_mul_scalar", -3.0, _normal, lambda t, c: t * c),
                ("_div_scalar", 4.0, _normal, lambda t, c: t / c),
                ("_rdiv_scalar", 2.0, _pos, lambda t, c: c / t),
                ("_power_scalar", 3.0, _normal, lambda t, c: t ** c),
                ("_rpower_scalar", 2.0, _normal, lambda t, c: c ** t),
                ("_maximum_scalar", 0.05, _away, lambda t, c: torch.clamp(t, min=c)),
                ("_minimum_scalar", -0.05, _away, lambda t, c: torch.clamp(t, max=c))):
            cases.append((f"{op}-{tag}", op, {"scalar": scalar},
                          {"data": lambda s=shape, m=maker: m(*s)},
                          lambda x, r=ref, c=scalar: [r(x["data"], c)]))
    for lhs, rhs in (((3, 1, 4), (1, 2, 4)), ((2, 5), (1, 5)), ((1, 1), (3, 7))):
        tag = f"{lhs}-{rhs}".replace(" ", "")
        for op, ref, mk in (("broadcast_add", torch.add, _normal),
                            ("broadcast_sub", torch.sub, _normal),
                            ("broadcast_mul", torch.mul, _normal),
                            ("broadcast_div", torch.div, _pos),
                            ("broadcast_power", torch.pow, _pos),
                            ("broadcast_maximum", torch.maximum, _distinct),
                            ("broadcast_minimum", torch.minimum, _distinct)):
            cases.append((f"{op}-{tag}", op, {},
                          {"lhs": lambda s=lhs, m=mk: m(*s),
                           "rhs": lambda s=rhs, m=mk: m(*s) + 0.0237},
                          lambda x, r=ref: [r(x["lhs"], x["rhs"])]))
    cases += _nn_cases() + _shape_cases()
    return cases


def _nn_cases():
    out = []
    for n, k, h in ((2, 3, 4), (5, 17, 7)):
        out.append((f"fc-{n}x{k}x{h}", "FullyConnected", {"num_hidden": h},
                    {"data": lambda n=n, k=k: _normal(n, k),
                     "weight": lambda h=h, k=k: _normal(h, k), "bias": lambda h=h: _normal(h)},
                    lambda x: [F.linear(x["data"], x["weight"], x["bias"])]))
        out.append((f"fc_3d_nobias-{n}x{k}x{h}", "FullyConnected",
                    {"num_hidden": h, "no_bias": True},
                    {"data": lambda n=n, k=k: _normal(n, 2, k),
                     "weight": lambda h=h, k=k: _normal(h, 2 * k)},
                    lambda x: [x["data"].reshape(x["data"].shape[0], -1) @ x["weight"].T]))
        out.append((f"fc_noflatten-{n}x{k}x{h}", "FullyConnected",
                    {"num_hidden": h, "flatten": False},
                    {"data": lambda n=n, k=k: _normal(n, 3, k),
                     "weight": lambda h=h, k=k: _normal(h, k), "bias": lambda h=h: _normal(h)},
                    lambda x: [F.linear(x["data"], x["weight"], x["bias"])]))
    for tag, params, dshape, wshape in (
            ("basic", {"kernel": (3, 3), "num_filter": 2}, (1, 2, 5, 5), (2, 2, 3, 3)),
            ("stride_pad", {"kernel": (3, 3), "num_filter": 3, "stride": (2, 2),
                            "pad": (1, 1)}, (2, 2, 7, 6), (3, 2, 3, 3)),
            ("dilate_group", {"kernel": (2, 3), "num_filter": 4, "dilate": (2, 1),
                              "num_group": 2}, (1, 4, 6, 6), (4, 2, 2, 3))):
        geo = dict(stride=params.get("stride", (1, 1)), padding=params.get("pad", (0, 0)),
                   dilation=params.get("dilate", (1, 1)), groups=params.get("num_group", 1))
        out.append((f"conv-{tag}", "Convolution", params,
                    {"data": lambda s=dshape: _normal(*s), "weight": lambda s=wshape: _normal(*s),
                     "bias": lambda s=wshape: _normal(s[0])},
                    lambda x, g=geo: [F.conv2d(x["data"], x["weight"], x["bias"], **g)]))
    for tag, params, shape, ref in (
            ("max", {"kernel": (2, 2), "stride": (2, 2)}, (2, 2, 4, 6),
             lambda t: F.max_pool2d(t, 2, 2)),
            ("max_full", {"kernel": (3, 3), "stride": (2, 2), "pooling_convention": "full"},
             (1, 2, 8, 8), lambda t: F.max_pool2d(t, 3, 2, ceil_mode=True)),
            ("avg_pad", {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1),
                         "pool_type": "avg"}, (1, 3, 7, 7),
             lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=True)),
            ("sum", {"kernel": (2, 2), "stride": (1, 1), "pool_type": "sum"}, (1, 1, 4, 5),
             lambda t: F.avg_pool2d(t, 2, 1) * 4),
            ("global_avg", {"global_pool": True, "pool_type": "avg"}, (2, 3, 4, 5),
             lambda t: t.mean(dim=(2, 3), keepdim=True)),
            ("global_max", {"global_pool": True, "kernel": (1, 1)}, (2, 3, 3, 5),
             lambda t: t.amax(dim=(2, 3), keepdim=True))):
        out.append((f"pool-{tag}", "Pooling", params,
                    {"data": lambda s=shape: _distinct(*s)},
                    lambda x, r=ref: [r(x["data"])]))
    for shape, axis in (((3, 5), -1), ((2, 3, 4), 1)):
        tag = f"{shape}-{axis}".replace(" ", "")
        out.append((f"softmax-{tag}", "softmax", {"axis": axis},
                    {"data": lambda s=shape: _normal(*s)},
                    lambda x, a=axis: [torch.softmax(x["data"], a)]))
        out.append((f"softmax_temp-{tag}", "softmax", {"axis": axis, "temperature": 2.0},
                    {"data": lambda s=shape: _normal(*s)},
                    lambda x, a=axis: [torch.softmax(x["data"] / 2, a)]))
        out.append((f"log_softmax-{tag}", "log_softmax", {"axis": axis},
                    {"data": lambda s=shape: _normal(*s)},
                    lambda x, a=axis: [torch.log_softmax(x["data"], a)]))
    out.append(("prelu", "LeakyReLU", {"act_type": "prelu"},
                {"data": lambda: _away(2, 3, 4), "gamma": lambda: _pos(3)},
                lambda x: [torch.where(x["data"] > 0, x["data"],
                                       x["data"] * x["gamma"].reshape(1, 3, 1))]))
    for shape in ((2, 4), (3, 2, 5)):
        out.append((f"embedding-{len(shape)}d", "Embedding", {"input_dim": 7, "output_dim": 3},
                    {"data": lambda s=shape: torch.randint(0, 7, s).to(F64),
                     "weight": lambda: _normal(7, 3)},
                    lambda x: [F.embedding(x["data"].long(), x["weight"])]))
    out.append(("where", "where", {},
                {"condition": lambda: torch.randint(0, 2, (3, 4)).to(F64),
                 "x": lambda: _normal(3, 4), "y": lambda: _normal(3, 4)},
                lambda x: [torch.where(x["condition"] != 0, x["x"], x["y"])]))
    out.append(("where_1d", "where", {},
                {"condition": lambda: torch.tensor([1.0, 0.0, 1.0], dtype=F64),
                 "x": lambda: _normal(3, 4), "y": lambda: _normal(3, 4)},
                lambda x: [torch.where(x["condition"][:, None] != 0, x["x"], x["y"])]))
    for tag, params in (("fix_gamma", {}), ("free_gamma", {"fix_gamma": False}),
                        ("axis_last", {"fix_gamma": False, "axis": -1})):
        axis = params.get("axis", 1)

        def bn_ref(x, fix=params.get("fix_gamma", True), axis=axis):
            d = x["data"]
            dims = [i for i in range(d.dim()) if i != axis % d.dim()]
            view = [1] * d.dim()
            view[axis % d.dim()] = -1
            gamma = torch.ones_like(x["gamma"]) if fix else x["gamma"]
            mean, var = d.mean(dims, keepdim=True), d.var(dims, unbiased=False, keepdim=True)
            return [(d - mean) / torch.sqrt(var + 1e-3) * gamma.reshape(view)
                    + x["beta"].reshape(view)]
        channels = 3
        shape = (4, 3, 2, 2) if axis == 1 else (4, 2, 3)
        out.append((f"bn-{tag}", "BatchNorm", params,
                    {"data": lambda s=shape: _normal(*s), "gamma": lambda c=channels: _pos(c),
                     "beta": lambda c=channels: _normal(c)}, bn_ref))
    return out


def _shape_cases():
    out = []
    for shape, src, reverse, want in (
            ((0, -1), (2, 3, 4), False, (2, 12)), ((-1, 2, -2), (2, 3, 4, 5), False,
                                                   (3, 2, 4, 5)),
            ((-3, -2), (2, 3, 4, 5), False, (6, 4, 5)),
            ((-4, -1, 2, -2), (4, 3, 5), False, (2, 2, 3, 5)),
            ((-1, 0), (10, 5, 4), True, (50, 4)),
            ((0, -1, 2, -4, 0), (3, 4, 6), True, (3, 2, 2, 6))):
        out.append((f"reshape-{shape}-{reverse}".replace(" ", ""), "Reshape",
                    {"shape": shape, "reverse": reverse}, {"data": lambda s=src: _normal(*s)},
                    lambda x, w=want: [x["data"].reshape(w)]))
    out += [
        ("flatten", "Flatten", {}, {"data": lambda: _normal(2, 3, 4)},
         lambda x: [x["data"].reshape(2, 12)]),
        ("concat", "Concat", {"dim": 1}, {"arg0": lambda: _normal(2, 3),
                                          "arg1": lambda: _normal(2, 4)},
         lambda x: [torch.cat([x["arg0"], x["arg1"]], 1)]),
        ("concat_dim0", "Concat", {"dim": 0}, {"arg0": lambda: _normal(1, 3),
                                               "arg1": lambda: _normal(2, 3),
                                               "arg2": lambda: _normal(3, 3)},
         lambda x: [torch.cat([x["arg0"], x["arg1"], x["arg2"]], 0)]),
        ("stack", "stack", {"axis": 1}, {"arg0": lambda: _normal(2, 3),
                                         "arg1": lambda: _normal(2, 3)},
         lambda x: [torch.stack([x["arg0"], x["arg1"]], 1)]),
        ("split", "SliceChannel", {"num_outputs": 3, "axis": 1},
         {"data": lambda: _normal(2, 6, 2)}, lambda x: list(torch.chunk(x["data"], 3, 1))),
        ("split_squeeze", "split", {"num_outputs": 3, "axis": 1, "squeeze_axis": True},
         {"data": lambda: _normal(2, 3, 4)}, lambda x: list(x["data"].unbind(1))),
        ("expand_dims", "expand_dims", {"axis": -1}, {"data": lambda: _normal(2, 3)},
         lambda x: [x["data"][..., None]]),
        ("swapaxes", "swapaxes", {"dim1": 0, "dim2": 2}, {"data": lambda: _normal(2, 3, 4)},
         lambda x: [x["data"].transpose(0, 2)]),
        ("transpose", "transpose", {}, {"data": lambda: _normal(2, 3, 4)},
         lambda x: [x["data"].permute(2, 1, 0)]),
        ("transpose_axes", "transpose", {"axes": (1, 0, 2)},
         {"data": lambda: _normal(2, 3, 4)}, lambda x: [x["data"].permute(1, 0, 2)]),
        ("sum_all", "sum", {}, {"data": lambda: _normal(2, 3, 4)},
         lambda x: [x["data"].sum().reshape(1)]),
        ("sum_keepdims", "sum", {"axis": (0, 2), "keepdims": True},
         {"data": lambda: _normal(2, 3, 4)}, lambda x: [x["data"].sum((0, 2), keepdim=True)]),
        ("sum_exclude", "sum", {"axis": 1, "exclude": True},
         {"data": lambda: _normal(2, 3, 4)}, lambda x: [x["data"].sum((0, 2))]),
        ("mean_axis", "mean", {"axis": -1}, {"data": lambda: _normal(2, 3, 4)},
         lambda x: [x["data"].mean(-1)]),
    ]
    return out


CASES = _cases()
NO_GRAD_INPUTS = {"Embedding": ["data"], "where": ["condition"]}


def _bind(op, params, inputs):
    """Bind mx.sym.<op> over Variables named like its inputs, in float64."""
    variables = {name: mx.sym.Variable(name) for name in inputs}
    fn = getattr(mx.sym, op)
    if op in ("Concat", "stack"):
        sym = fn(*variables.values(), **params)
    else:
        sym = fn(**variables, **params)
    nograd = NO_GRAD_INPUTS.get(op, [])
    reqs = {n: "null" if n in nograd else "write" for n in sym.list_arguments()}
    exe = sym.simple_bind(mx.cpu(), grad_req=reqs,
                          type_dict={n: np.float64 for n in sym.list_arguments()},
                          **{n: tuple(t.shape) for n, t in inputs.items()})
    return sym, exe, [n for n in inputs if n not in nograd]


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in CASES])
def test_operator_grad_matches_torch_autograd(case):
    torch.manual_seed(42)
    cid, op, params, makers, ref = case
    inputs = {name: make() for name, make in makers.items()}
    sym, exe, diff = _bind(op, params, inputs)
    outs = exe.forward(is_train=True, **{n: mx.nd.array(t, dtype=np.float64)
                                         for n, t in inputs.items()})
    leaves = {n: t.clone().requires_grad_(n in diff) for n, t in inputs.items()}
    want = ref(leaves)
    assert len(outs) == len(want)
    heads = [torch.randn(w.shape, dtype=F64) for w in want]
    for got, w in zip(outs, want):
        torch.testing.assert_close(got.tensor, w.detach(), rtol=1e-10, atol=1e-10)
    exe.backward([mx.nd.array(h, dtype=np.float64) for h in heads])
    graded = [(w, h) for w, h in zip(want, heads) if w.requires_grad]
    wgrads = torch.autograd.grad([w for w, _ in graded], [leaves[n] for n in diff],
                                 [h for _, h in graded], allow_unused=True) if graded else \
        [None] * len(diff)
    for name, wg in zip(diff, wgrads):
        wg = torch.zeros_like(inputs[name]) if wg is None else wg
        torch.testing.assert_close(exe.grad_dict[name].tensor, wg, rtol=1e-9, atol=1e-10,
                                   msg=f"{cid}: gradient of {name}")


def _fd_cases():
    """Finite differences need smooth points: the non-constant cases, once per operator kind."""
    skip = ("BlockGrad", "zeros_like", "ones_like", "Dropout")
    return [c for c in CASES if c[1] not in skip]


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in _fd_cases()])
def test_operator_grad_matches_finite_differences(case):
    """torch.autograd.gradcheck (central differences, float64) on the registry's forward."""
    torch.manual_seed(7)
    cid, op, params, makers, _ = case
    inputs = {name: make() for name, make in makers.items()}
    opdef = registry.get(op)
    if opdef.variadic:
        params = dict(params, **{opdef.variadic: len(inputs)})
    parsed = opdef.parse(params)
    names = opdef.arguments(parsed)
    nograd = NO_GRAD_INPUTS.get(op, [])
    aux = [torch.zeros(inputs["data"].shape[parsed.get("axis", 1)], dtype=F64),
           torch.ones(inputs["data"].shape[parsed.get("axis", 1)], dtype=F64)] \
        if op == "BatchNorm" else []
    diff = [n for n in names if n not in nograd]

    def fn(*xs):
        given = dict(zip(diff, xs))
        args = [given.get(n, inputs[n]) for n in names]
        return tuple(opdef.forward(parsed, args, [a.clone() for a in aux], True))

    xs = tuple(inputs[n].clone().requires_grad_(True) for n in diff)
    assert torch.autograd.gradcheck(fn, xs, eps=1e-6, atol=1e-5, rtol=1e-4)


# -- loss layers: the gradient is that of the loss they stand for, whatever the head gradient --
def _ce_loss(data, label, axis, ignore=None, scale=1.0, norm="null"):
    logp = torch.log_softmax(data, axis)
    picked = -logp.gather(axis, label.long().unsqueeze(axis)).squeeze(axis)
    keep = torch.ones_like(picked) if ignore is None else (label != ignore).to(F64)
    denom = {"null": 1.0, "batch": float(data.shape[0]),
             "valid": max(float(keep.sum()), 1.0)}[norm]
    return (picked * keep).sum() * scale / denom


SOFTMAX_OUTPUT_CASES = [
    ("plain", {}, (4, 5), (4,), -1, {}),
    ("scale_batch", {"grad_scale": 2.0, "normalization": "batch"}, (6, 3), (6,), -1,
     {"scale": 2.0, "norm": "batch"}),
    ("ignore_valid", {"use_ignore": True, "ignore_label": 1, "normalization": "valid"},
     (8, 3), (8,), -1, {"ignore": 1, "norm": "valid"}),
    ("ignore_label_unused", {"ignore_label": 1}, (8, 3), (8,), -1, {}),
    ("preserve_shape", {"preserve_shape": True}, (2, 3, 4), (2, 3), -1, {}),
    ("multi_output_valid", {"multi_output": True, "normalization": "valid"}, (2, 3, 4),
     (2, 4), 1, {"norm": "valid"}),
]


@pytest.mark.parametrize("case", SOFTMAX_OUTPUT_CASES, ids=[c[0] for c in SOFTMAX_OUTPUT_CASES])
def test_softmax_output_grad_is_cross_entropy_grad(case):
    """SoftmaxOutput's backward is d(cross entropy)/d(data) (softmax minus one-hot, scaled):
    checked against torch.autograd and central differences of the loss, with a head gradient
    of 100 that the loss layer must ignore."""
    torch.manual_seed(0)
    _, params, dshape, lshape, axis, loss_opts = case
    data = _normal(*dshape)
    classes = dshape[axis]
    label = torch.randint(0, classes, lshape).to(F64)
    if loss_opts.get("norm") == "valid" and "ignore" in loss_opts:
        label[0] = loss_opts["ignore"]
    sym = mx.sym.SoftmaxOutput(mx.sym.Variable("data"), mx.sym.Variable("label"), **params)
    exe = sym.simple_bind(mx.cpu(), grad_req={"data": "write", "label": "null"},
                          type_dict={"data": np.float64, "label": np.float64},
                          data=dshape, label=lshape)
    out = exe.forward(is_train=True, data=mx.nd.array(data, dtype=np.float64),
                      label=mx.nd.array(label, dtype=np.float64))[0]
    torch.testing.assert_close(out.tensor, torch.softmax(data, axis))
    exe.backward(mx.nd.array(torch.full(dshape, 100.0, dtype=F64), dtype=np.float64))
    got = exe.grad_dict["data"].tensor
    leaf = data.clone().requires_grad_(True)
    want, = torch.autograd.grad(_ce_loss(leaf, label, axis, **loss_opts), leaf)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    flat = data.reshape(-1)
    for i in range(0, flat.numel(), max(1, flat.numel() // 7)):
        hi, lo = flat.clone(), flat.clone()
        hi[i] += 1e-6
        lo[i] -= 1e-6
        fd = (_ce_loss(hi.reshape(dshape), label, axis, **loss_opts)
              - _ce_loss(lo.reshape(dshape), label, axis, **loss_opts)) / 2e-6
        assert abs(float(fd) - float(got.reshape(-1)[i])) < 1e-6


@pytest.mark.parametrize("op,act,loss", [
    ("LinearRegressionOutput", lambda t: t, lambda o, y: 0.5 * ((o - y) ** 2)),
    ("LogisticRegressionOutput", torch.sigmoid,
     lambda o, y: -(y * torch.log(o) + (1 - y) * torch.log(1 - o))),
    ("MAERegressionOutput", lambda t: t, lambda o, y: (o - y).abs()),
])
@pytest.mark.parametrize("shape,scale", [((4, 3), 1.0), ((5, 1), 0.5)])
def test_regression_output_grad_is_loss_grad(op, act, loss, shape, scale):
    """Gradient = grad_scale / (outputs per sample) * dLoss/ddata (logistic: through the
    sigmoid), whatever the head gradient."""
    torch.manual_seed(3)
    data = _away(*shape)
    label = torch.rand(*shape, dtype=F64).round() if "Logistic" in op else _normal(*shape)
    sym = getattr(mx.sym, op)(mx.sym.Variable("data"), mx.sym.Variable("label"),
                              grad_scale=scale)
    exe = sym.simple_bind(mx.cpu(), grad_req={"data": "write", "label": "null"},
                          type_dict={"data": np.float64, "label": np.float64},
                          data=shape, label=shape)
    out = exe.forward(is_train=True, data=mx.nd.array(data, dtype=np.float64),
                      label=mx.nd.array(label, dtype=np.float64))[0]
    torch.testing.assert_close(out.tensor, act(data))
    exe.backward(mx.nd.array(torch.full(shape, -7.0, dtype=F64), dtype=np.float64))
    leaf = data.clone().requires_grad_(True)
    total = loss(act(leaf), label).sum() * scale / shape[1]
    want, = torch.autograd.grad(total, leaf)
    torch.testing.assert_close(exe.grad_dict["data"].tensor, want, rtol=1e-9, atol=1e-12)


# -- state: Dropout and BatchNorm ---------------------------------------------------------------
def test_dropout_train_masks_and_scales_predict_is_identity():
    mx.random.seed(1)
    sym = mx.sym.Dropout(mx.sym.Variable("data"), p=0.25)
    exe = sym.simple_bind(mx.cpu(), data=(200, 50))
    x = mx.nd.ones((200, 50))
    out = exe.forward(is_train=True, data=x)[0].asnumpy()
    kept = out != 0
    assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.75)}
    assert abs(kept.mean() - 0.75) < 0.02
    exe.backward(mx.nd.ones((200, 50)))
    np.testing.assert_array_equal(exe.grad_dict["data"].asnumpy() != 0, kept)
    np.testing.assert_array_equal(exe.forward(is_train=False, data=x)[0].asnumpy(), 1.0)
    always = mx.sym.Dropout(mx.sym.Variable("data"), p=0.5, mode="always")
    out = always.simple_bind(mx.cpu(), data=(200, 50)).forward(is_train=False, data=x)
    assert (out[0].asnumpy() == 0).any()


@pytest.mark.parametrize("momentum", [0.9, 0.6])
def test_batchnorm_training_updates_moving_stats_and_predict_uses_them(momentum):
    torch.manual_seed(5)
    x = _normal(6, 3, 2, 2)
    sym = mx.sym.BatchNorm(mx.sym.Variable("data"), fix_gamma=False, momentum=momentum,
                           name="batchnorm0")
    exe = sym.simple_bind(mx.cpu(), type_dict={"data": np.float64}, data=x.shape)
    assert sorted(exe.aux_dict) == ["batchnorm0_moving_mean", "batchnorm0_moving_var"]
    exe.arg_dict["batchnorm0_gamma"][:] = 1.0
    mean0, var0 = torch.tensor([0.5, -0.5, 0.0], dtype=F64), torch.tensor([2.0, 1.0, 0.5],
                                                                          dtype=F64)
    exe.aux_dict["batchnorm0_moving_mean"][:] = mx.nd.array(mean0, dtype=np.float64)
    exe.aux_dict["batchnorm0_moving_var"][:] = mx.nd.array(var0, dtype=np.float64)
    exe.forward(is_train=True, data=mx.nd.array(x, dtype=np.float64))
    bmean, bvar = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
    mm = exe.aux_dict["batchnorm0_moving_mean"].tensor
    mv = exe.aux_dict["batchnorm0_moving_var"].tensor
    torch.testing.assert_close(mm, momentum * mean0 + (1 - momentum) * bmean)
    torch.testing.assert_close(mv, momentum * var0 + (1 - momentum) * bvar)
    before = (mm.clone(), mv.clone())
    pred = exe.forward(is_train=False, data=mx.nd.array(x, dtype=np.float64))[0].tensor
    want = (x - before[0].reshape(1, 3, 1, 1)) / torch.sqrt(before[1].reshape(1, 3, 1, 1) + 1e-3)
    torch.testing.assert_close(pred, want)
    torch.testing.assert_close(mm, before[0])
    torch.testing.assert_close(mv, before[1])


def test_batchnorm_use_global_stats_trains_on_moving_stats_and_keeps_them():
    torch.manual_seed(6)
    x = _normal(4, 2, 3)
    sym = mx.sym.BatchNorm(mx.sym.Variable("data"), use_global_stats=True, fix_gamma=True,
                           name="batchnorm0")
    exe = sym.simple_bind(mx.cpu(), type_dict={"data": np.float64}, data=x.shape)
    exe.arg_dict["batchnorm0_gamma"][:] = 5.0
    exe.aux_dict["batchnorm0_moving_var"][:] = 4.0
    out = exe.forward(is_train=True, data=mx.nd.array(x, dtype=np.float64))[0].tensor
    torch.testing.assert_close(out, x / math.sqrt(4.0 + 1e-3))
    np.testing.assert_array_equal(exe.aux_dict["batchnorm0_moving_var"].asnumpy(), 4.0)
    exe.backward(mx.nd.ones(x.shape, dtype=np.float64))
    np.testing.assert_allclose(exe.grad_dict["data"].asnumpy(), 1 / math.sqrt(4.001))
    np.testing.assert_array_equal(exe.grad_dict["batchnorm0_gamma"].asnumpy(), 0.0)
