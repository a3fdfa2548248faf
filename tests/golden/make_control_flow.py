"""Golden files for symbolic control flow (mx.sym.contrib.foreach / while_loop / cond) under
MXNet 1.9.1. From the repository root:

    /tmp/mxnet-ref/bin/python tests/golden/make_control_flow.py

writes tests/golden/data/control_flow/: cases.json (per case of control_flow_cases.py: the
symbol's JSON, list_arguments, list_outputs, output shapes and dtypes, the steps a while_loop
took) and arrays.npz (inputs, outputs, head gradients and input gradients). MXNet binds these
graphs with `bind` (it infers no shapes for _while_loop and _cond, so `simple_bind` refuses
them), runs forward(is_train=True) and backward with fixed head gradients.
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data", "control_flow")
sys.path.insert(0, HERE)
import control_flow_cases as cfc  # noqa: E402


def run(mx, sym, values, heads=None, seed=0, train=True):
    """(outputs, head gradients, input gradients) of one forward/backward through `bind`."""
    args = {k: mx.nd.array(values[k]) for k in sym.list_arguments()}
    grads = {k: mx.nd.zeros(v.shape) for k, v in args.items()} if train else None
    exe = sym.bind(mx.cpu(), args, args_grad=grads, grad_req="write" if train else "null")
    outs = [o.asnumpy() for o in exe.forward(is_train=train)]
    if heads is None:
        rng = np.random.RandomState(seed)
        heads = [rng.uniform(-1, 1, o.shape).astype(np.float32) for o in outs]
    if not train:
        return outs, heads, {}
    exe.backward([mx.nd.array(h) for h in heads])
    return outs, heads, {k: g.asnumpy() for k, g in exe.grad_dict.items()}


def main():
    import mxnet as mx
    os.makedirs(OUT, exist_ok=True)
    table, arrays = {}, {}
    for case in cfc.CASES:
        cid, _, _, options = case
        print(cid)
        sym = cfc.build(mx, case)
        values = cfc.values(case)
        train = not options.get("forward_only")
        outs, heads, grads = run(mx, sym, values, train=train)
        steps = None
        if "steps" in options:
            steps = int(round(float(outs[options["steps"][0]].ravel()[0])))
            for j in options["steps"][1]:
                heads[j][steps:] = 0
            outs, heads, grads = run(mx, sym, values, heads, train=train)
        table[cid] = {"json": json.loads(sym.tojson()), "arguments": sym.list_arguments(),
                      "outputs": sym.list_outputs(),
                      "out_shapes": [list(o.shape) for o in outs],
                      "out_types": [o.dtype.name for o in outs], "steps": steps}
        for k, v in values.items():
            arrays[f"{cid}/in/{k}"] = v
        for j, (o, h) in enumerate(zip(outs, heads)):
            if steps is not None and j in options["steps"][1]:
                o = o[:steps]
            arrays[f"{cid}/out/{j}"] = o
            arrays[f"{cid}/head/{j}"] = h
        for k, g in grads.items():
            if k not in options.get("mxnet_wrong", ()):
                arrays[f"{cid}/grad/{k}"] = g
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(table, f, indent=1, sort_keys=True)
    np.savez_compressed(os.path.join(OUT, "arrays.npz"), **arrays)
    print(f"wrote {len(table)} cases to {OUT}")


if __name__ == "__main__":
    main()
