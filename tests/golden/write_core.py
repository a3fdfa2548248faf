"""Write symbols, parameters and results with bucketmod, for `make_core.py --check DIR` in MXNet.

Run with the project's python, from the repository root:

    python tests/golden/write_core.py DIR
    /tmp/mxnet-ref/bin/python tests/golden/make_core.py --check DIR

For each network of make_core.WRITE_BUILDERS: `<net>-symbol.json` (our tojson), `<net>.params`
(arguments and aux states, `arg:`/`aux:` keys, our nd.save), and `<net>.expected.params` (our
outputs `out:i`, gradients `grad:name`, aux states after the step `aux:name`, and the head
gradients `head:i` used for outputs that are not loss layers).
"""
import importlib.util
import json
import os
import sys

import bucketmod as mx


def _make_core():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "make_core.py")
    spec = importlib.util.spec_from_file_location("make_core", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(directory):
    mc = _make_core()
    os.makedirs(directory, exist_ok=True)
    cases = []
    for i, (net, builder) in enumerate(mc.WRITE_BUILDERS.items()):
        sym = builder(mx)
        args, aux = mc.net_values(mx, sym, net, 300 + i)
        classes = mc.NET_INPUTS[net][1]
        grad_req = {k: "null" if k in classes else "write" for k in args}
        _, out_shapes, _ = sym.infer_shape(**{k: v.shape for k, v in args.items()})
        needs_heads = net == "zoo"
        heads = mc.head_grads(out_shapes, 900 + i) if needs_heads else None
        outs, grads, aux_after = mc.run_mx(mx, sym, args, aux, grad_req, True, heads)
        sym.save(os.path.join(directory, f"{net}-symbol.json"))
        params = {f"arg:{k}": mx.nd.array(v) for k, v in args.items()}
        params.update({f"aux:{k}": mx.nd.array(v) for k, v in aux.items()})
        mx.nd.save(os.path.join(directory, f"{net}.params"), params)
        expected = {f"out:{j}": mx.nd.array(o) for j, o in enumerate(outs)}
        expected.update({f"grad:{k}": mx.nd.array(v) for k, v in grads.items()})
        expected.update({f"aux:{k}": mx.nd.array(v) for k, v in aux_after.items()})
        expected.update({f"head:{j}": mx.nd.array(h) for j, h in enumerate(heads or [])})
        mx.nd.save(os.path.join(directory, f"{net}.expected.params"), expected)
        cases.append({"name": net, "nograd": sorted(classes), "num_outputs": len(outs),
                      "head_grads": needs_heads})
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=1)
    return cases


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    for case in write(sys.argv[1]):
        print(f"wrote {case['name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
