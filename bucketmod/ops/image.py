"""`mx.nd.image` / `mx.sym.image` operators: to_tensor, normalize, crop, flips, resize and the
random colour augmentations, on (H, W, C) or (N, H, W, C) images (to_tensor's output and
normalize's input are (C, H, W) or (N, C, H, W)), with MXNet's colour formulas."""
import torch
import torch.nn.functional as F

from .common import same_shape
from .params import Param
from .registry import OpDef, register
from .shape_ops import ShapeMismatch

_GRAY = (0.299, 0.587, 0.114)
_EIG = ((55.46 * -0.5675, 4.794 * 0.7192, 1.148 * 0.4009),
        (55.46 * -0.5808, 4.794 * -0.0045, 1.148 * -0.8140),
        (55.46 * -0.5836, 4.794 * -0.6948, 1.148 * 0.4203))


def _saturate(value, like):
    """MXNet's saturate_cast: integer images round and clamp to their range."""
    if like.is_floating_point():
        return value.to(like.dtype)
    info = torch.iinfo(like.dtype)
    return value.round().clamp(info.min, info.max).to(like.dtype)


def _hwc(p, s, name="data"):
    if s is not None and len(s) not in (3, 4):
        raise ShapeMismatch(name, "(H, W, C) or (N, H, W, C)", s)
    return s


def _to_tensor(p, x, aux, train):
    data = x[0].to(torch.float32) / 255.0
    return [data.movedim(-1, -3)]


register(OpDef(
    name="_image_to_tensor", params={},
    infer_shape=lambda p, s: (s, [None if _hwc(p, s[0]) is None else tuple(s[0][:-3]) + (
        s[0][-1], s[0][-3], s[0][-2])]),
    infer_type=lambda p, t: (t, ["float32"]), forward=_to_tensor,
))


def _channel_view(values, data):
    v = torch.as_tensor(values, dtype=data.dtype, device=data.device)
    channels = data.shape[-3]
    v = v[:channels] if len(v) >= channels else v.expand(channels)
    return v.reshape(-1, 1, 1)


register(OpDef(
    name="_image_normalize",
    params={"mean": Param("floats", (0.0, 0.0, 0.0, 0.0)),
            "std": Param("floats", (1.0, 1.0, 1.0, 1.0))},
    infer_shape=same_shape,
    forward=lambda p, x, aux, train: [(x[0] - _channel_view(p["mean"], x[0]))
                                      / _channel_view(p["std"], x[0])],
))
register(OpDef(
    name="_image_crop",
    params={"x": Param("int"), "y": Param("int"), "width": Param("int"),
            "height": Param("int")},
    infer_shape=lambda p, s: (s, [None if _hwc(p, s[0]) is None else tuple(s[0][:-3]) + (
        p["height"], p["width"], s[0][-1])]),
    forward=lambda p, x, aux, train: [x[0][..., p["y"]:p["y"] + p["height"],
                                           p["x"]:p["x"] + p["width"], :]],
))
# MXNet 1.9.1's flips pass the head gradient back unflipped; the gradient here is the flip's.
register(OpDef(name="_image_flip_left_right", params={}, infer_shape=same_shape,
               forward=lambda p, x, aux, train: [torch.flip(x[0], [-2])]))
register(OpDef(name="_image_flip_top_bottom", params={}, infer_shape=same_shape,
               forward=lambda p, x, aux, train: [torch.flip(x[0], [-3])]))


def _coin():
    return bool(torch.rand(()) < 0.5)


register(OpDef(name="_image_random_flip_left_right", params={}, infer_shape=same_shape,
               forward=lambda p, x, aux, train: [torch.flip(x[0], [-2]) if _coin() else x[0]]))
register(OpDef(name="_image_random_flip_top_bottom", params={}, infer_shape=same_shape,
               forward=lambda p, x, aux, train: [torch.flip(x[0], [-3]) if _coin() else x[0]]))


def _resize_size(p, h, w):
    size = p["size"]
    if len(size) == 1:
        if not p["keep_ratio"]:
            return size[0], size[0]
        if h > w:
            return int(h * size[0] / w), size[0]
        return size[0], int(w * size[0] / h)
    return size[1], size[0]


_INTERP = {0: "nearest", 1: "bilinear", 2: "area", 3: "bicubic"}


def _resize(p, x, aux, train):
    data = x[0]
    h, w = _resize_size(p, data.shape[-3], data.shape[-2])
    images = data.reshape((-1,) + tuple(data.shape[-3:])).permute(0, 3, 1, 2).to(torch.float32)
    mode = _INTERP.get(p["interp"], "bilinear")
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    out = F.interpolate(images, size=(h, w), mode=mode, **kwargs).permute(0, 2, 3, 1)
    return [_saturate(out, data).reshape(tuple(data.shape[:-3]) + (h, w, data.shape[-1]))]


register(OpDef(
    name="_image_resize",
    params={"size": Param("shape", ()), "keep_ratio": Param("bool", False),
            "interp": Param("int", 1)},
    infer_shape=lambda p, s: (s, [None if _hwc(p, s[0]) is None else tuple(s[0][:-3]) + tuple(
        _resize_size(p, s[0][-3], s[0][-2])) + (s[0][-1],)]),
    forward=_resize,
))


def _gray(data):
    weights = torch.tensor(_GRAY, dtype=torch.float32, device=data.device)
    return (data.to(torch.float32) * weights).sum(-1, keepdim=True)


def adjust_brightness(data, alpha):
    return _saturate(data.to(torch.float32) * alpha, data)


def adjust_contrast(data, alpha):
    """`alpha * x + (1 - alpha) * mean gray level` of each image."""
    img = data.to(torch.float32)
    gray = _gray(img) if img.shape[-1] > 1 else img
    mean = gray.mean(dim=(-3, -2, -1), keepdim=True)
    return _saturate(img * alpha + (1 - alpha) * mean, data)


def adjust_saturation(data, alpha):
    """`alpha * x + (1 - alpha) * gray`. MXNet 1.9.1 takes only the blue term as the gray
    level (an assignment where a sum was meant); the full weighted gray level is used here."""
    if data.shape[-1] == 1:
        return data
    img = data.to(torch.float32)
    return _saturate(_gray(img) * (1 - alpha) + img * alpha, data)


def _rgb_to_hls(rgb):
    r, g, b = (rgb[..., i] / 255.0 for i in range(3))
    vmax = torch.maximum(torch.maximum(r, g), b)
    vmin = torch.minimum(torch.minimum(r, g), b)
    diff = vmax - vmin
    light = (vmax + vmin) * 0.5
    safe = torch.where(diff > 1.1920929e-07, diff, torch.ones_like(diff))
    sat = torch.where(light < 0.5, diff / (vmax + vmin).clamp(min=1e-30),
                      diff / (2.0 - vmax - vmin).clamp(min=1e-30))
    hue = torch.where(vmax == r, (g - b) * 60 / safe,
                      torch.where(vmax == g, (b - r) * 60 / safe + 120, (r - g) * 60 / safe + 240))
    hue = torch.where(hue < 0, hue + 360, hue)
    chroma = diff > 1.1920929e-07
    return torch.where(chroma, hue, 0.0), light, torch.where(chroma, sat, 0.0)


def _hls_to_rgb(h, light, s):
    p2 = torch.where(light <= 0.5, light * (1 + s), light + s - light * s)
    p1 = 2 * light - p2
    h = torch.remainder(h / 60.0, 6.0)
    sector = h.floor().long().clamp(0, 5)
    frac = h - sector
    tab = torch.stack([p2, p1, p1 + (p2 - p1) * (1 - frac), p1 + (p2 - p1) * frac], dim=-1)
    sectors = torch.tensor([[1, 3, 0], [1, 0, 2], [3, 0, 1], [0, 2, 1], [0, 1, 3], [2, 1, 0]],
                           device=h.device)
    pick = sectors[sector]
    b, g, r = (tab.gather(-1, pick[..., i:i + 1])[..., 0] for i in range(3))
    grey = s == 0
    b, g, r = (torch.where(grey, light, v) for v in (b, g, r))
    return torch.stack([r, g, b], dim=-1) * 255.0


def adjust_hue(data, alpha):
    if data.shape[-1] == 1:
        return data
    h, light, s = _rgb_to_hls(data.to(torch.float32))
    return _saturate(_hls_to_rgb(h + alpha * 360.0, light, s), data)


def adjust_lighting(data, alpha):
    eig = torch.tensor(_EIG, dtype=torch.float32, device=data.device)
    pca = eig @ torch.tensor(list(alpha)[:3], dtype=torch.float32, device=data.device)
    if data.shape[-1] == 1:
        return data
    return _saturate(data.to(torch.float32) + pca, data)


def _uniform(lo, hi):
    return float(torch.empty(()).uniform_(lo, hi))


def _color_jitter(p, x, aux, train):
    out = x[0]
    for step in torch.randperm(4).tolist():
        if step == 0 and p["brightness"] > 0:
            out = adjust_brightness(out, 1.0 + _uniform(-p["brightness"], p["brightness"]))
        elif step == 1 and p["contrast"] > 0:
            out = adjust_contrast(out, 1.0 + _uniform(-p["contrast"], p["contrast"]))
        elif step == 2 and p["saturation"] > 0:
            out = adjust_saturation(out, 1.0 + _uniform(-p["saturation"], p["saturation"]))
        elif step == 3 and p["hue"] > 0:
            out = adjust_hue(out, _uniform(-p["hue"], p["hue"]))
    return [out]


_FACTORS = {"min_factor": Param("float"), "max_factor": Param("float")}
RANDOM_ENHANCE = {"brightness": adjust_brightness, "contrast": adjust_contrast,
                  "saturation": adjust_saturation, "hue": adjust_hue}
for _name, _fn in RANDOM_ENHANCE.items():
    register(OpDef(
        name=f"_image_random_{_name}", params=_FACTORS, infer_shape=same_shape,
        forward=lambda p, x, aux, train, fn=_fn: [fn(x[0], _uniform(p["min_factor"],
                                                                    p["max_factor"]))],
    ))
register(OpDef(
    name="_image_random_color_jitter",
    params={k: Param("float") for k in ("brightness", "contrast", "saturation", "hue")},
    infer_shape=same_shape, forward=_color_jitter,
))
register(OpDef(name="_image_adjust_lighting", params={"alpha": Param("floats")},
               infer_shape=same_shape,
               forward=lambda p, x, aux, train: [adjust_lighting(x[0], p["alpha"])]))
register(OpDef(
    name="_image_random_lighting", params={"alpha_std": Param("float", 0.05)},
    infer_shape=same_shape,
    forward=lambda p, x, aux, train: [adjust_lighting(
        x[0], (torch.randn(3) * p["alpha_std"]).tolist())],
))
