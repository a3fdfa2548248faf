"""The scripts under experiments/ are not a package: tests load them by file name."""
import importlib.util
import pathlib

import pytest

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture
def experiment():
    """`experiment("train_mlp")` is experiments/train_mlp.py, loaded as a module."""
    def load(name):
        spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
