"""Golden results of NDArray expressions, computed by real MXNet 1.9.1.

Run with MXNet's python from the repository root:

    /tmp/mxnet-ref/bin/python tests/golden/make_ndarray.py

Writes `data/ndarray/cases.json`: `inputs` (operand name -> dtype and values) and `cases`
(case -> expression and either the result's dtype, shape and values, or the exception type MXNet
raised). Values are JSON lists; float32/float16 values survive the trip through float64 exactly.
`tests/core/test_ndarray.py` evaluates each expression with bucketmod over the same operands,
with the same helper `setitem`, and compares.
"""
import json
import os

import mxnet as mx
import numpy as np

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "ndarray")

CASES = {
    "add": "a + b", "sub": "a - b", "mul": "a * b", "div": "a / b", "pow": "a ** b",
    "neg": "-a", "mod": "a % m", "mod_neg": "f % -2", "rmod": "5 % f",
    "add_scalar": "a + 1.5", "radd_scalar": "1.5 + a", "rsub_scalar": "10 - a",
    "rdiv_scalar": "1 / a", "pow_scalar": "a ** 2", "rpow_scalar": "2 ** a",
    "broadcast_row": "a + row", "broadcast_col": "a * col",
    "int_div_scalar": "i / 2", "int_mul_float": "i * -1.5", "int_add_float": "i + 0.7",
    "int_pow_float": "i ** 0.5", "int_rdiv": "7 / i", "int_div_nd": "i / j", "int_mod_nd": "i % j",
    "uint8_wrap_add": "u + 10", "uint8_wrap_sub": "u - 3",
    "eq": "a == b", "ne": "a != b", "lt": "a < b", "le": "a <= b", "gt": "a > b", "ge": "a >= b",
    "eq_scalar": "a == 2", "gt_scalar": "a > 3", "rgt_scalar": "3 > a", "int_lt_float": "i < 1.5",
    "reshape": "a.reshape((3, 2))", "reshape_args": "a.reshape(3, 2)",
    "reshape_minus1": "a.reshape((-1,))", "reshape_zero": "c.reshape((0, -1))",
    "reshape_minus2": "c.reshape((-2,))", "reshape_minus3": "c.reshape((-3, 4))",
    "reshape_minus4": "c.reshape((-4, 1, 2, -2))", "reshape_kw": "a.reshape(shape=(6,))",
    "reshape_bad": "a.reshape((4, 2))",
    "getitem_int": "a[1]", "getitem_int_1d": "i[1]", "getitem_neg": "a[-1]",
    "getitem_slice": "a[0:1]", "getitem_tuple": "a[1, 2]", "getitem_column": "a[:, 1]",
    "getitem_step": "r[::2]", "getitem_nd": "a[mx.nd.array([1, 0])]",
    "setitem_all_nd": "setitem(a, slice(None), b)",
    "setitem_all_scalar": "setitem(a, slice(None), 7)",
    "setitem_row": "setitem(a, 1, mx.nd.array([9, 9, 9]))",
    "setitem_numpy": "setitem(a, (0, slice(1, None)), np.array([8, 8]))",
    "setitem_broadcast": "setitem(a, slice(None), row)",
    "setitem_int_float": "setitem(i, 0, 2.7)",
    "astype_int": "f.astype('int32')", "astype_half": "(a / 3).astype(np.float16)",
    "astype_uint8": "mx.nd.array([1, 255, 0.2, 3.9]).astype('uint8')",
    "array_default": "mx.nd.array([1, 2])", "array_f64_source": "mx.nd.array(np.array([1.5, 2]))",
    "array_int_source": "mx.nd.array(np.array([1, 2], dtype=np.int64))",
    "array_keeps_nd_dtype": "mx.nd.array(i)", "array_dtype": "mx.nd.array([1, 2], dtype='int8')",
    "zeros": "mx.nd.zeros((2, 2))", "zeros_int": "mx.nd.zeros(3, dtype='int32')",
    "ones_half": "mx.nd.ones((2, 1), dtype='float16')", "full": "mx.nd.full((2, 2), 7)",
    "full_int": "mx.nd.full((2,), 2.5, dtype='int32')",
    "arange": "mx.nd.arange(5)", "arange_step": "mx.nd.arange(1, 2, 0.25)",
    "arange_repeat": "mx.nd.arange(0, 3, repeat=2)",
    "arange_int": "mx.nd.arange(0, 5, 2, dtype='int32')",
    "arange_negative": "mx.nd.arange(5, 0, -1.5)",
    "concat": "mx.nd.concat(a, b)", "concat_dim0": "mx.nd.concat(a, b, dim=0)",
    "concat_three": "mx.nd.concat(a, b, a, dim=1)",
    "concat_mismatch": "mx.nd.concat(a, mx.nd.ones((3, 3)), dim=1)",
    "dot": "mx.nd.dot(a, b.T)", "dot_transpose_a": "mx.nd.dot(a, b, transpose_a=True)",
    "dot_transpose_b": "mx.nd.dot(a, b, transpose_b=True)",
    "dot_vectors": "mx.nd.dot(row, row)", "dot_matrix_vector": "mx.nd.dot(a, row)",
    "dot_3d": "mx.nd.dot(c, mx.nd.arange(8).reshape((4, 2)))", "dot_bad": "mx.nd.dot(a, a)",
    "copyto_int": "a.copyto(mx.nd.zeros((2, 3), dtype='int32'))",
    "copyto_bad_shape": "a.copyto(mx.nd.zeros((3, 2)))",
    "transpose": "a.T", "asscalar": "mx.nd.array([3.5]).asscalar()",
    "asscalar_bad": "a.asscalar()",
}


def setitem(x, key, value):
    """`x.copy()` with `[key] = value` applied (statements cannot go in an expression)."""
    out = x.copy()
    out[key] = value
    return out


def inputs():
    rng = np.random.default_rng(11)
    return {
        "a": np.array([[1, 2, 3], [4, 5, 6]], np.float32),
        "b": np.array([[1, 0.5, 2], [3, 5, 1.25]], np.float32),
        "m": np.array([[2, 2, -2], [4, -4, 4]], np.float32),
        "f": np.array([1.5, -2.5, 3], np.float32),
        "row": np.array([10, 20, 30], np.float32),
        "col": np.array([[2], [3]], np.float32),
        "c": rng.standard_normal((2, 3, 4)).astype(np.float32),
        "r": np.arange(7, dtype=np.float32),
        "i": np.array([1, -2, 3], np.int32),
        "j": np.array([2, 2, -2], np.int32),
        "u": np.array([1, 2, 250], np.uint8),
    }


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    raw = inputs()
    env = {k: mx.nd.array(v, dtype=v.dtype) for k, v in raw.items()}
    env.update(mx=mx, np=np, setitem=setitem)
    meta = {}
    for name, expr in CASES.items():
        try:
            value = eval(expr, env)  # noqa: S307  (the expressions are the fixed table above)
        except Exception as err:  # noqa: BLE001  (recording which exception MXNet raises)
            meta[name] = {"expr": expr, "raises": type(err).__name__}
            continue
        arr = value.asnumpy() if isinstance(value, mx.nd.NDArray) else np.asarray(value)
        meta[name] = {"expr": expr, "dtype": str(arr.dtype), "shape": list(arr.shape),
                      "ndarray": isinstance(value, mx.nd.NDArray), "value": arr.tolist()}
    fixture = {"inputs": {k: {"dtype": str(v.dtype), "value": v.tolist()} for k, v in raw.items()},
               "cases": meta}
    with open(os.path.join(OUT_DIR, "cases.json"), "w") as fo:
        json.dump(fixture, fo, indent=None, sort_keys=True)
    errors = sum("raises" in m for m in meta.values())
    print(f"wrote {len(meta) - errors} results and {errors} expected errors into {OUT_DIR}")


if __name__ == "__main__":
    main()
