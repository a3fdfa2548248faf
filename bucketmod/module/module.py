"""Module: one symbol bound over one or more contexts, with its parameters and optimizer."""
import logging
import warnings

import torch

from .. import optimizer as _opt
from ..base import MXNetError
from ..context import Context, cpu
from ..dtype import dtype_name
from ..initializer import InitDesc, Uniform
from ..io import DataDesc
from ..kvstore import KVStore, writes_checkpoints
from ..kvstore import create as create_kvstore
from ..ndarray import serialization
from ..ndarray.ndarray import NDArray, as_tensor
from ..optimizer import states as states_format
from .base_module import BaseModule, _require
from .cuda_graph import CudaGraphs
from .executor_group import ExecutorGroup, as_descs, batch_shapes


def check_input_names(kind, names, symbol_args, throw):
    for name in names:
        if name not in symbol_args:
            message = (f"You created Module with Module(..., {kind}_names={list(names)}) but "
                       f"input with name '{name}' is not found in symbol.list_arguments(). "
                       f"Did you mean one of:\n\t" + "\n\t".join(symbol_args))
            if throw:
                raise ValueError(message)
            warnings.warn(message, stacklevel=3)


class Module(BaseModule):
    """A symbol with its data/label names, bound to contexts.

    Example:
        >>> mod = mx.mod.Module(net, data_names=['data'], label_names=['softmax_label'])
        >>> mod.fit(train_iter, num_epoch=2)
    """

    def __init__(self, symbol, data_names=("data",), label_names=("softmax_label",),
                 logger=logging, context=cpu(), work_load_list=None, fixed_param_names=None,
                 state_names=None, group2ctxs=None, compression_params=None):
        super().__init__(logger=logger)
        contexts = list(context) if isinstance(context, (list, tuple)) else [context]
        for ctx in contexts:
            if not isinstance(ctx, Context):
                raise TypeError(f"context: expected a Context or a list of them, got {ctx!r}")
        self._context = contexts
        if work_load_list is None:
            work_load_list = [1] * len(contexts)
        if len(work_load_list) != len(contexts):
            raise ValueError(f"work_load_list: expected {len(contexts)} entries (one per "
                             f"context), got {len(work_load_list)}")
        self._work_load_list = list(work_load_list)
        self._symbol = symbol
        self._data_names = list(data_names or [])
        self._label_names = list(label_names or [])
        self._state_names = list(state_names or [])
        self._fixed_param_names = list(fixed_param_names or [])
        arg_names = symbol.list_arguments()
        input_names = self._data_names + self._label_names + self._state_names
        check_input_names("data", self._data_names, arg_names, True)
        check_input_names("label", self._label_names, arg_names, False)
        check_input_names("state", self._state_names, arg_names, True)
        check_input_names("fixed_param", self._fixed_param_names, arg_names, True)
        self._param_names = [n for n in arg_names if n not in input_names]
        self._aux_names = symbol.list_auxiliary_states()
        self._output_names = symbol.list_outputs()
        self._exec_group = None
        self._data_shapes = None
        self._label_shapes = None
        self._optimizer = None
        self._kvstore = None
        self._updater = None
        self._preload_opt_states = None
        self._preload_params = None
        self._grad_req = None
        self._cuda_graphs = None
        self._compression_params = compression_params

    # -- properties -------------------------------------------------------------------------
    @property
    def data_names(self):
        return self._data_names

    @property
    def label_names(self):
        return self._label_names

    @property
    def output_names(self):
        return self._output_names

    @property
    def state_names(self):
        return self._state_names

    @property
    def data_shapes(self):
        self._check_bound("data_shapes")
        return self._data_shapes

    @property
    def label_shapes(self):
        """The bound label DataDescs; None when bound without labels, as MXNet."""
        self._check_bound("label_shapes")
        return self._label_shapes or None

    @property
    def output_shapes(self):
        self._check_bound("output_shapes")
        shapes = {d.name: d.shape for d in self._data_shapes + (self._label_shapes or [])}
        _, out_shapes, _ = self._symbol.infer_shape(**shapes)
        return list(zip(self._output_names, out_shapes))

    @property
    def _total_exec_bytes(self):
        return self._exec_group.total_exec_bytes if self._exec_group else 0


    # -- binding ----------------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        """Allocate executors for these input shapes (`data_iter.provide_data`/`provide_label`).

        With `shared_module`, parameters and gradients are that module's own arrays, and the
        other buffers are views of its memory where they fit (bucketing).
        """
        if force_rebind:
            if self.binded and self.params_initialized:
                self._preload_params = self.get_params()
            self._reset_bind()
        if self.binded:
            self.logger.warning("Already bound, ignoring bind()")
            return
        data_descs = as_descs("data_shapes", data_shapes)
        label_descs = as_descs("label_shapes", label_shapes) if for_training or label_shapes \
            else []
        self._check_input_names(data_descs, label_descs)
        if self._label_names and not label_descs:
            warnings.warn(f"Data provided by label_shapes don't match names specified by "
                          f"label_names ({label_descs} vs. {self._label_names})", stacklevel=2)
        if not for_training and inputs_need_grad:
            raise ValueError("inputs_need_grad=True needs for_training=True")
        shared_group = None
        if shared_module is not None:
            _require(isinstance(shared_module, Module) and shared_module.binded and
                     shared_module.params_initialized,
                     "shared_module must be a bound Module with initialised parameters")
            shared_group = shared_module._exec_group
            if len(shared_group.execs) != len(self._context):
                raise ValueError("shared_module must use the same contexts as this module")
            self._check_shared_names(shared_module)
        self._exec_group = ExecutorGroup(
            self._symbol, self._context, self._work_load_list, data_descs, label_descs,
            self._param_names, for_training, inputs_need_grad, shared_group,
            self._fixed_param_names, grad_req, self._state_names)
        self._data_shapes, self._label_shapes = data_descs, label_descs
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._grad_req = grad_req
        self.binded = True
        if shared_module is not None:
            self.params_initialized = True
        elif self._preload_params is not None:
            arg_params, aux_params = self._preload_params
            self._preload_params = None
            self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                             force_init=True)

    def _check_shared_names(self, shared_module):
        """Every parameter must be one of the shared module's: MXNet refuses at bind what would
        otherwise be a new, uninitialised parameter that no checkpoint saves."""
        shared = set(shared_module._param_names) | set(shared_module._aux_names)
        own = self._param_names + self._aux_names
        foreign = [n for n in own if n not in shared]
        if foreign:
            raise MXNetError(f"bind: parameters {foreign} are not parameters of the shared "
                             f"module, whose parameters are {sorted(shared)}; a module bound "
                             f"with shared_module may only use those")

    def _check_input_names(self, data_descs, label_descs):
        data = [d.name for d in data_descs]
        if sorted(data) != sorted(self._data_names):
            raise ValueError(f"data_shapes: names {data} do not match the module's data_names "
                             f"{self._data_names}")
        labels = [d.name for d in label_descs]
        if labels and sorted(labels) != sorted(self._label_names):
            raise ValueError(f"label_shapes: names {labels} do not match the module's "
                             f"label_names {self._label_names}")
        if labels and not self._label_names:
            raise ValueError(f"label_shapes: the module has no labels, got {labels}")

    def _reset_bind(self):
        self.binded = False
        self._exec_group = None
        self._data_shapes = None
        self._label_shapes = None

    def reshape(self, data_shapes, label_shapes=None):
        """Rebind for new input shapes, keeping parameters (same arrays) and memory."""
        self._check_bound("reshape")
        data_descs = as_descs("data_shapes", data_shapes)
        label_descs = as_descs("label_shapes", label_shapes)
        self._check_input_names(data_descs, label_descs)
        old = self._exec_group
        self._exec_group = ExecutorGroup(
            self._symbol, self._context, self._work_load_list, data_descs, label_descs,
            self._param_names, old.for_training, old.inputs_need_grad, old,
            self._fixed_param_names, self._grad_req, self._state_names)
        self._data_shapes, self._label_shapes = data_descs, label_descs

    # -- parameters -------------------------------------------------------------------------
    def _param_arrays(self):
        """{name: NDArray} of the first context: the arrays computation uses."""
        group = self._exec_group
        args = {n: group.param_arrays(n)[0] for n in self._param_names}
        aux = {n: group.param_arrays(n)[0] for n in self._aux_names}
        return args, aux

    def get_param_arrays(self):
        """(arg_params, aux_params) of the live arrays (no copies): writes change the model."""
        self._check_bound("get_param_arrays")
        return self._param_arrays()

    def get_grads(self):
        """{name: NDArray} of the live gradient arrays of the first context."""
        self._check_bound("get_grads")
        return {n: self._exec_group.grad_arrays(n)[0] for n in self._param_names
                if self._exec_group.grad_arrays(n)[0] is not None}

    def get_params(self):
        """(arg_params, aux_params): CPU copies of the current parameters.

        Aux states (BatchNorm statistics) evolve on each context from its own slice of the
        batch; as in MXNet, their mean over the contexts is returned.
        """
        self._check_ready("get_params")
        args, aux = self._param_arrays()
        return ({n: a.copyto(cpu()) for n, a in args.items()},
                {n: self._mean_over_contexts(n) for n in aux})

    def _mean_over_contexts(self, name):
        copies = [a.tensor.detach().cpu() for a in self._exec_group.param_arrays(name)]
        if len(copies) == 1:
            return NDArray(copies[0].clone(), cpu())
        return NDArray(torch.stack(copies).mean(0), cpu())

    def init_params(self, initializer=Uniform(0.01), arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Fill parameters from `arg_params`/`aux_params`, the rest with `initializer`.

        Raises RuntimeError for a parameter missing from given dicts (unless allow_missing);
        nothing is written then. Names the symbol lacks are ignored, as in MXNet 1.9.1
        (`allow_extra` only matters to `set_params(..., allow_missing=True)`).
        """
        if self.params_initialized and not force_init:
            warnings.warn("Parameters already initialized and force_init=False. init_params "
                          "call ignored.", stacklevel=2)
            return
        self._check_bound("init_params")
        args, aux = self._param_arrays()
        for given, arrays in ((arg_params, args), (aux_params, aux)):
            missing = [n for n in arrays if given is not None and n not in given]
            if missing and not allow_missing:
                raise RuntimeError(f"{missing[0]} is not presented (init_params: give it, or "
                                   f"set allow_missing=True to initialise it)")
            for name, arr in arrays.items():
                if given is not None and name in given:
                    shape = tuple(as_tensor(given[name]).shape)
                    if shape != arr.shape:
                        raise ValueError(f"init_params: {name} has shape {shape}, the module "
                                         f"needs {arr.shape}")
        for name, arr in args.items():
            self._init_one(name, arr, arg_params, initializer)
        for name, arr in aux.items():
            self._init_one(name, arr, aux_params, initializer)
        self._exec_group.broadcast_from_first(list(args) + list(aux))
        self.params_initialized = True

    def _init_one(self, name, arr, given, initializer):
        attrs = self._symbol.attr_dict().get(name, {})
        if given is not None and name in given:
            src = given[name]
            src_t = src.tensor if isinstance(src, NDArray) else as_tensor(src)
            with torch.no_grad():
                arr.tensor.copy_(src_t)
        elif initializer is not None:
            initializer(InitDesc(name, attrs), arr)

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
        if not allow_extra:
            args, aux = self._param_arrays()
            for given, names in ((arg_params, args), (aux_params, aux)):
                extra = [k for k in (given or {}) if k not in names]
                if extra:
                    raise ValueError(f"set_params: found names {extra} that are not in the "
                                     f"symbol's parameters; set allow_extra=True to ignore them")
        self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                         allow_missing=True, force_init=True, allow_extra=allow_extra)

    # -- optimizer --------------------------------------------------------------------------
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        """Install the optimizer; `rescale_grad` defaults to 1/batch size, where the batch of a
        'dist_sync' store is the global one (this module's batch times the workers).

        With a kvstore, every context (and, distributed, every worker) starts from the first
        context's (rank 0's) parameters.
        """
        self._check_ready("init_optimizer")
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring...")
            return
        kv = self._make_kvstore(kvstore)
        batch_size = self._exec_group.batch_size
        if kv is not None and "dist" in kv.type and "_sync" in kv.type:
            batch_size *= kv.num_workers
        rescale_grad = 1.0 / batch_size
        idx2name = dict(enumerate(self._param_names))
        if isinstance(optimizer, str):
            params = dict(optimizer_params)
            params.setdefault("rescale_grad", rescale_grad)
            optimizer = _opt.create(optimizer, sym=self._symbol, param_idx2name=idx2name,
                                    **params)
        elif isinstance(optimizer, _opt.Optimizer):
            if optimizer.rescale_grad != rescale_grad:
                warnings.warn(f"Optimizer created manually outside Module but rescale_grad is "
                              f"not normalized to 1.0/batch_size/num_workers "
                              f"({optimizer.rescale_grad} vs. {rescale_grad}). Is this "
                              f"intended?", stacklevel=2)
            if not optimizer.idx2name:
                optimizer.idx2name = idx2name.copy()
        else:
            raise TypeError(f"optimizer: expected a name or an Optimizer, got "
                            f"{type(optimizer).__name__}")
        self._optimizer = optimizer
        self._kvstore = kv
        self._updater = _opt.get_updater(optimizer)
        if kv is not None:
            if self._compression_params:
                kv.set_gradient_compression(self._compression_params)
            args, _ = self._param_arrays()
            group = self._exec_group
            kv.broadcast(self._param_names, [args[n] for n in self._param_names],
                         out=[group.param_arrays(n) for n in self._param_names])
        self.optimizer_initialized = True
        if self._preload_opt_states is not None:
            decoded, source = self._preload_opt_states
            self._install_optimizer_states(decoded, source)
            self._preload_opt_states = None

    def _make_kvstore(self, kvstore):
        """None for one context and a named store (as MXNet: nothing to aggregate)."""
        if kvstore is None:
            return None
        if isinstance(kvstore, KVStore):
            return kvstore
        if not isinstance(kvstore, str):
            raise TypeError(f"kvstore must be KVStore, str or None, got "
                            f"{type(kvstore).__name__}")
        if len(self._context) == 1 and "dist" not in kvstore:
            return None
        return create_kvstore(kvstore)

    def borrow_optimizer(self, shared_module):
        """Use `shared_module`'s optimizer, updater and kvstore (bucketing)."""
        _require(shared_module.optimizer_initialized,
                 "borrow_optimizer: the shared module has no optimizer yet")
        self._optimizer = shared_module._optimizer
        self._kvstore = shared_module._kvstore
        self._updater = shared_module._updater
        self.optimizer_initialized = True

    # -- computation ------------------------------------------------------------------------
    def forward(self, data_batch, is_train=None):
        """Run the batch; a batch of other shapes than bound reshapes the module first."""
        self._check_ready("forward")
        if is_train is None:
            is_train = self.for_training
        self._fit_batch(data_batch)
        self._exec_group.forward(data_batch, is_train)

    def _fit_batch(self, data_batch):
        """Reshape to `data_batch`'s shapes where they differ from the bound ones."""
        provided = getattr(data_batch, "provide_data", None)
        if provided and len(provided) == len(self._data_shapes) and all(
                isinstance(new, DataDesc) and new.name == old.name and new.shape == old.shape
                for new, old in zip(provided, self._data_shapes)):
            new_data = self._data_shapes  # the bound descriptors, valid by construction
        else:
            new_data = batch_shapes(data_batch, self._data_names)
        if len(new_data) != len(self._data_names):
            raise ValueError(f"forward: the batch has {len(new_data)} data arrays, the module "
                             f"expects {len(self._data_names)} ({self._data_names})")
        labels = getattr(data_batch, "label", None)
        current = [(d.name, tuple(d.shape)) for d in self._data_shapes]
        if [(d.name, tuple(d.shape)) for d in new_data] != current:
            label_descs = None
            if self._label_shapes and labels:
                provided = getattr(data_batch, "provide_label", None)
                label_descs = as_descs("provide_label", provided) if provided else [
                    DataDesc(d.name, tuple(lab.shape), layout=d.layout)
                    for d, lab in zip(self._label_shapes, labels)]
            new_data = [DataDesc(n.name, n.shape, n.dtype, getattr(old, "layout", n.layout))
                        if not getattr(data_batch, "provide_data", None) else n
                        for n, old in zip(new_data, self._data_shapes)]
            self.reshape(new_data, label_descs)
        if labels and not self._label_names:
            if self.for_training and any(lab is not None for lab in labels):
                raise ValueError("forward: the batch has labels, but the module has no "
                                 "label_names")

    def backward(self, out_grads=None):
        self._check_ready("backward")
        if out_grads is not None and not isinstance(out_grads, (list, tuple)):
            out_grads = [out_grads]
        self._exec_group.backward(out_grads=out_grads)

    def update(self):
        """Apply the optimizer to every parameter with a gradient: first the gradients are
        reduced (over contexts, through the kvstore), then one optimizer step updates all of
        them at once."""
        self._check_optimizer("update")
        group = self._exec_group
        indices, names = group.trained_params
        grads = [group.grad_arrays(n) for n in names]
        self._reduce_gradients(indices, names, grads)
        self._updater(indices, [g[0] for g in grads],
                      [group.param_arrays(n)[0] for n in names])
        group.broadcast_from_first(names)

    def _plan_update(self):
        """The host half of `update` (see `Updater.plan`) for one context without a kvstore:
        the device half as a function, or None where the optimizer has no multi-tensor
        step."""
        group = self._exec_group
        indices, names = group.trained_params
        return self._updater.plan(indices, [group.grad_arrays(n)[0] for n in names],
                                  [group.param_arrays(n)[0] for n in names])

    @property
    def cuda_graphs(self):
        """Whether `fit` captures its training step as a CUDA graph where it can (None: as
        `BUCKETMOD_CUDA_GRAPHS` says, on by default). Set False to turn graphs off."""
        return self._graph_policy().enabled

    @cuda_graphs.setter
    def cuda_graphs(self, enabled):
        self._graph_policy().enabled = enabled

    def _graph_policy(self):
        if self._cuda_graphs is None:
            self._cuda_graphs = CudaGraphs(logger=self.logger)
        return self._cuda_graphs

    def _fit_step(self, data_batch):
        """`fit`'s training step, as a CUDA graph where `cuda_graph.CudaGraphs` allows."""
        self._check_optimizer("fit")
        self._fit_batch(data_batch)
        self._graph_policy().step(self, data_batch)

    def _reduce_gradients(self, indices, names, grads):
        """Sum each gradient over the contexts and, with a dist kvstore, over the workers, into
        every context's copy: one kvstore call for all of them (one flat buffer per dtype, in
        the order the kvstore was initialised), the same on every worker whatever its bucket."""
        if self._kvstore is not None:
            self._kvstore.allreduce(names, grads)
        elif len(self._context) > 1:
            with torch.no_grad():
                for per_ctx in grads:
                    for grad in per_ctx[1:]:
                        per_ctx[0].tensor.add_(grad.tensor.to(per_ctx[0].tensor.device))

    def _dist_kvstore(self):
        kv = self._kvstore
        return kv if kv is not None and kv.num_workers > 1 else None

    def release_outputs(self):
        """Drop the last forward's outputs and graph (BucketingModule does this for the bucket
        it switches away from)."""
        if self._exec_group is not None:
            self._exec_group.release_outputs()

    def get_outputs(self, merge_multi_context=True):
        self._check_ready("get_outputs")
        return self._exec_group.get_outputs(merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        self._check_ready("get_input_grads")
        _require(self.inputs_need_grad, "get_input_grads: bind with inputs_need_grad=True")
        return self._exec_group.get_input_grads(merge_multi_context)

    def get_states(self, merge_multi_context=True):
        self._check_ready("get_states")
        return self._exec_group.get_states(merge_multi_context)

    def set_states(self, states=None, value=None):
        self._check_ready("set_states")
        self._exec_group.set_states(states, value)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        self._check_bound("update_metric")
        self._exec_group.update_metric(eval_metric, labels, pre_sliced)

    def install_monitor(self, mon):
        self._check_bound("install_monitor")
        self._exec_group.install_monitor(mon)

    def prepare(self, data_batch, sparse_row_id_fn=None):
        self._check_bound("prepare")
        super().prepare(data_batch, sparse_row_id_fn)

    # -- checkpoints ------------------------------------------------------------------------
    def save_checkpoint(self, prefix, epoch, save_optimizer_states=False,
                        remove_amp_cast=True):
        """`prefix-symbol.json`, `prefix-%04d.params` and optionally `prefix-%04d.states`,
        written as one generation (see `mx.model`: a reader detects files of different saves);
        on rank 0 only when training with a dist kvstore.
        """
        from ..model import CheckpointWriter, _params_dict, params_file, states_file
        if not writes_checkpoints():
            return
        if save_optimizer_states:
            self._check_optimizer("save_checkpoint(save_optimizer_states=True)")
        arg_params, aux_params = self.get_params()
        with CheckpointWriter(prefix, epoch) as ck:
            ck.write(f"{prefix}-symbol.json", [self._symbol.tojson().encode()])
            ck.write(params_file(prefix, epoch),
                     serialization.encode(_params_dict(arg_params, aux_params)))
            self.logger.info('Saved checkpoint to "%s"', params_file(prefix, epoch))
            if save_optimizer_states:
                ck.write(states_file(prefix, epoch), [self._updater.get_states()])
                self.logger.info('Saved optimizer state to "%s"', states_file(prefix, epoch))

    @staticmethod
    def load(prefix, epoch, load_optimizer_states=False, **kwargs):
        """A Module from `prefix-symbol.json` and `prefix-%04d.params` (and `.states`).

        Every file is read and checked now (a malformed file or files of different saves raise
        MXNetError here); the parameters and optimizer states are applied when the module is
        bound and its optimizer installed (e.g. inside fit), as in MXNet.
        """
        from .. import model
        reader = model.CheckpointReader(prefix, epoch)
        sym = model.load_symbol(reader, f"{prefix}-symbol.json")
        args, auxs = model._load_params(reader)
        opt_states = None
        if load_optimizer_states:
            opt_states = (model.load_optimizer_states(prefix, epoch, reader),
                          model.states_file(prefix, epoch))
        mod = Module(symbol=sym, **kwargs)
        mod._preload_params = (args, auxs)
        mod.params_initialized = True
        mod._preload_opt_states = opt_states
        return mod

    def save_optimizer_states(self, fname):
        """Write the updater's states to `fname` (atomically; bucketmod's own format)."""
        self._check_optimizer("save_optimizer_states")
        serialization.atomic_write(fname, [self._updater.get_states()])

    def load_optimizer_states(self, fname):
        """Load states saved by `save_optimizer_states`; checked completely before any is used.

        The module keeps the optimizer it was given: settings saved with the states (a file
        from `get_states(dump_optimizer=True)`) are not applied, and a warning lists those that
        differ.
        """
        self._check_optimizer("load_optimizer_states")
        self._install_optimizer_states(states_format.load(fname), fname)

    def _install_optimizer_states(self, decoded, source):
        states, saved_opt = decoded
        weights, _ = self._param_arrays()
        for index, state in states.items():
            if not (isinstance(index, int) and 0 <= index < len(self._param_names)):
                raise states_format.OptimizerStatesError(
                    f"optimizer states {source!r}: index {index!r} is not a parameter index of "
                    f"this module (0..{len(self._param_names) - 1})")
            name = self._param_names[index]
            expected = self._optimizer.create_state_multi_precision(index, weights[name])
            problem = _state_mismatch(expected, state)
            if problem:
                raise states_format.OptimizerStatesError(
                    f"optimizer states {source!r}: the state of {name} (index {index}) does "
                    f"not fit {type(self._optimizer).__name__}: {problem}")
        if saved_opt is not None:
            ignored = states_format.settings_differences(self._optimizer, saved_opt)
            if ignored:
                warnings.warn(f"optimizer states {source!r} carry optimizer settings that "
                              f"differ from the module's; the module keeps its own: "
                              f"{'; '.join(ignored)}", stacklevel=3)
        self._updater.set_state_dict(states)


def _state_mismatch(expected, got, path="state"):
    """Text saying how a loaded state tree differs from a fresh one, or ''."""
    if isinstance(expected, NDArray):
        if not isinstance(got, NDArray):
            return f"{path} is {type(got).__name__}, expected an array of {expected.shape}"
        if got.shape != expected.shape or got.dtype != expected.dtype:
            return (f"{path} is an array of {got.shape} {dtype_name(got.dtype)}, expected "
                    f"{expected.shape} {dtype_name(expected.dtype)}")
        return ""
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"{path} is {_tree_kind(got)}, expected {_tree_kind(expected)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = _state_mismatch(e, g, f"{path}[{i}]")
            if problem:
                return problem
        return ""
    return "" if got is None else f"{path} is {_tree_kind(got)}, expected none"


def _tree_kind(tree):
    if isinstance(tree, (tuple, list)):
        return f"a sequence of {len(tree)}"
    return "an array" if isinstance(tree, NDArray) else "none"
