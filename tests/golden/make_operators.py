"""Golden files for MXNet 1.9.1's whole operator set, made with real MXNet.

Run with MXNet's python from the repository root:

    /tmp/mxnet-ref/bin/python tests/golden/make_operators.py

Files written into tests/golden/data/operators/:
  spec.json    every public operator of mx.sym.op and of the linalg/random/contrib/image
               namespaces: the operator behind each name, its inputs and parameters in MXNet's
               order with their types and defaults (from MXNet's own operator registry)
  cases.json   one entry per case of operator_cases.py: argument/output names, output shapes
               and dtypes; for random samplers their moments
  cases.npz    outputs, head gradients, input gradients and mutated inputs per case (the
               inputs are made again from each case's seed; cases.json keeps their sums)

The cases live in operator_cases.py, which imports no framework, so the tests build the very
same calls with `import bucketmod as mx`.
"""
import ctypes
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "data", "operators")
NAMESPACES = ("linalg", "random", "contrib", "image")


def op_info(mx, name):
    """(canonical name, [(arg, type string)], key_var_num_args) from MXNet's registry."""
    from mxnet.base import _LIB, OpHandle, c_str, check_call, mx_uint, py_str
    handle = OpHandle()
    check_call(_LIB.NNGetOpHandle(c_str(name), ctypes.byref(handle)))
    real, desc, num, kv, ret = (ctypes.c_char_p(), ctypes.c_char_p(), mx_uint(),
                                ctypes.c_char_p(), ctypes.c_char_p())
    names, types, descs = (ctypes.POINTER(ctypes.c_char_p)() for _ in range(3))
    check_call(_LIB.MXSymbolGetAtomicSymbolInfo(
        handle, ctypes.byref(real), ctypes.byref(desc), ctypes.byref(num), ctypes.byref(names),
        ctypes.byref(types), ctypes.byref(descs), ctypes.byref(kv), ctypes.byref(ret)))
    args = [[py_str(names[i]), py_str(types[i])] for i in range(num.value)]
    return py_str(real.value), args, (py_str(kv.value) or None) if kv.value else None


def make_spec(mx):
    from mxnet.base import _LIB, check_call, mx_uint, py_str
    plist, size = ctypes.POINTER(ctypes.c_char_p)(), mx_uint()
    check_call(_LIB.MXListAllOpNames(ctypes.byref(size), ctypes.byref(plist)))
    registered = {py_str(plist[i]) for i in range(size.value)}
    spec = {"sym": sorted(n for n in dir(mx.sym.op) if not n.startswith("_")), "ops": {}}
    prefixes = {"linalg": ("_linalg_",), "contrib": ("_contrib_",), "image": ("_image_",),
                "random": ("_random_", "_sample_")}
    for ns in NAMESPACES:
        module = getattr(mx.sym, ns)
        entries = {}
        for name in sorted(dir(module)):
            if name.startswith("_") or not callable(getattr(module, name)):
                continue
            candidates = [p + name for p in prefixes[ns]]
            op = next((c for c in candidates if c in registered), None)
            fn = getattr(module, name)
            if op is None and getattr(fn, "__module__", "").startswith(f"mxnet.symbol.{ns}"):
                entries[name] = None
            elif op is not None:
                entries[name] = op
        spec[ns] = entries
    spec["nd_only_contrib"] = sorted(
        n for n in dir(mx.nd.contrib) if not n.startswith("_") and callable(
            getattr(mx.nd.contrib, n)) and not hasattr(mx.sym.contrib, n))
    skip = ("_backward", "_np", "_sg_", "_cv", "_image_", "_contrib_", "_linalg_", "_sparse_")
    spec["_internal"] = sorted(n for n in registered if n.startswith("_") and not n.startswith(
        skip) and not n.startswith("__"))
    wanted = set(spec["sym"]) | {o for ns in NAMESPACES for o in spec[ns].values() if o}
    wanted |= set(spec["_internal"])
    wanted |= {"_random_" + n[len("random_"):] for n in spec["sym"] if n.startswith("random_")}
    wanted |= {"_sample_" + n[len("sample_"):] for n in spec["sym"] if n.startswith("sample_")}
    for name in sorted(wanted):
        if name not in registered:
            continue
        real, args, kv = op_info(mx, name)
        spec["ops"][name] = {"args": args, "key_var_num_args": kv}
    return spec


def moments(arrays):
    """Per output: shape, dtype and, over its trailing sample axes per leading parameter row,
    mean, variance, min and max (the outputs of a sampler are compared by these)."""
    out = []
    for a, rows in arrays:
        flat = a.astype(np.float64).reshape(rows, -1)
        out.append({"shape": list(a.shape), "dtype": a.dtype.name, "n": int(flat.shape[1]),
                     "mean": flat.mean(1).tolist(), "var": flat.var(1).tolist(),
                     "min": flat.min(1).tolist(), "max": flat.max(1).tolist(),
                     "integral": bool(np.all(flat == np.round(flat)))})
    return out


def run_case(mx, oc, case, arrays):
    cid, _, _, _, opts = case
    mode = opts.get("mode", "sym")
    values = oc.case_values(case, oc.seed_of(cid))
    entry = {"mode": mode, "input_sums": {k: float(np.nansum(v.astype(np.float64)))
                                          for k, v in values.items()}}
    if mode == "sym":
        sym = oc.build_symbol(mx, case)
        shapes = {k: v.shape for k, v in values.items() if k in sym.list_arguments()}
        entry["aux"] = sym.list_auxiliary_states()
        _, out_shapes, _ = sym.infer_shape(**shapes)
        heads = oc.head_gradients(out_shapes, oc.seed_of(cid) + 1)
        sym, outs, grads, aux = oc.run_symbol(mx, case, values, heads)
        types = {k: v.dtype for k, v in values.items() if k in sym.list_arguments()}
        _, out_types, _ = sym.infer_type(**types)
        entry.update(arguments=sym.list_arguments(), outputs=sym.list_outputs(),
                     out_shapes=[list(s) for s in out_shapes],
                     out_types=[np.dtype(t).name for t in out_types],
                     grads=sorted(grads))
        for kind, named in (("out", dict(enumerate(outs))), ("head", dict(enumerate(heads))),
                            ("grad", grads), ("after", aux)):
            arrays.update({f"{cid}/{kind}/{k}": v for k, v in named.items()})
    elif mode == "nd":
        outs, inputs = oc.call_nd(mx, case, values)
        entry.update(n_out=len(outs), out_types=[o.dtype.name for o in
                                                 (x.asnumpy() for x in outs)])
        for j, o in enumerate(outs):
            arrays[f"{cid}/out/{j}"] = o.asnumpy()
        for (name, _, _), a in zip(case[2], inputs):
            arrays[f"{cid}/after/{name}"] = a.asnumpy()
    else:
        outs, _ = oc.call_nd(mx, case, values)
        rows = opts.get("rows", 1)
        entry["moments"] = moments([(o.asnumpy(), rows) for o in outs])
    return entry


def run_cases(mx, oc, native):
    """Run every case whose `native` option equals `native` -> (table, arrays, failed)."""
    mx.random.seed(0)
    table, arrays, failed = {}, {}, []
    for family, cases in oc.all_cases().items():
        for case in cases:
            if bool(case[4].get("native")) != native:
                continue
            try:
                table[case[0]] = dict(run_case(mx, oc, case, arrays), family=family)
            except Exception as err:  # noqa: BLE001 (reported, then the script fails)
                msg = str(err).strip().splitlines()
                print(f"{case[0]}: MXNet raised {type(err).__name__}: {msg[-1] if msg else ''}")
                failed.append(case[0])
    return table, arrays, failed


def main():
    """Cases marked native=True run in a second process with MKL-DNN off: MXNet 1.9.1's
    MKL-DNN kernels reject them (float16/float64 casts, Deconvolution's target_shape)."""
    sys.path.insert(0, HERE)
    if "--native" in sys.argv:
        os.environ["MXNET_MKLDNN_ENABLED"] = "0"
    import mxnet as mx
    import operator_cases as oc
    if "--native" in sys.argv:
        table, arrays, failed = run_cases(mx, oc, True)
        out = sys.argv[sys.argv.index("--native") + 1]
        with open(out + ".json", "w") as f:
            json.dump({"table": table, "failed": failed}, f)
        np.savez(out + ".npz", **arrays)
        return
    os.makedirs(OUT_DIR, exist_ok=True)
    spec = make_spec(mx)
    with open(os.path.join(OUT_DIR, "spec.json"), "w") as f:
        json.dump(spec, f, sort_keys=True)
    print(f"spec: {len(spec['sym'])} mx.sym.op names, {len(spec['ops'])} operators")
    table, arrays, failed = run_cases(mx, oc, False)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "native")
        env = dict(os.environ, MXNET_MKLDNN_ENABLED="0", MXNET_STORAGE_FALLBACK_LOG_VERBOSE="0")
        subprocess.run([sys.executable, __file__, "--native", out], check=True, env=env)
        with open(out + ".json") as f:
            native = json.load(f)
        table.update(native["table"])
        failed += native["failed"]
        with np.load(out + ".npz") as extra:
            arrays.update({k: extra[k] for k in extra.files})
    with open(os.path.join(OUT_DIR, "cases.json"), "w") as f:
        json.dump(table, f, indent=0, sort_keys=True)
    np.savez_compressed(os.path.join(OUT_DIR, "cases.npz"), **arrays)
    print(f"cases: {len(table)}")
    if failed:
        sys.exit(f"{len(failed)} cases failed in MXNet: {failed}")


if __name__ == "__main__":
    main()
