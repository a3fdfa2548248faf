"""`mx.lr_scheduler`: learning rate as a function of the number of updates, as in MXNet 1.9.1.

A scheduler is called with `num_update`, the largest number of updates any weight has had.
Factor and MultiFactor schedulers keep state (they decay `base_lr` in place as updates pass),
so they must be called with non-decreasing `num_update`, as the optimizer does.
"""
import logging
from math import cos, pi

__all__ = ["LRScheduler", "FactorScheduler", "MultiFactorScheduler", "PolyScheduler",
           "CosineScheduler"]

_WARMUP_MODES = ("linear", "constant")


class LRScheduler:
    """Base class of a learning rate scheduler, with optional warmup.

    Args:
        base_lr: the learning rate reached at the end of warmup.
        warmup_steps: number of updates spent warming up before the schedule starts.
        warmup_begin_lr: the learning rate warmup starts from.
        warmup_mode: 'linear' (equal increments up to `base_lr`) or 'constant'
            (stay at `warmup_begin_lr`).
    """

    def __init__(self, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0, warmup_mode="linear"):
        if not isinstance(warmup_steps, int):
            raise AssertionError(f"warmup_steps: expected an int, got "
                                 f"{type(warmup_steps).__name__} {warmup_steps!r}")
        if warmup_begin_lr > base_lr:
            raise ValueError(f"Base lr has to be higher than warmup_begin_lr: base_lr={base_lr}, "
                             f"warmup_begin_lr={warmup_begin_lr}")
        if warmup_steps < 0:
            raise ValueError(f"Warmup steps has to be positive or 0, got {warmup_steps}")
        if warmup_mode not in _WARMUP_MODES:
            raise ValueError(f"Supports only linear and constant modes of warmup, "
                             f"got warmup_mode={warmup_mode!r}")
        self.base_lr = base_lr
        self.warmup_steps = warmup_steps
        self.warmup_final_lr = base_lr
        self.warmup_begin_lr = warmup_begin_lr
        self.warmup_mode = warmup_mode

    def get_warmup_lr(self, num_update):
        if num_update >= self.warmup_steps:
            raise AssertionError(f"num_update: expected < warmup_steps={self.warmup_steps}, "
                                 f"got {num_update}")
        if self.warmup_mode == "linear":
            increase = (self.warmup_final_lr - self.warmup_begin_lr) \
                * float(num_update) / float(self.warmup_steps)
            return self.warmup_begin_lr + increase
        return self.warmup_begin_lr

    def __call__(self, num_update):
        """The learning rate after `num_update` updates (the max over all weights)."""
        raise NotImplementedError(f"{type(self).__name__} must override __call__")


def _check_factor(factor):
    if factor > 1.0:
        raise ValueError(f"Factor must be no more than 1 to make lr reduce, got factor={factor}")


def _check_max_update(max_update):
    if not isinstance(max_update, int):
        raise AssertionError(f"max_update: expected an int, got "
                             f"{type(max_update).__name__} {max_update!r}")
    if max_update < 1:
        raise ValueError(f"maximum number of updates must be strictly positive, "
                         f"got max_update={max_update}")


class FactorScheduler(LRScheduler):
    """`base_lr * factor ** floor((num_update - 1) / step)`, floored at `stop_factor_lr`."""

    def __init__(self, step, factor=1, stop_factor_lr=1e-8, base_lr=0.01,
                 warmup_steps=0, warmup_begin_lr=0, warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if step < 1:
            raise ValueError(f"Schedule step must be greater or equal than 1 round, "
                             f"got step={step}")
        _check_factor(factor)
        self.step = step
        self.factor = factor
        self.stop_factor_lr = stop_factor_lr
        self.count = 0

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while num_update > self.count + self.step:
            self.count += self.step
            self.base_lr *= self.factor
            if self.base_lr < self.stop_factor_lr:
                self.base_lr = self.stop_factor_lr
                logging.info("Update[%d]: now learning rate arrived at %0.5e, will not "
                             "change in the future", num_update, self.base_lr)
            else:
                logging.info("Update[%d]: Change learning rate to %0.5e",
                             num_update, self.base_lr)
        return self.base_lr


class MultiFactorScheduler(LRScheduler):
    """Multiply the rate by `factor` each time `num_update` passes one of the `step` list."""

    def __init__(self, step, factor=1, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0,
                 warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not isinstance(step, list) or len(step) < 1:
            raise AssertionError(f"step: expected a non-empty list of ints, got {step!r}")
        for i, _step in enumerate(step):
            if i != 0 and step[i] <= step[i - 1]:
                raise ValueError(f"Schedule step must be an increasing integer list, got {step}")
            if _step < 1:
                raise ValueError(f"Schedule step must be greater or equal than 1 round, "
                                 f"got {step}")
        _check_factor(factor)
        self.step = step
        self.cur_step_ind = 0
        self.factor = factor
        self.count = 0

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while self.cur_step_ind < len(self.step) and num_update > self.step[self.cur_step_ind]:
            self.count = self.step[self.cur_step_ind]
            self.cur_step_ind += 1
            self.base_lr *= self.factor
            logging.info("Update[%d]: Change learning rate to %0.5e", num_update, self.base_lr)
        return self.base_lr


class PolyScheduler(LRScheduler):
    """`final_lr + (base_lr - final_lr) * (1 - t / T) ** pwr` over the post-warmup steps."""

    def __init__(self, max_update, base_lr=0.01, pwr=2, final_lr=0,
                 warmup_steps=0, warmup_begin_lr=0, warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        _check_max_update(max_update)
        self.power = pwr
        self.base_lr_orig = self.base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            progress = float(num_update - self.warmup_steps) / float(self.max_steps)
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) \
                * pow(1 - progress, self.power)
        return self.base_lr


class CosineScheduler(LRScheduler):
    """`final_lr + (base_lr - final_lr) * (1 + cos(pi * t / T)) / 2` over the post-warmup steps."""

    def __init__(self, max_update, base_lr=0.01, final_lr=0,
                 warmup_steps=0, warmup_begin_lr=0, warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        _check_max_update(max_update)
        self.base_lr_orig = base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) \
                * (1 + cos(pi * (num_update - self.warmup_steps) / self.max_steps)) / 2
        return self.base_lr
