"""The runnable experiments stay runnable: the MLP example and the bucketing LM (tiny sizes)."""
import importlib.util
import json


def test_mlp_reaches_95_percent(experiment):
    assert experiment("train_mlp").main(["--num-epochs", "5"]) > 0.95


def test_lstm_bucketing_smoke(tmp_path, caplog, experiment):
    out = tmp_path / "lm.json"
    result = experiment("lstm_bucketing").main([
        "--num-epochs", "2", "--corpus-size", "600", "--num-hidden", "16", "--num-embed", "16",
        "--batch-size", "8", "--lr", "0.1", "--buckets", "planned", "--json", str(out), "--plot",
        str(tmp_path / "lm.png")])
    saved = json.loads(out.read_text())
    assert saved["framework"] == "bucketmod" and len(saved["epochs"]) == 2
    ppl = [e["valid_perplexity"] for e in result["epochs"]]
    assert ppl[1] < ppl[0]
    assert all(e["samples_per_sec"] > 0 and e["tokens_per_sec"] > 0 for e in result["epochs"])
    if importlib.util.find_spec("matplotlib") is None:
        # Without the optional plot extra: one warning line, the results already written.
        assert not (tmp_path / "lm.png").exists()
        assert "matplotlib is not installed" in caplog.text
    else:
        assert (tmp_path / "lm.png").stat().st_size > 0


def test_bench_output_layer_runs(experiment):
    results = experiment("bench_output_layer").main(["--rows", "8", "--num-hidden", "4", "--vocab",
                                               "16", "--repeats", "1"])
    providers = {r["provider"] for r in results}
    assert providers == {"torch", "graph_mkl", "graph", "graph_fused", "fused_mkl", "scratch"}
    assert all(r["median_ms"] > 0 for r in results)
