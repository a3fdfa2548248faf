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
