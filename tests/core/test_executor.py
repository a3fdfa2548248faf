"""Executor: grad_req forms, args/args_grad as lists or dicts, aux states, shared memory,
reshape, copy_params_from, input gradients, and bad input leaving the executor usable."""
import numpy as np
import pytest
import torch

import bucketmod as mx
from bucketmod.base import MXNetError


def _mlp():
    data = mx.sym.Variable("data")
    h = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=4, name="fc1"),
                          act_type="tanh")
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=3, name="fc2"),
                                name="softmax")


def _arrays(sym, seed=0, **shapes):
    arg_shapes, _, _ = sym.infer_shape(**shapes)
    rng = np.random.RandomState(seed)
    return {n: mx.nd.array(rng.randint(0, 3, s) if n.endswith("label") else rng.randn(*s))
            for n, s in zip(sym.list_arguments(), arg_shapes)}


def _reference_grads(args):
    """Gradients of the MLP + SoftmaxOutput by plain torch autograd on the cross entropy."""
    t = {n: a.tensor.clone().requires_grad_(not n.endswith("label")) for n, a in args.items()}
    h = torch.tanh(t["data"] @ t["fc1_weight"].T + t["fc1_bias"])
    logits = h @ t["fc2_weight"].T + t["fc2_bias"]
    loss = torch.nn.functional.cross_entropy(logits, t["softmax_label"].long(),
                                             reduction="sum")
    names = [n for n in args if not n.endswith("label")]
    return dict(zip(names, torch.autograd.grad(loss, [t[n] for n in names])))


@pytest.mark.parametrize("form", ["str", "list", "dict"])
def test_grad_req_forms_write_add_null(form):
    sym = _mlp()
    args = _arrays(sym, data=(5, 6), softmax_label=(5,))
    names = sym.list_arguments()
    wanted = {"data": "null", "fc1_weight": "add", "fc1_bias": "write", "fc2_weight": "write",
              "fc2_bias": "add", "softmax_label": "null"}
    req = {"str": "add", "list": [wanted[n] for n in names], "dict": wanted}[form]
    expected_req = {n: "add" for n in names} if form == "str" else wanted
    grads = {n: mx.nd.ones(a.shape) for n, a in args.items()}
    exe = sym.bind(mx.cpu(), args, args_grad=grads, grad_req=req)
    ref = _reference_grads(args)
    for _ in range(2):
        exe.forward(is_train=True)
        exe.backward()
    for name in names:
        got = exe.grad_dict.get(name)
        if expected_req[name] == "null":
            assert got is None or np.all(got.asnumpy() == 1.0), name
            continue
        want = ref[name].numpy() if name in ref else np.zeros(args[name].shape)
        want = 1.0 + 2 * want if expected_req[name] == "add" else want
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-6, err_msg=name)


def test_args_and_grads_as_lists_match_dicts():
    sym = _mlp()
    args = _arrays(sym, data=(3, 2), softmax_label=(3,))
    names = sym.list_arguments()
    as_list = sym.bind(mx.cpu(), [args[n] for n in names],
                       args_grad=[mx.nd.zeros(args[n].shape) for n in names])
    as_dict = sym.bind(mx.cpu(), args, args_grad={n: mx.nd.zeros(a.shape)
                                                  for n, a in args.items()})
    for exe in (as_list, as_dict):
        exe.forward(is_train=True)
        exe.backward()
    assert as_list.arg_arrays[0] is args["data"]
    for name in names:
        np.testing.assert_array_equal(as_list.grad_dict[name].asnumpy(),
                                      as_dict.grad_dict[name].asnumpy())
    assert list(as_list.output_dict) == ["softmax_output"]


def test_bind_uses_given_arrays_without_copy_and_aux_states():
    data = mx.sym.Variable("data")
    sym = mx.sym.BatchNorm(data, name="bn")
    args = {"data": mx.nd.array(np.random.randn(4, 2)), "bn_gamma": mx.nd.ones((2,)),
            "bn_beta": mx.nd.zeros((2,))}
    aux = [mx.nd.zeros((2,)), mx.nd.ones((2,))]
    exe = sym.bind(mx.cpu(), args, aux_states=aux)
    assert exe.arg_dict["data"].tensor.data_ptr() == args["data"].tensor.data_ptr()
    exe.forward(is_train=True)
    assert exe.aux_arrays[0] is aux[0]
    assert not np.allclose(aux[0].asnumpy(), 0.0)
    with pytest.raises(ValueError, match="bn_moving_var"):
        sym.bind(mx.cpu(), args, aux_states={"bn_moving_mean": mx.nd.zeros((2,))})


def test_inputs_need_grad_through_grad_req_on_data():
    sym = _mlp()
    exe = sym.simple_bind(mx.cpu(), grad_req={"data": "write", "fc1_weight": "write"},
                          data=(4, 5))
    args = _arrays(sym, seed=3, data=(4, 5), softmax_label=(4,))
    exe.copy_params_from({k: v for k, v in args.items()})
    exe.forward(is_train=True)
    exe.backward()
    ref = _reference_grads(exe.arg_dict)
    np.testing.assert_allclose(exe.grad_dict["data"].asnumpy(), ref["data"].numpy(),
                               rtol=1e-5, atol=1e-6)
    assert "fc2_weight" not in exe.grad_dict


def test_shared_exec_shares_params_grads_and_buffers():
    sym = _mlp()
    big = sym.simple_bind(mx.cpu(), data=(8, 6))
    params = [n for n in sym.list_arguments() if n not in ("data", "softmax_label")]
    small = sym.simple_bind(mx.cpu(), data=(3, 6), shared_exec=big, shared_arg_names=params)
    for name in params:
        assert small.arg_dict[name].tensor.data_ptr() == big.arg_dict[name].tensor.data_ptr()
        assert small.grad_dict[name].tensor.data_ptr() == big.grad_dict[name].tensor.data_ptr()
    assert small.arg_dict["data"].tensor.data_ptr() == big.arg_dict["data"].tensor.data_ptr()
    assert small.arg_dict["data"].shape == (3, 6)
    assert small.total_exec_bytes < big.total_exec_bytes
    assert small.total_exec_bytes == 0
    big.arg_dict["fc1_weight"][:] = 0.5
    np.testing.assert_array_equal(small.arg_dict["fc1_weight"].asnumpy(), 0.5)
    larger = sym.simple_bind(mx.cpu(), data=(16, 6), shared_exec=big, shared_arg_names=params)
    assert larger.arg_dict["data"].tensor.data_ptr() != big.arg_dict["data"].tensor.data_ptr()
    assert larger.total_exec_bytes == 2 * (16 * 6 * 4) + 2 * (16 * 4)


def test_reshape_shares_params_and_runs_new_shapes():
    sym = _mlp()
    exe = sym.simple_bind(mx.cpu(), data=(4, 6))
    args = _arrays(sym, seed=2, data=(4, 6), softmax_label=(4,))
    exe.copy_params_from({k: v for k, v in args.items() if k not in ("data", "softmax_label")})
    new = exe.reshape(data=(2, 6), softmax_label=(2,))
    assert new.arg_dict["fc1_weight"].tensor.data_ptr() == \
        exe.arg_dict["fc1_weight"].tensor.data_ptr()
    out = new.forward(data=args["data"][:2])[0]
    np.testing.assert_allclose(out.asnumpy(), exe.forward(data=args["data"])[0].asnumpy()[:2],
                               rtol=1e-6)
    with pytest.raises(MXNetError, match="allow_up_sizing"):
        exe.reshape(data=(9, 6), softmax_label=(9,))
    assert exe.reshape(data=(9, 6), softmax_label=(9,), allow_up_sizing=True
                       ).arg_dict["data"].shape == (9, 6)


def test_seed_data_times_two_example():
    """The seed's `out = data * 2` example at the executor level: (1, 10) then (3, 5)."""
    data = mx.sym.Variable("data")
    out = data * 2
    assert out.name == "_mulscalar0" or out.name.startswith("_mulscalar")
    exe = out.simple_bind(mx.cpu(), grad_req="null", data=(1, 10))
    np.testing.assert_array_equal(exe.forward(data=mx.nd.ones((1, 10)))[0].asnumpy(),
                                  np.full((1, 10), 2.0))
    exe2 = exe.reshape(allow_up_sizing=True, data=(3, 5))
    np.testing.assert_array_equal(exe2.forward(data=mx.nd.ones((3, 5)))[0].asnumpy(),
                                  np.full((3, 5), 2.0))


def test_copy_params_from_checks_names_and_shapes():
    sym = _mlp()
    exe = sym.simple_bind(mx.cpu(), data=(2, 3))
    exe.copy_params_from({"fc1_bias": np.arange(4.0)})
    np.testing.assert_array_equal(exe.arg_dict["fc1_bias"].asnumpy(), np.arange(4.0))
    with pytest.raises(ValueError, match="zzz"):
        exe.copy_params_from({"zzz": mx.nd.ones((1,))})
    exe.copy_params_from({"zzz": mx.nd.ones((1,))}, allow_extra_params=True)
    with pytest.raises(ValueError, match=r"fc1_bias.*\(5,\).*\(4,\)"):
        exe.copy_params_from({"fc1_bias": mx.nd.ones((5,))})


def test_monitor_callback_sees_every_output():
    sym = _mlp()
    exe = sym.simple_bind(mx.cpu(), data=(2, 3))
    seen = []
    exe.set_monitor_callback(lambda name, arr: seen.append(name))
    exe.forward()
    assert seen == ["fc1_output", "activation0_output", "fc2_output", "softmax_output"] or \
        seen[0] == "fc1_output" and seen[-1] == "softmax_output"


# -- bad input --------------------------------------------------------------------------------
def _usable(exe, shape=(2, 3)):
    exe.forward(is_train=True, data=mx.nd.ones(shape))
    exe.backward()
    assert exe.outputs[0].shape == (shape[0], 3)


def test_forward_with_wrong_shape_or_name_raises_and_stays_usable():
    exe = _mlp().simple_bind(mx.cpu(), data=(2, 3))
    with pytest.raises(ValueError, match=r"data.*\(2, 3\).*\(4, 3\)"):
        exe.forward(data=mx.nd.ones((4, 3)))
    with pytest.raises(TypeError, match="foo"):
        exe.forward(foo=mx.nd.ones((2, 3)))
    _usable(exe)


def test_backward_before_training_forward_raises():
    exe = _mlp().simple_bind(mx.cpu(), data=(2, 3))
    with pytest.raises(MXNetError, match="forward"):
        exe.backward()
    exe.forward(is_train=False)
    with pytest.raises(MXNetError, match="forward"):
        exe.backward()
    _usable(exe)


def test_out_grads_of_wrong_number_or_shape_raise():
    data = mx.sym.Variable("data")
    sym = mx.sym.Group([mx.sym.FullyConnected(data, num_hidden=3, name="fc"), data * 3])
    exe = sym.simple_bind(mx.cpu(), data=(2, 4))
    exe.forward(is_train=True)
    with pytest.raises(MXNetError, match="2 outputs"):
        exe.backward([mx.nd.ones((2, 3))])
    with pytest.raises(MXNetError, match=r"out_grads\[1\].*\(2, 5\).*\(2, 4\)"):
        exe.backward([mx.nd.ones((2, 3)), mx.nd.ones((2, 5))])
    with pytest.raises(MXNetError, match="head gradient"):
        exe.backward()
    exe.backward([mx.nd.ones((2, 3)), mx.nd.ones((2, 4))])
    np.testing.assert_allclose(exe.grad_dict["data"].asnumpy(),
                               3 + exe.arg_dict["fc_weight"].asnumpy().sum(0)[None].repeat(2, 0),
                               rtol=1e-6)


def test_bad_binding_arguments():
    sym = _mlp()
    with pytest.raises(ValueError, match="fc1_weight"):
        sym.bind(mx.cpu(), {"data": mx.nd.ones((2, 3))})
    with pytest.raises(ValueError, match="grad_req"):
        sym.simple_bind(mx.cpu(), grad_req="sometimes", data=(2, 3))
    with pytest.raises(ValueError, match="grad_req"):
        sym.simple_bind(mx.cpu(), grad_req=["write"], data=(2, 3))
    with pytest.raises(MXNetError, match="data"):
        sym.simple_bind(mx.cpu())
    args = _arrays(sym, data=(2, 3), softmax_label=(2,))
    args["fc1_weight"] = mx.nd.ones((4, 7))
    with pytest.raises(MXNetError, match=r"fc1.*weight.*\(4, 7\).*\(4, 3\)"):
        sym.bind(mx.cpu(), args)


def test_backend_is_chosen_at_bind():
    """An executor runs the kernels or the references as the switch said when it was bound,
    whatever the switch says later; the switch still decides for new binds and mx.nd."""
    from bucketmod import backend
    calls = []
    mx.operator.register_kernel(
        "marked_copy", reference=lambda x: calls.append("reference") or x * 1.0,
        forward=lambda x: (calls.append("kernel") or x * 1.0, ()))
    x = mx.sym.Variable("x")
    with backend.backend("torch"):
        exe_torch = mx.sym.marked_copy(x).simple_bind(mx.cpu(), x=(2,), grad_req="null")
    with backend.backend("triton"):
        exe_triton = mx.sym.marked_copy(x).simple_bind(mx.cpu(), x=(2,), grad_req="null")
        exe_torch.forward()
        assert calls == ["reference"]
        mx.nd.marked_copy(mx.nd.ones((2,)))
        assert calls == ["reference", "kernel"]
    with backend.backend("torch"):
        exe_triton.forward()
    assert calls == ["reference", "kernel", "kernel"]


# -- constant folding -------------------------------------------------------------------------
def _begin_state_rnn():
    cell = mx.rnn.LSTMCell(num_hidden=3, prefix="l0_")
    outputs, _ = cell.unroll(4, inputs=mx.sym.Variable("data"), merge_outputs=True)
    return outputs


def test_begin_states_are_made_once_at_bind():
    sym = _begin_state_rnn()
    exe = sym.simple_bind(mx.cpu(), data=(2, 4, 5))
    program = exe._program
    assert len(program.constants) == 2  # h and c of the zero begin state
    assert all(step.node.op.name != "_zeros" for step in program.steps)
    first = [t for _, t in program.constants]
    exe.forward(is_train=True, data=mx.nd.ones((2, 4, 5)))
    exe.backward(mx.nd.ones((2, 4, 3)))
    out = exe.outputs[0].asnumpy()
    assert [t for _, t in program.constants] == first and all(not t.any() for t in first)
    exe.forward(is_train=False, data=mx.nd.ones((2, 4, 5)))
    np.testing.assert_array_equal(exe.outputs[0].asnumpy(), out)


def test_monitor_sees_the_begin_states_folded_constants_skip():
    exe = _begin_state_rnn().simple_bind(mx.cpu(), data=(2, 4, 5))
    seen = []
    exe.set_monitor_callback(lambda name, arr: seen.append(name))
    exe.forward(data=mx.nd.ones((2, 4, 5)))
    assert sum("begin_state" in name for name in seen) == 2


def test_constants_written_into_or_returned_are_made_every_run():
    """A `_zeros` that an operator updates in place (an optimizer state) starts from zeros in
    every forward, as in MXNet; one that is an output is a fresh array every time."""
    weight, grad = mx.sym.Variable("weight"), mx.sym.Variable("grad")
    mom = mx.sym.zeros((3,))
    step = mx.sym.sgd_mom_update(weight, grad, mom, lr=0.5, momentum=0.9)
    exe = step.bind(mx.cpu(), {"weight": mx.nd.ones((3,)), "grad": mx.nd.ones((3,))})
    assert not exe._program.constants
    for _ in range(2):
        np.testing.assert_allclose(exe.forward()[0].asnumpy(), 0.5)
    zeros = mx.sym.zeros((2,)).simple_bind(mx.cpu())
    assert not zeros._program.constants
    first = zeros.forward()[0]
    first[:] = 7
    assert not zeros.forward()[0].asnumpy().any()
