"""The bucketing benchmark runs end to end at a tiny setting and writes what it promises."""
import importlib.util
import json
import math


def test_bench_lstm_bucketing_tiny(tmp_path, capsys, experiment):
    experiment("bench_lstm_bucketing").main([
        "--sizes", "tiny", "--runs", "bucketmod", "torch", "mxnet", "--data", "generated",
        "--corpus-size", "300", "--batches", "3", "--warmup", "1", "--repeats", "1",
        "--threads", "1", "--mxnet-python", str(tmp_path / "no-mxnet" / "python"),
        "--out-dir", str(tmp_path), "--name", "bench"])
    out = capsys.readouterr().out
    assert "mxnet: skipped: no MXNet venv at" in out
    assert "built-in" not in out  # --data generated asks for it: no note
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert doc["machine"]["cpu_count"] >= 1 and doc["versions"]["torch"]
    assert doc["git_sha"] and "bench_lstm_bucketing.py" in doc["command"]
    assert doc["settings"]["threads"] == 1 and doc["skipped"].keys() == {"mxnet"}
    tiny = doc["sizes"]["tiny"]
    assert tiny["runs"].keys() == {"bucketmod", "torch"} and not doc["failures"]
    for run in tiny["runs"].values():
        assert run["samples_per_sec"] > 0 and run["tokens_per_sec"] > run["samples_per_sec"]
        assert run["host_ms_per_batch"] == run["ms_per_batch"] > 0
        assert run["peak_rss_mib"] > 50 and math.isfinite(run["valid_perplexity"])
        assert run["threads"] == doc["settings"]["threads"]
    # Both runs trained and validated on identical batches: 1 warm-up + 3 timed.
    assert tiny["checks"]["same_batches"]
    assert tiny["checks"]["digests"]["torch"][0][0].endswith("/4")
    ratio = tiny["ratios"]["bucketmod/torch"]
    assert ratio == tiny["runs"]["bucketmod"]["samples_per_sec"] / \
        tiny["runs"]["torch"]["samples_per_sec"]
    has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    assert (tmp_path / "bench.png").exists() == has_matplotlib
