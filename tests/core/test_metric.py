"""mx.metric against MXNet 1.9.1 values (tests/golden/make_metric.py) and its contracts."""
import json
import math
import os

import numpy as np
import pytest
import torch

from bucketmod import metric, registry
from bucketmod.ndarray import array

DATA = os.path.join(os.path.dirname(__file__), "..", "golden", "data")
with open(os.path.join(DATA, "metric_cases.json")) as _f:
    GOLDEN = json.load(_f)


def _as(kind, x):
    x = np.asarray(x, dtype=np.float32)
    return {"nd": array(x), "numpy": x, "torch": torch.from_numpy(x)}[kind]


@pytest.mark.parametrize("array_kind", ["nd", "numpy", "torch"])
@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[
    f"{i}-{c['metric']}-{c['kind']}" for i, c in enumerate(GOLDEN["cases"])])
def test_metric_matches_mxnet(case, array_kind):
    m = metric.create(case["metric"], **case["kwargs"])
    results = []
    for k, (label, pred) in enumerate(GOLDEN["inputs"][case["kind"]]):
        if k == 2:
            m.reset_local()
        m.update([_as(array_kind, label)], [_as(array_kind, pred)])
        if k >= 1:
            results.append((m.get(), m.get_global()))
    micro_pearson = case["metric"] == "pearsonr" and case["kwargs"].get("average") == "micro"
    for (local, global_), (want_local, want_global) in zip(results, case["results"]):
        assert local[0] == want_local[0]
        assert np.allclose(local[1], want_local[1], rtol=1e-5, atol=1e-6)
        if micro_pearson:
            assert global_ == local
        else:
            assert np.allclose(global_[1], want_global[1], rtol=1e-5, atol=1e-6)


def test_single_arrays_are_wrapped():
    m = metric.Accuracy()
    m.update(array([0, 1, 1]), array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]))
    assert m.get() == ("accuracy", pytest.approx(2 / 3))


def test_check_label_shapes_errors():
    with pytest.raises(ValueError, match=r"Shape of labels 2 does not match shape of "
                                         r"predictions 1"):
        metric.Accuracy().update([array([1]), array([0])], [array([[0.2, 0.8]])])
    with pytest.raises(ValueError, match=r"\(3,\) does not match shape of predictions \(2,\)"):
        metric.check_label_shapes(np.zeros(3), np.zeros(2), shape=True)
    labels, preds = metric.check_label_shapes(array([1.0]), array([2.0]), wrap=True)
    assert isinstance(labels, list) and isinstance(preds, list)


def test_reset_and_nan():
    m = metric.MSE()
    assert math.isnan(m.get()[1])
    m.update([array([1.0, 2.0])], [array([1.0, 4.0])])
    assert m.get()[1] == pytest.approx(2.0)
    m.reset_local()
    assert math.isnan(m.get()[1]) and m.get_global()[1] == pytest.approx(2.0)
    m.reset()
    assert math.isnan(m.get_global()[1])


def test_create_forms_and_config_round_trip():
    assert isinstance(metric.create("acc"), metric.Accuracy)
    assert isinstance(metric.create("CE"), metric.CrossEntropy)
    assert isinstance(metric.create("nll_loss"), metric.NegativeLogLikelihood)
    top = metric.create("top_k_accuracy", top_k=5)
    assert top.name == "top_k_accuracy_5"
    inst = metric.MAE()
    assert metric.create(inst) is inst
    comp = metric.create(["acc", "mse", metric.F1()])
    assert [type(m) for m in comp.metrics] == [metric.Accuracy, metric.MSE, metric.F1]
    config = comp.get_config()
    again = metric.create(config)
    assert [type(m) for m in again.metrics] == [metric.Accuracy, metric.MSE, metric.F1]
    assert metric.create(json.dumps(["accuracy", {"axis": 0}])).axis == 0
    assert metric.create(json.dumps(metric.Perplexity(ignore_label=3).get_config())) \
        .ignore_label == 3
    with pytest.raises(AssertionError, match="nope is not registered"):
        metric.create("nope")
    with pytest.raises(AssertionError, match="top_k"):
        metric.TopKAccuracy(top_k=1)


def test_callable_custom_metric_and_np():
    def frac_pos(label, pred):
        return (pred > 0).sum(), pred.size
    m = metric.create(frac_pos)
    assert isinstance(m, metric.CustomMetric) and m.name == "frac_pos"
    m.update([array([0, 0, 0])], [array([1.0, -1.0, 2.0])])
    assert m.get() == ("frac_pos", pytest.approx(2 / 3))
    lam = metric.np(lambda l, p: float(np.abs(l - p).max()))
    assert lam.name == "custom(<lambda>)"
    lam.update([array([1.0, 2.0])], [array([1.5, 0.0])])
    lam.update([array([1.0])], [array([1.25])])
    assert lam.get()[1] == pytest.approx((2.0 + 0.25) / 2)
    with pytest.raises(NotImplementedError, match="cannot be serialized"):
        lam.get_config()


def test_update_dict_selects_names():
    m = metric.Accuracy(output_names=["out"], label_names=["lab"])
    m.update_dict({"lab": array([1, 0]), "other": array([5, 5])},
                  {"out": array([[0.0, 1.0], [1.0, 0.0]]), "x": array([[1.0, 0.0]])})
    assert m.get()[1] == 1.0
    comp = metric.CompositeEvalMetric(["acc", "mse"], output_names=["out"],
                                      label_names=["lab"])
    comp.update_dict({"lab": array([1, 0])}, {"out": array([[0.0, 1.0], [1.0, 0.0]]),
                                                "x": array([0.0])})
    assert comp.get_name_value()[0] == ("accuracy", 1.0)
    assert comp.get_global_name_value()[0] == ("accuracy", 1.0)
    with pytest.raises(ValueError, match="out of range"):
        comp.get_metric(5)


def test_perplexity_axis_and_3d():
    probs = np.full((2, 3, 4), 0.25, dtype=np.float32)
    m = metric.Perplexity(ignore_label=None)
    m.update([array(np.zeros((2, 3)))], [array(probs)])
    assert m.get()[1] == pytest.approx(4.0)
    m2 = metric.Perplexity(ignore_label=None, axis=1)
    m2.update([array(np.zeros(4))], [array(np.full((4, 2), 0.5))])
    assert m2.get()[1] == pytest.approx(2.0)
    with pytest.raises(AssertionError, match="shape mismatch"):
        m.update([array(np.zeros(5))], [array(probs)])


def test_register_and_alias():
    @metric.alias("my_metric_alias")
    class MyMetric(metric.Loss):
        pass
    metric.register(MyMetric)
    try:
        assert type(metric.create("mymetric")) is MyMetric
        assert type(metric.create("my_metric_alias")) is MyMetric
    finally:
        registry._REGISTRY[metric.EvalMetric].pop("mymetric")
        registry._REGISTRY[metric.EvalMetric].pop("my_metric_alias")


def test_f1_rejects_multiclass():
    with pytest.raises(ValueError, match="binary"):
        metric.F1().update([array([0, 1, 2])], [array(np.eye(3))])


@pytest.mark.parametrize("name", ["mse", "mae", "rmse"])
def test_sums_accumulate_in_float64(name):
    # MXNet (numpy 1.x) sums per-batch values as float64; float32 would drop the second 1.
    m = metric.create(name)
    big = 4096.0 if name == "mse" else 16777216.0
    m.update([array(np.zeros(2))], [array(np.full(2, big))])
    m.update([array(np.zeros(2))], [array(np.ones(2))])
    # float() first: numpy 2 compares float32 with a python float in float32, where they tie
    assert float(m.get()[1]) == 8388608.5
    assert float(m.get_global()[1]) == 8388608.5
