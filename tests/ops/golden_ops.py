"""bucketmod's operators against MXNet 1.9.1's own results (tests/golden/make_operators.py):
the cases of tests/golden/operator_cases.py, run here with `import bucketmod as mx`."""
import json
import math
import os
import sys

import numpy as np
import pytest
import torch

import bucketmod as mx

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "golden")
DATA = os.path.join(GOLDEN, "data", "operators")
sys.path.insert(0, GOLDEN)
import operator_cases as oc  # noqa: E402

TABLE = json.load(open(os.path.join(DATA, "cases.json")))
ARRAYS = np.load(os.path.join(DATA, "cases.npz"))
SPEC = json.load(open(os.path.join(DATA, "spec.json")))
CASES = oc.all_cases()
RTOL = {"float16": 2e-3, "bfloat16": 1e-2}


def cases_of(family):
    return [pytest.param(c, id=c[0]) for c in CASES[family]]


def close(name, got, want):
    """Equal to 1e-5 relative to each element and to the array's scale (float32 rounding)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{name}: shape {got.shape}, MXNet {want.shape}"
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype}, MXNet {want.dtype}"
    rtol = RTOL.get(want.dtype.name, 1e-5)
    finite = want[np.isfinite(want)] if want.dtype.kind == "f" else want
    scale = max(float(np.abs(finite).max()) if finite.size else 0.0, 1.0)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol,
                               atol=rtol * scale, err_msg=name)


def _stored(prefix):
    return {k[len(prefix):]: ARRAYS[k] for k in ARRAYS.files if k.startswith(prefix)}


def _values(case, entry):
    values = oc.case_values(case, oc.seed_of(case[0]))
    for k, v in values.items():
        assert math.isclose(float(np.nansum(v.astype(np.float64))), entry["input_sums"][k],
                            rel_tol=1e-6, abs_tol=1e-6), f"{case[0]}: input {k} differs"
    return values


def check_case(case):
    cid = case[0]
    entry = TABLE[cid]
    torch.manual_seed(0)
    values = _values(case, entry)
    if entry["mode"] == "sym":
        _check_symbolic(case, entry, values)
    elif entry["mode"] == "nd":
        outs, inputs = oc.call_nd(mx, case, values)
        assert len(outs) == entry["n_out"]
        for j, o in enumerate(outs):
            close(f"{cid} output {j}", o.asnumpy(), ARRAYS[f"{cid}/out/{j}"])
        for (name, _, _), a in zip(case[2], inputs):
            want = values[name] if name in case[4].get("unchanged", ()) else \
                ARRAYS[f"{cid}/after/{name}"]
            close(f"{cid} input {name} after the call", a.asnumpy(), want)
    else:
        outs, _ = oc.call_nd(mx, case, values)
        _check_moments(cid, case[4].get("rows", 1), outs, entry["moments"],
                       case[4].get("values", True))


def _check_symbolic(case, entry, values):
    cid = case[0]
    sym = oc.build_symbol(mx, case)
    assert sym.list_arguments() == entry["arguments"], f"{cid}: {sym.list_arguments()}"
    assert sym.list_outputs() == entry["outputs"], \
        f"{cid}: {sym.list_outputs()}, MXNet {entry['outputs']}"
    args = {k: v for k, v in values.items() if k in entry["arguments"]}
    _, out_shapes, _ = sym.infer_shape(**{k: v.shape for k, v in args.items()})
    if entry["out_shapes"] is not None and not TABLE[cid].get("dynamic"):
        assert [list(s) for s in out_shapes] == entry["out_shapes"], f"{cid}: infer_shape"
    _, out_types, _ = sym.infer_type(**{k: v.dtype for k, v in args.items()})
    assert [np.dtype(t).name for t in out_types] == entry["out_types"], f"{cid}: infer_type"
    heads = [ARRAYS[f"{cid}/head/{j}"] for j in range(len(entry["outputs"]))]
    _, outs, grads, aux = oc.run_symbol(mx, case, values, heads)
    unchecked = case[4].get("unchecked", ())
    for j, out in enumerate(outs):
        if j not in unchecked:
            close(f"{cid} output {j}", out, ARRAYS[f"{cid}/out/{j}"])
    assert sorted(grads) == entry["grads"], f"{cid}: gradients of {sorted(grads)}"
    for k, g in grads.items():
        close(f"{cid} gradient of {k}", g, ARRAYS[f"{cid}/grad/{k}"])
    assert sym.list_auxiliary_states() == entry["aux"], f"{cid}: aux states"
    for k, a in aux.items():
        close(f"{cid} aux state {k} after", a, ARRAYS[f"{cid}/after/{k}"])
    if case[4].get("train", True) and not case[4].get("sym_only"):
        nd_outs, _ = oc.call_nd(mx, case, values)
        for j, out in enumerate(nd_outs):
            if j not in unchecked:
                close(f"{cid} mx.nd output {j}", out.asnumpy(), ARRAYS[f"{cid}/out/{j}"])


def _check_moments(cid, rows, outs, want, values=True):
    assert len(outs) == len(want), f"{cid}: {len(outs)} outputs, MXNet {len(want)}"
    for j, (o, w) in enumerate(zip(outs, want)):
        a = o.asnumpy()
        assert list(a.shape) == w["shape"], f"{cid} output {j}: shape"
        assert a.dtype.name == w["dtype"], f"{cid} output {j}: dtype {a.dtype}"
        if not values:
            continue
        flat = a.astype(np.float64).reshape(rows, -1)
        n = flat.shape[1]
        for r in range(rows):
            mean, var = flat[r].mean(), flat[r].var()
            tol = 6 * math.sqrt((var + w["var"][r]) / n) + 1e-6
            assert abs(mean - w["mean"][r]) <= tol, \
                f"{cid} output {j} row {r}: mean {mean}, MXNet {w['mean'][r]} (tol {tol})"
            assert abs(var - w["var"][r]) <= 0.2 * w["var"][r] + 1e-6, \
                f"{cid} output {j} row {r}: variance {var}, MXNet {w['var'][r]}"
            assert flat[r].min() >= w["min"][r] - 0.5 * (w["max"][r] - w["min"][r]) - 1e-6
            assert flat[r].max() <= w["max"][r] + 0.5 * (w["max"][r] - w["min"][r]) + 1e-6
        if w["integral"]:
            assert np.all(flat == np.round(flat)), f"{cid} output {j}: not integral"
