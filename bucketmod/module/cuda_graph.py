"""One CUDA graph per bucket: a module's training step (forward, backward, optimizer update)
captured once and replayed for every later batch of that bucket.

A bucket's shapes never change, and every tensor a step reads or writes lives at a fixed
address: inputs are the bound arrays (`load_batch` copies each batch into them before the
replay), parameters, gradients and optimizer states are allocated once, and the optimizer's
learning rate, weight decay and step size are 0-d tensors that the host half of the update
(`Updater.plan`) refills before each replay. What a step allocates comes from one memory pool
shared by all buckets, the largest (default) bucket captured first.

A bucket's first training batch runs eagerly (it initialises lazy state and tunes the Triton
kernels); its second is captured and replayed. Graphs are used by `fit` on a module with one
CUDA context, no kvstore and no monitor, whose optimizer has a multi-tensor step. They are on
by default there; `BUCKETMOD_CUDA_GRAPHS=0` or `module.cuda_graphs = False` turns them off.
A capture that fails is logged with its reason and the bucket keeps running eagerly.
"""
import logging
import os

import torch

from ..ndarray.ndarray import NDArray

ENV = "BUCKETMOD_CUDA_GRAPHS"


class _TorchGraph:
    """torch.cuda.CUDAGraph with a pool shared between the captures of one module tree."""

    def __init__(self):
        self.pool = None

    def capture(self, fn):
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            fn()
        if self.pool is None:
            self.pool = graph.pool()
        return graph.replay


class CudaGraphs:
    """The graph policy of one module tree (a Module, or a BucketingModule and its buckets).

    Args:
        enabled: True/False, or None to follow `BUCKETMOD_CUDA_GRAPHS` (default on).
        backend: what captures (tests pass an eager stand-in; default torch.cuda graphs).
    """

    def __init__(self, enabled=None, backend=None, logger=logging):
        self.enabled = enabled
        self.backend = backend
        self.logger = logger
        self.first = None
        self._buffers = {}

    def is_on(self):
        if self.enabled is not None:
            return bool(self.enabled)
        return os.environ.get(ENV, "1") != "0"

    def step(self, module, data_batch):
        """One training step of `module` on `data_batch`: replayed, captured or eager. The
        state lives on the module's executor group, so a rebind starts afresh."""
        group = module._exec_group
        if group.graph_step is None:
            reason = self.unsupported_reason(module)
            group.graph_step = _Warmup() if reason is None else _Eager(reason)
        state = group.graph_step
        if isinstance(state, _Warmup) and state.ready and self._order_allows(module):
            self._capture(module, data_batch)
        else:
            state.run(module, data_batch)

    def _order_allows(self, module):
        """The largest (default) bucket is captured before the others."""
        return self.first is None or self.first is module or isinstance(
            self.first._exec_group.graph_step, (_Replay, _Eager))

    def unsupported_reason(self, module):
        """Why `module`'s training step cannot be a CUDA graph, or None."""
        if not self.is_on():
            return f"turned off ({ENV}=0 or cuda_graphs=False)"
        contexts = module._context
        if len(contexts) != 1:
            return f"{len(contexts)} contexts (graphs need exactly one)"
        if self.backend is None and contexts[0].device_type != "gpu":
            return f"context {contexts[0]} is not a GPU"
        if module._kvstore is not None:
            return f"a kvstore ({module._kvstore.type}) reduces the gradients"
        if getattr(module._exec_group, "monitored", False):
            return "a monitor is installed"
        if not module._updater.optimizer.multi_tensor:
            return f"optimizer {type(module._updater.optimizer).__name__} has no " \
                   f"multi-tensor step"
        return None

    def _capture(self, module, data_batch):
        """Capture `module`'s step on this batch and replay it. If the capture fails, the step
        runs eagerly from the same plan and the bucket stays eager."""
        group = module._exec_group
        group.load_batch(data_batch, True)
        module._updater.optimizer._capturable = True
        apply = module._plan_update()
        if apply is None:
            group.graph_step = _Eager("the optimizer gave no multi-tensor plan")
            group.compute(is_train=True)
            group.backward()
            module.update()
            return

        views = []

        def step():
            group.compute(is_train=True)
            group.backward()
            apply()
            views[:] = [[self._shared_view(i, out.tensor) for i, out in enumerate(e.outputs)]
                        for e in group.execs]
            for per_exec, e in zip(views, group.execs):
                for view, out in zip(per_exec, e.outputs):
                    view.copy_(out.tensor)

        if self.backend is None:
            self.backend = _TorchGraph()
        try:
            replay = self.backend.capture(step)
        except Exception as err:  # noqa: BLE001  (any capture failure falls back to eager)
            self.logger.warning("CUDA graph capture failed (%s: %s); this bucket runs "
                                "without a graph", type(err).__name__, err)
            group.graph_step = _Eager(f"capture failed: {err}")
            group.compute(is_train=True)
            group.backward()
            apply()
            return
        group.graph_step = _Replay(replay, group, views)
        group.graph_step.replay()

    def _shared_view(self, position, tensor):
        """Output `position` of every bucket lives in one buffer outside the graphs' pool
        (sized by the largest bucket), so a captured step's own outputs are temporaries and
        the buckets' graphs do not each keep theirs."""
        key = (position, tensor.dtype, tensor.device)
        buf = self._buffers.get(key)
        if buf is None or buf.numel() < tensor.numel():
            buf = torch.empty(tensor.numel(), dtype=tensor.dtype, device=tensor.device)
            self._buffers[key] = buf
        return buf[:tensor.numel()].view(tensor.shape)


class _Eager:
    """A module whose steps run as plain forward/backward/update, and why."""

    def __init__(self, reason):
        self.reason = reason

    def run(self, module, data_batch):
        module.forward_backward(data_batch)
        module.update()


class _Warmup(_Eager):
    """A module's first step, eager; after it the module is ready to be captured."""

    def __init__(self):
        super().__init__(None)
        self.ready = False

    def run(self, module, data_batch):
        super().run(module, data_batch)
        self.ready = True


class _Replay:
    """A captured step: copy the batch in, refill the optimizer's scalars, replay."""

    def __init__(self, replay, group, views):
        self._replay = replay
        self._group = group
        self._outputs = [[NDArray(v, e._ctx) for v in per_exec]
                         for per_exec, e in zip(views, group.execs)]

    def replay(self):
        self._replay()
        for e, outs in zip(self._group.execs, self._outputs):
            e.outputs = list(outs)

    def run(self, module, data_batch):
        self._group.load_batch(data_batch, True)
        module._plan_update()
        self.replay()
