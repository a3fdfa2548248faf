"""mx.rnn cells against MXNet 1.9.1 (tests/golden/make_rnn_cell.py): the same graphs node for
node, the same outputs and gradients on fixed weights; weight (un)packing, unfuse, checkpoints,
and the LSTM step against torch.nn.LSTMCell."""
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import bucketmod as mx
import bucketmod.rnn as rnn
from bucketmod.testing import assert_close

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
DATA = GOLDEN / "data" / "rnn_cell"
sys.path.insert(0, str(GOLDEN))
from rnn_cell_cases import CASES, B, C, H, T  # noqa: E402

FP32 = 1e-5


def _build(case):
    with mx.name.NameManager():
        return case(mx)


def _golden(case):
    doc = json.loads((DATA / f"{case.__name__}.json").read_text())
    return doc, np.load(DATA / f"{case.__name__}.npz")


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_graph_matches_mxnet(case):
    symbol, _, _ = _build(case)
    doc, _ = _golden(case)
    assert symbol.list_arguments() == doc["arguments"]
    assert symbol.list_outputs() == doc["outputs"]
    assert symbol.list_auxiliary_states() == doc["aux"]
    ours, theirs = json.loads(symbol.tojson()), doc["json"]
    for i, (a, b) in enumerate(zip(ours["nodes"], theirs["nodes"])):
        assert a == b, f"node {i} differs"
    assert len(ours["nodes"]) == len(theirs["nodes"])
    for key in ("heads", "arg_nodes", "node_row_ptr"):
        assert ours[key] == theirs[key], key


def _bind(symbol, golden):
    names = symbol.list_arguments()
    args = {n: mx.nd.array(golden["arg:" + n]) for n in names}
    grads = {n: mx.nd.zeros(args[n].shape) for n in names if "grad:" + n in golden.files}
    req = {n: "write" if n in grads else "null" for n in names}
    return symbol.bind(mx.cpu(), args=args, args_grad=grads, grad_req=req), grads


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_outputs_and_gradients_match_mxnet(case):
    symbol, _, deterministic = _build(case)
    _, golden = _golden(case)
    exe, grads = _bind(symbol, golden)
    outs = exe.forward(is_train=False)
    for i, out in enumerate(outs):
        assert_close(f"{case.__name__} out{i}", golden[f"out{i}"], out.asnumpy(), FP32)
    if not deterministic:
        return
    exe.forward(is_train=True)
    exe.backward([mx.nd.array(golden[f"head{i}"]) for i in range(len(outs))])
    assert grads
    for name, grad in grads.items():
        assert_close(f"{case.__name__} d{name}", golden["grad:" + name], grad.asnumpy(), 1e-4)


def test_default_begin_state_binds_by_shape_inference():
    stack = rnn.SequentialRNNCell()
    stack.add(rnn.LSTMCell(H, prefix="lstm_l0_"))
    stack.add(rnn.GRUCell(H, prefix="gru_l1_"))
    out, states = stack.unroll(T, mx.sym.Variable("data"), merge_outputs=True)
    exe = mx.sym.Group([out] + states).simple_bind(mx.cpu(), data=(B, T, C))
    outs = exe.forward()
    assert [o.shape for o in outs] == [(B, T, H), (B, H), (B, H), (B, H)]
    assert mx.sym.Group([out] + states).infer_shape(data=(B, T, C))[1] == [
        (B, T, H), (B, H), (B, H), (B, H)]


def test_state_info_and_begin_state_names():
    fused = rnn.FusedRNNCell(H, num_layers=3, mode="lstm", bidirectional=True)
    assert fused.state_info == [{"shape": (6, 0, H), "__layout__": "LNC"}] * 2
    assert fused.state_shape == [(6, 0, H)] * 2
    cell = rnn.LSTMCell(H)
    states = cell.begin_state(func=mx.sym.Variable)
    assert [s.name for s in states] == ["lstm_begin_state_0", "lstm_begin_state_1"]
    assert states[0].attr("__layout__") == "NC"
    assert [s.name for s in cell.begin_state()] == ["lstm_begin_state_2", "lstm_begin_state_3"]
    cell.reset()
    assert cell.begin_state()[0].name == "lstm_begin_state_0"


def test_parameter_names_match_mxnet():
    stack = rnn.SequentialRNNCell()
    for i in range(2):
        stack.add(rnn.LSTMCell(4, prefix=f"lstm_l{i}_"))
    assert sorted(stack.params._params) == sorted(
        f"lstm_l{i}_{g}_{k}" for i in range(2) for g in ("i2h", "h2h")
        for k in ("weight", "bias"))
    assert rnn.GRUCell(3)._prefix == "gru_" and rnn.RNNCell(3)._prefix == "rnn_"
    assert rnn.FusedRNNCell(3, mode="gru")._parameter.name == "gru_parameters"


def _random_params(symbol, shapes, seed=0):
    rng = np.random.RandomState(seed)
    arg_shapes, _, _ = symbol.infer_shape(**shapes)
    return {n: mx.nd.array(rng.uniform(-1, 1, s).astype("float32"))
            for n, s in zip(symbol.list_arguments(), arg_shapes)}


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_fused_unpack_pack_round_trip_and_unfuse_equivalence(mode):
    fused = rnn.FusedRNNCell(H, num_layers=2, mode=mode, bidirectional=True, prefix="f_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f_out, _ = fused.unroll(T, mx.sym.Variable("data"), merge_outputs=True)
    args = _random_params(f_out, {"data": (B, T, C)})
    unpacked = fused.unpack_weights(args)
    gates = len(fused._gate_names)
    assert "f_parameters" not in unpacked
    assert unpacked[f"f_l0_i2h{fused._gate_names[0]}_weight"].shape == (H, C)
    assert unpacked["f_r1_i2h" + fused._gate_names[-1] + "_weight"].shape == (H, 2 * H)
    assert len(unpacked) == 1 + 2 * 2 * 2 * 2 * gates
    repacked = fused.pack_weights(unpacked)
    assert np.array_equal(repacked["f_parameters"].asnumpy(), args["f_parameters"].asnumpy())

    stack = fused.unfuse()
    u_out, _ = stack.unroll(T, mx.sym.Variable("data"), merge_outputs=True)
    u_args = stack.pack_weights(unpacked)
    assert sorted(u_args) == sorted(u_out.list_arguments())
    f_val = f_out.bind(mx.cpu(), args).forward()[0].asnumpy()
    u_val = u_out.bind(mx.cpu(), u_args).forward()[0].asnumpy()
    assert_close(f"{mode} fused vs unfused", f_val, u_val, FP32)


def test_cell_unpack_pack_round_trip():
    cell = rnn.LSTMCell(4, prefix="c_")
    out, _ = cell.unroll(2, mx.sym.Variable("data"), merge_outputs=True)
    args = _random_params(out, {"data": (2, 2, 3)})
    unpacked = cell.unpack_weights(args)
    assert sorted(k for k in unpacked if k != "data") == sorted(
        f"c_{g}{gate}_{k}" for g in ("i2h", "h2h") for gate in ("_i", "_f", "_c", "_o")
        for k in ("weight", "bias"))
    assert np.array_equal(unpacked["c_i2h_f_weight"].asnumpy(),
                          args["c_i2h_weight"].asnumpy()[4:8])
    packed = cell.pack_weights(unpacked)
    assert sorted(packed) == sorted(args)
    for name in args:
        assert np.array_equal(packed[name].asnumpy(), args[name].asnumpy())


def test_lstm_step_matches_torch_lstm_cell():
    torch.manual_seed(42)
    ref = torch.nn.LSTMCell(C, H)
    cell = rnn.LSTMCell(H, prefix="t_")
    h0, c0 = cell.begin_state(func=mx.sym.Variable)
    out, (h1, c1) = cell(mx.sym.Variable("x"), [h0, c0])
    x, h, c = torch.randn(B, C), torch.randn(B, H), torch.randn(B, H)
    args = {"x": x, "t_begin_state_0": h, "t_begin_state_1": c,
            "t_i2h_weight": ref.weight_ih, "t_i2h_bias": ref.bias_ih,
            "t_h2h_weight": ref.weight_hh, "t_h2h_bias": ref.bias_hh}
    args = {k: mx.nd.array(v.detach().numpy()) for k, v in args.items()}
    got_h, got_c = mx.sym.Group([h1, c1]).bind(mx.cpu(), args).forward()
    want_h, want_c = ref(x, (h, c))
    assert_close("h", want_h, got_h.asnumpy(), FP32)
    assert_close("c", want_c, got_c.asnumpy(), FP32)


def test_lstm_bias_initializer_attribute():
    cell = rnn.LSTMCell(4, forget_bias=2.5)
    assert json.loads(cell._iB.attr("__init__")) == ["lstmbias", {"forget_bias": 2.5}]


def test_checkpoint_saves_unpacked_and_loads_packed(tmp_path):
    fused = rnn.FusedRNNCell(3, num_layers=1, mode="gru", prefix="g_")
    out, _ = fused.unroll(2, mx.sym.Variable("data"), layout="TNC", merge_outputs=True)
    args = _random_params(out, {"data": (2, 2, 4)})
    del args["data"]
    prefix = str(tmp_path / "model")
    rnn.save_rnn_checkpoint(fused, prefix, 3, out, args, {})
    from bucketmod import model
    _, raw, _ = model.load_checkpoint(prefix, 3)
    assert "g_parameters" not in raw and "g_l0_h2h_z_weight" in raw
    sym, loaded, aux = rnn.load_rnn_checkpoint([fused], prefix, 3)
    assert sym.list_arguments() == out.list_arguments() and aux == {}
    with pytest.raises(mx.MXNetError, match=r"model-0003\.params' does not hold the unpacked "
                                            r"weights of LSTMCell 'x_'"):
        rnn.load_rnn_checkpoint(rnn.LSTMCell(3, prefix="x_"), prefix, 3)
    assert np.array_equal(loaded["g_parameters"].asnumpy(), args["g_parameters"].asnumpy())

    callback = rnn.do_rnn_checkpoint(fused, prefix, period=2)
    callback(0, out, args, {})
    assert not (tmp_path / "model-0001.params").exists()
    callback(1, out, args, {})
    assert (tmp_path / "model-0002.params").exists()
    with pytest.raises(TypeError, match="cells"):
        rnn.save_rnn_checkpoint(["not a cell"], prefix, 1, out, args, {})


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="mode"):
        rnn.FusedRNNCell(4, mode="lstmx")
    with pytest.raises(AssertionError, match="length"):
        rnn.RNNCell(4).unroll(3, [mx.sym.Variable("a"), mx.sym.Variable("b")])
    with pytest.raises(ValueError, match="layout"):
        rnn.RNNCell(4).unroll(2, mx.sym.Variable("a"), layout="NC")
    base = rnn.LSTMCell(4)
    zone = rnn.ZoneoutCell(base, zoneout_states=0.5)
    with pytest.raises(AssertionError, match="modifier"):
        base.begin_state()
    assert len(zone.begin_state()) == 2 and base._modified
    with pytest.raises(AssertionError, match="zoneout"):
        rnn.ZoneoutCell(rnn.FusedRNNCell(4))
    with pytest.raises(AssertionError, match="number"):
        rnn.DropoutCell("0.5")
    with pytest.raises(NotImplementedError, match="unroll"):
        rnn.FusedRNNCell(4)(mx.sym.Variable("x"), [])
    shared = rnn.RNNParams("s_")
    with pytest.raises(AssertionError, match="not both"):
        rnn.SequentialRNNCell(params=shared).add(rnn.LSTMCell(4, params=rnn.RNNParams("x_")))


def test_shared_params_between_cells():
    shared = rnn.RNNParams("shared_")
    a, b = rnn.RNNCell(4, params=shared), rnn.RNNCell(4, params=shared, prefix="b_")
    out_a, _ = a.unroll(2, mx.sym.Variable("x"), merge_outputs=True)
    out_b, _ = b.unroll(2, out_a, merge_outputs=True)
    assert out_b.list_arguments() == ["x", "shared_i2h_weight", "shared_i2h_bias",
                                      "shared_h2h_weight", "shared_h2h_bias"]


def _rnn_op(**kwargs):
    return mx.sym.RNN(data=mx.sym.Variable("data"), state_size=4, mode="lstm",
                      state_outputs=True, name="r", **kwargs)


def test_rnn_op_sequence_length_equals_truncated_runs():
    """Per-sample lengths as cuDNN defines them: padded steps output 0 and leave the state as
    it was; the reverse direction starts at each sample's last valid step."""
    steps, lengths = 5, [2, 5, 3]
    varlen = _rnn_op(num_layers=2, bidirectional=True, use_sequence_length=True)
    args = _random_params(varlen, {"data": (steps, 3, 3), "r_sequence_length": (3,)})
    args["r_sequence_length"] = mx.nd.array(lengths)
    out, h, c = [o.asnumpy() for o in varlen.bind(mx.cpu(), args).forward()]
    plain = _rnn_op(num_layers=2, bidirectional=True)
    for b, n in enumerate(lengths):
        one = {"data": args["data"].asnumpy()[:n, b:b + 1], "r_parameters": args["r_parameters"],
               "r_state": args["r_state"].asnumpy()[:, b:b + 1],
               "r_state_cell": args["r_state_cell"].asnumpy()[:, b:b + 1]}
        ref = [o.asnumpy() for o in plain.bind(mx.cpu(), one).forward()]
        assert_close(f"output of sample {b}", ref[0][:, 0], out[:n, b], FP32)
        assert np.all(out[n:, b] == 0)
        assert_close(f"h of sample {b}", ref[1][:, 0], h[:, b], FP32)
        assert_close(f"c of sample {b}", ref[2][:, 0], c[:, b], FP32)


def test_rnn_op_lstm_state_clip():
    clipped = _rnn_op(num_layers=1, lstm_state_clip_min=-0.1, lstm_state_clip_max=0.2)
    args = _random_params(clipped, {"data": (4, 2, 3)})
    args["data"] = args["data"] * 10
    _, h, c = [o.asnumpy() for o in clipped.bind(mx.cpu(), args).forward()]
    assert c.min() >= -0.1 - 1e-7 and c.max() <= 0.2 + 1e-7
    assert np.all(np.abs(h) <= np.tanh(0.2) + 1e-6)
    _, _, c_free = [o.asnumpy() for o in _rnn_op(num_layers=1).bind(mx.cpu(), args).forward()]
    assert np.abs(c_free).max() > 0.2
    with pytest.raises(mx.MXNetError, match="together"):
        _rnn_op(num_layers=1, lstm_state_clip_min=-0.1).infer_shape(data=(4, 2, 3))


def test_rnn_op_rejects_wrong_parameter_size():
    sym = _rnn_op(num_layers=1)
    args = _random_params(sym, {"data": (2, 2, 3)})
    args["r_parameters"] = mx.nd.zeros((7,))
    with pytest.raises(mx.MXNetError, match="parameters"):
        sym.bind(mx.cpu(), args).forward()


@pytest.mark.parametrize("mode, init, bidirectional", [("lstm", None, False),
                                                       ("gru", None, True),
                                                       ("lstm", "one", True)])
def test_fused_rnn_initializer_fills_each_piece(mode, init, bidirectional):
    """What MXNet 1.9.1 gives for Module.init_params(Constant(0.5)) on a FusedRNNCell: every
    weight from the initializer, biases 0, LSTM forget-gate biases (i2h and h2h) at 1."""
    cell = mx.rnn.FusedRNNCell(4, num_layers=2, mode=mode, bidirectional=bidirectional,
                               prefix="f_")
    out, _ = cell.unroll(3, mx.sym.Variable("data"), layout="TNC", merge_outputs=True)
    mod = mx.mod.Module(mx.sym.MakeLoss(mx.sym.sum(out)), data_names=["data"],
                        label_names=None)
    mod.bind([("data", (3, 2, 5))])
    mod.init_params(mx.init.Constant(0.5))
    packed = mod.get_params()[0]["f_parameters"]
    if init is not None:
        fused = mx.init.FusedRNN(mx.init.create(init), 4, 2, mode, bidirectional)
        packed = mx.nd.zeros(packed.shape)
        mx.init.Constant(0.5)(mx.init.InitDesc("f_parameters",
                                               attrs={"__init__": fused.dumps()}), packed)
    pieces = mx.rnn.FusedRNNCell(4, num_layers=2, mode=mode, bidirectional=bidirectional,
                                 prefix="").unpack_weights({"parameters": packed})
    weight_value = 1.0 if init == "one" else 0.5
    for name, piece in pieces.items():
        values = np.unique(piece.asnumpy())
        if name.endswith("_weight"):
            assert values.tolist() == [weight_value], name
        elif mode == "lstm" and name.endswith("_f_bias"):
            assert values.tolist() == [1.0], name
        else:
            assert values.tolist() == [0.0], name


def test_fused_rnn_initializer_dumps_as_mxnet():
    assert mx.init.FusedRNN(None, 4, 1, "lstm").dumps() == (
        '["fusedrnn", {"init": null, "num_hidden": 4, "num_layers": 1, "mode": "lstm", '
        '"bidirectional": false, "forget_bias": 1.0}]')
