"""`mx.sym.contrib`: MXNet's `_contrib_*` operators under their short names, and its python
functions (the adamw update wrappers, rand_zipfian, and the control flow foreach, while_loop
and cond)."""
import math

from ..ops.registry import lazy_namespace
from .control_flow import cond, foreach, while_loop  # noqa: F401  (MXNet's contrib API)
from .symbol import Symbol, _invoke, make_op_function

__getattr__, __dir__ = lazy_namespace("contrib", globals(), make_op_function)


def _rescale(rescale_grad):
    if isinstance(rescale_grad, Symbol):
        return rescale_grad
    return _invoke("_full", "_full", [], {"shape": (1,), "value": rescale_grad})


def adamw_update(weight, grad, mean, var, rescale_grad, lr, eta, beta1=0.9, beta2=0.999,
                 epsilon=1e-8, wd=0, clip_gradient=-1, out=None, name=None, **kwargs):
    return _invoke("_adamw_update", "_adamw_update",
                   [weight, grad, mean, var, _rescale(rescale_grad)],
                   dict(kwargs, lr=lr, eta=eta, beta1=beta1, beta2=beta2, epsilon=epsilon,
                        wd=wd, clip_gradient=clip_gradient), name=name)


def mp_adamw_update(weight, grad, mean, var, weight32, rescale_grad, lr, eta, beta1=0.9,
                    beta2=0.999, epsilon=1e-8, wd=0, clip_gradient=-1, out=None, name=None,
                    **kwargs):
    return _invoke("_mp_adamw_update", "_mp_adamw_update",
                   [weight, grad, mean, var, weight32, _rescale(rescale_grad)],
                   dict(kwargs, lr=lr, eta=eta, beta1=beta1, beta2=beta2, epsilon=epsilon,
                        wd=wd, clip_gradient=clip_gradient), name=name)


def rand_zipfian(true_classes, num_sampled, range_max):
    """Symbolic rand_zipfian: (sampled classes, expected counts of the true classes and of
    the sampled ones)."""
    from . import random
    log_range = math.log(range_max + 1)
    rand = random.uniform(0, log_range, shape=(num_sampled,), dtype="float64")
    exp = _invoke("exp", "exp", [rand], {})
    sampled = _invoke("_mod_scalar", "_mod_scalar", [_invoke("Cast", "cast", [
        _invoke("_minus_scalar", "_minus_scalar", [exp], {"scalar": 1.0})], {"dtype": "int64"})],
        {"scalar": range_max})
    true_cls = _invoke("Cast", "cast", [true_classes], {"dtype": "float64"})
    count_true = _expected_count(true_cls, log_range, num_sampled)
    count_sampled = _expected_count(_invoke("Cast", "cast", [sampled], {"dtype": "float64"}),
                                    log_range, num_sampled)
    return sampled, count_true, count_sampled


def _expected_count(classes, log_range, num_sampled):
    ratio = (classes + 2.0) / (classes + 1.0)
    return _invoke("log", "log", [ratio], {}) / log_range * num_sampled
