"""Checkpoints of models built from RNN cells: weights are saved unpacked (one array per gate,
readable by MXNet and by unfused cells) and packed again on load."""
from ..base import MXNetError
from .rnn_cell import BaseRNNCell


def _as_cell_list(cells):
    cells = [cells] if isinstance(cells, BaseRNNCell) else list(cells)
    for cell in cells:
        if not isinstance(cell, BaseRNNCell):
            raise TypeError(f"cells: expected an RNN cell or a list of RNN cells, got "
                            f"{type(cell).__name__}")
    return cells


def save_rnn_checkpoint(cells, prefix, epoch, symbol, arg_params, aux_params):
    """Write `prefix-symbol.json` and `prefix-%04d.params` with the cells' weights unpacked.

    Args:
        cells: the cell (or list of cells) whose fused weights `arg_params` holds.
        arg_params, aux_params: dict name -> NDArray, as from `Module.get_params()`.
    """
    from ..model import save_checkpoint
    for cell in _as_cell_list(cells):
        arg_params = cell.unpack_weights(arg_params)
    save_checkpoint(prefix, epoch, symbol, arg_params, aux_params)


def load_rnn_checkpoint(cells, prefix, epoch):
    """`(symbol, arg_params, aux_params)` from a checkpoint, with the cells' weights packed.

    Raises MXNetError (naming the checkpoint and the cell) when the parameters are not the
    unpacked weights of `cells`.
    """
    from ..model import load_checkpoint, params_file
    cells = _as_cell_list(cells)
    sym, arg, aux = load_checkpoint(prefix, epoch)
    for cell in cells:
        try:
            arg = cell.pack_weights(arg)
        except (KeyError, IndexError, ValueError, RuntimeError) as err:
            name = f"{type(cell).__name__} {getattr(cell, '_prefix', '')!r}"
            raise MXNetError(f"load_rnn_checkpoint: {params_file(prefix, epoch)!r} does not "
                             f"hold the unpacked weights of {name} "
                             f"({type(err).__name__}: {err})") from err
    return sym, arg, aux


def do_rnn_checkpoint(cells, prefix, period=1):
    """An epoch-end callback `(iter_no, sym, arg, aux)` that saves with `save_rnn_checkpoint`
    every `period` epochs (as epoch `iter_no + 1`)."""
    cells = _as_cell_list(cells)
    period = int(max(1, period))

    def _callback(iter_no, sym=None, arg=None, aux=None):
        if (iter_no + 1) % period == 0:
            save_rnn_checkpoint(cells, prefix, iter_no + 1, sym, arg, aux)
    return _callback
