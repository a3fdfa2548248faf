"""SequentialModule: a chain of modules, each one's outputs the next one's data.

Module i>0 is bound on module i-1's output shapes with `inputs_need_grad` (when training), so
backward can pass each module's input gradients to the one before it. Each forward builds one
DataBatch per module: the previous outputs under the names that module expects, the batch's
`bucket_key`, `pad` and `index`, and the labels only for modules added with `take_labels`.
"""
import logging
from contextlib import contextmanager
from dataclasses import dataclass

from ..base import MXNetError
from ..initializer import Uniform
from ..io import DataBatch, DataDesc
from .base_module import BaseModule, _require


@dataclass(frozen=True)
class _Link:
    """One module of the chain and how it is wired in."""
    module: BaseModule
    take_labels: bool
    auto_wiring: bool


@contextmanager
def _blame(index, module):
    """Re-raise an error from module `index` with its position and type in front."""
    try:
        yield
    except (MXNetError, AssertionError, ValueError, TypeError, KeyError, RuntimeError) as err:
        try:
            blamed = type(err)(f"SequentialModule module {index} ({type(module).__name__}): "
                               f"{err}")
        except Exception:  # noqa: BLE001 - an exception type with another constructor
            raise err from None
        raise blamed from err


def _renamed(desc, name):
    """`desc` (DataDesc or (name, shape)) under another name, keeping dtype and layout."""
    if isinstance(desc, DataDesc):
        return DataDesc(name, tuple(desc.shape), desc.dtype, desc.layout)
    return name, tuple(desc[1])


def _param_names(module):
    """(arg names, aux names) of a bound module, before its parameters are initialised."""
    get_arrays = getattr(module, "get_param_arrays", None)
    args, aux = get_arrays() if get_arrays is not None else module.get_params()
    return set(args), set(aux)


class SequentialModule(BaseModule):
    """A container chaining modules: `add` them in order, then use it as one module.

    Example:
        >>> seq = mx.mod.SequentialModule()
        >>> seq.add(mx.mod.Module(body, label_names=None))
        >>> seq.add(mx.mod.Module(head, data_names=['fc1_output']), take_labels=True)
        >>> seq.fit(train_iter, num_epoch=2)
    """

    def __init__(self, logger=logging):
        super().__init__(logger=logger)
        self._links = []
        self._feed_names = []
        self._label_shapes = None
        self._stale = set()  # indices of modules bound by a bind() that then failed

    def add(self, module, take_labels=False, auto_wiring=False):
        """Append `module` to the chain; returns self, so calls can be chained.

        Args:
            module: any BaseModule (Module, BucketingModule, PythonModule, SequentialModule).
            take_labels: give this module the batch's labels (any module in the chain may take
                them; all take the same labels). Its metric is what `update_metric` reports.
            auto_wiring: rename the incoming data, by position, to `module.data_names`.
                Without it the previous outputs' names must be the module's data names.
        """
        if not isinstance(module, BaseModule):
            raise TypeError(f"module: expected a BaseModule, got {type(module).__name__}")
        self._links.append(_Link(module, bool(take_labels), bool(auto_wiring)))
        self.binded = False
        self.params_initialized = False
        self.optimizer_initialized = False
        return self

    @property
    def modules(self):
        """The chained modules, in order."""
        return [link.module for link in self._links]

    # -- properties -------------------------------------------------------------------------
    @property
    def data_names(self):
        return list(self._links[0].module.data_names) if self._links else []

    @property
    def label_names(self):
        names = []
        for link in self._links:
            if link.take_labels:
                names += [n for n in link.module.label_names if n not in names]
        return names

    @property
    def output_names(self):
        return list(self._links[-1].module.output_names) if self._links else []

    @property
    def data_shapes(self):
        self._check_bound("data_shapes")
        return self._links[0].module.data_shapes

    @property
    def label_shapes(self):
        self._check_bound("label_shapes")
        return self._label_shapes

    @property
    def output_shapes(self):
        self._check_bound("output_shapes")
        return self._links[-1].module.output_shapes

    # -- binding ----------------------------------------------------------------------------
    def _wire(self, data_names):
        """The data names each module is fed, checked before anything is bound."""
        feed_names, names = [], list(data_names)
        for index, link in enumerate(self._links):
            expected = list(link.module.data_names)
            if link.auto_wiring:
                if len(expected) != len(names):
                    raise ValueError(
                        f"SequentialModule module {index} ({type(link.module).__name__}): "
                        f"auto_wiring renames {len(names)} inputs {names} but the module has "
                        f"{len(expected)} data names {expected}")
                names = expected
            elif sorted(names) != sorted(expected):
                source = "data_shapes" if index == 0 else f"the outputs of module {index - 1}"
                raise ValueError(
                    f"SequentialModule module {index} ({type(link.module).__name__}): its "
                    f"data_names {expected} do not match {source} {names}; rename them or "
                    f"add the module with auto_wiring=True")
            feed_names.append(names)
            names = list(link.module.output_names)
        return feed_names

    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        """Bind every module: the first on `data_shapes`, each next one on the previous
        module's output shapes; labels go to the modules added with take_labels."""
        if self.binded and not force_rebind:
            self.logger.warning("Already bound, ignoring bind()")
            return
        _require(len(self._links) > 0, "Attempting to bind an empty SequentialModule; add() "
                                       "modules first")
        _require(shared_module is None, "shared_module is not supported for SequentialModule")
        _require(for_training or not inputs_need_grad,
                 "inputs_need_grad=True needs for_training=True")
        shapes = list(data_shapes)
        feed_names = self._wire([d[0] for d in shapes])
        self.binded = False
        for index, link in enumerate(self._links):
            my_shapes = [_renamed(d, name) for name, d in zip(feed_names[index], shapes)]
            with _blame(index, link.module):
                link.module.bind(my_shapes, label_shapes if link.take_labels else None,
                                 for_training=for_training,
                                 inputs_need_grad=inputs_need_grad or (for_training and
                                                                       index > 0),
                                 force_rebind=force_rebind or index in self._stale,
                                 shared_module=None, grad_req=grad_req)
                # until the whole chain binds, this module's binding is not the chain's
                self._stale.add(index)
                shapes = list(link.module.output_shapes)
        self._stale.clear()
        self._feed_names = feed_names
        takes_labels = any(link.take_labels for link in self._links)
        self._label_shapes = label_shapes if takes_labels else None
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self.binded = True

    # -- parameters -------------------------------------------------------------------------
    def get_params(self):
        """(arg_params, aux_params) of every module, merged."""
        self._check_ready("get_params")
        arg_params, aux_params = {}, {}
        for link in self._links:
            args, aux = link.module.get_params()
            arg_params.update(args)
            aux_params.update(aux)
        return arg_params, aux_params

    def get_param_arrays(self):
        """(arg_params, aux_params) of the live arrays of every module, merged (no copies)."""
        self._check_bound("get_param_arrays")
        arg_params, aux_params = {}, {}
        for link in self._links:
            get_arrays = getattr(link.module, "get_param_arrays", None)
            args, aux = get_arrays() if get_arrays is not None else link.module.get_params()
            arg_params.update(args)
            aux_params.update(aux)
        return arg_params, aux_params

    def _check_param_names(self, arg_params, aux_params, allow_extra):
        owner = {}
        for index, link in enumerate(self._links):
            args, aux = _param_names(link.module)
            for name in sorted(args | aux):
                if name in owner:
                    first = owner[name]
                    raise AssertionError(
                        f"Duplicated parameter names: name {name!r} in module {index} "
                        f"({type(link.module).__name__}) is already used in module {first} "
                        f"({type(self._links[first].module).__name__})")
                owner[name] = index
        extra = [n for given in (arg_params, aux_params) if given for n in given
                 if n not in owner]
        if extra and not allow_extra:
            raise ValueError(f"init_params: found names {extra} that no module of the "
                             f"SequentialModule has; set allow_extra=True to ignore them")

    def init_params(self, initializer=Uniform(0.01), arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Initialise every module's parameters from the merged `arg_params`/`aux_params`."""
        if self.params_initialized and not force_init:
            return
        self._check_bound("init_params")
        self._check_param_names(arg_params, aux_params, allow_extra)
        for index, link in enumerate(self._links):
            with _blame(index, link.module):
                link.module.init_params(initializer=initializer, arg_params=arg_params,
                                        aux_params=aux_params, allow_missing=allow_missing,
                                        force_init=force_init, allow_extra=True)
        self.params_initialized = True

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                         allow_missing=allow_missing, force_init=force_init,
                         allow_extra=allow_extra)

    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        """Install the optimizer on every module."""
        self._check_ready("init_optimizer")
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring.")
            return
        for index, link in enumerate(self._links):
            with _blame(index, link.module):
                link.module.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                                           optimizer_params=optimizer_params,
                                           force_init=force_init)
        self.optimizer_initialized = True

    def _dist_kvstore(self):
        stores = (link.module._dist_kvstore() for link in self._links)
        return next((kv for kv in stores if kv is not None), None)

    # -- computation ------------------------------------------------------------------------
    def _batch_for(self, index, data, batch):
        """The DataBatch module `index` is fed: `data` named as it expects."""
        link = self._links[index]
        names = self._feed_names[index]
        provided = getattr(batch, "provide_data", None)
        if index == 0 and provided:
            provide_data = [_renamed(d, name) for name, d in zip(names, provided)]
        elif index == 0:
            provide_data = None
        else:
            provide_data = [DataDesc(name, arr.shape) for name, arr in zip(names, data)]
        labels = batch.label if link.take_labels else None
        provide_label = getattr(batch, "provide_label", None) if link.take_labels else None
        return DataBatch(list(data), labels, pad=getattr(batch, "pad", None),
                         index=getattr(batch, "index", None),
                         bucket_key=getattr(batch, "bucket_key", None),
                         provide_data=provide_data, provide_label=provide_label)

    def forward(self, data_batch, is_train=None):
        """Run the modules in order, each on the previous one's outputs."""
        self._check_ready("forward")
        data = data_batch.data
        for index, link in enumerate(self._links):
            with _blame(index, link.module):
                link.module.forward(self._batch_for(index, data, data_batch),
                                    is_train=is_train)
                if index + 1 < len(self._links):
                    data = link.module.get_outputs()

    def backward(self, out_grads=None):
        """Run the modules' backward in reverse, each on the next one's input gradients."""
        self._check_ready("backward")
        for index in reversed(range(len(self._links))):
            module = self._links[index].module
            with _blame(index, module):
                module.backward(out_grads=out_grads)
                if index > 0:
                    out_grads = module.get_input_grads()

    def update(self):
        self._check_optimizer("update")
        for index, link in enumerate(self._links):
            with _blame(index, link.module):
                link.module.update()

    def get_outputs(self, merge_multi_context=True):
        """The last module's outputs."""
        self._check_ready("get_outputs")
        return self._links[-1].module.get_outputs(merge_multi_context=merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        """The first module's input gradients (bind with inputs_need_grad=True)."""
        self._check_ready("get_input_grads")
        _require(self.inputs_need_grad, "get_input_grads: bind with inputs_need_grad=True")
        return self._links[0].module.get_input_grads(merge_multi_context=merge_multi_context)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Update `eval_metric` with the outputs of every module added with take_labels."""
        self._check_ready("update_metric")
        for index, link in enumerate(self._links):
            if link.take_labels:
                with _blame(index, link.module):
                    link.module.update_metric(eval_metric, labels, pre_sliced)

    def install_monitor(self, mon):
        self._check_bound("install_monitor")
        for link in self._links:
            link.module.install_monitor(mon)

    def prepare(self, data_batch, sparse_row_id_fn=None):
        """Let the first module prepare for the batch (a BucketingModule binds its bucket)."""
        self._check_bound("prepare")
        with _blame(0, self._links[0].module):
            self._links[0].module.prepare(self._batch_for(0, data_batch.data, data_batch),
                                          sparse_row_id_fn=sparse_row_id_fn)


__all__ = ["SequentialModule"]
