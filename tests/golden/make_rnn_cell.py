"""Golden fixtures for mx.rnn cells from MXNet 1.9.1: graph JSON, and forward outputs (and,
for deterministic cases, gradients for a fixed head gradient) on fixed random weights.

Run with the MXNet venv: /tmp/mxnet-ref/bin/python tests/golden/make_rnn_cell.py
Writes tests/golden/data/rnn_cell/<case>.json and <case>.npz.
"""
import json
import os
import sys

import mxnet as mx
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rnn_cell_cases import CASES, random_inputs  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "rnn_cell")


def run(symbol, shapes, deterministic, seed):
    values, tokens = random_inputs(symbol, shapes, seed)
    args = {k: mx.nd.array(v) for k, v in values.items()}
    grads = {k: mx.nd.zeros(v.shape) for k, v in values.items() if k not in tokens}
    req = {k: "null" if k in tokens else "write" for k in values}
    exe = symbol.bind(mx.cpu(), args=args, args_grad=grads, grad_req=req)
    result = {"arg:" + k: v for k, v in values.items()}
    outs = exe.forward(is_train=False)
    for i, o in enumerate(outs):
        result["out%d" % i] = o.asnumpy()
    if deterministic:
        rng = np.random.RandomState(seed + 1)
        heads = [rng.uniform(-1, 1, size=o.shape).astype("float32") for o in outs]
        exe.forward(is_train=True)
        exe.backward([mx.nd.array(h) for h in heads])
        for i, h in enumerate(heads):
            result["head%d" % i] = h
        for k, g in grads.items():
            result["grad:" + k] = g.asnumpy()
    return result


def main():
    os.makedirs(OUT, exist_ok=True)
    for seed, case in enumerate(CASES):
        mx.name.NameManager._current.value = mx.name.NameManager()
        symbol, shapes, deterministic = case(mx)
        doc = {"json": json.loads(symbol.tojson()), "arguments": symbol.list_arguments(),
               "outputs": symbol.list_outputs(),
               "aux": symbol.list_auxiliary_states()}
        with open(os.path.join(OUT, case.__name__ + ".json"), "w") as f:
            json.dump(doc, f, sort_keys=True)
        np.savez(os.path.join(OUT, case.__name__ + ".npz"),
                 **run(symbol, shapes, deterministic, seed))
        print(case.__name__, symbol.list_outputs())


if __name__ == "__main__":
    main()
