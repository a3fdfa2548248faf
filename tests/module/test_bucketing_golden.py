"""BucketingModule against MXNet 1.9.1: a bucketed LSTM LM trained over two buckets, MXNet's
checkpoint layout both ways, and MXNet's grad_req='add' test. Fixtures: make_bucketing.py."""
import importlib.util
import json
import os
import pathlib

import numpy as np
import pytest

import bucketmod as mx

_GOLDEN = pathlib.Path(__file__).resolve().parent.parent / "golden"
DATA = _GOLDEN / "data" / "bucketing"
TOL = 1e-4


def _load_fixture_script():
    spec = importlib.util.spec_from_file_location("make_bucketing",
                                                  _GOLDEN / "make_bucketing.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fx = _load_fixture_script()


def _has_rnn_cells():
    try:
        import bucketmod.rnn
        return hasattr(bucketmod.rnn, "LSTMCell")
    except ImportError:
        return False


SYM_GENS = [pytest.param(False, id="sym-ops"),
            pytest.param(True, id="rnn-cells", marks=pytest.mark.skipif(
                not _has_rnn_cells(), reason="mx.rnn cells are not available"))]


@pytest.fixture(scope="module")
def steps():
    return dict(np.load(DATA / "lm_steps.npz"))


def _close(name, expected, got):
    np.testing.assert_allclose(got, expected, rtol=TOL, atol=TOL, err_msg=name)


def _init_params():
    loaded = mx.nd.load(str(DATA / "lm_init.params"))
    assert sorted(loaded) == sorted(fx.param_shapes())
    return loaded


def _grads(mod):
    return {name: grad.asnumpy() for name, grad in mod.get_grads().items()}


def test_fixture_batches_are_the_scripts(steps):
    for step, (key, data, label) in enumerate(fx.batches()):
        assert int(steps["step%d_key" % step]) == key
        np.testing.assert_array_equal(steps["step%d_data" % step], data)
        np.testing.assert_array_equal(steps["step%d_label" % step], label)


@pytest.mark.parametrize("cells", SYM_GENS)
def test_lm_training_matches_mxnet(steps, cells):
    """Outputs, gradients, updated parameters and perplexity per step, over buckets 6, 4, 4, 6
    (SGD with momentum and weight decay, one optimizer across buckets)."""
    mod = fx.new_module(mx, cells)
    mod.set_params(_init_params(), {})
    record = fx.train(mx, mod, _grads)
    expected_keys = {k for k in steps if not k.endswith(("_key", "_data", "_label"))}
    assert set(record) == expected_keys
    for name in sorted(expected_keys):
        _close(name, steps[name], record[name])
    assert mod.bucket_keys == [6, 4]


def test_load_mxnet_checkpoint():
    """MXNet's own save_checkpoint files load into bucketmod and give MXNet's outputs."""
    mod = mx.mod.BucketingModule.load(str(DATA / "mxnet_lm"), 1, sym_gen=fx.lm_sym_gen(mx, False),
                                      default_bucket_key=fx.DEFAULT_KEY)
    mod.bind(data_shapes=[("data", (fx.BATCH, fx.DEFAULT_KEY))],
             label_shapes=[("softmax_label", (fx.BATCH, fx.DEFAULT_KEY))], for_training=False)
    expected = dict(np.load(DATA / "mxnet_lm_outputs.npz"))
    for name, value in fx.eval_outputs(mx, mod).items():
        _close(name, expected[name], value)


def test_mxnet_checkpoint_symbols_load():
    keys = [int(k) for k in mx.nd.load(str(DATA / "mxnet_lm.buckets"))[0].asnumpy()]
    assert sorted(keys) == sorted(fx.BUCKETS)
    for key in keys:
        sym = mx.sym.load(str(DATA / ("mxnet_lm-%d-symbol.json" % key)))
        ours = fx.lm_sym_gen(mx, False)(key)[0]
        params = set(fx.param_shapes())
        assert params <= set(sym.list_arguments())
        assert sym.list_outputs() == ours.list_outputs()


def _trained_module():
    mod = fx.new_module(mx, False)
    mod.set_params(_init_params(), {})
    fx.train(mx, mod, _grads)
    return mod


def test_save_checkpoint_layout_and_round_trip(tmp_path):
    mod = _trained_module()
    prefix = str(tmp_path / "lm")
    mod.save_checkpoint(prefix, 3)
    names = sorted(os.listdir(tmp_path))
    assert names == ["lm-0003.manifest", "lm-0003.params", "lm-4-symbol.json",
                     "lm-6-symbol.json", "lm.buckets"]
    saved = mx.nd.load(prefix + "-0003.params")
    assert sorted(saved) == sorted("arg:" + n for n in fx.param_shapes())
    assert sorted(int(k) for k in mx.nd.load(prefix + ".buckets")[0].asnumpy()) == [4, 6]
    with open(prefix + "-4-symbol.json") as f:
        assert "nodes" in json.load(f)

    expected = fx.eval_outputs(mx, mod)
    loaded = mx.mod.BucketingModule.load(prefix, 3, sym_gen=fx.lm_sym_gen(mx, False),
                                         default_bucket_key=fx.DEFAULT_KEY)
    loaded.bind(data_shapes=[("data", (fx.BATCH, fx.DEFAULT_KEY))],
                label_shapes=[("softmax_label", (fx.BATCH, fx.DEFAULT_KEY))],
                for_training=False)
    for name, value in fx.eval_outputs(mx, loaded).items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)
    for name, value in mod.get_params()[0].items():
        np.testing.assert_array_equal(loaded.get_params()[0][name].asnumpy(), value.asnumpy())


def test_load_bind_save_keeps_every_bucket(tmp_path):
    """After load + bind every saved bucket is known again: bucket_keys lists it, a new
    checkpoint writes it, and its first batch binds it with its saved symbol (MXNet 1.9.1)."""
    mod = _trained_module()
    first, second = str(tmp_path / "a" / "lm"), str(tmp_path / "b" / "lm")
    os.makedirs(os.path.dirname(first))
    os.makedirs(os.path.dirname(second))
    mod.save_checkpoint(first, 1)
    loaded = mx.mod.BucketingModule.load(first, 1, sym_gen=fx.lm_sym_gen(mx, True),
                                         default_bucket_key=fx.DEFAULT_KEY)
    loaded.bind(data_shapes=[("data", (fx.BATCH, fx.DEFAULT_KEY))],
                label_shapes=[("softmax_label", (fx.BATCH, fx.DEFAULT_KEY))],
                for_training=False)
    assert loaded.bucket_keys == [6, 4]
    loaded.save_checkpoint(second, 1)
    assert sorted(os.listdir(os.path.dirname(second))) == sorted(
        os.listdir(os.path.dirname(first)))
    for key in (4, 6):
        with open(f"{first}-{key}-symbol.json") as a, open(f"{second}-{key}-symbol.json") as b:
            assert json.load(a) == json.load(b)
    assert sorted(int(k) for k in mx.nd.load(second + ".buckets")[0].asnumpy()) == [4, 6]
    expected = fx.eval_outputs(mx, mod)
    for name, value in fx.eval_outputs(mx, loaded).items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)
    with open(f"{first}-4-symbol.json") as f:
        assert json.loads(loaded.get_bucket_module(4).symbol.tojson()) == json.load(f)


def test_a_bucket_added_by_a_later_save_keeps_earlier_epochs_loadable(tmp_path):
    mod = fx.new_module(mx, False)
    mod.set_params(_init_params(), {})
    prefix = str(tmp_path / "lm")
    mod.save_checkpoint(prefix, 1)
    mod.switch_bucket(4, [("data", (fx.BATCH, 4))], [("softmax_label", (fx.BATCH, 4))])
    mod.save_checkpoint(prefix, 2)
    for epoch in (1, 2):
        loaded = mx.mod.BucketingModule.load(prefix, epoch, sym_gen=fx.lm_sym_gen(mx, False),
                                             default_bucket_key=fx.DEFAULT_KEY)
        loaded.bind(data_shapes=[("data", (fx.BATCH, fx.DEFAULT_KEY))],
                    label_shapes=[("softmax_label", (fx.BATCH, fx.DEFAULT_KEY))])
    with open(prefix + "-0002.params", "r+b") as f:
        f.seek(-1, 2)
        f.write(b"\x00")
    with pytest.raises(mx.model.CheckpointMismatch, match=r"lm-0002\.params"):
        mx.mod.BucketingModule.load(prefix, 2, sym_gen=fx.lm_sym_gen(mx, False),
                                    default_bucket_key=fx.DEFAULT_KEY)


def test_load_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(mx.MXNetError, match="nothing.buckets"):
        mx.mod.BucketingModule.load(str(tmp_path / "nothing"), 1,
                                    sym_gen=fx.lm_sym_gen(mx, False), default_bucket_key=6)


def test_load_dict_uses_given_symbols_and_params():
    mod = _trained_module()
    arg_params, aux_params = mod.get_params()
    sym_dict = {key: mod.get_bucket_module(key).symbol for key in (4, 6)}
    loaded = mx.mod.BucketingModule.load_dict(sym_dict, fx.lm_sym_gen(mx, False),
                                              fx.DEFAULT_KEY, arg_params, aux_params)
    assert loaded.params_initialized and not loaded.binded
    loaded.bind(data_shapes=[("data", (fx.BATCH, fx.DEFAULT_KEY))],
                label_shapes=[("softmax_label", (fx.BATCH, fx.DEFAULT_KEY))],
                for_training=False)
    expected = fx.eval_outputs(mx, mod)
    for name, value in fx.eval_outputs(mx, loaded).items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)
    assert loaded.get_bucket_module(4).symbol is sym_dict[4]
    with pytest.raises(AssertionError, match="arg_params"):
        mx.mod.BucketingModule.load_dict(sym_dict, fx.lm_sym_gen(mx, False), 6, None, {})


def test_grad_req_matches_mxnet():
    """MXNet's test_bucket_module_grad_req: bucket 5 is bound against bucket 10 and shares its
    gradient memory, so with grad_req='add' the second backward adds to the first."""
    with open(DATA / "grad_req.json") as f:
        expected = json.load(f)
    assert fx.grad_req_values(mx, lambda mod: float(mod.get_grads()["a"].asscalar())) == expected
