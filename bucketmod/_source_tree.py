"""Running from a source checkout (PYTHONPATH=., no install): pyproject installs the folder
`kernels/` beside `bucketmod/` as `bucketmod.kernels`; this makes the same name resolve there."""
import importlib.util
import os
import sys


def alias_kernels_package(package):
    name = package.__name__ + ".kernels"
    if name in sys.modules:
        return
    try:
        if importlib.util.find_spec(name) is not None:
            return
    except ImportError:
        pass
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(package.__file__))),
                          "kernels")
    init = os.path.join(folder, "__init__.py")
    if not os.path.exists(init):
        return
    spec = importlib.util.spec_from_file_location(name, init,
                                                  submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
