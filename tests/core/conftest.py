"""Shared fixtures of the core-graph tests: MXNet's golden data and the case tables that made it.

The case tables live in `tests/golden/make_core.py` (functions of the framework module), so the
tests build exactly the graphs MXNet 1.9.1 built; that file imports MXNet only when run.
"""
import importlib.util
import os

import pytest

GOLDEN_DIR = os.path.join(os.path.dirname(__file__), "..", "golden")
CORE_DATA = os.path.join(GOLDEN_DIR, "data", "core")


def load_make_core():
    spec = importlib.util.spec_from_file_location(
        "make_core", os.path.join(GOLDEN_DIR, "make_core.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def cases():
    return load_make_core()
