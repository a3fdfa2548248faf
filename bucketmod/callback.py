"""`mx.callback`: what `fit` calls after each batch and each epoch.

Batch-end callbacks receive a `BatchEndParam`; epoch-end callbacks are called as
`callback(epoch, symbol, arg_params, aux_params)`. Log lines match MXNet 1.x's text.
"""
import logging
import math
import time
from collections import namedtuple

BatchEndParam = namedtuple("BatchEndParam", ["epoch", "nbatch", "eval_metric", "locals"])


def _reset_local(metric):
    """Reset the running values only (MXNet's `reset_local`); plain `reset` if that is all."""
    reset = getattr(metric, "reset_local", None) or metric.reset
    reset()


def _period(period):
    return int(max(1, period))


def module_checkpoint(mod, prefix, period=1, save_optimizer_states=False):
    """An epoch-end callback that calls `mod.save_checkpoint` every `period` epochs (which
    writes on rank 0 only when training with a dist kvstore).

    Files are numbered by epochs done: after epoch 0 (of `period=1`) `prefix-0001.params`.
    """
    period = _period(period)

    def _callback(iter_no, sym=None, arg=None, aux=None):
        if (iter_no + 1) % period == 0:
            mod.save_checkpoint(prefix, iter_no + 1, save_optimizer_states)
    return _callback


def do_checkpoint(prefix, period=1):
    """An epoch-end callback that writes `prefix-symbol.json` and `prefix-%04d.params`
    through `mx.model.save_checkpoint` every `period` epochs (on rank 0 only when training
    with a dist kvstore).

    Example:
        >>> mod.fit(train_iter, num_epoch=2, epoch_end_callback=mx.callback.do_checkpoint('lm'))
    """
    period = _period(period)

    def _callback(iter_no, sym, arg, aux):
        from .kvstore import writes_checkpoints
        if (iter_no + 1) % period == 0 and writes_checkpoints():
            from .model import save_checkpoint  # model imports callback; import late
            save_checkpoint(prefix, iter_no + 1, sym, arg, aux)
    return _callback


def log_train_metric(period, auto_reset=False):
    """A batch-end callback logging `Iter[e] Batch[n] Train-name=value` every `period` batches."""
    def _callback(param):
        if param.nbatch % period == 0 and param.eval_metric is not None:
            for name, value in param.eval_metric.get_name_value():
                logging.info("Iter[%d] Batch[%d] Train-%s=%f", param.epoch, param.nbatch, name,
                             value)
            if auto_reset:
                _reset_local(param.eval_metric)
    return _callback


class Speedometer:
    """Log samples/s and the training metric every `frequent` batches.

    Args:
        batch_size: samples per batch (the speed is `frequent * batch_size / seconds`).
        frequent: log every this many batches.
        auto_reset: reset the metric after each log, so each line covers its own batches
            (`Batch [40-60]`); otherwise the metric accumulates over the epoch (`Batch [0-60]`).

    The first call of an epoch (nbatch going down) only starts the clock.

    Example:
        >>> mod.fit(it, batch_end_callback=mx.callback.Speedometer(32, 50))
        Epoch[0] Batch [0-50]	Speed: 1910.41 samples/sec	perplexity=812.034210
    """

    def __init__(self, batch_size, frequent=50, auto_reset=True):
        self.batch_size = batch_size
        self.frequent = frequent
        self.init = False
        self.tic = 0
        self.last_count = 0
        self.auto_reset = auto_reset

    def __call__(self, param):
        count = param.nbatch
        if self.last_count > count:
            self.init = False
        self.last_count = count
        if not self.init:
            self.init = True
            self.tic = time.time()
            return
        if count % self.frequent != 0:
            return
        elapsed = time.time() - self.tic
        speed = self.frequent * self.batch_size / elapsed if elapsed > 0 else float("inf")
        if param.eval_metric is None:
            logging.info("Iter[%d] Batch [%d]\tSpeed: %.2f samples/sec", param.epoch, count,
                         speed)
        else:
            name_value = param.eval_metric.get_name_value()
            values = sum(name_value, ())
            if self.auto_reset:
                _reset_local(param.eval_metric)
                msg = "Epoch[%d] Batch [%d-%d]\tSpeed: %.2f samples/sec" \
                    + "\t%s=%f" * len(name_value)
                logging.info(msg, param.epoch, count - self.frequent, count, speed, *values)
            else:
                msg = "Epoch[%d] Batch [0-%d]\tSpeed: %.2f samples/sec" \
                    + "\t%s=%f" * len(name_value)
                logging.info(msg, param.epoch, count, speed, *values)
        self.tic = time.time()


class ProgressBar:
    """Log a `[====----] 50%` bar of the batches done in the epoch, out of `total`."""

    def __init__(self, total, length=80):
        if total <= 0:
            raise ValueError(f"ProgressBar: total must be a positive number of batches, "
                             f"got {total!r}")
        self.bar_len = length
        self.total = total

    def __call__(self, param):
        count = param.nbatch
        filled = int(round(self.bar_len * count / float(self.total)))
        percents = math.ceil(100.0 * count / float(self.total))
        bar = "=" * filled + "-" * (self.bar_len - filled)
        logging.info("[%s] %s%s\r", bar, percents, "%")


class LogValidationMetricsCallback:
    """Log `Epoch[e] Validation-name=value` for each metric value at the end of an epoch."""

    def __call__(self, param):
        if not param.eval_metric:
            return
        for name, value in param.eval_metric.get_name_value():
            logging.info("Epoch[%d] Validation-%s=%f", param.epoch, name, value)
