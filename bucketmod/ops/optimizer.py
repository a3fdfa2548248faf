"""Optimizer update operators (`sgd_update`, `adam_update`, ... and their mixed-precision and
multi-tensor forms) with MXNet's formulas term by term.

Each `*_step` function updates in place: the states it is given, and `out` (which may be the
weight itself, as `mx.optimizer` passes it; an update that reads the weight after writing
`out`, as nag_mom_update does, then reads the new weight, exactly as MXNet's kernel does with
out=weight). The operators call them on a fresh `out` unless the caller gives one; the
`mx.optimizer` classes call them on the weight.
"""
import torch

from .params import Param
from .registry import OpDef, register


def _clip(g, clip):
    return g.clamp(-clip, clip) if clip is not None and clip >= 0 else g


def _grad(weight, grad, rescale, clip, wd=0.0, decay_first=False):
    """`clip(rescale * grad)`, or `clip(rescale * grad + wd * weight)` with decay_first."""
    g = grad.to(weight.dtype) * rescale
    if decay_first:
        g = g + wd * weight
    return _clip(g, clip)


def sgd_step(weight, grad, out, lr, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0):
    g = _grad(weight, grad, rescale_grad, clip_gradient)
    out.copy_((1.0 - lr * wd) * weight - lr * g)


def sgd_mom_step(weight, grad, mom, out, lr, momentum=0.0, wd=0.0, rescale_grad=1.0,
                 clip_gradient=-1.0):
    g = _grad(weight, grad, rescale_grad, clip_gradient)
    mom.mul_(momentum).sub_(lr * wd * weight).sub_(lr * g)
    out.copy_(weight + mom)


def nag_mom_step(weight, grad, mom, out, lr, momentum=0.0, wd=0.0, rescale_grad=1.0,
                 clip_gradient=-1.0):
    g = _grad(weight, grad, rescale_grad, clip_gradient)
    mom.mul_(momentum)
    out.copy_(weight - mom + (momentum + 1) * (mom - lr * (g + wd * weight)))
    mom.sub_(lr * (g + wd * weight))


def adam_step(weight, grad, mean, var, out, lr, beta1=0.9, beta2=0.999, epsilon=1e-8, wd=0.0,
              rescale_grad=1.0, clip_gradient=-1.0):
    g = _grad(weight, grad, rescale_grad, clip_gradient, wd, decay_first=True)
    mean.mul_(beta1).add_((1.0 - beta1) * g)
    var.mul_(beta2).add_((1.0 - beta2) * g * g)
    out.copy_(weight - lr * mean / (var.sqrt() + epsilon))


def rmsprop_step(weight, grad, n, out, lr, gamma1=0.95, epsilon=1e-8, wd=0.0, rescale_grad=1.0,
                 clip_gradient=-1.0, clip_weights=-1.0):
    g = _grad(weight, grad, rescale_grad, clip_gradient, wd, decay_first=True)
    n.copy_((1.0 - gamma1) * (g * g) + gamma1 * n)
    out.copy_(_clip(weight - lr * (g / (n + epsilon).sqrt()), clip_weights))


def rmspropalex_step(weight, grad, n, g_state, delta, out, lr, gamma1=0.95, gamma2=0.9,
                     epsilon=1e-8, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0,
                     clip_weights=-1.0):
    g = _grad(weight, grad, rescale_grad, clip_gradient, wd, decay_first=True)
    n.copy_((1.0 - gamma1) * g * g + gamma1 * n)
    g_state.copy_((1.0 - gamma1) * g + gamma1 * g_state)
    delta.copy_(gamma2 * delta - lr * g / (n - g_state * g_state + epsilon).sqrt())
    out.copy_(_clip(weight + delta, clip_weights))


def ftrl_step(weight, grad, z, n, out, lr, lamda1=0.01, beta=1.0, wd=0.0, rescale_grad=1.0,
              clip_gradient=-1.0):
    g = _grad(weight, grad, rescale_grad, clip_gradient)
    z.add_(g - ((n + g * g).sqrt() - n.sqrt()) * weight / lr)
    n.add_(g * g)
    active = (z.abs() > lamda1).to(weight.dtype)
    out.copy_((torch.sign(z) * lamda1 - z) / ((beta + n.sqrt()) / lr + wd) * active)


def ftml_step(weight, grad, d, v, z, out, lr, t, beta1=0.6, beta2=0.999, epsilon=1e-8, wd=0.0,
              rescale_grad=1.0, clip_grad=-1.0):
    g = _grad(weight, grad, rescale_grad, clip_grad, wd, decay_first=True)
    v.mul_(beta2).add_((1 - beta2) * g * g)
    d_t = (1 - beta1 ** t) / lr * ((v / (1 - beta2 ** t)).sqrt() + epsilon)
    z.mul_(beta1).add_((1 - beta1) * g - (d_t - beta1 * d) * weight)
    d.copy_(d_t)
    out.copy_(-z / d_t)


def signsgd_step(weight, grad, out, lr, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0):
    out.copy_((1.0 - lr * wd) * weight - lr * torch.sign(grad.to(weight.dtype)))


def signum_step(weight, grad, mom, out, lr, momentum=0.0, wd=0.0, rescale_grad=1.0,
                clip_gradient=-1.0, wd_lh=0.0):
    g = _grad(weight, grad, rescale_grad, clip_gradient)
    mom.mul_(momentum).sub_((1 - momentum) * wd * weight).sub_((1 - momentum) * g)
    out.copy_((1.0 - lr * wd_lh) * weight + lr * torch.sign(mom))


def lamb_phase1(weight, grad, mean, var, t, beta1=0.9, beta2=0.999, epsilon=1e-6,
                bias_correction=True, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0):
    g = _grad(weight, grad, rescale_grad, clip_gradient)
    mean.mul_(beta1).add_((1.0 - beta1) * g)
    var.mul_(beta2).add_((1.0 - beta2) * g * g)
    if bias_correction:
        m, v = mean / (1.0 - beta1 ** t), var / (1.0 - beta2 ** t)
    else:
        m, v = mean, var
    return m / (v.sqrt() + epsilon) + wd * weight


def lamb_phase2(weight, g, r1, r2, lr, lower_bound=-1.0, upper_bound=-1.0):
    r1 = r1.reshape(())
    if lower_bound >= 0:
        r1 = r1.clamp(min=lower_bound)
    if upper_bound >= 0:
        r1 = r1.clamp(max=upper_bound)
    r2 = r2.reshape(())
    ratio = torch.where((r1 == 0) | (r2 == 0), torch.ones_like(r1), r1 / r2)
    return weight - lr * ratio * g


def adamw_step(weight, grad, mean, var, out, rescale_grad, lr, eta, beta1=0.9, beta2=0.999,
               epsilon=1e-8, wd=0.0, clip_gradient=-1.0):
    """contrib's adamw_update: no update at all when rescale_grad is not finite."""
    scale = float(rescale_grad)
    if not torch.isfinite(torch.tensor(scale)):
        out.copy_(weight)
        return
    g = _grad(weight, grad, scale, clip_gradient)
    mean.mul_(beta1).add_((1.0 - beta1) * g)
    var.mul_(beta2).add_((1.0 - beta2) * g * g)
    out.copy_(weight - eta * (lr * mean / (var.sqrt() + epsilon) + wd * weight))


def group_adagrad_step(weight, grad, history, out, lr, rescale_grad=1.0, clip_gradient=-1.0,
                       epsilon=1e-5):
    g = _grad(weight, grad, rescale_grad, clip_gradient)
    rows = g.reshape(g.shape[0], -1)
    history.add_(rows.square().mean(1).reshape(history.shape))
    scale = (history.reshape(-1) + epsilon).sqrt().reshape((-1,) + (1,) * (g.dim() - 1))
    out.copy_(weight - lr * g / scale)


_CLIP = {"rescale_grad": Param("float", 1.0), "clip_gradient": Param("float", -1.0)}
_LAZY = {"lazy_update": Param("bool", True)}


def _step_params(p, names):
    return {k: p[k] for k in names if k in p}


def _update_op(name, inputs, step, params, state_slots, step_args, mp=False, aliases=()):
    """An update operator: `inputs` (weight, grad, states..., [weight32]); `state_slots` are
    the positions of the inputs the step writes into. With `mp`, the step runs on the float32
    weight32 (last input), which it updates, and the output is its cast."""

    def forward(p, x, aux, train):
        out = p.get("_out")
        with torch.no_grad():
            if mp:
                w32 = x[-1]
                step(w32, *[x[i] for i in range(1, len(x) - 1)], w32,
                     **_step_params(p, step_args))
                result = w32.to(x[0].dtype)
                if out is not None:
                    out.copy_(result)
                    return [out]
                return [result]
            target = out if out is not None else torch.empty_like(x[0])
            step(x[0], *x[1:], target, **_step_params(p, step_args))
            return [target]

    writes = tuple(state_slots) + ((len(inputs) - 1,) if mp else ())
    register(OpDef(name=name, params=params, aliases=aliases,
                   arguments=lambda p, names=tuple(inputs): list(names),
                   infer_shape=lambda p, s: (s, [s[0]]), forward=forward, mutates=writes))


def _f(default=None):
    return Param("float") if default is None else Param("float", default)


_SGD = dict({"lr": _f(), "wd": _f(0.0)}, **_CLIP, **_LAZY)
_MOM = dict({"lr": _f(), "momentum": _f(0.0), "wd": _f(0.0)}, **_CLIP)
_SGD_ARGS = ("lr", "wd", "rescale_grad", "clip_gradient")
_MOM_ARGS = ("lr", "momentum", "wd", "rescale_grad", "clip_gradient")
_ADAM = dict({"lr": _f(), "beta1": _f(0.9), "beta2": _f(0.999), "epsilon": _f(1e-8),
              "wd": _f(0.0)}, **_CLIP, **_LAZY)
_RMS = dict({"lr": _f(), "gamma1": _f(0.95), "epsilon": _f(1e-8), "wd": _f(0.0)}, **_CLIP,
            clip_weights=_f(-1.0))
_RMS_ALEX = dict({"lr": _f(), "gamma1": _f(0.95), "gamma2": _f(0.9), "epsilon": _f(1e-8),
                  "wd": _f(0.0)}, **_CLIP, clip_weights=_f(-1.0))

_update_op("sgd_update", ["weight", "grad"], sgd_step, _SGD, (), _SGD_ARGS)
_update_op("sgd_mom_update", ["weight", "grad", "mom"], sgd_mom_step, dict(_MOM, **_LAZY), (2,),
           _MOM_ARGS)
_update_op("mp_sgd_update", ["weight", "grad", "weight32"], sgd_step, _SGD, (), _SGD_ARGS,
           mp=True)
_update_op("mp_sgd_mom_update", ["weight", "grad", "mom", "weight32"], sgd_mom_step,
           dict(_MOM, **_LAZY), (2,), _MOM_ARGS, mp=True)
_update_op("nag_mom_update", ["weight", "grad", "mom"], nag_mom_step, _MOM, (2,), _MOM_ARGS)
_update_op("mp_nag_mom_update", ["weight", "grad", "mom", "weight32"], nag_mom_step, _MOM, (2,),
           _MOM_ARGS, mp=True)
_update_op("adam_update", ["weight", "grad", "mean", "var"], adam_step, _ADAM, (2, 3),
           ("lr", "beta1", "beta2", "epsilon", "wd", "rescale_grad", "clip_gradient"))
_update_op("rmsprop_update", ["weight", "grad", "n"], rmsprop_step, _RMS, (2,), tuple(_RMS))
_update_op("rmspropalex_update", ["weight", "grad", "n", "g", "delta"], rmspropalex_step,
           _RMS_ALEX, (2, 3, 4), tuple(_RMS_ALEX))
_update_op("ftrl_update", ["weight", "grad", "z", "n"], ftrl_step,
           dict({"lr": _f(), "lamda1": _f(0.01), "beta": _f(1.0), "wd": _f(0.0)}, **_CLIP),
           (2, 3), ("lr", "lamda1", "beta", "wd", "rescale_grad", "clip_gradient"))
_update_op("ftml_update", ["weight", "grad", "d", "v", "z"], ftml_step,
           {"lr": _f(), "beta1": _f(0.6), "beta2": _f(0.999), "epsilon": _f(1e-8),
            "t": Param("int"), "wd": _f(0.0), "rescale_grad": _f(1.0), "clip_grad": _f(-1.0)},
           (2, 3, 4), ("lr", "beta1", "beta2", "epsilon", "t", "wd", "rescale_grad",
                       "clip_grad"))
_update_op("signsgd_update", ["weight", "grad"], signsgd_step,
           dict({"lr": _f(), "wd": _f(0.0)}, **_CLIP), (), _SGD_ARGS)
_update_op("signum_update", ["weight", "grad", "mom"], signum_step,
           dict(_MOM, wd_lh=_f(0.0)), (2,), _MOM_ARGS + ("wd_lh",))
_update_op("_contrib_group_adagrad_update", ["weight", "grad", "history"], group_adagrad_step,
           {"lr": _f(), "rescale_grad": _f(1.0), "clip_gradient": _f(-1.0),
            "epsilon": _f(1e-5)}, (2,), ("lr", "rescale_grad", "clip_gradient", "epsilon"))

_LAMB1 = {"beta1": _f(0.9), "beta2": _f(0.999), "epsilon": _f(1e-6), "t": Param("int"),
          "bias_correction": Param("bool", True), "wd": _f(), "rescale_grad": _f(1.0),
          "clip_gradient": _f(-1.0)}


def _lamb1_forward(p, x, aux, train):
    with torch.no_grad():
        weight = x[4] if len(x) > 4 else x[0]
        return [lamb_phase1(weight, x[1], x[2], x[3], **_step_params(p, _LAMB1))]


def _lamb2_forward(p, x, aux, train):
    """mp_lamb_update_phase2 reads weight32 and leaves it unchanged, as in MXNet."""
    with torch.no_grad():
        weight = x[4] if len(x) > 4 else x[0]
        new = lamb_phase2(weight, x[1], x[2], x[3], p["lr"], p["lower_bound"],
                          p["upper_bound"])
        return [new.to(x[0].dtype)]


_LAMB2 = {"lr": _f(), "lower_bound": _f(-1.0), "upper_bound": _f(-1.0)}
for _prefix, _extra in (("", []), ("mp_", ["weight32"])):
    register(OpDef(name=f"{_prefix}lamb_update_phase1", params=_LAMB1,
                   arguments=lambda p, e=tuple(_extra): ["weight", "grad", "mean", "var"] + list(
                       e),
                   infer_shape=lambda p, s: (s, [s[0]]), forward=_lamb1_forward,
                   mutates=(2, 3)))
    register(OpDef(name=f"{_prefix}lamb_update_phase2", params=_LAMB2,
                   arguments=lambda p, e=tuple(_extra): ["weight", "g", "r1", "r2"] + list(e),
                   infer_shape=lambda p, s: (s, [s[0]]), forward=_lamb2_forward))


def _adamw_forward(mp):
    def forward(p, x, aux, train):
        with torch.no_grad():
            args = _step_params(p, ("lr", "eta", "beta1", "beta2", "epsilon", "wd",
                                    "clip_gradient"))
            scale = x[-1].reshape(-1)[0]
            if mp:
                w32 = x[4]
                adamw_step(w32, x[1], x[2], x[3], w32, scale, **args)
                return [w32.to(x[0].dtype)]
            out = torch.empty_like(x[0])
            adamw_step(x[0], x[1], x[2], x[3], out, scale, **args)
            return [out]
    return forward


_ADAMW = {"lr": _f(), "beta1": _f(0.9), "beta2": _f(0.999), "epsilon": _f(1e-8), "wd": _f(0.0),
          "eta": _f(), "clip_gradient": _f(-1.0)}
register(OpDef(name="_adamw_update", params=_ADAMW,
               arguments=lambda p: ["weight", "grad", "mean", "var", "rescale_grad"],
               infer_shape=lambda p, s: (s, [s[0]]), forward=_adamw_forward(False),
               mutates=(2, 3)))
register(OpDef(name="_mp_adamw_update", params=_ADAMW,
               arguments=lambda p: ["weight", "grad", "mean", "var", "weight32",
                                    "rescale_grad"],
               infer_shape=lambda p, s: (s, [s[0]]), forward=_adamw_forward(True),
               mutates=(2, 3, 4)))


MULTI_SGD = {
    # name: (inputs per weight, has momentum, mixed precision, lrs/wds as arrays)
    "multi_sgd_update": (2, False, False, False),
    "multi_sgd_mom_update": (3, True, False, False),
    "multi_mp_sgd_update": (3, False, True, False),
    "multi_mp_sgd_mom_update": (4, True, True, False),
    "preloaded_multi_sgd_update": (2, False, False, True),
    "preloaded_multi_sgd_mom_update": (3, True, False, True),
    "preloaded_multi_mp_sgd_update": (3, False, True, True),
    "preloaded_multi_mp_sgd_mom_update": (4, True, True, True),
}


def _multi_sgd_forward(per, momentum, mp, preloaded):
    def forward(p, x, aux, train):
        n = p["num_weights"]
        lrs, wds = (x[-2].tolist(), x[-1].tolist()) if preloaded else (p["lrs"], p["wds"])
        outs = []
        with torch.no_grad():
            for i in range(n):
                group = x[i * per:(i + 1) * per]
                weight, grad = group[0], group[1]
                master = group[-1] if mp else weight
                mom = group[2] if momentum else torch.zeros_like(master)
                target = master if mp else torch.empty_like(weight)
                sgd_mom_step(master, grad, mom, target, lrs[i],
                             p["momentum"] if momentum else 0.0, wds[i], p["rescale_grad"],
                             p["clip_gradient"])
                outs.append(target.to(weight.dtype) if mp else target)
        return outs
    return forward


def _multi_arguments(momentum, mp, preloaded):
    names = ["weight", "grad"] + (["mom"] if momentum else []) + (["weight32"] if mp else [])

    def arguments(p):
        args = [f"{name}_{i}" for i in range(p["num_weights"]) for name in names]
        return args + (["lrs", "wds"] if preloaded else [])
    return arguments


for _name, (_per, _mom, _mp, _pre) in MULTI_SGD.items():
    _params = {} if _pre else {"lrs": Param("floats"), "wds": Param("floats")}
    if _mom:
        _params["momentum"] = _f(0.0)
    _params.update(_CLIP, num_weights=Param("int", 1))
    register(OpDef(
        name=_name, params=_params, variadic="num_weights",
        arguments=_multi_arguments(_mom, _mp, _pre),
        outputs=lambda p: [f"output{i}" for i in range(p["num_weights"])],
        infer_shape=lambda p, s, per=_per: (s, [s[i * per] for i in range(p["num_weights"])]),
        forward=_multi_sgd_forward(_per, _mom, _mp, _pre),
    ))


def _multi_state_arguments(names, key, tail=()):
    def arguments(p):
        return [f"{name}_{i}" for i in range(p[key]) for name in names] + list(tail)
    return arguments


def _multi_adamw_forward(mp):
    per = 5 if mp else 4

    def forward(p, x, aux, train):
        scale = x[-1].reshape(-1)[0]
        outs = []
        with torch.no_grad():
            for i in range(p["num_weights"]):
                weight, grad, mean, var = x[i * per:i * per + 4]
                master = x[i * per + 4] if mp else weight
                target = master if mp else torch.empty_like(weight)
                adamw_step(master, grad, mean, var, target, scale, p["lrs"][i], p["etas"][i],
                           p["beta1"], p["beta2"], p["epsilon"], p["wds"][i],
                           p["clip_gradient"])
                outs.append(target.to(weight.dtype))
        return outs
    return forward


def _multi_lamb_forward(mp):
    per = 5 if mp else 4

    def forward(p, x, aux, train):
        outs = []
        with torch.no_grad():
            for i in range(p["num_tensors"]):
                weight, grad, mean, var = x[i * per:i * per + 4]
                master = x[i * per + 4] if mp else weight
                g = lamb_phase1(master, grad, mean, var, p["step_count"][i], p["beta1"],
                                p["beta2"], p["epsilon"], p["bias_correction"], p["wds"][i],
                                p["rescale_grad"], p["clip_gradient"])
                new = lamb_phase2(master, g, master.norm(), g.norm(), p["learning_rates"][i],
                                  p["lower_bound"], p["upper_bound"])
                if mp:
                    master.copy_(new)
                outs.append(new.to(weight.dtype))
        return outs
    return forward


_MULTI_ADAMW = {"lrs": Param("floats"), "beta1": _f(0.9), "beta2": _f(0.999),
                "epsilon": _f(1e-8), "wds": Param("floats"), "etas": Param("floats"),
                "clip_gradient": _f(-1.0), "num_weights": Param("int", 1)}
_MULTI_LAMB = {"learning_rates": Param("floats"), "beta1": _f(0.9), "beta2": _f(0.999),
               "epsilon": _f(1e-6), "wds": Param("floats"), "rescale_grad": _f(1.0),
               "lower_bound": _f(-1.0), "upper_bound": _f(-1.0), "clip_gradient": _f(-1.0),
               "bias_correction": Param("bool", True), "step_count": Param("shape"),
               "num_tensors": Param("int", 1)}
for _mp in (False, True):
    _names = ["weight", "grad", "mean", "var"] + (["weight32"] if _mp else [])
    _infix = "mp_" if _mp else ""
    register(OpDef(
        name=f"_multi_{_infix}adamw_update", params=_MULTI_ADAMW, variadic="num_weights",
        arguments=_multi_state_arguments(_names, "num_weights", ["rescale_grad"]),
        outputs=lambda p: [f"output{i}" for i in range(p["num_weights"])],
        infer_shape=lambda p, s, n=len(_names): (s, [s[i * n] for i in range(p["num_weights"])]),
        forward=_multi_adamw_forward(_mp),
    ))
    register(OpDef(
        name=f"_multi_{_infix}lamb_update", params=_MULTI_LAMB, variadic="num_tensors",
        arguments=_multi_state_arguments(_names, "num_tensors"),
        outputs=lambda p: [f"output{i}" for i in range(p["num_tensors"])],
        infer_shape=lambda p, s, n=len(_names): (s, [s[i * n] for i in range(p["num_tensors"])]),
        forward=_multi_lamb_forward(_mp),
    ))


def _multi_lars(p, x, aux, train):
    lrs, wsq, gsq, wds = x
    w_norm, g_norm = wsq.sqrt(), gsq.sqrt()
    lars = lrs * p["eta"] * w_norm / (g_norm * p["rescale_grad"] + wds * w_norm + p["eps"])
    return [torch.where((w_norm > 0) & (gsq > 0), lars, lrs)]


register(OpDef(
    name="multi_lars", params={"eta": _f(), "eps": _f(), "rescale_grad": _f(1.0)},
    arguments=lambda p: ["lrs", "weights_sum_sq", "grads_sum_sq", "wds"],
    infer_shape=lambda p, s: (s, [s[0]]), forward=_multi_lars,
))


def _array_args(p):
    return [f"array_{i}" for i in range(p["num_arrays"])]


register(OpDef(
    name="multi_sum_sq", params={"num_arrays": Param("int")}, variadic="num_arrays",
    arguments=_array_args, infer_shape=lambda p, s: (s, [(p["num_arrays"],)]),
    infer_type=lambda p, t: (t, ["float32"]),
    forward=lambda p, x, aux, train: [torch.stack(
        [t.detach().float().square().sum() for t in x])],
))


def _all_finite(p, x, aux, train):
    ok = all(bool(torch.isfinite(t).all()) for t in x)
    return [torch.tensor([1.0 if ok else 0.0], dtype=torch.float32, device=x[0].device)]


register(OpDef(name="all_finite", params={"init_output": Param("bool", True)},
               infer_shape=lambda p, s: (s, [(1,)]), infer_type=lambda p, t: (t, ["float32"]),
               forward=_all_finite))
register(OpDef(
    name="multi_all_finite", variadic="num_arrays",
    params={"num_arrays": Param("int", 1), "init_output": Param("bool", True)},
    arguments=_array_args, infer_shape=lambda p, s: (s, [(1,)]),
    infer_type=lambda p, t: (t, ["float32"]), forward=_all_finite,
))


def _reset_arrays(p, x, aux, train):
    with torch.no_grad():
        for t in x:
            t.zero_()
    return []


register(OpDef(name="reset_arrays", params={"num_arrays": Param("int")}, variadic="num_arrays",
               arguments=_array_args, outputs=lambda p: [], infer_shape=lambda p, s: (s, []),
               forward=_reset_arrays, mutates=tuple(range(64))))
