"""Automatic names for symbols, as MXNet makes them (`fullyconnected0`, then `fullyconnected1`)."""
import threading


class NameManager:
    """Gives each unnamed operator `hint` + a counter per hint; usable as a `with` block."""

    _current = threading.local()

    def __init__(self):
        self._counter = {}
        self._old_manager = None

    def get(self, name, hint):
        if name:
            return name
        count = self._counter.get(hint, 0)
        self._counter[hint] = count + 1
        return f"{hint}{count}"

    def __enter__(self):
        self._old_manager = NameManager.current()
        NameManager._current.value = self
        return self

    def __exit__(self, *exc):
        NameManager._current.value = self._old_manager

    @staticmethod
    def current():
        manager = getattr(NameManager._current, "value", None)
        if manager is None:
            manager = NameManager._current.value = NameManager()
        return manager


class Prefix(NameManager):
    """Prepends `prefix` to every name made inside the block, given or automatic."""

    def __init__(self, prefix):
        super().__init__()
        self._prefix = prefix

    def get(self, name, hint):
        return self._prefix + super().get(name, hint)


def current():
    return NameManager.current()
