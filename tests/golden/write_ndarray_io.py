"""Write files with bucketmod's `mx.nd.save` for real MXNet to check.

Run with the project's python, then check with MXNet's:

    python tests/golden/write_ndarray_io.py DIR
    /tmp/mxnet-ref/bin/python tests/golden/make_ndarray_io.py --check DIR

Writes `<case>.nd`, `<case>.expected.npz` and `manifest.json` in the layout
`make_ndarray_io.py` documents. Expected values come from numpy, not from bucketmod.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
import bucketmod as mx  # noqa: E402  (the repository root is put on the path first)


def _values(rng, shape, dtype):
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype in ("uint8", "int8", "int32", "int64"):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    return (rng.standard_normal(shape) * 100).astype(dtype)


def _cases(rng):
    """name -> (what to pass to save, expected kind, keys, expected numpy arrays, np_shape)."""
    dtypes = ["float32", "float64", "float16", "uint8", "int8", "int32", "int64", "bool"]
    shapes = [(3, 4), (5,), (2, 3), (4,), (2, 2), (3,), (2, 1, 2), (3,)]
    mixed = {f"p_{dt}": _values(rng, shape, dt) for dt, shape in zip(dtypes, shapes)}
    mixed["one"] = _values(rng, (1,), "float32")
    as_torch = [_values(rng, (2, 5), "float32"), _values(rng, (3,), "int64")]
    bf_bits = np.array([0x3F80, 0xC020, 0x4049, 0x0000], dtype=np.uint16)
    scalar = [np.array(2.5, np.float32), _values(rng, (2,), "float32")]
    named = {"": _values(rng, (2,), "float32")}
    return {
        "dict_mixed": ({k: mx.nd.array(v, dtype=v.dtype) for k, v in mixed.items()},
                       "dict", list(mixed), list(mixed.values()), False),
        "list_torch": ([torch.from_numpy(v) for v in as_torch], "list", [], as_torch, False),
        "list_numpy": (as_torch, "list", [], as_torch, False),
        "single": (mx.nd.array(mixed["one"]), "list", [], [mixed["one"]], False),
        "empty_name": (named, "dict", [""], list(named.values()), False),
        "empty_dict": ({}, "list", [], [], False),
        "zero_size": ([np.zeros((0, 3), np.float32), np.zeros((2, 0), np.int64)], "list", [],
                      [np.zeros((0, 3), np.float32), np.zeros((2, 0), np.int64)], False),
        "utf8_name": ({"wé_1": mixed["one"]}, "dict", ["wé_1"], [mixed["one"]], False),
        "bfloat16": ({"bf": torch.from_numpy(bf_bits.view(np.int16)).view(torch.bfloat16)},
                     "dict", ["bf"], [bf_bits], False),
        "np_shape": ([torch.from_numpy(v) for v in scalar], "list", [], scalar, True),
    }


def main(directory):
    os.makedirs(directory, exist_ok=True)
    manifest = {}
    for name, (data, kind, keys, expected, np_shape) in _cases(np.random.default_rng(5)).items():
        mx.nd.save(os.path.join(directory, name + ".nd"), data)
        np.savez(os.path.join(directory, name + ".expected.npz"), *expected)
        dtypes = ["bfloat16" if name == "bfloat16" else str(a.dtype) for a in expected]
        manifest[name] = {"kind": kind, "keys": keys, "dtypes": dtypes, "np_shape": np_shape}
    with open(os.path.join(directory, "manifest.json"), "w") as fo:
        json.dump(manifest, fo, indent=1, sort_keys=True)
    print(f"wrote {len(manifest)} files into {directory}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} DIR")
    main(sys.argv[1])
