"""Shared fixtures of the core-graph tests: MXNet's golden data and the case tables that made it.

The case tables live in `tests/golden/make_core.py` (functions of the framework module), so the
tests build exactly the graphs MXNet 1.9.1 built; that file imports MXNet only when run.
"""
import importlib.util
import os

import pytest

GOLDEN_DIR = os.path.join(os.path.dirname(__file__), "..", "golden")
CORE_DATA = os.path.join(GOLDEN_DIR, "data", "core")


def load_golden_script(name):
    """tests/golden/<name>.py as a module (it imports MXNet only when run as a script)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(GOLDEN_DIR, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_make_core():
    return load_golden_script("make_core")


@pytest.fixture(scope="session")
def cases():
    return load_make_core()


@pytest.fixture(scope="session")
def api_methods():
    """tests/golden/make_api_methods.py: its expressions and evaluators."""
    return load_golden_script("make_api_methods")
