"""A 3-layer MLP trained with `Module.fit` on a built-in synthetic classification set.

    python experiments/train_mlp.py          # > 95% validation accuracy in a few seconds
"""
import argparse
import logging
import time

import numpy as np

import bucketmod as mx


def synthetic_classes(num, dim, classes, seed):
    """Each class is two Gaussian clusters at random centres (so no single linear boundary
    separates the classes), points drawn with unit noise."""
    rng = np.random.RandomState(seed)
    centres = rng.randn(2 * classes, dim) * 1.5
    cluster = rng.randint(0, 2 * classes, num)
    points = centres[cluster] + rng.randn(num, dim)
    return points.astype(np.float32), (cluster % classes).astype(np.float32)


def mlp(classes):
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, name="fc1", num_hidden=128)
    act1 = mx.sym.Activation(fc1, name="relu1", act_type="relu")
    fc2 = mx.sym.FullyConnected(act1, name="fc2", num_hidden=64)
    act2 = mx.sym.Activation(fc2, name="relu2", act_type="relu")
    fc3 = mx.sym.FullyConnected(act2, name="fc3", num_hidden=classes)
    return mx.sym.SoftmaxOutput(fc3, name="softmax")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)-15s %(message)s")
    mx.random.seed(args.seed)
    np.random.seed(args.seed)  # NDArrayIter shuffles with numpy's generator, as in MXNet
    x, y = synthetic_classes(12000, 20, 5, args.seed)
    train = mx.io.NDArrayIter(x[:10000], y[:10000], args.batch_size, shuffle=True)
    val = mx.io.NDArrayIter(x[10000:], y[10000:], args.batch_size)
    mod = mx.mod.Module(mlp(5))
    tic = time.time()
    mod.fit(train, eval_data=val, num_epoch=args.num_epochs, optimizer="sgd",
            optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
            initializer=mx.init.Xavier(), eval_metric="acc",
            batch_end_callback=mx.callback.Speedometer(args.batch_size, 50))
    accuracy = dict(mod.score(val, "acc"))["accuracy"]
    logging.info("validation accuracy %.4f after %.1f s", accuracy, time.time() - tic)
    return accuracy


if __name__ == "__main__":
    main()
