"""`mx.nd.save`/`mx.nd.load` against files MXNet 1.9.1 wrote (tests/golden/make_ndarray_io.py)."""
import json
import os
import struct

import numpy as np
import pytest
import torch

import bucketmod as mx
from bucketmod.base import MXNetError
from bucketmod.ndarray import serialization
from bucketmod.ndarray.serialization import load_frombuffer, save_bytes

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(__file__)), "golden", "data", "ndarray_io")
with open(os.path.join(GOLDEN, "manifest.json")) as _fi:
    MANIFEST = json.load(_fi)


def _golden_bytes(name):
    with open(os.path.join(GOLDEN, name + ".nd"), "rb") as fi:
        return fi.read()


def _expected(name):
    with np.load(os.path.join(GOLDEN, name + ".expected.npz")) as npz:
        return [npz[f"arr_{i}"] for i in range(len(npz.files))]


def _bits(arr):
    """numpy view of an NDArray, bfloat16 as its uint16 bits (as the fixtures store it)."""
    t = arr.tensor
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16)
    return t.numpy()


def _header(count=1):
    return struct.pack("<QQQ", 0x112, 0, count)


def _record(shape=(2,), flag=0, data=None, magic=0xF993FAC9, stype=0, dev=(1, 0)):
    out = struct.pack("<Ii", magic, stype) + struct.pack("<i", len(shape))
    out += struct.pack(f"<{len(shape)}q", *shape) + struct.pack("<iii", *dev, flag)
    return out + (data if data is not None else b"\0" * (4 * int(np.prod(shape))))


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_load_mxnet_fixture(name):
    spec = MANIFEST[name]
    loaded = mx.nd.load(os.path.join(GOLDEN, name + ".nd"))
    if spec["kind"] == "dict":
        assert isinstance(loaded, dict) and list(loaded) == spec["keys"]
        arrays = list(loaded.values())
    else:
        assert isinstance(loaded, list)
        arrays = loaded
    expected = _expected(name)
    assert len(arrays) == len(expected)
    for arr, want, dtype in zip(arrays, expected, spec["dtypes"]):
        assert isinstance(arr, mx.nd.NDArray)
        assert arr.context == mx.cpu(0)
        assert str(arr.tensor.dtype).replace("torch.", "") == dtype
        got = _bits(arr)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", sorted(n for n in MANIFEST if not MANIFEST[n].get("legacy")))
def test_resave_is_byte_identical_to_mxnet(name):
    raw = _golden_bytes(name)
    assert save_bytes(load_frombuffer(raw)) == raw


def test_dtype_codes_match_mxnet():
    raw = _golden_bytes("dict_mixed")
    loaded = load_frombuffer(raw)
    flags = {k: serialization._TORCH_TO_TYPE_FLAG[v.tensor.dtype] for k, v in loaded.items()}
    assert flags == {"fc1_weight": 0, "fc1_bias": 1, "half": 2, "u8": 3, "i8": 5, "i32": 4,
                     "i64": 6, "mask": 7, "one": 0}


def test_empty_dict_and_single_array_load_as_lists(tmp_path):
    assert mx.nd.load(os.path.join(GOLDEN, "empty_dict.nd")) == []
    single = mx.nd.load(os.path.join(GOLDEN, "single.nd"))
    assert isinstance(single, list) and len(single) == 1
    path = tmp_path / "one.nd"
    mx.nd.save(str(path), mx.nd.array([4.0, 5.0]))
    (back,) = mx.nd.load(str(path))
    np.testing.assert_array_equal(back.asnumpy(), np.array([4.0, 5.0], np.float32))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint8", "int8", "int32",
                                   "int64", "bool", "bfloat16"])
def test_round_trip_dtypes(tmp_path, dtype):
    torch.manual_seed(42)
    tdt = mx.dtype.to_torch_dtype(dtype)
    source = (torch.randn(3, 5) * 50).to(tdt)
    path = tmp_path / f"{dtype}.params"
    mx.nd.save(path, {"x": mx.nd.NDArray(source), "y": source[:, 1:3]})
    back = mx.nd.load(path)
    assert list(back) == ["x", "y"]
    assert back["x"].tensor.dtype == tdt and back["x"].shape == (3, 5)
    assert torch.equal(back["x"].tensor, source)
    assert torch.equal(back["y"].tensor, source[:, 1:3])


def test_round_trip_inputs_of_every_kind():
    grad = torch.ones(2, 3, requires_grad=True) * 2
    big_endian = np.arange(4, dtype=">i4")
    on_cpu3 = mx.nd.array([1.0, 2.0], ctx=mx.cpu(3))
    back = load_frombuffer(save_bytes([grad, big_endian, on_cpu3, np.zeros((0, 2), np.int8)]))
    assert torch.equal(back[0].tensor, grad.detach())
    assert back[1].dtype == np.int32
    np.testing.assert_array_equal(back[1].asnumpy(), np.arange(4))
    assert back[2].context == mx.cpu(0)
    assert back[3].shape == (0, 2) and back[3].dtype == np.int8
    back[0][:] = 7
    assert load_frombuffer(save_bytes([grad]))[0].asnumpy()[0, 0] == 2


def test_scalar_arrays_use_np_shape_magic():
    raw = save_bytes([torch.tensor(1.5), torch.ones(2)])
    assert raw[24:28] == struct.pack("<I", 0xF993FACA)
    back = load_frombuffer(raw)
    assert back[0].shape == () and back[0].tensor.item() == 1.5
    assert save_bytes([torch.ones(2)])[24:28] == struct.pack("<I", 0xF993FAC9)


def test_gpu_context_loads_on_cpu_without_a_gpu():
    raw = _header() + _record(dev=(2, 1)) + struct.pack("<Q", 0)
    (arr,) = load_frombuffer(raw)
    if not torch.cuda.is_available() or torch.cuda.device_count() < 2:
        assert arr.context == mx.cpu(0)
    else:
        assert arr.context == mx.gpu(1)


def test_trailing_bytes_are_ignored_as_mxnet_does():
    raw = _golden_bytes("list_two") + b"garbage"
    assert [a.shape for a in load_frombuffer(raw)] == [(2, 3), (4,)]


@pytest.mark.parametrize("name", ["dict_mixed", "np_shape", "utf8_name", "legacy_v0"])
def test_truncation_at_every_offset_raises_mxneterror(name):
    raw = _golden_bytes(name)
    for cut in range(len(raw)):
        with pytest.raises(MXNetError, match=r"<buffer>.*(truncated|name count|array count)"):
            load_frombuffer(raw[:cut])


def test_truncated_file_error_names_the_file(tmp_path):
    path = tmp_path / "cut.params"
    path.write_bytes(_golden_bytes("dict_mixed")[:100])
    with pytest.raises(MXNetError, match=r"cut\.params.*truncated at byte"):
        mx.nd.load(str(path))


@pytest.mark.parametrize("raw, pattern", [
    (struct.pack("<QQQ", 0x113, 0, 0), r"list magic is 0x113, expected 0x112"),
    (_header() + _record(magic=0xDEADBEEF), r"array 0 has magic 0xdeadbeef"),
    (_header() + _record(flag=99), r"type flag 99, which is unknown"),
    (_header() + _record(flag=8), r"type flag 8, which \(int16\) is not supported"),
    (_header() + _record(stype=2), r"storage type csr; only dense"),
    (_header() + _record(dev=(7, 0)), r"device \(7, 0\)"),
    (_header() + _record(shape=(2, -3)), r"unknown \(negative\) dimension"),
    (_header() + struct.pack("<Iii", 0xF993FAC9, 0, 0), r"ndim 0: an empty"),
    (_header() + struct.pack("<Iii", 0xF993FAC9, 0, 2**31 - 1), r"2147483647 dims"),
    (_header() + _record(shape=(2**40, 2**40)), r"needs \d+ bytes, only \d+ left"),
    (_header(2**63), r"array count 9223372036854775808 cannot fit"),
    (_header() + _record() + struct.pack("<Q", 2), r"2 names for 1 arrays"),
    (_header() + _record() + struct.pack("<QQ", 1, 2**62), r"name 0 needs 4611686018427387904"),
    (_header() + _record() + struct.pack("<QQ", 1, 1) + b"\xff", r"name 0 is not utf-8"),
    (_header() + _record(shape=(0, 2 ** 62)), r"shape \(0, 4611686018427387904\): its extent "
                                             r"overflows"),
    (_header() + _record(shape=(3, 0, 2 ** 61)), r"extent overflows"),
    (_header() + _record(shape=(1,) * 33), r"ndim 33: at most 32"),
])
def test_corrupt_input_raises_mxneterror(raw, pattern):
    with pytest.raises(MXNetError, match=pattern):
        load_frombuffer(raw)


def test_sparse_fixture_is_refused():
    with pytest.raises(MXNetError, match=r"sparse_csr\.nd.*storage type csr"):
        mx.nd.load(os.path.join(GOLDEN, "sparse_csr.nd"))


def test_bad_arguments_raise_mxnet_exception_types(tmp_path):
    x = mx.nd.ones((2,))
    with pytest.raises(ValueError, match="data needs to either be"):
        mx.nd.save(str(tmp_path / "a"), 5)
    with pytest.raises(TypeError, match="dict str->NDArray"):
        mx.nd.save(str(tmp_path / "a"), {1: x})
    with pytest.raises(TypeError, match="list holds.*int"):
        mx.nd.save(str(tmp_path / "a"), [x, 3])
    with pytest.raises(TypeError, match="fname required to be a string"):
        mx.nd.save(5, [x])
    with pytest.raises(TypeError, match="fname required to be a string"):
        mx.nd.load(None)
    with pytest.raises(TypeError, match=r"array 'x' has dtype complex64"):
        mx.nd.save(str(tmp_path / "a"), {"x": torch.zeros(2, dtype=torch.complex64)})
    with pytest.raises(TypeError, match="buf required to be a string or bytes"):
        load_frombuffer(12)
    with pytest.raises(TypeError, match=r"array #1 has numpy dtype <U1"):
        mx.nd.save(str(tmp_path / "a"), [x, np.array(["a"])])
    assert not os.listdir(tmp_path)


def test_missing_file_and_directory_raise_mxneterror(tmp_path):
    with pytest.raises(MXNetError, match=r"cannot open '.*nothing\.params'"):
        mx.nd.load(str(tmp_path / "nothing.params"))
    with pytest.raises(MXNetError, match=r"no_dir"):
        mx.nd.save(str(tmp_path / "no_dir" / "x.params"), [mx.nd.ones(1)])


def _previous_file(tmp_path):
    path = tmp_path / "model.params"
    mx.nd.save(str(path), {"w": mx.nd.ones((2, 2))})
    return path, path.read_bytes()


def test_failure_midway_keeps_previous_file(tmp_path, monkeypatch):
    path, before = _previous_file(tmp_path)
    real = serialization._tensor_bytes
    calls = []

    def fail_on_second(tensor):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(tensor)

    monkeypatch.setattr(serialization, "_tensor_bytes", fail_on_second)
    with pytest.raises(KeyboardInterrupt):
        mx.nd.save(str(path), {"w": mx.nd.zeros((2, 2)), "b": mx.nd.zeros(3)})
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.params"]


def test_failed_rename_keeps_previous_file(tmp_path, monkeypatch):
    path, before = _previous_file(tmp_path)

    def no_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(serialization.os, "replace", no_replace)
    with pytest.raises(MXNetError, match=r"writing '.*model\.params' failed: No space left"):
        mx.nd.save(str(path), {"w": mx.nd.zeros((2, 2))})
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.params"]


def test_save_writes_through_fsync_and_keeps_file_mode(tmp_path, monkeypatch):
    path, _ = _previous_file(tmp_path)
    os.chmod(path, 0o640)
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(serialization.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    mx.nd.save(str(path), [mx.nd.zeros(1)])
    assert synced
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert mx.nd.load(str(path))[0].shape == (1,)


def test_large_zero_size_shapes_that_numpy_can_hold_load():
    (arr,) = load_frombuffer(_header() + _record(shape=(0, 2 ** 40)) + struct.pack("<Q", 0))
    assert arr.shape == (0, 2 ** 40) and arr.asnumpy().shape == (0, 2 ** 40)


def test_str_buffer_with_characters_beyond_a_byte():
    with pytest.raises(MXNetError, match="character 3"):
        load_frombuffer("\x12\x01\x00\u20ac")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_save_removes_temporaries_of_dead_writers_only(tmp_path):
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    target = tmp_path / "w.nd"
    stale = tmp_path / f".w.nd.{dead}-7-00c0ffee.tmp"
    live = tmp_path / f".w.nd.{os.getppid()}-0-00c0ffee.tmp"
    foreign = tmp_path / f".x.nd.{dead}-7-00c0ffee.tmp"
    for path in (stale, live, foreign):
        path.write_bytes(b"partial")
    mx.nd.save(str(target), [mx.nd.ones((2,))])
    assert sorted(os.listdir(tmp_path)) == sorted(["w.nd", live.name, foreign.name])
