"""`mx.rnn` cells: symbolic recurrent cells that unroll into MXNet-1.x graphs.

Every cell builds exactly the nodes MXNet 1.9.1 builds (same names, operators, parameters and
argument order), so graphs, parameter names (`lstm_l0_i2h_weight`) and checkpoints move
between the two unchanged. Example::

    cell = mx.rnn.SequentialRNNCell()
    for i in range(2):
        cell.add(mx.rnn.LSTMCell(200, prefix='lstm_l%d_' % i))
    outputs, states = cell.unroll(seq_len, inputs=embed, merge_outputs=True)
"""
import json
import numbers
import warnings

import torch

from .. import symbol
from ..ndarray.ndarray import NDArray, as_tensor
from ..symbol import Symbol


def _check(condition, message):
    """MXNet asserts these conditions; raise AssertionError even under `python -O`."""
    if not condition:
        raise AssertionError(message)


def _init_attr(name, **kwargs):
    """An initializer in MXNet's JSON form (`Initializer.dumps()`), e.g. `["lstmbias", {...}]`."""
    return json.dumps([name, kwargs])


def _i2h_h2h_params(params, i2h_bias_init=None):
    """The four parameters of a cell step: i2h weight and bias, h2h weight and bias."""
    return (params.get("i2h_weight"), params.get("i2h_bias", init=i2h_bias_init),
            params.get("h2h_weight"), params.get("h2h_bias"))


def _cells_state_info(cells):
    return sum([c.state_info for c in cells], [])


def _cells_begin_state(cells, **kwargs):
    return sum([c.begin_state(**kwargs) for c in cells], [])


def _cells_unpack_weights(cells, args):
    for cell in cells:
        args = cell.unpack_weights(args)
    return args


def _cells_pack_weights(cells, args):
    for cell in cells:
        args = cell.pack_weights(args)
    return args


def _normalize_sequence(length, inputs, layout, merge, in_layout=None):
    """Inputs as a list of per-step symbols (merge False) or one merged symbol (merge True);
    None leaves them as they are. Returns `(inputs, time_axis)`."""
    _check(inputs is not None, "unroll(inputs=None) has been deprecated. Please create input "
                               "variables outside unroll.")
    axis = layout.find("T")
    in_axis = in_layout.find("T") if in_layout is not None else axis
    if axis < 0:
        raise ValueError(f"layout: expected a layout with a T axis such as 'NTC' or 'TNC', "
                         f"got {layout!r}")
    if isinstance(inputs, Symbol):
        if merge is False:
            _check(len(inputs.list_outputs()) == 1,
                   "unroll doesn't allow grouped symbol as input. Please convert to list with "
                   "list(inputs) first or let unroll handle splitting.")
            inputs = list(symbol.split(inputs, axis=in_axis, num_outputs=length,
                                       squeeze_axis=1))
    else:
        _check(length is None or len(inputs) == length,
               f"unroll: length is {length} but {len(inputs)} input symbols were given")
        if merge is True:
            inputs = [symbol.expand_dims(i, axis=axis) for i in inputs]
            inputs = symbol.Concat(*inputs, dim=axis)
            in_axis = axis
    if isinstance(inputs, Symbol) and axis != in_axis:
        inputs = symbol.swapaxes(inputs, dim1=axis, dim2=in_axis)
    return inputs, axis


def _tensor(value):
    return value.tensor if isinstance(value, NDArray) else as_tensor(value)


def _like(value, tensor):
    """`tensor` as an NDArray on the context of `value` (when `value` is one)."""
    return NDArray(tensor, value.context if isinstance(value, NDArray) else None)


class RNNParams:
    """Variables shared between cells: `get(name)` returns the one Variable `prefix + name`."""

    def __init__(self, prefix=""):
        self._prefix = prefix
        self._params = {}

    def get(self, name, **kwargs):
        """The Variable `prefix + name`, created with `**kwargs` (Variable's) on first use."""
        name = self._prefix + name
        if name not in self._params:
            self._params[name] = symbol.Variable(name, **kwargs)
        return self._params[name]


class BaseRNNCell:
    """Base class of the cells: state bookkeeping, begin states, unroll, weight (un)packing.

    Args:
        prefix: prefix of node names, and of weight names when `params` is None.
        params: an RNNParams to share weights with other cells; a new one if None.
    """

    def __init__(self, prefix="", params=None):
        self._own_params = params is None
        self._params = RNNParams(prefix) if params is None else params
        self._prefix = prefix
        self._modified = False
        self.reset()

    def reset(self):
        """Reset the step and begin-state counters before building another graph."""
        self._init_counter = -1
        self._counter = -1
        for cell in getattr(self, "_cells", ()):
            cell.reset()

    def __call__(self, inputs, states):
        """One time step: `(output, new_states)` from `inputs` `[N, C]` and `states`."""
        raise NotImplementedError(f"{type(self).__name__} does not define a time step")

    @property
    def params(self):
        """The RNNParams of this cell (its weights may now be shared with other cells)."""
        self._own_params = False
        return self._params

    @property
    def state_info(self):
        """One dict per state: `shape` (0 for the batch axis) and `__layout__`."""
        raise NotImplementedError(f"{type(self).__name__} does not define its states")

    @property
    def state_shape(self):
        return [ele["shape"] for ele in self.state_info]

    @property
    def _gate_names(self):
        return ()

    def _check_not_modified(self):
        _check(not self._modified,
               "After applying modifier cells (e.g. DropoutCell) the base cell cannot be "
               "called directly. Call the modifier cell instead.")

    def begin_state(self, func=symbol.zeros, **kwargs):
        """Initial states, one symbol per `state_info` entry, named `<prefix>begin_state_<i>`.

        Args:
            func: makes each state from `name`, `shape`, `__layout__` and `**kwargs`:
                `mx.sym.zeros` (default), `mx.sym.Variable` to feed states as inputs, ...
        """
        self._check_not_modified()
        states = []
        for info in self.state_info:
            self._init_counter += 1
            if info is not None:
                kwargs.update(info)
            states.append(func(name=f"{self._prefix}begin_state_{self._init_counter}",
                               **kwargs))
        return states

    def unpack_weights(self, args):
        """Split each fused `i2h`/`h2h` weight and bias into one array per gate.

        Args:
            args: dict name -> NDArray, e.g. `Module.get_params()[0]`.
        Returns:
            a new dict with `<prefix>i2h_weight` replaced by `<prefix>i2h_i_weight`, ... .
        """
        args = dict(args)
        if not self._gate_names:
            return args
        h = self._num_hidden
        for group in ("i2h", "h2h"):
            for kind in ("weight", "bias"):
                packed = args.pop(f"{self._prefix}{group}_{kind}")
                full = _tensor(packed)
                for j, gate in enumerate(self._gate_names):
                    args[f"{self._prefix}{group}{gate}_{kind}"] = _like(
                        packed, full[j * h:(j + 1) * h].clone())
        return args

    def pack_weights(self, args):
        """The inverse of `unpack_weights`: per-gate arrays concatenated into one."""
        args = dict(args)
        if not self._gate_names:
            return args
        for group in ("i2h", "h2h"):
            for kind in ("weight", "bias"):
                parts = [args.pop(f"{self._prefix}{group}{gate}_{kind}")
                         for gate in self._gate_names]
                args[f"{self._prefix}{group}_{kind}"] = _like(
                    parts[0], torch.cat([_tensor(p) for p in parts]))
        return args

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        """Unroll the cell over `length` steps.

        Args:
            inputs: one symbol `[N, T, ...]` ('NTC') / `[T, N, ...]` ('TNC'), or a list of
                `length` symbols `[N, ...]`.
            begin_state: states to start from; `begin_state()` if None.
            merge_outputs: True gives one symbol with a time axis as in `layout`, False a
                list of per-step symbols, None whichever is cheaper.
        Returns:
            `(outputs, states)`.
        """
        self.reset()
        inputs, _ = _normalize_sequence(length, inputs, layout, False)
        states = self.begin_state() if begin_state is None else begin_state
        outputs = []
        for i in range(length):
            output, states = self(inputs[i], states)
            outputs.append(output)
        outputs, _ = _normalize_sequence(length, outputs, layout, merge_outputs)
        return outputs, states

    def _get_activation(self, inputs, activation, **kwargs):
        if isinstance(activation, str):
            return symbol.Activation(inputs, act_type=activation, **kwargs)
        return activation(inputs, **kwargs)


class RNNCell(BaseRNNCell):
    """Elman RNN cell: `h' = activation(W_i x + b_i + W_h h + b_h)`.

    Args:
        num_hidden: units of the output. activation: 'tanh' (default), 'relu', ... or a
            callable `f(symbol, name=...)`. prefix: default 'rnn_'. params: RNNParams or None.
    """

    def __init__(self, num_hidden, activation="tanh", prefix="rnn_", params=None):
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._activation = activation
        self._iW, self._iB, self._hW, self._hB = _i2h_h2h_params(self._params)

    @property
    def state_info(self):
        return [{"shape": (0, self._num_hidden), "__layout__": "NC"}]

    @property
    def _gate_names(self):
        return ("",)

    def __call__(self, inputs, states):
        self._counter += 1
        name = f"{self._prefix}t{self._counter}_"
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB,
                                    num_hidden=self._num_hidden, name=f"{name}i2h")
        h2h = symbol.FullyConnected(data=states[0], weight=self._hW, bias=self._hB,
                                    num_hidden=self._num_hidden, name=f"{name}h2h")
        output = self._get_activation(i2h + h2h, self._activation, name=f"{name}out")
        return output, [output]


class LSTMCell(BaseRNNCell):
    """LSTM cell, gates stacked i, f, c, o in the fused `i2h`/`h2h` weights.

    Args:
        num_hidden: units of the output. prefix: default 'lstm_'. params: RNNParams or None.
        forget_bias: added to the forget gate's bias at initialisation (the i2h bias carries
            an `LSTMBias` initializer, as in MXNet).
    """

    def __init__(self, num_hidden, prefix="lstm_", params=None, forget_bias=1.0):
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._iW, self._iB, self._hW, self._hB = _i2h_h2h_params(
            self._params, _init_attr("lstmbias", forget_bias=forget_bias))

    @property
    def state_info(self):
        return [{"shape": (0, self._num_hidden), "__layout__": "NC"},
                {"shape": (0, self._num_hidden), "__layout__": "NC"}]

    @property
    def _gate_names(self):
        return ["_i", "_f", "_c", "_o"]

    def __call__(self, inputs, states):
        self._counter += 1
        name = f"{self._prefix}t{self._counter}_"
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB,
                                    num_hidden=self._num_hidden * 4, name=f"{name}i2h")
        h2h = symbol.FullyConnected(data=states[0], weight=self._hW, bias=self._hB,
                                    num_hidden=self._num_hidden * 4, name=f"{name}h2h")
        gates = symbol.SliceChannel(i2h + h2h, num_outputs=4, name=f"{name}slice")
        in_gate = symbol.Activation(gates[0], act_type="sigmoid", name=f"{name}i")
        forget_gate = symbol.Activation(gates[1], act_type="sigmoid", name=f"{name}f")
        in_transform = symbol.Activation(gates[2], act_type="tanh", name=f"{name}c")
        out_gate = symbol.Activation(gates[3], act_type="sigmoid", name=f"{name}o")
        next_c = symbol.elemwise_add(forget_gate * states[1], in_gate * in_transform,
                                     name=f"{name}state")
        next_h = symbol.elemwise_mul(out_gate, symbol.Activation(next_c, act_type="tanh"),
                                     name=f"{name}out")
        return next_h, [next_h, next_c]


class GRUCell(BaseRNNCell):
    """GRU cell in cuDNN's form (the reset gate scales `W_h h + b_h`), gates r, z, o.

    Args:
        num_hidden: units of the output. prefix: default 'gru_'. params: RNNParams or None.
    """

    def __init__(self, num_hidden, prefix="gru_", params=None):
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._iW, self._iB, self._hW, self._hB = _i2h_h2h_params(self._params)

    @property
    def state_info(self):
        return [{"shape": (0, self._num_hidden), "__layout__": "NC"}]

    @property
    def _gate_names(self):
        return ["_r", "_z", "_o"]

    def __call__(self, inputs, states):
        self._counter += 1
        name = f"{self._prefix}t{self._counter}_"
        prev_h = states[0]
        i2h = symbol.FullyConnected(data=inputs, weight=self._iW, bias=self._iB,
                                    num_hidden=self._num_hidden * 3, name=f"{name}_i2h")
        h2h = symbol.FullyConnected(data=prev_h, weight=self._hW, bias=self._hB,
                                    num_hidden=self._num_hidden * 3, name=f"{name}_h2h")
        i2h_r, i2h_z, i2h = symbol.SliceChannel(i2h, num_outputs=3, name=f"{name}_i2h_slice")
        h2h_r, h2h_z, h2h = symbol.SliceChannel(h2h, num_outputs=3, name=f"{name}_h2h_slice")
        reset_gate = symbol.Activation(i2h_r + h2h_r, act_type="sigmoid", name=f"{name}_r_act")
        update_gate = symbol.Activation(i2h_z + h2h_z, act_type="sigmoid",
                                        name=f"{name}_z_act")
        candidate = symbol.Activation(i2h + reset_gate * h2h, act_type="tanh",
                                      name=f"{name}_h_act")
        next_h = symbol.elemwise_add((1. - update_gate) * candidate, update_gate * prev_h,
                                     name=f"{name}out")
        return next_h, [next_h]


class FusedRNNCell(BaseRNNCell):
    """A whole (multi-layer, optionally bidirectional) RNN as one `RNN` operator.

    All weights live in one packed vector `<prefix>parameters` (MXNet's layout);
    `unpack_weights` names its pieces as the unfused cells of `unfuse()` do.

    Args:
        num_hidden: units per direction. num_layers: stacked layers.
        mode: 'lstm', 'gru', 'rnn_tanh' or 'rnn_relu'. bidirectional: run both directions
            (outputs have 2*num_hidden features). dropout: between layers, in training.
        get_next_state: also return the final states. forget_bias: LSTM forget-gate bias
            at initialisation. prefix: default '<mode>_'. params: RNNParams or None.
    """

    def __init__(self, num_hidden, num_layers=1, mode="lstm", bidirectional=False, dropout=0.,
                 get_next_state=False, forget_bias=1.0, prefix=None, params=None):
        if mode not in ("rnn_relu", "rnn_tanh", "lstm", "gru"):
            raise ValueError(f"FusedRNNCell: mode must be one of 'rnn_relu', 'rnn_tanh', "
                             f"'lstm', 'gru', got {mode!r}")
        if prefix is None:
            prefix = f"{mode}_"
        super().__init__(prefix=prefix, params=params)
        self._num_hidden = num_hidden
        self._num_layers = num_layers
        self._mode = mode
        self._bidirectional = bidirectional
        self._dropout = dropout
        self._get_next_state = get_next_state
        self._directions = ["l", "r"] if bidirectional else ["l"]
        initializer = _init_attr("fusedrnn", init=None, num_hidden=num_hidden,
                                 num_layers=num_layers, mode=mode, bidirectional=bidirectional,
                                 forget_bias=forget_bias)
        self._parameter = self._params.get("parameters", init=initializer)

    @property
    def state_info(self):
        b = self._bidirectional + 1
        n = (self._mode == "lstm") + 1
        return [{"shape": (b * self._num_layers, 0, self._num_hidden), "__layout__": "LNC"}
                for _ in range(n)]

    @property
    def _gate_names(self):
        return {"rnn_relu": [""], "rnn_tanh": [""], "lstm": ["_i", "_f", "_c", "_o"],
                "gru": ["_r", "_z", "_o"]}[self._mode]

    @property
    def _num_gates(self):
        return len(self._gate_names)

    def _slice_weights(self, arr, li, lh):
        """{name: view of `arr` (a flat tensor)} for every per-gate weight and bias."""
        args, p = {}, 0
        b = len(self._directions)
        for layer in range(self._num_layers):
            for direction in self._directions:
                cols = li if layer == 0 else b * lh
                for group, width in (("i2h", cols), ("h2h", lh)):
                    for gate in self._gate_names:
                        name = f"{self._prefix}{direction}{layer}_{group}{gate}_weight"
                        args[name] = arr[p:p + lh * width].view(lh, width)
                        p += lh * width
        for layer in range(self._num_layers):
            for direction in self._directions:
                for group in ("i2h", "h2h"):
                    for gate in self._gate_names:
                        args[f"{self._prefix}{direction}{layer}_{group}{gate}_bias"] = \
                            arr[p:p + lh]
                        p += lh
        _check(p == arr.numel(), "Invalid parameters size for FusedRNNCell")
        return args

    def unpack_weights(self, args):
        args = dict(args)
        packed = args.pop(self._parameter.name)
        arr = _tensor(packed).reshape(-1)
        b, m, h = len(self._directions), self._num_gates, self._num_hidden
        num_input = arr.numel() // b // h // m - (self._num_layers - 1) * (h + b * h + 2) - h - 2
        for name, view in self._slice_weights(arr, num_input, h).items():
            args[name] = _like(packed, view.clone())
        return args

    def pack_weights(self, args):
        args = dict(args)
        b, m, h = self._bidirectional + 1, self._num_gates, self._num_hidden
        w0 = args[f"{self._prefix}l0_i2h{self._gate_names[0]}_weight"]
        t0 = _tensor(w0)
        num_input = t0.shape[1]
        total = (num_input + h + 2) * h * m * b + \
            (self._num_layers - 1) * m * h * (h + b * h + 2) * b
        arr = torch.zeros((total,), dtype=t0.dtype, device=t0.device)
        for name, view in self._slice_weights(arr, num_input, h).items():
            view.copy_(_tensor(args.pop(name)).reshape(view.shape))
        args[self._parameter.name] = _like(w0, arr)
        return args

    def __call__(self, inputs, states):
        raise NotImplementedError("FusedRNNCell cannot be stepped. Please use unroll")

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        inputs, axis = _normalize_sequence(length, inputs, layout, True)
        if axis == 1:
            warnings.warn("NTC layout detected. Consider using TNC for FusedRNNCell for faster "
                          "speed", stacklevel=2)
            inputs = symbol.swapaxes(inputs, dim1=0, dim2=1)
        else:
            _check(axis == 0, f"Unsupported layout {layout}")
        if begin_state is None:
            begin_state = self.begin_state()
        if self._mode == "lstm":
            states = {"state": begin_state[0], "state_cell": begin_state[1]}
        else:
            states = {"state": begin_state[0]}
        rnn = symbol.RNN(data=inputs, parameters=self._parameter, state_size=self._num_hidden,
                         num_layers=self._num_layers, bidirectional=self._bidirectional,
                         p=self._dropout, state_outputs=self._get_next_state, mode=self._mode,
                         name=self._prefix + "rnn", **states)
        if not self._get_next_state:
            outputs, states = rnn, []
        else:
            n_states = 2 if self._mode == "lstm" else 1
            for i in range(1, n_states + 1):
                rnn[i]._set_attr(__layout__="LNC")
            outputs, states = rnn[0], [rnn[i] for i in range(1, n_states + 1)]
        if axis == 1:
            outputs = symbol.swapaxes(outputs, dim1=0, dim2=1)
        outputs, _ = _normalize_sequence(length, outputs, layout, merge_outputs)
        return outputs, states

    def unfuse(self):
        """The equivalent SequentialRNNCell of unfused cells (same parameter names once
        `unpack_weights` is applied), which can be stepped."""
        make = {"rnn_relu": lambda p: RNNCell(self._num_hidden, activation="relu", prefix=p),
                "rnn_tanh": lambda p: RNNCell(self._num_hidden, activation="tanh", prefix=p),
                "lstm": lambda p: LSTMCell(self._num_hidden, prefix=p),
                "gru": lambda p: GRUCell(self._num_hidden, prefix=p)}[self._mode]
        stack = SequentialRNNCell()
        for i in range(self._num_layers):
            if self._bidirectional:
                stack.add(BidirectionalCell(make(f"{self._prefix}l{i}_"),
                                            make(f"{self._prefix}r{i}_"),
                                            output_prefix=f"{self._prefix}bi_l{i}_"))
            else:
                stack.add(make(f"{self._prefix}l{i}_"))
            if self._dropout > 0 and i != self._num_layers - 1:
                stack.add(DropoutCell(self._dropout, prefix=f"{self._prefix}_dropout{i}_"))
        return stack


class SequentialRNNCell(BaseRNNCell):
    """A stack of cells: each cell's outputs are the next one's inputs.

    Args:
        params: RNNParams shared by every cell added (then the cells must not have their own).
    """

    def __init__(self, params=None):
        super().__init__(prefix="", params=params)
        self._override_cell_params = params is not None
        self._cells = []

    def add(self, cell):
        """Append `cell` to the stack."""
        self._cells.append(cell)
        if self._override_cell_params:
            _check(cell._own_params,
                   "Either specify params for SequentialRNNCell or child cells, not both.")
            cell.params._params.update(self.params._params)
        self.params._params.update(cell.params._params)

    @property
    def state_info(self):
        return _cells_state_info(self._cells)

    def begin_state(self, **kwargs):
        self._check_not_modified()
        return _cells_begin_state(self._cells, **kwargs)

    def unpack_weights(self, args):
        return _cells_unpack_weights(self._cells, args)

    def pack_weights(self, args):
        return _cells_pack_weights(self._cells, args)

    def __call__(self, inputs, states):
        self._counter += 1
        next_states, p = [], 0
        for cell in self._cells:
            _check(not isinstance(cell, BidirectionalCell),
                   "SequentialRNNCell with a BidirectionalCell cannot be stepped; use unroll")
            n = len(cell.state_info)
            inputs, state = cell(inputs, states[p:p + n])
            p += n
            next_states.append(state)
        return inputs, sum(next_states, [])

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        if begin_state is None:
            begin_state = self.begin_state()
        p, next_states = 0, []
        last = len(self._cells) - 1
        for i, cell in enumerate(self._cells):
            n = len(cell.state_info)
            inputs, states = cell.unroll(length, inputs=inputs, begin_state=begin_state[p:p + n],
                                         layout=layout,
                                         merge_outputs=None if i < last else merge_outputs)
            p += n
            next_states.extend(states)
        return inputs, next_states


class DropoutCell(BaseRNNCell):
    """Dropout on the inputs (no state).

    Args:
        dropout: fraction dropped in training. prefix: default 'dropout_'.
    """

    def __init__(self, dropout, prefix="dropout_", params=None):
        super().__init__(prefix, params)
        if not isinstance(dropout, numbers.Number):
            raise AssertionError(f"dropout probability must be a number, got {dropout!r}")
        self.dropout = dropout

    @property
    def state_info(self):
        return []

    def __call__(self, inputs, states):
        if self.dropout > 0:
            inputs = symbol.Dropout(data=inputs, p=self.dropout)
        return inputs, states

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        inputs, _ = _normalize_sequence(length, inputs, layout, merge_outputs)
        if isinstance(inputs, Symbol):
            return self(inputs, [])
        return super().unroll(length, inputs, begin_state=begin_state, layout=layout,
                              merge_outputs=merge_outputs)


class ModifierCell(BaseRNNCell):
    """Base of cells that wrap another cell (`base_cell`) and change what it computes; the
    wrapped cell must then only be used through the modifier."""

    def __init__(self, base_cell):
        super().__init__()
        base_cell._modified = True
        self.base_cell = base_cell

    @property
    def params(self):
        self._own_params = False
        return self.base_cell.params

    @property
    def state_info(self):
        return self.base_cell.state_info

    def begin_state(self, init_sym=symbol.zeros, **kwargs):
        self._check_not_modified()
        self.base_cell._modified = False
        try:
            return self.base_cell.begin_state(func=init_sym, **kwargs)
        finally:
            self.base_cell._modified = True

    def unpack_weights(self, args):
        return self.base_cell.unpack_weights(args)

    def pack_weights(self, args):
        return self.base_cell.pack_weights(args)

    def __call__(self, inputs, states):
        raise NotImplementedError(f"{type(self).__name__} does not define a time step")


class ZoneoutCell(ModifierCell):
    """Zoneout: in training, each unit keeps its previous output/state with probability
    `zoneout_outputs`/`zoneout_states`."""

    def __init__(self, base_cell, zoneout_outputs=0., zoneout_states=0.):
        _check(not isinstance(base_cell, FusedRNNCell),
               "FusedRNNCell doesn't support zoneout. Please unfuse first.")
        _check(not isinstance(base_cell, BidirectionalCell),
               "BidirectionalCell doesn't support zoneout since it doesn't support step. "
               "Please add ZoneoutCell to the cells underneath instead.")
        _check(not isinstance(base_cell, SequentialRNNCell) or not any(
            isinstance(c, BidirectionalCell) for c in base_cell._cells),
            "Bidirectional SequentialRNNCell doesn't support zoneout. Please add ZoneoutCell "
            "to the cells underneath instead.")
        super().__init__(base_cell)
        self.zoneout_outputs = zoneout_outputs
        self.zoneout_states = zoneout_states
        self.prev_output = None

    def reset(self):
        super().reset()
        self.prev_output = None

    def __call__(self, inputs, states):
        p_outputs, p_states = self.zoneout_outputs, self.zoneout_states
        next_output, next_states = self.base_cell(inputs, states)

        def mask(p, like):
            return symbol.Dropout(symbol.ones_like(like), p=p)

        prev_output = self.prev_output if self.prev_output is not None else \
            symbol.zeros((0, 0))
        output = (symbol.where(mask(p_outputs, next_output), next_output, prev_output)
                  if p_outputs != 0. else next_output)
        states = ([symbol.where(mask(p_states, new_s), new_s, old_s)
                   for new_s, old_s in zip(next_states, states)]
                  if p_states != 0. else next_states)
        self.prev_output = output
        return output, states


class ResidualCell(ModifierCell):
    """Adds the cell's input to its output (Wu et al., 2016)."""

    def __call__(self, inputs, states):
        output, states = self.base_cell(inputs, states)
        output = symbol.elemwise_add(output, inputs, name=f"{output.name}_plus_residual")
        return output, states

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        self.base_cell._modified = False
        try:
            outputs, states = self.base_cell.unroll(length, inputs=inputs,
                                                    begin_state=begin_state, layout=layout,
                                                    merge_outputs=merge_outputs)
        finally:
            self.base_cell._modified = True
        if merge_outputs is None:
            merge_outputs = isinstance(outputs, Symbol)
        inputs, _ = _normalize_sequence(length, inputs, layout, merge_outputs)
        if merge_outputs:
            outputs = symbol.elemwise_add(outputs, inputs,
                                          name=f"{outputs.name}_plus_residual")
        else:
            outputs = [symbol.elemwise_add(o, i, name=f"{o.name}_plus_residual")
                       for o, i in zip(outputs, inputs)]
        return outputs, states


class BidirectionalCell(BaseRNNCell):
    """Runs `l_cell` forward and `r_cell` backward in time and concatenates their outputs.

    Args:
        l_cell, r_cell: the two cells. params: RNNParams shared by both (then they must not
            have their own). output_prefix: prefix of the Concat nodes, default 'bi_'.
    """

    def __init__(self, l_cell, r_cell, params=None, output_prefix="bi_"):
        super().__init__("", params=params)
        self._output_prefix = output_prefix
        self._override_cell_params = params is not None
        if self._override_cell_params:
            _check(l_cell._own_params and r_cell._own_params,
                   "Either specify params for BidirectionalCell or child cells, not both.")
            l_cell.params._params.update(self.params._params)
            r_cell.params._params.update(self.params._params)
        self.params._params.update(l_cell.params._params)
        self.params._params.update(r_cell.params._params)
        self._cells = [l_cell, r_cell]

    def unpack_weights(self, args):
        return _cells_unpack_weights(self._cells, args)

    def pack_weights(self, args):
        return _cells_pack_weights(self._cells, args)

    def __call__(self, inputs, states):
        raise NotImplementedError("Bidirectional cannot be stepped. Please use unroll")

    @property
    def state_info(self):
        return _cells_state_info(self._cells)

    def begin_state(self, **kwargs):
        self._check_not_modified()
        return _cells_begin_state(self._cells, **kwargs)

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        self.reset()
        inputs, axis = _normalize_sequence(length, inputs, layout, False)
        if begin_state is None:
            begin_state = self.begin_state()
        l_cell, r_cell = self._cells
        n_l = len(l_cell.state_info)
        l_outputs, l_states = l_cell.unroll(length, inputs=inputs, begin_state=begin_state[:n_l],
                                            layout=layout, merge_outputs=merge_outputs)
        r_outputs, r_states = r_cell.unroll(length, inputs=list(reversed(inputs)),
                                            begin_state=begin_state[n_l:], layout=layout,
                                            merge_outputs=merge_outputs)
        if merge_outputs is None:
            merge_outputs = isinstance(l_outputs, Symbol) and isinstance(r_outputs, Symbol)
            if not merge_outputs:
                if isinstance(l_outputs, Symbol):
                    l_outputs = list(symbol.SliceChannel(l_outputs, axis=axis,
                                                         num_outputs=length, squeeze_axis=1))
                if isinstance(r_outputs, Symbol):
                    r_outputs = list(symbol.SliceChannel(r_outputs, axis=axis,
                                                         num_outputs=length, squeeze_axis=1))
        if merge_outputs:
            l_outputs = [l_outputs]
            r_outputs = [symbol.reverse(r_outputs, axis=axis)]
        else:
            r_outputs = list(reversed(r_outputs))
        outputs = [symbol.Concat(l_o, r_o, dim=1 + merge_outputs,
                                 name=(f"{self._output_prefix}out" if merge_outputs
                                       else f"{self._output_prefix}t{i}"))
                   for i, (l_o, r_o) in enumerate(zip(l_outputs, r_outputs))]
        if merge_outputs:
            outputs = outputs[0]
        return outputs, [l_states, r_states]
