"""BucketingModule: the sym_gen contract, the intermediate API per bucket, and the invariants of
DESIGN.md (one parameter one tensor, buckets share memory, memory flat under switching)."""
import gc
import importlib.util
import pathlib
import tracemalloc

import numpy as np
import pytest
import torch

import bucketmod as mx

B, D, K = 2, 3, 5
_GOLDEN = pathlib.Path(__file__).resolve().parent.parent / "golden"


def _fixture_script():
    spec = importlib.util.spec_from_file_location("make_bucketing",
                                                  _GOLDEN / "make_bucketing.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fx = _fixture_script()


def mean_fc_sym_gen(seq_len):
    """data `[B, seq_len, D]` -> mean over time -> FC -> SoftmaxOutput; parameters do not
    depend on the bucket."""
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(mx.sym.mean(data, axis=1), num_hidden=K, name="fc")
    return mx.sym.SoftmaxOutput(fc, name="softmax"), ("data",), ("softmax_label",)


def fc_batch(key, seed=0):
    rng = np.random.RandomState(seed + key)
    data = rng.randn(B, key, D).astype(np.float32)
    label = rng.randint(0, K, size=(B,)).astype(np.float32)
    return mx.io.DataBatch([mx.nd.array(data)], [mx.nd.array(label)], bucket_key=key,
                           provide_data=[mx.io.DataDesc("data", (B, key, D))],
                           provide_label=[mx.io.DataDesc("softmax_label", (B,))])


def fc_module(default_key=10, grad_req="write", inputs_need_grad=False, sym_gen=None, **kw):
    mod = mx.mod.BucketingModule(sym_gen or mean_fc_sym_gen, default_bucket_key=default_key,
                                 **kw)
    mod.bind(data_shapes=[("data", (B, default_key, D))],
             label_shapes=[("softmax_label", (B,))], grad_req=grad_req,
             inputs_need_grad=inputs_need_grad)
    mod.init_params(mx.init.Xavier())
    return mod


def lm_module():
    mod = fx.new_module(mx, cells=False)
    mod.init_params(mx.init.Xavier())
    return mod


def lm_batch(key, seed=0):
    rng = np.random.RandomState(seed + key)
    seq = rng.randint(1, fx.VOCAB, size=(fx.BATCH, key + 1)).astype(np.float32)
    return fx.make_batch(mx, key, seq[:, :-1], seq[:, 1:])


def ptrs(arrays):
    return {name: arr.tensor.data_ptr() for name, arr in arrays.items()}


# -- the sym_gen contract and binding --------------------------------------------------------

def test_default_bucket_key_is_required():
    with pytest.raises(AssertionError, match="default_bucket_key"):
        mx.mod.BucketingModule(mean_fc_sym_gen)


def test_bind_binds_only_the_default_bucket():
    mod = mx.mod.BucketingModule(mean_fc_sym_gen, default_bucket_key=10)
    assert not mod.binded and mod.bucket_keys == []
    assert mod.data_names == ["data"] and mod.label_names == ["softmax_label"]
    assert mod.output_names == ["softmax_output"]
    mod.bind(data_shapes=[("data", (B, 10, D))], label_shapes=[("softmax_label", (B,))])
    assert mod.binded and mod.bucket_keys == [10]
    assert [tuple(d.shape) for d in mod.data_shapes] == [(B, 10, D)]
    assert mod.output_shapes == [("softmax_output", (B, K))]
    assert mod.symbol is mod.get_bucket_module(10).symbol


def test_unbound_module_says_bind_first():
    mod = mx.mod.BucketingModule(mean_fc_sym_gen, default_bucket_key=10)
    with pytest.raises(AssertionError, match="bind"):
        mod.init_params()
    with pytest.raises(AssertionError, match="bind"):
        mod.switch_bucket(4, [("data", (B, 4, D))])


def test_sym_gen_must_return_symbol_and_names():
    with pytest.raises(mx.MXNetError, match=r"sym_gen\(10\) must return"):
        mx.mod.BucketingModule(lambda key: mean_fc_sym_gen(key)[0], default_bucket_key=10)


def test_sym_gen_names_must_be_symbol_arguments():
    def sym_gen(key):
        return mean_fc_sym_gen(key)[0], ("inputs",), ("softmax_label",)
    with pytest.raises(ValueError, match="inputs"):
        mx.mod.BucketingModule(sym_gen, default_bucket_key=10)


def test_switch_bucket_binds_against_default_then_reuses():
    mod = fc_module()
    default = mod.get_bucket_module(10)
    mod.switch_bucket(4, [("data", (B, 4, D))], [("softmax_label", (B,))])
    small = mod.get_bucket_module(4)
    assert mod.bucket_keys == [10, 4] and small is not default
    assert [tuple(d.shape) for d in mod.data_shapes] == [(B, 4, D)]
    mod.switch_bucket(10, [("data", (B, 10, D))], [("softmax_label", (B,))])
    mod.switch_bucket(4, [("data", (B, 4, D))], [("softmax_label", (B,))])
    assert mod.get_bucket_module(4) is small and mod.bucket_keys == [10, 4]


def test_forward_switches_on_bucket_key_and_prepare_only_binds():
    mod = fc_module()
    mod.forward(fc_batch(7), is_train=False)
    assert mod.symbol is mod.get_bucket_module(7).symbol
    assert mod.get_outputs()[0].shape == (B, K)
    mod.prepare(fc_batch(3))
    assert mod.bucket_keys == [10, 7, 3]
    assert mod.symbol is mod.get_bucket_module(7).symbol
    unkeyed = fc_batch(10)
    unkeyed.bucket_key = None
    mod.forward(unkeyed, is_train=False)  # bucket None, as in MXNet: sym_gen(None) is called
    assert mod.bucket_keys == [10, 7, 3, None]
    assert mod.symbol is mod.get_bucket_module(None).symbol


def test_symbol_is_the_current_buckets():
    mod = lm_module()
    mod.forward(lm_batch(4), is_train=False)
    assert mod.symbol is mod.get_bucket_module(4).symbol
    assert mod.symbol.tojson() != mod.get_bucket_module(6).symbol.tojson()
    assert mod.symbol.list_arguments() == mod.get_bucket_module(6).symbol.list_arguments()
    assert mod.get_outputs()[0].shape == (fx.BATCH * 4, fx.VOCAB)


# -- parameters, optimizer, computation ------------------------------------------------------

def test_get_params_copies_and_set_params_reaches_every_bucket():
    mod = fc_module()
    mod.forward(fc_batch(4), is_train=False)
    args, aux = mod.get_params()
    assert aux == {} and sorted(args) == ["fc_bias", "fc_weight"]
    args["fc_weight"][:] = 0
    assert np.abs(mod.get_params()[0]["fc_weight"].asnumpy()).sum() > 0
    new = {"fc_weight": mx.nd.ones((K, D)), "fc_bias": mx.nd.full((K,), 0.5)}
    mod.set_params(new, {})
    for key in (10, 4):
        got = mod.get_bucket_module(key).get_params()[0]
        np.testing.assert_array_equal(got["fc_weight"].asnumpy(), np.ones((K, D)))
        np.testing.assert_array_equal(got["fc_bias"].asnumpy(), np.full((K,), 0.5))


def test_init_params_twice_needs_force_init():
    mod = fc_module()
    before = mod.get_params()[0]["fc_weight"].asnumpy()
    mod.init_params(mx.init.Zero())
    np.testing.assert_array_equal(mod.get_params()[0]["fc_weight"].asnumpy(), before)
    mod.init_params(mx.init.Zero(), force_init=True)
    assert not mod.get_params()[0]["fc_weight"].asnumpy().any()


def test_set_params_rejects_wrong_shape_and_leaves_params():
    mod = fc_module()
    before = mod.get_params()[0]
    with pytest.raises((ValueError, mx.MXNetError), match=r"fc_weight.*\(6, 3\)"):
        mod.set_params({"fc_weight": mx.nd.ones((K + 1, D)), "fc_bias": mx.nd.ones((K,))}, {})
    np.testing.assert_array_equal(mod.get_params()[0]["fc_bias"].asnumpy(),
                                  before["fc_bias"].asnumpy())


def test_one_optimizer_for_all_buckets():
    """Momentum from an update under bucket 10 carries into the next update under bucket 4
    (bound after init_optimizer), as with one optimizer."""
    lr, momentum = 0.1, 0.9
    mod = fc_module()
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": lr,
                                                          "momentum": momentum})
    w0 = mod.get_params()[0]["fc_weight"].asnumpy()
    mod.forward_backward(fc_batch(10))
    g1 = mod.get_grads()["fc_weight"].asnumpy()
    mod.update()
    mod.forward_backward(fc_batch(4))
    g2 = mod.get_grads()["fc_weight"].asnumpy()
    mod.update()
    mom1 = -lr * g1 / B
    mom2 = momentum * mom1 - lr * g2 / B
    np.testing.assert_allclose(mod.get_params()[0]["fc_weight"].asnumpy(), w0 + mom1 + mom2,
                               rtol=1e-6, atol=1e-6)
    assert mod.optimizer_initialized and mod.get_bucket_module(4).optimizer_initialized


def test_update_needs_init_optimizer():
    mod = fc_module()
    mod.forward_backward(fc_batch(4))
    with pytest.raises(AssertionError, match="init_optimizer"):
        mod.update()


def test_update_under_one_bucket_is_seen_by_all():
    mod = fc_module()
    mod.init_optimizer(optimizer_params={"learning_rate": 1.0})
    mod.forward(fc_batch(4), is_train=False)
    before = mod.get_params()[0]["fc_weight"].asnumpy()
    mod.forward_backward(fc_batch(4))
    mod.update()
    after = mod.get_params()[0]["fc_weight"].asnumpy()
    assert np.abs(after - before).max() > 1e-4
    for key in (10, 4):
        np.testing.assert_array_equal(
            mod.get_bucket_module(key).get_params()[0]["fc_weight"].asnumpy(), after)
    ref = mx.mod.Module(mean_fc_sym_gen(10)[0])
    ref.bind([("data", (B, 10, D))], [("softmax_label", (B,))], for_training=False)
    ref.set_params(*mod.get_params())
    ref.forward(fc_batch(10), is_train=False)
    mod.forward(fc_batch(10), is_train=False)
    np.testing.assert_array_equal(mod.get_outputs()[0].asnumpy(), ref.get_outputs()[0].asnumpy())


def _torch_mean_fc(data, weight, bias, label):
    """The mean-FC-softmax model in plain torch: returns probabilities and the input grad that
    SoftmaxOutput's backward (p - onehot) implies."""
    data = data.clone().requires_grad_(True)
    logits = data.mean(1) @ weight.T + bias
    prob = torch.softmax(logits, -1)
    loss = -torch.log_softmax(logits, -1)[torch.arange(len(label)), label.long()].sum()
    loss.backward()
    return prob.detach(), data.grad


def test_get_outputs_and_input_grads_match_torch_autograd():
    mod = fc_module(inputs_need_grad=True)
    for key in (4, 10, 6):
        batch = fc_batch(key)
        mod.forward_backward(batch)
        args = mod.get_params()[0]
        prob, dx = _torch_mean_fc(batch.data[0].tensor, args["fc_weight"].tensor,
                                  args["fc_bias"].tensor, batch.label[0].tensor)
        np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), prob.numpy(), atol=1e-6)
        (grad,) = mod.get_input_grads()
        assert grad.shape == (B, key, D)
        np.testing.assert_allclose(grad.asnumpy(), dx.numpy(), atol=1e-6)


def test_get_input_grads_needs_inputs_need_grad():
    mod = fc_module()
    mod.forward_backward(fc_batch(4))
    with pytest.raises(AssertionError, match="inputs_need_grad"):
        mod.get_input_grads()


def test_update_metric_uses_the_current_buckets_outputs():
    mod = fc_module()
    metric = mx.metric.CrossEntropy()
    expected = []
    for key in (4, 10, 7):
        batch = fc_batch(key)
        mod.forward(batch, is_train=False)
        mod.update_metric(metric, batch.label)
        prob = mod.get_outputs()[0].asnumpy()
        label = batch.label[0].asnumpy().astype(int)
        expected.extend(-np.log(prob[np.arange(B), label] + 1e-12))
    assert metric.num_inst == 3 * B
    np.testing.assert_allclose(metric.get()[1], np.mean(expected), rtol=1e-5)


def _state_sym_gen(seq_len):
    data, h0 = mx.sym.Variable("data"), mx.sym.Variable("h0")
    fc = mx.sym.FullyConnected(mx.sym.mean(data, axis=1) + h0, num_hidden=K, name="fc")
    return mx.sym.SoftmaxOutput(fc, name="softmax"), ("data",), ("softmax_label",)


def test_get_and_set_states_across_buckets():
    mod = mx.mod.BucketingModule(_state_sym_gen, default_bucket_key=10, state_names=["h0"])
    mod.bind(data_shapes=[("data", (B, 10, D))], label_shapes=[("softmax_label", (B,))])
    mod.init_params(mx.init.Xavier())
    mod.set_states(value=0.0)
    mod.forward(fc_batch(4), is_train=False)
    zero_out = mod.get_outputs()[0].asnumpy()
    state = np.arange(B * D, dtype=np.float32).reshape(B, D)
    mod.set_states(states=[[mx.nd.array(state)]])
    np.testing.assert_array_equal(mod.get_states()[0].asnumpy(), state)
    mod.forward(fc_batch(4), is_train=False)
    assert np.abs(mod.get_outputs()[0].asnumpy() - zero_out).max() > 1e-3
    mod.set_states(value=1.5)
    np.testing.assert_array_equal(mod.get_states()[0].asnumpy(), np.full((B, D), 1.5))
    with pytest.raises(ValueError, match="exactly one"):
        mod.set_states()


def test_install_monitor_covers_buckets_bound_later():
    mod = fc_module()
    mon = mx.mon.Monitor(1, pattern="fc.*")
    mod.install_monitor(mon)
    mod.forward(fc_batch(10), is_train=False)
    mon.tic()
    mod.forward(fc_batch(4), is_train=False)
    stats = mon.toc()
    assert len(mon.exes) == 2
    assert "fc_output" in {name for _, name, _ in stats}


def test_grad_req_is_applied_to_every_bucket():
    mod = fc_module(grad_req={"fc_weight": "write", "fc_bias": "null"})
    mod.init_optimizer(optimizer_params={"learning_rate": 1.0})
    bias = mod.get_params()[0]["fc_bias"].asnumpy()
    for key in (4, 10, 6):
        mod.forward_backward(fc_batch(key))
        mod.update()
        assert sorted(mod.get_grads()) == ["fc_weight"]
    np.testing.assert_array_equal(mod.get_params()[0]["fc_bias"].asnumpy(), bias)


def test_grad_req_add_accumulates_across_a_bucket_switch():
    """The LM's gradient after backward under bucket 6 then 4 with grad_req='add' is the sum of
    the two 'write' gradients: the buckets share gradient memory."""
    single = {}
    mod = lm_module()
    start = mod.get_params()
    for key in (6, 4):
        mod.forward_backward(lm_batch(key))
        single[key] = {n: g.asnumpy().copy() for n, g in mod.get_grads().items()}
    acc = fx.new_module(mx, cells=False)
    acc.bind(data_shapes=[("data", (fx.BATCH, 6))], label_shapes=[("softmax_label", (fx.BATCH, 6))],
             grad_req="add", force_rebind=True)
    acc.set_params(*start)
    for grad in acc.get_grads().values():
        grad[:] = 0
    for key in (6, 4):
        acc.forward_backward(lm_batch(key))
    for name, grad in acc.get_grads().items():
        np.testing.assert_allclose(grad.asnumpy(), single[6][name] + single[4][name],
                                   rtol=1e-5, atol=1e-6, err_msg=name)


# -- invariants ------------------------------------------------------------------------------

def test_every_bucket_holds_the_same_parameter_and_gradient_tensors():
    mod = lm_module()
    for key in (4, 2, 5):
        mod.forward_backward(lm_batch(key))
    default = mod.get_bucket_module(6)
    args, _ = default.get_param_arrays()
    assert sorted(args) == sorted(fx.param_shapes())
    for key in mod.bucket_keys:
        module = mod.get_bucket_module(key)
        assert ptrs(module.get_param_arrays()[0]) == ptrs(args)
        assert ptrs(module.get_grads()) == ptrs(default.get_grads())
        assert all(module.get_param_arrays()[0][n] is args[n] for n in args)


def test_default_bucket_bytes_unchanged_by_switching_and_delete():
    """MXNet's test_module_switch_bucket: switching to a smaller bucket and back, and deleting
    and rebinding a bucket, leave the default bucket's bytes as they were; smaller buckets
    allocate nothing of their own."""
    mod = lm_module()
    default_bytes = mod.get_bucket_module(6)._total_exec_bytes
    assert default_bytes > 0 and mod._total_exec_bytes == default_bytes
    mod.forward_backward(lm_batch(4))
    mod.forward_backward(lm_batch(6))
    assert mod.get_bucket_module(6)._total_exec_bytes == default_bytes
    assert mod._total_exec_bytes == default_bytes
    mod.delete_bucket(4)
    assert mod.bucket_keys == [6]
    with pytest.raises(KeyError):
        mod.get_bucket_module(4)
    mod.forward_backward(lm_batch(4))
    assert mod.bucket_keys == [6, 4]
    assert mod.get_bucket_module(6)._total_exec_bytes == default_bytes
    assert mod._total_exec_bytes == default_bytes
    with pytest.raises(ValueError, match="default bucket"):
        mod.delete_bucket(6)


def test_deleting_the_current_bucket_falls_back_to_default():
    mod = fc_module()
    mod.forward(fc_batch(4), is_train=False)
    mod.delete_bucket(4)
    assert mod.symbol is mod.get_bucket_module(10).symbol


def test_bucket_larger_than_default_allocates_only_its_extra_inputs():
    mod = fc_module(default_key=4)
    before = mod._total_exec_bytes
    mod.forward(fc_batch(9), is_train=False)
    assert mod._total_exec_bytes == before + B * 9 * D * 4
    assert ptrs(mod.get_bucket_module(9).get_param_arrays()[0]) == \
        ptrs(mod.get_bucket_module(4).get_param_arrays()[0])


def _live_objects():
    """(python objects by type, distinct torch storages and their bytes) after a collection."""
    gc.collect()
    objects = gc.get_objects()
    storages = {}
    for obj in objects:
        if issubclass(type(obj), torch.Tensor):
            storage = obj.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
    return len(objects), len(storages), sum(storages.values())


def test_memory_flat_over_hundreds_of_switches():
    """After every one of 10 buckets is bound, 270 random switches (forward, backward, update
    each) allocate no executor memory, keep no tensor alive, and leave the python heap flat: a
    leak of one small object per switch would exceed either bound."""
    keys = list(range(1, 11))
    mod = fc_module(default_key=10)
    mod.init_optimizer(optimizer_params={"learning_rate": 0.01})
    order = np.random.RandomState(0).choice(keys, size=300)

    def run(sequence):
        for key in sequence:
            mod.forward_backward(fc_batch(int(key)))
            mod.update()

    run(keys)
    exec_bytes = mod._total_exec_bytes
    assert exec_bytes == mod.get_bucket_module(10)._total_exec_bytes
    tracemalloc.start()
    try:
        run(order[:30])
        objects, storages, storage_bytes = _live_objects()
        heap = tracemalloc.get_traced_memory()[0]
        run(order[30:])
        after = _live_objects()
        grown = tracemalloc.get_traced_memory()[0] - heap
    finally:
        tracemalloc.stop()
    assert mod.bucket_keys == [10] + keys[:-1]
    assert mod._total_exec_bytes == exec_bytes
    assert after[1:] == (storages, storage_bytes)
    assert after[0] - objects < 100, f"{after[0] - objects} more python objects"
    assert grown < 64 * 1024, f"python heap grew {grown} bytes over 270 switches"


def test_automatic_names_agree_between_buckets():
    def sym_gen(seq_len):
        data = mx.sym.Variable("data")
        embed = mx.sym.Embedding(data, input_dim=fx.VOCAB, output_dim=4)
        steps = mx.sym.SliceChannel(embed, num_outputs=seq_len, axis=1, squeeze_axis=True)
        total = mx.sym.Activation(steps[0], act_type="tanh")
        for t in range(1, seq_len):
            total = total + mx.sym.Activation(steps[t], act_type="tanh")
        fc = mx.sym.FullyConnected(total, num_hidden=K)
        return mx.sym.SoftmaxOutput(fc, name="softmax"), ("data",), ("softmax_label",)

    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=6)
    mod.bind(data_shapes=[("data", (B, 6))], label_shapes=[("softmax_label", (B,))])
    mod.init_params(mx.init.Xavier())
    batch = mx.io.DataBatch([mx.nd.ones((B, 3))], [mx.nd.zeros((B,))], bucket_key=3,
                            provide_data=[mx.io.DataDesc("data", (B, 3))],
                            provide_label=[mx.io.DataDesc("softmax_label", (B,))])
    mod.forward(batch, is_train=False)
    names = ["embedding0_weight", "fullyconnected0_bias", "fullyconnected0_weight"]
    for key in (6, 3):
        assert sorted(mod.get_bucket_module(key).get_param_arrays()[0]) == names
    assert ptrs(mod.get_bucket_module(3).get_param_arrays()[0]) == \
        ptrs(mod.get_bucket_module(6).get_param_arrays()[0])


# -- errors name the bucket key, and leave the module as it was --------------------------------

def _failing_sym_gen(seq_len):
    if seq_len == 99:
        raise KeyError("no such bucket")
    if seq_len == 3:
        return mean_fc_sym_gen(seq_len)[0], ("data",), ("other_label",)
    if seq_len == 2:
        data = mx.sym.Variable("data")
        fc = mx.sym.FullyConnected(mx.sym.mean(data, axis=1), num_hidden=K + 2, name="fc")
        return mx.sym.SoftmaxOutput(fc, name="softmax"), ("data",), ("softmax_label",)
    return mean_fc_sym_gen(seq_len)


def _assert_unchanged(mod, keys, current):
    assert mod.bucket_keys == keys
    assert mod.symbol is mod.get_bucket_module(current).symbol
    mod.forward(fc_batch(current), is_train=False)


def test_key_sym_gen_cannot_build_is_named():
    mod = fc_module(sym_gen=_failing_sym_gen)
    mod.forward(fc_batch(4), is_train=False)
    with pytest.raises(mx.MXNetError, match="bucket 99.*no such bucket"):
        mod.forward(fc_batch(99), is_train=False)
    _assert_unchanged(mod, [10, 4], 4)


def test_names_disagreeing_with_the_batch_name_the_key():
    mod = fc_module(sym_gen=_failing_sym_gen)
    with pytest.warns(UserWarning, match="other_label"), \
            pytest.raises(ValueError, match="bucket 3.*other_label"):
        mod.forward(fc_batch(3), is_train=False)
    _assert_unchanged(mod, [10], 10)
    wrong = fc_batch(5)
    wrong.provide_data = [mx.io.DataDesc("x", (B, 5, D))]
    with pytest.raises(ValueError, match="bucket 5.*'x'"):
        mod.forward(wrong, is_train=False)
    _assert_unchanged(mod, [10], 10)


def test_parameter_shape_differing_between_buckets_is_named():
    mod = fc_module(sym_gen=_failing_sym_gen)
    with pytest.raises(mx.MXNetError, match="bucket 2.*fc_weight"):
        mod.forward(fc_batch(2), is_train=False)
    _assert_unchanged(mod, [10], 10)


# -- convergence: Triton kernels (interpreted on the CPU) against the torch references --------

CONV_VOCAB, CONV_EMBED, CONV_HIDDEN, CONV_BATCH = 50, 16, 32, 4
CONV_KEYS = (10, 5) * 3
CONV_BUDGET_S = 20.0


def _conv_sym_gen(seq_len):
    import bucketmod.rnn  # noqa: F401  (mx.rnn)
    data, label = mx.sym.Variable("data"), mx.sym.Variable("softmax_label")
    embed = mx.sym.Embedding(data, input_dim=CONV_VOCAB, output_dim=CONV_EMBED, name="embed")
    cell = mx.rnn.LSTMCell(num_hidden=CONV_HIDDEN, prefix="lstm_l0_")
    outputs, _ = cell.unroll(seq_len, inputs=embed, merge_outputs=True)
    pred = mx.sym.FullyConnected(mx.sym.Reshape(outputs, shape=(-1, CONV_HIDDEN)),
                                 num_hidden=CONV_VOCAB, name="pred")
    return (mx.sym.SoftmaxOutput(pred, mx.sym.Reshape(label, shape=(-1,)), name="softmax"),
            ("data",), ("softmax_label",))


def _conv_train(init, deadline=None):
    """Losses per step and final params of the LM trained over CONV_KEYS from `init`."""
    mod = mx.mod.BucketingModule(_conv_sym_gen, default_bucket_key=10)
    mod.bind(data_shapes=[("data", (CONV_BATCH, 10))],
             label_shapes=[("softmax_label", (CONV_BATCH, 10))])
    mod.set_params(init, {})
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5, "momentum": 0.9})
    rng = np.random.RandomState(3)
    seqs = {key: rng.randint(0, CONV_VOCAB, size=(CONV_BATCH, key + 1)).astype(np.float32)
            for key in set(CONV_KEYS)}
    losses = []
    for step, key in enumerate(CONV_KEYS):
        batch = fx.make_batch(mx, key, seqs[key][:, :-1], seqs[key][:, 1:])
        metric = mx.metric.CrossEntropy()
        mod.forward_backward(batch)
        mod.update_metric(metric, batch.label)
        mod.update()
        losses.append(metric.get()[1])
        if deadline is not None and step == 0 and deadline(step + 1):
            pytest.skip(f"Triton interpreter too slow here for {len(CONV_KEYS)} steps within "
                        f"{CONV_BUDGET_S:.0f} s")
    return np.array(losses), {n: a.asnumpy() for n, a in mod.get_params()[0].items()}


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_convergence_triton_matches_torch_reference(monkeypatch):
    """A tiny bucketed LSTM LM, fitting one batch per bucket, trained twice from the same init
    and batches: once on the torch references, once on the Triton kernels."""
    import time

    from bucketmod import backend
    from bucketmod.ops import _triton_path
    pytest.importorskip("bucketmod.rnn")
    probe = mx.mod.BucketingModule(_conv_sym_gen, default_bucket_key=10)
    probe.bind(data_shapes=[("data", (CONV_BATCH, 10))],
               label_shapes=[("softmax_label", (CONV_BATCH, 10))])
    mx.random.seed(42)
    probe.init_params(mx.init.Xavier())
    init = probe.get_params()[0]
    with backend.backend("torch"):
        ref_losses, ref_params = _conv_train(init)
    assert ref_losses[-1] < 0.9 * ref_losses[0], f"reference did not learn: {ref_losses}"

    chosen = []
    plain = _triton_path.use_triton
    monkeypatch.setattr(_triton_path, "use_triton", lambda t: chosen.append(plain(t)) or
                        chosen[-1])
    began = time.perf_counter()

    def too_slow(steps_done):
        spent = time.perf_counter() - began
        return spent / steps_done * len(CONV_KEYS) > CONV_BUDGET_S

    with backend.backend("triton"):
        losses, params = _conv_train(init, deadline=too_slow)
    assert any(chosen), "the Triton path was never taken"
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4, atol=1e-5)
    for name, value in ref_params.items():
        np.testing.assert_allclose(params[name], value, rtol=1e-4, atol=1e-5, err_msg=name)


def _row_blocks_at_small_sizes(monkeypatch):
    """The output layer's GEMMs in row blocks (gemm.py) at the tiny LM's sizes: 4-row blocks on
    oneDNN, whatever their size, so that every bucket has full blocks and a padded one."""
    from bucketmod.ops import gemm
    if gemm._onednn_linear() is False:
        pytest.skip("this torch has no oneDNN linear")
    monkeypatch.setattr(gemm, "ROW_BLOCK", 4)
    monkeypatch.setattr(gemm, "ONEDNN_MIN_MACS", 1)


@pytest.mark.parametrize("row_blocks", [False, True], ids=["one-gemm", "row-blocks"])
def test_fc_passes_train_the_lm_as_the_unfused_graph(monkeypatch, row_blocks):
    """With the output layer fused (FC + SoftmaxOutput as one node), the tiny LM trains as the
    unfused graph does: outputs, gradients, parameters and perplexity at every step over
    buckets 6, 4, 4, 6 (SGD with momentum and weight decay); also with the fused layer's
    GEMMs in row blocks, its probabilities written into the buckets' shared output arena."""
    if row_blocks:
        _row_blocks_at_small_sizes(monkeypatch)
    from bucketmod.symbol import passes
    from bucketmod.symbol.graph import topo_order
    sym, _, _ = fx.lm_sym_gen(mx)(4)
    assert "_fused_fc_softmax_output" in [n.op.name for n in topo_order(
        passes.optimize(sym._outputs)) if n.op is not None]
    everything = list(passes.PASSES)
    records = []
    for fc_passes in (True, False):
        monkeypatch.setattr(passes, "PASSES", [(name, rewrite) for name, rewrite in everything
                                               if fc_passes or not name.startswith("fc_")])
        mod = fx.new_module(mx)
        mod.set_params({k: mx.nd.array(v) for k, v in fx.initial_params().items()}, {})
        records.append(fx.train(mx, mod, lambda m: {
            name: grad.asnumpy() for name, grad in m.get_grads().items()}))
    assert records[0].keys() == records[1].keys()
    for name, value in records[1].items():
        np.testing.assert_allclose(records[0][name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def test_buckets_write_the_output_layer_into_one_arena(monkeypatch):
    """Where the fused output layer runs in row blocks, every bucket's probabilities lie in
    the memory of the first bucket that needed that many (the default, the largest), and each
    forward's output is its own bucket's: the same as the layer computed in one GEMM."""
    from bucketmod.ops import gemm
    _row_blocks_at_small_sizes(monkeypatch)
    mod = fx.new_module(mx)
    mod.set_params({k: mx.nd.array(v) for k, v in fx.initial_params().items()}, {})
    runs = []
    for key, data, label in fx.batches():
        mod.forward(fx.make_batch(mx, key, data, label), is_train=False)
        out = mod.get_outputs()[0]
        runs.append((out.tensor.data_ptr(), out.asnumpy()))
    assert len({ptr for ptr, _ in runs}) == 1
    monkeypatch.setattr(gemm, "ONEDNN_MIN_MACS", float("inf"))
    reference = fx.new_module(mx)
    reference.set_params({k: mx.nd.array(v) for k, v in fx.initial_params().items()}, {})
    for (key, data, label), (_, got) in zip(fx.batches(), runs):
        reference.forward(fx.make_batch(mx, key, data, label), is_train=False)
        np.testing.assert_allclose(got, reference.get_outputs()[0].asnumpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=f"bucket {key}")


def test_backward_reading_an_output_a_shared_forward_overwrote_raises(monkeypatch):
    """Two executors sharing memory: the first one's backward after the second one's forward
    would read the second one's probabilities; it raises and the next forward/backward of
    the first one runs as usual."""
    _row_blocks_at_small_sizes(monkeypatch)
    sym = fx.lm_sym_gen(mx)(6)[0]
    shapes = dict(data=(fx.BATCH, 6), softmax_label=(fx.BATCH, 6))
    first = sym.simple_bind(mx.cpu(), **shapes)
    second = sym.simple_bind(mx.cpu(), shared_exec=first, **shapes)
    for exe in (first, second):
        for name, arr in exe.arg_dict.items():
            arr[:] = np.random.RandomState(len(name)).randint(1, fx.VOCAB, arr.shape) \
                if name in shapes else np.random.RandomState(0).randn(*arr.shape) * 0.1
    first.forward(is_train=True)
    second.forward(is_train=True)
    with pytest.raises(mx.base.MXNetError, match="overwritten by a later forward"):
        first.backward()
    first.forward(is_train=True)
    first.backward()
    assert np.isfinite(first.grad_dict["pred_weight"].asnumpy()).all()


def test_two_output_layers_of_one_name_keep_their_own_arena_buffers(monkeypatch):
    """Two fused output layers whose nodes share a name still write separate buffers."""
    _row_blocks_at_small_sizes(monkeypatch)
    data, label = mx.sym.Variable("data"), mx.sym.Variable("softmax_label")
    heads = [mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=5, name=f"fc{k}"),
                                  label, name="softmax") for k in range(2)]
    exe = mx.sym.Group(heads).simple_bind(mx.cpu(), data=(6, 4), softmax_label=(6,))
    assert [n.op.name for n in exe._program.nodes] == ["_fused_fc_softmax_output"] * 2
    for name, arr in exe.arg_dict.items():
        arr[:] = np.random.RandomState(len(name)).randint(0, 5, arr.shape) \
            if name == "softmax_label" else np.random.RandomState(len(name)).randn(*arr.shape)
    exe.forward(is_train=True)
    exe.backward()
    x = exe.arg_dict["data"].asnumpy()
    for k, out in enumerate(exe.outputs):
        logits = x @ exe.arg_dict[f"fc{k}_weight"].asnumpy().T + \
            exe.arg_dict[f"fc{k}_bias"].asnumpy()
        expected = np.exp(logits - logits.max(1, keepdims=True))
        np.testing.assert_allclose(out.asnumpy(), expected / expected.sum(1, keepdims=True),
                                   rtol=1e-5, atol=1e-6, err_msg=f"output {k}")


def test_a_bound_bucket_drops_its_symbols_binding_caches():
    """Each bucket's symbol stays; the shapes inferred to bind it and the nodes' name lists
    go (they are made again on demand), and the bucket still runs and answers."""
    mod = lm_module()
    mod.forward(lm_batch(4), is_train=False)
    before = mod.get_outputs()[0].asnumpy()
    symbol = mod._buckets[4].symbol
    assert symbol._shapes_cache is None
    assert all(node._names_cache is None for node in symbol._nodes()[0])
    assert symbol.list_outputs() == ["softmax_output"]
    assert symbol.infer_shape(data=(fx.BATCH, 4), softmax_label=(fx.BATCH, 4))[1] == [
        (fx.BATCH * 4, fx.VOCAB)]
    mod.forward(lm_batch(4), is_train=False)
    np.testing.assert_array_equal(mod.get_outputs()[0].asnumpy(), before)
