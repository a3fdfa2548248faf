"""Detection and correspondence operators: ROIPooling, Correlation and contrib's ROIAlign,
bounding-box IoU/NMS/encode/decode, bipartite matching and MultiBox anchors.

They follow MXNet's CPU kernels step by step (rounding of ROI corners, Caffe2's bilinear rules,
greedy NMS order); gradients come from torch autograd through the same indexing.
"""
import math

import numpy as np
import torch

from .params import Param
from .registry import OpDef, register
from .shape_ops import ShapeMismatch


def _round_half_away(v):
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def _roi_pooling(p, x, aux, train):
    data, rois = x
    ph, pw = p["pooled_size"]
    scale = p["spatial_scale"]
    _, channels, height, width = data.shape
    outs = []
    for roi in rois.detach().tolist():
        b = int(roi[0])
        x1, y1, x2, y2 = (_round_half_away(v * scale) for v in roi[1:5])
        rh, rw = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
        bh, bw = rh / ph, rw / pw
        bins = []
        for i in range(ph):
            hs = min(max(int(math.floor(i * bh)) + y1, 0), height)
            he = min(max(int(math.ceil((i + 1) * bh)) + y1, 0), height)
            for j in range(pw):
                ws = min(max(int(math.floor(j * bw)) + x1, 0), width)
                we = min(max(int(math.ceil((j + 1) * bw)) + x1, 0), width)
                if he <= hs or we <= ws or not 0 <= b < data.shape[0]:
                    bins.append(data.new_zeros(channels))
                else:
                    bins.append(data[b, :, hs:he, ws:we].amax(dim=(1, 2)))
        outs.append(torch.stack(bins, dim=1).reshape(channels, ph, pw))
    return [torch.stack(outs) if outs else data.new_zeros((0, channels, ph, pw))]


register(OpDef(
    name="ROIPooling", params={"pooled_size": Param("shape"), "spatial_scale": Param("float")},
    arguments=lambda p: ["data", "rois"], num_all_outputs=lambda p: 2,
    infer_shape=lambda p, s: (s, [None if None in s else (s[1][0], s[0][1]) + tuple(
        p["pooled_size"])]),
    forward=_roi_pooling,
))


def _corr_geometry(p, d):
    k, md, s1, s2, pad = (p["kernel_size"], p["max_displacement"], p["stride1"], p["stride2"],
                          p["pad_size"])
    border = md + (k - 1) // 2
    top_h = math.ceil((d[2] + 2 * pad - 2 * border) / s1)
    top_w = math.ceil((d[3] + 2 * pad - 2 * border) / s1)
    grid = md // s2
    return k, md, s1, s2, pad, top_h, top_w, grid


def _correlation(p, x, aux, train):
    a, b = x
    k, md, s1, s2, pad, top_h, top_w, grid = _corr_geometry(p, a.shape)
    pa = torch.nn.functional.pad(a, [pad] * 4)
    pb = torch.nn.functional.pad(b, [pad] * 4)
    span_h, span_w = (top_h - 1) * s1 + k, (top_w - 1) * s1 + k
    left = pa[:, :, md:md + span_h, md:md + span_w]
    outs = []
    for dy in range(-grid, grid + 1):
        for dx in range(-grid, grid + 1):
            oy, ox = md + dy * s2, md + dx * s2
            right = pb[:, :, oy:oy + span_h, ox:ox + span_w]
            prod = left * right if p["is_multiply"] else (left - right).abs()
            summed = torch.nn.functional.avg_pool2d(prod.sum(1, keepdim=True), k, s1) * (k * k)
            outs.append(summed[:, 0, :top_h, :top_w])
    return [torch.stack(outs, dim=1) / (k * k * a.shape[1])]


def _correlation_infer(p, s):
    d = s[0]
    if d is None:
        return s, [None]
    _, _, _, _, _, top_h, top_w, grid = _corr_geometry(p, d)
    return [d, d], [(d[0], (2 * grid + 1) ** 2, top_h, top_w)]


register(OpDef(
    name="Correlation",
    params={"kernel_size": Param("int", 1), "max_displacement": Param("int", 1),
            "stride1": Param("int", 1), "stride2": Param("int", 1),
            "pad_size": Param("int", 0), "is_multiply": Param("bool", True)},
    arguments=lambda p: ["data1", "data2"], num_all_outputs=lambda p: 3,
    infer_shape=_correlation_infer, forward=_correlation,
))


def _bilinear_caffe(img, ys, xs):
    """Caffe2's ROIAlign sampling of img (C, H, W) at float points ys, xs (same shape): zero
    outside [-1, H] x [-1, W], clamped to the border inside it."""
    _, height, width = img.shape
    outside = (ys < -1.0) | (ys > height) | (xs < -1.0) | (xs > width)
    y = ys.clamp(min=0)
    x = xs.clamp(min=0)
    y_low = y.floor().long().clamp(max=height - 1)
    x_low = x.floor().long().clamp(max=width - 1)
    y = torch.where(y_low >= height - 1, y_low.to(y.dtype), y)
    x = torch.where(x_low >= width - 1, x_low.to(x.dtype), x)
    y_high = (y_low + 1).clamp(max=height - 1)
    x_high = (x_low + 1).clamp(max=width - 1)
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    flat = img.reshape(img.shape[0], -1)

    def at(yi, xi):
        return flat[:, (yi * width + xi).reshape(-1)].reshape((img.shape[0],) + ys.shape)

    val = (hy * hx * at(y_low, x_low) + hy * lx * at(y_low, x_high)
           + ly * hx * at(y_high, x_low) + ly * lx * at(y_high, x_high))
    return torch.where(outside, torch.zeros_like(val), val)


def _roi_align(p, x, aux, train):
    data, rois = x
    ph, pw = p["pooled_size"]
    scale, ratio = p["spatial_scale"], p["sample_ratio"]
    offset = 0.5 if p["aligned"] else 0.0
    channels = data.shape[1] // (ph * pw) if p["position_sensitive"] else data.shape[1]
    outs = []
    for roi in rois.detach().tolist():
        if len(roi) == 5:
            b, roi = int(roi[0]), roi[1:]
        else:
            b = 0
        if b < 0:
            outs.append(data.new_zeros((channels, ph, pw)))
            continue
        x1, y1, x2, y2 = (v * scale - offset for v in roi)
        rw, rh = x2 - x1, y2 - y1
        if not p["aligned"]:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / ph, rw / pw
        gh = ratio if ratio > 0 else math.ceil(rh / ph)
        gw = ratio if ratio > 0 else math.ceil(rw / pw)
        iy = torch.arange(gh, dtype=data.dtype, device=data.device)
        ix = torch.arange(gw, dtype=data.dtype, device=data.device)
        rows = torch.arange(ph, dtype=data.dtype, device=data.device)
        cols = torch.arange(pw, dtype=data.dtype, device=data.device)
        ys = y1 + rows[:, None] * bh + (iy[None, :] + 0.5) * bh / gh
        xs = x1 + cols[:, None] * bw + (ix[None, :] + 0.5) * bw / gw
        yy = ys[:, None, :, None].expand(ph, pw, gh, gw)
        xx = xs[None, :, None, :].expand(ph, pw, gh, gw)
        vals = _bilinear_caffe(data[b], yy, xx).mean(dim=(3, 4))
        if p["position_sensitive"]:
            vals = vals.reshape(channels, ph * pw, ph, pw)
            idx = torch.arange(ph * pw, device=data.device)
            vals = vals[:, idx, idx // pw, idx % pw].reshape(channels, ph, pw)
        outs.append(vals)
    return [torch.stack(outs)]


register(OpDef(
    name="_contrib_ROIAlign",
    params={"pooled_size": Param("shape"), "spatial_scale": Param("float"),
            "sample_ratio": Param("int", -1), "position_sensitive": Param("bool", False),
            "aligned": Param("bool", False)},
    arguments=lambda p: ["data", "rois"],
    infer_shape=lambda p, s: (s, [None if None in s else (s[1][0], s[0][1] // (
        p["pooled_size"][0] * p["pooled_size"][1] if p["position_sensitive"] else 1)) + tuple(
        p["pooled_size"])]),
    forward=_roi_align,
))


def _corners(box, fmt):
    """(..., 4) boxes -> xmin, ymin, xmax, ymax."""
    a, b, c, d = box.unbind(-1)
    if fmt == "center":
        return a - c / 2, b - d / 2, a + c / 2, b + d / 2
    return a, b, c, d


def _iou(lhs, rhs, fmt):
    l1, t1, r1, b1 = (v[..., :, None] for v in _corners(lhs, fmt))
    l2, t2, r2, b2 = (v[..., None, :] for v in _corners(rhs, fmt))
    w = (torch.minimum(r1, r2) - torch.maximum(l1, l2)).clamp(min=0)
    h = (torch.minimum(b1, b2) - torch.maximum(t1, t2)).clamp(min=0)
    inter = w * h
    union = (r1 - l1) * (b1 - t1) + (r2 - l2) * (b2 - t2) - inter
    return torch.where(union > 0, inter / union, torch.zeros_like(inter))


def _box_iou(p, x, aux, train):
    lhs, rhs = x
    lf = lhs.reshape(-1, 4)
    rf = rhs.reshape(-1, 4)
    return [_iou(lf, rf, p["format"]).reshape(tuple(lhs.shape[:-1]) + tuple(rhs.shape[:-1]))]


_FORMAT = ("center", "corner")
register(OpDef(
    name="_contrib_box_iou", params={"format": Param("str", "corner", _FORMAT)},
    arguments=lambda p: ["lhs", "rhs"],
    infer_shape=lambda p, s: (s, [None if None in s else tuple(s[0][:-1]) + tuple(s[1][:-1])]),
    forward=_box_iou,
))


def _to_format(coords, src, dst):
    if src == dst:
        return coords
    a, b, c, d = coords.unbind(-1)
    if dst == "center":
        return torch.stack([(a + c) / 2, (b + d) / 2, c - a, d - b], dim=-1)
    return torch.stack([a - c / 2, b - d / 2, a + c / 2, b + d / 2], dim=-1)


def _nms_order(p, rows):
    """Kept row indices of one batch in output order (descending score, greedy NMS)."""
    scores = rows[:, p["score_index"]]
    valid = scores > p["valid_thresh"]
    if p["id_index"] >= 0:
        valid &= rows[:, p["id_index"]] != p["background_id"]
    idx = torch.nonzero(valid).reshape(-1)
    idx = idx[torch.sort(scores[idx], descending=True, stable=True)[1]]
    if p["topk"] >= 0:
        idx = idx[:p["topk"]]
    cs = p["coord_start"]
    boxes = rows[idx, cs:cs + 4]
    iou = _iou(boxes, boxes, p["in_format"])
    if p["id_index"] >= 0 and not p["force_suppress"]:
        ids = rows[idx, p["id_index"]]
        iou = torch.where(ids[:, None] == ids[None, :], iou, torch.zeros_like(iou))
    keep = []
    suppressed = torch.zeros(len(idx), dtype=torch.bool)
    for i in range(len(idx)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > p["overlap_thresh"]
    return idx[keep]


def _box_nms(p, x, aux, train):
    data = x[0]
    n, k = data.shape[-2], data.shape[-1]
    batches = data.reshape(-1, n, k)
    outs = []
    for rows in batches:
        if p["topk"] == 0:
            outs.append(rows)
            continue
        kept = rows[_nms_order(p, rows.detach())]
        cs = p["coord_start"]
        coords = kept[:, cs:cs + 4]
        # MXNet copies the head gradient back unconverted: the conversion passes it through
        coords = coords + (_to_format(coords, p["in_format"], p["out_format"]) - coords).detach()
        kept = torch.cat([kept[:, :cs], coords, kept[:, cs + 4:]], dim=1)
        outs.append(torch.cat([kept, rows.new_full((n - len(kept), k), -1.0)]))
    return [torch.stack(outs).reshape(data.shape)]


register(OpDef(
    name="_contrib_box_nms", aliases=("_contrib_box_non_maximum_suppression",),
    params={"overlap_thresh": Param("float", 0.5), "valid_thresh": Param("float", 0.0),
            "topk": Param("int", -1), "coord_start": Param("int", 2),
            "score_index": Param("int", 1), "id_index": Param("int", -1),
            "background_id": Param("int", -1), "force_suppress": Param("bool", False),
            "in_format": Param("str", "corner", _FORMAT),
            "out_format": Param("str", "corner", _FORMAT)},
    outputs=lambda p: ["output0"], num_all_outputs=lambda p: 2,
    infer_shape=lambda p, s: (s, [s[0]]), forward=_box_nms,
))


def _box_encode(p, x, aux, train):
    samples, matches, anchors, refs, means, stds = x
    idx = matches.detach().long()
    ref = refs.gather(1, idx[..., None].expand(idx.shape + (4,)))
    rx1, ry1, rx2, ry2 = ref.unbind(-1)
    ax1, ay1, ax2, ay2 = anchors.unbind(-1)
    rw, rh, aw, ah = rx2 - rx1, ry2 - ry1, ax2 - ax1, ay2 - ay1
    rcx, rcy, acx, acy = rx1 + rw * 0.5, ry1 + rh * 0.5, ax1 + aw * 0.5, ay1 + ah * 0.5
    t = torch.stack([(rcx - acx) / aw, (rcy - acy) / ah, torch.log(rw / aw),
                     torch.log(rh / ah)], dim=-1)
    t = (t - means) / stds
    valid = (samples > 0.5).to(t.dtype)[..., None].expand_as(t)
    return [torch.where(valid > 0.5, t, torch.zeros_like(t)), valid.detach()]


register(OpDef(
    name="_contrib_box_encode", params={},
    arguments=lambda p: ["samples", "matches", "anchors", "refs", "means", "stds"],
    outputs=lambda p: ["output0", "output1"],
    infer_shape=lambda p, s: (s[:4] + [(4,), (4,)], [s[2], s[2]]), forward=_box_encode,
))


def _box_decode(p, x, aux, train):
    data, anchors = x
    a = anchors.reshape(-1, anchors.shape[-2], 4)[0]
    ax, ay, aw, ah = a.unbind(-1)
    if p["format"] == "corner":
        aw, ah = aw - ax, ah - ay
        ax, ay = ax + aw * 0.5, ay + ah * 0.5
    ox = data[..., 0] * p["std0"] * aw + ax
    oy = data[..., 1] * p["std1"] * ah + ay
    dw, dh = data[..., 2] * p["std2"], data[..., 3] * p["std3"]
    if p["clip"] > 0:
        dw, dh = dw.clamp(max=p["clip"]), dh.clamp(max=p["clip"])
    ow, oh = torch.exp(dw) * aw * 0.5, torch.exp(dh) * ah * 0.5
    return [torch.stack([ox - ow, oy - oh, ox + ow, oy + oh], dim=-1)]


register(OpDef(
    name="_contrib_box_decode",
    params={"std0": Param("float", 1.0), "std1": Param("float", 1.0),
            "std2": Param("float", 1.0), "std3": Param("float", 1.0),
            "clip": Param("float", -1.0), "format": Param("str", "center", _FORMAT)},
    arguments=lambda p: ["data", "anchors"], infer_shape=lambda p, s: (s, [s[0]]),
    forward=_box_decode,
))


def _bipartite_matching(p, x, aux, train):
    data = x[0].detach()
    rows, cols = data.shape[-2], data.shape[-1]
    flat = data.reshape(-1, rows * cols)
    row_marks = torch.full((flat.shape[0], rows), -1.0, dtype=data.dtype)
    col_marks = torch.full((flat.shape[0], cols), -1.0, dtype=data.dtype)
    for b in range(flat.shape[0]):
        scores, order = torch.sort(flat[b], descending=not p["is_ascend"], stable=True)
        count = 0
        for score, idx in zip(scores.tolist(), order.tolist()):
            r, c = divmod(idx, cols)
            if row_marks[b, r] != -1 or col_marks[b, c] != -1:
                continue
            if (score < p["threshold"]) if p["is_ascend"] else (score > p["threshold"]):
                row_marks[b, r], col_marks[b, c] = c, r
                count += 1
                if 0 < p["topk"] < count:
                    break
            else:
                break
    return [row_marks.reshape(data.shape[:-1]).to(data.device),
            col_marks.reshape(tuple(data.shape[:-2]) + (cols,)).to(data.device)]


register(OpDef(
    name="_contrib_bipartite_matching",
    params={"is_ascend": Param("bool", False), "threshold": Param("float"),
            "topk": Param("int", -1)},
    outputs=lambda p: ["output0", "output1"],
    infer_shape=lambda p, s: (s, [None, None] if s[0] is None else [
        tuple(s[0][:-1]), tuple(s[0][:-2]) + (s[0][-1],)]),
    forward=_bipartite_matching,
))


def _multibox_prior(p, x, aux, train):
    data = x[0]
    height, width = data.shape[2], data.shape[3]
    sizes, ratios = p["sizes"], p["ratios"]
    step_y, step_x = p["steps"]
    if step_y <= 0 or step_x <= 0:
        step_y, step_x = 1.0 / height, 1.0 / width
    oy, ox = p["offsets"]
    shapes = [(s, math.sqrt(ratios[0]) if ratios else 1.0) for s in sizes]
    shapes += [(sizes[0], math.sqrt(r)) for r in ratios[1:]]
    boxes = []
    for r in range(height):
        cy = (r + oy) * step_y
        for c in range(width):
            cx = (c + ox) * step_x
            for size, ratio in shapes:
                w = size * height / width * ratio / 2
                h = size / ratio / 2
                boxes.append((cx - w, cy - h, cx + w, cy + h))
    out = torch.tensor(np.asarray(boxes, dtype=np.float32), dtype=data.dtype,
                       device=data.device)
    if p["clip"]:
        out = out.clamp(0.0, 1.0)
    return [out.reshape(1, -1, 4)]


def _multibox_prior_infer(p, s):
    d = s[0]
    if d is None:
        return s, [None]
    if len(d) != 4:
        raise ShapeMismatch("data", "4-d (batch, channels, height, width)", d)
    return s, [(1, d[2] * d[3] * (len(p["sizes"]) + len(p["ratios"]) - 1), 4)]


register(OpDef(
    name="_contrib_MultiBoxPrior",
    params={"sizes": Param("floats", (1.0,)), "ratios": Param("floats", (1.0,)),
            "clip": Param("bool", False), "steps": Param("floats", (-1.0, -1.0)),
            "offsets": Param("floats", (0.5, 0.5))},
    infer_shape=_multibox_prior_infer, forward=_multibox_prior,
))


def _match_anchors(p, overlaps, labels, cls_pred):
    """MXNet's MultiBoxTarget matching for one image: flags (1 positive, 0 negative, -1
    ignored) and matched ground truth per anchor."""
    num_anchors, num_gt = overlaps.shape
    flags = [-1] * num_anchors
    match_iou = [-1.0] * num_anchors
    match_gt = [-1] * num_anchors
    gt_done = [False] * num_gt
    positives = 0
    ov = overlaps.tolist()
    while not all(gt_done):
        best, best_a, best_g = 1e-6, -1, -1
        for a in range(num_anchors):
            if flags[a] == 1:
                continue
            for g in range(num_gt):
                if not gt_done[g] and ov[a][g] > best:
                    best, best_a, best_g = ov[a][g], a, g
        if best_a == -1:
            break
        match_iou[best_a], match_gt[best_a] = best, best_g
        positives += 1
        gt_done[best_g] = True
        flags[best_a] = 1

    def best_gt(a):
        g = max(range(num_gt), key=lambda k: (ov[a][k], -k))
        return g, ov[a][g]

    if p["overlap_threshold"] > 0:
        for a in range(num_anchors):
            if flags[a] == 1:
                continue
            g, iou = best_gt(a)
            match_iou[a], match_gt[a] = iou, g
            if iou > p["overlap_threshold"]:
                positives += 1
                gt_done[g] = True
                flags[a] = 1
    if p["negative_mining_ratio"] > 0:
        num_neg = min(int(positives * p["negative_mining_ratio"]), num_anchors - positives)
        if num_neg > 0:
            candidates = []
            for a in range(num_anchors):
                if flags[a] == 1:
                    continue
                if match_iou[a] < 0:
                    match_gt[a], match_iou[a] = best_gt(a)
                if match_iou[a] < p["negative_mining_thresh"] and flags[a] == -1:
                    prob = torch.softmax(cls_pred[:, a].to(torch.float64), 0)[0].item()
                    candidates.append((prob, a))
            candidates.sort(key=lambda t: t[0])  # hardest first: least background
            for _, a in candidates[:num_neg]:
                flags[a] = 0
    else:
        flags = [f if f == 1 else 0 for f in flags]
    return flags, match_gt


def _multibox_target(p, x, aux, train):
    anchors, labels, cls_preds = (t.detach() for t in x)
    anchor = anchors.reshape(-1, 4).to(torch.float64)
    batch, num_anchors = labels.shape[0], anchor.shape[0]
    vx, vy, vw, vh = p["variances"]
    loc_target = torch.zeros(batch, num_anchors, 4, dtype=torch.float64)
    loc_mask = torch.zeros(batch, num_anchors, 4, dtype=torch.float64)
    cls_target = torch.full((batch, num_anchors), p["ignore_label"], dtype=torch.float64)
    for b in range(batch):
        lab = labels[b].to(torch.float64)
        valid = 0
        while valid < lab.shape[0] and lab[valid, 0] != -1:
            valid += 1
        if valid == 0:
            continue
        gt = lab[:valid]
        overlaps = _iou(anchor, gt[:, 1:5], "corner")
        flags, match = _match_anchors(p, overlaps, gt, cls_preds[b])
        for a, flag in enumerate(flags):
            if flag == 1:
                g = gt[match[a]]
                al, at, ar, ab = anchor[a].tolist()
                gl, gt_, gr, gb = g[1:5].tolist()
                aw, ah, gw, gh = ar - al, ab - at, gr - gl, gb - gt_
                loc_target[b, a] = torch.tensor([
                    ((gl + gr) / 2 - (al + ar) / 2) / aw / vx,
                    ((gt_ + gb) / 2 - (at + ab) / 2) / ah / vy,
                    math.log(gw / aw) / vw, math.log(gh / ah) / vh])
                loc_mask[b, a] = 1.0
                cls_target[b, a] = g[0] + 1
            elif flag == 0:
                cls_target[b, a] = 0.0
    dtype, device = anchors.dtype, anchors.device
    return [loc_target.reshape(batch, -1).to(dtype).to(device),
            loc_mask.reshape(batch, -1).to(dtype).to(device), cls_target.to(dtype).to(device)]


register(OpDef(
    name="_contrib_MultiBoxTarget",
    params={"overlap_threshold": Param("float", 0.5), "ignore_label": Param("float", -1.0),
            "negative_mining_ratio": Param("float", -1.0),
            "negative_mining_thresh": Param("float", 0.5),
            "minimum_negative_samples": Param("int", 0),
            "variances": Param("floats", (0.1, 0.1, 0.2, 0.2))},
    arguments=lambda p: ["anchor", "label", "cls_pred"],
    outputs=lambda p: ["loc_target", "loc_mask", "cls_target"],
    infer_shape=lambda p, s: (s, [None] * 3 if None in s[:2] else [
        (s[1][0], s[0][1] * 4), (s[1][0], s[0][1] * 4), (s[1][0], s[0][1])]),
    forward=_multibox_target,
))


def _multibox_detection(p, x, aux, train):
    cls_prob, loc_pred, anchors = (t.detach().to(torch.float64) for t in x)
    batch, num_classes, num_anchors = cls_prob.shape
    anchor = anchors.reshape(-1, 4)
    vx, vy, vw, vh = p["variances"]
    out = torch.full((batch, num_anchors, 6), -1.0, dtype=torch.float64)
    al, at, ar, ab = anchor.unbind(-1)
    aw, ah, ax, ay = ar - al, ab - at, (al + ar) / 2, (at + ab) / 2
    for b in range(batch):
        score, cls = cls_prob[b, 1:].max(0)
        ident = torch.where(score < p["threshold"], torch.zeros_like(cls), cls + 1) - 1
        loc = loc_pred[b].reshape(-1, 4)
        ox, oy = loc[:, 0] * vx * aw + ax, loc[:, 1] * vy * ah + ay
        ow, oh = torch.exp(loc[:, 2] * vw) * aw / 2, torch.exp(loc[:, 3] * vh) * ah / 2
        boxes = torch.stack([ox - ow, oy - oh, ox + ow, oy + oh], dim=-1)
        if p["clip"]:
            boxes = boxes.clamp(0.0, 1.0)
        rows = torch.cat([ident[:, None].to(torch.float64), score[:, None], boxes], dim=1)
        rows = rows[ident >= 0]
        valid = rows.shape[0]
        if valid == 0:
            continue
        out[b, :valid] = rows
        if not 0 < p["nms_threshold"] <= 1:
            continue
        order = torch.sort(rows[:, 1], descending=True, stable=True)[1]
        keep = valid if p["nms_topk"] <= 0 else min(p["nms_topk"], valid)
        ranked = rows[order[:keep]].clone()
        out[b, keep:valid, 0] = -1
        ious = _iou(ranked[:, 2:], ranked[:, 2:], "corner")
        for i in range(keep):
            if ranked[i, 0] < 0:
                continue
            for j in range(i + 1, keep):
                if ranked[j, 0] >= 0 and (p["force_suppress"] or ranked[i, 0] == ranked[j, 0]) \
                        and ious[i, j] >= p["nms_threshold"]:
                    ranked[j, 0] = -1
        out[b, :keep] = ranked
    return [out.to(x[0].dtype).to(x[0].device)]


register(OpDef(
    name="_contrib_MultiBoxDetection",
    params={"clip": Param("bool", True), "threshold": Param("float", 0.01),
            "background_id": Param("int", 0), "nms_threshold": Param("float", 0.5),
            "force_suppress": Param("bool", False),
            "variances": Param("floats", (0.1, 0.1, 0.2, 0.2)),
            "nms_topk": Param("int", -1)},
    arguments=lambda p: ["cls_prob", "loc_pred", "anchor"],
    infer_shape=lambda p, s: (s, [None if s[0] is None else (s[0][0], s[0][2], 6)]),
    forward=_multibox_detection,
))


def _rpn_anchors(p):
    """Base anchors (x1, y1, x2, y2) of one feature-map cell, in MXNet's ratio-major order."""
    stride = p["feature_stride"]
    w = h = float(stride)
    cx = cy = 0.5 * (stride - 1.0)
    out = []
    for ratio in p["ratios"]:
        for scale in p["scales"]:
            size_ratio = math.floor(w * h / ratio)
            new_w = math.floor(math.sqrt(size_ratio) + 0.5) * scale
            new_h = math.floor(new_w / scale * ratio + 0.5) * scale
            out.append((cx - 0.5 * (new_w - 1), cy - 0.5 * (new_h - 1),
                        cx + 0.5 * (new_w - 1), cy + 0.5 * (new_h - 1)))
    return torch.tensor(out, dtype=torch.float32)


def _rpn_nms(dets, thresh, top_n):
    area = (dets[:, 2] - dets[:, 0] + 1) * (dets[:, 3] - dets[:, 1] + 1)
    suppressed = torch.zeros(len(dets), dtype=torch.bool)
    keep = []
    for i in range(len(dets)):
        if len(keep) >= top_n:
            break
        if suppressed[i]:
            continue
        keep.append(i)
        w = (torch.minimum(dets[i, 2], dets[:, 2]) - torch.maximum(dets[i, 0], dets[:, 0])
             + 1).clamp(min=0)
        h = (torch.minimum(dets[i, 3], dets[:, 3]) - torch.maximum(dets[i, 1], dets[:, 1])
             + 1).clamp(min=0)
        inter = w * h
        over = inter / (area[i] + area - inter) > thresh
        over[:i + 1] = False
        suppressed |= over
    return keep


def _proposal_one(p, scores, deltas, info):
    """One image's (rois (post, 4), scores (post,)) from RPN scores (A, H, W) and deltas."""
    num_anchors, height, width = scores.shape
    stride = p["feature_stride"]
    base = _rpn_anchors(p)
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    shift = torch.stack([xs, ys, xs, ys], dim=-1).to(torch.float32) * stride
    anchors = (shift[:, :, None, :] + base[None, None]).reshape(-1, 4)
    score = scores.permute(1, 2, 0).reshape(-1).clone()
    d = deltas.reshape(num_anchors, 4, height, width).permute(2, 3, 0, 1).reshape(-1, 4)
    im_h, im_w, im_scale = (float(v) for v in info[:3])
    if p["iou_loss"]:
        boxes = anchors + d
    else:
        aw = anchors[:, 2] - anchors[:, 0] + 1
        ah = anchors[:, 3] - anchors[:, 1] + 1
        cx, cy = anchors[:, 0] + 0.5 * (aw - 1), anchors[:, 1] + 0.5 * (ah - 1)
        px, py = d[:, 0] * aw + cx, d[:, 1] * ah + cy
        pw, ph = torch.exp(d[:, 2]) * aw, torch.exp(d[:, 3]) * ah
        boxes = torch.stack([px - 0.5 * (pw - 1), py - 0.5 * (ph - 1), px + 0.5 * (pw - 1),
                             py + 0.5 * (ph - 1)], dim=1)
    boxes = torch.stack([boxes[:, 0].clamp(0, im_w - 1), boxes[:, 1].clamp(0, im_h - 1),
                         boxes[:, 2].clamp(0, im_w - 1), boxes[:, 3].clamp(0, im_h - 1)], dim=1)
    real_h, real_w = int(im_h / stride), int(im_w / stride)
    outside = ((ys >= real_h) | (xs >= real_w))[:, :, None].expand(
        height, width, num_anchors).reshape(-1)
    score[outside] = -1.0
    min_size = p["rpn_min_size"] * im_scale
    bw, bh = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    small = (bw < min_size) | (bh < min_size)
    boxes = boxes + small[:, None].to(boxes.dtype) * torch.tensor(
        [-min_size / 2, -min_size / 2, min_size / 2, min_size / 2])
    score[small] = -1.0
    count = len(score)
    pre = min(p["rpn_pre_nms_top_n"] if p["rpn_pre_nms_top_n"] > 0 else count, count)
    post = min(p["rpn_post_nms_top_n"] if p["rpn_post_nms_top_n"] > 0 else count, count)
    order = torch.sort(score, descending=True, stable=True)[1][:pre]
    dets = torch.cat([boxes[order], score[order, None]], dim=1)
    keep = _rpn_nms(dets, p["threshold"], post)
    picks = [keep[i] if i < len(keep) else keep[i % len(keep)]
             for i in range(p["rpn_post_nms_top_n"])]
    return dets[picks, :4], dets[picks, 4]


def _proposal(multi):
    def forward(p, x, aux, train):
        cls_prob, bbox_pred, im_info = (t.detach().to(torch.float32).cpu() for t in x)
        batch = cls_prob.shape[0]
        rois, scores = [], []
        for b in range(batch if multi else 1):
            fg = cls_prob[b, cls_prob.shape[1] // 2:]
            boxes, score = _proposal_one(p, fg, bbox_pred[b], im_info[b])
            rois.append(torch.cat([torch.full((len(boxes), 1), float(b)), boxes], dim=1))
            scores.append(score[:, None])
        device, dtype = x[0].device, x[0].dtype
        outs = [torch.cat(rois).to(device, dtype)]
        return outs + ([torch.cat(scores).to(device, dtype)] if p["output_score"] else [])
    return forward


def _proposal_infer(multi):
    def infer(p, s):
        rows = p["rpn_post_nms_top_n"] * ((s[0][0] if s[0] is not None else 1) if multi else 1)
        outs = [(rows, 5), (rows, 1)]
        return s, outs[:2 if p["output_score"] else 1]
    return infer


_RPN = {"rpn_pre_nms_top_n": Param("int", 6000), "rpn_post_nms_top_n": Param("int", 300),
        "threshold": Param("float", 0.7), "rpn_min_size": Param("int", 16),
        "scales": Param("floats", (4.0, 8.0, 16.0, 32.0)),
        "ratios": Param("floats", (0.5, 1.0, 2.0)), "feature_stride": Param("int", 16),
        "output_score": Param("bool", False), "iou_loss": Param("bool", False)}
for _name, _multi in (("_contrib_Proposal", False), ("_contrib_MultiProposal", True)):
    register(OpDef(
        name=_name, params=_RPN, arguments=lambda p: ["cls_prob", "bbox_pred", "im_info"],
        outputs=lambda p: ["output", "score"] if p["output_score"] else ["output"],
        num_all_outputs=lambda p: 2, infer_shape=_proposal_infer(_multi),
        forward=_proposal(_multi),
    ))


def _ps_group(p):
    return p["group_size"] if p["group_size"] > 0 else p["pooled_size"]


def _psroi_pooling(p, x, aux, train):
    data, rois = x
    size, group, dim = p["pooled_size"], _ps_group(p), p["output_dim"]
    scale = p["spatial_scale"]
    height, width = data.shape[2], data.shape[3]
    outs = []
    for roi in rois.detach().tolist():
        b = int(roi[0])
        x1, y1 = _round_half_away(roi[1]) * scale, _round_half_away(roi[2]) * scale
        x2, y2 = (_round_half_away(roi[3]) + 1.0) * scale, (_round_half_away(roi[4]) + 1.0) * scale
        rw, rh = max(x2 - x1, 0.1), max(y2 - y1, 0.1)
        bh, bw = rh / size, rw / size
        cells = []
        for c in range(dim):
            for i in range(size):
                hs = min(max(math.floor(i * bh + y1), 0), height)
                he = min(max(math.ceil((i + 1) * bh + y1), 0), height)
                gh = min(max(math.floor(i * group / size), 0), group - 1)
                for j in range(size):
                    ws = min(max(math.floor(j * bw + x1), 0), width)
                    we = min(max(math.ceil((j + 1) * bw + x1), 0), width)
                    gw = min(max(math.floor(j * group / size), 0), group - 1)
                    if he <= hs or we <= ws:
                        cells.append(data.new_zeros(()))
                    else:
                        ch = (c * group + gh) * group + gw
                        cells.append(data[b, ch, hs:he, ws:we].mean())
        outs.append(torch.stack(cells).reshape(dim, size, size))
    return [torch.stack(outs)]


register(OpDef(
    name="_contrib_PSROIPooling",
    params={"spatial_scale": Param("float"), "output_dim": Param("int"),
            "pooled_size": Param("int"), "group_size": Param("int", 0)},
    arguments=lambda p: ["data", "rois"],
    infer_shape=lambda p, s: (s, [None if s[1] is None else (
        s[1][0], p["output_dim"], p["pooled_size"], p["pooled_size"])]),
    forward=_psroi_pooling,
))


def _bilinear_floor_ceil(img, ys, xs):
    """DeformablePSROIPooling's sampling: floor/ceil neighbours of in-range points."""
    _, width = img.shape[-2:]
    y1, x1 = ys.floor().long(), xs.floor().long()
    y2, x2 = ys.ceil().long(), xs.ceil().long()
    dy, dx = ys - y1, xs - x1
    flat = img.reshape(-1)

    def at(yi, xi):
        return flat[(yi * width + xi).reshape(-1)].reshape(ys.shape)
    return ((1 - dx) * (1 - dy) * at(y1, x1) + (1 - dx) * dy * at(y2, x1)
            + dx * (1 - dy) * at(y1, x2) + dx * dy * at(y2, x2))


def _deformable_psroi_pooling(p, x, aux, train):
    data, rois = x[0], x[1]
    trans = x[2] if len(x) > 2 else None
    size, group, dim = p["pooled_size"], p["group_size"], p["output_dim"]
    part = p["part_size"] if p["part_size"] > 0 else size
    spp, scale = p["sample_per_part"], p["spatial_scale"]
    no_trans = p["no_trans"] or trans is None
    num_classes = 1 if no_trans else trans.shape[1] // 2
    per_class = dim if no_trans else dim // num_classes
    height, width = data.shape[2], data.shape[3]
    outs = []
    for n, roi in enumerate(rois.detach().tolist()):
        b = int(roi[0])
        x1 = _round_half_away(roi[1]) * scale - 0.5
        y1 = _round_half_away(roi[2]) * scale - 0.5
        x2 = (_round_half_away(roi[3]) + 1.0) * scale - 0.5
        y2 = (_round_half_away(roi[4]) + 1.0) * scale - 0.5
        rw, rh = max(x2 - x1, 0.1), max(y2 - y1, 0.1)
        bh, bw = rh / size, rw / size
        cells = []
        for c in range(dim):
            cls = c // per_class
            for i in range(size):
                for j in range(size):
                    ph_, pw_ = math.floor(i / size * part), math.floor(j / size * part)
                    if no_trans:
                        tx = ty = data.new_zeros(())
                    else:
                        tx = trans[n, cls * 2, ph_, pw_] * p["trans_std"]
                        ty = trans[n, cls * 2 + 1, ph_, pw_] * p["trans_std"]
                    ws = j * bw + x1 + tx * rw
                    hs = i * bh + y1 + ty * rh
                    gw = min(max(math.floor(j * group / size), 0), group - 1)
                    gh = min(max(math.floor(i * group / size), 0), group - 1)
                    img = data[b, (c * group + gh) * group + gw]
                    steps = torch.arange(spp, dtype=data.dtype, device=data.device)
                    ww = (ws + steps * (bw / spp))[None, :].expand(spp, spp)
                    hh = (hs + steps * (bh / spp))[:, None].expand(spp, spp)
                    valid = (ww >= -0.5) & (ww <= width - 0.5) & (hh >= -0.5) & (
                        hh <= height - 0.5)
                    if not bool(valid.any()):
                        cells.append(data.new_zeros(()))
                        continue
                    vals = _bilinear_floor_ceil(img, hh.clamp(0, height - 1),
                                                ww.clamp(0, width - 1))
                    cells.append(vals[valid].sum() / valid.sum())
        outs.append(torch.stack(cells).reshape(dim, size, size))
    return [torch.stack(outs)]


register(OpDef(
    name="_contrib_DeformablePSROIPooling",
    params={"spatial_scale": Param("float"), "output_dim": Param("int"),
            "group_size": Param("int"), "pooled_size": Param("int"),
            "part_size": Param("int", 0), "sample_per_part": Param("int", 1),
            "trans_std": Param("float", 0.0), "no_trans": Param("bool", False)},
    inputs=("data", "rois", "trans"),
    arguments=lambda p: ["data", "rois"] if p["no_trans"] else ["data", "rois", "trans"],
    num_all_outputs=lambda p: 2,
    infer_shape=lambda p, s: (s, [None if s[1] is None else (
        s[1][0], p["output_dim"], p["pooled_size"], p["pooled_size"])]),
    forward=_deformable_psroi_pooling,
))


def _sample_v1(img, ys, xs):
    """DeformableConvolution's sampling: points outside [0, H) x [0, W) read 0; inside, the
    upper neighbours clamp to the last row/column."""
    _, height, width = img.shape
    valid = (ys >= 0) & (xs >= 0) & (ys < height) & (xs < width)
    y = ys.clamp(0, height - 1)
    x = xs.clamp(0, width - 1)
    y_low, x_low = y.floor().long(), x.floor().long()
    y = torch.where(y_low >= height - 1, y_low.to(y.dtype), y)
    x = torch.where(x_low >= width - 1, x_low.to(x.dtype), x)
    y_high, x_high = (y_low + 1).clamp(max=height - 1), (x_low + 1).clamp(max=width - 1)
    return _weighted(img, y, x, y_low, x_low, y_high, x_high, None) * valid


def _sample_v2(img, ys, xs):
    """ModulatedDeformableConvolution's sampling: points in (-1, H) x (-1, W) interpolate
    with out-of-range neighbours reading 0."""
    _, height, width = img.shape
    valid = (ys > -1) & (xs > -1) & (ys < height) & (xs < width)
    y_low, x_low = ys.floor().long(), xs.floor().long()
    y_high, x_high = y_low + 1, x_low + 1
    inside = (y_low >= 0, x_low >= 0, y_high <= height - 1, x_high <= width - 1)
    return _weighted(img, ys, xs, y_low.clamp(0, height - 1), x_low.clamp(0, width - 1),
                     y_high.clamp(0, height - 1), x_high.clamp(0, width - 1), inside) * valid


def _weighted(img, y, x, y_low, x_low, y_high, x_high, inside):
    channels, _, width = img.shape
    ly, lx = y - y_low.to(y.dtype), x - x_low.to(x.dtype)
    if inside is not None:
        ly = y - y.floor()
        lx = x - x.floor()
    hy, hx = 1 - ly, 1 - lx
    flat = img.reshape(channels, -1)

    def at(yi, xi, keep):
        v = flat[:, (yi * width + xi).reshape(-1)].reshape((channels,) + tuple(y.shape))
        return v if keep is None else v * keep
    ok = inside or (None, None, None, None)
    both = [None if ok[0] is None else ok[a] & ok[b] for a, b in ((0, 1), (0, 3), (2, 1), (2, 3))]
    return (hy * hx * at(y_low, x_low, both[0]) + hy * lx * at(y_low, x_high, both[1])
            + ly * hx * at(y_high, x_low, both[2]) + ly * lx * at(y_high, x_high, both[3]))


def _deformable_conv(modulated):
    def forward(p, x, aux, train):
        data, offset = x[0], x[1]
        mask = x[2] if modulated else None
        weight = x[3] if modulated else x[2]
        bias = None if p["no_bias"] else x[-1]
        kh, kw = p["kernel"]
        sh, sw = tuple(p["stride"]) or (1, 1)
        dh, dw = tuple(p["dilate"]) or (1, 1)
        ph, pw = tuple(p["pad"]) or (0, 0)
        n, channels, height, width = data.shape
        out_h = (height + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
        out_w = (width + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
        groups = p["num_deformable_group"]
        per = channels // groups
        base_y = (torch.arange(out_h, dtype=data.dtype, device=data.device) * sh - ph)
        base_x = (torch.arange(out_w, dtype=data.dtype, device=data.device) * sw - pw)
        sample = _sample_v2 if modulated else _sample_v1
        cols = []
        for b in range(n):
            per_group = []
            for g in range(groups):
                off = offset[b, g * 2 * kh * kw:(g + 1) * 2 * kh * kw].reshape(
                    kh * kw, 2, out_h, out_w)
                ky = torch.arange(kh, device=data.device).repeat_interleave(kw) * dh
                kx = torch.arange(kw, device=data.device).repeat(kh) * dw
                ys = base_y[None, :, None] + ky[:, None, None].to(data.dtype) + off[:, 0]
                xs = base_x[None, None, :] + kx[:, None, None].to(data.dtype) + off[:, 1]
                vals = sample(data[b, g * per:(g + 1) * per], ys, xs)
                if modulated:
                    vals = vals * mask[b, g * kh * kw:(g + 1) * kh * kw][None]
                per_group.append(vals)
            cols.append(torch.cat(per_group, 0))
        col = torch.stack(cols)
        conv_groups = p["num_group"]
        col = col.reshape(n, conv_groups, channels // conv_groups * kh * kw, out_h * out_w)
        w = weight.reshape(conv_groups, p["num_filter"] // conv_groups, -1)
        out = torch.einsum("gok,ngkl->ngol", w, col).reshape(n, p["num_filter"], out_h, out_w)
        if bias is not None:
            out = out + bias.reshape(1, -1, 1, 1)
        return [out]
    return forward


def _deformable_infer(modulated):
    def infer(p, s):
        d = s[0]
        if d is None:
            return s, [None]
        kh, kw = p["kernel"]
        sh, sw = tuple(p["stride"]) or (1, 1)
        dh, dw = tuple(p["dilate"]) or (1, 1)
        ph, pw = tuple(p["pad"]) or (0, 0)
        out_h = (d[2] + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
        out_w = (d[3] + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
        w_at = 3 if modulated else 2
        s[w_at] = (p["num_filter"], d[1] // p["num_group"], kh, kw)
        if not p["no_bias"]:
            s[w_at + 1] = (p["num_filter"],)
        return s, [(d[0], p["num_filter"], out_h, out_w)]
    return infer


_DEFORM = {"kernel": Param("shape"), "stride": Param("shape", ()), "dilate": Param("shape", ()),
           "pad": Param("shape", ()), "num_filter": Param("int"), "num_group": Param("int", 1),
           "num_deformable_group": Param("int", 1), "workspace": Param("int", 1024),
           "no_bias": Param("bool", False)}
register(OpDef(
    name="_contrib_DeformableConvolution", params=dict(_DEFORM, layout=Param("str", None)),
    inputs=("data", "offset", "weight", "bias"),
    arguments=lambda p: ["data", "offset", "weight"] + ([] if p["no_bias"] else ["bias"]),
    infer_shape=_deformable_infer(False), forward=_deformable_conv(False),
))
register(OpDef(
    name="_contrib_ModulatedDeformableConvolution",
    params=dict(_DEFORM, im2col_step=Param("int", 64), layout=Param("str", None)),
    inputs=("data", "offset", "mask", "weight", "bias"),
    arguments=lambda p: ["data", "offset", "mask", "weight"] + ([] if p["no_bias"] else ["bias"]),
    infer_shape=_deformable_infer(True), forward=_deformable_conv(True),
))


def _rroi_align(p, x, aux, train):
    data, rois = x
    ph, pw = p["pooled_size"]
    scale, ratio = p["spatial_scale"], p["sampling_ratio"]
    outs = []
    for roi in rois.detach().tolist():
        b = int(roi[0])
        cx, cy = roi[1] * scale, roi[2] * scale
        rw, rh = max(roi[3] * scale, 1.0), max(roi[4] * scale, 1.0)
        theta = roi[5] * math.pi / 180.0
        bh, bw = rh / ph, rw / pw
        gh = ratio if ratio > 0 else math.ceil(rh / ph)
        gw = ratio if ratio > 0 else math.ceil(rw / pw)
        iy = (torch.arange(gh, dtype=data.dtype) + 0.5) * bh / gh
        ix = (torch.arange(gw, dtype=data.dtype) + 0.5) * bw / gw
        yy = (-rh / 2 + torch.arange(ph, dtype=data.dtype)[:, None] * bh + iy[None, :])
        xx = (-rw / 2 + torch.arange(pw, dtype=data.dtype)[:, None] * bw + ix[None, :])
        yy = yy[:, None, :, None].expand(ph, pw, gh, gw)
        xx = xx[None, :, None, :].expand(ph, pw, gh, gw)
        cos, sin = math.cos(theta), math.sin(theta)
        xs = xx * cos + yy * sin + cx
        ys = yy * cos - xx * sin + cy
        outs.append(_bilinear_caffe(data[b], ys.to(data.device), xs.to(data.device)).mean(
            dim=(3, 4)))
    return [torch.stack(outs)]


register(OpDef(
    name="_contrib_RROIAlign",
    params={"pooled_size": Param("shape"), "spatial_scale": Param("float"),
            "sampling_ratio": Param("int", -1)},
    arguments=lambda p: ["data", "rois"],
    infer_shape=lambda p, s: (s, [None if None in s else (s[1][0], s[0][1]) + tuple(
        p["pooled_size"])]),
    forward=_rroi_align,
))
