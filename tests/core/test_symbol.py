"""Symbol construction, naming, indexing, JSON and bad input (MXNet's results for the same graphs
are in test_golden_core.py)."""
import json
import pathlib

import numpy as np
import pytest

import bucketmod as mx
from bucketmod.base import MXNetError


def test_auto_names_count_per_hint_and_reset_with_name_manager():
    with mx.name.NameManager():
        a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
        names = [(a + b).name, (a + b).name, (a * 2).name, (a - 1).name, (2 - a).name,
                 mx.sym.split(a, num_outputs=2).name,
                 mx.sym.FullyConnected(a, num_hidden=2).name,
                 mx.sym.Embedding(a, input_dim=3, output_dim=2).list_arguments()[1]]
    assert names == ["_plus0", "_plus1", "_mulscalar0", "_minusscalar0", "_rminusscalar0",
                     "split0", "fullyconnected0", "embedding0_weight"]
    with mx.name.NameManager():
        assert mx.sym.FullyConnected(a, num_hidden=2).name == "fullyconnected0"


def test_prefix_applies_to_given_and_automatic_names():
    with mx.name.Prefix("enc_"):
        fc = mx.sym.FullyConnected(mx.sym.Variable("x"), num_hidden=2)
        named = mx.sym.Activation(fc, act_type="relu", name="act")
    assert fc.name == "enc_fullyconnected0"
    assert named.name == "enc_act"
    assert fc.list_arguments() == ["x", "enc_fullyconnected0_weight", "enc_fullyconnected0_bias"]


def test_attr_scope_nests_and_reaches_auto_created_variables():
    with mx.AttrScope(ctx_group="a"):
        with mx.AttrScope(lr_mult="0.1"):
            fc = mx.sym.FullyConnected(mx.sym.Variable("x"), num_hidden=2, name="fc")
    attrs = fc.attr_dict()
    assert attrs["fc"]["__ctx_group__"] == "a" and attrs["fc"]["__lr_mult__"] == "0.1"
    assert attrs["fc_weight"]["__ctx_group__"] == "a"
    assert fc.attr("lr_mult") == "0.1"
    with pytest.raises(ValueError, match="string"):
        mx.AttrScope(lr_mult=0.1)


def test_variable_attributes():
    v = mx.sym.Variable("w", shape=(2, 3), lr_mult=2.0, wd_mult=0.0, dtype="float64",
                        __note__="x")
    assert v.attr("__shape__") == "(2, 3)"
    assert v.attr("lr_mult") == "2.0"
    assert v.list_attr()["__note__"] == "x"
    assert v.infer_type()[0] == [np.float64]
    with pytest.raises(ValueError, match="double underscores"):
        mx.sym.Variable("w", note="x")
    with pytest.raises(TypeError, match="string"):
        mx.sym.Variable(3)


def test_output_indexing_internals_children_and_group():
    data = mx.sym.Variable("data")
    parts = mx.sym.SliceChannel(data, num_outputs=3, name="sc")
    assert len(parts) == 3
    assert parts[1].list_outputs() == ["sc_output1"]
    assert parts["sc_output2"].list_outputs() == ["sc_output2"]
    assert [p.list_outputs()[0] for p in parts] == ["sc_output0", "sc_output1", "sc_output2"]
    with pytest.raises(IndexError):
        parts[3]
    with pytest.raises(ValueError, match="nope"):
        parts["nope"]
    fc = mx.sym.FullyConnected(parts[0], num_hidden=2, name="fc")
    internals = fc.get_internals()
    assert internals.list_outputs() == ["data", "sc_output0", "sc_output1", "sc_output2",
                                        "fc_weight", "fc_bias", "fc_output"]
    assert internals["sc_output0"].list_outputs() == ["sc_output0"]
    assert fc.get_children().list_outputs() == ["sc_output0", "fc_weight", "fc_bias"]
    assert data.get_children() is None
    group = mx.sym.Group([fc, parts[2]])
    assert group.list_outputs() == ["fc_output", "sc_output2"]
    with pytest.raises(TypeError):
        mx.sym.Group([fc, 3])


def test_infer_shape_backward_from_weight_and_partial():
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, num_hidden=4, name="fc")
    arg, out, aux = fc.infer_shape(data=(5, 3))
    assert arg == [(5, 3), (4, 3), (4,)] and out == [(5, 4)] and aux == []
    with pytest.warns(UserWarning, match="data"):
        assert fc.infer_shape() == (None, None, None)
    assert fc.infer_shape_partial()[0] == [(), (), ()]
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    assert (a + b).infer_shape(a=(2, 3))[0] == [(2, 3), (2, 3)]
    assert (a * 2).infer_shape(a=(4,))[1] == [(4,)]


@pytest.mark.parametrize("builder", ["mlp", "conv_bn", "zoo"])
def test_json_round_trip_keeps_graph_and_outputs(builder, cases):
    sym = cases.WRITE_BUILDERS[builder](mx)
    again = mx.sym.load_json(sym.tojson())
    assert again.tojson() == sym.tojson()
    assert again.list_arguments() == sym.list_arguments()
    assert again.list_auxiliary_states() == sym.list_auxiliary_states()
    args, aux = cases.net_values(mx, sym, builder, 5)
    reqs = {k: "null" for k in args}
    first, _, _ = cases.run_mx(mx, sym, args, aux, reqs, train=False)
    second, _, _ = cases.run_mx(mx, again, args, aux, reqs, train=False)
    for x, y in zip(first, second):
        np.testing.assert_array_equal(x, y)


def test_save_and_load_file(tmp_path):
    sym = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3, name="fc")
    path = str(tmp_path / "net-symbol.json")
    sym.save(path)
    assert mx.sym.load(path).list_arguments() == ["data", "fc_weight", "fc_bias"]
    with pytest.raises(MXNetError, match="does not exist"):
        mx.sym.load(str(tmp_path / "missing.json"))


def test_bad_json_raises_mxnet_error():
    good = json.loads(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3,
                                            name="fc").tojson())
    with pytest.raises(MXNetError, match="JSON"):
        mx.sym.load_json("{not json")
    with pytest.raises(MXNetError):
        mx.sym.load_json(json.dumps({"nodes": []}))
    unknown = json.loads(json.dumps(good))
    unknown["nodes"][-1]["op"] = "NoSuchOp"
    with pytest.raises(MXNetError, match="NoSuchOp"):
        mx.sym.load_json(json.dumps(unknown))
    dangling = json.loads(json.dumps(good))
    dangling["nodes"][-1]["inputs"] = [[7, 0, 0]]
    with pytest.raises(MXNetError, match="node"):
        mx.sym.load_json(json.dumps(dangling))
    bad_param = json.loads(json.dumps(good))
    bad_param["nodes"][-1]["attrs"]["num_hidden"] = "many"
    with pytest.raises(MXNetError, match="num_hidden"):
        mx.sym.load_json(json.dumps(bad_param))


def test_unknown_or_missing_parameters_raise_mxnet_error():
    data = mx.sym.Variable("data")
    with pytest.raises(MXNetError, match="foo"):
        mx.sym.FullyConnected(data, num_hidden=3, foo=1)
    with pytest.raises(MXNetError, match="num_hidden"):
        mx.sym.FullyConnected(data)
    with pytest.raises(MXNetError, match="act_type"):
        mx.sym.Activation(data, act_type="swish")
    with pytest.raises(MXNetError, match="num_hidden"):
        mx.nd.FullyConnected(mx.nd.ones((2, 3)), mx.nd.ones((4, 3)), mx.nd.ones((4,)),
                             num_hidden="four")


def test_shape_mismatch_names_node_input_and_both_shapes():
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
    with pytest.raises(MXNetError, match=r"fc.*weight.*\(3, 5\).*\(3, 4\)"):
        fc.infer_shape(data=(2, 4), fc_weight=(3, 5))
    cat = mx.sym.Concat(data, mx.sym.Variable("other"), dim=1, name="cat")
    with pytest.raises(MXNetError, match=r"cat.*\(3, 2\)"):
        cat.infer_shape(data=(2, 2), other=(3, 2))
    with pytest.raises(MXNetError, match="Reshape"):
        mx.sym.Reshape(data, shape=(5, -1)).infer_shape(data=(2, 3))
    with pytest.raises(MXNetError, match="not found"):
        fc.infer_shape(nope=(2, 3))
    assert fc.infer_shape(data=(2, 4))[1] == [(2, 3)]


def test_symbol_has_no_truth_value():
    with pytest.raises(TypeError, match="Symbol"):
        bool(mx.sym.Variable("a") > 0)


_METHODS_JSON = pathlib.Path(__file__).resolve().parent.parent / "golden" / "data" / \
    "api_methods.json"
METHODS = json.loads(_METHODS_JSON.read_text())


@pytest.mark.parametrize("expr", sorted(METHODS["symbol"]))
def test_arithmetic_and_comparisons_match_mxnet(expr, api_methods):
    """Symbol operators with scalars and symbols: MXNet's node names and values
    (tests/golden/make_api_methods.py)."""
    want = METHODS["symbol"][expr]
    got = api_methods.eval_symbol(mx, expr)
    assert got.keys() == want.keys()
    if "raises" in want:
        assert got["raises"] == want["raises"]
        return
    assert got["outputs"] == want["outputs"]
    np.testing.assert_allclose(got["value"], want["value"], rtol=1e-6)


def test_reverse_mod_uses_mxnet_operator(api_methods):
    """`5 % x` is MXNet's _RModScalar node; without that operator it says so."""
    want = METHODS["symbol_rmod"]
    if not mx.ops.exists("_RModScalar"):
        with pytest.raises(mx.MXNetError, match="_RModScalar"):
            5 % mx.sym.var("x")
        return
    got = api_methods.eval_symbol(mx, api_methods.SYMBOL_RMOD)
    assert got["outputs"] == want["outputs"]
    np.testing.assert_allclose(got["value"], want["value"], rtol=1e-6)


def test_internals_children_attr_dict_and_partial_types_match_mxnet(api_methods):
    got = api_methods.symbol_facts(mx)
    for key, want in METHODS["symbol_facts"].items():
        assert got[key] == want, key


def test_inplace_arithmetic_is_not_for_symbols():
    x = mx.sym.var("x")
    with pytest.raises(TypeError, match="in-place"):
        x += 1
