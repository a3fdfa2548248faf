"""Golden fixtures for mx.metric, made with real MXNet 1.9.1.

Run with the MXNet reference venv, from the repository root:
    /tmp/mxnet-ref/bin/python tests/golden/make_metric.py
Writes tests/golden/data/metric_cases.json: three batches of inputs per input kind, and per
metric the (get, get_global) pairs after two updates, and after reset_local plus a third.
"""
import json
import os

import mxnet as mx
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

CASES = [
    ("acc", {}, "cls"),
    ("acc", {}, "same"),
    ("acc", {"axis": 0}, "cls_t"),
    ("top_k_accuracy", {"top_k": 2}, "cls"),
    ("top_k_acc", {"top_k": 3}, "cls"),
    ("f1", {}, "binary"),
    ("f1", {"average": "micro"}, "binary"),
    ("mcc", {}, "binary"),
    ("mcc", {"average": "micro"}, "binary"),
    ("mae", {}, "reg"),
    ("mse", {}, "reg"),
    ("rmse", {}, "reg"),
    ("mse", {}, "reg2d"),
    ("ce", {}, "cls"),
    ("nll_loss", {"eps": 1e-6}, "cls"),
    ("perplexity", {"ignore_label": None}, "seq"),
    ("perplexity", {"ignore_label": 0}, "seq"),
    ("loss", {}, "reg"),
    ("pearsonr", {}, "reg"),
    ("pearsonr", {"average": "micro"}, "reg"),
    (["acc", "ce"], {}, "cls"),
]


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def make_inputs(rng):
    kinds = {}
    cls, same, cls_t, binary, reg, reg2d, seq = [], [], [], [], [], [], []
    for _ in range(3):
        p = softmax(rng.randn(6, 4)).astype(np.float32)
        cls.append((rng.randint(0, 4, 6).astype(np.float32), p))
        cls_t.append((rng.randint(0, 6, 4).astype(np.float32), p))
        same.append((rng.randint(0, 3, 7).astype(np.float32),
                     rng.randint(0, 3, 7).astype(np.float32)))
        binary.append((rng.randint(0, 2, 8).astype(np.float32),
                       softmax(rng.randn(8, 2)).astype(np.float32)))
        reg.append((rng.randn(6).astype(np.float32), rng.randn(6).astype(np.float32)))
        reg2d.append((rng.randn(5, 3).astype(np.float32), rng.randn(5, 3).astype(np.float32)))
        seq.append((rng.randint(0, 5, 10).astype(np.float32),
                    softmax(rng.randn(10, 5)).astype(np.float32)))
    for name, batches in [("cls", cls), ("same", same), ("cls_t", cls_t), ("binary", binary),
                          ("reg", reg), ("reg2d", reg2d), ("seq", seq)]:
        kinds[name] = [[label.tolist(), pred.tolist()] for label, pred in batches]
    return kinds


def run(metric, kwargs, batches):
    m = mx.metric.create(metric, **kwargs)
    out = []
    for k, (label, pred) in enumerate(batches):
        if k == 2:
            m.reset_local()
        m.update([mx.nd.array(label)], [mx.nd.array(pred)])
        if k >= 1:
            out.append([list(map(to_py, m.get())), list(map(to_py, m.get_global()))])
    return out


def to_py(v):
    if isinstance(v, list):
        return [to_py(x) for x in v]
    return v if isinstance(v, str) else float(v)


def main():
    rng = np.random.RandomState(3)
    kinds = make_inputs(rng)
    cases = [{"metric": metric, "kwargs": kwargs, "kind": kind,
              "results": run(metric, kwargs, kinds[kind])} for metric, kwargs, kind in CASES]
    with open(os.path.join(OUT, "metric_cases.json"), "w") as f:
        json.dump({"mxnet": mx.__version__, "inputs": kinds, "cases": cases}, f)


if __name__ == "__main__":
    main()
