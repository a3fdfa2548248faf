"""Random samplers and densities with MXNet's parameters: `_random_*` (scalar parameters and a
shape), `_sample_*` (parameter arrays, one draw of `shape` per element), `_random_*_like`,
`_random_pdf_*` (densities with gradients), multinomial sampling, shuffle and the unique
zipfian sampler. Draws come from torch's generators, which `mx.random.seed` seeds.

MXNet's gamma takes a shape `alpha` and a scale `beta` when sampling, and a rate `beta` in its
density; negative_binomial counts failures before `k` successes of probability `p`;
generalized_negative_binomial has mean `mu` and dispersion `alpha`.
"""
import math

import numpy as np
import torch

from ..context import current_context
from .common import torch_dtype
from .params import Param
from .registry import OpDef, register
from .shape_ops import ShapeMismatch


def _gamma(alpha, beta):
    return torch._standard_gamma(alpha) * beta


def _neg_binomial(k, p):
    return torch.poisson(_gamma(k, (1 - p) / p))


def _gen_neg_binomial(mu, alpha):
    rate = torch.where(alpha > 0, _gamma(1 / alpha.clamp(min=1e-30), alpha * mu), mu)
    return torch.poisson(rate)


def _draw(name, params, shape, device):
    """`shape` draws (float64) for parameter tensors broadcast to `shape`."""
    def full(v):
        return torch.as_tensor(v, dtype=torch.float64, device=device).expand(shape).contiguous()
    if name == "uniform":
        low, high = params
        return torch.rand(shape, dtype=torch.float64, device=device) * (full(high) - full(
            low)) + full(low)
    if name == "normal":
        loc, scale = params
        return torch.randn(shape, dtype=torch.float64, device=device) * full(scale) + full(loc)
    if name == "gamma":
        return _gamma(full(params[0]), full(params[1]))
    if name == "exponential":
        return torch.empty(shape, dtype=torch.float64, device=device).exponential_() / full(
            params[0])
    if name == "poisson":
        return torch.poisson(full(params[0]))
    if name == "negative_binomial":
        return _neg_binomial(full(params[0]), full(params[1]))
    return _gen_neg_binomial(full(params[0]), full(params[1]))


DISTRIBUTIONS = {
    "uniform": (("low", 0.0), ("high", 1.0)),
    "normal": (("loc", 0.0), ("scale", 1.0)),
    "gamma": (("alpha", 1.0), ("beta", 1.0)),
    "exponential": (("lam", 1.0),),
    "poisson": (("lam", 1.0),),
    "negative_binomial": (("k", 1), ("p", 1.0)),
    "generalized_negative_binomial": (("mu", 1.0), ("alpha", 1.0)),
}
SAMPLE_INPUTS = {"normal": ("mu", "sigma"), "uniform": ("low", "high")}
_FLOATS = (None, "float16", "float32", "float64")


def _source_shape(p):
    return p.get("_bound_shape") or p["shape"]


def _bind(p, out_shapes, device):
    shape = out_shapes[0] if out_shapes and out_shapes[0] is not None else p["shape"]
    return dict(p, _bound_shape=tuple(shape or (1,)), _device=device)


def _random_forward(dist):
    names = [n for n, _ in DISTRIBUTIONS[dist]]

    def forward(p, x, aux, train):
        shape = _source_shape(p)
        device = p.get("_device") or current_context().torch_device
        out = _draw(dist, [p[n] for n in names], tuple(shape or (1,)), device)
        return [out.to(torch_dtype(p["dtype"], torch.float32))]
    return forward


def _like_forward(dist):
    names = [n for n, _ in DISTRIBUTIONS[dist]]

    def forward(p, x, aux, train):
        data = x[0]
        out = _draw(dist, [p[n] for n in names], tuple(data.shape), data.device)
        return [out.to(data.dtype)]
    return forward


def _param(name, default):
    return Param("int" if isinstance(default, int) else "float", default)


for _dist, _spec in DISTRIBUTIONS.items():
    _params = {n: _param(n, d) for n, d in _spec}
    register(OpDef(
        name=f"_random_{_dist}", aliases=(f"random_{_dist}",) + (
            (_dist,) if _dist in ("uniform", "normal") else ()),
        params=dict(_params, shape=Param("shape_or_none", None), ctx=Param("str", ""),
                    dtype=Param("dtype", None, _FLOATS)),
        arguments=lambda p: [], infer_shape=lambda p, s: ([], [p["shape"] or None]),
        infer_type=lambda p, t: ([], [p["dtype"] or "float32"]),
        bind_params=_bind, forward=_random_forward(_dist),
    ))
    register(OpDef(
        name=f"_random_{_dist}_like", params=_params, infer_shape=lambda p, s: (s, [s[0]]),
        forward=_like_forward(_dist),
    ))
register(OpDef(
    name="_random_randint", aliases=("random_randint",),
    params={"low": Param("int"), "high": Param("int"), "shape": Param("shape_or_none", None),
            "ctx": Param("str", ""), "dtype": Param("dtype", None, (None, "int32", "int64"))},
    arguments=lambda p: [], infer_shape=lambda p, s: ([], [p["shape"] or None]),
    infer_type=lambda p, t: ([], [p["dtype"] or "int32"]), bind_params=_bind,
    forward=lambda p, x, aux, train: [torch.randint(
        p["low"], p["high"], tuple(_source_shape(p) or (1,)),
        device=p.get("_device") or current_context().torch_device).to(
        torch_dtype(p["dtype"], torch.int32))],
))


def _sample_names(dist):
    return list(SAMPLE_INPUTS.get(dist, [n for n, _ in DISTRIBUTIONS[dist]]))


def _sample_infer(p, s):
    shape = None
    for i, x in enumerate(s):
        if x is not None:
            if shape is not None and tuple(x) != tuple(shape):
                raise ShapeMismatch(f"input {i}", shape, x)
            shape = x
    return [shape] * len(s), [None if shape is None else tuple(shape) + tuple(p["shape"])]


def _sample_forward(dist):
    def forward(p, x, aux, train):
        params = [t.detach().to(torch.float64) for t in x]
        extra = tuple(p["shape"])
        shape = tuple(params[0].shape) + extra
        params = [t.reshape(tuple(t.shape) + (1,) * len(extra)) for t in params]
        out = _draw(dist, params, shape, params[0].device)
        return [out.to(torch_dtype(p["dtype"], torch.float32))]
    return forward


for _dist in DISTRIBUTIONS:
    _names = _sample_names(_dist)
    register(OpDef(
        name=f"_sample_{_dist}", aliases=(f"sample_{_dist}",),
        params={"shape": Param("shape", ()), "dtype": Param("dtype", None, _FLOATS)},
        arguments=lambda p, names=tuple(_names): list(names),
        infer_shape=_sample_infer,
        infer_type=lambda p, t: (t, [p["dtype"] or "float32"]),
        forward=_sample_forward(_dist),
    ))


def _multinomial_forward(p, x, aux, train):
    data = x[0]
    k = data.shape[-1]
    extra = tuple(p["shape"])
    n = max(int(np.prod(extra)), 1)
    rows = data.detach().reshape(-1, k).to(torch.float64)
    idx = torch.multinomial(rows, n, replacement=True)
    out_shape = tuple(data.shape[:-1]) + extra
    samples = idx.reshape(out_shape).to(torch_dtype(p["dtype"]))
    if not p["get_prob"]:
        return [samples]
    logp = torch.log(data.reshape(-1, k).gather(1, idx)).reshape(out_shape)
    return [samples, logp]


register(OpDef(
    name="_sample_multinomial", aliases=("sample_multinomial",),
    params={"shape": Param("shape", ()), "get_prob": Param("bool", False),
            "dtype": Param("dtype", "int32", ("float16", "float32", "float64", "int32",
                                               "uint8"))},
    outputs=lambda p: ["output0", "output1"] if p["get_prob"] else ["output"],
    infer_shape=lambda p, s: (s, [None if s[0] is None else tuple(s[0][:-1]) + tuple(
        p["shape"])] * (2 if p["get_prob"] else 1)),
    infer_type=lambda p, t: (t, [p["dtype"]] + ([t[0]] if p["get_prob"] else [])),
    forward=_multinomial_forward,
))


def _shuffle_forward(p, x, aux, train):
    data = x[0]
    return [data[torch.randperm(data.shape[0], device=data.device)]]


register(OpDef(name="_shuffle", aliases=("shuffle",), params={},
               infer_shape=lambda p, s: (s, [s[0]]), forward=_shuffle_forward))


def _zipfian_forward(p, x, aux, train):
    """`shape` = (batch, n): n distinct classes per row drawn from the log-uniform (Zipfian)
    distribution over [0, range_max), and how many draws that took."""
    batch, n = _source_shape(p)
    log_range = math.log(p["range_max"] + 1)
    rows, tries = [], []
    for _ in range(batch):
        seen, count = [], 0
        while len(seen) < n:
            count += 1
            v = int(math.exp(torch.rand(()).item() * log_range)) - 1
            v %= p["range_max"]
            if v not in seen:
                seen.append(v)
        rows.append(seen)
        tries.append(count)
    device = p.get("_device") or current_context().torch_device
    return [torch.tensor(rows, dtype=torch.int64, device=device),
            torch.tensor(tries, dtype=torch.int64, device=device)]


register(OpDef(
    name="_sample_unique_zipfian",
    params={"range_max": Param("int"), "shape": Param("shape_or_none", None)},
    arguments=lambda p: [], outputs=lambda p: ["output0", "output1"],
    infer_shape=lambda p, s: ([], [p["shape"], None if p["shape"] is None else (
        p["shape"][0],)]),
    infer_type=lambda p, t: ([], [np.int64, np.int64]), bind_params=_bind,
    forward=_zipfian_forward,
))


def _param_view(t, sample, trailing=0):
    """Parameters (P...) viewed against samples (P..., S...[, k])."""
    return t.reshape(tuple(t.shape) + (1,) * (sample.dim() - t.dim() - trailing))


def _pdf_uniform(s, low, high):
    return torch.zeros_like(s) - torch.log(high - low)


def _pdf_normal(s, mu, sigma):
    return -0.5 * ((s - mu) / sigma) ** 2 - torch.log(math.sqrt(2 * math.pi) * sigma)


def _pdf_gamma(s, alpha, beta):
    return alpha * torch.log(beta) + (alpha - 1) * torch.log(s) - beta * s - torch.lgamma(alpha)


def _pdf_exponential(s, lam):
    return torch.log(lam) - lam * s


def _pdf_poisson(s, lam):
    s = s.detach()
    return s * torch.log(lam) - torch.lgamma(s + 1) - lam


def _pdf_negative_binomial(s, k, p):
    s = s.detach()
    return (torch.lgamma(s + k) - torch.lgamma(s + 1) - torch.lgamma(k) + k * torch.log(p)
            + s * torch.log(1 - p))


def _pdf_gen_negative_binomial(s, mu, alpha):
    return _pdf_negative_binomial(s, 1 / alpha, 1 / (mu * alpha + 1))


PDFS = {
    "uniform": (("low", "high"), _pdf_uniform),
    "normal": (("mu", "sigma"), _pdf_normal),
    "gamma": (("alpha", "beta"), _pdf_gamma),
    "exponential": (("lam",), _pdf_exponential),
    "poisson": (("lam",), _pdf_poisson),
    "negative_binomial": (("k", "p"), _pdf_negative_binomial),
    "generalized_negative_binomial": (("mu", "alpha"), _pdf_gen_negative_binomial),
}


def _pdf_forward(fn):
    def forward(p, x, aux, train):
        sample = x[0]
        logp = fn(sample, *[_param_view(t, sample) for t in x[1:]])
        return [logp if p["is_log"] else torch.exp(logp)]
    return forward


def _pdf_infer(p, s):
    sample = s[0]
    params = None
    for x in s[1:]:
        params = x if x is not None else params
    if sample is None or params is None:
        return s, [sample]
    return [sample] + [params] * (len(s) - 1), [sample]


for _dist, (_names, _fn) in PDFS.items():
    register(OpDef(
        name=f"_random_pdf_{_dist}", aliases=(f"random_pdf_{_dist}",),
        params={"is_log": Param("bool", False)},
        inputs=("sample",) + _names,
        arguments=lambda p, names=_names: ["sample"] + list(names),
        infer_shape=_pdf_infer, forward=_pdf_forward(_fn),
    ))


def _pdf_dirichlet(p, x, aux, train):
    sample, alpha = x
    a = alpha.reshape(tuple(alpha.shape[:-1]) + (1,) * (sample.dim() - alpha.dim())
                      + alpha.shape[-1:])
    logp = ((a - 1) * torch.log(sample)).sum(-1) + torch.lgamma(a.sum(-1)) - torch.lgamma(
        a).sum(-1)
    logp = logp.reshape(tuple(sample.shape[:-1]) or (1,))
    return [logp if p["is_log"] else torch.exp(logp)]


register(OpDef(
    name="_random_pdf_dirichlet", aliases=("random_pdf_dirichlet",),
    params={"is_log": Param("bool", False)}, arguments=lambda p: ["sample", "alpha"],
    infer_shape=lambda p, s: (s, [None if s[0] is None else tuple(s[0][:-1]) or (1,)]),
    forward=_pdf_dirichlet,
))
