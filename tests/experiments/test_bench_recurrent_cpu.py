"""experiments/bench_recurrent_cpu.py runs and writes its JSON (tiny sizes; no timing checked)."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))
import bench_recurrent_cpu  # noqa: E402


def test_bench_recurrent_cpu_writes_json(tmp_path):
    out = tmp_path / "rec.json"
    assert bench_recurrent_cpu.main(["--steps", "2", "--rounds", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["results"]
    assert [(r["T"], r["mode"]) for r in rows] == [(2, "fwd"), (2, "fwd+bwd")]
    assert all(r[f"{k} ms"] > 0 for r in rows for k in ("nn.LSTM", "bucketmod", "hand-written"))
