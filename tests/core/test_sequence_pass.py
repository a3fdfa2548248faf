"""The sequence pass (symbol/passes/sequences.py): every unrolled mx.rnn stack it rewrites gives
the outputs and gradients of the graph as declared (BUCKETMOD_FUSE=0), and the graphs it cannot
rewrite are left as they were."""
import warnings

import numpy as np
import pytest

import bucketmod as mx
from bucketmod import executor as executor_module
from bucketmod.symbol.passes import PassWarning

N, T, C, H = 3, 4, 5, 6
CELLS = {"lstm": lambda p: mx.rnn.LSTMCell(H, prefix=p),
         "gru": lambda p: mx.rnn.GRUCell(H, prefix=p),
         "rnn_tanh": lambda p: mx.rnn.RNNCell(H, prefix=p),
         "rnn_relu": lambda p: mx.rnn.RNNCell(H, activation="relu", prefix=p)}
SEQUENCE_OP = {"lstm": "_lstm_sequence", "gru": "_gru_sequence", "rnn_tanh": "_rnn_sequence",
               "rnn_relu": "_rnn_sequence"}


def stack_graph(cell, layers, layout, merge, given_states):
    """An unrolled stack of `layers` cells whose outputs (and last states) are the heads."""
    stack = mx.rnn.SequentialRNNCell()
    for i in range(layers):
        stack.add(CELLS[cell](f"l{i}_"))
    begin = stack.begin_state(func=mx.sym.Variable) if given_states else None
    outputs, states = stack.unroll(T, inputs=mx.sym.Variable("data"), layout=layout,
                                   merge_outputs=merge, begin_state=begin)
    heads = [outputs] if merge else list(outputs)
    seen = {id(h._outputs[0][0]) for h in heads}
    heads += [s for s in states if id(s._outputs[0][0]) not in seen]
    shapes = {"data": (N, T, C) if layout == "NTC" else (T, N, C)}
    if given_states:
        shapes.update({n: (N, H) for n in mx.sym.Group(heads).list_arguments()
                       if "begin_state" in n})
    return mx.sym.Group(heads), shapes


def run(sym, shapes, fuse, monkeypatch):
    """Outputs and every gradient after one training step, with fixed inputs and head grads."""
    monkeypatch.setattr(executor_module, "FUSE_GRAPHS", fuse)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PassWarning)
        exe = sym.simple_bind(mx.cpu(), **shapes)
    rng = np.random.RandomState(0)
    for arr in exe.arg_dict.values():
        arr[:] = rng.uniform(-1, 1, arr.shape)
    exe.forward(is_train=True)
    exe.backward([mx.nd.array(rng.uniform(-1, 1, o.shape)) for o in exe.outputs])
    ops = [n.op.name for n in exe._program.nodes]
    return exe, ops, [o.asnumpy() for o in exe.outputs], {
        k: v.asnumpy() for k, v in exe.grad_dict.items()}


def assert_same(a, b):
    for x, y in zip(a[2], b[2]):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    assert a[3].keys() == b[3].keys()
    for name in a[3]:
        np.testing.assert_allclose(a[3][name], b[3][name], rtol=1e-5, atol=1e-6, err_msg=name)


VARIANTS = [("NTC", True, False, 2), ("TNC", True, True, 1), ("NTC", False, True, 2),
            ("TNC", False, False, 2)]


@pytest.mark.parametrize("layout, merge, given_states, layers", VARIANTS,
                         ids=["NTC-merged-zeros-2", "TNC-merged-given-1", "NTC-list-given-2",
                              "TNC-list-zeros-2"])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_sequence_matches_unrolled(monkeypatch, cell, layout, merge, given_states, layers):
    sym, shapes = stack_graph(cell, layers, layout, merge, given_states)
    fused = run(sym, shapes, True, monkeypatch)
    plain = run(sym, shapes, False, monkeypatch)
    ops = fused[1]
    assert ops.count(SEQUENCE_OP[cell]) == layers
    assert not any(op.startswith("_fused_") for op in ops)
    assert "Concat" not in ops and "SliceChannel" not in ops
    assert_same(fused, plain)


def test_step_outputs_are_views_of_the_sequence(monkeypatch):
    sym, shapes = stack_graph("lstm", 1, "TNC", False, False)
    exe = run(sym, shapes, True, monkeypatch)[0]
    storages = {o.tensor.untyped_storage().data_ptr() for o in exe.outputs[:T]}
    assert len(storages) == 1


def _steps(cell, xs, states):
    outs = []
    for x in xs:
        out, states = cell(x, states)
        outs.append(out)
    return outs, states


def test_middle_cell_state_read_outside_is_left_alone(monkeypatch):
    cell = mx.rnn.LSTMCell(H, prefix="l_")
    xs = [mx.sym.Variable(f"x{t}") for t in range(T)]
    outs, states = [], cell.begin_state()
    middle = None
    for t, x in enumerate(xs):
        out, states = cell(x, states)
        outs.append(out)
        middle = states[1] if t == 1 else middle
    sym = mx.sym.Group([outs[-1], middle])
    shapes = {f"x{t}": (N, C) for t in range(T)}
    fused, plain = run(sym, shapes, True, monkeypatch), run(sym, shapes, False, monkeypatch)
    assert fused[1].count("_fused_lstm_cell") == T and "_lstm_sequence" not in fused[1]
    assert_same(fused, plain)


def test_output_fed_back_as_input_is_left_alone(monkeypatch):
    """A decoder whose next input is its last output cannot run as one sequence op."""
    cell = mx.rnn.GRUCell(C, prefix="d_")
    x, states, outs = mx.sym.Variable("x0"), cell.begin_state(), []
    for _ in range(T):
        x, states = cell(x, states)
        outs.append(x)
    sym = mx.sym.Group(outs)
    fused, plain = run(sym, {"x0": (N, C)}, True, monkeypatch), \
        run(sym, {"x0": (N, C)}, False, monkeypatch)
    assert fused[1].count("_fused_gru_cell") == T
    assert_same(fused, plain)


def test_branching_state_starts_new_sequences(monkeypatch):
    """Two continuations of one state: each becomes its own sequence from that state."""
    cell = mx.rnn.RNNCell(H, prefix="b_")
    first, states = _steps(cell, [mx.sym.Variable("x")], cell.begin_state())
    a, _ = _steps(cell, [mx.sym.Variable(f"a{t}") for t in range(T)], states)
    b, _ = _steps(cell, [mx.sym.Variable(f"b{t}") for t in range(T)], states)
    sym = mx.sym.Group(a + b)
    shapes = dict({"x": (N, C)}, **{f"{k}{t}": (N, C) for k in "ab" for t in range(T)})
    fused, plain = run(sym, shapes, True, monkeypatch), run(sym, shapes, False, monkeypatch)
    assert fused[1].count("_rnn_sequence") == 2 and fused[1].count("_fused_rnn_cell") == 1
    assert_same(fused, plain)


def test_one_step_stays_a_cell(monkeypatch):
    outputs, _ = mx.rnn.LSTMCell(H, prefix="one_").unroll(1, mx.sym.Variable("data"),
                                                        merge_outputs=True)
    fused = run(outputs, {"data": (N, 1, C)}, True, monkeypatch)
    plain = run(outputs, {"data": (N, 1, C)}, False, monkeypatch)
    assert "_fused_lstm_cell" in fused[1] and "_lstm_sequence" not in fused[1]
    assert_same(fused, plain)


def test_bucketing_lm_trains_the_same_fused_and_unfused(monkeypatch):
    """A few SGD steps of the bucketed LSTM LM: the same parameters either way."""
    def sym_gen(seq_len):
        data, label = mx.sym.Variable("data"), mx.sym.Variable("softmax_label")
        embed = mx.sym.Embedding(data=data, input_dim=11, output_dim=C, name="embed")
        stack = mx.rnn.SequentialRNNCell()
        for i in range(2):
            stack.add(mx.rnn.LSTMCell(num_hidden=H, prefix=f"lstm_l{i}_"))
        outputs, _ = stack.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.FullyConnected(mx.sym.Reshape(outputs, shape=(-1, H)), num_hidden=11,
                                     name="pred")
        loss = mx.sym.SoftmaxOutput(pred, mx.sym.Reshape(label, shape=(-1,)), name="softmax")
        return loss, ("data",), ("softmax_label",)

    params = []
    for fuse in (True, False):
        monkeypatch.setattr(executor_module, "FUSE_GRAPHS", fuse)
        mx.random.seed(1)
        mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=5, context=mx.cpu())
        mod.bind(data_shapes=[("data", (N, 5))], label_shapes=[("softmax_label", (N, 5))])
        mod.init_params(mx.init.Xavier())
        mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5})
        rng = np.random.RandomState(0)
        for key in (5, 3, 5):
            batch = mx.io.DataBatch(
                [mx.nd.array(rng.randint(0, 11, (N, key)))],
                [mx.nd.array(rng.randint(0, 11, (N, key)))], bucket_key=key,
                provide_data=[("data", (N, key))], provide_label=[("softmax_label", (N, key))])
            mod.forward_backward(batch)
            mod.update()
        params.append({k: v.asnumpy() for k, v in mod.get_params()[0].items()})
    for name in params[1]:
        np.testing.assert_allclose(params[0][name], params[1][name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)
