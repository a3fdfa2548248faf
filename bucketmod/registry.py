"""`mx.registry`: name -> class registries with MXNet's register/alias/create functions, shared
by metrics and initializers."""
import json
import warnings

_REGISTRY = {}


def _registry(base_class):
    return _REGISTRY.setdefault(base_class, {})


def get_register_func(base_class, nickname):
    """`register(klass, name=None)`: file `klass` under its lower-cased name (or `name`)."""
    registry = _registry(base_class)

    def register(klass, name=None):
        if not (isinstance(klass, type) and issubclass(klass, base_class)):
            raise AssertionError(f"Can only register subclass of {base_class.__name__}, "
                                 f"got {klass!r}")
        name = (name or klass.__name__).lower()
        if name in registry:
            old = registry[name]
            warnings.warn(f"New {nickname} {klass.__module__}.{klass.__name__} registered with "
                          f"name {name} is overriding existing {nickname} "
                          f"{old.__module__}.{old.__name__}", UserWarning, stacklevel=2)
        registry[name] = klass
        return klass
    register.__doc__ = f"Register a {nickname} class under its lower-cased name (or `name`)."
    return register


def get_alias_func(base_class, nickname):
    """`alias(*names)`: a class decorator filing the class under extra names."""
    register = get_register_func(base_class, nickname)

    def alias(*aliases):
        def reg(klass):
            for name in aliases:
                register(klass, name)
            return klass
        return reg
    return alias


def get_create_func(base_class, nickname):
    """`create(x, *args, **kwargs)`: x is an instance (returned as is), a registered name, a
    `[name, kwargs]` JSON string (what `dumps()` writes), or a dict/JSON object whose
    `nickname` entry names the class."""
    registry = _registry(base_class)

    def create(spec, /, *args, **kwargs):
        if isinstance(spec, base_class):
            if args or kwargs:
                raise AssertionError(f"{nickname} is already an instance. Additional "
                                     f"arguments are invalid")
            return spec
        if isinstance(spec, str) and spec.startswith("["):
            name, config = json.loads(spec)
            return create(name, **config)
        if isinstance(spec, str) and spec.startswith("{"):
            spec = json.loads(spec)
        if isinstance(spec, dict):
            config = dict(spec)
            if nickname not in config:
                raise KeyError(f"{nickname} config: expected a {nickname!r} entry naming the "
                               f"class, got keys {sorted(config)}")
            return create(config.pop(nickname), *args, **config, **kwargs)
        if not isinstance(spec, str):
            raise AssertionError(f"{nickname} must be of string type, got "
                                 f"{type(spec).__name__}")
        klass = registry.get(spec.lower())
        if klass is None:
            raise AssertionError(f"{spec.lower()} is not registered. Please register with "
                                 f"{nickname}.register first (registered: {sorted(registry)})")
        return klass(*args, **kwargs)
    return create
