"""Symbol JSON is checked whole before a graph is built (bucketmod/symbol/validate.py): every
malformed document raises SymbolFormatError naming the node or entry, in bounded time."""
import copy
import glob
import json
import os
import time

import pytest

import bucketmod as mx
from bucketmod.base import MXNetError
from bucketmod.ops.params import Param
from bucketmod.ops.registry import _REGISTRY, OpDef, register
from bucketmod.symbol.validate import MAX_NODE_IO, SymbolFormatError

SEEDS = os.path.join(os.path.dirname(__file__), "..", "golden", "data", "fuzz", "symbol")
MLP = json.loads(mx.sym.SoftmaxOutput(
    mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4, name="fc"),
    name="sm").tojson())
# nodes: 0 data, 1 fc_weight, 2 fc_bias, 3 fc, 4 sm_label, 5 sm


def edited(edit):
    doc = copy.deepcopy(MLP)
    edit(doc)
    return json.dumps(doc)


def fc(doc):
    return doc["nodes"][3]


@pytest.mark.parametrize("edit, pattern", [
    (lambda d: fc(d)["inputs"].__setitem__(0, [-1, 0, 0]),
     r"node 3 \('fc', FullyConnected\): input 0 points at node -1"),
    (lambda d: fc(d)["inputs"].__setitem__(0, [5, 0, 0]), r"reads only nodes before it"),
    (lambda d: fc(d)["inputs"].__setitem__(0, [3, 0, 0]), r"input 0 points at node 3"),
    (lambda d: fc(d)["inputs"].__setitem__(0, [0, 1, 0]), r"reads output 1 of node 0"),
    (lambda d: fc(d)["inputs"].__setitem__(0, [0]), r"expected \[node, output"),
    (lambda d: fc(d)["inputs"].__setitem__(0, [0.0, 0, 0]), r"of integers"),
    (lambda d: fc(d)["inputs"].__setitem__(0, [True, 0, 0]), r"of integers"),
    (lambda d: fc(d)["inputs"].append([0, 0, 0]), r"takes 3 input\(s\).*the node has 4"),
    (lambda d: fc(d)["inputs"].pop(), r"takes 3 input\(s\).*the node has 2"),
    (lambda d: fc(d)["attrs"].__setitem__("num_hidden", "-3"), r"num_hidden: value -3"),
    (lambda d: fc(d)["attrs"].__setitem__("num_hidden", "0"), r"num_hidden: value 0"),
    (lambda d: fc(d)["attrs"].__setitem__("num_hidden", str(2 ** 31)), r"out of range"),
    (lambda d: fc(d)["attrs"].__setitem__("num_hidden", "4.5"), r"expects int"),
    (lambda d: fc(d)["attrs"].__setitem__("num_hidden", 4), r"'num_hidden' is 4: expected a "
                                                            r"string"),
    (lambda d: fc(d)["attrs"].__setitem__("no_bias", "maybe"), r"no_bias expects bool"),
    (lambda d: fc(d).__setitem__("op", "NoSuchOp"), r"node 3 .*NoSuchOp"),
    (lambda d: fc(d).pop("inputs"), r"node 3 .*no 'inputs' field"),
    (lambda d: fc(d).__setitem__("attrs", [1]), r"attrs is \[1\]"),
    (lambda d: d["nodes"][0].__setitem__("inputs", [[1, 0, 0]]), r"a variable has no inputs"),
    (lambda d: d["nodes"][0].__setitem__("name", 5), r"node 0: 'name' is 5"),
    (lambda d: d["nodes"][0].__setitem__("attrs", {"__shape__": "garbage"}), r"__shape__"),
    (lambda d: d["nodes"][0].__setitem__("attrs", {"__dtype__": "99"}), r"__dtype__ is '99'"),
    (lambda d: d["nodes"][1].__setitem__("attrs", {"__lr_mult__": "x"}), r"__lr_mult__"),
    (lambda d: d.__setitem__("heads", []), r"heads: expected at least one"),
    (lambda d: d.__setitem__("heads", [[5, 3, 0]]), r"heads\[0\] reads output 3 of node 5"),
    (lambda d: d.__setitem__("heads", [[9, 0, 0]]), r"heads\[0\] points at node 9"),
    (lambda d: d.__setitem__("arg_nodes", [0, 1, 2, 3]), r"arg_nodes\[3\] is node 3 .*an "
                                                         r"operator"),
    (lambda d: d.__setitem__("arg_nodes", [0, 99]), r"arg_nodes\[1\] is 99"),
    (lambda d: d.pop("arg_nodes"), r"no 'arg_nodes' field"),
    (lambda d: d.pop("nodes"), r"no 'nodes' field"),
    (lambda d: d.__setitem__("nodes", {}), r"'nodes' is \{\}: expected a JSON array"),
    (lambda d: d["attrs"].__setitem__("mxnet_version", ["str", "x"]), r"mxnet_version"),
], ids=lambda v: None if callable(v) else v[:30])
def test_malformed_graph_is_refused_at_load(edit, pattern):
    with pytest.raises(SymbolFormatError, match=pattern):
        mx.sym.load_json(edited(edit))


@pytest.mark.parametrize("text, pattern", [
    (b'{"nodes": [\xff]}', r"not UTF-8 text: byte 11"),
    ("[" * 100000 + "]" * 100000, r"nests JSON arrays or objects too deeply"),
    ('{"nodes": NaN}', r"NaN is not a JSON value"),
    ("{not json", r"not a JSON document"),
    ("[1, 2]", r"expected an object with nodes"),
], ids=["non-utf8", "deep", "nan", "not-json", "not-object"])
def test_text_that_is_not_a_symbol_document(text, pattern):
    with pytest.raises(SymbolFormatError, match=pattern):
        mx.sym.load_json(text)


def test_sym_load_names_the_file(tmp_path):
    path = tmp_path / "bad-symbol.json"
    path.write_bytes(edited(lambda d: fc(d)["inputs"].pop()).encode())
    with pytest.raises(SymbolFormatError, match=r"bad-symbol\.json.*node 3"):
        mx.sym.load(str(path))
    path.write_bytes(b"\xfe\xff")
    with pytest.raises(SymbolFormatError, match=r"bad-symbol\.json.*UTF-8"):
        mx.sym.load(str(path))


@pytest.mark.parametrize("op_json, key", [
    (mx.sym.SliceChannel(mx.sym.Variable("x"), num_outputs=3, name="s").tojson(),
     "num_outputs"),
    (mx.sym.Concat(mx.sym.Variable("a"), mx.sym.Variable("b"), num_args=2, name="c").tojson(),
     "num_args"),
], ids=["SliceChannel", "Concat"])
@pytest.mark.parametrize("value", [2 ** 31 - 1, MAX_NODE_IO + 1, 2 ** 31, 2 ** 63])
def test_huge_counts_are_refused_quickly(op_json, key, value):
    doc = json.loads(op_json)
    doc["nodes"][-1]["attrs"][key] = str(value)
    start = time.thread_time()
    with pytest.raises(SymbolFormatError, match=key):
        mx.sym.load_json(json.dumps(doc))
    assert time.thread_time() - start < 0.5


def test_long_attribute_strings_parse_in_linear_time():
    for hostile in ("(" * 100000 + ")" * 100000, "-" * 100000 + "1", "1," * 100000,
                    "[" + "1," * 200000 + "]"):
        doc = json.loads(mx.sym.Reshape(mx.sym.Variable("x"), shape=(2, 3),
                                        name="r").tojson())
        doc["nodes"][-1]["attrs"]["shape"] = hostile
        start = time.thread_time()
        try:
            mx.sym.load_json(json.dumps(doc))
        except SymbolFormatError:
            pass
        assert time.thread_time() - start < 0.5, hostile[:10]


@pytest.fixture
def counted_op():
    """An operator whose output count comes from a parameter named unlike any MXNet one, to
    show the count bound is found from the OpDef, not from a list of names."""
    opdef = register(OpDef(
        name="_test_fanout", params={"copies": Param("int", 1, lower=1),
                                     "scale": Param("int", 1)},
        outputs=lambda p: [f"out{i}" for i in range(p["copies"])],
        infer_shape=lambda p, s: (s, [s[0]] * p["copies"]),
        forward=lambda p, inputs, aux, is_train: [inputs[0] * p["scale"]] * p["copies"]))
    yield opdef
    _REGISTRY.pop("_test_fanout")


def test_count_parameters_are_found_from_the_opdef(counted_op):
    doc = json.loads(mx.sym.Variable("x").tojson())
    doc["nodes"].append({"op": "_test_fanout", "name": "f", "inputs": [[0, 0, 0]],
                         "attrs": {"copies": "2", "scale": str(2 ** 30)}})
    doc["heads"] = [[1, 1, 0]]
    assert mx.sym.load_json(json.dumps(doc)).list_outputs() == ["f_out1"]
    doc["nodes"][1]["attrs"]["copies"] = str(2 ** 30)
    with pytest.raises(SymbolFormatError, match=f"copies={2 ** 30} sets how many"):
        mx.sym.load_json(json.dumps(doc))


def test_files_mxnet_wrote_load_and_round_trip():
    files = sorted(glob.glob(os.path.join(SEEDS, "mxnet-*.json")))
    assert len(files) >= 5
    for path in files:
        sym = mx.sym.load(path)
        assert mx.sym.load_json(sym.tojson()).tojson() == sym.tojson()


def test_what_mxnet_also_accepts_still_loads():
    two_element_entries = edited(lambda d: fc(d)["inputs"].__setitem__(0, [0, 0]))
    assert mx.sym.load_json(two_element_entries).list_arguments()[0] == "data"
    no_row_ptr = edited(lambda d: d.pop("node_row_ptr"))
    assert mx.sym.load_json(no_row_ptr).list_outputs() == ["sm_output"]
    user_attr = edited(lambda d: fc(d)["attrs"].__setitem__("__mood__", "happy"))
    assert mx.sym.load_json(user_attr).attr_dict()["fc"]["__mood__"] == "happy"


def test_parameter_ranges_apply_when_symbols_are_made_too():
    with pytest.raises(MXNetError, match="num_hidden: value 0"):
        mx.sym.FullyConnected(mx.sym.Variable("x"), num_hidden=0)
    with pytest.raises(MXNetError, match=r"p: value 1.5 is out of range \[0.0, 1.0\]"):
        mx.sym.Dropout(mx.sym.Variable("x"), p=1.5)
    assert mx.sym.Reshape(mx.sym.Variable("x"), shape="(2L, -1)").attr("shape") == "(2L, -1)"


@pytest.mark.parametrize("op_json, key, value", [
    (mx.sym.Embedding(mx.sym.Variable("x"), input_dim=3, output_dim=2, name="e").tojson(),
     "dtype", "fhoat32"),
    (mx.sym.softmax(mx.sym.Variable("x"), name="s").tojson(), "dtype", "[0]"),
])
def test_dtype_parameters_must_name_a_data_type(op_json, key, value):
    doc = json.loads(op_json)
    doc["nodes"][-1].setdefault("attrs", {})[key] = value
    with pytest.raises(SymbolFormatError, match=rf"parameter dtype expects dtype.*{value[:3]}"):
        mx.sym.load_json(json.dumps(doc))


def test_nodes_with_many_inputs_or_outputs_are_named_in_linear_time():
    doc = json.loads(mx.sym.SliceChannel(mx.sym.Variable("x"), num_outputs=3,
                                         name="s").tojson())
    doc["nodes"][1]["attrs"]["num_outputs"] = str(MAX_NODE_IO)
    wide = json.loads(mx.sym.Variable("x").tojson())
    wide["nodes"].append({"op": "Concat", "name": "c", "attrs": {"num_args": "16384"},
                          "inputs": [[0, 0, 0]] * 16384})
    wide["heads"] = [[1, 0, 0]]
    start = time.thread_time()
    sym = mx.sym.load_json(json.dumps(doc))
    assert len(sym.get_internals().list_outputs()) == MAX_NODE_IO + 1
    concat = mx.sym.load_json(json.dumps(wide))
    assert concat.infer_shape_partial(x=(2, 3))[1] == [(2, 3 * 16384)]
    assert time.thread_time() - start < 5.0
