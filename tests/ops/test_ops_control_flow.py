"""Symbolic control flow (`_foreach`, `_while_loop`, `_cond`) against MXNet 1.9.1
(tests/golden/make_control_flow.py): the graphs and JSON it makes, shapes and types, outputs and
gradients; loading MXNet's JSON; malformed subgraphs; a foreach RNN trained in a Module."""
import json
import os
import sys

import numpy as np
import pytest

import bucketmod as mx
from bucketmod.ops import registry
from bucketmod.symbol.validate import SymbolFormatError

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "golden")
DATA = os.path.join(GOLDEN, "data", "control_flow")
sys.path.insert(0, GOLDEN)
import control_flow_cases as cfc  # noqa: E402

TABLE = json.load(open(os.path.join(DATA, "cases.json")))
ARRAYS = np.load(os.path.join(DATA, "arrays.npz"))
CASES = [pytest.param(c, id=c[0]) for c in cfc.CASES]


def _canonical(doc):
    """A graph document with operator names made canonical (MXNet writes `_copy` for
    identity, `elemwise_mul` for `_Mul`) and without the version attribute."""
    nodes = []
    for node in doc["nodes"]:
        node = dict(node)
        if node["op"] != "null":
            node["op"] = registry.get(node["op"]).name
        node["attrs"] = node.get("attrs", {})
        if "subgraphs" in node:
            node["subgraphs"] = [_canonical(g) for g in node["subgraphs"]]
        nodes.append(node)
    return {"nodes": nodes, "arg_nodes": doc["arg_nodes"], "heads": doc["heads"],
            "node_row_ptr": doc["node_row_ptr"]}


def _inputs(cid, sym):
    return {k: ARRAYS[f"{cid}/in/{k}"] for k in sym.list_arguments()}


def _run(sym, values, heads, train=True):
    args = {k: mx.nd.array(v) for k, v in values.items()}
    grads = {k: mx.nd.zeros(v.shape) for k, v in values.items()} if train else None
    exe = sym.bind(mx.cpu(), args, args_grad=grads, grad_req="write" if train else "null")
    outs = [o.asnumpy() for o in exe.forward(is_train=train)]
    if train:
        exe.backward([mx.nd.array(h) for h in heads])
    return outs, {k: g.asnumpy() for k, g in exe.grad_dict.items()}


def _compare(cid, options, outs, grads):
    entry = TABLE[cid]
    steps = entry["steps"]
    for j, o in enumerate(outs):
        if steps is not None and j in options["steps"][1]:
            assert not o[steps:].any(), f"{cid} output {j}: rows past the last step are zeros"
            o = o[:steps]
        np.testing.assert_allclose(o, ARRAYS[f"{cid}/out/{j}"], rtol=1e-5, atol=1e-5,
                                   err_msg=f"{cid} output {j}")
    want = sorted(k[len(cid) + 6:] for k in ARRAYS.files if k.startswith(f"{cid}/grad/"))
    assert sorted(set(grads) - set(options.get("mxnet_wrong", ()))) == want
    if cid == "foreach_lists":
        # c reaches the body as c * 2, added to the first output of every step
        np.testing.assert_allclose(grads["c"], 2 * ARRAYS[f"{cid}/head/0"].sum(axis=0),
                                   rtol=1e-5)
    if cid == "cond_single":
        _check_against_the_taken_branch(grads)
    for k in want:
        g = grads[k]
        np.testing.assert_allclose(g, ARRAYS[f"{cid}/grad/{k}"], rtol=1e-5, atol=1e-5,
                                   err_msg=f"{cid} gradient of {k}")


def _check_against_the_taken_branch(grads):
    """cond_single's gradients equal those of the branch its predicate takes, built plainly."""
    values = {k: ARRAYS[f"cond_single/in/{k}"] for k in ("a", "b", "cfc_weight", "cfc_bias")}
    a, b = mx.sym.var("a"), mx.sym.var("b")
    c = mx.sym.FullyConnected(a, num_hidden=2, name="cfc")
    plain = c * b if values["b"].sum() > 0 else c - b
    _, want = _run(plain, values, [ARRAYS["cond_single/head/0"]])
    for k in ("a", "cfc_weight", "cfc_bias"):
        np.testing.assert_allclose(grads[k], want[k], rtol=1e-5, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("case", CASES)
def test_graph_shapes_outputs_and_gradients_match_mxnet(case):
    cid, _, shapes, options = case
    entry = TABLE[cid]
    sym = cfc.build(mx, case)
    assert sym.list_arguments() == entry["arguments"]
    assert sym.list_outputs() == entry["outputs"]
    assert _canonical(json.loads(sym.tojson())) == _canonical(entry["json"])
    _, out_shapes, _ = sym.infer_shape(**shapes)
    assert [list(s) for s in out_shapes] == entry["out_shapes"]
    _, out_types, _ = sym.infer_type(**{k: np.float32 for k in shapes})
    assert [np.dtype(t).name for t in out_types] == entry["out_types"]
    heads = [ARRAYS[f"{cid}/head/{j}"] for j in range(len(entry["outputs"]))]
    outs, grads = _run(sym, _inputs(cid, sym), heads, not options.get("forward_only"))
    _compare(cid, options, outs, grads)


@pytest.mark.parametrize("case", CASES)
def test_mxnet_json_loads_and_runs(case):
    cid, _, _, options = case
    entry = TABLE[cid]
    sym = mx.sym.load_json(json.dumps(entry["json"]))
    assert sym.list_arguments() == entry["arguments"]
    assert mx.sym.load_json(sym.tojson()).tojson() == sym.tojson()
    heads = [ARRAYS[f"{cid}/head/{j}"] for j in range(len(entry["outputs"]))]
    outs, grads = _run(sym, _inputs(cid, sym), heads, not options.get("forward_only"))
    _compare(cid, options, outs, grads)


def test_while_loop_and_cond_bind_with_simple_bind():
    case = next(c for c in cfc.CASES if c[0] == "while_loop")
    sym = cfc.build(mx, case)
    exe = sym.simple_bind(mx.cpu(), **case[2])
    for k, v in _inputs("while_loop", sym).items():
        exe.arg_dict[k][:] = v
    outs = exe.forward()
    np.testing.assert_allclose(outs[0].asnumpy()[:6], ARRAYS["while_loop/out/0"], rtol=1e-6)
    assert outs[0].shape == (10, 2)


def test_while_loop_that_never_runs_pads_with_zeros_and_keeps_the_loop_vars():
    i = mx.sym.var("i")
    outs, final = mx.sym.contrib.while_loop(lambda i: i > 3, lambda i: (i * 2, i + 1), i,
                                            max_iterations=4)
    exe = mx.sym.Group([outs, final]).bind(mx.cpu(), {"i": mx.nd.array([1.0])})
    stacked, last = exe.forward()
    assert stacked.shape == (4, 1) and not stacked.asnumpy().any()
    assert last.asnumpy().tolist() == [1.0]


def _foreach_doc():
    case = next(c for c in cfc.CASES if c[0] == "foreach_rnn")
    return json.loads(cfc.build(mx, case).tojson())


def _control_node(doc):
    return next(n for n in doc["nodes"] if "subgraphs" in n)


@pytest.mark.parametrize("breakage,message", [
    (lambda n: n.pop("subgraphs"), "runs 1 subgraph"),
    (lambda n: n["subgraphs"].append(n["subgraphs"][0]), "runs 1 subgraph"),
    (lambda n: n["attrs"].update(remain_locs="[1, 2, 9]"), "permutation"),
    (lambda n: n["attrs"].update(num_outputs="3"), "num_outputs"),
    (lambda n: n["subgraphs"][0]["heads"].append([99, 0, 0]), "subgraph 0: heads"),
    (lambda n: n["subgraphs"][0]["nodes"][3].update(op="NoSuchOp"), "subgraph 0: node 3"),
])
def test_malformed_subgraphs_are_rejected(breakage, message):
    doc = _foreach_doc()
    breakage(_control_node(doc))
    with pytest.raises(SymbolFormatError, match=message):
        mx.sym.load_json(json.dumps(doc))


def test_subgraphs_only_on_control_flow_nodes():
    doc = json.loads((mx.sym.var("x") * 2).tojson())
    doc["nodes"][1]["subgraphs"] = []
    mx.sym.load_json(json.dumps(doc))
    doc["nodes"][1]["subgraphs"] = [json.loads(mx.sym.var("y").tojson())]
    with pytest.raises(SymbolFormatError, match="runs 0 subgraph"):
        mx.sym.load_json(json.dumps(doc))


def test_builders_refuse_what_mxnet_refuses():
    x = mx.sym.var("x")
    with pytest.raises(ValueError, match="max_iterations"):
        mx.sym.contrib.while_loop(lambda v: v < 1, lambda v: (v, v), x)
    with pytest.raises(ValueError, match="differs"):
        mx.sym.contrib.cond(x > 0, lambda: [x, x], lambda: x)
    with pytest.raises(AssertionError, match="used in the loop body"):
        mx.sym.contrib.foreach(lambda d, s: (s[0] * 2, [s[0]]), x, [mx.sym.var("s")])


STEPS, BATCH, FEAT, HIDDEN, CLASSES = 4, 6, 3, 5, 2


def _rnn_module(unrolled):
    """A tanh RNN over STEPS steps and a classifier on its last state, as one foreach or
    unrolled by hand with the same parameter names."""
    data, label = mx.sym.var("data"), mx.sym.var("softmax_label")
    wx, wh = mx.sym.var("wx_weight"), mx.sym.var("wh_weight")

    def step(x, states):
        h = mx.sym.tanh(mx.sym.FullyConnected(x, wx, num_hidden=HIDDEN, no_bias=True, name="i2h")
                        + mx.sym.FullyConnected(states[0], wh, num_hidden=HIDDEN,
                                                no_bias=True, name="h2h"))
        return h, [h]

    h0 = mx.sym.zeros((BATCH, HIDDEN))
    if unrolled:
        states = [h0]
        for x in mx.sym.split(data, num_outputs=STEPS, axis=0, squeeze_axis=True):
            _, states = step(x, states)
    else:
        _, states = mx.sym.contrib.foreach(step, data, [h0])
    out = mx.sym.FullyConnected(states[0], num_hidden=CLASSES, name="cls")
    net = mx.sym.SoftmaxOutput(out, label, name="softmax")
    mod = mx.mod.Module(net, data_names=["data"], label_names=["softmax_label"])
    mod.bind(data_shapes=[mx.io.DataDesc("data", (STEPS, BATCH, FEAT), layout="TNC")],
             label_shapes=[("softmax_label", (BATCH,))])
    return mod


def test_foreach_rnn_trains_in_a_module_like_the_unrolled_rnn(tmp_path):
    rng = np.random.RandomState(3)
    x = rng.uniform(-1, 1, (STEPS, BATCH, FEAT)).astype(np.float32)
    y = (x.sum(axis=(0, 2)) > 0).astype(np.float32)
    batch = mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)])
    mods = [_rnn_module(unrolled) for unrolled in (False, True)]
    mods[0].init_params(mx.init.Uniform(0.5))
    arg, aux = mods[0].get_params()
    mods[1].init_params(arg_params=arg, aux_params=aux)
    losses = []
    for mod in mods:
        mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5})
        per_step = []
        for _ in range(8):
            mod.forward_backward(batch)
            mod.update()
            prob = mod.get_outputs()[0].asnumpy()
            per_step.append(-np.log(prob[np.arange(BATCH), y.astype(int)]).mean())
        losses.append(per_step)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    assert losses[0][-1] < losses[0][0]
    for name, value in mods[0].get_params()[0].items():
        np.testing.assert_allclose(value.asnumpy(), mods[1].get_params()[0][name].asnumpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=name)
    prefix = str(tmp_path / "rnn")
    mods[0].save_checkpoint(prefix, 1)
    loaded = mx.mod.Module.load(prefix, 1, data_names=["data"], label_names=["softmax_label"])
    loaded.bind(data_shapes=[mx.io.DataDesc("data", (STEPS, BATCH, FEAT), layout="TNC")],
                label_shapes=[("softmax_label", (BATCH,))], for_training=False)
    for mod in (loaded, mods[0]):
        mod.forward(batch, is_train=False)
    np.testing.assert_allclose(loaded.get_outputs()[0].asnumpy(),
                               mods[0].get_outputs()[0].asnumpy(), rtol=1e-6)


def test_a_control_flow_node_without_its_subgraph_says_so():
    node = mx.sym._internal._foreach(mx.sym.var("x"), num_args=2, num_outputs=1,
                                     num_out_data=1, in_state_locs=[], in_data_locs=[0],
                                     remain_locs=[])
    with pytest.raises(mx.base.MXNetError, match="runs subgraphs"):
        node.infer_shape(x=(3, 2))
