"""AttrScope: attributes (`__ctx_group__`, `__lr_mult__`, ...) given to every symbol made inside."""
import threading
from collections import defaultdict


class AttrScope:
    _current = threading.local()
    # How many subgraphs of each name control flow made (`foreach0`, `foreach1`), as MXNet.
    _subgraph_names = defaultdict(int)

    def __init__(self, **kwargs):
        self._old_scope = None
        for value in kwargs.values():
            if not isinstance(value, str):
                raise ValueError(f"AttrScope: attribute values must be strings, got {value!r}")
        self._attr = {_dunder(k): v for k, v in kwargs.items()}

    def get(self, attr):
        """The scope's attributes updated with `attr` (a dict or None)."""
        if not self._attr:
            return dict(attr) if attr else {}
        out = dict(self._attr)
        if attr:
            out.update(attr)
        return out

    def __enter__(self):
        self._old_scope = AttrScope.current()
        merged = dict(self._old_scope._attr)
        merged.update(self._attr)
        self._attr = merged
        AttrScope._current.value = self
        return self

    def __exit__(self, *exc):
        AttrScope._current.value = self._old_scope

    @staticmethod
    def current():
        scope = getattr(AttrScope._current, "value", None)
        if scope is None:
            scope = AttrScope._current.value = AttrScope()
        return scope


def _dunder(key):
    return key if key.startswith("__") and key.endswith("__") else f"__{key}__"
