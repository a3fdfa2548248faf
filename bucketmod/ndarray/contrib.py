"""`mx.nd.contrib`: MXNet's `_contrib_*` operators under their short names, and its python
functions (the adamw/lamb update wrappers, rand_zipfian, isfinite/isinf/isnan and the
imperative control flow foreach/while_loop/cond)."""
import math

from ..ops.registry import lazy_namespace
from .ndarray import NDArray
from .op_functions import invoke, make_function

__getattr__, __dir__ = lazy_namespace("contrib", globals(), make_function)


def _rescale(rescale_grad, like):
    if isinstance(rescale_grad, NDArray):
        return rescale_grad.as_in_context(like.context)
    from .ndarray import full
    return full((1,), rescale_grad, ctx=like.context)


def adamw_update(weight, grad, mean, var, rescale_grad, lr, eta, beta1=0.9, beta2=0.999,
                 epsilon=1e-8, wd=0, clip_gradient=-1, out=None, name=None, **kwargs):
    """AdamW: `w -= eta * (lr * mean / (sqrt(var) + epsilon) + wd * w)`; no update when
    rescale_grad is not finite."""
    return invoke("_adamw_update", [weight, grad, mean, var, _rescale(rescale_grad, weight)],
                  dict(kwargs, lr=lr, eta=eta, beta1=beta1, beta2=beta2, epsilon=epsilon,
                       wd=wd, clip_gradient=clip_gradient), out)


def mp_adamw_update(weight, grad, mean, var, weight32, rescale_grad, lr, eta, beta1=0.9,
                    beta2=0.999, epsilon=1e-8, wd=0, clip_gradient=-1, out=None, name=None,
                    **kwargs):
    """adamw_update on the float32 master copy `weight32`."""
    return invoke("_mp_adamw_update",
                  [weight, grad, mean, var, weight32, _rescale(rescale_grad, weight)],
                  dict(kwargs, lr=lr, eta=eta, beta1=beta1, beta2=beta2, epsilon=epsilon,
                       wd=wd, clip_gradient=clip_gradient), out)


def _interleave(*lists):
    return [a for group in zip(*lists) for a in group]


def multi_adamw_update(weights, grads, mean, var, rescale_grad, lrs, wds, etas, out=None,
                       name=None, size=0, **kwargs):
    size = size or len(weights)
    return invoke("_multi_adamw_update",
                  _interleave(weights, grads, mean, var) + [_rescale(rescale_grad, weights[0])],
                  dict(kwargs, num_weights=size, lrs=lrs, wds=wds, etas=etas), out)


def multi_mp_adamw_update(weights, grads, mean, var, weights32, rescale_grad, lrs, wds, etas,
                          out=None, name=None, size=0, **kwargs):
    size = size or len(weights)
    return invoke("_multi_mp_adamw_update",
                  _interleave(weights, grads, mean, var, weights32)
                  + [_rescale(rescale_grad, weights[0])],
                  dict(kwargs, num_weights=size, lrs=lrs, wds=wds, etas=etas), out)


def multi_lamb_update(weights, grads, mean, var, step_count, lrs, wds, out=None,
                      num_tensors=0, **kwargs):
    return invoke("_multi_lamb_update", _interleave(weights, grads, mean, var),
                  dict(kwargs, num_tensors=num_tensors or len(weights), step_count=step_count,
                       learning_rates=lrs, wds=wds), out)


def multi_mp_lamb_update(weights, grads, mean, var, weights32, step_count, lrs, wds, out=None,
                         num_tensors=0, **kwargs):
    return invoke("_multi_mp_lamb_update", _interleave(weights, grads, mean, var, weights32),
                  dict(kwargs, num_tensors=num_tensors or len(weights), step_count=step_count,
                       learning_rates=lrs, wds=wds), out)


def rand_zipfian(true_classes, num_sampled, range_max, ctx=None):
    """(sampled classes, expected count of the true classes, expected count of the sampled
    ones), drawn with replacement from the log-uniform distribution over [0, range_max)."""
    from .random import uniform
    ctx = ctx or true_classes.context
    log_range = math.log(range_max + 1)
    rand = uniform(0, log_range, shape=(num_sampled,), dtype="float64", ctx=ctx)
    sampled = (rand.exp() - 1).astype("int64") % range_max
    true_cls = true_classes.as_in_context(ctx).astype("float64")
    count_true = ((true_cls + 2.0) / (true_cls + 1.0)).log() / log_range * num_sampled
    sampled64 = sampled.astype("float64")
    count_sampled = ((sampled64 + 2.0) / (sampled64 + 1.0)).log() / log_range * num_sampled
    return sampled, count_true, count_sampled


def isinf(data):
    return data.abs() == math.inf


def isfinite(data):
    return invoke("_logical_and", [data.abs() != math.inf, data == data], {})


def isnan(data):
    return data != data


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def foreach(body, data, init_states, name="foreach"):
    """Run `body(slice, states) -> (outputs, states)` over axis 0 of `data` (an NDArray or a
    list of them); returns (outputs stacked along axis 0, the final states)."""
    single = isinstance(data, NDArray)
    steps = data.shape[0] if single else data[0].shape[0]
    states, outputs, single_out = init_states, [], True
    for i in range(steps):
        outs, states = body(data[i] if single else [d[i] for d in data], states)
        single_out = isinstance(outs, NDArray)
        outputs.append(_as_list(outs))
    stacked = [invoke("stack", list(items), {"axis": 0}) for items in zip(*outputs)]
    return (stacked[0] if single_out and stacked else stacked), states


def while_loop(cond, func, loop_vars, max_iterations=None):
    """Run `func(*loop_vars) -> (step_output, new_loop_vars)` while `cond(*loop_vars)` holds,
    at most max_iterations times; step outputs are stacked along a new axis 0 and padded to
    max_iterations rows (the padding is left uninitialised in MXNet; zeros here)."""
    if max_iterations is None:
        raise ValueError("max_iterations should be specified")
    max_iterations = int(max_iterations.asscalar() if isinstance(max_iterations, NDArray)
                         else max_iterations)
    single = isinstance(loop_vars, NDArray)
    loop_vars = _as_list(loop_vars)
    if not loop_vars:
        raise ValueError("loop_vars should contain at least one element")
    outputs, steps = [], 0
    while steps < max_iterations and bool(_scalar(cond(*loop_vars))):
        step_output, new_vars = func(*loop_vars)
        new_vars = _as_list(new_vars if new_vars is not None else [])
        if len(new_vars) != len(loop_vars):
            raise ValueError("The length of loop_vars should be consistent during the loop")
        outputs.append(_as_list(step_output if step_output is not None else []))
        loop_vars = new_vars
        steps += 1
    stacked = []
    for items in zip(*outputs):
        rows = [invoke("expand_dims", [x], {"axis": 0}) for x in items]
        if steps < max_iterations:
            from .ndarray import zeros
            rows.append(zeros((max_iterations - steps,) + items[0].shape, items[0].context,
                              items[0].dtype))
        stacked.append(invoke("Concat", rows, {"dim": 0}))
    return stacked, (loop_vars[0] if single else loop_vars)


def _scalar(value):
    return value.asscalar() if isinstance(value, NDArray) else value


def cond(pred, then_func, else_func):
    """`then_func()` if `pred` (a one-element NDArray) is non-zero, else `else_func()`."""
    return then_func() if bool(_scalar(pred)) else else_func()
