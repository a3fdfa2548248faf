"""BucketingModule: one Module per bucket key, all of them over the same parameter memory.

The default bucket (normally the largest) is bound first. Every other bucket is bound with it as
`shared_module`: its parameters and gradients are the default bucket's own arrays, and its data
and scratch buffers are views of the default bucket's where they fit. Switching buckets copies
nothing; an update made under one bucket is seen by all.
"""
import logging
import warnings

import numpy as np
import torch

from ..base import MXNetError
from ..context import cpu
from ..initializer import Uniform
from ..kvstore import writes_checkpoints
from ..name import NameManager
from ..ndarray import serialization
from ..ndarray.ndarray import array
from .base_module import BaseModule, _require
from .cuda_graph import CudaGraphs
from .module import Module, check_input_names

_INT_DTYPES = (torch.uint8, torch.int8, torch.int32, torch.int64)


def _bucket_keys(fname, blob):
    """The int bucket keys of a `.buckets` file: one 1-d integer array of distinct keys."""
    loaded = serialization.decode(blob, repr(fname))
    arr = loaded[0] if isinstance(loaded, list) and len(loaded) == 1 else None
    if arr is None or arr.ndim != 1 or arr.tensor.dtype not in _INT_DTYPES:
        raise MXNetError(f"bucket list {fname!r}: expected one 1-d integer array of bucket "
                         f"keys")
    keys = [int(k) for k in arr.asnumpy()]
    if len(set(keys)) != len(keys):
        raise MXNetError(f"bucket list {fname!r}: bucket keys {keys} repeat")
    return keys


class BucketingModule(BaseModule):
    """A module whose symbol depends on the batch's `bucket_key` (e.g. its sequence length).

    Args:
        sym_gen: `bucket_key -> (symbol, data_names, label_names)`; it runs under a fresh
            NameManager each call, so automatic names agree between buckets.
        default_bucket_key: the key bound first; its buffers serve all smaller buckets.
    """

    def __init__(self, sym_gen, default_bucket_key=None, logger=logging, context=cpu(),
                 work_load_list=None, fixed_param_names=None, state_names=None,
                 group2ctxs=None, compression_params=None):
        super().__init__(logger=logger)
        _require(default_bucket_key is not None, "default_bucket_key is required")
        self._default_bucket_key = default_bucket_key
        self._sym_gen = sym_gen
        symbol, data_names, label_names = self._call_sym_gen(default_bucket_key)
        arg_names = symbol.list_arguments()
        check_input_names("data", data_names, arg_names, True)
        check_input_names("label", label_names, arg_names, False)
        check_input_names("state", state_names or [], arg_names, True)
        check_input_names("fixed_param", fixed_param_names or [], arg_names, True)
        self._module_args = dict(logger=logger, context=context, work_load_list=work_load_list,
                                 fixed_param_names=fixed_param_names, state_names=state_names,
                                 compression_params=compression_params)
        self._preload = None
        self._saved = {}
        self._buckets = {}
        self._curr_module = None
        self._curr_bucket_key = None
        self._monitor = None
        self._grad_req = None
        self._cuda_graphs = CudaGraphs(logger=logger)

    def _call_sym_gen(self, bucket_key):
        try:
            with NameManager():
                result = self._sym_gen(bucket_key)
        except Exception as err:
            raise MXNetError(f"sym_gen could not build bucket {bucket_key!r}: "
                             f"{type(err).__name__}: {err}") from err
        if not (isinstance(result, tuple) and len(result) == 3):
            raise MXNetError(f"sym_gen({bucket_key!r}) must return (symbol, data_names, "
                             f"label_names), got {type(result).__name__}")
        symbol, data_names, label_names = result
        return symbol, list(data_names or []), list(label_names or [])

    def _reset_bind(self):
        self.binded = False
        self._buckets = {}
        self._curr_module = None
        self._curr_bucket_key = None

    # -- properties -------------------------------------------------------------------------
    @property
    def data_names(self):
        if self.binded:
            return self._curr_module.data_names
        return self._call_sym_gen(self._default_bucket_key)[1]

    @property
    def label_names(self):
        if self.binded:
            return self._curr_module.label_names
        return self._call_sym_gen(self._default_bucket_key)[2]

    @property
    def output_names(self):
        if self.binded:
            return self._curr_module.output_names
        return self._call_sym_gen(self._default_bucket_key)[0].list_outputs()

    @property
    def data_shapes(self):
        self._check_bound("data_shapes")
        return self._curr_module.data_shapes

    @property
    def label_shapes(self):
        self._check_bound("label_shapes")
        return self._curr_module.label_shapes

    @property
    def output_shapes(self):
        self._check_bound("output_shapes")
        return self._curr_module.output_shapes

    @property
    def symbol(self):
        """The current bucket's symbol."""
        self._check_bound("symbol")
        return self._curr_module.symbol

    @property
    def bucket_keys(self):
        """The keys bound so far, default first, then those loaded from a checkpoint and not
        yet bound (each binds with its saved symbol when first used)."""
        return list(self._buckets) + [k for k in self._saved if k not in self._buckets]

    @property
    def _total_exec_bytes(self):
        return sum(m._total_exec_bytes for m in self._buckets.values())


    def get_bucket_module(self, bucket_key):
        """The Module bound for `bucket_key` (KeyError if that bucket is not bound)."""
        return self._buckets[bucket_key]

    # -- parameters -------------------------------------------------------------------------
    def get_params(self):
        _require(self.params_initialized, "get_params: parameters are not initialised")
        return self._curr_module.get_params()

    def get_param_arrays(self):
        return self._curr_module.get_param_arrays()

    def get_grads(self):
        return self._curr_module.get_grads()

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        if not allow_missing:
            self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                             allow_missing=allow_missing, force_init=force_init,
                             allow_extra=allow_extra)
            return
        if self.params_initialized and not force_init:
            warnings.warn("Parameters already initialized and force_init=False. set_params "
                          "call ignored.", stacklevel=2)
            return
        self._curr_module.set_params(arg_params, aux_params, allow_missing=allow_missing,
                                     force_init=force_init, allow_extra=allow_extra)
        self.params_initialized = True

    def init_params(self, initializer=Uniform(0.01), arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        if self.params_initialized and not force_init:
            return
        self._check_bound("init_params")
        self._curr_module.init_params(initializer=initializer, arg_params=arg_params,
                                      aux_params=aux_params, allow_missing=allow_missing,
                                      force_init=force_init, allow_extra=allow_extra)
        self.params_initialized = True

    # -- binding ----------------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        """Bind the default bucket; other buckets bind on first use (`switch_bucket`)."""
        saved = self.get_params() if self.params_initialized and self.binded else None
        if force_rebind:
            self._reset_bind()
        if self.binded:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if shared_module is not None:
            raise ValueError("shared_module for BucketingModule is not supported")
        symbol, data_names, label_names = self._call_sym_gen(self._default_bucket_key)
        module = Module(symbol, data_names, label_names, **self._module_args)
        module.bind(data_shapes, label_shapes, for_training, inputs_need_grad,
                    force_rebind=False, shared_module=None, grad_req=grad_req)
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._grad_req = grad_req
        module._cuda_graphs = self._cuda_graphs
        self._cuda_graphs.first = module
        self._curr_module = module
        self._curr_bucket_key = self._default_bucket_key
        self._buckets[self._default_bucket_key] = module
        self.binded = True
        if self._monitor is not None:
            module.install_monitor(self._monitor)
        if saved is None and self._preload is not None:
            saved, self._preload = self._preload, None
        if saved is not None:
            self.set_params(*saved)

    def _bind_bucket(self, bucket_key, data_shapes, label_shapes):
        """The Module of `bucket_key`, bound against the default bucket's memory if new."""
        module = self._buckets.get(bucket_key)
        if module is not None:
            return module
        symbol, data_names, label_names = self._call_sym_gen(bucket_key)
        default = self._buckets[self._default_bucket_key]
        try:
            module = Module(symbol, data_names, label_names, **self._module_args)
            module.bind(data_shapes, label_shapes, default.for_training,
                        default.inputs_need_grad, force_rebind=False, shared_module=default,
                        grad_req=self._grad_req)
        except (MXNetError, ValueError) as err:
            raise type(err)(f"bucket {bucket_key!r}: {err}") from err
        module._cuda_graphs = self._cuda_graphs
        if self._monitor is not None:
            module.install_monitor(self._monitor)
        if self.optimizer_initialized:
            module.borrow_optimizer(default)
        symbol._drop_caches()
        self._buckets[bucket_key] = module
        return module

    def switch_bucket(self, bucket_key, data_shapes, label_shapes=None):
        """Make `bucket_key` current, binding it (sharing the default bucket) on first use.

        The bucket switched away from releases its outputs (and any forward not yet
        differentiated), so that only the current bucket holds more than the shared memory.
        """
        self._check_bound("switch_bucket")
        module = self._bind_bucket(bucket_key, data_shapes, label_shapes)
        if self._curr_module is not None and module is not self._curr_module:
            self._curr_module.release_outputs()
        self._curr_module = module
        self._curr_bucket_key = bucket_key

    def delete_bucket(self, bucket_key):
        """Forget a bound bucket (not the default); it is rebound when next used."""
        if bucket_key == self._default_bucket_key:
            raise ValueError("delete_bucket: the default bucket cannot be deleted")
        module = self._buckets.pop(bucket_key)
        if self._curr_module is module:
            self._curr_module = self._buckets[self._default_bucket_key]
            self._curr_bucket_key = self._default_bucket_key

    # -- optimizer and computation ----------------------------------------------------------
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        """One optimizer and updater for every bucket (each bucket's Module borrows it)."""
        self._check_ready("init_optimizer")
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring.")
            return
        default = self._buckets[self._default_bucket_key]
        default.init_optimizer(kvstore, optimizer, optimizer_params, force_init=force_init)
        for module in self._buckets.values():
            if module is not default:
                module.borrow_optimizer(default)
        self.optimizer_initialized = True

    def prepare(self, data_batch, sparse_row_id_fn=None):
        """Bind the batch's bucket ahead of its forward (the current bucket stays current)."""
        self._check_ready("prepare")
        self._bind_bucket(data_batch.bucket_key, data_batch.provide_data,
                          data_batch.provide_label)

    def forward(self, data_batch, is_train=None):
        """Switch to `data_batch.bucket_key` (binding it if new) and run the batch.

        As in MXNet, a batch whose bucket_key is None is bucket None (sym_gen(None)), not the
        default bucket.
        """
        self._check_ready("forward")
        self._switch_to(data_batch)
        self._curr_module.forward(data_batch, is_train=is_train)

    def _switch_to(self, data_batch):
        self.switch_bucket(data_batch.bucket_key, data_batch.provide_data,
                           data_batch.provide_label)

    @property
    def cuda_graphs(self):
        """Whether `fit` replays each bucket's training step as a CUDA graph where it can
        (None: as `BUCKETMOD_CUDA_GRAPHS` says, on by default); one setting for all buckets."""
        return self._cuda_graphs.enabled

    @cuda_graphs.setter
    def cuda_graphs(self, enabled):
        self._cuda_graphs.enabled = enabled

    def _fit_step(self, data_batch):
        self._check_optimizer("fit")
        self._switch_to(data_batch)
        if self._dist_kvstore() is not None:
            # workers in different buckets reduce the default bucket's whole list (update)
            self._curr_module.forward_backward(data_batch)
            self.update()
            return
        self._curr_module._fit_step(data_batch)

    def backward(self, out_grads=None):
        self._check_ready("backward")
        self._curr_module.backward(out_grads=out_grads)

    def update(self):
        """Update the parameters from the current bucket's gradients.

        With a dist kvstore, workers may be in different buckets in the same step, yet their
        all-reduce must cover the same gradients in the same order: every worker reduces and
        updates the default bucket's whole parameter list (the same arrays every bucket
        shares), a parameter the current bucket does not use contributing a zero gradient.
        """
        self._check_optimizer("update")
        default = self._buckets[self._default_bucket_key]
        module = self._curr_module
        if module is not default and default._dist_kvstore() is not None:
            unused = set(default._param_names) - set(module._param_names)
            extra = set(module._param_names) - set(default._param_names)
            if extra:
                raise MXNetError(f"bucket {self._curr_bucket_key!r} has parameters "
                                 f"{sorted(extra)} that the default bucket lacks; with a dist "
                                 f"kvstore every bucket's parameters must be the default's")
            for name in unused:
                for grad in default._exec_group.grad_arrays(name):
                    if grad is not None:
                        grad.tensor.zero_()
            module = default
        module.update()

    def _dist_kvstore(self):
        default = self._buckets.get(self._default_bucket_key)
        return default._dist_kvstore() if default is not None else None

    def get_outputs(self, merge_multi_context=True):
        self._check_ready("get_outputs")
        return self._curr_module.get_outputs(merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        self._check_ready("get_input_grads")
        _require(self.inputs_need_grad, "get_input_grads: bind with inputs_need_grad=True")
        return self._curr_module.get_input_grads(merge_multi_context)

    def get_states(self, merge_multi_context=True):
        self._check_ready("get_states")
        return self._curr_module.get_states(merge_multi_context)

    def set_states(self, states=None, value=None):
        self._check_ready("set_states")
        self._curr_module.set_states(states, value)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        self._check_ready("update_metric")
        self._curr_module.update_metric(eval_metric, labels, pre_sliced)

    def install_monitor(self, mon):
        """Monitor every bucket, including those bound later."""
        self._check_bound("install_monitor")
        self._monitor = mon
        for module in self._buckets.values():
            module.install_monitor(mon)

    # -- checkpoints ------------------------------------------------------------------------
    def save_checkpoint(self, prefix, epoch, remove_amp_cast=False):
        """Write every bound bucket's symbol (`prefix-KEY-symbol.json`), the bucket list
        (`prefix.buckets`) and the shared parameters (`prefix-%04d.params`), as MXNet 1.x,
        as one generation (see `mx.model`)."""
        from ..model import CheckpointWriter, _params_dict, params_file
        _require(len(self._buckets) > 0, "save_checkpoint: no bucket is bound yet")
        if not writes_checkpoints():
            return
        arg_params, aux_params = self.get_params()
        keys = self.bucket_keys
        with CheckpointWriter(prefix, epoch) as ck:
            for key in keys:
                module = self._buckets.get(key)
                symbol = module.symbol if module is not None else self._saved[key]
                ck.write(f"{prefix}-{key}-symbol.json", [symbol.tojson().encode()])
            ck.write(params_file(prefix, epoch),
                     serialization.encode(_params_dict(arg_params, aux_params)))
            ck.write(f"{prefix}.buckets",
                     serialization.encode(array(keys, dtype=np.int32)))

    @staticmethod
    def load(prefix, epoch, sym_gen=None, default_bucket_key=None, **kwargs):
        """A BucketingModule from `save_checkpoint`'s files; parameters apply on bind.

        Every file is read and checked now; a bucket listed in `prefix.buckets` that a later
        save added is accepted, any other file must be the one the save of `epoch` wrote.
        """
        from ..model import CheckpointReader, _load_params, load_symbol
        _require(sym_gen is not None, "sym_gen is required for loading BucketingModule")
        _require(default_bucket_key is not None,
                 "default_bucket_key is required for loading BucketingModule")
        reader = CheckpointReader(prefix, epoch)
        fname = f"{prefix}.buckets"
        keys = _bucket_keys(fname, reader.read(fname, "bucket list", check=False))
        symbols = {k: load_symbol(reader, f"{prefix}-{k}-symbol.json", unlisted_ok=True)
                   for k in keys}
        arg_params, aux_params = _load_params(reader)
        return BucketingModule.load_dict(symbols, sym_gen, default_bucket_key, arg_params,
                                         aux_params, **kwargs)

    @staticmethod
    def load_dict(sym_dict=None, sym_gen=None, default_bucket_key=None, arg_params=None,
                  aux_params=None, **kwargs):
        """A BucketingModule whose buckets use the given symbols and shared parameters.

        Buckets in `sym_dict` use those symbols instead of `sym_gen`'s; parameters apply on bind.
        """
        _require(sym_dict is not None, "sym_dict needs to be provided for load_dict")
        _require(arg_params is not None, "arg_params need to be provided for load_dict")
        _require(aux_params is not None, "aux_params need to be provided for load_dict")
        _require(default_bucket_key is not None,
                 "default_bucket_key needs to be provided for load_dict")

        def loaded_sym_gen(key):
            if key in sym_dict:
                _, data_names, label_names = sym_gen(key)
                return sym_dict[key], data_names, label_names
            return sym_gen(key)

        mod = BucketingModule(loaded_sym_gen, default_bucket_key, **kwargs)
        mod._saved = dict(sym_dict)
        mod._preload = (arg_params, aux_params)
        mod.params_initialized = True
        return mod
