"""MXNet's `mx.nd.random` / `mx.sym.random` functions, written once for both: each picks the
`_random_*` operator for number parameters and the `_sample_*` one for array parameters."""
import numbers


def build(namespace, is_array, invoke, symbolic):
    """Define MXNet's random functions in `namespace` (a module's globals).

    `invoke(op, inputs, params)` runs or composes an operator; `is_array(v)` tells an NDArray
    or Symbol parameter from a number. Imperative functions also take `ctx` and `out`.
    """

    def helper(dist, params, shape, dtype, kwargs):
        if is_array(params[0]):
            if not all(is_array(v) for v in params):
                raise ValueError(f"Distribution parameters must all have the same type, but "
                                 f"got {[type(v).__name__ for v in params]}")
            return invoke(f"_sample_{dist}", list(params), dict(kwargs, shape=shape,
                                                                dtype=dtype))
        if isinstance(params[0], numbers.Number):
            if not all(isinstance(v, numbers.Number) for v in params):
                raise ValueError(f"Distribution parameters must all have the same type, but "
                                 f"got {[type(v).__name__ for v in params]}")
            if shape is None and kwargs.get("out") is None:
                shape = 1
            names = _PARAM_NAMES[dist]
            return invoke(f"_random_{dist}", [], dict(kwargs, shape=shape, dtype=dtype,
                                                      **dict(zip(names, params))))
        raise ValueError(f"Distribution parameters must be either NDArray/Symbol or numbers, "
                         f"but got {type(params[0]).__name__}")

    def uniform(low=0, high=1, shape=None, dtype=None, **kwargs):
        return helper("uniform", [low, high], shape, dtype, kwargs)

    def normal(loc=0, scale=1, shape=None, dtype=None, **kwargs):
        return helper("normal", [loc, scale], shape, dtype, kwargs)

    def randn(*shape, **kwargs):
        loc, scale = kwargs.pop("loc", 0), kwargs.pop("scale", 1)
        dtype = kwargs.pop("dtype", None)
        return helper("normal", [loc, scale], shape or None, dtype, kwargs)

    def poisson(lam=1, shape=None, dtype=None, **kwargs):
        return helper("poisson", [lam], shape, dtype, kwargs)

    def exponential(scale=1, shape=None, dtype=None, **kwargs):
        return helper("exponential", [1.0 / scale], shape, dtype, kwargs)

    def gamma(alpha=1, beta=1, shape=None, dtype=None, **kwargs):
        return helper("gamma", [alpha, beta], shape, dtype, kwargs)

    def negative_binomial(k=1, p=1, shape=None, dtype=None, **kwargs):
        return helper("negative_binomial", [k, p], shape, dtype, kwargs)

    def generalized_negative_binomial(mu=1, alpha=1, shape=None, dtype=None, **kwargs):
        return helper("generalized_negative_binomial", [mu, alpha], shape, dtype, kwargs)

    def multinomial(data, shape=None, get_prob=symbolic, dtype="int32", **kwargs):
        return invoke("_sample_multinomial", [data], dict(kwargs, shape=shape,
                                                          get_prob=get_prob, dtype=dtype))

    def shuffle(data, **kwargs):
        return invoke("_shuffle", [data], kwargs)

    def randint(low, high, shape=None, dtype=None, **kwargs):
        if not symbolic and shape is None and kwargs.get("out") is None:
            shape = 1
        return invoke("_random_randint", [], dict(kwargs, low=low, high=high, shape=shape,
                                                  dtype=dtype))

    functions = (uniform, normal, randn, poisson, exponential, gamma, negative_binomial,
                 generalized_negative_binomial, multinomial, shuffle, randint)
    for fn in functions:
        fn.__doc__ = (f"MXNet's random.{fn.__name__}: number parameters draw `shape` samples, "
                      f"array parameters draw `shape` samples per element.")
        namespace[fn.__name__] = fn
    return [fn.__name__ for fn in functions]


_PARAM_NAMES = {"uniform": ("low", "high"), "normal": ("loc", "scale"), "poisson": ("lam",),
                "exponential": ("lam",), "gamma": ("alpha", "beta"),
                "negative_binomial": ("k", "p"), "generalized_negative_binomial": ("mu", "alpha")}
