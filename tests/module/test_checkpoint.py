"""Checkpoints of a Module: parameters, optimizer states and symbol round trip exactly; a save
that fails midway leaves the previous checkpoint readable; missing or truncated files fail
clearly and leave the module as it was."""
import errno
import importlib.util
import os

import numpy as np
import pytest

import bucketmod as mx
from bucketmod.ndarray import serialization

_SCRIPT = os.path.join(os.path.dirname(__file__), "..", "golden", "make_module.py")
_spec = importlib.util.spec_from_file_location("make_module", _SCRIPT)
make_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_module)
BATCH = make_module.BATCH
SGD = {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.001}
# fit on a module that already has parameters (Module.load, a second fit) warns, as in MXNet
pytestmark = pytest.mark.filterwarnings("ignore:Parameters already initialized:UserWarning")


@pytest.fixture(scope="module")
def data():
    x, y, ex, ey = make_module.make_data()
    return {"x": x, "y": y, "ex": ex, "ey": ey}


def train_iter(data):
    return mx.io.NDArrayIter(data["x"], data["y"], batch_size=BATCH)


def eval_iter(data):
    return mx.io.NDArrayIter(data["ex"], data["ey"], batch_size=BATCH)


def trained(data, epochs=1, optimizer="sgd", optimizer_params=SGD):
    mod = mx.mod.Module(make_module.mlp(mx))
    mod.fit(train_iter(data), num_epoch=epochs, optimizer=optimizer,
            optimizer_params=optimizer_params, arg_params=make_module.make_init_params(mx),
            aux_params={})
    return mod


def loaded(prefix, epoch, data, **kwargs):
    mod = mx.mod.Module.load(prefix, epoch, **kwargs)
    mod.bind(train_iter(data).provide_data, train_iter(data).provide_label)
    return mod


def params_np(mod):
    return {k: v.asnumpy() for k, v in mod.get_params()[0].items()}


def assert_same_params(a, b):
    pa, pb = params_np(a), params_np(b)
    assert sorted(pa) == sorted(pb)
    for name in pa:
        np.testing.assert_array_equal(pa[name], pb[name], err_msg=name)


def test_checkpoint_files_and_exact_predictions(tmp_path, data):
    mod = trained(data)
    prefix = str(tmp_path / "mlp")
    mod.save_checkpoint(prefix, 3)
    assert sorted(os.listdir(tmp_path)) == ["mlp-0003.manifest", "mlp-0003.params",
                                            "mlp-symbol.json"]
    saved = mx.nd.load(prefix + "-0003.params")
    assert sorted(saved) == sorted("arg:" + n for n in params_np(mod))

    sym, arg_params, aux_params = mx.model.load_checkpoint(prefix, 3)
    assert sym.tojson() == mod.symbol.tojson()
    assert aux_params == {}
    restored = loaded(prefix, 3, data)
    assert restored.params_initialized
    assert restored.symbol.tojson() == mod.symbol.tojson()
    assert_same_params(restored, mod)
    np.testing.assert_array_equal(restored.predict(eval_iter(data)).asnumpy(),
                                  mod.predict(eval_iter(data)).asnumpy())


def test_checkpoint_with_aux_states(tmp_path, data):
    mod = mx.mod.Module(make_module.mlp_bn(mx))
    arg_params, aux_params = make_module.make_bn_params(mx)
    mod.fit(train_iter(data), num_epoch=1, arg_params=arg_params, aux_params=aux_params)
    prefix = str(tmp_path / "bn")
    mod.save_checkpoint(prefix, 1)
    assert sorted(k for k in mx.nd.load(prefix + "-0001.params") if k.startswith("aux:")) == [
        "aux:bn1_moving_mean", "aux:bn1_moving_var"]
    restored = mx.mod.Module.load(prefix, 1)
    restored.bind(train_iter(data).provide_data, for_training=False)
    for name, value in mod.get_params()[1].items():
        np.testing.assert_array_equal(restored.get_params()[1][name].asnumpy(),
                                      value.asnumpy())
    np.testing.assert_array_equal(restored.predict(eval_iter(data)).asnumpy(),
                                  mod.predict(eval_iter(data)).asnumpy())


def test_model_save_checkpoint_functions(tmp_path, data):
    mod = trained(data)
    arg_params, aux_params = mod.get_params()
    prefix = str(tmp_path / "fn")
    mx.model.save_checkpoint(prefix, 7, mod.symbol, arg_params, aux_params)
    sym, args2, aux2 = mx.model.load_checkpoint(prefix, 7)
    assert sym.list_arguments() == mod.symbol.list_arguments()
    for name, value in arg_params.items():
        np.testing.assert_array_equal(args2[name].asnumpy(), value.asnumpy())
    assert aux2 == {}


def test_optimizer_states_make_training_continue_exactly(tmp_path, data):
    """Two epochs in one go equal one epoch, a checkpoint with optimizer states, and one more
    epoch from Module.load; without the states (momentum lost) the result differs."""
    straight = trained(data, epochs=2)
    first = trained(data, epochs=1)
    prefix = str(tmp_path / "run")
    first.save_checkpoint(prefix, 1, save_optimizer_states=True)
    assert os.path.exists(prefix + "-0001.states")

    resumed = mx.mod.Module.load(prefix, 1, load_optimizer_states=True)
    resumed.fit(train_iter(data), begin_epoch=1, num_epoch=2, optimizer="sgd",
                optimizer_params=SGD)
    assert_same_params(resumed, straight)

    forgetful = mx.mod.Module.load(prefix, 1)
    forgetful.fit(train_iter(data), begin_epoch=1, num_epoch=2, optimizer="sgd",
                  optimizer_params=SGD)
    assert not np.array_equal(params_np(forgetful)["fc1_weight"],
                              params_np(straight)["fc1_weight"])


def test_save_and_load_optimizer_states_directly(tmp_path, data):
    """Momentum restored into a fresh module makes the next update identical."""
    mod = trained(data)
    fname = str(tmp_path / "sgd.states")
    mod.save_optimizer_states(fname)
    other = mx.mod.Module(make_module.mlp(mx))
    other.bind(train_iter(data).provide_data, train_iter(data).provide_label)
    other.set_params(*mod.get_params())
    other.init_optimizer(optimizer="sgd", optimizer_params=SGD)
    other.load_optimizer_states(fname)
    batch = next(iter(train_iter(data)))
    for m in (mod, other):
        m.forward_backward(batch)
        m.update()
    assert_same_params(mod, other)


def test_optimizer_states_need_an_optimizer(tmp_path, data):
    mod = mx.mod.Module(make_module.mlp(mx))
    mod.bind(train_iter(data).provide_data, train_iter(data).provide_label)
    mod.init_params()
    with pytest.raises(AssertionError, match="init_optimizer"):
        mod.save_optimizer_states(str(tmp_path / "x.states"))
    with pytest.raises(AssertionError, match="init_optimizer"):
        mod.load_optimizer_states(str(tmp_path / "x.states"))


def test_module_checkpoint_callback_in_fit(tmp_path, data):
    prefix = str(tmp_path / "cb")
    mod = mx.mod.Module(make_module.mlp(mx))
    mod.fit(train_iter(data), num_epoch=2, arg_params=make_module.make_init_params(mx),
            epoch_end_callback=mx.callback.module_checkpoint(mod, prefix,
                                                             save_optimizer_states=True))
    assert sorted(os.listdir(tmp_path)) == ["cb-0001.manifest", "cb-0001.params",
                                            "cb-0001.states", "cb-0002.manifest",
                                            "cb-0002.params", "cb-0002.states",
                                            "cb-symbol.json"]
    restored = loaded(prefix, 2, data)
    assert_same_params(restored, mod)


def fail_writes_midway(monkeypatch, suffix):
    """Make every atomic write to a file ending in `suffix` stop with ENOSPC halfway through
    its bytes (a disk filling up), after part of the data has reached the disk."""
    real_atomic_write = serialization.atomic_write

    def half_then_enospc(chunks):
        raw = b"".join(chunks)
        yield raw[:len(raw) // 2]
        raise OSError(errno.ENOSPC, "No space left on device")

    def atomic_write(fname, chunks):
        if str(fname).endswith(suffix):
            chunks = half_then_enospc(chunks)
        return real_atomic_write(fname, chunks)

    monkeypatch.setattr(serialization, "atomic_write", atomic_write)


@pytest.mark.parametrize("suffix", ["-symbol.json", ".params", ".states"])
def test_interrupted_save_leaves_previous_checkpoint_readable(tmp_path, data, monkeypatch,
                                                              suffix):
    mod = trained(data)
    prefix = str(tmp_path / "ck")
    mod.save_checkpoint(prefix, 1, save_optimizer_states=True)
    expected = mod.predict(eval_iter(data)).asnumpy()
    files_before = sorted(os.listdir(tmp_path))
    mod.fit(train_iter(data), begin_epoch=1, num_epoch=2)
    assert not np.array_equal(mod.predict(eval_iter(data)).asnumpy(), expected)
    with monkeypatch.context() as patch:
        fail_writes_midway(patch, suffix)
        with pytest.raises(mx.MXNetError, match="No space left"):
            mod.save_checkpoint(prefix, 1, save_optimizer_states=True)
    assert sorted(os.listdir(tmp_path)) == files_before, "a temporary file was left behind"
    if suffix == ".states":
        # the new parameters reached the disk, the states did not: a mix the reader refuses
        with pytest.raises(mx.model.CheckpointMismatch, match="ck-0001.params"):
            loaded(prefix, 1, data, load_optimizer_states=True)
    else:
        # the symbol was rewritten with the same bytes; the previous generation is intact
        restored = loaded(prefix, 1, data, load_optimizer_states=True)
        restored.init_optimizer(optimizer="sgd", optimizer_params=SGD)
        np.testing.assert_array_equal(restored.predict(eval_iter(data)).asnumpy(), expected)
    mod.save_checkpoint(prefix, 1, save_optimizer_states=True)
    np.testing.assert_array_equal(loaded(prefix, 1, data).predict(eval_iter(data)).asnumpy(),
                                  mod.predict(eval_iter(data)).asnumpy())


def test_interrupted_symbol_save_keeps_the_old_symbol_file(tmp_path, monkeypatch):
    fname = str(tmp_path / "net-symbol.json")
    old = make_module.mlp(mx)
    old.save(fname)
    with monkeypatch.context() as patch:
        fail_writes_midway(patch, "-symbol.json")
        with pytest.raises(mx.MXNetError, match="net-symbol.json"):
            mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2).save(fname)
    assert mx.sym.load(fname).tojson() == old.tojson()
    assert os.listdir(tmp_path) == ["net-symbol.json"]


def test_missing_checkpoint_files_raise_clearly(tmp_path, data):
    prefix = str(tmp_path / "nothing")
    with pytest.raises(mx.MXNetError, match="nothing-symbol.json"):
        mx.mod.Module.load(prefix, 1)
    mod = trained(data)
    mod.save_checkpoint(prefix, 1)
    with pytest.raises(mx.MXNetError, match="nothing-0002.params"):
        mx.mod.Module.load(prefix, 2)
    with pytest.raises(mx.MXNetError, match="nothing-0001.states"):
        mx.mod.Module.load(prefix, 1, load_optimizer_states=True)
    with pytest.raises(mx.MXNetError, match="missing.params"):
        mod.load_params(str(tmp_path / "missing.params"))


def test_truncated_params_file_raises_and_leaves_module_as_it_was(tmp_path, data):
    mod = trained(data)
    prefix = str(tmp_path / "cut")
    mod.save_checkpoint(prefix, 1)
    fname = prefix + "-0001.params"
    with open(fname, "rb") as f:
        raw = f.read()
    with open(fname, "wb") as f:
        f.write(raw[:len(raw) // 2])
    with pytest.raises(mx.MXNetError, match="cut-0001.params"):
        mx.mod.Module.load(prefix, 1)
    before = params_np(mod)
    with pytest.raises(mx.MXNetError, match="cut-0001.params"):
        mod.load_params(fname)
    after = params_np(mod)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])
    mod.forward_backward(next(iter(train_iter(data))))
    mod.update()


def test_corrupt_optimizer_states_file_is_refused(tmp_path, data):
    mod = trained(data)
    fname = str(tmp_path / "bad.states")
    with open(fname, "wb") as f:
        f.write(b"not optimizer states")
    with pytest.raises(mx.MXNetError, match="bad.states"):
        mod.load_optimizer_states(fname)
    mod.forward_backward(next(iter(train_iter(data))))
    mod.update()


# -- generations: files of different saves are detected, killed saves leave nothing ---------
def test_states_of_an_earlier_save_are_detected(tmp_path, data):
    prefix = str(tmp_path / "gen")
    mod = trained(data)
    mod.save_checkpoint(prefix, 1, save_optimizer_states=True)
    mod.save_checkpoint(prefix, 1)  # the old .states stays on disk
    loaded(prefix, 1, data)
    with pytest.raises(mx.model.CheckpointMismatch, match=r"gen-0001\.states' was not "
                                                          r"written by the save"):
        mx.mod.Module.load(prefix, 1, load_optimizer_states=True)


def test_a_symbol_rewritten_by_a_later_save_is_detected(tmp_path, data):
    prefix = str(tmp_path / "gen")
    mod = trained(data)
    mod.save_checkpoint(prefix, 1)
    other = mx.mod.Module(make_module.mlp_bn(mx))
    other.fit(train_iter(data), num_epoch=1, arg_params=make_module.make_bn_params(mx)[0],
              aux_params=make_module.make_bn_params(mx)[1])
    other.save_checkpoint(prefix, 2)
    with pytest.raises(mx.model.CheckpointMismatch, match=r"gen-symbol\.json' differs from "
                                                          r"what the save"):
        mx.model.load_checkpoint(prefix, 1)
    assert mx.model.load_checkpoint(prefix, 2)[0].tojson() == other.symbol.tojson()
    os.remove(prefix + "-0001.manifest")  # the documented way to load it unchecked
    assert mx.model.load_checkpoint(prefix, 1)[0].tojson() == other.symbol.tojson()


def test_a_first_save_that_did_not_finish_is_reported(tmp_path, data, monkeypatch):
    prefix = str(tmp_path / "first")
    mod = trained(data)
    with monkeypatch.context() as patch:
        fail_writes_midway(patch, ".states")
        with pytest.raises(mx.MXNetError, match="No space left"):
            mod.save_checkpoint(prefix, 1, save_optimizer_states=True)
    with pytest.raises(mx.model.CheckpointMismatch, match="did not finish"):
        mx.mod.Module.load(prefix, 1)
    with open(prefix + "-0001.manifest", "w") as f:
        f.write("{broken")
    with pytest.raises(mx.model.CheckpointMismatch, match="not a bucketmod checkpoint manifest"):
        mx.mod.Module.load(prefix, 1)
    mod.save_checkpoint(prefix, 1, save_optimizer_states=True)
    loaded(prefix, 1, data, load_optimizer_states=True)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_next_save_removes_temporary_files_of_killed_writers(tmp_path, data):
    prefix = str(tmp_path / "tmp")
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    stale = [tmp_path / f".tmp-0001.params.{dead}-1-0badcafe.tmp",
             tmp_path / f".tmp-0003.states.{dead}-1-0badcafe.tmp",
             tmp_path / f".tmp.buckets.{dead}-1-0badcafe.tmp"]
    live = tmp_path / f".tmp-0001.params.{os.getppid()}-0-0badcafe.tmp"
    other = tmp_path / f".other-0001.params.{dead}-1-0badcafe.tmp"
    for path in stale + [live, other]:
        path.write_bytes(b"half a file")
    trained(data).save_checkpoint(prefix, 1)
    left = sorted(p for p in os.listdir(tmp_path) if p.endswith(".tmp"))
    assert left == sorted([live.name, other.name])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_killed_saves_leave_no_orphans_and_no_undetected_mix():
    """A few SIGKILLs of a saving process (`experiments/kill_checkpoints.py --kills 200` is the
    long version)."""
    spec = importlib.util.spec_from_file_location(
        "kill_checkpoints", os.path.join(os.path.dirname(__file__), "..", "..", "experiments",
                                         "kill_checkpoints.py"))
    kill = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kill)
    report = kill.main(["--kills", "3", "--max-delay", "0.4", "--seed", "1"])
    assert report["ok"], report["problems"]
    assert report["orphans_after_next_save"] == 0 and report["undetected_mixes"] == 0
