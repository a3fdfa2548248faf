"""Optimizer states (bucketmod/optimizer/states.py): a blob is checked completely when it is
decoded; every malformed one raises OptimizerStatesError (an MXNetError) naming the entry, and
nothing the file says can replace a method, hang a schedule or alias two states."""
import json
import struct
import time

import numpy as np
import pytest

import bucketmod as mx
from bucketmod.base import MXNetError
from bucketmod.optimizer import states as states_format
from bucketmod.optimizer.states import OptimizerStatesError


def adam_blob(dump=True):
    opt = mx.optimizer.Adam(lr_scheduler=mx.lr_scheduler.FactorScheduler(step=2, factor=0.5),
                            param_idx2name={0: "fc_weight", 1: "fc_bias"})
    updater = mx.optimizer.get_updater(opt)
    for idx in (0, 1):
        updater(idx, mx.nd.ones((2, 3)), mx.nd.zeros((2, 3)))
    return updater.get_states(dump_optimizer=dump)


def split(blob):
    start = len(states_format.MAGIC)
    (n,) = struct.unpack_from("<Q", blob, start)
    return json.loads(blob[start + 8:start + 8 + n]), blob[start + 8 + n:]


def join(header, body):
    head = json.dumps(header).encode()
    return states_format.MAGIC + struct.pack("<Q", len(head)) + head + body


def with_header(edit, blob=None):
    header, body = split(blob or adam_blob())
    edit(header)
    return join(header, body)


def opt_attrs(h):
    return h["optimizer"]["attrs"]


@pytest.mark.parametrize("blob, pattern", [
    (b"\x80\x04pickle", r"expected bytes from Updater.get_states"),
    (states_format.MAGIC + b"\x01", r"truncated: .* no header length"),
    (states_format.MAGIC + struct.pack("<Q", 2 ** 63) + b"{}", r"header length .* exceeds"),
    (states_format.MAGIC + struct.pack("<Q", 2) + b"\xff\xfe", r"header is not UTF-8"),
    (states_format.MAGIC + struct.pack("<Q", 5) + b"[1,2]", r"expected a JSON object"),
    (states_format.MAGIC + struct.pack("<Q", 3000) + b"[" * 1500 + b"]" * 1500, r"nests too"),
    (join({"format": 1, "states": [[0, {"array": 0}]]}, b""), r"refers to array 0; the file "
                                                              r"holds 0"),
])
def test_malformed_bytes(blob, pattern):
    with pytest.raises(OptimizerStatesError, match=pattern):
        states_format.decode(blob)


@pytest.mark.parametrize("edit, pattern", [
    (lambda h: h.__setitem__("format", 2), r"format is 2: expected 1"),
    (lambda h: h.pop("states"), r"no 'states' field"),
    (lambda h: h["states"].append(h["states"][0]), r"index 0 appears twice"),
    (lambda h: h["states"][0].__setitem__(0, 1.5), r"index 1.5: expected an int or a str"),
    (lambda h: h["states"][1].__setitem__(1, h["states"][0][1]), r"another state uses"),
    (lambda h: h["states"].pop(), r"arrays \['s2', 's3'\] are not used"),
    (lambda h: h["states"][0].__setitem__(1, {"set": []}), r"expected null"),
    (lambda h: h["states"][0].__setitem__(1, {"tuple": [None] * 3, "list": []}),
     r"expected null"),
    (lambda h: h["optimizer"].__setitem__("name", "nosuch"), r"'nosuch' is not registered"),
    (lambda h: opt_attrs(h).__setitem__("update", 1), r"'update' is not an attribute of Adam"),
    (lambda h: opt_attrs(h).__setitem__("param_dict", {"dict": []}), r"not an attribute"),
    (lambda h: opt_attrs(h).__setitem__("beta1", "high"), r"'beta1' is \"high\", expected a "
                                                           r"value like 0.9"),
    (lambda h: opt_attrs(h).__setitem__("lr_mult", {"dict": [[{"list": []}, 1]]}),
     r"dict key"),
    (lambda h: opt_attrs(h).__setitem__("num_update", 2.5), r"num_update is 2.5"),
    (lambda h: opt_attrs(h).__setitem__("_all_index_update_counts", {"dict": [[0, 5]]}),
     r"update counts"),
    (lambda h: opt_attrs(h).__setitem__("lr", {"float": "1e5"}), r"not a saved value"),
    (lambda h: h["optimizer"]["lr_scheduler"].__setitem__("class", "Evil"),
     r"'Evil' is not a known LRScheduler"),
    (lambda h: h["optimizer"]["lr_scheduler"]["attrs"].__setitem__("step", 0),
     r"FactorScheduler settings are not valid .*step"),
    (lambda h: h["optimizer"]["lr_scheduler"]["attrs"].__setitem__("__call__", 1),
     r"'__call__'=1 is not an attribute of FactorScheduler"),
], ids=lambda v: None if callable(v) else v[:24])
def test_malformed_header(edit, pattern):
    blob = with_header(edit)
    with pytest.raises(OptimizerStatesError, match=pattern):
        states_format.decode(blob)
    updater = mx.optimizer.get_updater(mx.optimizer.SGD())
    with pytest.raises(MXNetError):
        updater.set_states(blob)
    assert updater.states == {} and type(updater.optimizer) is mx.optimizer.SGD


def test_a_schedule_that_would_not_settle_is_refused_quickly():
    """FactorScheduler catches up one step per loop: a hostile update count must not hang."""
    def far_ahead(h):
        opt_attrs(h)["num_update"] = 2 ** 62
        h["optimizer"]["lr_scheduler"]["attrs"]["step"] = 1
    start = time.thread_time()
    with pytest.raises(OptimizerStatesError, match="within 10000 steps"):
        states_format.decode(with_header(far_ahead))
    assert time.thread_time() - start < 1.0


def test_array_section_errors_name_the_source():
    header, body = split(adam_blob())
    with pytest.raises(OptimizerStatesError, match=r"'x.states': the array section: .*"
                                                   r"truncated"):
        states_format.decode(join(header, body[:-3]), "'x.states'")
    renamed = body.replace(b"\x02\x00\x00\x00\x00\x00\x00\x00s1", b"\x02\x00\x00\x00\x00\x00"
                                                                 b"\x00\x00t1")
    with pytest.raises(OptimizerStatesError, match=r"expected arrays named s0\.\.s3"):
        states_format.decode(join(header, renamed))


def test_round_trip_keeps_states_and_optimizer():
    blob = adam_blob()
    states, opt = states_format.decode(blob)
    assert sorted(states) == [0, 1] and all(len(s) == 2 for s in states.values())
    assert type(opt) is mx.optimizer.Adam and opt.num_update == 1
    assert type(opt.lr_scheduler) is mx.lr_scheduler.FactorScheduler
    assert states_format.encode(states, opt) == blob
    np.testing.assert_array_equal(states[0][0].asnumpy(), np.full((2, 3), 0.1, np.float32))


def test_load_names_the_file(tmp_path):
    with pytest.raises(OptimizerStatesError, match=r"missing\.states"):
        states_format.load(str(tmp_path / "missing.states"))
    path = tmp_path / "bad.states"
    path.write_bytes(b"junk")
    with pytest.raises(OptimizerStatesError, match=r"bad\.states.*expected bytes"):
        states_format.load(str(path))
