"""What MXNet 1.9.1 does with four Module misuses, into tests/golden/data/module/misuse.json.

Run with MXNet's python from the repository root:

    /tmp/mxnet-ref/bin/python tests/golden/make_misuse.py

Cases (the builders take the framework module `mx`, so the tests run them on bucketmod):
- foreign_bucket_params: a BucketingModule whose sym_gen names the FullyConnected differently
  for another bucket; switch_bucket to it (MXNet: an error at bind, which exception type).
- bind_without_labels: Module.bind without label_shapes on a module with label names (the
  warning MXNet gives), for training and for inference.
- outputs_before_forward: Module.get_outputs() right after bind (shapes and dtypes).
- bucket_key_none: BucketingModule.forward of a batch whose bucket_key is None (which keys
  sym_gen is asked for).
"""
import json
import os
import warnings

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "module")
B, D, K = 2, 6, 3


def fc_sym_gen(mx, calls=None, rename=True):
    """sym_gen whose FullyConnected is `fc0` for bucket 10 and `fc1` otherwise (if `rename`)."""
    def sym_gen(key):
        if calls is not None:
            calls.append(key)
        data = mx.sym.Variable("data")
        name = "fc0" if key == 10 or not rename else "fc1"
        fc = mx.sym.FullyConnected(data, num_hidden=K, name=name)
        return mx.sym.SoftmaxOutput(fc, name="softmax"), ("data",), ("softmax_label",)
    return sym_gen


def bucketing(mx, sym_gen):
    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=10)
    mod.bind([("data", (B, D))], [("softmax_label", (B,))])
    mod.init_params()
    return mod


def plain_module(mx):
    return mx.mod.Module(fc_sym_gen(mx)(10)[0])


def batch(mx, key):
    return mx.io.DataBatch([mx.nd.ones((B, D))], [mx.nd.zeros((B,))], bucket_key=key,
                           provide_data=[("data", (B, D))],
                           provide_label=[("softmax_label", (B,))])


def foreign_bucket_params(mx):
    mod = bucketing(mx, fc_sym_gen(mx))
    try:
        mod.switch_bucket(5, [("data", (B, D))], [("softmax_label", (B,))])
    except Exception as err:  # the type is the fact recorded
        return type(err).__name__
    return None


def bind_without_labels(mx, for_training):
    mod = plain_module(mx)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mod.bind([("data", (B, D))], for_training=for_training)
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def outputs_before_forward(mx):
    mod = plain_module(mx)
    mod.bind([("data", (B, D))], [("softmax_label", (B,))])
    mod.init_params()
    return [[list(o.shape), str(o.dtype.__name__ if hasattr(o.dtype, "__name__") else o.dtype)]
            for o in mod.get_outputs()]


def bucket_key_none(mx):
    calls = []
    mod = bucketing(mx, fc_sym_gen(mx, calls, rename=False))
    mod.forward(batch(mx, None), is_train=False)
    return calls


def main():
    import mxnet as mx
    facts = {"foreign_bucket_params": foreign_bucket_params(mx),
             "bind_without_labels_training": bind_without_labels(mx, True),
             "bind_without_labels_inference": bind_without_labels(mx, False),
             "outputs_before_forward": outputs_before_forward(mx),
             "bucket_key_none_sym_gen_calls": bucket_key_none(mx)}
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "misuse.json"), "w") as f:
        json.dump(facts, f, indent=1)
    print(json.dumps(facts, indent=1))


if __name__ == "__main__":
    main()
