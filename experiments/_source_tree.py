"""Let scripts run from a checkout that is not pip-installed: put the repo on sys.path and load
`kernels/` as `bucketmod.kernels` (pyproject's package-dir) when no install provides it."""
import importlib.util
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def use_source_tree():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import bucketmod
    if "bucketmod.kernels" in sys.modules or importlib.util.find_spec("bucketmod.kernels"):
        return
    folder = ROOT / "kernels"
    spec = importlib.util.spec_from_file_location(
        "bucketmod.kernels", folder / "__init__.py", submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["bucketmod.kernels"] = module
    spec.loader.exec_module(module)
    bucketmod.kernels = module
