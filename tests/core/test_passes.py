"""Graph passes at bind: the fused cells and sequences give what the unrolled nodes give, and
stay out of the way where they must (a monitor, an intermediate that is also an output)."""
import warnings

import numpy as np
import pytest
import torch

import bucketmod as mx
from bucketmod import executor as executor_module
from bucketmod.symbol import passes

V, H, E, T, N = 23, 8, 6, 4, 3


CELLS = {"lstm": lambda i: mx.rnn.LSTMCell(num_hidden=H, prefix=f"lstm_l{i}_"),
         "gru": lambda i: mx.rnn.GRUCell(num_hidden=H, prefix=f"gru_l{i}_"),
         "rnn_tanh": lambda i: mx.rnn.RNNCell(num_hidden=H, prefix=f"rnn_l{i}_"),
         "rnn_relu": lambda i: mx.rnn.RNNCell(num_hidden=H, activation="relu",
                                              prefix=f"rnn_l{i}_")}
SEQUENCE_OP = {"lstm": "_lstm_sequence", "gru": "_gru_sequence", "rnn_tanh": "_rnn_sequence",
               "rnn_relu": "_rnn_sequence"}


def lstm_lm(num_layers=2, begin_state=None, cell="lstm"):
    stack = mx.rnn.SequentialRNNCell()
    for i in range(num_layers):
        stack.add(CELLS[cell](i))
    data = mx.sym.Variable("data")
    embed = mx.sym.Embedding(data=data, input_dim=V, output_dim=E, name="embed")
    outputs, states = stack.unroll(T, inputs=embed, begin_state=begin_state, merge_outputs=True)
    pred = mx.sym.FullyConnected(mx.sym.Reshape(outputs, shape=(-1, H)), num_hidden=V,
                                 name="pred")
    label = mx.sym.Reshape(mx.sym.Variable("softmax_label"), shape=(-1,))
    return mx.sym.SoftmaxOutput(data=pred, label=label, name="softmax"), states


def run(sym, fuse, monkeypatch, seed=42, **shapes):
    monkeypatch.setattr(executor_module, "FUSE_GRAPHS", fuse)
    torch.manual_seed(seed)
    exe = sym.simple_bind(mx.cpu(), **shapes)
    for name, arr in exe.arg_dict.items():
        if name in ("data", "softmax_label"):
            arr[:] = torch.randint(0, V, arr.shape).float()
        else:
            arr[:] = torch.randn(arr.shape) * 0.5
    exe.forward(is_train=True)
    head_grads = [None if i == 0 else mx.nd.ones(o.shape) for i, o in enumerate(exe.outputs)]
    exe.backward(head_grads if len(exe.outputs) > 1 else None)
    return exe, [o.asnumpy() for o in exe.outputs], {
        k: v.asnumpy() for k, v in exe.grad_dict.items()}


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_fused_cell_matches_unrolled(monkeypatch, num_layers, cell):
    """Each layer becomes a sequence; stacked LSTM layers become one `_lstm_stack`."""
    sym, _ = lstm_lm(num_layers, cell=cell)
    exe, out_fused, grads_fused = run(sym, True, monkeypatch, data=(N, T),
                                      softmax_label=(N, T))
    ops = [n.op.name for n in exe._program.nodes]
    layers = sum(n.params.get("num_layers", 1) for n in exe._program.nodes
                 if n.op.name in (SEQUENCE_OP[cell], "_lstm_stack"))
    assert layers == num_layers and "Concat" not in ops
    assert ("_lstm_stack" in ops) == (cell == "lstm" and num_layers > 1)
    _, out_plain, grads_plain = run(sym, False, monkeypatch, data=(N, T), softmax_label=(N, T))
    np.testing.assert_allclose(out_fused[0], out_plain[0], rtol=1e-5, atol=1e-6)
    for name in grads_plain:
        np.testing.assert_allclose(grads_fused[name], grads_plain[name], rtol=1e-4, atol=1e-6,
                                   err_msg=name)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fused_cell_final_states_as_outputs(monkeypatch, cell):
    """The last states are outputs too: they come from the fused node's outputs."""
    loss, states = lstm_lm(1, cell=cell)
    sym = mx.sym.Group([loss] + list(states))
    _, fused, g_fused = run(sym, True, monkeypatch, data=(N, T), softmax_label=(N, T))
    _, plain, g_plain = run(sym, False, monkeypatch, data=(N, T), softmax_label=(N, T))
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for name in g_plain:
        np.testing.assert_allclose(g_fused[name], g_plain[name], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("layout", ["TNC", "NTC"])
def test_lstm_layers_whose_states_are_read_stay_apart(monkeypatch, layout):
    """A lower layer whose last states are graph outputs cannot disappear into a stack; the
    states and everything else are still what the unrolled graph gives."""
    stack = mx.rnn.SequentialRNNCell()
    for i in range(2):
        stack.add(CELLS["lstm"](i))
    outputs, states = stack.unroll(T, inputs=mx.sym.Variable("data"), layout=layout,
                                   merge_outputs=True)
    sym = mx.sym.Group([mx.sym.MakeLoss(mx.sym.sum(outputs))] + list(states))
    shape = (N, T, E) if layout == "NTC" else (T, N, E)
    exe, fused, g_fused = run(sym, True, monkeypatch, data=shape)
    ops = [n.op.name for n in exe._program.nodes]
    assert ops.count("_lstm_sequence") == 2 and "_lstm_stack" not in ops
    _, plain, g_plain = run(sym, False, monkeypatch, data=shape)
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    for name in g_plain:
        np.testing.assert_allclose(g_fused[name], g_plain[name], rtol=1e-4, atol=1e-5)


def test_intermediate_output_blocks_fusion():
    """A gate that is itself an output cannot disappear into a fused node."""
    cell = mx.rnn.LSTMCell(num_hidden=H, prefix="l_")
    out, _ = cell(mx.sym.Variable("x"), cell.begin_state())
    gate = out.get_internals()["l_t0_i_output"]
    group = mx.sym.Group([out, gate])
    assert passes.fuse_cells(group._outputs) is group._outputs
    assert passes.fuse_cells(out._outputs) is not out._outputs


def test_monitor_sees_every_unfused_node():
    sym, _ = lstm_lm(1)
    exe = sym.simple_bind(mx.cpu(), data=(N, T), softmax_label=(N, T))
    seen = []
    exe.set_monitor_callback(lambda name, arr: seen.append(name))
    exe.forward(is_train=False)
    assert "lstm_l0_t0_i_output" in seen and "lstm_l0_t3_out_output" in seen


def test_begin_state_batch_is_inferred_backward():
    """`begin_state()` is zeros of batch 0; FullyConnected infers it from its output, and the
    constant gets the full shape at bind."""
    sym, _ = lstm_lm(1)
    arg_shapes, out_shapes, _ = sym.infer_shape(data=(N, T), softmax_label=(N, T))
    assert out_shapes == [(N * T, V)]
    internals = sym.get_internals()
    begin = [n for n in internals.list_outputs() if n.endswith("begin_state_0_output")]
    _, shapes, _ = internals[begin[0]].infer_shape_partial()
    assert shapes == [(0, H)]
    _, full, _ = sym.get_internals().infer_shape(data=(N, T), softmax_label=(N, T))
    assert full[internals.list_outputs().index(begin[0])] == (N, H)


def _unrolled_module(data_shape, for_training):
    """An LSTMCell unrolled over `data` of `data_shape` = (batch, steps, ...), its begin states
    variables named in state_names (the graph that used to break the cell pass at bind)."""
    cell = mx.rnn.LSTMCell(H, prefix="l0_")
    begin = cell.begin_state(func=mx.sym.Variable)
    outputs, states = cell.unroll(data_shape[1], inputs=mx.sym.var("data"), begin_state=begin,
                                  merge_outputs=True)
    mod = mx.mod.Module(mx.sym.Group([outputs] + states), data_names=["data"], label_names=None,
                        state_names=[s.name for s in begin])
    mod.bind(data_shapes=[("data", data_shape)], for_training=for_training)
    mx.random.seed(3)
    mod.init_params(initializer=mx.init.Uniform(0.5))
    mod.set_states(value=0.25)
    return mod


@pytest.mark.parametrize(("data_shape", "for_training", "backend"), [
    pytest.param(shape, train, backend, id=f"{name}-{'training' if train else 'inference'}-"
                 f"{backend}")
    for name, shape, train, backend in (
        ("steps-1d", (N, T), False, "torch"), ("steps-1d", (N, T), True, "torch"),
        ("steps-3d", (N, T, 2, 3), False, "torch"), ("steps-3d", (N, T, 2, 3), True, "torch"),
        ("steps-1d", (N, T), True, "triton"))])
def test_cell_pass_fuses_steps_of_any_rank(monkeypatch, data_shape, for_training, backend):
    """Steps of (batch, steps) data are 1-D: the fused cell and sequence read them as the i2h
    FullyConnected does, as `[B, 1]`, so the passes fuse them with no PassWarning."""
    data = mx.nd.array(np.random.default_rng(0).normal(size=data_shape))
    results = {}
    old = mx.set_backend(backend)
    try:
        for fuse in (True, False):
            monkeypatch.setattr(executor_module, "FUSE_GRAPHS", fuse)
            with warnings.catch_warnings():
                warnings.simplefilter("error", passes.PassWarning)
                mod = _unrolled_module(data_shape, for_training)
            fused_nodes = [n for n in mod._exec_group.execs[0]._program.nodes
                           if n.op.name == "_lstm_sequence"]
            assert len(fused_nodes) == (1 if fuse else 0)
            mod.forward(mx.io.DataBatch([data]), is_train=for_training)
            outs = [o.asnumpy() for o in mod.get_outputs()]
            if for_training:
                mod.backward([mx.nd.ones(o.shape) for o in outs])
                outs += [g.asnumpy() for g in mod.get_grads().values()]
            results[fuse] = outs
    finally:
        mx.set_backend(old)
    for got, want in zip(results[True], results[False]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_failing_pass_is_skipped_with_a_warning(monkeypatch):
    def broken(heads):
        raise IndexError("broken pass")

    monkeypatch.setattr(passes, "PASSES", [("broken", broken)] + passes.PASSES)
    sym, _ = lstm_lm(1)
    with pytest.warns(passes.PassWarning, match="'broken' left the graph unchanged"):
        exe = sym.simple_bind(mx.cpu(), data=(N, T), softmax_label=(N, T))
    assert any(n.op.name == "_lstm_sequence" for n in exe._program.nodes)
