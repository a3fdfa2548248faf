"""Updater: applies an optimizer per parameter index and keeps its states, which it saves in
a non-pickle format (a JSON header and the arrays in MXNet's NDArray-list format)."""
from ..ndarray.ndarray import NDArray, as_ndarray
from . import states as states_format
from .optimizer import _LOW_PRECISION, Optimizer, _check_pair


class Updater:
    """Applies an optimizer to (index, grad, weight) triples, keeping one state per index.

    `get_states`/`set_states` use a non-pickle format: a JSON header describing the
    state structure (and, when dumped, the optimizer's attributes) followed by the state
    arrays in MXNet's NDArray-list format.
    """

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected an mx.optimizer.Optimizer, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.states = {}
        self.states_synced = {}
        self.aggregate_updates = optimizer.aggregate_num > 0

    def __call__(self, index, grad, weight):
        """Update `weight` (or a list of weights) in place from `grad`."""
        indices, grads, weights = self._prepare(index, grad, weight)
        if self._multi_tensor(weights):
            self.optimizer._checked_plan(indices, weights, grads,
                                         [self.states[i] for i in indices])()
            return
        for idx, w, g in zip(indices, weights, grads):
            self.optimizer.update_multi_precision(idx, w, g, self.states[idx])

    def plan(self, index, grad, weight):
        """The host half of updating the lists `index`/`grad`/`weight` (see
        `Optimizer.multi_tensor_plan`): returns the device half, or None where this optimizer
        has no multi-tensor step for these weights (then call the updater itself)."""
        indices, grads, weights = self._prepare(index, grad, weight)
        if not self._multi_tensor(weights):
            return None
        return self.optimizer._checked_plan(indices, weights, grads,
                                            [self.states[i] for i in indices])

    def _multi_tensor(self, weights):
        opt = self.optimizer
        return opt.multi_tensor and len(weights) > 1 and not (
            opt.multi_precision and any(w.tensor.dtype in _LOW_PRECISION for w in weights))

    def _prepare(self, index, grad, weight):
        """Validated lists of indices, grads and weights, with every state created and on the
        weight's context."""
        if isinstance(index, (list, tuple)):
            indices = list(index)
            if not isinstance(grad, (list, tuple)) or not isinstance(weight, (list, tuple)) \
                    or not len(indices) == len(grad) == len(weight):
                raise ValueError(f"index, grad, weight: expected lists of one length, got "
                                 f"{len(indices)} indices with {_count(grad)} grads and "
                                 f"{_count(weight)} weights")
            grads = [as_ndarray(g, "grad") for g in grad]
            weights = [as_ndarray(w, "weight") for w in weight]
        else:
            indices = [index]
            grads = [as_ndarray(grad, "grad")]
            weights = [as_ndarray(weight, "weight")]
        indices = [i.decode() if isinstance(i, bytes) else i for i in indices]
        for w, g in zip(weights, grads):
            _check_pair(w, g)
        if weights:
            self.optimizer._set_current_context(weights[0].context.device_id)
        for idx, w in zip(indices, weights):
            if idx not in self.states:
                self.states[idx] = self.optimizer.create_state_multi_precision(idx, w)
                self.states_synced[idx] = True
            elif not self.states_synced[idx]:
                self.states[idx] = self.sync_state_context(self.states[idx], w.context)
                self.states_synced[idx] = True
        return indices, grads, weights

    def sync_state_context(self, state, context):
        """Move a state (an NDArray, or nested tuples/lists of them) onto `context`."""
        if isinstance(state, NDArray):
            return state.as_in_context(context)
        if isinstance(state, (tuple, list)):
            synced = [self.sync_state_context(s, context) for s in state]
            return tuple(synced) if isinstance(state, tuple) else synced
        return state

    def get_states(self, dump_optimizer=False):
        """All states (and optionally the optimizer) as bytes; see `set_states`."""
        return states_format.encode(self.states, self.optimizer if dump_optimizer else None)

    def set_states(self, states):
        """Restore what `get_states` returned; states move to each weight's context lazily.

        The bytes are checked completely first (`OptimizerStatesError`, an MXNetError, names
        what is wrong; nothing changes then). As in MXNet, an optimizer saved with
        `dump_optimizer=True` replaces this updater's optimizer.
        """
        new_states, optimizer = states_format.decode(states)
        self.set_state_dict(new_states)
        if optimizer is not None:
            self.optimizer = optimizer

    def set_state_dict(self, states):
        """Install decoded states ({index: state tree}); they move to the weights lazily."""
        self.states = dict(states)
        self.states_synced = dict.fromkeys(self.states, False)


def get_updater(optimizer):
    """An `Updater` for `optimizer` (what kvstore and Module call as `updater(i, g, w)`)."""
    return Updater(optimizer)


def _count(x):
    return len(x) if isinstance(x, (list, tuple)) else "a non-list"
