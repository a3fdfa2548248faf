"""`mx.optimizer`: MXNet 1.9.1's optimizers, with its update rules, over torch tensors.

Every update writes into `weight.tensor` in place under `torch.no_grad()`: a parameter is one
tensor shared by the executors of every bucket, so the tensor is never rebound. Where MXNet's
optimizer calls one of its fused update operators (`sgd_update`, `sgd_mom_update`,
`nag_mom_update`, `adam_update`, `rmsprop_update`, `rmspropalex_update`, `ftrl_update`,
`ftml_update`, `signsgd_update`, `signum_update`), the update here is that operator's own step
function from `bucketmod/ops/optimizer.py`, run with out=weight as MXNet runs it.
Unlike MXNet's AdaDelta, no optimizer here writes into the gradient it is given.
"""
import math
import warnings
import weakref

import torch

from ..ndarray.ndarray import NDArray
from ..ops import optimizer as steps
from . import multi_tensor

_LOW_PRECISION = (torch.float16, torch.bfloat16)
# Optimizer -> {key: parameter grouping of a multi-tensor step}: see `_multi_groups`. Outside
# the optimizer's attributes, which are saved and compared.
_GROUPINGS = weakref.WeakKeyDictionary()
_GROUPINGS_KEPT = 64  # groupings per optimizer (one per bucket and context in practice)


def _zeros_like(weight, dtype=None):
    return NDArray(torch.zeros_like(weight.tensor, dtype=dtype), weight.context)


def _clip(t, bound):
    return t.clamp(-bound, bound)


def _check_pair(weight, grad):
    if not isinstance(weight, NDArray):
        raise TypeError(f"weight: expected an NDArray, got {type(weight).__name__}")
    if not isinstance(grad, NDArray):
        raise TypeError(f"grad: expected an NDArray, got {type(grad).__name__}")
    if weight.tensor.shape != grad.tensor.shape:
        raise ValueError(f"grad: expected the weight's shape {weight.shape}, got {grad.shape}")


def _grad_of(weight, grad):
    """The gradient as a tensor in the weight's dtype and device."""
    g = grad.tensor.detach()
    if g.dtype != weight.tensor.dtype or g.device != weight.tensor.device:
        g = g.to(device=weight.tensor.device, dtype=weight.tensor.dtype)
    return g


class Optimizer:
    """Base class of all optimizers (MXNet 1.x semantics).

    Args:
        rescale_grad: every gradient is multiplied by this first (usually 1/batch_size).
        param_idx2name: {index: parameter name}; names drive lr/wd multipliers.
        wd: L2 weight decay. Parameters whose name ends neither in `_weight` nor in `_gamma`
            get a wd multiplier of 0 unless one is set.
        clip_gradient: clip the (rescaled) gradient to [-clip_gradient, clip_gradient].
        learning_rate: the learning rate (0.01 when neither it nor `lr_scheduler` is given).
        lr_scheduler: an `mx.lr_scheduler.LRScheduler`; `learning_rate` overrides its base_lr.
        sym: a Symbol whose `attr_dict()` may carry `__lr_mult__`/`__wd_mult__` per argument.
        begin_num_update: the update count to start from.
        multi_precision: keep a float32 master copy of float16 weights.
        param_dict: {index: Parameter} whose `lr_mult`/`wd_mult` take precedence.
    """

    opt_registry = {}
    # Whether `update` takes lists of indices, weights, grads and states and updates them in
    # one multi-tensor step (the Updater then hands it every parameter at once).
    multi_tensor = False

    def __init__(self, rescale_grad=1., param_idx2name=None, wd=0., clip_gradient=None,
                 learning_rate=None, lr_scheduler=None, sym=None, begin_num_update=0,
                 multi_precision=False, param_dict=None):
        if param_idx2name is None:
            param_idx2name = {}
        if not isinstance(param_idx2name, dict):
            raise AssertionError(f"param_idx2name should be a dict of param indexes to names, "
                                 f"got {type(param_idx2name).__name__}")
        self.rescale_grad = rescale_grad
        self.lr_scheduler = lr_scheduler
        if self.lr_scheduler is None and learning_rate is None:
            learning_rate = 0.01
        self.lr = learning_rate
        if self.lr_scheduler is not None and learning_rate is not None:
            if self.lr_scheduler.base_lr != learning_rate:
                print(UserWarning("learning rate from ``lr_scheduler`` has been "
                                  "overwritten by ``learning_rate`` in optimizer."))
                self.lr_scheduler.base_lr = learning_rate
        self.wd = wd
        self.lr_mult = {}
        self.wd_mult = {}
        self.begin_num_update = begin_num_update
        self.num_update = begin_num_update
        self._all_index_update_counts = {0: {}}
        self._index_update_count = self._all_index_update_counts[0]
        self.clip_gradient = clip_gradient
        self.multi_precision = multi_precision
        self.aggregate_num = 0
        self.idx2name = param_idx2name.copy()
        self.sym_info = (sym.attr_dict(), sym.list_arguments()) if sym is not None else ()
        self.param_dict = param_dict if param_dict else {}
        self.set_lr_mult({})
        self.set_wd_mult({})

    @staticmethod
    def register(klass):
        """Register an optimizer class under its lower-cased class name."""
        if not isinstance(klass, type):
            raise AssertionError(f"register: expected a class, got {type(klass).__name__}")
        name = klass.__name__.lower()
        if name in Optimizer.opt_registry:
            old = Optimizer.opt_registry[name]
            warnings.warn(f"WARNING: New optimizer {klass.__module__}.{klass.__name__} is "
                          f"overriding existing optimizer {old.__module__}.{old.__name__}",
                          stacklevel=2)
        Optimizer.opt_registry[name] = klass
        return klass

    @staticmethod
    def create_optimizer(name, **kwargs):
        """Instantiate a registered optimizer by (case-insensitive) name."""
        if not isinstance(name, str):
            raise TypeError(f"name: expected an optimizer name (str), got {type(name).__name__}")
        klass = Optimizer.opt_registry.get(name.lower())
        if klass is None:
            raise ValueError(f"Cannot find optimizer {name}; registered optimizers are "
                             f"{sorted(Optimizer.opt_registry)}")
        return klass(**kwargs)

    @property
    def learning_rate(self):
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    def create_state(self, index, weight):
        """The auxiliary state (None, an NDArray or a tuple of them) for one weight."""
        return None

    def create_state_multi_precision(self, index, weight):
        """Like `create_state`; with multi_precision, `(float32 master copy, state)`."""
        if self.multi_precision and weight.tensor.dtype in _LOW_PRECISION:
            master = NDArray(weight.tensor.detach().float().clone(), weight.context)
            return (master, self.create_state(index, master))
        if weight.tensor.dtype in _LOW_PRECISION:
            warnings.warn("Accumulating with float16 in optimizer can lead to poor accuracy or "
                          "slow convergence. Consider using multi_precision=True option of the "
                          "optimizer", stacklevel=2)
        return self.create_state(index, weight)

    def update(self, index, weight, grad, state):
        """Update `weight` in place from `grad` and `state`; subclasses define the rule."""
        raise NotImplementedError(f"{type(self).__name__} does not define update()")

    def update_multi_precision(self, index, weight, grad, state):
        """`update`, run on the float32 master copy when multi_precision applies.

        With lists (an optimizer whose `multi_tensor` is True), all parameters go to `update`
        at once, unless float32 master copies are involved.
        """
        if isinstance(index, (list, tuple)):
            if self.multi_precision and any(w.tensor.dtype in _LOW_PRECISION for w in weight):
                for i, w, g, s in zip(index, weight, grad, state):
                    self.update_multi_precision(i, w, g, s)
            else:
                self.update(index, weight, grad, state)
            return
        if self.multi_precision and weight.tensor.dtype in _LOW_PRECISION:
            master, inner = state
            grad32 = NDArray(grad.tensor.detach().float(), grad.context)
            self.update(index, master, grad32, inner)
            with torch.no_grad():
                weight.tensor.copy_(master.tensor)
        else:
            self.update(index, weight, grad, state)

    def set_learning_rate(self, lr):
        if self.lr_scheduler is not None:
            raise UserWarning("LRScheduler of the optimizer has already been defined. Note that "
                              "set_learning_rate can mutate the value of the learning rate of the "
                              "optimizer only when the LRScheduler of the optimizer is undefined.")
        self.lr = lr

    def set_lr_scale(self, args_lrscale):
        raise DeprecationWarning("set_lr_scale is deprecated; use set_lr_mult")

    def set_lr_mult(self, args_lr_mult):
        """Set per-parameter lr multipliers: `__lr_mult__` symbol attributes, then this dict."""
        self.lr_mult = {}
        for name, attrs in self._symbol_attrs():
            if "__lr_mult__" in attrs:
                self.lr_mult[name] = float(attrs["__lr_mult__"])
        self.lr_mult.update(args_lr_mult)

    def set_wd_mult(self, args_wd_mult):
        """Set per-parameter wd multipliers.

        Names ending neither in `_weight` nor `_gamma` get 0, then `__wd_mult__` symbol
        attributes apply, then this dict.
        """
        self.wd_mult = {}
        for name in self.idx2name.values():
            if not (name.endswith("_weight") or name.endswith("_gamma")):
                self.wd_mult[name] = 0.0
        for name, attrs in self._symbol_attrs():
            if "__wd_mult__" in attrs:
                self.wd_mult[name] = float(attrs["__wd_mult__"])
        self.wd_mult.update(args_wd_mult)

    def _symbol_attrs(self):
        if not self.sym_info:
            return []
        attr, arg_names = self.sym_info
        return [(name, attr[name]) for name in arg_names if name in attr]

    def _set_current_context(self, device_id):
        """Keep separate update counts per device, as MXNet does."""
        if device_id not in self._all_index_update_counts:
            self._all_index_update_counts[device_id] = {}
        self._index_update_count = self._all_index_update_counts[device_id]

    def _update_count(self, index):
        for idx in index if isinstance(index, (list, tuple)) else [index]:
            if idx not in self._index_update_count:
                self._index_update_count[idx] = self.begin_num_update
            self._index_update_count[idx] += 1
            self.num_update = max(self._index_update_count[idx], self.num_update)

    def _get_lrs(self, indices):
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return [lr * self._mult(index, self.lr_mult, "lr_mult") for index in indices]

    def _get_lr(self, index):
        return self._get_lrs([index])[0]

    def _get_wds(self, indices):
        return [self.wd * self._mult(index, self.wd_mult, "wd_mult") for index in indices]

    def _get_wd(self, index):
        return self._get_wds([index])[0]

    def multi_tensor_plan(self, index, weight, grad, state):
        """The host half of one multi-tensor update of the parameters `index` (lists): update
        counts advanced, learning rates and weight decays computed and written into the step's
        0-d tensors. Returns the device half, a function of no arguments that updates the
        weights and states in place and reads nothing from the host: calling it is the
        update, and a CUDA graph can capture it once and replay it after each new plan.
        """
        for w, g in zip(weight, grad):
            _check_pair(w, g)
        return self._checked_plan(index, weight, grad, state)

    def _checked_plan(self, index, weight, grad, state):
        """`multi_tensor_plan` of pairs already checked (the updater checks them)."""
        self._update_count(index)
        return self._multi_plan(index, weight, grad, state)

    def _multi_groups(self, indices, weights, grads, states):
        """((device, dtype, group, lr, wd, update count), (weights, grads, states)) per group of
        a multi-tensor step: parameters grouped by device, dtype, lr/wd multipliers and update
        count, so that `group` is a key that stays the same from step to step."""
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        lr_mults = tuple(self._mult(i, self.lr_mult, "lr_mult") for i in indices)
        wd_mults = tuple(self._mult(i, self.wd_mult, "wd_mult") for i in indices)
        counts = [self._index_update_count[i] for i in indices]
        # the grouping is the same from step to step while the arrays, the multipliers and
        # the update counts relative to the first one are: it is kept, keyed on those
        offsets = tuple(c - counts[0] for c in counts)
        key = (tuple(indices), tuple(map(id, weights)), tuple(map(id, grads)),
               tuple(map(id, states)), lr_mults, wd_mults, offsets)
        cache = _GROUPINGS.setdefault(self, {})
        entry = cache.get(key)
        if entry is None:
            ws = [w.tensor for w in weights]
            gs = [g.tensor.detach() for g in grads]
            entry = (list(multi_tensor.group_by(ws, gs, [_tensors_of(s) for s in states],
                                                lr_mults, wd_mults, offsets)),
                     (weights, grads, states))  # kept, so that their ids stay theirs
            if all(g.dtype == w.dtype and g.device == w.device for w, g in zip(ws, gs)):
                if len(cache) >= _GROUPINGS_KEPT:
                    cache.clear()
                cache[key] = entry  # (gradients of another dtype are converted every step)
        for (device, dtype, lr_mult, wd_mult, offset), lists in entry[0]:
            yield (device, dtype, (lr_mult, wd_mult), lr * lr_mult, self.wd * wd_mult,
                   counts[0] + offset), lists

    def _scalar(self, device, dtype, name, group, value):
        """`value` as the multi-tensor step reads it: the number itself, or, where a CUDA
        graph captures the step (`_capturable`), a 0-d tensor of this parameter group that
        keeps its address and is refilled with `value`."""
        if not getattr(self, "_capturable", False):
            return value
        if not hasattr(self, "_step_scalars"):
            self._step_scalars = multi_tensor.StepScalars()
        return self._step_scalars.get(device, dtype, (name, group), value)

    def _mult(self, index, table, param_attr):
        if index in self.param_dict:
            return getattr(self.param_dict[index], param_attr)
        if index in table:
            return table[index]
        if index in self.idx2name:
            return table.get(self.idx2name[index], 1.0)
        return 1.0

    def _clip_arg(self):
        """The clip_gradient MXNet passes to its fused operators: the bound when truthy, else
        -1 (no clipping)."""
        return self.clip_gradient if self.clip_gradient else -1.0

    def _scaled_clipped(self, weight, grad):
        """`clip(grad * rescale_grad)`; clipping whenever clip_gradient is not None."""
        g = _grad_of(weight, grad) * self.rescale_grad
        if self.clip_gradient is not None:
            g = _clip(g, self.clip_gradient)
        return g

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["param_dict"]
        state.pop("_step_scalars", None)
        state.pop("_capturable", None)
        return state

    def __setstate__(self, state):
        self.__dict__ = state
        self.param_dict = {}


register = Optimizer.register
create = Optimizer.create_optimizer


def _tensors_of(state):
    """An optimizer state (None, an NDArray or a tuple of them) as tensors."""
    if state is None:
        return None
    if isinstance(state, NDArray):
        return state.tensor
    return tuple(_tensors_of(s) for s in state)


class _MasterCopyLast:
    """Mixin: multi-precision state is `(state, float32 master copy)`, as SGD/NAG use."""

    def create_state_multi_precision(self, index, weight):
        if self.multi_precision and weight.tensor.dtype in _LOW_PRECISION:
            master = NDArray(weight.tensor.detach().float().clone(), weight.context)
            return (self.create_state(index, master), master)
        return Optimizer.create_state_multi_precision(self, index, weight)

    def update_multi_precision(self, index, weight, grad, state):
        if isinstance(index, (list, tuple)):
            Optimizer.update_multi_precision(self, index, weight, grad, state)
            return
        if self.multi_precision and weight.tensor.dtype in _LOW_PRECISION \
                and isinstance(state, (tuple, list)):
            inner, master = state
            grad32 = NDArray(grad.tensor.detach().float(), grad.context)
            self.update(index, master, grad32, inner)
            with torch.no_grad():
                weight.tensor.copy_(master.tensor)
        else:
            self.update(index, weight, grad, state)


@register
class SGD(_MasterCopyLast, Optimizer):
    """SGD with optional momentum: `mom = momentum*mom - lr*(wd*w + clip(rescale*g)); w += mom`.

    `lazy_update` only matters for row-sparse gradients, which bucketmod does not have.
    """

    multi_tensor = True

    def __init__(self, momentum=0.0, lazy_update=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.lazy_update = lazy_update
        self.aggregate_num = 4

    def create_state(self, index, weight):
        return _zeros_like(weight) if self.momentum != 0.0 else None

    def update(self, index, weight, grad, state):
        if not isinstance(index, (list, tuple)):
            index, weight, grad, state = [index], [weight], [grad], [state]
        self.multi_tensor_plan(index, weight, grad, state)()

    def _multi_plan(self, index, weight, grad, state):
        momentum = self.momentum if self.momentum > 0 else 0.0
        clip = self.clip_gradient if self.clip_gradient else None
        groups = []
        for (device, dtype, group, lr, wd, _), (ws, gs, ms) in self._multi_groups(
                index, weight, grad, state):
            scalars = [self._scalar(device, dtype, name, group, value) for name, value in
                       (("neg_lr", -lr), ("neg_lr_wd", -lr * wd), ("decay", 1.0 - lr * wd))]
            groups.append((ws, gs, ms if ms[0] is not None else None, scalars))

        def apply():
            with torch.no_grad():
                for ws, gs, moms, (neg_lr, neg_lr_wd, decay) in groups:
                    gs, neg_lr = multi_tensor.grads_and_lr(gs, self.rescale_grad, clip, neg_lr)
                    multi_tensor.sgd_step(ws, gs, moms, momentum, neg_lr, neg_lr_wd, decay)
        return apply

    def _step(self, weight, grad, mom, lr, wd):
        w, g = weight.tensor, _grad_of(weight, grad)
        args = dict(lr=lr, wd=wd, rescale_grad=self.rescale_grad, clip_gradient=self._clip_arg())
        with torch.no_grad():
            if mom is not None:
                steps.sgd_mom_step(w, g, mom.tensor, w, momentum=max(self.momentum, 0.0),
                                   **args)
            else:
                steps.sgd_step(w, g, w, **args)


@register
class ccSGD(SGD):  # noqa: N801 (MXNet's public name)
    """Deprecated alias of SGD, kept because MXNet registers it."""


@register
class NAG(_MasterCopyLast, Optimizer):
    """Nesterov accelerated SGD, as MXNet's `nag_mom_update`.

    MXNet runs that operator with `out=weight`, so its momentum step reads the weight
    already updated; the same order is kept here.
    """

    multi_tensor = True

    def __init__(self, momentum=0.0, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum

    def create_state(self, index, weight):
        return _zeros_like(weight) if self.momentum != 0.0 else None

    def update(self, index, weight, grad, state):
        if isinstance(index, (list, tuple)):
            self.multi_tensor_plan(index, weight, grad, state)()
            return
        _check_pair(weight, grad)
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        w, g = weight.tensor, _grad_of(weight, grad)
        args = dict(lr=lr, wd=wd, rescale_grad=self.rescale_grad, clip_gradient=self._clip_arg())
        with torch.no_grad():
            if state is not None:
                steps.nag_mom_step(w, g, state.tensor, w, momentum=max(self.momentum, 0.0),
                                   **args)
            else:
                steps.sgd_step(w, g, w, **args)

    def _multi_plan(self, index, weight, grad, state):
        momentum = self.momentum if self.momentum > 0 else 0.0
        clip = self.clip_gradient if self.clip_gradient else None
        groups = []
        for (device, dtype, group, lr, wd, _), (ws, gs, ms) in self._multi_groups(
                index, weight, grad, state):
            neg_lr = self._scalar(device, dtype, "neg_lr", group, -lr)
            if ms[0] is None:
                other = self._scalar(device, dtype, "decay", group, 1.0 - lr * wd)
            else:
                other = self._scalar(device, dtype, "wd", group, wd)
            groups.append((ws, gs, ms if ms[0] is not None else None, neg_lr, other))

        def apply():
            with torch.no_grad():
                for ws, gs, moms, neg_lr, other in groups:
                    if moms is None:
                        gs, neg_lr = multi_tensor.grads_and_lr(gs, self.rescale_grad, clip,
                                                               neg_lr)
                        multi_tensor.sgd_step(ws, gs, None, 0.0, neg_lr, None, other)
                    else:
                        gs = multi_tensor.scaled_grads(gs, self.rescale_grad, clip)
                        multi_tensor.nag_step(ws, gs, moms, momentum, neg_lr, other)
        return apply


@register
class Signum(Optimizer):
    """signSGD (no momentum) or Signum: the update follows the sign of the momentum."""

    def __init__(self, learning_rate=0.01, momentum=0.9, wd_lh=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = momentum
        self.wd_lh = wd_lh

    def create_state(self, index, weight):
        return _zeros_like(weight) if self.momentum != 0.0 else None

    def update(self, index, weight, grad, state):
        _check_pair(weight, grad)
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        w, g = weight.tensor, _grad_of(weight, grad)
        with torch.no_grad():
            if state is None:
                steps.signsgd_step(w, g, w, lr=lr, wd=wd)
                return
            steps.signum_step(w, g, state.tensor, w, lr=lr, momentum=max(self.momentum, 0.0),
                              wd=wd, rescale_grad=self.rescale_grad,
                              clip_gradient=self._clip_arg(), wd_lh=self.wd_lh or 0.0)


@register
class Adam(Optimizer):
    """Adam; the bias correction is folded into lr in python, as MXNet 1.9.1 does."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 lazy_update=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lazy_update = lazy_update

    multi_tensor = True

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        if isinstance(index, (list, tuple)):
            self.multi_tensor_plan(index, weight, grad, state)()
            return
        _check_pair(weight, grad)
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        lr *= math.sqrt(1. - self.beta2 ** t) / (1. - self.beta1 ** t)
        mean, var = state
        w = weight.tensor
        with torch.no_grad():
            steps.adam_step(w, _grad_of(weight, grad), mean.tensor, var.tensor, w, lr=lr,
                            beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon, wd=wd,
                            rescale_grad=self.rescale_grad, clip_gradient=self._clip_arg())

    def _multi_plan(self, index, weight, grad, state):
        clip = self.clip_gradient if self.clip_gradient else None
        groups = []
        for (device, dtype, group, lr, wd, t), (ws, gs, ss) in self._multi_groups(
                index, weight, grad, state):
            lr *= math.sqrt(1. - self.beta2 ** t) / (1. - self.beta1 ** t)
            groups.append((ws, gs, [m for m, _ in ss], [v for _, v in ss],
                          self._scalar(device, dtype, "wd", group, wd),
                          self._scalar(device, dtype, "neg_lr", group, -lr)))

        def apply():
            with torch.no_grad():
                for ws, gs, means, variances, wd, neg_lr in groups:
                    gs = torch._foreach_mul(gs, self.rescale_grad)
                    torch._foreach_add_(gs, torch._foreach_mul(ws, wd))
                    if clip is not None:
                        gs = multi_tensor.scaled_grads(gs, 1.0, clip)
                    multi_tensor.adam_step(ws, gs, means, variances, self.beta1, self.beta2,
                                           self.epsilon, neg_lr)
        return apply


@register
class AdaGrad(Optimizer):
    """AdaGrad: `history += g^2; w -= lr * (g / sqrt(history + eps) + wd * w)`."""

    def __init__(self, eps=1e-7, **kwargs):
        super().__init__(**kwargs)
        self.float_stable_eps = eps

    def create_state(self, index, weight):
        return _zeros_like(weight)

    def update(self, index, weight, grad, state):
        _check_pair(weight, grad)
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        with torch.no_grad():
            w = weight.tensor
            g = self._scaled_clipped(weight, grad)
            state.tensor.add_(g * g)
            div = g / (state.tensor + self.float_stable_eps).sqrt()
            w.add_((div + w * wd) * -lr)


@register
class RMSProp(Optimizer):
    """RMSProp (Tieleman & Hinton) or, with `centered=True`, Graves' variant (rmspropalex)."""

    def __init__(self, learning_rate=0.001, gamma1=0.9, gamma2=0.9, epsilon=1e-8,
                 centered=False, clip_weights=None, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1 = gamma1
        self.gamma2 = gamma2
        self.centered = centered
        self.epsilon = epsilon
        self.clip_weights = clip_weights

    def create_state(self, index, weight):
        if self.centered:
            return (_zeros_like(weight), _zeros_like(weight), _zeros_like(weight))
        return (_zeros_like(weight),)

    def update(self, index, weight, grad, state):
        _check_pair(weight, grad)
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        w, g = weight.tensor, _grad_of(weight, grad)
        args = dict(lr=lr, gamma1=self.gamma1, epsilon=self.epsilon, wd=wd,
                    rescale_grad=self.rescale_grad, clip_gradient=self._clip_arg(),
                    clip_weights=self.clip_weights if self.clip_weights else -1.0)
        with torch.no_grad():
            if self.centered:
                n, mean_g, delta = (s.tensor for s in state)
                steps.rmspropalex_step(w, g, n, mean_g, delta, w, gamma2=self.gamma2, **args)
            else:
                steps.rmsprop_step(w, g, state[0].tensor, w, **args)


@register
class AdaDelta(Optimizer):
    """AdaDelta (no learning rate): `w -= delta + wd * w`."""

    def __init__(self, rho=0.90, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        _check_pair(weight, grad)
        wd = self._get_wd(index)
        self._update_count(index)
        acc_g, acc_delta = state[0].tensor, state[1].tensor
        with torch.no_grad():
            w = weight.tensor
            g = self._scaled_clipped(weight, grad)
            acc_g.mul_(self.rho).add_((1. - self.rho) * g * g)
            delta = (acc_delta + self.epsilon).sqrt() / (acc_g + self.epsilon).sqrt() * g
            acc_delta.mul_(self.rho).add_((1. - self.rho) * delta * delta)
            w.sub_(delta + wd * w)


@register
class Ftrl(Optimizer):
    """FTRL-Proximal, as MXNet's `ftrl_update` (state is `(z, n)`)."""

    def __init__(self, lamda1=0.01, learning_rate=0.1, beta=1, **kwargs):
        super().__init__(**kwargs)
        self.lamda1 = lamda1
        self.beta = beta
        self.lr = learning_rate

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        _check_pair(weight, grad)
        self._update_count(index)
        wd, lr = self._get_wd(index), self._get_lr(index)
        w = weight.tensor
        with torch.no_grad():
            steps.ftrl_step(w, _grad_of(weight, grad), state[0].tensor, state[1].tensor, w,
                            lr=lr, lamda1=self.lamda1, beta=self.beta, wd=wd,
                            rescale_grad=self.rescale_grad, clip_gradient=self._clip_arg())


@register
class Adamax(Optimizer):
    """AdaMax: Adam with the infinity norm."""

    def __init__(self, learning_rate=0.002, beta1=0.9, beta2=0.999, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        _check_pair(weight, grad)
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        lr /= (1. - self.beta1 ** self._index_update_count[index])
        m_t, u_t = state[0].tensor, state[1].tensor
        with torch.no_grad():
            w = weight.tensor
            g = _grad_of(weight, grad) * self.rescale_grad + wd * w
            if self.clip_gradient is not None:
                g = _clip(g, self.clip_gradient)
            m_t.mul_(self.beta1).add_((1. - self.beta1) * g)
            u_t.copy_(torch.maximum(self.beta2 * u_t, g.abs()))
            w.sub_(lr * m_t / u_t)


@register
class Nadam(Optimizer):
    """Nesterov Adam with the momentum schedule of Dozat (2016)."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 schedule_decay=0.004, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.schedule_decay = schedule_decay
        self.m_schedule = 1.

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        _check_pair(weight, grad)
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        momentum_t = self.beta1 * (1. - 0.5 * pow(0.96, t * self.schedule_decay))
        momentum_t_1 = self.beta1 * (1. - 0.5 * pow(0.96, (t + 1) * self.schedule_decay))
        self.m_schedule = self.m_schedule * momentum_t
        m_schedule_next = self.m_schedule * momentum_t_1
        m_t, v_t = state[0].tensor, state[1].tensor
        with torch.no_grad():
            w = weight.tensor
            g = _grad_of(weight, grad) * self.rescale_grad + wd * w
            if self.clip_gradient is not None:
                g = _clip(g, self.clip_gradient)
            m_t.mul_(self.beta1).add_((1. - self.beta1) * g)
            v_t.mul_(self.beta2).add_((1. - self.beta2) * g * g)
            g_prime = g / (1. - self.m_schedule)
            m_prime = m_t / (1. - m_schedule_next)
            v_prime = v_t / (1. - pow(self.beta2, t))
            m_bar = (1. - momentum_t) * g_prime + momentum_t_1 * m_prime
            w.sub_(lr * m_bar / (v_prime.sqrt() + self.epsilon))


@register
class FTML(Optimizer):
    """Follow the Moving Leader, as MXNet's `ftml_update` (state is `(d, v, z)`)."""

    def __init__(self, beta1=0.6, beta2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        _check_pair(weight, grad)
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        t = self._index_update_count[index]
        d, v, z = (s.tensor for s in state)
        w = weight.tensor
        with torch.no_grad():
            steps.ftml_step(w, _grad_of(weight, grad), d, v, z, w, lr=lr, t=t, beta1=self.beta1,
                            beta2=self.beta2, epsilon=self.epsilon, wd=wd,
                            rescale_grad=self.rescale_grad, clip_grad=self._clip_arg())


@register
class DCASGD(Optimizer):
    """Delay-compensated asynchronous SGD; state is `(momentum or None, previous weight)`."""

    def __init__(self, momentum=0.0, lamda=0.04, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.weight_previous = {}
        self.lamda = lamda

    def create_state(self, index, weight):
        mom = _zeros_like(weight) if self.momentum != 0.0 else None
        return (mom, weight.copy())

    def update(self, index, weight, grad, state):
        _check_pair(weight, grad)
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        mom, previous = state
        with torch.no_grad():
            w, prev = weight.tensor, previous.tensor
            g = self._scaled_clipped(weight, grad)
            step = -lr * (g + wd * w + self.lamda * g * g * (w - prev))
            if mom is not None:
                step = mom.tensor.mul_(self.momentum).add_(step)
            prev.copy_(w)
            w.add_(step)


@register
class SGLD(Optimizer):
    """Stochastic Gradient Langevin Dynamics: a half SGD step plus N(0, lr) noise."""

    def create_state(self, index, weight):
        return None

    def update(self, index, weight, grad, state):
        _check_pair(weight, grad)
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        with torch.no_grad():
            w = weight.tensor
            g = self._scaled_clipped(weight, grad)
            w.add_(-lr / 2 * (g + wd * w))
            w.add_(torch.randn_like(w) * math.sqrt(lr))


@register
class Test(Optimizer):
    """MXNet's test optimizer: `w += rescale_grad * g`, and the state mirrors the weight."""

    def create_state(self, index, weight):
        return _zeros_like(weight)

    def update(self, index, weight, grad, state):
        _check_pair(weight, grad)
        with torch.no_grad():
            weight.tensor.add_(_grad_of(weight, grad) * self.rescale_grad)
            state.tensor.copy_(weight.tensor)
