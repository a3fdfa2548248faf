"""The operator golden cases, one table per operator family, shared by `make_operators.py`
(run under MXNet 1.9.1) and the tests under tests/ops/ (run under bucketmod). Nothing here
imports a framework: `call(mx, case, values)` builds the call with whichever `mx` it is given.

A case is `C(id, function, inputs, params, **options)`:
  function  where the function lives under mx.sym / mx.nd: "dot", "linalg.gemm2",
            "contrib.box_iou", "random.normal", "_internal._plus_scalar"
  inputs    [(name, shape, kind)]: passed positionally in that order (by keyword with kw=True);
            kind says how to fill it (see `make_value`), "@dtype" appended picks its dtype
  params    keyword parameters
  options   mode="sym" (default): bind, forward(is_train), backward with fixed head gradients;
                 "nd": one imperative call, recording outputs and the inputs after it (the
                 states an optimizer operator writes into);
                 "random": a sampler, recording output shapes, dtypes and moments
            nograd=[names] or True: inputs bound with grad_req 'null'
            train=False: forward(is_train=False) and no backward
            positional=[values]: parameters given positionally after the inputs
            native=True: made with MXNet's own CPU kernels, MKL-DNN off (it rejects the case)
            aux=[names]: aux states, bound by name (not passed to the operator function)
            sym_only=True: not also compared through mx.nd (a training forward with state)
            unchecked=[j]: outputs MXNet leaves uninitialised (rrelu's mask in prediction)
            out=[names]: (mode nd) the inputs passed as `out=` (MXNet's multi-tensor updates
                 need it)
            values=False: (mode random) only output shapes and dtypes are compared
            bare=[output shapes]: (mode nd) MXNet's function for the operator declares no
                 inputs and MXNet infers no shapes for it (the backward_* operators): MXNet
                 runs the operator itself on the inputs in order, writing into zero arrays of
                 these shapes; bucketmod calls it with the inputs in order too
            unchanged=[names]: inputs MXNet writes into and bucketmod by design does not (the
                 gradient adamw_update rescales in place); checked to be left as they were
"""
import zlib

import numpy as np


def C(cid, function, inputs, params=None, **options):
    return (cid, function, list(inputs), dict(params or {}), options)


def _unary(ops, kind="n", shape=(3, 4)):
    return [C(op, op, [("data", shape, kind)], {}) for op in ops]


def math_cases():
    cases = _unary(("negative", "exp", "expm1", "square", "tanh", "sigmoid", "sin", "cos",
                    "sinh", "cosh", "arctan", "arcsinh", "erf", "softsign", "degrees",
                    "radians", "identity", "BlockGrad", "stop_gradient", "zeros_like",
                    "ones_like", "cbrt"))
    cases += _unary(("abs", "relu", "sign", "reciprocal", "rcbrt", "logical_not"), "u")
    cases += _unary(("log", "log10", "log2", "log1p", "sqrt", "rsqrt", "gamma", "gammaln"),
                    "p")
    cases += _unary(("arcsin", "arccos", "arctanh", "erfinv", "tan"), "unit")
    cases += _unary(("arccosh",), "gt1")
    cases += _unary(("round", "rint", "fix", "floor", "ceil", "trunc"), "halves")
    cases += [
        C("gamma_negative", "gamma", [("data", (2, 3), "negfrac")]),
        C("clip", "clip", [("data", (3, 4), "u")], {"a_min": -0.5, "a_max": 0.5}),
        C("clip_positional", "clip", [("data", (3, 4), "u")], positional=[-0.3, 0.6]),
        C("hard_sigmoid", "hard_sigmoid", [("data", (3, 4), "n")], {"alpha": 0.3, "beta": 0.4}),
        C("smooth_l1", "smooth_l1", [("data", (3, 4), "n")], {"scalar": 1.5}),
        C("Cast_f64", "Cast", [("data", (2, 3), "n")], {"dtype": "float64"}),
        C("cast_f16", "cast", [("data", (2, 3), "n")], {"dtype": "float16"}),
        C("cast_int32", "cast", [("data", (2, 3), "halves")], {"dtype": "int32"}, nograd=True),
        C("amp_cast", "amp_cast", [("data", (2, 3), "n")], {"dtype": "float16"}),
        C("amp_multicast", "amp_multicast",
          [("a", (2, 3), "n@float64"), ("b", (2, 3), "n")], {"num_outputs": 2}, native=True),
        C("amp_multicast_narrow", "amp_multicast",
          [("a", (2, 3), "n@float16"), ("b", (2, 3), "n")],
          {"num_outputs": 2, "cast_narrow": True}, native=True),
        C("where", "where", [("condition", (3, 4), "b"), ("x", (3, 4), "n"),
                             ("y", (3, 4), "n")], nograd=["condition"]),
        C("where_rows", "where", [("condition", (3,), "b"), ("x", (3, 4), "n"),
                                  ("y", (3, 4), "n")], nograd=["condition"]),
        C("add_n", "add_n", [("a", (2, 3), "n"), ("b", (2, 3), "n"), ("c", (2, 3), "n")]),
        C("ElementWiseSum", "ElementWiseSum", [("a", (2, 3), "n"), ("b", (2, 3), "n")]),
        C("khatri_rao", "khatri_rao", [("a", (2, 3), "n"), ("b", (4, 3), "n")], nograd=True),
        C("allclose", "contrib.allclose", [("a", (2, 3), "n"), ("b", (2, 3), "n")], nograd=True),
        C("allclose_true", "contrib.allclose",
          [("a", [1.0, float("nan"), 2.0], "fixed"), ("b", [1.0 + 1e-7, float("nan"), 2.0],
                                                       "fixed")], nograd=True),
        C("khatri_rao_3", "khatri_rao", [("a", (2, 2), "n"), ("b", (3, 2), "n"),
                                         ("c", (2, 2), "n")], nograd=True),
    ]
    pos = {"elemwise_div": ("n", "p"), "_power": ("p", "n"), "broadcast_div": ("n", "p"),
           "broadcast_power": ("p", "n"), "_mod": ("n", "p"), "broadcast_mod": ("n", "u")}
    for op in ("elemwise_add", "elemwise_sub", "elemwise_mul", "elemwise_div", "_power",
               "_maximum", "_minimum", "_hypot", "_mod", "_equal", "_not_equal", "_greater",
               "_greater_equal", "_lesser", "_lesser_equal", "_logical_and", "_logical_or",
               "_logical_xor", "_grad_add"):
        k = pos.get(op, ("n", "n"))
        path = op if op.startswith("elemwise") else f"_internal.{op}"
        kinds = ("i3", "i3") if "equal" in op or "logical" in op else k
        cases.append(C(op, path, [("lhs", (3, 4), kinds[0]), ("rhs", (3, 4), kinds[1])],
                       nograd=True if kinds == ("i3", "i3") or op == "_grad_add" else None))
    for op in ("add", "plus", "sub", "minus", "mul", "div", "mod", "power", "maximum",
               "minimum", "hypot", "equal", "not_equal", "greater", "greater_equal", "lesser",
               "lesser_equal", "logical_and", "logical_or", "logical_xor"):
        name = f"broadcast_{op}"
        k = pos.get(name, ("n", "n"))
        if "equal" in op or "logical" in op or op in ("greater", "lesser"):
            k = ("i3", "i3")
        cases.append(C(name, name, [("lhs", (3, 1, 4), k[0]), ("rhs", (1, 2, 4), k[1])],
                       nograd=True if k == ("i3", "i3") else None))
    cases += [
        C("broadcast_add_rank", "broadcast_add", [("lhs", (3, 5), "n"), ("rhs", (1,), "n")]),
        C("broadcast_mul_rank", "broadcast_mul", [("lhs", (2, 3, 4), "n"), ("rhs", (4,), "n")]),
        C("broadcast_sub_rank_left", "broadcast_sub", [("lhs", (3, 1), "n"),
                                                       ("rhs", (2, 1, 5), "n")]),
    ]
    for op, scalar, kind in (("_plus_scalar", 2.0, "n"), ("_minus_scalar", 1.5, "n"),
                             ("_rminus_scalar", 1.5, "n"), ("_mul_scalar", -3.0, "n"),
                             ("_div_scalar", 4.0, "n"), ("_rdiv_scalar", 2.0, "p"),
                             ("_power_scalar", 3.0, "n"), ("_rpower_scalar", 2.0, "n"),
                             ("_maximum_scalar", 0.1, "u"), ("_minimum_scalar", -0.1, "u"),
                             ("_mod_scalar", 0.7, "n"), ("_rmod_scalar", 2.5, "p"),
                             ("_hypot_scalar", 1.5, "n"), ("_equal_scalar", 1.0, "i3"),
                             ("_not_equal_scalar", 1.0, "i3"), ("_greater_scalar", 1.0, "i3"),
                             ("_greater_equal_scalar", 1.0, "i3"),
                             ("_lesser_scalar", 1.0, "i3"), ("_lesser_equal_scalar", 1.0, "i3"),
                             ("_logical_and_scalar", 1.0, "i3"),
                             ("_logical_or_scalar", 0.0, "i3"),
                             ("_logical_xor_scalar", 1.0, "i3")):
        cases.append(C(op, f"_internal.{op}", [("data", (2, 5), kind)], {"scalar": scalar},
                       nograd=True if kind == "i3" else None))
    return cases


def reduce_cases():
    cases = []
    for op in ("sum", "mean", "prod", "max", "min", "nansum", "nanprod"):
        kind = "distinct" if op in ("max", "min") else ("p" if op == "prod" else "n")
        cases += [
            C(f"{op}_all", op, [("data", (2, 3, 4), kind)]),
            C(f"{op}_axis1", op, [("data", (2, 3, 4), kind)], {"axis": 1}),
            C(f"{op}_keepdims", op, [("data", (2, 3, 4), kind)], {"axis": (0, 2),
                                                                  "keepdims": True}),
            C(f"{op}_exclude", op, [("data", (2, 3, 4), kind)], {"axis": 1, "exclude": True}),
        ]
    cases += [
        C("sum_axis", "sum_axis", [("data", (2, 3), "n")], {"axis": 0}),
        C("sum_positional", "sum", [("data", (2, 3, 4), "n")], positional=[(0, 1), True]),
        C("max_axis", "max_axis", [("data", (2, 3), "distinct")], {"axis": 1}),
        C("min_axis", "min_axis", [("data", (2, 3), "distinct")], {"axis": -1}),
        C("max_ties", "max", [("data", [[1.0, 3.0, 3.0], [2.0, 2.0, 0.5]], "fixed")],
          {"axis": 1}),
        C("nansum_nan", "nansum", [("data", [[1.0, float("nan"), 2.0]], "fixed")]),
        C("nanprod_nan", "nanprod", [("data", [[1.5, float("nan"), 2.0]], "fixed")],
          {"axis": 1}),
        C("norm", "norm", [("data", (3, 4), "u")]),
        C("norm_l1_axis", "norm", [("data", (2, 3, 4), "u")], {"ord": 1, "axis": 1}),
        C("norm_axes_keepdims", "norm", [("data", (2, 3, 4), "u")],
          {"axis": (1, 2), "keepdims": True}),
        C("argmax", "argmax", [("data", (3, 4), "distinct")], {"axis": 1}, nograd=True),
        C("argmax_all", "argmax", [("data", (3, 4), "distinct")], nograd=True),
        C("argmax_keepdims", "argmax", [("data", (3, 4), "distinct")],
          {"axis": 0, "keepdims": True}, nograd=True),
        C("argmin", "argmin", [("data", (3, 4), "distinct")], {"axis": 0}, nograd=True),
        C("argmax_channel", "argmax_channel", [("data", (3, 4), "distinct")], nograd=True),
        C("moments", "moments", [("data", (2, 3, 4), "n")], {"axes": (0, 2)}),
        C("moments_keepdims", "moments", [("data", (2, 3), "n")],
          {"axes": (1,), "keepdims": True}),
        C("cumsum", "cumsum", [("a", (2, 3), "n")], {"axis": 1}),
        C("cumsum_flat", "cumsum", [("a", (2, 3), "n")]),
    ]
    return cases


def shape_cases():
    cases = []
    for cid, shape, src, reverse in (("reshape_0_m1", (0, -1), (2, 3, 4), False),
                                     ("reshape_m3", (-3, -2), (2, 3, 4, 5), False),
                                     ("reshape_m4", (-4, -1, 2, -2), (4, 3, 5), False),
                                     ("reshape_reverse", (-1, 0), (10, 5, 4), True)):
        cases.append(C(cid, "Reshape", [("data", src, "n")], {"shape": shape,
                                                               "reverse": reverse}))
    cases += [
        C("reshape_alias", "reshape", [("data", (2, 6), "n")], {"shape": (3, -1)}),
        C("Flatten", "Flatten", [("data", (2, 3, 4), "n")]),
        C("flatten", "flatten", [("data", (2, 3, 4), "n")]),
        C("Concat", "Concat", [("a", (2, 3), "n"), ("b", (2, 4), "n")]),
        C("concat_dim0", "concat", [("a", (1, 3), "n"), ("b", (2, 3), "n"), ("c", (1, 3), "n")],
          {"dim": 0}),
        C("stack", "stack", [("a", (2, 3), "n"), ("b", (2, 3), "n")], {"axis": 1}),
        C("SliceChannel", "SliceChannel", [("data", (2, 6), "n")], {"num_outputs": 3}),
        C("split_squeeze", "split", [("data", (2, 3, 4), "n")],
          {"num_outputs": 3, "axis": 1, "squeeze_axis": True}),
        C("split_v2", "_internal._split_v2", [("data", (2, 7), "n")],
          {"indices": (0, 2, 5), "axis": 1}),
        C("split_v2_sections", "_internal._split_v2", [("data", (4, 3), "n")],
          {"indices": (), "sections": 2, "axis": 0}),
        C("expand_dims", "expand_dims", [("data", (2, 3), "n")], {"axis": -1}),
        C("squeeze", "squeeze", [("data", (2, 1, 3, 1), "n")]),
        C("squeeze_axis", "squeeze", [("data", (2, 1, 3, 1), "n")], {"axis": 3}),
        C("SwapAxis", "SwapAxis", [("data", (2, 3, 4), "n")], {"dim1": 0, "dim2": 2}),
        C("swapaxes", "swapaxes", [("data", (2, 3, 4), "n")], positional=[1, 2]),
        C("transpose", "transpose", [("data", (2, 3, 4), "n")], {"axes": (1, 0, 2)}),
        C("tile", "tile", [("data", (2, 3), "n")], {"reps": (2, 1, 2)}),
        C("tile_short", "tile", [("data", (2, 3), "n")], {"reps": (2,)}),
        C("repeat", "repeat", [("data", (2, 3), "n")], {"repeats": 2, "axis": 1}),
        C("repeat_flat", "repeat", [("data", (2, 3), "n")], {"repeats": 3}),
        C("Pad_constant", "Pad", [("data", (1, 2, 3, 4), "n")],
          {"mode": "constant", "pad_width": (0, 0, 0, 0, 1, 2, 2, 1), "constant_value": 0.5}),
        C("pad_edge", "pad", [("data", (1, 2, 3, 4), "n")],
          {"mode": "edge", "pad_width": (0, 0, 0, 0, 1, 1, 2, 2)}),
        C("pad_reflect_5d", "pad", [("data", (1, 1, 3, 3, 4), "n")],
          {"mode": "reflect", "pad_width": (0, 0, 0, 0, 1, 1, 2, 1, 1, 2)}),
        C("broadcast_to", "broadcast_to", [("data", (2, 1, 3), "n")], {"shape": (2, 4, 0)}),
        C("broadcast_axis", "broadcast_axis", [("data", (2, 1, 1), "n")],
          {"axis": (1, 2), "size": (3, 4)}),
        C("broadcast_axes", "broadcast_axes", [("data", (1, 3), "n")], {"axis": 0, "size": 2}),
        C("broadcast_like", "broadcast_like", [("lhs", (1, 3), "n"), ("rhs", (4, 3), "n")]),
        C("broadcast_like_axes", "broadcast_like", [("lhs", (1, 3), "n"), ("rhs", (2, 5), "n")],
          {"lhs_axes": (0,), "rhs_axes": (1,)}),
        C("reshape_like", "reshape_like", [("lhs", (2, 6), "n"), ("rhs", (3, 4), "n")]),
        C("reshape_like_span", "reshape_like", [("lhs", (2, 6), "n"), ("rhs", (5, 3, 2), "n")],
          {"lhs_begin": 1, "lhs_end": 2, "rhs_begin": 1}),
        C("slice", "slice", [("data", (4, 5), "n")], {"begin": (1, 0), "end": (3, 4)}),
        C("slice_step", "slice", [("data", (4, 5, 2), "n")],
          {"begin": (None, 4), "end": (None, 0), "step": (2, -2)}),
        C("crop", "crop", [("data", (4, 5), "n")], {"begin": (0, 1), "end": (2, None)}),
        C("slice_axis", "slice_axis", [("data", (4, 5), "n")],
          {"axis": 1, "begin": 1, "end": -1}),
        C("slice_like", "slice_like", [("data", (4, 5), "n"), ("shape_like", (2, 3), "n")]),
        C("slice_like_axes", "slice_like", [("data", (4, 5), "n"), ("shape_like", (2, 3), "n")],
          {"axes": (1,)}),
        C("Crop_like", "Crop", [("data", (1, 2, 5, 5), "n"), ("crop_like", (1, 2, 3, 2), "n")],
          {"offset": (1, 2)}),
        C("Crop_center", "Crop", [("data", (1, 2, 6, 5), "n")],
          {"h_w": (2, 3), "center_crop": True}),
        C("depth_to_space", "depth_to_space", [("data", (1, 8, 2, 3), "n")], {"block_size": 2}),
        C("space_to_depth", "space_to_depth", [("data", (1, 2, 4, 6), "n")], {"block_size": 2}),
        C("shape_array", "shape_array", [("data", (2, 3, 4), "n")], nograd=True),
        C("size_array", "size_array", [("data", (2, 3, 4), "n")], nograd=True),
        C("diag_matrix", "diag", [("data", (3, 4), "n")], {"k": 1}),
        C("diag_vector", "diag", [("data", (3,), "n")], {"k": -1}),
        C("diag_axes", "diag", [("data", (2, 3, 3), "n")], {"axis1": 1, "axis2": 2}),
        C("im2col", "im2col", [("data", (1, 2, 4, 5), "n")],
          {"kernel": (2, 3), "stride": (1, 2), "pad": (1, 0)}),
        C("col2im", "col2im", [("data", (1, 12, 10), "n")],
          {"output_size": (4, 5), "kernel": (2, 3), "stride": (1, 2), "pad": (1, 0)}),
        C("reverse", "reverse", [("data", (3, 4), "n")], {"axis": 1}),
        C("arange_like", "contrib.arange_like", [("data", (2, 3), "n")],
          {"start": 1.0, "step": 0.5}, nograd=True),
        C("arange_like_axis_repeat", "contrib.arange_like", [("data", (2, 5), "n")],
          {"axis": 1, "repeat": 2}, nograd=True),
        C("cast_storage", "cast_storage", [("data", (2, 3), "n")], {"stype": "default"}),
        C("flip", "flip", [("data", (3, 4), "n")], {"axis": (0, 1)}),
        C("slice_assign", "_internal._slice_assign", [("lhs", (3, 4), "n"), ("rhs", (2, 2), "n")],
          {"begin": (1, 0), "end": (3, 4), "step": (1, 2)}, nograd=True),
        C("slice_assign_scalar", "_internal._slice_assign_scalar", [("data", (3, 4), "n")],
          {"scalar": 2.5, "begin": (0, 1), "end": (2, 3)}, nograd=True),
    ]
    return cases


def index_cases():
    return [
        C("take", "take", [("a", (5, 3), "n"), ("indices", (2, 3), "i5")], nograd=["indices"]),
        C("take_axis_wrap", "take", [("a", (2, 4), "n"), ("indices", (3,), "i9")],
          {"axis": 1, "mode": "wrap"}, nograd=["indices"]),
        C("take_clip", "take", [("a", (4, 2), "n"), ("indices", [-1.0, 2.0, 7.0], "fixed")],
          nograd=["indices"]),
        C("batch_take", "batch_take", [("a", (3, 4), "n"), ("indices", (3,), "i4@int32")],
          nograd=True),
        C("pick", "pick", [("data", (3, 4), "n"), ("index", (3,), "i4")], nograd=["index"]),
        C("pick_axis0_keepdims", "pick", [("data", (3, 4), "n"), ("index", (4,), "i3")],
          {"axis": 0, "keepdims": True}, nograd=["index"]),
        C("pick_wrap", "pick", [("data", (3, 4), "n"), ("index", [5.0, -1.0, 2.0], "fixed")],
          {"mode": "wrap"}, nograd=["index"]),
        C("choose_element_0index", "choose_element_0index",
          [("data", (3, 4), "n"), ("index", (3,), "i4")], nograd=["index"]),
        C("fill_element_0index", "fill_element_0index",
          [("lhs", (3, 4), "n"), ("mhs", (3,), "n"), ("rhs", (3,), "i4")], mode="nd"),
        C("gather_nd", "gather_nd", [("data", (3, 4), "n"), ("indices", (2, 5), "i3")],
          nograd=["indices"]),
        C("gather_nd_partial", "gather_nd", [("data", (3, 4, 2), "n"), ("indices", (1, 2), "i3")],
          nograd=["indices"]),
        C("scatter_nd", "scatter_nd",
          [("data", (3,), "n"), ("indices", [[0.0, 1.0, 2.0], [1.0, 3.0, 0.0]], "fixed")],
          {"shape": (3, 4)}, nograd=["indices"]),
        C("one_hot", "one_hot", [("indices", (2, 3), "i4")], {"depth": 4}, nograd=True),
        C("one_hot_values", "one_hot", [("indices", [0.0, 3.0, -1.0, 5.0], "fixed")],
          {"depth": 4, "on_value": 2.0, "off_value": -1.0, "dtype": "int32"}, nograd=True),
        C("topk_indices", "topk", [("data", (3, 5), "distinct")], {"k": 2}, nograd=True),
        C("topk_value", "topk", [("data", (3, 5), "distinct")], {"k": 2, "ret_typ": "value"}),
        C("topk_both_axis0", "topk", [("data", (4, 3), "distinct")],
          {"k": 3, "ret_typ": "both", "axis": 0, "is_ascend": True, "dtype": "int32"}),
        C("topk_mask", "topk", [("data", (3, 5), "distinct")], {"k": 2, "ret_typ": "mask"},
          nograd=True),
        C("topk_flat", "topk", [("data", (3, 4), "distinct")],
          {"k": 3, "axis": None, "ret_typ": "value"}),
        C("sort", "sort", [("data", (3, 5), "distinct")], nograd=True),
        C("sort_desc_axis0", "sort", [("data", (3, 5), "distinct")],
          {"axis": 0, "is_ascend": False}),
        C("argsort", "argsort", [("data", (3, 5), "distinct")], nograd=True),
        C("argsort_int", "argsort", [("data", (3, 5), "distinct")],
          {"is_ascend": False, "dtype": "int32", "axis": 0}, nograd=True),
        C("ravel_multi_index", "ravel_multi_index",
          [("data", [[0.0, 1.0, 2.0], [3.0, 0.0, 1.0]], "fixed")], {"shape": (3, 4)},
          nograd=True),
        C("unravel_index", "unravel_index", [("data", [0.0, 5.0, 11.0, 7.0], "fixed")],
          {"shape": (3, 4)}, nograd=True),
        C("boolean_mask", "contrib.boolean_mask",
          [("data", (4, 3), "n"), ("index", [1.0, 0.0, 1.0, 1.0], "fixed")], mode="nd"),
        C("index_copy", "contrib.index_copy",
          [("old_tensor", (5, 3), "n"), ("index_vector", [3.0, 0.0], "fixed"),
           ("new_tensor", (2, 3), "n")], nograd=["index_vector"]),
        C("index_array", "contrib.index_array", [("data", (2, 3), "n")], nograd=True),
        C("index_array_axes", "contrib.index_array", [("data", (2, 3, 2), "n")],
          {"axes": (0, 2)}, nograd=True),
    ]


def _bn_inputs(c, data_shape):
    return [("data", data_shape, "n"), ("gamma", (c,), "p"), ("beta", (c,), "n"),
            ("moving_mean", (c,), "n"), ("moving_var", (c,), "p")]


def nn_cases():
    return [
        C("FullyConnected", "FullyConnected",
          [("data", (3, 4), "n"), ("weight", (5, 4), "n"), ("bias", (5,), "n")],
          positional=[5]),
        C("FullyConnected_noflatten", "FullyConnected",
          [("data", (2, 3, 4), "n"), ("weight", (3, 4), "n")],
          {"num_hidden": 3, "no_bias": True, "flatten": False}),
        C("Convolution", "Convolution",
          [("data", (2, 3, 6, 6), "n"), ("weight", (4, 3, 3, 3), "n"), ("bias", (4,), "n")],
          {"kernel": (3, 3), "num_filter": 4, "stride": (2, 1), "pad": (1, 0)}),
        C("Convolution_1d_group", "Convolution",
          [("data", (2, 4, 7), "n"), ("weight", (4, 2, 3), "n")],
          {"kernel": (3,), "num_filter": 4, "num_group": 2, "dilate": (2,), "no_bias": True}),
        C("Deconvolution", "Deconvolution",
          [("data", (2, 3, 4, 4), "n"), ("weight", (3, 2, 3, 3), "n")],
          {"kernel": (3, 3), "num_filter": 2, "stride": (2, 2), "pad": (1, 1),
           "adj": (1, 0)}),
        C("Deconvolution_bias_target", "Deconvolution",
          [("data", (1, 2, 3, 3), "n"), ("weight", (2, 4, 3, 3), "n"), ("bias", (4,), "n")],
          {"kernel": (3, 3), "num_filter": 4, "stride": (2, 2), "target_shape": (5, 5),
           "no_bias": False}, native=True),
        C("Deconvolution_1d_group", "Deconvolution",
          [("data", (2, 4, 5), "n"), ("weight", (4, 1, 3), "n")],
          {"kernel": (3,), "num_filter": 2, "num_group": 2}),
        C("Pooling_max", "Pooling", [("data", (2, 3, 6, 6), "distinct")],
          {"kernel": (2, 2), "stride": (2, 2)}),
        C("Pooling_avg_pad_full", "Pooling", [("data", (1, 2, 7, 7), "n")],
          {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "avg",
           "pooling_convention": "full"}),
        C("Pooling_avg_nopad_count", "Pooling", [("data", (1, 2, 5, 5), "n")],
          {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "avg",
           "count_include_pad": False}),
        C("Pooling_sum_1d", "Pooling", [("data", (2, 3, 8), "n")],
          {"kernel": (3,), "stride": (2,), "pool_type": "sum"}),
        C("Pooling_lp2", "Pooling", [("data", (1, 2, 4, 4), "n")],
          {"kernel": (2, 2), "stride": (2, 2), "pool_type": "lp", "p_value": 2}),
        C("Pooling_lp1", "Pooling", [("data", (1, 2, 4, 4), "n")],
          {"kernel": (2, 2), "stride": (1, 1), "pool_type": "lp", "p_value": 1}),
        C("Pooling_global", "Pooling", [("data", (2, 3, 4, 5), "n")],
          {"global_pool": True, "pool_type": "avg"}),
        C("Pooling_3d", "Pooling", [("data", (1, 2, 4, 4, 4), "distinct")],
          {"kernel": (2, 2, 2), "stride": (2, 2, 2)}),
        C("Activation", "Activation", [("data", (3, 4), "u")], positional=["softrelu"]),
        C("LeakyReLU_leaky", "LeakyReLU", [("data", (3, 4), "u")], {"slope": 0.2}),
        C("LeakyReLU_prelu", "LeakyReLU", [("data", (2, 3, 4), "u"), ("gamma", (3,), "p")],
          {"act_type": "prelu"}),
        C("LeakyReLU_elu", "LeakyReLU", [("data", (3, 4), "u")], {"act_type": "elu"}),
        C("LeakyReLU_gelu", "LeakyReLU", [("data", (3, 4), "u")], {"act_type": "gelu"}),
        C("LeakyReLU_rrelu_predict", "LeakyReLU", [("data", (3, 4), "u")],
          {"act_type": "rrelu"}, train=False, unchecked=[1]),
        C("softmax", "softmax", [("data", (3, 5), "n")], {"temperature": 2.0}),
        C("softmax_axis0_f64", "softmax", [("data", (3, 5), "n")],
          {"axis": 0, "dtype": "float64"}),
        C("softmax_length", "softmax", [("data", (2, 5), "n"), ("length", [3, 5], "fixed@int32")],
          {"use_length": True}, nograd=["length"]),
        C("log_softmax", "log_softmax", [("data", (2, 3, 4), "n")], {"axis": 1}),
        C("softmin", "softmin", [("data", (3, 5), "n")]),
        C("softmin_axis", "softmin", [("data", (3, 5), "n")], {"axis": 0, "temperature": 0.5}),
        C("SoftmaxActivation", "SoftmaxActivation", [("data", (3, 4), "n")]),
        C("SoftmaxActivation_channel", "SoftmaxActivation", [("data", (2, 3, 2, 2), "n")],
          {"mode": "channel"}),
        C("BatchNorm", "BatchNorm", _bn_inputs(3, (4, 3, 2, 2)),
          {"fix_gamma": False, "momentum": 0.8}, nograd=["moving_mean", "moving_var"],
          sym_only=True),
        C("BatchNorm_predict", "BatchNorm", _bn_inputs(3, (4, 3, 2)), {"fix_gamma": False},
          train=False),
        C("BatchNormWithReLU", "contrib.BatchNormWithReLU", _bn_inputs(3, (4, 3, 2, 2)),
          {"fix_gamma": False}, nograd=["moving_mean", "moving_var"], sym_only=True),
        C("SyncBatchNorm", "contrib.SyncBatchNorm", _bn_inputs(3, (4, 3, 2)),
          {"key": "bn0"}, nograd=["moving_mean", "moving_var"], sym_only=True),
        C("LayerNorm", "LayerNorm", [("data", (2, 3, 4), "n"), ("gamma", (4,), "p"),
                                     ("beta", (4,), "n")]),
        C("LayerNorm_axis1_stats", "LayerNorm",
          [("data", (2, 3, 4), "n"), ("gamma", (3,), "p"), ("beta", (3,), "n")],
          {"axis": 1, "eps": 1e-3, "output_mean_var": True}),
        C("GroupNorm", "GroupNorm", [("data", (2, 4, 3), "n"), ("gamma", (2,), "p"),
                                     ("beta", (2,), "n")], {"num_groups": 2}),
        C("InstanceNorm", "InstanceNorm", [("data", (2, 3, 4), "n"), ("gamma", (3,), "p"),
                                           ("beta", (3,), "n")]),
        C("L2Normalization", "L2Normalization", [("data", (2, 3, 4), "n")]),
        C("L2Normalization_channel", "L2Normalization", [("data", (2, 3, 4), "n")],
          {"mode": "channel"}),
        C("L2Normalization_spatial", "L2Normalization", [("data", (2, 3, 2, 2), "n")],
          {"mode": "spatial"}),
        C("LRN", "LRN", [("data", (2, 5, 3, 3), "n")], {"nsize": 3, "alpha": 0.1}),
        C("Dropout_predict", "Dropout", [("data", (3, 4), "n")], positional=[0.3], train=False),
        C("Embedding", "Embedding", [("data", (2, 4), "i6"), ("weight", (6, 3), "n")],
          {"input_dim": 6, "output_dim": 3}, nograd=["data"]),
        C("SparseEmbedding", "contrib.SparseEmbedding",
          [("data", (2, 4), "i6"), ("weight", (6, 3), "n")],
          {"input_dim": 6, "output_dim": 3}, mode="nd"),
        C("UpSampling_nearest", "UpSampling", [("data", (1, 2, 2, 3), "n")],
          {"scale": 2, "sample_type": "nearest"}),
        C("UpSampling_nearest_sum", "UpSampling",
          [("a", (1, 2, 4, 4), "n"), ("b", (1, 2, 2, 2), "n")],
          {"scale": 2, "sample_type": "nearest", "multi_input_mode": "sum"}),
        C("UpSampling_nearest_concat", "UpSampling",
          [("a", (1, 2, 2, 2), "n"), ("b", (1, 1, 4, 4), "n")],
          {"scale": 2, "sample_type": "nearest"}),
        C("UpSampling_bilinear", "UpSampling",
          [("data", (1, 2, 3, 3), "n"), ("weight", (2, 1, 4, 4), "n")],
          {"scale": 2, "sample_type": "bilinear", "num_filter": 2}, kw=True),
        C("BilinearSampler", "BilinearSampler",
          [("data", (1, 2, 4, 5), "n"), ("grid", (1, 2, 3, 3), "unit")]),
        C("GridGenerator_affine", "GridGenerator", [("data", (2, 6), "unit")],
          {"transform_type": "affine", "target_shape": (3, 4)}),
        C("GridGenerator_warp", "GridGenerator", [("data", (1, 2, 3, 4), "n")],
          {"transform_type": "warp"}),
        C("SpatialTransformer", "SpatialTransformer",
          [("data", (1, 2, 5, 5), "n"), ("loc", (1, 6), "unit")],
          {"target_shape": (3, 3), "transform_type": "affine", "sampler_type": "bilinear"}),
        C("IdentityAttachKLSparseReg", "IdentityAttachKLSparseReg",
          [("data", (4, 3), "prob"), ("op_moving_avg", (3,), "prob")], {"penalty": 0.1},
          aux=["op_moving_avg"], sym_only=True),
        C("AdaptiveAvgPooling2D", "contrib.AdaptiveAvgPooling2D", [("data", (1, 2, 5, 7), "n")],
          {"output_size": (2, 3)}),
        C("AdaptiveAvgPooling2D_square", "contrib.AdaptiveAvgPooling2D",
          [("data", (1, 2, 5, 5), "n")], {"output_size": 3}),
        C("BilinearResize2D", "contrib.BilinearResize2D", [("data", (1, 2, 3, 4), "n")],
          {"height": 5, "width": 6}),
        C("BilinearResize2D_scale", "contrib.BilinearResize2D", [("data", (1, 2, 3, 4), "n")],
          {"scale_height": 2.0, "scale_width": 1.5, "align_corners": False}),
        C("BilinearResize2D_like", "contrib.BilinearResize2D",
          [("data", (1, 2, 3, 4), "n"), ("like", (1, 1, 5, 2), "n")], {"mode": "like"},
          nograd=["like"]),
        C("BilinearResize2D_odd", "contrib.BilinearResize2D", [("data", (1, 1, 4, 5), "n")],
          {"mode": "to_odd_up"}),
        C("round_ste", "contrib.round_ste", [("data", (3, 4), "halves")]),
        C("sign_ste", "contrib.sign_ste", [("data", (3, 4), "u")]),
        C("gradientmultiplier", "contrib.gradientmultiplier", [("data", (3, 4), "n")],
          {"scalar": -0.5}),
        C("quadratic", "contrib.quadratic", [("data", (3, 4), "n")],
          {"a": 0.5, "b": -1.0, "c": 2.0}),
        C("div_sqrt_dim", "contrib.div_sqrt_dim", [("data", (2, 3, 4), "n")]),
    ]


def loss_cases():
    sm = "SoftmaxOutput"
    return [
        C("SoftmaxOutput", sm, [("data", (4, 5), "n"), ("label", (4,), "i5")],
          {"normalization": "batch"}, nograd=["label"]),
        C("Softmax", "Softmax", [("data", (4, 5), "n"), ("label", (4,), "i5")],
          {"grad_scale": 2.0}, nograd=["label"]),
        C("SoftmaxOutput_multi", sm, [("data", (2, 3, 4), "n"), ("label", (2, 4), "i3")],
          {"multi_output": True, "use_ignore": True, "ignore_label": 0,
           "normalization": "valid"}, nograd=["label"]),
        C("SoftmaxOutput_smooth", sm, [("data", (4, 5), "n"), ("label", (4,), "i5")],
          {"smooth_alpha": 0.1}, nograd=["label"]),
        C("LinearRegressionOutput", "LinearRegressionOutput",
          [("data", (4, 3), "n"), ("label", (4, 3), "n")], nograd=["label"]),
        C("LogisticRegressionOutput", "LogisticRegressionOutput",
          [("data", (4, 3), "n"), ("label", (4, 3), "b")], {"grad_scale": 0.5},
          nograd=["label"]),
        C("MAERegressionOutput", "MAERegressionOutput",
          [("data", (4, 3), "u"), ("label", (4, 3), "n")], nograd=["label"]),
        C("MakeLoss", "MakeLoss", [("data", (3, 4), "p")],
          {"grad_scale": 0.5, "normalization": "valid", "valid_thresh": 1.0}),
        C("make_loss", "make_loss", [("data", (3, 4), "n")]),
        C("SVMOutput", "SVMOutput", [("data", (4, 3), "n"), ("label", (4,), "i3")],
          {"margin": 0.5, "regularization_coefficient": 2.0}, nograd=["label"]),
        C("SVMOutput_linear", "SVMOutput", [("data", (4, 3), "n"), ("label", (4,), "i3")],
          {"use_linear": True}, nograd=["label"]),
        C("CTCLoss", "CTCLoss",
          [("data", (6, 2, 4), "n"), ("label", [[1.0, 2.0, 0.0], [3.0, 3.0, 1.0]], "fixed")],
          nograd=["label"]),
        C("ctc_loss_lengths", "ctc_loss",
          [("data", (6, 2, 4), "n"), ("label", [[0.0, 1.0, -1.0], [2.0, 2.0, 1.0]], "fixed"),
           ("data_lengths", [5.0, 6.0], "fixed"), ("label_lengths", [2.0, 3.0], "fixed")],
          {"use_data_lengths": True, "use_label_lengths": True, "blank_label": "last"},
          nograd=["label", "data_lengths", "label_lengths"]),
        C("contrib_CTCLoss", "contrib.CTCLoss",
          [("data", (5, 1, 3), "n"), ("label", [[1.0, 2.0]], "fixed")], nograd=["label"]),
        C("contrib_ctc_loss", "contrib.ctc_loss",
          [("data", (5, 1, 3), "n"), ("label", [[2.0, 0.0]], "fixed")], nograd=["label"]),
        C("hawkesll", "contrib.hawkesll",
          [("lda", [[1.5, 2.0], [0.5, 1.0]], "fixed"), ("alpha", [0.2, 0.3], "fixed"),
           ("beta", [1.0, 2.0], "fixed"), ("state", [[0.0, 0.5], [0.2, 0.0]], "fixed"),
           ("lags", [[0.5, 1.0, 0.2], [0.3, 0.4, 0.6]], "fixed"),
           ("marks", [[0, 1, 0], [1, 1, 0]], "fixed@int32"),
           ("valid_length", [3.0, 2.0], "fixed"), ("max_time", [3.0, 2.5], "fixed")],
          nograd=["marks", "valid_length", "max_time", "lags", "state"]),
        C("softmax_cross_entropy", "softmax_cross_entropy",
          [("data", (4, 5), "n"), ("label", (4,), "i5")], nograd=["label"]),
    ]


def linalg_cases():
    la = "linalg."
    return [
        C("dot", "dot", [("lhs", (3, 4), "n"), ("rhs", (4, 2), "n")]),
        C("dot_transposed", "dot", [("lhs", (4, 3), "n"), ("rhs", (2, 4), "n")],
          {"transpose_a": True, "transpose_b": True}),
        C("dot_vectors", "dot", [("lhs", (4,), "n"), ("rhs", (4,), "n")]),
        C("dot_nd", "dot", [("lhs", (2, 3, 4), "n"), ("rhs", (4, 2, 2), "n")]),
        C("dot_nd_transpose_a", "dot", [("lhs", (4, 2, 3), "n"), ("rhs", (4, 5), "n")],
          {"transpose_a": True}),
        C("dot_vector_matrix", "dot", [("lhs", (3,), "n"), ("rhs", (3, 2), "n")]),
        C("batch_dot", "batch_dot", [("lhs", (2, 3, 4), "n"), ("rhs", (2, 4, 5), "n")]),
        C("batch_dot_transposed", "batch_dot", [("lhs", (2, 4, 3), "n"),
                                                ("rhs", (2, 5, 4), "n")],
          {"transpose_a": True, "transpose_b": True}),
        C("gemm", la + "gemm", [("A", (2, 3, 4), "n"), ("B", (2, 4, 2), "n"),
                                ("C", (2, 3, 2), "n")], {"alpha": 2.0, "beta": 0.5}),
        C("linalg_gemm_transposed", "linalg_gemm",
          [("A", (4, 3), "n"), ("B", (2, 4), "n"), ("C", (3, 2), "n")],
          {"transpose_a": True, "transpose_b": True}),
        C("gemm_axis", la + "gemm", [("A", (3, 2, 4), "n"), ("B", (4, 2, 5), "n"),
                                     ("C", (3, 2, 5), "n")], {"axis": 0}),
        C("gemm2", la + "gemm2", [("A", (2, 3, 4), "n"), ("B", (2, 4, 2), "n")], {"alpha": 0.5}),
        C("linalg_gemm2", "linalg_gemm2", [("A", (3, 4), "n"), ("B", (3, 5), "n")],
          {"transpose_a": True}),
        C("potrf", la + "potrf", [("A", (2, 3, 3), "spd")]),
        C("linalg_potrf", "linalg_potrf", [("A", (3, 3), "spd")]),
        C("potri", la + "potri", [("A", (2, 3, 3), "tril")]),
        C("linalg_potri", "linalg_potri", [("A", (3, 3), "tril")]),
        C("trmm", la + "trmm", [("A", (2, 3, 3), "tril"), ("B", (2, 3, 4), "n")],
          {"alpha": 2.0}),
        C("linalg_trmm_right_upper", "linalg_trmm", [("A", (3, 3), "tril"), ("B", (4, 3), "n")],
          {"rightside": True, "lower": False, "transpose": True}),
        C("trsm", la + "trsm", [("A", (2, 3, 3), "tril"), ("B", (2, 3, 4), "n")],
          {"alpha": 0.5}),
        C("linalg_trsm_right_transpose", "linalg_trsm",
          [("A", (3, 3), "tril"), ("B", (4, 3), "n")], {"rightside": True, "transpose": True}),
        C("sumlogdiag", la + "sumlogdiag", [("A", (2, 3, 3), "spd")]),
        C("linalg_sumlogdiag", "linalg_sumlogdiag", [("A", (3, 3), "spd")]),
        C("syrk", la + "syrk", [("A", (2, 3, 4), "n")], {"alpha": 0.5}),
        C("linalg_syrk_transpose", "linalg_syrk", [("A", (3, 4), "n")], {"transpose": True}),
        C("gelqf", la + "gelqf", [("A", (2, 3, 4), "n")]),
        C("linalg_gelqf", "linalg_gelqf", [("A", (3, 3), "n")]),
        C("syevd", la + "syevd", [("A", (2, 3, 3), "spd")]),
        C("inverse", la + "inverse", [("A", (2, 3, 3), "spd")]),
        C("linalg_inverse", "linalg_inverse", [("A", (3, 3), "spd")]),
        C("det", la + "det", [("A", (2, 3, 3), "spd")]),
        C("linalg_det", "linalg_det", [("A", (3, 3), "n")]),
        C("slogdet", la + "slogdet", [("A", (2, 3, 3), "n")]),
        C("linalg_slogdet", "linalg_slogdet", [("A", (3, 3), "spd")]),
        C("extractdiag", la + "extractdiag", [("A", (2, 3, 3), "n")], {"offset": 1}),
        C("linalg_extractdiag", "linalg_extractdiag", [("A", (3, 3), "n")]),
        C("makediag", la + "makediag", [("A", (2, 3), "n")], {"offset": -1}),
        C("linalg_makediag", "linalg_makediag", [("A", (3,), "n")]),
        C("extracttrian", la + "extracttrian", [("A", (2, 3, 3), "n")]),
        C("linalg_extracttrian_upper", "linalg_extracttrian", [("A", (3, 3), "n")],
          {"lower": False}),
        C("extracttrian_offset", la + "extracttrian", [("A", (4, 4), "n")], {"offset": 1}),
        C("extracttrian_negative", la + "extracttrian", [("A", (4, 4), "n")], {"offset": -2}),
        C("maketrian", la + "maketrian", [("A", (2, 6), "n")]),
        C("linalg_maketrian_upper", "linalg_maketrian", [("A", (6,), "n")], {"lower": False}),
        C("maketrian_offset", la + "maketrian", [("A", (3,), "n")], {"offset": -1}),
        C("interleaved_matmul_selfatt_qk", "contrib.interleaved_matmul_selfatt_qk",
          [("queries_keys_values", (3, 2, 12), "n")], {"heads": 2}),
        C("interleaved_matmul_selfatt_valatt", "contrib.interleaved_matmul_selfatt_valatt",
          [("queries_keys_values", (3, 2, 12), "n"), ("attention", (4, 3, 3), "n")],
          {"heads": 2}),
        C("interleaved_matmul_encdec_qk", "contrib.interleaved_matmul_encdec_qk",
          [("queries", (3, 2, 4), "n"), ("keys_values", (5, 2, 8), "n")], {"heads": 2}),
        C("interleaved_matmul_encdec_valatt", "contrib.interleaved_matmul_encdec_valatt",
          [("keys_values", (5, 2, 8), "n"), ("attention", (4, 3, 5), "n")], {"heads": 2}),
    ]


def _rnd(cid, function, params=None, inputs=(), rows=1, **options):
    return C(cid, function, inputs, params, mode="random", rows=rows, **options)


def random_cases():
    n = (4000,)
    cases = [
        _rnd("random_uniform", "random_uniform", {"low": -1.0, "high": 3.0, "shape": n}),
        _rnd("uniform", "uniform", {"shape": (50, 80), "dtype": "float64"}),
        _rnd("random.uniform", "random.uniform", {"shape": n}, positional=[2.0, 5.0]),
        _rnd("random_normal", "random_normal", {"loc": 1.0, "scale": 2.0, "shape": n}),
        _rnd("normal", "normal", {"shape": n}),
        _rnd("random.normal", "random.normal", {"loc": -2.0, "scale": 0.5, "shape": n}),
        _rnd("random.randn", "random.randn", {"loc": 1.0}, positional=[40, 100]),
        _rnd("random_gamma", "random_gamma", {"alpha": 2.0, "beta": 1.5, "shape": n}),
        _rnd("random.gamma", "random.gamma", {"alpha": 0.5, "beta": 2.0, "shape": n}),
        _rnd("random_exponential", "random_exponential", {"lam": 2.0, "shape": n}),
        _rnd("random.exponential", "random.exponential", {"scale": 3.0, "shape": n}),
        _rnd("random_poisson", "random_poisson", {"lam": 3.0, "shape": n}),
        _rnd("random.poisson", "random.poisson", {"lam": 0.5, "shape": n, "dtype": "float64"}),
        _rnd("random_negative_binomial", "random_negative_binomial",
             {"k": 3, "p": 0.4, "shape": n}),
        _rnd("random.negative_binomial", "random.negative_binomial",
             {"k": 5, "p": 0.7, "shape": n}),
        _rnd("random_generalized_negative_binomial", "random_generalized_negative_binomial",
             {"mu": 2.0, "alpha": 0.5, "shape": n}),
        _rnd("random.generalized_negative_binomial", "random.generalized_negative_binomial",
             {"mu": 4.0, "alpha": 0.2, "shape": n}),
        _rnd("random_randint", "random_randint", {"low": -3, "high": 7, "shape": n}),
        _rnd("random.randint", "random.randint", {"shape": n, "dtype": "int64"},
             positional=[0, 100]),
    ]
    two = [("a", [0.5, 3.0], "fixed"), ("b", [1.5, 4.0], "fixed")]
    for dist, params in (("uniform", [("low", [0.0, 5.0]), ("high", [1.0, 8.0])]),
                         ("normal", [("mu", [0.0, 5.0]), ("sigma", [1.0, 0.5])]),
                         ("gamma", [("alpha", [1.0, 3.0]), ("beta", [2.0, 0.5])]),
                         ("exponential", [("lam", [1.0, 4.0])]),
                         ("poisson", [("lam", [1.0, 6.0])]),
                         ("negative_binomial", [("k", [2.0, 6.0]), ("p", [0.3, 0.6])]),
                         ("generalized_negative_binomial", [("mu", [1.0, 3.0]),
                                                            ("alpha", [0.3, 0.1])])):
        inputs = [(name, values, "fixed") for name, values in params]
        cases.append(_rnd(f"sample_{dist}", f"sample_{dist}", {"shape": n}, inputs, rows=2))
    cases += [
        _rnd("random.uniform_arrays", "random.uniform", {"shape": n}, two, rows=2),
        _rnd("random.normal_arrays", "random.normal", {"shape": n, "dtype": "float64"}, two,
             rows=2),
        _rnd("random.gamma_arrays", "random.gamma", {"shape": n}, two, rows=2),
        _rnd("sample_multinomial", "sample_multinomial", {"shape": n},
             [("data", [[0.2, 0.8], [0.6, 0.4]], "fixed")], rows=2),
        _rnd("random.multinomial", "random.multinomial", {"shape": n, "get_prob": True},
             [("data", [[0.1, 0.3, 0.6]], "fixed")]),
        _rnd("random.shuffle", "random.shuffle", {}, [("data", (500, 2), "n")]),
        _rnd("rand_zipfian", "contrib.rand_zipfian", {},
             [("true_classes", [3.0, 10.0], "fixed")], positional=[3000, 50]),
        _rnd("shuffle", "shuffle", {}, [("data", (300,), "n")]),
    ]
    for dist, params in (("uniform", {"low": 1.0, "high": 2.0}), ("normal", {"scale": 3.0}),
                         ("gamma", {"alpha": 3.0}), ("exponential", {"lam": 0.5}),
                         ("poisson", {"lam": 2.0}), ("negative_binomial", {"k": 2, "p": 0.5}),
                         ("generalized_negative_binomial", {"mu": 2.0, "alpha": 0.3})):
        cases.append(_rnd(f"random.{dist}_like", f"random.{dist}_like", params,
                          [("data", (50, 80), "n")]))
    for dist, inputs in (("uniform", [("sample", (2, 3), "n"), ("low", (2,), "n"),
                                      ("high", (2,), "gt1")]),
                         ("normal", [("sample", (2, 3), "n"), ("mu", (2,), "n"),
                                     ("sigma", (2,), "p")]),
                         ("gamma", [("sample", (2, 3), "p"), ("alpha", (2,), "p"),
                                    ("beta", (2,), "p")]),
                         ("exponential", [("sample", (2, 2, 3), "p"), ("lam", (2, 2), "p")]),
                         ("poisson", [("sample", (2, 3), "i5"), ("lam", (2,), "p")]),
                         ("negative_binomial", [("sample", (2, 3), "i5"), ("k", (2,), "p"),
                                                ("p", (2,), "frac")]),
                         ("generalized_negative_binomial", [("sample", (2, 3), "i5"),
                                                            ("mu", (2,), "p"),
                                                            ("alpha", (2,), "frac")])):
        cases.append(C(f"random_pdf_{dist}", f"random_pdf_{dist}", inputs))
        cases.append(C(f"random_pdf_{dist}_log", f"random_pdf_{dist}", inputs,
                       {"is_log": True}))
    cases += [
        C("random_pdf_dirichlet", "random_pdf_dirichlet",
          [("sample", (2, 3, 4), "prob"), ("alpha", (2, 4), "p")]),
        C("random_pdf_dirichlet_log", "random_pdf_dirichlet",
          [("sample", (2, 4), "prob"), ("alpha", (2, 4), "p")], {"is_log": True}),
    ]
    return cases


def _upd(cid, function, inputs, params=None, **options):
    return C(cid, function, inputs, params, mode="nd", **options)


def optimizer_cases():
    w, g = ("weight", (3, 4), "n"), ("grad", (3, 4), "n")
    w16 = ("weight", (3, 4), "n@float16")
    g16 = ("grad", (3, 4), "n@float16")
    w32 = ("weight32", (3, 4), "n")

    def st(name, kind="n"):
        return (name, (3, 4), kind)

    clip = {"rescale_grad": 0.5, "clip_gradient": 0.3}
    return [
        _upd("sgd_update", "sgd_update", [w, g], {"lr": 0.1, "wd": 0.01}),
        _upd("sgd_update_clip", "sgd_update", [w, g], dict(clip, lr=0.2)),
        _upd("sgd_update_positional", "sgd_update", [w, g], {}, positional=[0.1, 0.05]),
        _upd("sgd_mom_update", "sgd_mom_update", [w, g, st("mom")],
             {"lr": 0.1, "momentum": 0.9, "wd": 0.01}),
        _upd("sgd_mom_update_clip", "sgd_mom_update", [w, g, st("mom")],
             dict(clip, lr=0.1, momentum=0.5)),
        _upd("mp_sgd_update", "mp_sgd_update", [w16, g16, w32], {"lr": 0.1, "wd": 0.01}),
        _upd("mp_sgd_mom_update", "mp_sgd_mom_update", [w16, g16, st("mom"), w32],
             dict(clip, lr=0.1, momentum=0.9)),
        _upd("nag_mom_update", "nag_mom_update", [w, g, st("mom")],
             {"lr": 0.1, "momentum": 0.9, "wd": 0.01}),
        _upd("mp_nag_mom_update", "mp_nag_mom_update", [w16, g16, st("mom"), w32],
             {"lr": 0.1, "momentum": 0.9}),
        _upd("adam_update", "adam_update", [w, g, st("mean"), st("var", "p")],
             {"lr": 0.01, "wd": 0.1}),
        _upd("adam_update_clip", "adam_update", [w, g, st("mean"), st("var", "p")],
             dict(clip, lr=0.01, beta1=0.8, beta2=0.9, epsilon=1e-4)),
        _upd("ftml_update", "ftml_update", [w, g, st("d", "p"), st("v", "p"), st("z")],
             {"lr": 0.1, "t": 3, "wd": 0.01, "clip_grad": 0.5}),
        _upd("ftrl_update", "ftrl_update", [w, g, st("z"), st("n", "p")],
             {"lr": 0.1, "lamda1": 0.2, "wd": 0.01}),
        _upd("rmsprop_update", "rmsprop_update", [w, g, st("n", "p")],
             dict(clip, lr=0.01, clip_weights=0.8)),
        _upd("rmspropalex_update", "rmspropalex_update",
             [w, g, st("n", "gt1"), st("g", "u"), st("delta")],
             {"lr": 0.01, "wd": 0.1}),
        _upd("signsgd_update", "signsgd_update", [w, g], {"lr": 0.1, "wd": 0.1}),
        _upd("signum_update", "signum_update", [w, g, st("mom")],
             dict(clip, lr=0.1, momentum=0.9, wd=0.01, wd_lh=0.1)),
        _upd("lamb_update_phase1", "lamb_update_phase1", [w, g, st("mean"), st("var", "p")],
             {"t": 2, "wd": 0.01}),
        _upd("lamb_update_phase1_nobias", "lamb_update_phase1",
             [w, g, st("mean"), st("var", "p")],
             dict(clip, t=2, wd=0.01, bias_correction=False)),
        _upd("lamb_update_phase2", "lamb_update_phase2",
             [w, ("g", (3, 4), "n"), ("r1", (1,), "p"), ("r2", (1,), "p")],
             {"lr": 0.1, "lower_bound": 1.0}),
        _upd("mp_lamb_update_phase1", "mp_lamb_update_phase1",
             [w16, g16, st("mean"), st("var", "p"), w32], {"t": 2, "wd": 0.01}),
        _upd("mp_lamb_update_phase2", "mp_lamb_update_phase2",
             [w16, ("g", (3, 4), "n"), ("r1", (1,), "p"), ("r2", (1,), "p"), w32],
             {"lr": 0.1}),
        _upd("multi_sgd_update", "multi_sgd_update",
             [("w0", (3,), "n"), ("g0", (3,), "n"), ("w1", (2, 2), "n"), ("g1", (2, 2), "n")],
             {"lrs": (0.1, 0.2), "wds": (0.0, 0.1), "num_weights": 2}, out=["w0", "w1"]),
        _upd("multi_sgd_mom_update", "multi_sgd_mom_update",
             [("w0", (3,), "n"), ("g0", (3,), "n"), ("m0", (3,), "n"),
              ("w1", (2,), "n"), ("g1", (2,), "n"), ("m1", (2,), "n")],
             dict(clip, lrs=(0.1, 0.2), wds=(0.0, 0.1), momentum=0.9, num_weights=2),
             out=["w0", "w1"]),
        _upd("multi_mp_sgd_update", "multi_mp_sgd_update",
             [("w0", (3,), "n@float16"), ("g0", (3,), "n@float16"), ("w32", (3,), "n")],
             {"lrs": (0.1,), "wds": (0.01,), "num_weights": 1}, out=["w0"]),
        _upd("multi_mp_sgd_mom_update", "multi_mp_sgd_mom_update",
             [("w0", (3,), "n@float16"), ("g0", (3,), "n@float16"), ("m0", (3,), "n"),
              ("w32", (3,), "n")],
             {"lrs": (0.1,), "wds": (0.01,), "momentum": 0.5, "num_weights": 1}, out=["w0"]),
        _upd("preloaded_multi_sgd_update", "preloaded_multi_sgd_update",
             [("w0", (3,), "n"), ("g0", (3,), "n"), ("w1", (2,), "n"), ("g1", (2,), "n"),
              ("lrs", [0.1, 0.2], "fixed"), ("wds", [0.01, 0.0], "fixed")],
             {"num_weights": 2}, out=["w0", "w1"]),
        _upd("preloaded_multi_sgd_mom_update", "preloaded_multi_sgd_mom_update",
             [("w0", (3,), "n"), ("g0", (3,), "n"), ("m0", (3,), "n"),
              ("lrs", [0.1], "fixed"), ("wds", [0.01], "fixed")],
             {"momentum": 0.9, "num_weights": 1}, out=["w0"]),
        _upd("preloaded_multi_mp_sgd_update", "preloaded_multi_mp_sgd_update",
             [("w0", (3,), "n@float16"), ("g0", (3,), "n@float16"), ("w32", (3,), "n"),
              ("lrs", [0.1], "fixed"), ("wds", [0.01], "fixed")], {"num_weights": 1}, out=["w0"]),
        _upd("preloaded_multi_mp_sgd_mom_update", "preloaded_multi_mp_sgd_mom_update",
             [("w0", (3,), "n@float16"), ("g0", (3,), "n@float16"), ("m0", (3,), "n"),
              ("w32", (3,), "n"), ("lrs", [0.1], "fixed"), ("wds", [0.01], "fixed")],
             {"momentum": 0.9, "num_weights": 1}, out=["w0"]),
        _upd("multi_sum_sq", "multi_sum_sq", [("a", (3,), "n"), ("b", (2, 2), "n")],
             {"num_arrays": 2}),
        _upd("multi_lars", "multi_lars",
             [("lrs", [0.1, 0.2, 0.3], "fixed"), ("weights_sum_sq", [4.0, 0.0, 1.0], "fixed"),
              ("grads_sum_sq", [1.0, 2.0, 9.0], "fixed"), ("wds", [0.01, 0.0, 0.1], "fixed")],
             {"eta": 0.5, "eps": 1e-3, "rescale_grad": 0.5}),
        _upd("all_finite", "all_finite", [("data", [1.0, 2.0, float("inf")], "fixed")]),
        _upd("all_finite_true", "all_finite", [("data", (3, 2), "n")]),
        _upd("multi_all_finite", "multi_all_finite",
             [("a", (3,), "n"), ("b", [1.0, float("nan")], "fixed")], {"num_arrays": 2}),
        _upd("reset_arrays", "reset_arrays", [("a", (3,), "n"), ("b", (2, 2), "n")],
             {"num_arrays": 2}),
        _upd("adamw_update", "contrib.adamw_update",
             [w, g, st("mean"), st("var", "p")], {"rescale_grad": 0.5, "lr": 0.01,
                                                   "eta": 0.8, "wd": 0.1},
             unchanged=["grad"]),
        _upd("mp_adamw_update", "contrib.mp_adamw_update",
             [w16, g16, st("mean"), st("var", "p"), w32],
             {"rescale_grad": 1.0, "lr": 0.01, "eta": 1.0, "clip_gradient": 0.5}),
    ]


_ROIS = [[0.0, 1.0, 1.0, 5.0, 6.0], [1.0, 0.0, 2.5, 4.4, 7.0], [0.0, 3.2, 0.4, 7.0, 3.3]]
_BOXES = [[0.0, 0.9, 0.1, 0.1, 0.4, 0.4], [0.0, 0.8, 0.15, 0.12, 0.42, 0.38],
          [1.0, 0.7, 0.12, 0.1, 0.4, 0.41], [0.0, 0.3, 0.6, 0.6, 0.9, 0.8],
          [1.0, 0.05, 0.5, 0.5, 0.6, 0.6], [0.0, 0.6, 0.62, 0.58, 0.88, 0.82]]


def vision_cases():
    return [
        C("ROIPooling", "ROIPooling", [("data", (2, 3, 8, 8), "distinct"),
                                       ("rois", _ROIS, "fixed")],
          {"pooled_size": (2, 3), "spatial_scale": 1.0}, nograd=["rois"]),
        C("ROIPooling_scaled", "ROIPooling", [("data", (2, 2, 6, 6), "distinct"),
                                              ("rois", _ROIS, "fixed")],
          {"pooled_size": (2, 2), "spatial_scale": 0.5}, nograd=["rois"]),
        C("Correlation", "Correlation", [("data1", (1, 2, 6, 7), "n"),
                                         ("data2", (1, 2, 6, 7), "n")],
          {"kernel_size": 1, "max_displacement": 2, "stride2": 1, "pad_size": 2}),
        C("Correlation_kernel3", "Correlation", [("data1", (2, 3, 9, 9), "n"),
                                                 ("data2", (2, 3, 9, 9), "n")],
          {"kernel_size": 3, "max_displacement": 2, "stride1": 2, "stride2": 2,
           "pad_size": 1}),
        C("Correlation_absdiff", "Correlation", [("data1", (1, 2, 5, 5), "n"),
                                                 ("data2", (1, 2, 5, 5), "n")],
          {"max_displacement": 1, "is_multiply": False}),
        C("ROIAlign", "contrib.ROIAlign", [("data", (2, 3, 8, 8), "n"),
                                           ("rois", _ROIS, "fixed")],
          {"pooled_size": (2, 3), "spatial_scale": 1.0}, nograd=["rois"]),
        C("ROIAlign_ratio_aligned", "contrib.ROIAlign", [("data", (2, 2, 8, 8), "n"),
                                                         ("rois", _ROIS, "fixed")],
          {"pooled_size": (2, 2), "spatial_scale": 0.5, "sample_ratio": 2, "aligned": True},
          nograd=["rois"]),
        C("ROIAlign_position_sensitive", "contrib.ROIAlign",
          [("data", (2, 8, 6, 6), "n"), ("rois", _ROIS, "fixed")],
          {"pooled_size": (2, 2), "spatial_scale": 1.0, "sample_ratio": 1,
           "position_sensitive": True}, nograd=["rois"]),
        C("box_iou", "contrib.box_iou",
          [("lhs", [[0.1, 0.1, 0.4, 0.5], [0.2, 0.3, 0.6, 0.9]], "fixed"),
           ("rhs", [[[0.0, 0.0, 0.3, 0.3]], [[0.25, 0.2, 0.5, 0.8]]], "fixed")], nograd=True),
        C("box_iou_center", "contrib.box_iou",
          [("lhs", [[0.3, 0.3, 0.2, 0.4]], "fixed"),
           ("rhs", [[0.35, 0.3, 0.3, 0.2], [0.9, 0.9, 0.1, 0.1]], "fixed")],
          {"format": "center"}, nograd=True),
        C("box_nms", "contrib.box_nms", [("data", _BOXES, "fixed")],
          {"overlap_thresh": 0.5}),
        C("box_nms_ids", "contrib.box_nms", [("data", [_BOXES, _BOXES[::-1]], "fixed")],
          {"overlap_thresh": 0.3, "id_index": 0, "valid_thresh": 0.1, "topk": 4}),
        C("box_non_maximum_suppression", "contrib.box_non_maximum_suppression",
          [("data", _BOXES, "fixed")],
          {"overlap_thresh": 0.3, "id_index": 0, "force_suppress": True,
           "out_format": "center"}),
        C("box_encode", "contrib.box_encode",
          [("samples", [[1.0, 0.0, 1.0]], "fixed"), ("matches", [[1.0, 0.0, 0.0]], "fixed"),
           ("anchors", [[[0.1, 0.1, 0.4, 0.5], [0.2, 0.2, 0.6, 0.6], [0.5, 0.4, 0.9, 0.9]]],
            "fixed"),
           ("refs", [[[0.12, 0.1, 0.45, 0.4], [0.2, 0.25, 0.5, 0.65]]], "fixed"),
           ("means", [0.0, 0.1, 0.0, -0.1], "fixed"), ("stds", [0.1, 0.1, 0.2, 0.2], "fixed")],
          nograd=True),
        C("box_decode", "contrib.box_decode",
          [("data", (2, 3, 4), "n"),
           ("anchors", [[[0.3, 0.3, 0.2, 0.4], [0.5, 0.5, 0.3, 0.3], [0.2, 0.7, 0.1, 0.2]]],
            "fixed")], {"std0": 0.1, "std1": 0.1, "std2": 0.2, "std3": 0.2}, nograd=True),
        C("box_decode_corner_clip", "contrib.box_decode",
          [("data", (1, 2, 4), "n"),
           ("anchors", [[[0.1, 0.1, 0.4, 0.5], [0.2, 0.2, 0.6, 0.6]]], "fixed")],
          {"format": "corner", "clip": 0.5}, nograd=True),
        C("bipartite_matching", "contrib.bipartite_matching",
          [("data", [[0.5, 0.6], [0.1, 0.2], [0.3, 0.4]], "fixed")], {"threshold": 1e-12},
          nograd=True),
        C("bipartite_matching_ascend", "contrib.bipartite_matching",
          [("data", [[[0.5, 0.6, 0.1], [0.1, 0.2, 0.9]], [[0.3, 0.4, 0.2], [0.7, 0.05, 0.5]]],
            "fixed")], {"threshold": 0.45, "is_ascend": True, "topk": 1}, nograd=True),
        C("MultiBoxPrior", "contrib.MultiBoxPrior", [("data", (1, 2, 3, 4), "n")],
          {"sizes": (0.5, 0.25), "ratios": (1, 2, 0.5)}, nograd=True),
        C("MultiBoxTarget", "contrib.MultiBoxTarget",
          [("anchor", [[[0.1, 0.1, 0.3, 0.3], [0.2, 0.2, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9],
                        [0.5, 0.1, 0.9, 0.4], [0.0, 0.5, 0.3, 0.9]]], "fixed"),
           ("label", [[[1.0, 0.15, 0.1, 0.35, 0.3], [0.0, 0.55, 0.6, 0.95, 0.85],
                       [-1.0, -1.0, -1.0, -1.0, -1.0]],
                      [[2.0, 0.45, 0.1, 0.85, 0.45], [-1.0, -1.0, -1.0, -1.0, -1.0],
                       [-1.0, -1.0, -1.0, -1.0, -1.0]]], "fixed"),
           ("cls_pred", (2, 4, 5), "n")], {"overlap_threshold": 0.3}, nograd=True),
        C("MultiBoxTarget_mining", "contrib.MultiBoxTarget",
          [("anchor", [[[0.1, 0.1, 0.3, 0.3], [0.2, 0.2, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9],
                        [0.5, 0.1, 0.9, 0.4], [0.0, 0.5, 0.3, 0.9]]], "fixed"),
           ("label", [[[1.0, 0.15, 0.1, 0.35, 0.3], [-1.0, -1.0, -1.0, -1.0, -1.0]]], "fixed"),
           ("cls_pred", (1, 3, 5), "n")],
          {"negative_mining_ratio": 2.0, "variances": (0.2, 0.2, 0.1, 0.1)}, nograd=True),
        C("MultiBoxDetection", "contrib.MultiBoxDetection",
          [("cls_prob", [[[0.1, 0.2, 0.9, 0.3, 0.05], [0.8, 0.7, 0.05, 0.2, 0.9],
                          [0.1, 0.1, 0.05, 0.5, 0.05]]], "fixed"),
           ("loc_pred", (1, 20), "n"),
           ("anchor", [[[0.1, 0.1, 0.3, 0.3], [0.12, 0.1, 0.32, 0.31], [0.6, 0.6, 0.9, 0.9],
                        [0.5, 0.1, 0.9, 0.4], [0.11, 0.12, 0.3, 0.3]]], "fixed")],
          {"threshold": 0.1, "nms_threshold": 0.4}, nograd=True),
        C("MultiBoxDetection_force_topk", "contrib.MultiBoxDetection",
          [("cls_prob", [[[0.1, 0.2, 0.9, 0.3, 0.05], [0.8, 0.7, 0.05, 0.2, 0.9],
                          [0.1, 0.1, 0.05, 0.5, 0.05]]], "fixed"),
           ("loc_pred", (1, 20), "n"),
           ("anchor", [[[0.1, 0.1, 0.3, 0.3], [0.12, 0.1, 0.32, 0.31], [0.6, 0.6, 0.9, 0.9],
                        [0.5, 0.1, 0.9, 0.4], [0.11, 0.12, 0.3, 0.3]]], "fixed")],
          {"threshold": 0.1, "nms_threshold": 0.4, "force_suppress": True, "nms_topk": 3,
           "clip": False}, nograd=True),
        C("Proposal", "contrib.Proposal",
          [("cls_prob", (1, 12, 4, 5), "prob"), ("bbox_pred", (1, 24, 4, 5), "n"),
           ("im_info", [[60.0, 70.0, 1.0]], "fixed")],
          {"rpn_pre_nms_top_n": 30, "rpn_post_nms_top_n": 8, "feature_stride": 16,
           "rpn_min_size": 4, "scales": (2.0, 4.0), "ratios": (0.5, 1.0, 2.0),
           "threshold": 0.5}, nograd=True),
        C("Proposal_score_iou", "contrib.Proposal",
          [("cls_prob", (1, 4, 3, 3), "prob"), ("bbox_pred", (1, 8, 3, 3), "n"),
           ("im_info", [[40.0, 40.0, 1.0]], "fixed")],
          {"rpn_pre_nms_top_n": 10, "rpn_post_nms_top_n": 12, "feature_stride": 16,
           "rpn_min_size": 2, "scales": (1.0, 2.0), "ratios": (1.0,), "output_score": True,
           "iou_loss": True}, nograd=True),
        C("MultiProposal", "contrib.MultiProposal",
          [("cls_prob", (2, 12, 3, 4), "prob"), ("bbox_pred", (2, 24, 3, 4), "n"),
           ("im_info", [[48.0, 64.0, 1.0], [40.0, 50.0, 2.0]], "fixed")],
          {"rpn_pre_nms_top_n": 20, "rpn_post_nms_top_n": 5, "feature_stride": 16,
           "rpn_min_size": 4, "scales": (2.0, 4.0), "ratios": (0.5, 1.0, 2.0),
           "output_score": True}, nograd=True),
        C("PSROIPooling", "contrib.PSROIPooling",
          [("data", (2, 8, 6, 6), "n"), ("rois", _ROIS, "fixed")],
          {"spatial_scale": 1.0, "output_dim": 2, "pooled_size": 2}, nograd=["rois"]),
        C("PSROIPooling_group", "contrib.PSROIPooling",
          [("data", (2, 4, 8, 8), "n"), ("rois", _ROIS, "fixed")],
          {"spatial_scale": 0.5, "output_dim": 1, "pooled_size": 3, "group_size": 2},
          nograd=["rois"]),
        C("DeformablePSROIPooling", "contrib.DeformablePSROIPooling",
          [("data", (2, 8, 6, 6), "n"), ("rois", _ROIS, "fixed"), ("trans", (3, 2, 2, 2), "n")],
          {"spatial_scale": 1.0, "output_dim": 2, "group_size": 2, "pooled_size": 2,
           "sample_per_part": 2, "trans_std": 0.1}, nograd=["rois", "trans"]),
        C("DeformablePSROIPooling_no_trans", "contrib.DeformablePSROIPooling",
          [("data", (2, 8, 6, 6), "n"), ("rois", _ROIS, "fixed")],
          {"spatial_scale": 0.5, "output_dim": 2, "group_size": 2, "pooled_size": 2,
           "part_size": 2, "sample_per_part": 3, "no_trans": True}, nograd=["rois"], kw=True),
        C("DeformableConvolution", "contrib.DeformableConvolution",
          [("data", (2, 4, 5, 5), "n"), ("offset", (2, 18, 5, 5), "n"),
           ("weight", (3, 4, 3, 3), "n"), ("bias", (3,), "n")],
          {"kernel": (3, 3), "num_filter": 3, "pad": (1, 1)}),
        C("DeformableConvolution_groups", "contrib.DeformableConvolution",
          [("data", (1, 4, 6, 6), "n"), ("offset", (1, 16, 3, 3), "n"),
           ("weight", (4, 2, 2, 2), "n")],
          {"kernel": (2, 2), "num_filter": 4, "stride": (2, 2), "num_group": 2,
           "num_deformable_group": 2, "no_bias": True}),
        C("RROIAlign", "contrib.RROIAlign",
          [("data", (2, 3, 8, 8), "n"),
           ("rois", [[0.0, 3.0, 3.5, 4.0, 3.0, 30.0], [1.0, 4.0, 4.0, 2.5, 5.0, -45.0]],
            "fixed")],
          {"pooled_size": (2, 3), "spatial_scale": 1.0}, mode="nd"),
        C("RROIAlign_ratio", "contrib.RROIAlign",
          [("data", (1, 2, 6, 6), "n"), ("rois", [[0.0, 5.0, 6.0, 6.0, 4.0, 90.0]], "fixed")],
          {"pooled_size": (2, 2), "spatial_scale": 0.5, "sampling_ratio": 2}, mode="nd"),
        C("MultiBoxPrior_steps_clip", "contrib.MultiBoxPrior", [("data", (1, 2, 2, 2), "n")],
          {"sizes": (0.8,), "steps": (0.4, 0.3), "offsets": (0.2, 0.7), "clip": True},
          nograd=True),
    ]


def image_cases():
    img = ("data", (4, 6, 3), "img")
    imgs = ("data", (2, 4, 6, 3), "img")
    return [
        C("to_tensor", "image.to_tensor", [img], nograd=True),
        C("to_tensor_batch_uint8", "image.to_tensor", [("data", (2, 4, 5, 3), "img@uint8")],
          mode="nd"),
        C("normalize", "image.normalize", [("data", (3, 4, 5), "n")],
          {"mean": (0.1, 0.2, 0.3), "std": (0.5, 1.0, 2.0)}),
        C("normalize_batch", "image.normalize", [("data", (2, 3, 2, 2), "n")],
          {"mean": (0.5,), "std": (2.0,)}),
        C("image_crop", "image.crop", [imgs], {"x": 1, "y": 2, "width": 3, "height": 2}),
        C("flip_left_right", "image.flip_left_right", [img], nograd=True),
        C("flip_top_bottom", "image.flip_top_bottom", [img], nograd=True),
        C("resize", "image.resize", [("data", (4, 6, 3), "n")], {"size": (3, 5)}, mode="nd"),
        C("resize_keep_ratio", "image.resize", [("data", (2, 4, 6, 3), "n")],
          {"size": 3, "keep_ratio": True}, mode="nd"),
        C("resize_nearest", "image.resize", [("data", (4, 6, 3), "n")],
          {"size": (8, 8), "interp": 0}, mode="nd"),
        C("adjust_lighting", "image.adjust_lighting", [img], {"alpha": (0.01, -0.02, 0.03)},
          mode="nd"),
        C("random_brightness", "image.random_brightness", [img],
          {"min_factor": 0.7, "max_factor": 0.7}, mode="nd"),
        C("random_contrast", "image.random_contrast", [img],
          {"min_factor": 0.6, "max_factor": 0.6}, mode="nd"),
        C("random_saturation", "image.random_saturation", [("data", (4, 5, 1), "img")],
          {"min_factor": 0.5, "max_factor": 0.5}, mode="nd"),
        C("random_hue", "image.random_hue", [img], {"min_factor": 0.1, "max_factor": 0.1},
          mode="nd"),
        C("random_lighting", "image.random_lighting", [img], {"alpha_std": 0.0}, mode="nd"),
        _rnd("random_color_jitter", "image.random_color_jitter",
             {"brightness": 0.3, "contrast": 0.2, "saturation": 0.1, "hue": 0.1}, [img],
             values=False),
        _rnd("random_flip_left_right", "image.random_flip_left_right", {}, [img]),
        _rnd("random_flip_top_bottom", "image.random_flip_top_bottom", {}, [img]),
    ]


def quantization_cases():
    rng = [("min_range", [-1.5], "fixed"), ("max_range", [2.0], "fixed")]
    qin = [("min_data", [-2.0], "fixed"), ("max_data", [3.0], "fixed")]
    return [
        _upd("quantize_uint8", "contrib.quantize", [("data", (3, 4), "unit")] + rng),
        _upd("quantize_int8", "contrib.quantize", [("data", (3, 4), "n")] + rng,
             {"out_type": "int8"}),
        _upd("quantize_v2", "contrib.quantize_v2", [("data", (3, 4), "n")]),
        _upd("quantize_v2_calib_uint8", "contrib.quantize_v2", [("data", (3, 4), "p")],
             {"out_type": "uint8", "min_calib_range": 0.0, "max_calib_range": 2.5}),
        _upd("quantize_v2_auto", "contrib.quantize_v2", [("data", (3, 4), "p")],
             {"out_type": "auto"}),
        _upd("dequantize_uint8", "contrib.dequantize", [("data", (3, 4), "img@uint8")] + rng),
        _upd("dequantize_int8", "contrib.dequantize", [("data", (3, 4), "s8@int8")] + rng),
        _upd("requantize", "contrib.requantize",
             [("data", (3, 4), "i30@int32"), ("min_range", [-5.0], "fixed"),
              ("max_range", [5.0], "fixed")]),
        _upd("requantize_calib", "contrib.requantize",
             [("data", (3, 4), "i30@int32"), ("min_range", [-5.0], "fixed"),
              ("max_range", [5.0], "fixed")],
             {"min_calib_range": -1e-8, "max_calib_range": 2e-8}),
        _upd("quantized_flatten", "contrib.quantized_flatten",
             [("data", (2, 3, 2), "s8@int8")] + qin),
        _upd("quantized_act", "contrib.quantized_act", [("data", (2, 3), "s8@int8")] + qin,
             {"act_type": "relu"}),
        _upd("quantized_pooling", "contrib.quantized_pooling",
             [("data", (1, 2, 4, 4), "s8@int8")] + qin, {"kernel": (2, 2), "stride": (2, 2)}),
        _upd("quantized_pooling_uint8", "contrib.quantized_pooling",
             [("data", (1, 2, 5, 5), "img@uint8"), ("min_data", [0.0], "fixed"),
              ("max_data", [1.0], "fixed")], {"kernel": (3, 3), "stride": (2, 2)}),
        _upd("quantized_concat", "contrib.quantized_concat",
             [("a", (2, 3), "s8@int8"), ("b", (2, 2), "s8@int8"), ("amin", [-1.0], "fixed"),
              ("amax", [1.0], "fixed"), ("bmin", [-2.0], "fixed"), ("bmax", [2.0], "fixed")],
             {"num_args": 2, "dim": 1}),
        _upd("quantized_fully_connected", "contrib.quantized_fully_connected",
             [("data", (2, 4), "s8@int8"), ("weight", (3, 4), "s8@int8"),
              ("bias", (3,), "s8@int8"), ("min_data", [-1.0], "fixed"),
              ("max_data", [1.0], "fixed"), ("min_weight", [-2.0], "fixed"),
              ("max_weight", [2.0], "fixed"), ("min_bias", [-3.0], "fixed"),
              ("max_bias", [3.0], "fixed")], {"num_hidden": 3}),
        _upd("quantized_fully_connected_uint8", "contrib.quantized_fully_connected",
             [("data", (2, 2, 3), "img@uint8"), ("weight", (3, 6), "s8@int8"),
              ("min_data", [0.0], "fixed"), ("max_data", [1.0], "fixed"),
              ("min_weight", [-0.5], "fixed"), ("max_weight", [0.5], "fixed")],
             {"num_hidden": 3, "no_bias": True}),
        _upd("quantized_conv", "contrib.quantized_conv",
             [("data", (1, 4, 4, 4), "img@uint8"), ("weight", (4, 4, 3, 3), "s8@int8"),
              ("bias", (4,), "s8@int8"), ("min_data", [0.0], "fixed"),
              ("max_data", [1.0], "fixed"), ("min_weight", [-2.0], "fixed"),
              ("max_weight", [2.0], "fixed"), ("min_bias", [-3.0], "fixed"),
              ("max_bias", [3.0], "fixed")], {"kernel": (3, 3), "num_filter": 4}),
        _upd("quantized_elemwise_add", "contrib.quantized_elemwise_add",
             [("lhs", (2, 3), "s8@int8"), ("rhs", (2, 3), "s8@int8"),
              ("lhs_min", [-1.0], "fixed"), ("lhs_max", [1.0], "fixed"),
              ("rhs_min", [-2.0], "fixed"), ("rhs_max", [2.0], "fixed")]),
        _upd("quantized_elemwise_add_calib", "contrib.quantized_elemwise_add",
             [("lhs", (2, 3), "s8@int8"), ("rhs", (2, 3), "s8@int8"),
              ("lhs_min", [-1.0], "fixed"), ("lhs_max", [1.0], "fixed"),
              ("rhs_min", [-0.5], "fixed"), ("rhs_max", [0.5], "fixed")],
             {"min_calib_range": -1.2, "max_calib_range": 1.2}),
        _upd("calibrate_entropy", "contrib.calibrate_entropy",
             [("hist", [0.0, 1.0, 3.0, 7.0, 20.0, 45.0, 60.0, 44.0, 18.0, 9.0, 2.0, 2.0, 0.0],
               "fixed"), ("hist_edges", np.linspace(-2.6, 2.6, 14).tolist(), "fixed")],
             {"num_quantized_bins": 5}),
        _upd("quantized_batch_norm", "contrib.quantized_batch_norm",
             [("data", (2, 3, 2, 2), "s8@int8"), ("gamma", (3,), "p"), ("beta", (3,), "n"),
              ("moving_mean", (3,), "n"), ("moving_var", (3,), "p"),
              ("min_data", [-2.0], "fixed"), ("max_data", [2.0], "fixed")],
             {"min_calib_range": -3.0, "max_calib_range": 3.0}),
        C("quantized_elemwise_mul", "contrib.quantized_elemwise_mul",
          [("lhs", (2, 3), "s8@int8"), ("rhs", (2, 3), "s8@int8"),
           ("lhs_min", [-1.0], "fixed"), ("lhs_max", [1.0], "fixed"),
           ("rhs_min", [-2.0], "fixed"), ("rhs_max", [2.0], "fixed")], nograd=True),
        C("quantized_elemwise_mul_calib", "contrib.quantized_elemwise_mul",
          [("lhs", (2, 3), "s8@int8"), ("rhs", (2, 3), "s8@int8"),
           ("lhs_min", [-1.0], "fixed"), ("lhs_max", [1.0], "fixed"),
           ("rhs_min", [-2.0], "fixed"), ("rhs_max", [2.0], "fixed")],
          {"min_calib_range": -1.5, "max_calib_range": 1.5}, nograd=True),
        C("quantized_elemwise_mul_float", "contrib.quantized_elemwise_mul",
          [("lhs", (2, 3), "s8@int8"), ("rhs", (2, 3), "s8@int8"),
           ("lhs_min", [-1.0], "fixed"), ("lhs_max", [1.0], "fixed"),
           ("rhs_min", [-2.0], "fixed"), ("rhs_max", [2.0], "fixed")],
          {"enable_float_output": True}, nograd=True),
        _upd("quantized_embedding", "contrib.quantized_embedding",
             [("data", [[0.0, 2.0], [1.0, 0.0]], "fixed"), ("weight", (3, 4), "s8@int8"),
              ("min_weight", [-1.0], "fixed"), ("max_weight", [1.0], "fixed")],
             {"input_dim": 3, "output_dim": 4}),
    ]


def rnn_cases():
    seq = [("data", (4, 3, 2), "n"), ("sequence_length", [2.0, 4.0, 3.0], "fixed")]
    return [
        C("SequenceLast", "SequenceLast", seq, {"use_sequence_length": True},
          nograd=["sequence_length"]),
        C("SequenceLast_plain", "SequenceLast", seq[:1]),
        C("SequenceMask", "SequenceMask", seq, {"use_sequence_length": True, "value": -1.0},
          nograd=["sequence_length"]),
        C("SequenceMask_axis1", "SequenceMask",
          [("data", (3, 4, 2), "n"), ("sequence_length", [1.0, 3.0, 4.0], "fixed")],
          {"use_sequence_length": True, "axis": 1}, nograd=["sequence_length"]),
        C("SequenceReverse", "SequenceReverse", seq, {"use_sequence_length": True},
          nograd=["sequence_length"]),
        C("RNN_lstm", "RNN", [("data", (4, 2, 3), "n"), ("parameters", (56,), "n"),
                              ("state", (1, 2, 2), "n"), ("state_cell", (1, 2, 2), "n")],
          {"state_size": 2, "num_layers": 1, "mode": "lstm", "state_outputs": True},
          sym_only=True),
        C("RNN_gru", "RNN", [("data", (3, 2, 3), "n"), ("parameters", (42,), "n"),
                             ("state", (1, 2, 2), "n")],
          {"state_size": 2, "num_layers": 1, "mode": "gru"}, sym_only=True),
    ]


def backward_cases():
    """MXNet's exposed backward operators: head gradients, then the forward's inputs."""
    return [
        C("backward_quadratic", "contrib.backward_quadratic",
          [("ograd", (3, 4), "n"), ("data", (3, 4), "n")], {"a": 0.5, "b": -1.0, "c": 2.0},
          mode="nd", bare=[(3, 4)]),
        C("backward_index_copy", "contrib.backward_index_copy",
          [("ograd", (5, 3), "n"), ("old_tensor", (5, 3), "n"),
           ("index_vector", [3.0, 0.0], "fixed"), ("new_tensor", (2, 3), "n")],
          mode="nd", bare=[(5, 3), (2,), (2, 3)]),
        C("backward_gradientmultiplier", "contrib.backward_gradientmultiplier",
          [("data", (3, 4), "n")], {"scalar": -0.5}, mode="nd"),
    ]


FAMILIES = {
    "math": math_cases,
    "reduce": reduce_cases,
    "shape": shape_cases,
    "index": index_cases,
    "nn": nn_cases,
    "loss": loss_cases,
    "linalg": linalg_cases,
    "random": random_cases,
    "optimizer": optimizer_cases,
    "vision": vision_cases,
    "image": image_cases,
    "quantization": quantization_cases,
    "rnn": rnn_cases,
    "backward": backward_cases,
}


def all_cases():
    cases = {family: make() for family, make in FAMILIES.items()}
    ids = [c[0] for family in cases.values() for c in family]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ValueError(f"operator case ids must be unique: {duplicated}")
    return cases


def make_value(kind, shape, rng):
    """One input array (float32 unless the kind ends in '@dtype')."""
    kind, _, dtype = kind.partition("@")
    if kind == "fixed":
        return np.asarray(shape, dtype=dtype or "float32")
    if kind == "n":
        v = rng.standard_normal(shape)
    elif kind == "p":
        v = rng.uniform(0.5, 2.0, shape)
    elif kind == "b":
        v = rng.randint(0, 2, shape)
    elif kind == "u":
        v = rng.uniform(0.1, 1.0, shape) * rng.choice([-1.0, 1.0], shape)
    elif kind == "s8":
        v = rng.randint(-127, 128, shape)
    elif kind == "img":
        v = rng.randint(0, 256, shape)
    elif kind == "frac":
        v = rng.uniform(0.2, 0.8, shape)
    elif kind == "unit":
        v = rng.uniform(-0.8, 0.8, shape)
    elif kind == "gt1":
        v = rng.uniform(1.2, 3.0, shape)
    elif kind == "negfrac":
        v = -rng.uniform(0.1, 2.9, shape)
        v[np.abs(v - np.round(v)) < 0.1] += 0.3
    elif kind == "halves":
        v = rng.randint(-6, 7, shape) * 0.5 + rng.choice([0.0, 0.25], shape)
    elif kind == "distinct":
        n = int(np.prod(shape))
        v = (rng.permutation(n) * 0.37 - n * 0.15).reshape(shape)
    elif kind == "spd":
        a = rng.standard_normal(shape)
        v = a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])
    elif kind == "tril":
        a = np.tril(rng.uniform(-0.5, 0.5, shape))
        v = a + np.eye(shape[-1]) * (1.0 + rng.uniform(0.0, 1.0, shape[:-1]))[..., None]
    elif kind == "prob":
        a = rng.uniform(0.1, 1.0, shape)
        v = a / a.sum(-1, keepdims=True)
    elif kind.startswith("i"):
        v = rng.randint(-(2 ** int(kind[1:])) if int(kind[1:]) > 24 else 0,
                        2 ** int(kind[1:]) if int(kind[1:]) > 24 else int(kind[1:]), shape)
    else:
        raise ValueError(f"unknown input kind {kind!r}")
    return np.asarray(v, dtype=dtype or "float32")


def seed_of(cid):
    return zlib.crc32(cid.encode()) % (1 << 30)


def case_values(case, seed):
    rng = np.random.RandomState(seed)
    return {name: make_value(kind, shape, rng) for name, shape, kind in case[2]}


def resolve(module, path):
    """mx.sym or mx.nd, "linalg.gemm2" -> the function."""
    for part in path.split("."):
        module = getattr(module, part)
    return module


def _nograd(case):
    ng = case[4].get("nograd")
    names = [n for n, _, _ in case[2]]
    if ng is True:
        return set(names)
    return set(ng or ())


def build_symbol(mx, case):
    """The symbol of a sym-mode case: one Variable per input, named after it."""
    _, path, inputs, params, opts = case
    inputs = [i for i in inputs if i[0] not in opts.get("aux", ())]
    variables = [mx.sym.Variable(name) for name, _, _ in inputs]
    fn = resolve(mx.sym, path)
    args = variables + list(opts.get("positional", []))
    if opts.get("kw"):
        return fn(name="op", **params, **{n: v for (n, _, _), v in zip(inputs, variables)})
    return fn(*args, name="op", **params)


def call_nd(mx, case, values):
    _, path, inputs, params, opts = case
    arrays = [mx.nd.array(values[name], dtype=values[name].dtype) for name, _, _ in inputs]
    if "bare" in opts:
        return _call_bare(mx, path, arrays, params, opts["bare"]), arrays
    params = dict(params)
    if "out" in opts:
        by_name = {name: a for (name, _, _), a in zip(inputs, arrays)}
        params["out"] = [by_name[n] for n in opts["out"]]
    out = resolve(mx.nd, path)(*(arrays + list(opts.get("positional", []))), **params)
    return (out if isinstance(out, (list, tuple)) else [out]), arrays


def _call_bare(mx, path, arrays, params, out_shapes):
    """The operator behind `path` on `arrays` in order (see the `bare` option)."""
    op = "_contrib_" + path.rpartition(".")[2]
    if mx.__name__ != "mxnet":
        from bucketmod.ndarray.op_functions import invoke
        out = invoke(op, arrays, params)
        return out if isinstance(out, list) else [out]
    import ctypes

    from mxnet._ctypes.ndarray import _imperative_invoke
    from mxnet.base import _LIB, OpHandle, c_str, check_call
    handle = OpHandle()
    check_call(_LIB.NNGetOpHandle(c_str(op), ctypes.byref(handle)))
    outs = [mx.nd.zeros(s) for s in out_shapes]
    _imperative_invoke(handle.value, arrays, list(params), [str(v) for v in params.values()],
                       outs, 0, 1)
    return outs


def run_symbol(mx, case, values, head_grads):
    """(symbol, outputs, {input: grad}, {aux state: value after}) of a sym-mode case, bound on
    the CPU."""
    sym = build_symbol(mx, case)
    nograd = _nograd(case)
    train = case[4].get("train", True)
    names = sym.list_arguments()
    args = {n: mx.nd.array(values[n], dtype=values[n].dtype) for n in names}
    aux = {n: mx.nd.array(values[n], dtype=values[n].dtype)
           for n in sym.list_auxiliary_states()}
    grad_req = {n: "null" if n in nograd or not train else "write" for n in names}
    grads = {n: mx.nd.zeros(values[n].shape, dtype=values[n].dtype) for n in names
             if grad_req[n] == "write"}
    exe = sym.bind(mx.cpu(), args, args_grad=grads, grad_req=grad_req, aux_states=aux)
    outs = exe.forward(is_train=train)
    result = [o.asnumpy() for o in outs]
    got = {}
    if grads:
        exe.backward([mx.nd.array(g, dtype=o.dtype) for g, o in zip(head_grads, outs)])
        got = {n: g.asnumpy() for n, g in exe.grad_dict.items() if g is not None}
    return sym, result, got, {n: a.asnumpy() for n, a in exe.aux_dict.items()}


def head_gradients(shapes, seed):
    rng = np.random.RandomState(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]
