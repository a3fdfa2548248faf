"""Golden files for `mx.nd.save`/`mx.nd.load`, made and checked with real MXNet 1.9.1.

Run with MXNet's python (`/tmp/mxnet-ref/bin/python`), from the repository root:

    make_ndarray_io.py               write MXNet's files into tests/golden/data/ndarray_io/
    make_ndarray_io.py --check DIR   read the files bucketmod wrote into DIR
                                     (tests/golden/write_ndarray_io.py) and exit 1 on any mismatch

Each fixture `<case>.nd` comes with `<case>.expected.npz` (the arrays in file order, as
`arr_0, arr_1, ...`; bfloat16 stored as its uint16 bits) and an entry in `manifest.json`
(`kind`: dict or list, `keys`, `dtypes`, `np_shape`). `--check` reads the same layout.
"""
import argparse
import json
import os
import struct
import sys

import mxnet as mx
import numpy as np

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "ndarray_io")
BF16 = np.dtype([("bfloat16", np.uint16)])


def _values(rng, shape, dtype):
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype in ("uint8", "int8", "int32", "int64"):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    return (rng.standard_normal(shape) * 100).astype(dtype)


def _nd(value):
    return mx.nd.array(value, dtype=value.dtype)


def _cases():
    rng = np.random.default_rng(20240601)
    mixed = {
        "fc1_weight": _values(rng, (3, 4), "float32"),
        "fc1_bias": _values(rng, (5,), "float64"),
        "half": _values(rng, (2, 3), "float16"),
        "u8": _values(rng, (4,), "uint8"),
        "i8": _values(rng, (2, 2), "int8"),
        "i32": _values(rng, (3,), "int32"),
        "i64": _values(rng, (2, 1, 2), "int64"),
        "mask": _values(rng, (3,), "bool"),
        "one": _values(rng, (1,), "float32"),
    }
    cases = {
        "dict_mixed": ("dict", mixed),
        "list_two": ("list", [_values(rng, (2, 3), "float32"), _values(rng, (4,), "int32")]),
        "single": ("single", [_values(rng, (1,), "float32")]),
        "empty_name": ("dict", {"": _values(rng, (2,), "float32")}),
        "empty_dict": ("dict", {}),
        "empty_list": ("list", []),
        "zero_size": ("list", [np.zeros((0, 3), np.float32), np.zeros((2, 0), np.int64)]),
        "utf8_name": ("dict", {"wé_1": _values(rng, (2, 2), "float32")}),
    }
    return cases


def _np_shape_case(rng_seed=7):
    rng = np.random.default_rng(rng_seed)
    return [np.array(_values(rng, (), "float32")), np.zeros((0, 2), np.float32),
            _values(rng, (3,), "float32")]


def _legacy_files():
    """Hand-built files in the two layouts older MXNet wrote; MXNet 1.9.1 still loads them."""
    data = struct.pack("<ff", 3.0, 4.0)
    tail = struct.pack("<iii", 1, 0, 0) + data + struct.pack("<Q", 0)
    head = struct.pack("<QQQ", 0x112, 0, 1)
    v1 = head + struct.pack("<IIqq", 0xF993FAC8, 2, 1, 2) + tail
    v0 = head + struct.pack("<III", 2, 1, 2) + tail
    return {"legacy_v1": v1, "legacy_v0": v0}


def _expected_arrays(kind, values):
    return list(values.values()) if kind == "dict" else list(values)


def _dtype_name(arr):
    return "bfloat16" if arr.dtype == BF16 else str(arr.dtype)


def _write_case(name, kind, values, manifest, np_shape=False):
    path = os.path.join(OUT_DIR, name + ".nd")
    if kind == "dict":
        mx.nd.save(path, {k: _nd(v) for k, v in values.items()})
    elif kind == "single":
        mx.nd.save(path, _nd(values[0]))
    else:
        mx.nd.save(path, [_nd(v) for v in values])
    arrays = _expected_arrays(kind, values)
    np.savez(os.path.join(OUT_DIR, name + ".expected.npz"),
             *[a.view(np.uint16) if a.dtype == BF16 else a for a in arrays])
    manifest[name] = {"kind": "dict" if kind == "dict" and values else "list",
                      "keys": list(values) if kind == "dict" else [],
                      "dtypes": [_dtype_name(a) for a in arrays], "np_shape": np_shape}


def _make():
    os.makedirs(OUT_DIR, exist_ok=True)
    manifest = {}
    for name, (kind, values) in _cases().items():
        _write_case(name, kind, values, manifest)
    bf = mx.nd.array([1.0, -2.5, 3.140625, 0.0], dtype="float32").astype(BF16)
    path = os.path.join(OUT_DIR, "bfloat16.nd")
    mx.nd.save(path, {"bf": bf})
    np.savez(os.path.join(OUT_DIR, "bfloat16.expected.npz"), bf.asnumpy().view(np.uint16))
    manifest["bfloat16"] = {"kind": "dict", "keys": ["bf"], "dtypes": ["bfloat16"],
                            "np_shape": False}
    with mx.np_shape(True):
        values = _np_shape_case()
        mx.nd.save(os.path.join(OUT_DIR, "np_shape.nd"), [_nd(v) for v in values])
    np.savez(os.path.join(OUT_DIR, "np_shape.expected.npz"), *values)
    manifest["np_shape"] = {"kind": "list", "keys": [], "np_shape": True,
                            "dtypes": [str(v.dtype) for v in values]}
    for name, raw in _legacy_files().items():
        with open(os.path.join(OUT_DIR, name + ".nd"), "wb") as fo:
            fo.write(raw)
        loaded = mx.nd.load(os.path.join(OUT_DIR, name + ".nd"))
        np.savez(os.path.join(OUT_DIR, name + ".expected.npz"), *[a.asnumpy() for a in loaded])
        manifest[name] = {"kind": "list", "keys": [], "dtypes": ["float32"], "np_shape": False,
                          "legacy": True}
    csr = mx.nd.array([[0, 1], [2, 0]]).tostype("csr")
    mx.nd.save(os.path.join(OUT_DIR, "sparse_csr.nd"), [csr])
    with open(os.path.join(OUT_DIR, "manifest.json"), "w") as fo:
        json.dump(manifest, fo, indent=1, sort_keys=True)
    print(f"wrote {len(manifest) + 1} fixtures into {OUT_DIR}")


def _check_one(directory, name, spec):
    """Problems found when MXNet reads `<name>.nd` from `directory` (empty list: all good)."""
    path = os.path.join(directory, name + ".nd")
    if spec["np_shape"]:
        with mx.np_shape(True):
            loaded = mx.nd.load(path)
    else:
        loaded = mx.nd.load(path)
    problems = []
    if spec["kind"] == "dict":
        if not isinstance(loaded, dict) or list(loaded) != spec["keys"]:
            got = list(loaded) if isinstance(loaded, dict) else type(loaded).__name__
            return [f"{name}: expected a dict with keys {spec['keys']}, got {got}"]
        arrays = list(loaded.values())
    else:
        if not isinstance(loaded, list):
            return [f"{name}: expected a list, got {type(loaded).__name__}"]
        arrays = loaded
    with np.load(os.path.join(directory, name + ".expected.npz")) as npz:
        expected = [npz[f"arr_{i}"] for i in range(len(npz.files))]
    if len(arrays) != len(expected):
        return [f"{name}: expected {len(expected)} arrays, got {len(arrays)}"]
    for i, (arr, want, dtype) in enumerate(zip(arrays, expected, spec["dtypes"])):
        got = arr.asnumpy()
        got_dtype = _dtype_name(got)
        if got_dtype != dtype:
            problems.append(f"{name}[{i}]: dtype {got_dtype}, expected {dtype}")
            continue
        if got.dtype == BF16:
            got = got.view(np.uint16)
        if got.shape != want.shape or not np.array_equal(got, want):
            problems.append(f"{name}[{i}]: got shape {got.shape} values {got.ravel()[:4]}, "
                            f"expected shape {want.shape} values {want.ravel()[:4]}")
    if not problems and not spec["np_shape"] and not spec.get("legacy"):
        resaved = os.path.join(directory, name + ".mxnet-resaved")
        mx.nd.save(resaved, loaded)
        with open(resaved, "rb") as a, open(path, "rb") as b:
            if a.read() != b.read():
                problems.append(f"{name}: MXNet re-saving what it loaded gives different bytes")
        os.unlink(resaved)
    return problems


def _check(directory):
    with open(os.path.join(directory, "manifest.json")) as fi:
        manifest = json.load(fi)
    problems = []
    for name, spec in sorted(manifest.items()):
        try:
            problems += _check_one(directory, name, spec)
        except mx.base.MXNetError as err:
            problems.append(f"{name}: MXNet failed to load it: {str(err).splitlines()[-1]}")
    for line in problems:
        print("FAIL", line)
    print(f"checked {len(manifest)} files from {directory}: {len(problems)} problem(s)")
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", metavar="DIR", help="verify files bucketmod wrote into DIR")
    args = parser.parse_args()
    if args.check:
        sys.exit(_check(args.check))
    _make()


if __name__ == "__main__":
    main()
