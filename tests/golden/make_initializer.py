"""Golden fixtures for mx.init, made with real MXNet 1.9.1 (the deterministic parts).

Run with the MXNet reference venv, from the repository root:
    /tmp/mxnet-ref/bin/python tests/golden/make_initializer.py
Writes tests/golden/data/initializer_cases.json: `dumps()` strings, the Bilinear kernel,
LSTMBias and the values the name rules give (bias, gamma, beta, min, max, `__init__`).
"""
import json
import os

import mxnet as mx

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def main():
    inits = {
        "zero": mx.init.Zero(), "one": mx.init.One(), "constant": mx.init.Constant(0.5),
        "uniform": mx.init.Uniform(0.1), "normal": mx.init.Normal(0.2),
        "xavier": mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2),
        "msraprelu": mx.init.MSRAPrelu(slope=0.1), "orthogonal": mx.init.Orthogonal(),
        "bilinear": mx.init.Bilinear(), "lstmbias": mx.init.LSTMBias(forget_bias=2.0),
    }
    dumps = {k: v.dumps() for k, v in inits.items()}
    bilinear = mx.nd.zeros((2, 1, 4, 5))
    mx.init.Bilinear()(mx.init.InitDesc("up_weight"), bilinear)
    lstm = mx.nd.zeros((8,))
    mx.init.LSTMBias(forget_bias=2.0)(mx.init.InitDesc("lstm_bias"), lstm)
    rules = {}
    for name in ["fc_bias", "bn_gamma", "bn_beta", "q_min", "q_max"]:
        arr = mx.nd.full((3,), 7.0)
        mx.init.Uniform()(mx.init.InitDesc(name), arr)
        rules[name] = arr.asnumpy().tolist()
    arr = mx.nd.zeros((2, 3))
    desc = mx.init.InitDesc("fc_weight", attrs={"__init__": mx.init.Constant(0.25).dumps()})
    mx.init.Uniform()(desc, arr)
    rules["fc_weight:__init__=constant(0.25)"] = arr.asnumpy().tolist()
    with open(os.path.join(OUT, "initializer_cases.json"), "w") as f:
        json.dump({"mxnet": mx.__version__, "dumps": dumps,
                   "bilinear": bilinear.asnumpy().tolist(), "lstmbias": lstm.asnumpy().tolist(),
                   "rules": rules}, f, indent=1)


if __name__ == "__main__":
    main()
