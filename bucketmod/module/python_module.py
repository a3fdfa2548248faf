"""PythonModule and PythonLossModule: modules written in Python rather than as a symbol.

PythonModule is the do-nothing base: no parameters, no optimizer, and by default an identity
computation (outputs are the inputs, input gradients are the output gradients), so a user
overrides only what their module does. PythonLossModule ends a chain: its outputs are the
scores it receives and its backward is a loss gradient computed in Python.
"""
import logging

import torch

from ..base import MXNetError
from ..initializer import Uniform
from ..ndarray.ndarray import NDArray, array
from .base_module import BaseModule, _require


def _names(what, names):
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"{what}: expected a list of str, got {names!r}")
    return list(names)


def _as_ndarray(value, like=None):
    """`value` (NDArray, numpy array, torch tensor) as an NDArray on `like`'s device/dtype."""
    out = value if isinstance(value, NDArray) else array(value)
    if like is not None and (out.tensor.device != like.tensor.device or
                             out.tensor.dtype != like.tensor.dtype):
        out = NDArray(out.tensor.to(device=like.tensor.device, dtype=like.tensor.dtype),
                      like.context)
    return out


def softmax_ce_grad(scores, labels):
    """Gradient of softmax cross-entropy w.r.t. `scores` (classes on the last axis).

    It is SoftmaxOutput's gradient `softmax(scores) - onehot(labels)` (no normalisation; the
    optimizer's rescale_grad divides by the batch size). `labels` holds one class index per row
    of `scores.reshape(-1, C)`, in any shape with that many elements.

    Args:
        scores: `[..., C]` NDArray.
        labels: NDArray or numpy array of `scores.size / C` class indices.
    Returns:
        `[..., C]` NDArray.
    """
    s = scores.tensor
    lab = _as_ndarray(labels).tensor.to(s.device)
    num_classes = s.shape[-1]
    rows = s.numel() // max(num_classes, 1)
    if lab.numel() != rows:
        raise ValueError(f"labels: expected {rows} class indices (one per row of scores "
                         f"{tuple(s.shape)}), got shape {tuple(lab.shape)}")
    compute = torch.promote_types(s.dtype, torch.float32)
    prob = torch.softmax(s.detach().reshape(rows, num_classes).to(compute), dim=-1)
    index = lab.reshape(rows, 1).long().clamp(0, num_classes - 1)
    grad = prob.scatter_add(1, index, torch.full_like(prob[:, :1], -1.0))
    return NDArray(grad.to(s.dtype).reshape(s.shape), scores.context)


class PythonModule(BaseModule):
    """A module written in Python: override `forward`/`backward` (and `_compute_output_shapes`
    when the outputs are not shaped like the data); everything else has a do-nothing default.

    Args:
        data_names: names of the data inputs.
        label_names: names of the labels, or None for a module that takes none.
        output_names: names of the outputs.

    Example:
        >>> class Double(mx.mod.PythonModule):
        ...     def forward(self, data_batch, is_train=None):
        ...         self._outputs = [d * 2 for d in data_batch.data]
        >>> mod = Double(['data'], None, ['double_output'])
    """

    def __init__(self, data_names, label_names, output_names, logger=logging):
        super().__init__(logger=logger)
        self._data_names = _names("data_names", data_names) or []
        self._label_names = _names("label_names", label_names)
        self._output_names = _names("output_names", output_names) or []
        self._data_shapes = None
        self._label_shapes = None
        self._output_shapes = None
        self._outputs = None
        self._input_grads = None

    @property
    def data_names(self):
        return self._data_names

    @property
    def label_names(self):
        return self._label_names or []

    @property
    def output_names(self):
        return self._output_names

    @property
    def data_shapes(self):
        return self._data_shapes

    @property
    def label_shapes(self):
        return self._label_shapes

    @property
    def output_shapes(self):
        return self._output_shapes

    # -- parameters and optimizer: none by default ------------------------------------------
    def get_params(self):
        """({}, {}): a PythonModule has no parameters unless a subclass adds some."""
        return {}, {}

    def init_params(self, initializer=Uniform(0.01), arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Nothing to initialise; marks the module ready."""
        self.params_initialized = True

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        self.init_params(None, arg_params, aux_params, allow_missing, force_init, allow_extra)

    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        """Nothing to optimise; marks the optimizer installed."""
        self.optimizer_initialized = True

    def update(self):
        """No parameters, so nothing to update."""

    def install_monitor(self, mon):
        """No executors, so nothing to monitor."""

    # -- binding ----------------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        """Record the input shapes and compute the output shapes; no memory is allocated.

        Raises AssertionError (as MXNet) for names other than `data_names`/`label_names` and for
        a grad_req other than 'write'.
        """
        if self.binded and not force_rebind:
            self.logger.warning("Already bound, ignoring bind()")
            return
        _require(grad_req == "write",
                 f"grad_req: {type(self).__name__} only supports 'write', got {grad_req!r}")
        data_shapes = [(name, tuple(shape)) for name, shape in data_shapes]
        given = [name for name, _ in data_shapes]
        _require(given == self._data_names,
                 f"data_shapes: {type(self).__name__} expects data named {self._data_names}, "
                 f"got {given}")
        if label_shapes is not None:
            label_shapes = [(name, tuple(shape)) for name, shape in label_shapes]
            given = [name for name, _ in label_shapes]
            _require(self._label_names is not None and given == self._label_names,
                     f"label_shapes: {type(self).__name__} expects labels named "
                     f"{self._label_names}, got {given}")
        previous = (self._data_shapes, self._label_shapes)
        self._data_shapes, self._label_shapes = data_shapes, label_shapes
        try:
            self._output_shapes = self._compute_output_shapes()
        except Exception:
            self._data_shapes, self._label_shapes = previous
            raise
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self.binded = True

    def _compute_output_shapes(self):
        """[(name, shape)] of the outputs; by default output i is shaped like data i."""
        if len(self._output_names) != len(self._data_shapes):
            raise MXNetError(
                f"{type(self).__name__}: cannot infer the shapes of {len(self._output_names)} "
                f"outputs {self._output_names} from {len(self._data_shapes)} data inputs; "
                f"override _compute_output_shapes")
        return [(name, shape) for name, (_, shape) in zip(self._output_names, self._data_shapes)]

    # -- computation: identity by default ---------------------------------------------------
    def forward(self, data_batch, is_train=None):
        """Keep the batch's data as the outputs (identity)."""
        self._check_bound("forward")
        self._outputs = [_as_ndarray(d) for d in data_batch.data]

    def backward(self, out_grads=None):
        """Pass the output gradients through as the input gradients (identity)."""
        self._check_bound("backward")
        _require(self.for_training, "backward: bind with for_training=True first")
        _require(out_grads is not None,
                 "backward: the outputs of a PythonModule are not a loss; give out_grads")
        if not isinstance(out_grads, (list, tuple)):
            out_grads = [out_grads]
        self._input_grads = [_as_ndarray(g, like=o) for g, o in zip(out_grads, self._outputs)]

    def get_outputs(self, merge_multi_context=True):
        _require(merge_multi_context is True,
                 "get_outputs: a PythonModule runs on one context; merge_multi_context must be "
                 "True")
        _require(self._outputs is not None, "get_outputs: call forward() first")
        return self._outputs

    def get_input_grads(self, merge_multi_context=True):
        _require(merge_multi_context is True,
                 "get_input_grads: a PythonModule runs on one context; merge_multi_context "
                 "must be True")
        _require(self._input_grads is not None, "get_input_grads: call backward() first")
        return self._input_grads

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Score the outputs against `labels`; a module bound without labels ignores this."""
        if self._label_shapes is None:
            return
        if pre_sliced:
            raise RuntimeError("PythonModule does not support presliced labels")
        eval_metric.update(labels, self.get_outputs())


class PythonLossModule(PythonModule):
    """A loss written in Python: outputs the scores it receives, and its backward sends
    `grad_func(scores, labels)` to them (default: the softmax cross-entropy gradient).

    Args:
        name: the module's name; its one output is `name + '_output'`.
        data_names: one name, the scores.
        label_names: one name, the labels.
        grad_func: `(scores, labels) -> gradient` (NDArray or numpy array shaped like scores);
            None uses `softmax_ce_grad`, SoftmaxOutput's gradient with classes on the last axis.

    Example:
        >>> seq = mx.mod.SequentialModule()
        >>> seq.add(mx.mod.Module(net_without_loss, label_names=None))
        >>> seq.add(mx.mod.PythonLossModule(), take_labels=True, auto_wiring=True)
    """

    def __init__(self, name="pyloss", data_names=("data",), label_names=("softmax_label",),
                 logger=logging, grad_func=None):
        _require(data_names is not None and len(data_names) == 1,
                 f"data_names: PythonLossModule takes exactly one input, got {data_names!r}")
        _require(label_names is not None and len(label_names) == 1,
                 f"label_names: PythonLossModule takes exactly one label, got {label_names!r}")
        _require(grad_func is None or callable(grad_func),
                 f"grad_func: expected a callable, got {type(grad_func).__name__}")
        super().__init__(data_names, label_names, [name + "_output"], logger=logger)
        self._name = name
        self._grad_func = grad_func if grad_func is not None else softmax_ce_grad
        self._scores = None
        self._labels = None
        self._scores_grad = None

    @property
    def name(self):
        return self._name

    def _compute_output_shapes(self):
        return [(self._name + "_output", self._data_shapes[0][1])]

    def forward(self, data_batch, is_train=None):
        """Keep the scores (and, when training, the labels) for backward."""
        self._check_bound("forward")
        if is_train is None:
            is_train = self.for_training
        self._scores = _as_ndarray(data_batch.data[0])
        self._scores_grad = None
        if is_train:
            if not data_batch.label:
                raise ValueError(f"PythonLossModule {self._name!r}: forward(is_train=True) "
                                 f"needs data_batch.label, got none (in a SequentialModule, "
                                 f"add it with take_labels=True)")
            self._labels = data_batch.label[0]

    def get_outputs(self, merge_multi_context=True):
        """The scores of the last forward, unchanged."""
        _require(merge_multi_context is True,
                 "get_outputs: merge_multi_context must be True (one context)")
        _require(self._scores is not None, "get_outputs: call forward() first")
        return [self._scores]

    def backward(self, out_grads=None):
        """Compute the gradient w.r.t. the scores; MXNetError if it is not shaped like them."""
        _require(out_grads is None, "For a loss module, out_grads should be None")
        self._check_bound("backward")
        _require(self.for_training, "backward: bind with for_training=True first")
        _require(self._labels is not None, "backward: call forward(is_train=True) first")
        grad = _as_ndarray(self._grad_func(self._scores, self._labels), like=self._scores)
        if grad.shape != self._scores.shape:
            raise MXNetError(f"PythonLossModule {self._name!r}: grad_func returned a gradient "
                             f"of shape {grad.shape}, expected the scores' shape "
                             f"{self._scores.shape}")
        self._scores_grad = grad

    def get_input_grads(self, merge_multi_context=True):
        """[gradient w.r.t. the scores] from the last backward."""
        _require(merge_multi_context is True,
                 "get_input_grads: merge_multi_context must be True (one context)")
        _require(self._scores_grad is not None, "get_input_grads: call backward() first")
        return [self._scores_grad]


__all__ = ["PythonModule", "PythonLossModule", "softmax_ce_grad"]
