"""Data parallelism as one thin layer: slice each batch over the contexts, run one Executor per
context, merge the outputs. With one context this is one executor and no copies at all."""
import functools

import numpy as np
import torch

from ..base import MXNetError, as_shape
from ..dtype import to_torch_dtype
from ..io import DataDesc
from ..ndarray.ndarray import NDArray, as_tensor


def _is_shape(shape):
    return isinstance(shape, (list, tuple)) and all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in shape)


def as_descs(what, shapes):
    """[(name, shape)] or [DataDesc] -> [DataDesc]; None -> []."""
    if shapes is None:
        return []
    if isinstance(shapes, (str, DataDesc)) or not hasattr(shapes, "__iter__"):
        raise ValueError(f"{what}: expected a list of (name, shape) or DataDesc, got "
                         f"{shapes!r}")
    out = []
    for item in shapes:
        if isinstance(item, DataDesc):
            desc = item
        elif isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
            desc = DataDesc(item[0], item[1])
        else:
            raise ValueError(f"{what}: expected a list of (name, shape) or DataDesc, got "
                             f"{item!r}")
        if hasattr(desc.shape, "__array__"):
            as_shape(f"{what}: the shape of {desc.name!r}", desc.shape)
        if not _is_shape(desc.shape):
            raise ValueError(f"{what}: the shape of {desc.name!r} must be a tuple of positive "
                             f"ints, got {desc.shape!r}")
        shape = tuple(int(d) for d in desc.shape)
        out.append(desc if desc is item and desc.shape == shape else
                   DataDesc(desc.name, shape, desc.dtype, desc.layout))
    return out


def split_batch(batch_size, work_load_list):
    """[slice] dividing `batch_size` examples in proportion to the work loads."""
    total = float(sum(work_load_list))
    sizes = [int(round(w * batch_size / total)) for w in work_load_list]
    sizes[-1] = batch_size - sum(sizes[:-1])
    if any(s <= 0 for s in sizes):
        raise ValueError(f"work_load_list {work_load_list} leaves a context with no examples "
                         f"of a batch of {batch_size}")
    slices, start = [], 0
    for s in sizes:
        slices.append(slice(start, start + s))
        start += s
    return slices


def _slice_axis(t, axis, sl):
    if axis < 0:
        return t
    index = [slice(None)] * t.dim()
    index[axis] = sl
    return t[tuple(index)]


class ExecutorGroup:
    """One executor per context over the same symbol, sharing nothing but the batch."""

    def __init__(self, symbol, contexts, work_load_list, data_shapes, label_shapes, param_names,
                 for_training, inputs_need_grad, shared_group, fixed_param_names, grad_req,
                 state_names):
        self.symbol = symbol
        self.contexts = contexts
        self.param_names = param_names
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self.fixed_param_names = set(fixed_param_names or [])
        self.state_names = list(state_names or [])
        self.arg_names = symbol.list_arguments()
        self.aux_names = symbol.list_auxiliary_states()
        self.data_shapes = as_descs("data_shapes", data_shapes)
        self.label_shapes = as_descs("label_shapes", label_shapes)
        self.data_names = [d.name for d in self.data_shapes]
        self.label_names = [d.name for d in self.label_shapes]
        self.batch_size = self.data_shapes[0].shape[
            max(DataDesc.get_batch_axis(self.data_shapes[0].layout), 0)]
        self.slices = split_batch(self.batch_size, work_load_list)
        self.grad_req = self._grad_reqs(grad_req)
        self.execs = []
        for i, ctx in enumerate(contexts):
            shared = shared_group.execs[i] if shared_group is not None else None
            shapes = {d.name: self._sliced_shape(d, self.slices[i])
                      for d in self.data_shapes + self.label_shapes}
            types = {d.name: d.dtype for d in self.data_shapes + self.label_shapes}
            shared_names = [] if shared is None else [
                n for n in self.param_names + self.aux_names
                if n in shared.arg_dict or n in shared.aux_dict]
            self.execs.append(symbol.simple_bind(ctx, grad_req=self.grad_req, type_dict=types,
                                                 shared_exec=shared,
                                                 shared_arg_names=shared_names, **shapes))
        self.output_names = symbol.list_outputs()
        self.monitored = False
        self.graph_step = None

    def _grad_reqs(self, grad_req):
        if isinstance(grad_req, dict):
            base = dict(grad_req)
        elif isinstance(grad_req, str):
            base = {n: grad_req for n in self.arg_names}
        else:
            base = dict(zip(self.arg_names, grad_req))
        reqs = {}
        for name in self.arg_names:
            if not self.for_training:
                reqs[name] = "null"
            elif name in self.param_names:
                reqs[name] = "null" if name in self.fixed_param_names else base.get(name, "write")
            elif name in self.data_names:
                reqs[name] = base.get(name, "write") if self.inputs_need_grad else "null"
            else:
                reqs[name] = "null"
        return reqs

    @staticmethod
    def _sliced_shape(desc, sl):
        axis = DataDesc.get_batch_axis(desc.layout)
        shape = list(desc.shape)
        if axis >= 0:
            shape[axis] = sl.stop - sl.start
        return tuple(shape)

    # -- parameters -------------------------------------------------------------------------
    def param_arrays(self, name):
        """The array of parameter (or aux state) `name` on every context."""
        return [e.arg_dict[name] if name in e.arg_dict else e.aux_dict[name] for e in self.execs]

    def grad_arrays(self, name):
        return [e.grad_dict.get(name) for e in self.execs]

    @functools.cached_property
    def trained_params(self):
        """(indices, names) of the parameters that have gradients, in parameter order."""
        pairs = [(i, n) for i, n in enumerate(self.param_names)
                 if self.grad_arrays(n)[0] is not None]
        return [i for i, _ in pairs], [n for _, n in pairs]

    def broadcast_from_first(self, names):
        """Copy the first context's value of each name to the others."""
        if len(self.execs) == 1:
            return
        with torch.no_grad():
            for name in names:
                first, *rest = self.param_arrays(name)
                for arr in rest:
                    arr.tensor.copy_(first.tensor)

    # -- computation ------------------------------------------------------------------------
    def load_batch(self, data_batch, is_train):
        with torch.no_grad():
            self._load(self.data_shapes, data_batch.data, "data")
            labels = getattr(data_batch, "label", None)
            if self.label_shapes and labels:
                self._load(self.label_shapes, labels, "label")

    @functools.cached_property
    def _batch_axes(self):
        return {d.name: DataDesc.get_batch_axis(d.layout)
                for d in self.data_shapes + self.label_shapes}

    def _load(self, descs, arrays, what):
        if len(arrays) != len(descs):
            raise ValueError(f"{what}: the batch has {len(arrays)} arrays, the module expects "
                             f"{len(descs)} ({[d.name for d in descs]})")
        whole = len(self.execs) == 1
        for desc, arr in zip(descs, arrays):
            src = arr.tensor if isinstance(arr, NDArray) else as_tensor(arr)
            axis = self._batch_axes[desc.name]
            for e, sl in zip(self.execs, self.slices):
                target = e.arg_dict[desc.name].tensor
                part = src if whole and src.shape == target.shape else \
                    _slice_axis(src, axis, sl)
                if part.shape != target.shape:
                    raise ValueError(f"{what} {desc.name}: expected shape {desc.shape}, got "
                                     f"{tuple(src.shape)}")
                target.copy_(part, non_blocking=target.is_cuda)

    def forward(self, data_batch, is_train):
        self.load_batch(data_batch, is_train)
        self.compute(is_train)

    def compute(self, is_train):
        """Run every executor on the inputs already loaded."""
        for e in self.execs:
            e.forward(is_train=is_train)

    def backward(self, out_grads=None):
        if not self.for_training:
            raise MXNetError("backward: the module is bound with for_training=False; bind with "
                             "for_training=True to compute gradients")
        for e, sl in zip(self.execs, self.slices):
            grads = None
            if out_grads is not None:
                grads = [NDArray(_slice_axis(g.tensor if isinstance(g, NDArray) else
                                             as_tensor(g), 0, sl), e._ctx) for g in out_grads]
            e.backward(out_grads=grads)

    def release_outputs(self):
        for e in self.execs:
            e.release_outputs()

    def _merge(self, per_exec, merge):
        if not merge:
            return per_exec
        if len(self.execs) == 1:
            return [arrs[0] for arrs in per_exec]
        return [NDArray(torch.cat([a.tensor.to(arrs[0].tensor.device) for a in arrs], 0),
                        arrs[0].context) for arrs in per_exec]

    def _outputs(self, e):
        """The executor's outputs; before its first forward, zero-filled arrays of the bound
        output shapes and types (what MXNet's freshly bound executor holds)."""
        if e.outputs:
            return e.outputs
        shapes = {n: a.shape for n, a in e.arg_dict.items()}
        _, out_shapes, _ = self.symbol.infer_shape(**shapes)
        _, out_types, _ = self.symbol.infer_type(**{n: a.dtype for n, a in e.arg_dict.items()})
        return [NDArray(torch.zeros(shape, dtype=to_torch_dtype(dt),
                                    device=e._ctx.torch_device), e._ctx)
                for shape, dt in zip(out_shapes, out_types or [np.float32] * len(out_shapes))]

    def get_outputs(self, merge_multi_context=True):
        outputs = [self._outputs(e) for e in self.execs]
        per = [[outs[i] for outs in outputs] for i in range(len(self.output_names))]
        return self._merge(per, merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        if not self.inputs_need_grad:
            raise MXNetError("get_input_grads: bind with inputs_need_grad=True to get them")
        per = [[e.grad_dict[n] for e in self.execs] for n in self.data_names]
        return self._merge(per, merge_multi_context)

    def get_states(self, merge_multi_context=True):
        per = [[e.arg_dict[n] for e in self.execs] for n in self.state_names]
        return self._merge(per, merge_multi_context)

    def set_states(self, states=None, value=None):
        if (states is None) == (value is None):
            raise ValueError("set_states: give exactly one of states and value")
        with torch.no_grad():
            for k, name in enumerate(self.state_names):
                for i, e in enumerate(self.execs):
                    target = e.arg_dict[name].tensor
                    if value is not None:
                        target.fill_(value)
                    else:
                        src = states[k][i]
                        target.copy_(src.tensor if isinstance(src, NDArray) else as_tensor(src))

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        for i, (e, sl) in enumerate(zip(self.execs, self.slices)):
            if pre_sliced:
                labels_slice = labels[i]
            elif len(self.execs) == 1:
                labels_slice = labels
            else:
                labels_slice = [NDArray(_slice_axis(
                    lab.tensor if isinstance(lab, NDArray) else as_tensor(lab),
                    max(DataDesc.get_batch_axis(d.layout), 0), sl))
                    for lab, d in zip(labels, self.label_shapes or [DataDesc("", ())] *
                                      len(labels))]
            label_dict = dict(zip(self.label_names, labels_slice)) if self.label_names else \
                {f"label{j}": lab for j, lab in enumerate(labels_slice)}
            preds = dict(zip(self.output_names, self._outputs(e)))
            eval_metric.update_dict(label_dict, preds)

    def install_monitor(self, mon):
        self.monitored = True
        for e in self.execs:
            mon.install(e)

    @property
    def total_exec_bytes(self):
        return sum(e.total_exec_bytes for e in self.execs)


def batch_shapes(data_batch, names):
    """The (name, shape) descriptors a batch carries, from provide_data or from its arrays."""
    provided = getattr(data_batch, "provide_data", None)
    if provided:
        return as_descs("provide_data", provided)
    return [DataDesc(n, tuple(np.shape(a) if not isinstance(a, NDArray) else a.shape))
            for n, a in zip(names, data_batch.data)]
