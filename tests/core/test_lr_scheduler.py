"""mx.lr_scheduler against MXNet 1.9.1 schedules (tests/golden/make_optimizer.py)."""
import json
import os

import pytest

from bucketmod import lr_scheduler

DATA = os.path.join(os.path.dirname(__file__), "..", "golden", "data")
with open(os.path.join(DATA, "optimizer_cases.json")) as _f:
    SCHEDULES = json.load(_f)["schedules"]


@pytest.mark.parametrize("case", SCHEDULES, ids=[f"{i}-{c['class']}" for i, c in
                                                 enumerate(SCHEDULES)])
def test_schedule_matches_mxnet(case):
    sched = getattr(lr_scheduler, case["class"])(**case["kwargs"])
    lrs = [sched(n) for n in range(len(case["lrs"]))]
    assert lrs == pytest.approx(case["lrs"], rel=1e-12, abs=1e-15)


def test_warmup_linear_and_constant():
    lin = lr_scheduler.PolyScheduler(max_update=10, base_lr=1.0, warmup_steps=4,
                                     warmup_begin_lr=0.2)
    assert [lin(n) for n in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    const = lr_scheduler.CosineScheduler(max_update=10, base_lr=1.0, warmup_steps=3,
                                         warmup_begin_lr=0.1, warmup_mode="constant")
    assert [const(n) for n in range(3)] == [0.1, 0.1, 0.1]
    assert const(3) == pytest.approx(1.0)
    assert const(10) == pytest.approx(0.0)
    assert const(50) == pytest.approx(0.0)


def test_factor_scheduler_floor():
    sched = lr_scheduler.FactorScheduler(step=1, factor=0.1, stop_factor_lr=1e-3, base_lr=1.0)
    assert sched(10) == pytest.approx(1e-3)


@pytest.mark.parametrize("make,err,match", [
    (lambda: lr_scheduler.FactorScheduler(step=0), ValueError, "step"),
    (lambda: lr_scheduler.FactorScheduler(step=2, factor=1.5), ValueError, "factor=1.5"),
    (lambda: lr_scheduler.MultiFactorScheduler(step=[3, 2]), ValueError, "increasing"),
    (lambda: lr_scheduler.MultiFactorScheduler(step=[0, 2]), ValueError, "greater"),
    (lambda: lr_scheduler.MultiFactorScheduler(step=3), AssertionError, "list"),
    (lambda: lr_scheduler.PolyScheduler(max_update=0), ValueError, "max_update=0"),
    (lambda: lr_scheduler.CosineScheduler(max_update=2.5), AssertionError, "max_update"),
    (lambda: lr_scheduler.CosineScheduler(10, warmup_mode="exp"), ValueError, "'exp'"),
    (lambda: lr_scheduler.CosineScheduler(10, base_lr=0.1, warmup_begin_lr=0.5), ValueError,
     "warmup_begin_lr"),
    (lambda: lr_scheduler.CosineScheduler(10, warmup_steps=-1), ValueError, "-1"),
    (lambda: lr_scheduler.CosineScheduler(10, warmup_steps=1.5), AssertionError,
     "warmup_steps"),
])
def test_bad_arguments(make, err, match):
    with pytest.raises(err, match=match):
        make()


def test_base_class_needs_override():
    with pytest.raises(NotImplementedError, match="LRScheduler"):
        lr_scheduler.LRScheduler()(1)
