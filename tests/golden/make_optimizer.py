"""Golden fixtures for mx.optimizer and mx.lr_scheduler, made with real MXNet 1.9.1.

Run with the MXNet reference venv, from the repository root:
    /tmp/mxnet-ref/bin/python tests/golden/make_optimizer.py
Writes tests/golden/data/optimizer_cases.json (the cases and the lr schedules) and
tests/golden/data/optimizer_updates.npz (the start weights, the grads, and the weights after
each of 5 updates, for a `*_weight` and a `*_bias` parameter updated through an Updater).
"""
import json
import os

import mxnet as mx
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
STEPS = 5

SCHED = {"factor": {"class": "FactorScheduler", "kwargs": {"step": 2, "factor": 0.5}}}

OPTIMIZER_CASES = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9, "wd": 0.01, "rescale_grad": 0.5}),
    ("sgd", {"momentum": 0.9, "clip_gradient": 0.3, "wd": 0.001, "learning_rate": 0.1}),
    ("sgd", {"learning_rate": 0.2, "lr_scheduler": "factor", "wd": 0.01}),
    ("sgd", {"momentum": 0.9, "multi_precision": True, "learning_rate": 0.1, "dtype": "float16"}),
    ("nag", {"momentum": 0.9, "wd": 0.01, "learning_rate": 0.1}),
    ("nag", {}),
    ("nag", {"momentum": 0.8, "clip_gradient": 0.3, "rescale_grad": 2.0}),
    ("adam", {}),
    ("adam", {"wd": 0.01, "clip_gradient": 0.2, "rescale_grad": 2.0, "learning_rate": 0.01}),
    ("adagrad", {"learning_rate": 0.1}),
    ("adagrad", {"wd": 0.01, "clip_gradient": 0.3, "eps": 1e-5}),
    ("rmsprop", {}),
    ("rmsprop", {"centered": True, "learning_rate": 0.01}),
    ("rmsprop", {"centered": True, "clip_weights": 0.5, "wd": 0.01, "clip_gradient": 0.3}),
    ("rmsprop", {"clip_weights": 0.5, "wd": 0.05, "learning_rate": 0.05, "gamma1": 0.8}),
    ("adadelta", {}),
    ("adadelta", {"wd": 0.01, "clip_gradient": 0.3, "rho": 0.8}),
    ("ftrl", {}),
    ("ftrl", {"lamda1": 0.001, "wd": 0.01, "beta": 0.5, "clip_gradient": 0.4}),
    ("signum", {}),
    ("signum", {"momentum": 0.0, "wd": 0.01}),
    ("signum", {"wd_lh": 0.01, "wd": 0.01, "clip_gradient": 0.3}),
    ("adamax", {"wd": 0.01}),
    ("nadam", {"wd": 0.01}),
    ("ftml", {"learning_rate": 0.01}),
    ("dcasgd", {"wd": 0.01, "lamda": 0.1}),
    ("dcasgd", {}),
]

SCHEDULE_CASES = [
    ("FactorScheduler", {"step": 3, "factor": 0.5, "base_lr": 0.1}),
    ("FactorScheduler", {"step": 2, "factor": 0.1, "stop_factor_lr": 1e-4, "base_lr": 1.0}),
    ("FactorScheduler", {"step": 4, "factor": 0.9, "base_lr": 0.1, "warmup_steps": 5,
                         "warmup_begin_lr": 0.01}),
    ("MultiFactorScheduler", {"step": [3, 7, 12], "factor": 0.5, "base_lr": 0.1}),
    ("MultiFactorScheduler", {"step": [5, 9], "factor": 0.3, "base_lr": 0.2, "warmup_steps": 4,
                              "warmup_begin_lr": 0.05, "warmup_mode": "constant"}),
    ("PolyScheduler", {"max_update": 20, "base_lr": 0.1}),
    ("PolyScheduler", {"max_update": 20, "base_lr": 0.1, "pwr": 1, "final_lr": 0.01,
                       "warmup_steps": 5}),
    ("CosineScheduler", {"max_update": 20, "base_lr": 0.1}),
    ("CosineScheduler", {"max_update": 25, "base_lr": 0.1, "final_lr": 0.001,
                         "warmup_steps": 6, "warmup_begin_lr": 0.02}),
]
SCHEDULE_STEPS = 30


def make_scheduler(spec):
    return getattr(mx.lr_scheduler, spec["class"])(**spec["kwargs"])


def run_optimizer(name, kwargs, weights, grads):
    kwargs = dict(kwargs)
    dtype = kwargs.pop("dtype", "float32")
    if "lr_scheduler" in kwargs:
        kwargs["lr_scheduler"] = make_scheduler(SCHED[kwargs["lr_scheduler"]])
    opt = mx.optimizer.create(name, param_idx2name={0: "fc_weight", 1: "fc_bias"}, **kwargs)
    updater = mx.optimizer.get_updater(opt)
    ws = [mx.nd.array(w, dtype=dtype) for w in weights]
    history = [[], []]
    for step in range(STEPS):
        for i in range(2):
            updater(i, mx.nd.array(grads[i][step], dtype=dtype), ws[i])
            history[i].append(ws[i].asnumpy().astype(np.float32))
    return [np.stack(h) for h in history]


def main():
    rng = np.random.RandomState(7)
    weights = [rng.randn(3, 4).astype(np.float32), rng.randn(4).astype(np.float32)]
    grads = [rng.randn(STEPS, 3, 4).astype(np.float32) * 0.5,
             rng.randn(STEPS, 4).astype(np.float32) * 0.5]
    arrays = {"weight0": weights[0], "weight1": weights[1], "grad0": grads[0], "grad1": grads[1]}
    cases = []
    for k, (name, kwargs) in enumerate(OPTIMIZER_CASES):
        key = f"{k:02d}_{name}"
        out = run_optimizer(name, kwargs, weights, grads)
        arrays[key + "/0"], arrays[key + "/1"] = out
        cases.append({"key": key, "name": name, "kwargs": kwargs})
    schedules = []
    for cls, kwargs in SCHEDULE_CASES:
        sched = make_scheduler({"class": cls, "kwargs": kwargs})
        lrs = [float(sched(n)) for n in range(SCHEDULE_STEPS)]
        schedules.append({"class": cls, "kwargs": kwargs, "lrs": lrs})
    with open(os.path.join(OUT, "optimizer_cases.json"), "w") as f:
        json.dump({"mxnet": mx.__version__, "steps": STEPS, "schedulers": SCHED,
                   "optimizers": cases, "schedules": schedules}, f, indent=1)
    np.savez_compressed(os.path.join(OUT, "optimizer_updates.npz"), **arrays)


if __name__ == "__main__":
    main()
