"""MXNet's calling convention and namespaces for every operator: signatures (inputs, then
parameters, in MXNet 1.9.1's order, with its defaults) against the spec MXNet's own registry
wrote (tests/golden/make_operators.py), positional parameters, variadic inputs, errors, late
registration, and the README's coverage table."""
import ast
import math
import os
import re

import numpy as np
import pytest
from golden_ops import SPEC

import bucketmod as mx
from bucketmod.base import MXNetError
from bucketmod.ops import coverage, registry
from bucketmod.ops.params import REQUIRED, Param

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
# MXNet's registry documents _linspace with RangeParam's fields; the operator parses
# LinspaceParam's (start, stop, num, endpoint), which bucketmod follows. It documents no fields
# for _contrib_backward_quadratic, which parses quadratic's (a, b, c): so does bucketmod.
SIGNATURE_EXCEPTIONS = {"_linspace", "_contrib_backward_quadratic"}
BUILT = sorted(name for name in SPEC["ops"] if registry.exists(name)
               and name not in SIGNATURE_EXCEPTIONS)


def _mxnet_signature(name):
    """(inputs, [(param, type string)]) of MXNet's generated function for operator `name`."""
    args = SPEC["ops"][name]["args"]
    inputs = [a for a, t in args if t.startswith(("NDArray", "Symbol"))]
    params = [(a, t) for a, t in args if not t.startswith(("NDArray", "Symbol"))]
    return inputs, params


def _mxnet_default(type_string):
    m = re.search(r"default=(.*)$", type_string)
    if m is None or "required" in type_string:
        return REQUIRED
    text = m.group(1).strip()
    if text.startswith("'") and text.endswith("'"):
        text = text[1:-1]
    return text


def _same_default(spec_param, mxnet_text):
    if mxnet_text == "None" or mxnet_text == "":
        return spec_param.default in (None, "", ())
    try:
        want = spec_param.parse("op", "p", mxnet_text)
    except MXNetError:
        want = mxnet_text
    got = spec_param.default
    if isinstance(want, float) or isinstance(got, float):
        return got is not None and math.isclose(float(got), float(want), rel_tol=1e-6)
    if isinstance(want, tuple) and isinstance(got, tuple):
        return len(want) == len(got) and all(math.isclose(a, b, rel_tol=1e-6)
                                             for a, b in zip(want, got))
    return got == want


@pytest.mark.parametrize("name", BUILT)
def test_signature_matches_mxnet(name):
    """Inputs in MXNet's order, then every parameter in MXNet's order with its default."""
    opdef = registry.get(name)
    inputs, params = _mxnet_signature(name)
    variadic = any(t.startswith(("NDArray", "Symbol")) and t.endswith("[]")
                   for _, t in SPEC["ops"][name]["args"])
    assert registry.positional_inputs(opdef) == variadic, f"{name}: variadic"
    if not variadic:
        assert registry.signature_inputs(opdef) == inputs, name
    implicit = opdef.key_var_num_args if opdef.key_var_num_args not in dict(params) else None
    assert [p for p in opdef.params if p != implicit] == [p for p, _ in params], name
    for pname, type_string in params:
        default = _mxnet_default(type_string)
        spec_param = opdef.params[pname]
        if default is REQUIRED:
            assert spec_param.default is REQUIRED, f"{name}.{pname} must be required"
        else:
            assert spec_param.default is not REQUIRED, f"{name}.{pname} has a default"
            assert _same_default(spec_param, default), \
                f"{name}.{pname}: default {spec_param.default!r}, MXNet {default!r}"
    assert opdef.key_var_num_args == SPEC["ops"][name]["key_var_num_args"], name


def test_backward_quadratic_takes_quadratics_parameters():
    backward, forward = (registry.get(n) for n in ("_contrib_backward_quadratic",
                                                  "_contrib_quadratic"))
    assert list(backward.params) == list(forward.params) == ["a", "b", "c"]
    assert registry.signature_inputs(backward) == []


def test_every_mxnet_name_is_built_or_listed_with_a_reason():
    table, missing = coverage.coverage(SPEC)
    assert missing == []
    for qualified, _ in coverage.resolve(SPEC):
        if qualified in coverage.NOT_BUILT:
            continue
        namespace, _, func = qualified.rpartition(".")
        for root in (mx.sym, mx.nd):
            module = getattr(root, namespace) if namespace else root
            assert callable(getattr(module, func)), f"{root.__name__}.{qualified}"


# MXNet 1.9.1 runs these on GPUs only (or lacks a CPU kernel): checked against their
# definitions in this file and in test_ops_vision.py instead of a golden.
NO_CPU_GOLDEN = {"contrib.fft", "contrib.ifft", "contrib.count_sketch",
                 "contrib.group_adagrad_update", "contrib.ModulatedDeformableConvolution"}
# Operators whose MXNet goldens come from their own script (tests/golden/make_operator.py,
# tests/golden/make_control_flow.py), or from another operator's (backward_hawkesll gives
# hawkesll's MXNet gradients, tests/ops/test_ops_backward.py).
GOLDEN_ELSEWHERE = {"Custom", "contrib.foreach", "contrib.while_loop", "contrib.cond",
                    "contrib.backward_hawkesll"}


def test_every_built_operator_has_a_golden_case():
    from golden_ops import CASES
    paths = {case[1] for cases in CASES.values() for case in cases}
    covered = set()
    for path in paths:
        namespace, _, func = path.rpartition(".")
        op = func if namespace in ("", "_internal") else registry.find(namespace, func)
        if op is not None and registry.exists(op):
            covered.add(registry.get(op).name)
    missing = []
    for qualified, op in coverage.resolve(SPEC):
        if qualified in coverage.NOT_BUILT or qualified in paths or qualified in NO_CPU_GOLDEN \
                or qualified in GOLDEN_ELSEWHERE:
            continue
        if op is None or registry.get(op).name not in covered:
            missing.append(qualified)
    assert missing == []


def test_readme_table_matches_coverage():
    table, _ = coverage.coverage(SPEC)
    text = open(README).read()
    rows = dict(re.findall(r"^\| (\w[\w ]*?) \| (\d+ / \d+) \|", text, re.M))
    assert rows, "README has no operator table"
    for fam, (built, total) in table.items():
        assert rows.get(fam) == f"{built} / {total}", f"README row {fam}: {rows.get(fam)}"
    total_built = sum(b for b, _ in table.values())
    total = sum(t for _, t in table.values())
    assert rows.get("total") == f"{total_built} / {total}"


def test_positional_parameters_follow_the_inputs():
    data = mx.sym.Variable("data")
    assert mx.sym.Dropout(data, 0.5).list_attr()["p"] == "0.5"
    assert mx.sym.Dropout(data, 0.3, "always").list_attr()["mode"] == "always"
    fc = mx.sym.FullyConnected(data, None, None, 7)
    assert fc.list_attr()["num_hidden"] == "7"
    assert fc.list_arguments() == ["data", "fullyconnected0_weight", "fullyconnected0_bias"] \
        or fc.list_arguments()[0] == "data"
    x = mx.nd.array([[1.0, -2.0], [3.0, 0.5]])
    assert mx.nd.clip(x, -1.0, 1.0).asnumpy().tolist() == [[1.0, -1.0], [1.0, 0.5]]
    assert mx.nd.Dropout(x, 0.9).asnumpy().tolist() == x.asnumpy().tolist()


def test_variadic_operators_take_their_inputs_positionally():
    a, b, c = (mx.sym.Variable(n) for n in "abc")
    cat = mx.sym.concat(a, b, c, dim=0)
    assert cat.list_arguments() == ["a", "b", "c"] and cat.list_attr()["num_args"] == "3"
    out = mx.nd.add_n(mx.nd.ones((2,)), mx.nd.ones((2,)), mx.nd.ones((2,)))
    assert out.asnumpy().tolist() == [3.0, 3.0]
    with pytest.raises(TypeError, match="positional"):
        mx.sym.concat(a, 1.0)


def test_bad_calls_raise_type_errors_naming_the_argument():
    data = mx.sym.Variable("data")
    with pytest.raises(TypeError, match="multiple values for argument 'p'"):
        mx.sym.Dropout(data, 0.5, p=0.3)
    with pytest.raises(TypeError, match="at most"):
        mx.sym.Dropout(data, 0.5, "always", (), False, 1)
    with pytest.raises(TypeError, match="rhs must be a NDArray"):
        mx.nd.broadcast_add(mx.nd.ones((2,)), 1.0)
    with pytest.raises(MXNetError, match="unknown parameter"):
        mx.sym.Dropout(data, prob=0.5)


def test_namespaces_hold_their_operators():
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    assert mx.sym.linalg.gemm2(a, b).name.startswith("gemm2")
    assert mx.sym.linalg_gemm2(a, b).name.startswith("linalg_gemm2")
    assert mx.sym.contrib.box_iou(a, b).name.startswith("box_iou")
    assert mx.sym.random.normal(shape=(2,)).name.startswith("_random_normal")
    assert mx.sym.op.Concat is not None and mx.nd.op.concat is not None
    x = mx.nd.array(np.eye(2) * 4)
    assert np.allclose(mx.nd.linalg.potrf(x).asnumpy(), np.eye(2) * 2)
    assert mx.nd.random.normal_like(x).shape == (2, 2)
    assert not hasattr(mx.sym.linalg, "not_an_operator")


def test_operators_registered_after_import_resolve_everywhere():
    from bucketmod.ops.common import unary_op
    registry.register(unary_op("_contrib_late_double", lambda t, p: t * 2))
    registry.register(unary_op("late_triple", lambda t, p: t * 3))
    x = mx.nd.array([1.0, 2.0])
    assert mx.nd.contrib.late_double(x).asnumpy().tolist() == [2.0, 4.0]
    assert mx.nd.late_triple(x).asnumpy().tolist() == [3.0, 6.0]
    assert mx.sym.late_triple(mx.sym.Variable("v")).name.startswith("late_triple")
    assert "late_double" in dir(mx.sym.contrib)


def test_update_operators_write_states_and_out_in_place():
    w, g, mom = mx.nd.ones((3,)), mx.nd.array([1.0, 2.0, 3.0]), mx.nd.zeros((3,))
    res = mx.nd.sgd_mom_update(w, g, mom, 0.1, 0.9, out=w)
    assert res is w
    np.testing.assert_allclose(mom.asnumpy(), [-0.1, -0.2, -0.3], rtol=1e-6)
    np.testing.assert_allclose(w.asnumpy(), [0.9, 0.8, 0.7], rtol=1e-6)


def test_amp_multicast_widens_to_float32_and_narrows_to_float16():
    a = mx.nd.ones((2,), dtype="float16")
    b = mx.nd.ones((2,), dtype="float32")
    c = mx.nd.ones((2,), dtype="float64")
    assert [o.dtype for o in mx.nd.amp_multicast(a, b, c, num_outputs=3)] == [
        np.float32, np.float32, np.float64]
    assert [o.dtype for o in mx.nd.amp_multicast(a, b, num_outputs=2, cast_narrow=True)] == [
        np.float16, np.float16]


def test_sparse_storage_is_refused_with_a_reason():
    with pytest.raises(MXNetError, match="sparse"):
        mx.nd.cast_storage(mx.nd.ones((2, 2)), stype="csr")


def test_gpu_only_mxnet_operators_follow_their_definitions():
    """fft/ifft/count_sketch run only on GPUs in MXNet 1.9.1 (no CPU golden): checked here
    against numpy."""
    x = np.random.RandomState(0).standard_normal((2, 4)).astype(np.float32)
    spec = np.fft.fft(x, axis=-1)
    out = mx.nd.contrib.fft(mx.nd.array(x)).asnumpy()
    np.testing.assert_allclose(out[:, 0::2], spec.real, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[:, 1::2], spec.imag, rtol=1e-5, atol=1e-5)
    back = mx.nd.contrib.ifft(mx.nd.array(out)).asnumpy()
    np.testing.assert_allclose(back, x * 4, rtol=1e-4, atol=1e-4)
    h, s = np.array([[0, 2, 1, 2]]), np.array([[1, -1, 1, 1]])
    sk = mx.nd.contrib.count_sketch(mx.nd.array(x), mx.nd.array(h), mx.nd.array(s), out_dim=3)
    want = np.zeros((2, 3), np.float32)
    for i in range(4):
        want[:, h[0, i]] += s[0, i] * x[:, i]
    np.testing.assert_allclose(sk.asnumpy(), want, rtol=1e-6)


def test_group_adagrad_follows_its_definition():
    """MXNet 1.9.1's CPU build lacks group_adagrad_update; checked against its formula."""
    rng = np.random.RandomState(1)
    w, g, hist = rng.standard_normal((3, 2)), rng.standard_normal((3, 2)), rng.rand(3)
    out = mx.nd.contrib.group_adagrad_update(mx.nd.array(w), mx.nd.array(g),
                                             hist_nd := mx.nd.array(hist), lr=0.1,
                                             rescale_grad=0.5)
    gs = g * 0.5
    new_hist = hist + (gs ** 2).mean(1)
    np.testing.assert_allclose(hist_nd.asnumpy(), new_hist, rtol=1e-5)
    np.testing.assert_allclose(out.asnumpy(), w - 0.1 * gs / np.sqrt(new_hist + 1e-5)[:, None],
                               rtol=1e-5)


def test_literal_parsing_of_defaults_is_consistent():
    assert Param("shape", ()).parse("op", "p", "[]") == ()
    assert ast.literal_eval("(1, 2)") == (1, 2)


def test_operators_whose_inputs_depend_on_required_params_take_them_positionally():
    """As MXNet's Custom: the inputs come from a param without a default."""
    from bucketmod.ops.params import Param as P
    from bucketmod.ops.registry import OpDef
    registry.register(OpDef(
        name="_test_by_kind", params={"kind": P("str")},
        arguments=lambda p: {"pair": ["x", "y"]}[p["kind"]],
        infer_shape=lambda p, s: (s, [s[0]]),
        forward=lambda p, x, aux, train: [x[0] + x[1]]))
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    assert mx.sym._test_by_kind(a, b, kind="pair").list_arguments() == ["a", "b"]
    out = mx.nd._test_by_kind(mx.nd.ones((2,)), mx.nd.ones((2,)), kind="pair")
    assert out.asnumpy().tolist() == [2.0, 2.0]
