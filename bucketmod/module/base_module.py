"""BaseModule: the high-level API (fit, score, predict, iter_predict), written once over the
intermediate API (bind, init_params, init_optimizer, forward, backward, update, ...) that every
module type implements."""
import logging
import time

import numpy as np

from .. import metric as _metric
from ..callback import BatchEndParam
from ..initializer import Uniform
from ..io import DataBatch
from ..ndarray.ndarray import NDArray, array, concat


def _as_list(obj):
    if obj is None:
        return []
    return list(obj) if isinstance(obj, (list, tuple)) else [obj]


def _require(ok, message):
    """MXNet guards module state with assertions; these stay on under `python -O`."""
    if not ok:
        raise AssertionError(message)


class BaseModule:
    """A computation component that can be bound, initialised, run and updated.

    States: initial -> `bind` (memory allocated) -> `init_params` -> `init_optimizer`.
    Subclasses implement the intermediate API; `fit`/`score`/`predict` come from here.
    """

    def __init__(self, logger=logging):
        self.logger = logger
        self.binded = False
        self.for_training = False
        self.inputs_need_grad = False
        self.params_initialized = False
        self.optimizer_initialized = False
        self._symbol = None

    # -- state guards -----------------------------------------------------------------------
    def _check_bound(self, what):
        _require(self.binded, f"{what}: the module is not bound; call bind() first")

    def _check_ready(self, what):
        self._check_bound(what)
        _require(self.params_initialized, f"{what}: parameters are not initialised; call "
                                          f"init_params() (or set_params()) first")

    def _check_optimizer(self, what):
        self._check_ready(what)
        _require(self.optimizer_initialized, f"{what}: no optimizer; call init_optimizer() "
                                             f"first")

    # -- high level -------------------------------------------------------------------------
    def forward_backward(self, data_batch):
        """forward(is_train=True) then backward()."""
        self.forward(data_batch, is_train=True)
        self.backward()

    def score(self, eval_data, eval_metric, num_batch=None, batch_end_callback=None,
              score_end_callback=None, reset=True, epoch=0, sparse_row_id_fn=None):
        """Run prediction on `eval_data` and return `eval_metric.get_name_value()`."""
        return self._score(eval_data, eval_metric, num_batch, batch_end_callback,
                           score_end_callback, reset, epoch, sparse_row_id_fn, None)

    def _score(self, eval_data, eval_metric, num_batch, batch_end_callback, score_end_callback,
               reset, epoch, sparse_row_id_fn, kvstore):
        """`score`; with a dist `kvstore`, the metric the end callbacks see and the values
        returned cover every worker's batches."""
        self._check_ready("score")
        if reset:
            eval_data.reset()
        if not isinstance(eval_metric, _metric.EvalMetric):
            eval_metric = _metric.create(eval_metric)
        eval_metric.reset()
        actual_num_batch = 0
        for nbatch, eval_batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.prepare(eval_batch, sparse_row_id_fn=sparse_row_id_fn)
            self.forward(eval_batch, is_train=False)
            self._update_metric_for(eval_metric, eval_batch)
            if batch_end_callback is not None:
                param = BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=eval_metric,
                                      locals={"self": self, "eval_batch": eval_batch})
                for callback in _as_list(batch_end_callback):
                    callback(param)
            actual_num_batch += 1
        if kvstore is not None:
            eval_metric = kvstore.reduce_metric(eval_metric)
        if score_end_callback:
            param = BatchEndParam(epoch=epoch, nbatch=actual_num_batch, eval_metric=eval_metric,
                                  locals={"self": self})
            for callback in _as_list(score_end_callback):
                callback(param)
        return eval_metric.get_name_value()

    def _update_metric_for(self, metric, batch):
        if isinstance(batch, list):
            self.update_metric(metric, [b.label for b in batch], pre_sliced=True)
        else:
            self.update_metric(metric, batch.label)

    def iter_predict(self, eval_data, num_batch=None, reset=True, sparse_row_id_fn=None):
        """Yield `(outputs, nbatch, batch)` per batch, padding removed from the outputs."""
        self._check_ready("iter_predict")
        if reset:
            eval_data.reset()
        for nbatch, eval_batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.prepare(eval_batch, sparse_row_id_fn=sparse_row_id_fn)
            self.forward(eval_batch, is_train=False)
            pad = eval_batch.pad or 0
            outputs = [out[0:out.shape[0] - pad] for out in self.get_outputs()]
            yield outputs, nbatch, eval_batch

    def predict(self, eval_data, num_batch=None, merge_batches=True, reset=True,
                always_output_list=False, sparse_row_id_fn=None):
        """Outputs over a data iterator (or one numpy/NDArray batch), padding removed.

        Returns:
            With merge_batches, one NDArray per output concatenated over batches (a single
            NDArray when there is one output, unless always_output_list); otherwise a list of
            per-batch output lists.
        """
        self._check_ready("predict")
        if isinstance(eval_data, (NDArray, np.ndarray)):
            if isinstance(eval_data, np.ndarray):
                eval_data = array(eval_data)
            self.forward(DataBatch([eval_data]))
            return self.get_outputs()[0]
        if not hasattr(eval_data, "reset"):
            raise TypeError(f"eval_data: expected a DataIter, NDArray or numpy array, got "
                            f"{type(eval_data).__name__}")
        output_list = []
        for outputs, _, _ in self.iter_predict(eval_data, num_batch, reset, sparse_row_id_fn):
            output_list.append([out.copy() for out in outputs])
        if not output_list:
            return output_list
        if not merge_batches:
            return output_list
        num_outputs = len(output_list[0])
        for out in output_list:
            if len(out) != num_outputs:
                raise ValueError("predict: batches gave different numbers of outputs; use "
                                 "merge_batches=False")
        merged = [concat(*[out[i] for out in output_list], dim=0) for i in range(num_outputs)]
        if num_outputs == 1 and not always_output_list:
            return merged[0]
        return merged

    def fit(self, train_data, eval_data=None, eval_metric="acc", epoch_end_callback=None,
            batch_end_callback=None, kvstore="local", optimizer="sgd",
            optimizer_params=(("learning_rate", 0.01),), eval_end_callback=None,
            eval_batch_end_callback=None, initializer=Uniform(0.01), arg_params=None,
            aux_params=None, allow_missing=False, force_rebind=False, force_init=False,
            begin_epoch=0, num_epoch=None, validation_metric=None, monitor=None,
            sparse_row_id_fn=None):
        """Train: bind, initialise, then per epoch forward/backward/update every batch, log the
        training metric, call the callbacks and score `eval_data`.

        With a dist kvstore each worker trains on its own shard of the data (see the iterators'
        `num_parts`/`part_index` and `mx.io.ShardIter`); the epoch's training and validation
        metrics are logged over every worker's batches, and checkpoints are written by rank 0.
        """
        if num_epoch is None:
            raise ValueError("fit: num_epoch is required (the number of epochs to train)")
        self.bind(data_shapes=train_data.provide_data, label_shapes=train_data.provide_label,
                  for_training=True, force_rebind=force_rebind)
        if monitor is not None:
            self.install_monitor(monitor)
        self.init_params(initializer=initializer, arg_params=arg_params, aux_params=aux_params,
                         allow_missing=allow_missing, force_init=force_init)
        self.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                            optimizer_params=optimizer_params)
        if validation_metric is None:
            validation_metric = eval_metric
        if not isinstance(eval_metric, _metric.EvalMetric):
            eval_metric = _metric.create(eval_metric)
        for epoch in range(begin_epoch, num_epoch):
            tic = time.time()
            eval_metric.reset()
            name_values = self._fit_epoch(train_data, epoch, eval_metric, batch_end_callback,
                                          monitor, sparse_row_id_fn)
            dist = self._dist_kvstore()
            if dist is not None:
                name_values = dist.reduce_metric(eval_metric).get_global_name_value()
            for name, val in name_values:
                self.logger.info("Epoch[%d] Train-%s=%f", epoch, name, val)
            self.logger.info("Epoch[%d] Time cost=%.3f", epoch, time.time() - tic)
            if epoch_end_callback is not None:
                arg_params_now, aux_params_now = self.get_params()
                for callback in _as_list(epoch_end_callback):
                    callback(epoch, self.symbol, arg_params_now, aux_params_now)
            if eval_data is not None:
                res = self._score(eval_data, validation_metric, None, eval_batch_end_callback,
                                  eval_end_callback, True, epoch, None, dist)
                for name, val in res:
                    self.logger.info("Epoch[%d] Validation-%s=%f", epoch, name, val)
            train_data.reset()

    def _fit_epoch(self, train_data, epoch, eval_metric, batch_end_callback, monitor,
                   sparse_row_id_fn):
        data_iter = iter(train_data)
        try:
            next_batch = next(data_iter)
        except StopIteration:
            raise ValueError("fit: train_data gave no batch; is the iterator empty or not "
                             "reset?") from None
        nbatch, end_of_batch, name_values = 0, False, []
        while not end_of_batch:
            data_batch = next_batch
            if monitor is not None:
                monitor.tic()
            self._fit_step(data_batch)
            self._update_metric_for(eval_metric, data_batch)
            try:
                next_batch = next(data_iter)
                self.prepare(next_batch, sparse_row_id_fn=sparse_row_id_fn)
            except StopIteration:
                end_of_batch = True
            if monitor is not None:
                monitor.toc_print()
            if end_of_batch:
                name_values = eval_metric.get_global_name_value()
            if batch_end_callback is not None:
                param = BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=eval_metric,
                                      locals={"self": self, "data_batch": data_batch})
                for callback in _as_list(batch_end_callback):
                    callback(param)
            nbatch += 1
        return name_values

    def _fit_step(self, data_batch):
        """One training step of `fit`: forward, backward and update (Module replays it as a
        CUDA graph where it can)."""
        self.forward_backward(data_batch)
        self.update()

    # -- parameters on disk -----------------------------------------------------------------
    def save_params(self, fname):
        """Write `arg:`/`aux:` prefixed parameters to `fname` (atomically)."""
        from ..model import save_params_dict
        arg_params, aux_params = self.get_params()
        save_params_dict(fname, arg_params, aux_params)

    def load_params(self, fname):
        from ..model import load_params_dict
        arg_params, aux_params = load_params_dict(fname)
        self.set_params(arg_params, aux_params)

    # -- defaults for modules without these -------------------------------------------------
    def prepare(self, data_batch, sparse_row_id_fn=None):
        """Prepare for `data_batch` (bucket switch, reshape); nothing to do by default."""
        if sparse_row_id_fn is not None:
            self.logger.warning("sparse_row_id_fn is ignored: bucketmod has no row_sparse "
                                "parameters")

    def get_states(self, merge_multi_context=True):
        self._check_ready("get_states")
        return []

    def set_states(self, states=None, value=None):
        self._check_ready("set_states")

    def install_monitor(self, mon):
        raise TypeError(f"{type(self).__name__} has no executors to monitor")

    def _dist_kvstore(self):
        """The distributed kvstore this module trains with (more than one worker), or None."""
        return None

    @property
    def symbol(self):
        return self._symbol

    def __repr__(self):
        return (f"<{type(self).__name__} binded={self.binded} "
                f"params_initialized={self.params_initialized} "
                f"optimizer_initialized={self.optimizer_initialized}>")


__all__ = ["BaseModule"]
