"""Golden results of MXNet 1.9.1's NDArray methods, `mx.nd` module functions and Symbol methods
that MXNet users call (reshape codes, T, broadcast_to, slice, tostype, astype/copyto/
as_in_context identities, concatenate, onehot_encode; symbol arithmetic and comparisons,
get_internals, get_children, attr_dict, infer_type_partial).

    /tmp/mxnet-ref/bin/python tests/golden/make_api_methods.py

Writes `data/api_methods.json`: `ndarray` (expression -> dtype, shape and values, or the
exception type raised; operands from `operands()`), `symbol` (expression over variables x and y
-> output names and values for X and Y), `symbol_facts` (name -> what `symbol_facts(mx)`
returns). tests/core/test_ndarray.py and test_symbol.py evaluate the same with bucketmod.
"""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "api_methods.json")

NDARRAY = {
    "T_1d": "v.T", "T_2d": "a.T", "T_3d": "c.T",
    "reshape_reverse": "c.reshape((-1, 0), reverse=True)",
    "reshape_reverse_keep_first": "c.reshape((0, -1), reverse=True)",
    "reshape_reverse_big": "mx.nd.ones((10, 5, 4)).reshape((-1, 0), reverse=True)",
    "reshape_minus4_infer": "c.reshape((-4, -1, 1, -2))",
    "reshape_keep_split": "c.reshape((0, -4, 3, -1, 4))",
    "reshape_merge_tail": "c.reshape((0, -3))", "reshape_int": "c.reshape(-1)",
    "reshape_list": "c.reshape([4, -1])", "reshape_two_minus1": "c.reshape((-1, -1))",
    "broadcast_row": "mx.nd.ones((1, 3)).broadcast_to((2, 3))",
    "broadcast_vector": "v.broadcast_to((2, 3))",
    "broadcast_column": "col.broadcast_to((2, 3))",
    "broadcast_list": "col.broadcast_to([2, 3])",
    "broadcast_bad": "a.broadcast_to((3, 3))", "broadcast_fewer_dims": "a.broadcast_to((3,))",
    "broadcast_zero": "col.broadcast_to((0, 3))",
    "slice": "a.slice(begin=(0, 1), end=(2, 3))", "slice_positional": "a.slice((0, 1), (2, 3))",
    "slice_none": "a.slice(begin=(None, 1), end=(None, None))",
    "slice_step_back": "c.slice(begin=(None, None, 3), end=(None, None, 0), step=(None, None, -1))",
    "slice_negative": "a.slice(begin=(-1,), end=(None,))",
    "slice_first_axis": "a.slice(begin=(1,), end=(2,))",
    "slice_step2": "r.slice(begin=(1,), end=(7,), step=(2,))",
    "slice_empty": "a.slice(begin=(0, 3), end=(2, 1))",
    "tostype_default": "a.tostype('default')", "tostype_is_copy": "a.tostype('default') is a",
    "tostype_bad": "a.tostype('dense')",
    "astype_same_no_copy": "a.astype('float32', copy=False) is a",
    "astype_same_copy": "a.astype('float32') is a",
    "astype_other_no_copy": "a.astype('int32', copy=False)",
    "as_in_context_same": "a.as_in_context(mx.cpu()) is a",
    "copyto_context": "a.copyto(mx.cpu()) is a", "copyto_context_values": "a.copyto(mx.cpu())",
    "concatenate": "mx.nd.concatenate([a, a])",
    "concatenate_axis1": "mx.nd.concatenate([a, a * 2], axis=1)",
    "concatenate_3d": "mx.nd.concatenate([c, c], axis=2)",
    "concatenate_single_no_copy": "mx.nd.concatenate([a], always_copy=False) is a",
    "concatenate_single_copy": "mx.nd.concatenate([a]) is a",
    "concatenate_mismatch": "mx.nd.concatenate([a, v])",
    "concatenate_dtype": "mx.nd.concatenate([a, a.astype('int32')])",
    "onehot": "mx.nd.onehot_encode(mx.nd.array([0, 2, 1]), mx.nd.zeros((3, 4)))",
    "onehot_overwrites": "mx.nd.onehot_encode(mx.nd.array([3, 0]), mx.nd.ones((2, 4)) * 7)",
    "onehot_out_of_range": "mx.nd.onehot_encode(mx.nd.array([0, 5, -1]), mx.nd.zeros((3, 4)))",
    "onehot_float_index": "mx.nd.onehot_encode(mx.nd.array([0.7, 2.2, 1]), mx.nd.zeros((3, 4)))",
    "onehot_returns_out": "(lambda o: mx.nd.onehot_encode(mx.nd.array([1]), o) is o)("
                          "mx.nd.zeros((1, 2)))",
    "onehot_bad_rows": "mx.nd.onehot_encode(mx.nd.array([0, 1]), mx.nd.zeros((3, 4)))",
    "waitall": "mx.nd.waitall()",
}

SYMBOL = ["x + 1", "1 + x", "x - y", "2 - x", "x * y", "3 * x", "x / 2", "2 / x", "x / y",
          "x % 3", "x % y", "x ** 2", "2 ** x", "abs(x) ** y", "-x", "abs(x)", "x > 1",
          "1 < x", "x == y", "x != 2", "x <= y", "x >= 1", "2 >= x", "x == 1.5", "x < y",
          "x > y", "x != y", "(x + y) * (x - 1) / 4"]
SYMBOL_RAISES = ["x + 'a'", "x * None", "x < 'b'"]
# `5 % x` needs the _RModScalar operator; it is compared where bucketmod has that operator.
SYMBOL_RMOD = "5 % x"
X = [[1.5, -2, 3], [4, 0.5, -6]]
Y = [[2, 2, -2], [4, -4, 4]]


def operands():
    return {"a": np.array([[1, 2, 3], [4, 5, 6]], np.float32),
            "v": np.array([1, 2, 3], np.float32),
            "col": np.array([[2], [3]], np.float32),
            "r": np.arange(8, dtype=np.float32),
            "c": np.arange(24, dtype=np.float32).reshape(2, 3, 4)}


def eval_ndarray(mx, expr, env):
    """A JSON record of `expr`'s value or of the exception type it raises."""
    try:
        value = eval(expr, env)  # noqa: S307  (the expressions are the fixed table above)
        if isinstance(value, mx.nd.NDArray):
            value.wait_to_read()
    except Exception as err:  # noqa: BLE001  (recording which exception is raised)
        return {"raises": type(err).__name__}
    if value is None or isinstance(value, bool):
        return {"python": value}
    arr = value.asnumpy()
    return {"dtype": str(arr.dtype), "shape": list(arr.shape), "value": arr.ravel().tolist()}


def eval_symbol(mx, expr):
    x, y = mx.sym.var("x"), mx.sym.var("y")
    try:
        with mx.name.NameManager():
            sym = eval(expr, {"x": x, "y": y})  # noqa: S307
    except Exception as err:  # noqa: BLE001
        return {"raises": type(err).__name__}
    args = {"x": mx.nd.array(X), "y": mx.nd.array(Y)}
    out = sym.bind(mx.cpu(), {n: args[n] for n in sym.list_arguments()}).forward()[0]
    return {"outputs": sym.list_outputs(), "value": out.asnumpy().ravel().tolist()}


def _types(result):
    return [None if ts is None else [None if t is None else np.dtype(t).name for t in ts]
            for ts in result]


def symbol_facts(mx):
    x, y = mx.sym.var("x"), mx.sym.var("y")
    with mx.name.NameManager():
        fc = mx.sym.FullyConnected(x, num_hidden=3, name="fc",
                                   attr={"__lr_mult__": "2", "__tag__": "a"})
        act = mx.sym.Activation(fc, act_type="relu", name="act")
        group = mx.sym.Group([act, y * 2])
        with mx.AttrScope(ctx_group="dev1"):
            z = mx.sym.var("z", lr_mult=0.5, dtype="float16")
            scoped = z * 2
    return {
        "internals": group.get_internals().list_outputs(),
        "internals_of_fc": fc.get_internals().list_outputs(),
        "children_act": act.get_children().list_outputs(),
        "children_group": group.get_children().list_outputs(),
        "children_variable": x.get_children(),
        "attr_dict": group.attr_dict(),
        "attr_dict_scoped": scoped.attr_dict(),
        "infer_type_partial_one": _types((x + y).infer_type_partial(x="float16")),
        "infer_type_partial_none": _types((x + y).infer_type_partial()),
        "infer_type_partial_fc": _types(fc.infer_type_partial()),
        "infer_type_partial_fc64": _types(fc.infer_type_partial(x="float64")),
        "infer_type_partial_group": _types(mx.sym.Group([fc, y]).infer_type_partial(
            x="float64")),
        "infer_type_partial_dtype_attr": _types(z.infer_type_partial()),
    }


def main():
    import mxnet as mx
    raw = operands()
    env = {k: mx.nd.array(v) for k, v in raw.items()}
    env.update(mx=mx, np=np)
    fixture = {"ndarray": {name: dict(eval_ndarray(mx, expr, env), expr=expr)
                           for name, expr in NDARRAY.items()},
               "symbol": {expr: eval_symbol(mx, expr) for expr in SYMBOL + SYMBOL_RAISES},
               "symbol_rmod": eval_symbol(mx, SYMBOL_RMOD),
               "symbol_facts": symbol_facts(mx)}
    with open(OUT, "w") as f:
        json.dump(fixture, f, indent=None, sort_keys=True)
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
