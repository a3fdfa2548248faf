"""mx.callback: log lines as MXNet 1.x writes them, checkpoint periods, metric resets."""
import logging
import sys
import types

import pytest

from bucketmod import callback
from bucketmod.callback import (
    BatchEndParam,
    LogValidationMetricsCallback,
    ProgressBar,
    Speedometer,
    do_checkpoint,
    log_train_metric,
    module_checkpoint,
)


class FakeMetric:
    def __init__(self, pairs):
        self.pairs = pairs
        self.local_resets = 0

    def get_name_value(self):
        return list(self.pairs)

    def reset_local(self):
        self.local_resets += 1


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def time(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(callback, "time", fake)
    return fake


def _messages(caplog):
    return [r.getMessage() for r in caplog.records]


def test_batch_end_param_fields():
    p = BatchEndParam(epoch=1, nbatch=2, eval_metric=None, locals={})
    assert p._fields == ("epoch", "nbatch", "eval_metric", "locals") and p.nbatch == 2


def test_speedometer_auto_reset(caplog, clock):
    caplog.set_level(logging.INFO)
    metric = FakeMetric([("accuracy", 0.5), ("ce", 1.25)])
    speed = Speedometer(batch_size=4, frequent=2)
    for nbatch in range(5):
        speed(BatchEndParam(0, nbatch, metric, None))
        clock.now += 0.5
    assert _messages(caplog) == [
        "Epoch[0] Batch [0-2]\tSpeed: 8.00 samples/sec\taccuracy=0.500000\tce=1.250000",
        "Epoch[0] Batch [2-4]\tSpeed: 8.00 samples/sec\taccuracy=0.500000\tce=1.250000",
    ]
    assert metric.local_resets == 2


def test_speedometer_accumulating_and_new_epoch(caplog, clock):
    caplog.set_level(logging.INFO)
    metric = FakeMetric([("perplexity", 3.0)])
    speed = Speedometer(batch_size=10, frequent=3, auto_reset=False)
    for epoch in range(2):
        for nbatch in range(4):
            speed(BatchEndParam(epoch, nbatch, metric, None))
            clock.now += 1.0
    assert _messages(caplog) == [
        "Epoch[0] Batch [0-3]\tSpeed: 10.00 samples/sec\tperplexity=3.000000",
        "Epoch[1] Batch [0-3]\tSpeed: 10.00 samples/sec\tperplexity=3.000000",
    ]
    assert metric.local_resets == 0


def test_speedometer_without_metric_and_zero_time(caplog, clock):
    caplog.set_level(logging.INFO)
    speed = Speedometer(batch_size=2, frequent=1)
    speed(BatchEndParam(3, 0, None, None))
    speed(BatchEndParam(3, 1, None, None))
    assert _messages(caplog) == ["Iter[3] Batch [1]\tSpeed: inf samples/sec"]


def test_log_train_metric(caplog):
    caplog.set_level(logging.INFO)
    metric = FakeMetric([("mse", 0.25)])
    cb = log_train_metric(period=2, auto_reset=True)
    for nbatch in range(1, 5):
        cb(BatchEndParam(1, nbatch, metric, None))
    assert _messages(caplog) == ["Iter[1] Batch[2] Train-mse=0.250000",
                                 "Iter[1] Batch[4] Train-mse=0.250000"]
    assert metric.local_resets == 2


def test_progress_bar(caplog):
    caplog.set_level(logging.INFO)
    bar = ProgressBar(total=4, length=8)
    bar(BatchEndParam(0, 2, None, None))
    bar(BatchEndParam(0, 3, None, None))
    assert _messages(caplog) == ["[====----] 50%\r", "[======--] 75%\r"]
    with pytest.raises(ValueError, match="total"):
        ProgressBar(total=0)


def test_log_validation_metrics(caplog):
    caplog.set_level(logging.INFO)
    LogValidationMetricsCallback()(BatchEndParam(2, 0, FakeMetric([("acc", 0.75)]), None))
    LogValidationMetricsCallback()(BatchEndParam(2, 0, None, None))
    assert _messages(caplog) == ["Epoch[2] Validation-acc=0.750000"]


def test_do_checkpoint_period(monkeypatch):
    saved = []
    fake_model = types.ModuleType("bucketmod.model")
    fake_model.save_checkpoint = lambda *args: saved.append(args)
    monkeypatch.setitem(sys.modules, "bucketmod.model", fake_model)
    cb = do_checkpoint("run/lm", period=2)
    for epoch in range(5):
        cb(epoch, "sym", {"w": 1}, {"a": 2})
    assert saved == [("run/lm", 2, "sym", {"w": 1}, {"a": 2}),
                     ("run/lm", 4, "sym", {"w": 1}, {"a": 2})]
    every = do_checkpoint("x", period=0)
    every(0, None, None, None)
    assert saved[-1][:2] == ("x", 1)


def test_module_checkpoint_period():
    class FakeModule:
        def __init__(self):
            self.calls = []

        def save_checkpoint(self, prefix, epoch, save_optimizer_states=False):
            self.calls.append((prefix, epoch, save_optimizer_states))

    mod = FakeModule()
    cb = module_checkpoint(mod, "ck", period=3, save_optimizer_states=True)
    for epoch in range(7):
        cb(epoch)
    assert mod.calls == [("ck", 3, True), ("ck", 6, True)]
