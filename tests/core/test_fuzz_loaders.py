"""The loader fuzz targets of experiments/fuzz_loaders.py, bounded for CI: mutated NDArray
files, symbol JSON and optimizer states raise nothing but MXNetError, each within a second of
CPU. `BUCKETMOD_FUZZ_EXAMPLES` sets the examples per target (default 120); the long run is
`python experiments/fuzz_loaders.py --iterations 100000`."""
import importlib.util
import os

import pytest
from hypothesis import HealthCheck, given, settings

_SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "experiments", "fuzz_loaders.py")
_spec = importlib.util.spec_from_file_location("fuzz_loaders", _SCRIPT)
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)
EXAMPLES = int(os.environ.get("BUCKETMOD_FUZZ_EXAMPLES", "120"))
CI = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))


def _check(run, raw):
    _, cpu, _, _ = fuzz.check(run, raw)
    assert cpu < 1.0, f"{cpu:.2f} s of CPU for one input"


@CI
@given(fuzz.ndarray_inputs())
def test_ndarray_loader(raw):
    _check(fuzz.run_ndarray, raw)


@CI
@given(fuzz.symbol_inputs())
def test_symbol_loader(raw):
    _check(fuzz.run_symbol, raw)


@CI
@given(fuzz.states_inputs())
def test_states_loader(raw):
    _check(fuzz.run_states, raw)


@pytest.mark.parametrize("kind", ["ndarray", "symbol", "states"])
def test_every_seed_loads(kind):
    run = fuzz.TARGETS[kind][1]
    for raw in fuzz.seeds(kind):
        assert fuzz.check(run, raw)[0] == "loaded"


def test_long_run_script_reports_counts_and_memory(tmp_path):
    report = fuzz.main(["--iterations", "40", "--batch", "20", "--seed", "3",
                        "--json", str(tmp_path / "fuzz.json")])
    assert report["ok"] and [t["target"] for t in report["targets"]] == list(fuzz.TARGETS)
    assert all(t["inputs"] == 40 and t["untyped"] == 0 for t in report["targets"])
    assert report["growth_mb"] < 100
