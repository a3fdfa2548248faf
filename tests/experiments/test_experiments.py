"""The runnable experiments stay runnable: the MLP example and the bucketing LM (tiny sizes)."""
import importlib.util
import json


def test_mlp_reaches_95_percent(experiment):
    assert experiment("train_mlp").main(["--num-epochs", "5"]) > 0.95


def test_lstm_bucketing_smoke(tmp_path, experiment):
    out = tmp_path / "lm.json"
    # matplotlib is in the [bench] extra, not [test]: plot only where it is installed.
    has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    plot = ["--plot", str(tmp_path / "lm.png")] if has_matplotlib else []
    result = experiment("lstm_bucketing").main([
        "--num-epochs", "2", "--corpus-size", "600", "--num-hidden", "16", "--num-embed", "16",
        "--batch-size", "8", "--lr", "0.1", "--buckets", "planned", "--json", str(out), *plot])
    saved = json.loads(out.read_text())
    assert saved["framework"] == "bucketmod" and len(saved["epochs"]) == 2
    ppl = [e["valid_perplexity"] for e in result["epochs"]]
    assert ppl[1] < ppl[0]
    assert all(e["samples_per_sec"] > 0 and e["tokens_per_sec"] > 0 for e in result["epochs"])
    assert not has_matplotlib or (tmp_path / "lm.png").stat().st_size > 0


def test_bench_output_layer_runs(experiment):
    results = experiment("bench_output_layer").main(["--rows", "8", "--num-hidden", "4", "--vocab",
                                               "16", "--repeats", "1"])
    providers = {r["provider"] for r in results}
    assert providers == {"torch", "graph_mkl", "graph", "graph_fused", "fused_mkl", "scratch"}
    assert all(r["median_ms"] > 0 for r in results)
