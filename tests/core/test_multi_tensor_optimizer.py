"""The multi-tensor step (all parameters in one set of `torch._foreach_*` calls) updates
exactly as the per-parameter step does, for every optimizer that has one."""
import numpy as np
import pytest
import torch

from bucketmod import lr_scheduler, optimizer
from bucketmod.ndarray import array

NAMES = {0: "fc_weight", 1: "fc_bias", 2: "emb_weight", 3: "out_weight"}
SHAPES = [(5, 3), (5,), (7, 2), (4, 4)]
CASES = [("sgd", {}), ("sgd", {"momentum": 0.9, "wd": 1e-3}),
         ("sgd", {"momentum": 0.9, "wd": 1e-3, "clip_gradient": 0.05, "rescale_grad": 0.5}),
         ("sgd", {"momentum": -0.5}),
         ("nag", {"momentum": 0.9, "wd": 1e-3}), ("nag", {"wd": 1e-3}),
         ("adam", {"wd": 1e-3}), ("adam", {"clip_gradient": 0.1, "rescale_grad": 2.0})]


def _updater(name, kwargs):
    sched = lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=0.1)
    opt = optimizer.create(name, param_idx2name=NAMES, lr_scheduler=sched, **kwargs)
    opt.set_lr_mult({"emb_weight": 0.5})
    opt.set_wd_mult({"out_weight": 3.0})
    return optimizer.get_updater(opt)


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in
                                                     enumerate(CASES)])
def test_multi_tensor_step_equals_per_parameter_steps(name, kwargs):
    rng = np.random.RandomState(0)
    init = [rng.randn(*s).astype(np.float32) for s in SHAPES]
    one_by_one, together = _updater(name, kwargs), _updater(name, kwargs)
    assert together.optimizer.multi_tensor
    w1 = [array(x) for x in init]
    w2 = [array(x) for x in init]
    for _ in range(5):
        grads = [rng.randn(*s).astype(np.float32) for s in SHAPES]
        for i, g in enumerate(grads):
            one_by_one(i, array(g), w1[i])
        together(list(range(len(grads))), [array(g) for g in grads], w2)
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(b.asnumpy(), a.asnumpy(), rtol=1e-6, atol=1e-6)
    assert together.optimizer.num_update == one_by_one.optimizer.num_update == 5


def test_plan_then_apply_is_the_update():
    """The host half (plan) and the device half (apply) together are one update; for a step
    that a CUDA graph captures (`_capturable`), its scalars are tensors refilled by each plan,
    so applying an earlier plan's function again uses the later learning rate."""
    rng = np.random.RandomState(1)
    up = _updater("sgd", {"momentum": 0.9})
    up.optimizer._capturable = True
    ref = _updater("sgd", {"momentum": 0.9})
    w = [array(rng.randn(*s)) for s in SHAPES]
    w_ref = [array(x.asnumpy()) for x in w]
    grads = [array(rng.randn(*s)) for s in SHAPES]
    idx = list(range(len(SHAPES)))
    first = up.plan(idx, grads, w)
    first()
    for _ in range(3):
        assert up.plan(idx, grads, w) is not None
        first()
    for _ in range(4):
        ref(idx, grads, w_ref)
    for a, b in zip(w, w_ref):
        torch.testing.assert_close(a.tensor, b.tensor)


def test_low_precision_master_copies_take_the_per_parameter_path():
    up = _updater("sgd", {"momentum": 0.9, "multi_precision": True})
    w = [array(np.ones(s), dtype="float16") for s in SHAPES]
    assert up.plan(list(range(4)), [array(np.ones(s), dtype="float16") for s in SHAPES],
                   w) is None


@pytest.mark.parametrize("name,kwargs", [("sgd", {"momentum": 0.9, "wd": 1e-3}),
                                         ("adam", {"wd": 1e-3})])
def test_kept_grouping_follows_multipliers_and_update_counts(name, kwargs):
    """As Module calls it: the same weight and gradient arrays every step, refilled in place,
    so the step's parameter grouping is kept. Changing a multiplier, or updating one parameter
    on its own (its update count moves ahead of the others'), still updates as the
    per-parameter step does (given new gradient arrays every time: nothing kept)."""
    rng = np.random.RandomState(2)
    init = [rng.randn(*s).astype(np.float32) for s in SHAPES]
    one_by_one, together = _updater(name, kwargs), _updater(name, kwargs)
    w1, w2 = [array(x) for x in init], [array(x) for x in init]
    g1, g2 = [array(np.zeros(s, np.float32)) for s in SHAPES], \
        [array(np.zeros(s, np.float32)) for s in SHAPES]
    idx = list(range(len(SHAPES)))
    for step in range(6):
        for a, b, s in zip(g1, g2, SHAPES):
            a[:] = b[:] = rng.randn(*s).astype(np.float32)
        if step == 2:
            for up in (one_by_one, together):
                up.optimizer.set_lr_mult({"emb_weight": 2.0})
                up.optimizer.set_wd_mult({"out_weight": 0.0})
        if step == 4:
            one_by_one(0, array(g1[0].asnumpy()), w1[0])
            together(0, g2[0], w2[0])
        for i in idx:
            one_by_one(i, array(g1[i].asnumpy()), w1[i])
        together(idx, g2, w2)
        for a, b in zip(w1, w2):
            np.testing.assert_allclose(b.asnumpy(), a.asnumpy(), rtol=1e-5, atol=1e-6)
