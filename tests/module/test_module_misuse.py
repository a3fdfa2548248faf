"""Module misuse gets MXNet 1.9.1's answer (tests/golden/data/module/misuse.json, made by
tests/golden/make_misuse.py) instead of a silently wrong result, and optimizer states are
checked when a module loads them, never overriding the optimizer the user gave."""
import importlib.util
import json
import os
import warnings

import numpy as np
import pytest

import bucketmod as mx
from bucketmod.optimizer.states import OptimizerStatesError

_GOLDEN = os.path.join(os.path.dirname(__file__), "..", "golden")
_spec = importlib.util.spec_from_file_location("make_misuse",
                                               os.path.join(_GOLDEN, "make_misuse.py"))
make_misuse = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_misuse)
with open(os.path.join(_GOLDEN, "data", "module", "misuse.json")) as _f:
    MXNET = json.load(_f)
B, D = make_misuse.B, make_misuse.D


def test_bucket_with_foreign_parameter_names_is_refused_at_bind():
    assert MXNET["foreign_bucket_params"] == "RuntimeError"
    assert make_misuse.foreign_bucket_params(mx) == "MXNetError"
    mod = make_misuse.bucketing(mx, make_misuse.fc_sym_gen(mx))
    with pytest.raises(RuntimeError, match=r"bucket 5: .*\['fc1_weight', 'fc1_bias'\] are not "
                                           r"parameters of the shared module"):
        mod.switch_bucket(5, [("data", (B, D))], [("softmax_label", (B,))])
    assert mod.bucket_keys == [10]
    mod.forward(make_misuse.batch(mx, 10), is_train=False)
    assert sorted(mod.get_params()[0]) == ["fc0_bias", "fc0_weight"]


@pytest.mark.parametrize("for_training", [True, False])
def test_bind_without_label_shapes_warns_as_mxnet(for_training):
    key = f"bind_without_labels_{'training' if for_training else 'inference'}"
    assert make_misuse.bind_without_labels(mx, for_training) == MXNET[key]
    mod = mx.mod.Module(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2),
                        label_names=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mod.bind([("data", (B, D))], for_training=for_training)


def test_get_outputs_before_forward_are_zeros_of_the_bound_shapes():
    assert make_misuse.outputs_before_forward(mx) == MXNET["outputs_before_forward"]
    mod = make_misuse.plain_module(mx)
    mod.bind([("data", (B, D))], [("softmax_label", (B,))])
    mod.init_params()
    (out,) = mod.get_outputs()
    np.testing.assert_array_equal(out.asnumpy(), np.zeros((B, make_misuse.K), np.float32))
    metric = mx.metric.create("acc")
    mod.update_metric(metric, [mx.nd.zeros((B,))])
    assert metric.get()[1] == 1.0


def test_multi_context_outputs_before_forward():
    mod = mx.mod.Module(make_misuse.fc_sym_gen(mx)(10)[0], context=[mx.cpu(0), mx.cpu(1)])
    mod.bind([("data", (4, D))], [("softmax_label", (4,))])
    mod.init_params()
    assert mod.get_outputs()[0].shape == (4, make_misuse.K)
    assert [o[0].shape for o in mod.get_outputs(merge_multi_context=False)] == [
        (2, make_misuse.K)]


def test_batch_without_bucket_key_is_bucket_none_as_in_mxnet():
    assert MXNET["bucket_key_none_sym_gen_calls"] == [10, 10, None]
    assert make_misuse.bucket_key_none(mx) == [10, 10, None]
    mod = make_misuse.bucketing(mx, make_misuse.fc_sym_gen(mx))
    with pytest.raises(RuntimeError, match="bucket None"):
        mod.forward(make_misuse.batch(mx, None))


# -- optimizer states loaded into a module --------------------------------------------------
def trained_module(optimizer="sgd", params=(("learning_rate", 0.1), ("momentum", 0.9))):
    mod = make_misuse.plain_module(mx)
    mod.bind([("data", (B, D))], [("softmax_label", (B,))])
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer=optimizer, optimizer_params=params)
    mod.forward_backward(make_misuse.batch(mx, None))
    mod.update()
    return mod


def test_corrupt_states_fail_at_module_load_not_at_first_use(tmp_path):
    prefix = str(tmp_path / "m")
    trained_module().save_checkpoint(prefix, 1, save_optimizer_states=True)
    fname = prefix + "-0001.states"
    with open(fname, "r+b") as f:
        raw = bytearray(f.read())
        raw[30] ^= 0xFF
        f.seek(0)
        f.write(raw)
    os.remove(prefix + "-0001.manifest")  # a hand-edited file: no manifest to compare with
    with pytest.raises(OptimizerStatesError, match=r"m-0001\.states"):
        mx.mod.Module.load(prefix, 1, load_optimizer_states=True)


def test_states_that_do_not_fit_the_optimizer_fail_at_init_optimizer(tmp_path):
    prefix = str(tmp_path / "m")
    trained_module().save_checkpoint(prefix, 1, save_optimizer_states=True)  # SGD momentum
    mod = mx.mod.Module.load(prefix, 1, load_optimizer_states=True)
    mod.bind([("data", (B, D))], [("softmax_label", (B,))])
    with pytest.raises(OptimizerStatesError, match=r"fc0_weight .* does not fit Adam: state is "
                                                   r"an array.*expected a sequence of 2"):
        mod.init_optimizer(optimizer="adam")


def test_states_file_never_overrides_the_given_optimizer(tmp_path):
    donor = trained_module(params=(("learning_rate", 0.5), ("momentum", 0.9)))
    fname = str(tmp_path / "dumped.states")
    with open(fname, "wb") as f:
        f.write(donor._updater.get_states(dump_optimizer=True))
    mod = trained_module(params=(("learning_rate", 0.01), ("momentum", 0.9)))
    with pytest.warns(UserWarning, match=r"keeps its own: lr=0.5 \(the module has 0.01\)"):
        mod.load_optimizer_states(fname)
    assert mod._updater.optimizer is mod._optimizer and mod._optimizer.lr == 0.01
    np.testing.assert_array_equal(mod._updater.states[0].asnumpy(),
                                  donor._updater.states[0].asnumpy())
