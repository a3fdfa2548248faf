"""Golden fixtures for mx.mod.Module, made with real MXNet 1.9.1.

Run with the MXNet reference venv, from the repository root:
    /tmp/mxnet-ref/bin/python tests/golden/make_module.py
Writes into tests/golden/data/module/:
- init.params: the starting parameters of a 3-layer MLP (mx.nd.save, plain names);
- data.npz: training data/labels and an evaluation set whose size is not a multiple of the batch;
- fit_<case>.params: parameters after two `fit` epochs (NDArrayIter, shuffle=False);
- fit_bn.params/.npz: the same for an MLP with BatchNorm (aux states) and SGD, predictions;
- fit_<case>.npz: the score after fit, predict outputs on the evaluation set, and the
  outputs/parameter gradients/input gradients of one forward_backward from init.params;
- behaviour.json: which exception type MXNet raises for each misuse, and other facts
  (rescale_grad, output shapes, reshape through forward, how batches split over contexts);
- signatures.json: parameter names and defaults of BaseModule's and Module's public methods.

The model, data and cases are functions of the framework module (`mx`), so the tests in
tests/module build exactly what MXNet built; this file imports MXNet only when run.
"""
import inspect
import json
import os
from collections import namedtuple

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "module")
BATCH = 8
FIT_CASES = {
    "sgd": ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.001}),
    "adam": ("adam", {"learning_rate": 0.01}),
}


def mlp(mx):
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=16, name="fc1")
    act1 = mx.sym.Activation(fc1, act_type="relu", name="relu1")
    fc2 = mx.sym.FullyConnected(act1, num_hidden=12, name="fc2")
    act2 = mx.sym.Activation(fc2, act_type="tanh", name="tanh2")
    fc3 = mx.sym.FullyConnected(act2, num_hidden=3, name="fc3")
    return mx.sym.SoftmaxOutput(fc3, name="softmax")


def mlp_bn(mx):
    """A 2-layer MLP with BatchNorm: aux states (moving mean/var) through fit and predict."""
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=10, name="fc1")
    bn1 = mx.sym.BatchNorm(fc1, momentum=0.8, fix_gamma=False, name="bn1")
    act1 = mx.sym.Activation(bn1, act_type="relu", name="relu1")
    fc2 = mx.sym.FullyConnected(act1, num_hidden=3, name="fc2")
    return mx.sym.SoftmaxOutput(fc2, name="softmax")


def make_bn_params(mx):
    """(arg_params, aux_params) to start `mlp_bn` from."""
    rng = np.random.RandomState(5)
    shapes = {"fc1_weight": (10, 5), "fc1_bias": (10,), "bn1_gamma": (10,), "bn1_beta": (10,),
              "fc2_weight": (3, 10), "fc2_bias": (3,)}
    args = {k: mx.nd.array(rng.uniform(-0.5, 0.5, s).astype(np.float32))
            for k, s in shapes.items()}
    args["bn1_gamma"] += 1
    aux = {"bn1_moving_mean": mx.nd.array(rng.uniform(-0.1, 0.1, 10).astype(np.float32)),
           "bn1_moving_var": mx.nd.array(rng.uniform(0.9, 1.1, 10).astype(np.float32))}
    return args, aux


def fit_bn(mx):
    """mlp_bn after two SGD-momentum epochs: {arg:/aux: name: array} and predictions."""
    x, y, ex, ey = make_data()
    args, aux = make_bn_params(mx)
    mod = mx.mod.Module(mlp_bn(mx))
    opt, opt_params = FIT_CASES["sgd"]
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=BATCH), num_epoch=2, optimizer=opt,
            optimizer_params=opt_params, arg_params=args, aux_params=aux)
    arg, aux = mod.get_params()
    saved = {"arg:" + k: v for k, v in arg.items()}
    saved.update({"aux:" + k: v for k, v in aux.items()})
    pred = mod.predict(mx.io.NDArrayIter(ex, ey, batch_size=BATCH)).asnumpy()
    return saved, pred


def make_data():
    rng = np.random.RandomState(7)
    centers = rng.randn(3, 5).astype(np.float32) * 2
    y = rng.randint(0, 3, size=64)
    x = (centers[y] + rng.randn(64, 5).astype(np.float32)).astype(np.float32)
    ex = rng.randn(21, 5).astype(np.float32)
    ey = rng.randint(0, 3, size=21).astype(np.float32)
    return x, y.astype(np.float32), ex, ey


def make_init_params(mx):
    rng = np.random.RandomState(11)
    shapes = {"fc1_weight": (16, 5), "fc1_bias": (16,), "fc2_weight": (12, 16),
              "fc2_bias": (12,), "fc3_weight": (3, 12), "fc3_bias": (3,)}
    return {k: mx.nd.array(rng.uniform(-0.5, 0.5, s).astype(np.float32))
            for k, s in shapes.items()}


def one_step_grads(mx, init):
    x, y, _, _ = make_data()
    mod = mx.mod.Module(mlp(mx))
    mod.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))], inputs_need_grad=True)
    mod.set_params(init, {})
    batch = mx.io.DataBatch([mx.nd.array(x[:BATCH])], [mx.nd.array(y[:BATCH])])
    mod.forward_backward(batch)
    grads = {"grad_" + name: mod._exec_group.grad_arrays[i][0].asnumpy()
             for i, name in enumerate(mod._exec_group.param_names)}
    grads["step_output"] = mod.get_outputs()[0].asnumpy()
    grads["step_input_grad"] = mod.get_input_grads()[0].asnumpy()
    return grads


def fit_case(mx, init, opt, opt_params):
    x, y, ex, ey = make_data()
    train = mx.io.NDArrayIter(x, y, batch_size=BATCH, shuffle=False)
    mod = mx.mod.Module(mlp(mx))
    mod.fit(train, num_epoch=2, optimizer=opt, optimizer_params=opt_params,
            arg_params=init, aux_params={}, eval_metric="acc")
    arg, aux = mod.get_params()
    score = dict(mod.score(train, ["acc", "ce"]))
    evalit = mx.io.NDArrayIter(ex, ey, batch_size=BATCH)
    pred = mod.predict(evalit).asnumpy()
    return arg, {"score_acc": np.float64(score["accuracy"]),
                 "score_ce": np.float64(score["cross-entropy"]), "predict": pred}


def raised(fn):
    try:
        fn()
    except Exception as err:  # noqa: BLE001 - recording which type MXNet raises
        return type(err).__name__
    return None


def behaviour(mx, init):
    Batch = namedtuple("Batch", ["data"])
    facts = {}
    x, y, _, _ = make_data()
    batch = mx.io.DataBatch([mx.nd.array(x[:BATCH])], [mx.nd.array(y[:BATCH])])

    fresh = mx.mod.Module(mlp(mx))
    facts["forward_before_bind"] = raised(lambda: fresh.forward(batch))
    facts["backward_before_bind"] = raised(lambda: fresh.backward())
    facts["update_before_bind"] = raised(lambda: fresh.update())
    facts["get_outputs_before_bind"] = raised(lambda: fresh.get_outputs())
    facts["init_params_before_bind"] = raised(lambda: fresh.init_params())
    facts["data_shapes_before_bind"] = raised(lambda: fresh.data_shapes)
    facts["init_optimizer_before_bind"] = raised(lambda: fresh.init_optimizer())
    facts["bind_wrong_data_name"] = raised(
        lambda: fresh.bind([("x", (BATCH, 5))], [("softmax_label", (BATCH,))]))
    facts["bind_wrong_label_name"] = raised(
        lambda: fresh.bind([("data", (BATCH, 5))], [("lbl", (BATCH,))]))
    facts["module_bad_data_name"] = raised(lambda: mx.mod.Module(mlp(mx), data_names=["x"]))

    fresh.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH,))])
    facts["forward_before_init_params"] = raised(lambda: fresh.forward(batch))
    facts["get_outputs_before_init_params"] = raised(lambda: fresh.get_outputs())
    facts["init_optimizer_before_init_params"] = raised(lambda: fresh.init_optimizer())
    missing = dict(init)
    del missing["fc2_bias"]
    facts["init_params_missing"] = raised(lambda: fresh.init_params(arg_params=missing))
    facts["params_initialized_after_missing"] = fresh.params_initialized
    extra = dict(init)
    extra["bogus"] = mx.nd.zeros((2,))
    facts["init_params_extra"] = raised(lambda: fresh.init_params(arg_params=extra))
    facts["set_params_missing"] = raised(lambda: fresh.set_params(missing, {}))
    facts["set_params_extra"] = raised(lambda: fresh.set_params(extra, {}))
    facts["set_params_extra_allowed"] = raised(
        lambda: fresh.set_params(extra, {}, allow_extra=True))
    facts["set_params_extra_allow_missing"] = raised(
        lambda: fresh.set_params(extra, {}, allow_missing=True))
    facts["set_params_extra_allow_missing_allowed"] = raised(
        lambda: fresh.set_params(extra, {}, allow_missing=True, allow_extra=True))
    two = mx.io.DataBatch([mx.nd.array(x[:BATCH]), mx.nd.array(x[:BATCH])],
                          [mx.nd.array(y[:BATCH])])
    facts["forward_two_data_arrays"] = raised(lambda: fresh.forward(two))
    facts["update_before_init_optimizer"] = raised(lambda: fresh.update())
    facts["init_optimizer_unknown_name"] = raised(
        lambda: fresh.init_optimizer(optimizer="no_such_optimizer"))
    facts["optimizer_initialized_after_unknown"] = fresh.optimizer_initialized
    fresh.init_optimizer(optimizer="sgd")
    facts["rescale_grad"] = fresh._optimizer.rescale_grad
    facts["get_input_grads_without_inputs_need_grad"] = raised(lambda: fresh.get_input_grads())
    facts["output_shapes"] = [[n, list(s)] for n, s in fresh.output_shapes]
    facts["output_names"] = fresh.output_names
    facts["label_shapes"] = [[d.name, list(d.shape)] for d in fresh.label_shapes]

    unlabelled = mx.mod.Module(mx.sym.Variable("data") * 2, label_names=None)
    facts["bind_label_for_module_without_labels"] = raised(
        lambda: unlabelled.bind([("data", (1, 10))], [("softmax_label", (1,))]))
    unlabelled.bind(data_shapes=[("data", (1, 10))])
    unlabelled.init_params()
    unlabelled.forward(Batch([mx.nd.ones((1, 10))]))
    labelled = mx.io.DataBatch([mx.nd.ones((1, 10))], [mx.nd.ones((1,))])
    facts["forward_label_for_module_without_labels"] = raised(
        lambda: unlabelled.forward(labelled))
    facts["reshape_out_1"] = unlabelled.get_outputs()[0].asnumpy().tolist()
    unlabelled.forward(Batch([mx.nd.ones((3, 5))]))
    facts["reshape_out_2"] = unlabelled.get_outputs()[0].asnumpy().tolist()
    facts["reshape_data_shapes"] = [[d.name, list(d.shape)] for d in unlabelled.data_shapes]
    facts["unlabelled_label_shapes"] = unlabelled.label_shapes
    facts["load_missing_prefix"] = raised(lambda: mx.mod.Module.load("/nonexistent/x", 1))
    facts["splits"] = [[batch, loads, split_sizes(mx, batch, loads)]
                       for batch, loads in SPLIT_CASES]
    return facts


def describe_default(value):
    """A default as JSON: plain values as they are, objects by class name (and logging)."""
    if value is inspect.Parameter.empty:
        return "<required>"
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [describe_default(v) for v in value]
    if getattr(value, "__name__", None) == "logging":
        return "<logging>"
    return "<%s>" % type(value).__name__


def signatures(mx):
    """{Class.method: [[parameter, default], ...]} for the public API of the module classes."""
    out = {}
    for cls in (mx.mod.BaseModule, mx.mod.Module):
        for name, member in sorted(vars(cls).items()):
            if name.startswith("_") and name != "__init__":
                continue
            func = member.__func__ if isinstance(member, staticmethod) else member
            if not callable(func):
                continue
            params = inspect.signature(func).parameters.values()
            out["%s.%s" % (cls.__name__, name)] = [
                [p.name, describe_default(p.default)] for p in params]
    return out


SPLIT_CASES = [(8, [1, 1]), (8, [1, 3]), (7, [1, 1]), (5, [1, 1, 1]), (10, [1, 2, 2]),
               (9, [2, 1]), (3, [1, 1, 1]), (2, [1, 1, 1]), (4, [1, 0])]


def split_sizes(mx, batch, loads):
    """How MXNet's executor group divides a batch: the slice sizes, or the exception type."""
    from mxnet.executor_manager import _split_input_slice
    try:
        return [s.stop - s.start for s in _split_input_slice(batch, loads)]
    except Exception as err:  # noqa: BLE001 - recording which type MXNet raises
        return type(err).__name__


def main():
    import mxnet as mx
    os.makedirs(OUT, exist_ok=True)
    x, y, ex, ey = make_data()
    np.savez(os.path.join(OUT, "data.npz"), x=x, y=y, ex=ex, ey=ey)
    init = make_init_params(mx)
    mx.nd.save(os.path.join(OUT, "init.params"), init)
    grads = one_step_grads(mx, init)
    for case, (opt, opt_params) in FIT_CASES.items():
        arg, results = fit_case(mx, init, opt, opt_params)
        mx.nd.save(os.path.join(OUT, "fit_%s.params" % case), arg)
        results.update(grads)
        np.savez(os.path.join(OUT, "fit_%s.npz" % case), **results)
        print(case, results["score_acc"], results["score_ce"])
    saved, pred = fit_bn(mx)
    mx.nd.save(os.path.join(OUT, "fit_bn.params"), saved)
    np.savez(os.path.join(OUT, "fit_bn.npz"), predict=pred)
    facts = behaviour(mx, init)
    with open(os.path.join(OUT, "behaviour.json"), "w") as f:
        json.dump(facts, f, indent=1, sort_keys=True)
    with open(os.path.join(OUT, "signatures.json"), "w") as f:
        json.dump(signatures(mx), f, indent=1, sort_keys=True)
    print(json.dumps(facts, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
