"""`mx.metric`: evaluation metrics with MXNet 1.9.1's names, aliases and arithmetic.

Labels and predictions may be NDArrays, torch tensors or numpy arrays, one array or a list.
Each metric keeps a local sum (cleared by `reset_local`, e.g. every logging interval) and a
global one (cleared only by `reset`).
"""
import math
from collections import OrderedDict

import numpy
import torch

from . import registry
from .ndarray.ndarray import NDArray

__all__ = ["EvalMetric", "CompositeEvalMetric", "Accuracy", "TopKAccuracy", "F1", "MCC",
           "Perplexity", "MAE", "MSE", "RMSE", "CrossEntropy", "NegativeLogLikelihood",
           "PearsonCorrelation", "Loss", "Torch", "Caffe", "CustomMetric", "np", "create",
           "register", "alias", "check_label_shapes"]

_ARRAY_TYPES = (NDArray, torch.Tensor, numpy.ndarray)


def _to_numpy(x):
    if isinstance(x, NDArray):
        return x.asnumpy()
    if isinstance(x, torch.Tensor):
        t = x.detach()
        return (t.float() if t.dtype == torch.bfloat16 else t).cpu().numpy()
    return numpy.asarray(x)


def _to_tensor(x):
    """A torch view of an NDArray, tensor or array-like (no copy where there is one to view),
    outside autograd."""
    if isinstance(x, NDArray):
        x = x.tensor
    elif not isinstance(x, torch.Tensor):
        return torch.as_tensor(numpy.asarray(x))
    return x.detach() if x.requires_grad else x


def check_label_shapes(labels, preds, wrap=False, shape=False):
    """Check that labels and preds agree in length (or in shape, with `shape=True`).

    With `wrap=True` a single array is wrapped into a one-element list.

    Raises:
        ValueError: naming both lengths (or shapes).
    """
    if not shape:
        label_shape, pred_shape = len(labels), len(preds)
    else:
        label_shape, pred_shape = tuple(labels.shape), tuple(preds.shape)
    if label_shape != pred_shape:
        raise ValueError(f"Shape of labels {label_shape} does not match shape of "
                         f"predictions {pred_shape}")
    if wrap:
        if isinstance(labels, _ARRAY_TYPES):
            labels = [labels]
        if isinstance(preds, _ARRAY_TYPES):
            preds = [preds]
    return labels, preds


class EvalMetric:
    """Base class for all evaluation metrics.

    Args:
        name: the metric's name, as reported by `get()`.
        output_names: names of the outputs `update_dict` reads (None: all, in order).
        label_names: names of the labels `update_dict` reads (None: all, in order).
    """

    def __init__(self, name, output_names=None, label_names=None, **kwargs):
        self.name = str(name)
        self.output_names = output_names
        self.label_names = label_names
        self._has_global_stats = kwargs.pop("has_global_stats", False)
        self._kwargs = kwargs
        self.reset()

    def __str__(self):
        return f"EvalMetric: {dict(self.get_name_value())}"

    def get_config(self):
        """The constructor arguments, with the class under 'metric' (what `create` takes)."""
        config = self._kwargs.copy()
        config.update({"metric": self.__class__.__name__, "name": self.name,
                       "output_names": self.output_names, "label_names": self.label_names})
        return config

    def update_dict(self, label, pred):
        """Update from dicts {name: array}, choosing entries by output_names/label_names."""
        pred = [pred[n] for n in self.output_names] if self.output_names is not None \
            else list(pred.values())
        label = [label[n] for n in self.label_names] if self.label_names is not None \
            else list(label.values())
        self.update(label, pred)

    def update(self, labels, preds):
        """Accumulate one batch of labels and predictions; subclasses define the metric."""
        raise NotImplementedError(f"{type(self).__name__} does not define update()")

    def reset(self):
        self._stats = [0.0, 0, 0.0, 0]
        self._pending = None

    def reset_local(self):
        self._flush()
        self._stats[0], self._stats[1] = 0.0, 0

    def _flush(self):
        """Add the sums accumulated on the device into the host's (one read of 2 numbers)."""
        if self._pending is not None:
            value, count = torch.stack(self._pending).tolist()
            self._pending = None
            self._stats[0] += value
            self._stats[2] += value
            self._stats[1] += int(count)
            self._stats[3] += int(count)

    def _stat(index, doc):
        def get(self):
            self._flush()
            return self._stats[index]

        def set_(self, value):
            self._flush()
            self._stats[index] = value
        return property(get, set_, doc=doc)

    sum_metric = _stat(0, "Sum of the metric since the last reset_local (reads the device).")
    num_inst = _stat(1, "Instances since the last reset_local (reads the device).")
    global_sum_metric = _stat(2, "Sum of the metric since the last reset.")
    global_num_inst = _stat(3, "Instances since the last reset.")
    del _stat

    def get(self):
        """`(name, value)` over the batches since the last reset_local (nan if none)."""
        if self.num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, self.sum_metric / self.num_inst)

    def get_global(self):
        """`(name, value)` over the batches since the last reset."""
        if not self._has_global_stats:
            return self.get()
        if self.global_num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, self.global_sum_metric / self.global_num_inst)

    def get_name_value(self):
        return _zip_name_value(*self.get())

    def get_global_name_value(self):
        if not self._has_global_stats:
            return self.get_name_value()
        return _zip_name_value(*self.get_global())

    def _add(self, value, count):
        """Add one batch's sum and instance count. Tensors stay on their device (summed in
        float64 there) until a value is read, so updating a metric never waits on a GPU."""
        if isinstance(value, torch.Tensor) or isinstance(count, torch.Tensor):
            device = value.device if isinstance(value, torch.Tensor) else count.device
            if self._pending is not None and self._pending[0].device != device:
                self._flush()
            if self._pending is None:
                self._pending = [torch.zeros((), dtype=torch.float64, device=device)
                                 for _ in range(2)]
            if isinstance(value, torch.Tensor) and isinstance(count, torch.Tensor):
                torch._foreach_add_(self._pending, [value, count])
            else:
                self._pending[0] += value
                self._pending[1] += count
            return
        # a python float: numpy 2 keeps float32 scalars float32, and sums must not lose bits
        value = float(value)
        self._stats[0] += value
        self._stats[2] += value
        self._stats[1] += count
        self._stats[3] += count


def _zip_name_value(name, value):
    names = name if isinstance(name, list) else [name]
    values = value if isinstance(value, list) else [value]
    return list(zip(names, values))


register = registry.get_register_func(EvalMetric, "metric")
alias = registry.get_alias_func(EvalMetric, "metric")
_create_registered = registry.get_create_func(EvalMetric, "metric")


def create(metric, *args, **kwargs):
    """A metric from a name/alias, a config dict or JSON string, an instance, a callable
    `feval(label, pred)` (a CustomMetric) or a list of any of these (a CompositeEvalMetric)."""
    if callable(metric) and not isinstance(metric, (type, EvalMetric)):
        return CustomMetric(metric, *args, **kwargs)
    if isinstance(metric, list):
        composite = CompositeEvalMetric()
        for child in metric:
            composite.add(create(child, *args, **kwargs))
        return composite
    return _create_registered(metric, *args, **kwargs)


@register
@alias("composite")
class CompositeEvalMetric(EvalMetric):
    """Several metrics updated together; `get()` returns lists of names and values."""

    def __init__(self, metrics=None, name="composite", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.metrics = [create(m) for m in (metrics or [])]

    def add(self, metric):
        self.metrics.append(create(metric))

    def get_metric(self, index):
        if not -len(self.metrics) <= index < len(self.metrics):
            raise ValueError(f"Metric index {index} is out of range 0 and {len(self.metrics)}")
        return self.metrics[index]

    def update_dict(self, labels, preds):
        if self.label_names is not None:
            labels = OrderedDict(i for i in labels.items() if i[0] in self.label_names)
        if self.output_names is not None:
            preds = OrderedDict(i for i in preds.items() if i[0] in self.output_names)
        for metric in self.metrics:
            metric.update_dict(labels, preds)

    def update(self, labels, preds):
        for metric in self.metrics:
            metric.update(labels, preds)

    def reset(self):
        for metric in getattr(self, "metrics", []):
            metric.reset()

    def reset_local(self):
        for metric in getattr(self, "metrics", []):
            metric.reset_local()

    def get(self):
        return self._collect(lambda m: m.get())

    def get_global(self):
        return self._collect(lambda m: m.get_global())

    def _collect(self, fetch):
        names, values = [], []
        for metric in self.metrics:
            name, value = fetch(metric)
            names.extend(name if isinstance(name, list) else [name])
            values.extend(value if isinstance(value, list) else [value])
        return (names, values)

    def get_config(self):
        config = super().get_config()
        config.update({"metrics": [m.get_config() for m in self.metrics]})
        return config


@register
@alias("acc")
class Accuracy(EvalMetric):
    """Fraction of correct predictions; class scores are argmax-ed along `axis` first."""

    def __init__(self, axis=1, name="accuracy", output_names=None, label_names=None):
        super().__init__(name, axis=axis, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.axis = axis

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _to_tensor(label), _to_tensor(pred)
            if pred.shape != label.shape:
                pred = pred.argmax(dim=self.axis)
            pred = pred.to(torch.int32).reshape(-1)
            label = label.to(device=pred.device, dtype=torch.int32).reshape(-1)
            check_label_shapes(label, pred)
            self._add((pred == label).sum(), len(pred))


@register
@alias("top_k_accuracy", "top_k_acc")
class TopKAccuracy(EvalMetric):
    """Fraction of samples whose label is among the `top_k` highest scores."""

    def __init__(self, top_k=1, name="top_k_accuracy", output_names=None, label_names=None):
        super().__init__(name, top_k=top_k, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.top_k = top_k
        if self.top_k <= 1:
            raise AssertionError(f"Please use Accuracy if top_k is no more than 1, "
                                 f"got top_k={top_k}")
        self.name += f"_{self.top_k}"

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            if _to_tensor(pred).dim() == 2:
                pred, label = _to_tensor(pred), _to_tensor(label)
                check_label_shapes(label.reshape(-1), pred)
                top = pred.topk(min(self.top_k, pred.shape[1]), dim=1).indices
                label = label.to(device=pred.device, dtype=torch.int32).reshape(-1, 1)
                self._add((top == label).sum(), pred.shape[0])
                continue
            pred = _to_numpy(pred).astype("float32")
            if pred.ndim > 2:
                raise AssertionError(f"Predictions should be no more than 2 dims, "
                                     f"got shape {pred.shape}")
            order = numpy.argpartition(pred, -self.top_k)
            label = _to_numpy(label).astype("int32")
            check_label_shapes(label, order)
            if order.ndim == 1:
                correct = (order.ravel() == label.ravel()).sum()
            else:
                num_classes = order.shape[1]
                correct = sum((order[:, num_classes - 1 - j].ravel() == label.ravel()).sum()
                              for j in range(min(num_classes, self.top_k)))
            self._add(correct, order.shape[0])


class _BinaryStats:
    """Confusion counts of a binary classifier, local and global."""

    _FIELDS = ("true_positives", "false_positives", "false_negatives", "true_negatives")

    def __init__(self):
        self.reset_stats()

    def update_binary_stats(self, label, pred):
        pred = _to_numpy(pred)
        label = _to_numpy(label).astype("int32")
        pred_label = numpy.argmax(pred, axis=1)
        check_label_shapes(label, pred)
        if len(numpy.unique(label)) > 2:
            raise ValueError(f"{self.__class__.__name__} currently only supports binary "
                             f"classification, got labels {numpy.unique(label).tolist()}")
        pred_true, label_true = pred_label == 1, label == 1
        counts = ((pred_true & label_true).sum(), (pred_true & ~label_true).sum(),
                  (~pred_true & label_true).sum(), (~pred_true & ~label_true).sum())
        for field, count in zip(self._FIELDS, counts):
            setattr(self, field, getattr(self, field) + count)
            setattr(self, "global_" + field, getattr(self, "global_" + field) + count)

    def counts(self, use_global=False):
        prefix = "global_" if use_global else ""
        return tuple(float(getattr(self, prefix + f)) for f in self._FIELDS)

    def fscore(self, use_global=False):
        tp, fp, fn, _ = self.counts(use_global)
        precision = tp / (tp + fp) if tp + fp > 0 else 0.
        recall = tp / (tp + fn) if tp + fn > 0 else 0.
        if precision + recall > 0:
            return 2 * precision * recall / (precision + recall)
        return 0.

    def matthewscc(self, use_global=False):
        tp, fp, fn, tn = self.counts(use_global)
        if not tp + fp + fn + tn:
            return 0.
        denom = 1.
        for term in (tp + fp, tp + fn, tn + fp, tn + fn):
            if term != 0.:
                denom *= term
        return (tp * tn - fp * fn) / math.sqrt(denom)

    def total_examples(self, use_global=False):
        return sum(self.counts(use_global))

    def local_reset_stats(self):
        for field in self._FIELDS:
            setattr(self, field, 0)

    def reset_stats(self):
        for field in self._FIELDS:
            setattr(self, field, 0)
            setattr(self, "global_" + field, 0)


class _BinaryMetric(EvalMetric):
    """F1/MCC: 'macro' averages the per-batch score, 'micro' scores all samples pooled."""

    def __init__(self, name, output_names, label_names, average):
        self.average = average
        self.metrics = _BinaryStats()
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def _score(self, use_global):
        raise NotImplementedError

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            self.metrics.update_binary_stats(label, pred)
        if self.average == "macro":
            self._add_split(self._score(False), self._score(True), 1)
            self.metrics.reset_stats()
        else:
            self.sum_metric = self._score(False) * self.metrics.total_examples()
            self.global_sum_metric = self._score(True) * self.metrics.total_examples(True)
            self.num_inst = self.metrics.total_examples()
            self.global_num_inst = self.metrics.total_examples(True)

    def _add_split(self, local, global_, count):
        self.sum_metric += local
        self.global_sum_metric += global_
        self.num_inst += count
        self.global_num_inst += count

    def reset(self):
        super().reset()
        self.metrics.reset_stats()

    def reset_local(self):
        super().reset_local()
        self.metrics.local_reset_stats()


@register
class F1(_BinaryMetric):
    """F1 score of a binary classifier (class 1 is positive); `average` 'macro' or 'micro'."""

    def __init__(self, name="f1", output_names=None, label_names=None, average="macro"):
        super().__init__(name, output_names, label_names, average)

    def _score(self, use_global):
        return self.metrics.fscore(use_global)


@register
class MCC(_BinaryMetric):
    """Matthews correlation coefficient of a binary classifier; `average` 'macro'/'micro'."""

    def __init__(self, name="mcc", output_names=None, label_names=None, average="macro"):
        super().__init__(name, output_names, label_names, average)

    def _score(self, use_global):
        return self.metrics.matthewscc(use_global)


@register
class Perplexity(EvalMetric):
    """exp(mean negative log-likelihood of the label), skipping `ignore_label` positions.

    `pred` holds probabilities along `axis`; `label` has one entry per prediction row.
    """

    def __init__(self, ignore_label, axis=-1, name="perplexity", output_names=None,
                 label_names=None):
        super().__init__(name, ignore_label=ignore_label, output_names=output_names,
                         label_names=label_names, has_global_stats=True)
        self.ignore_label = ignore_label
        self.axis = axis

    def update(self, labels, preds):
        if len(labels) != len(preds):
            raise AssertionError(f"labels and preds: expected the same number of arrays, got "
                                 f"{len(labels)} and {len(preds)}")
        for label, pred in zip(labels, preds):
            pred = _to_tensor(pred)
            if self.axis % pred.dim() != pred.dim() - 1:
                pred = pred.movedim(self.axis, -1)
            label = _to_tensor(label)
            classes = pred.shape[-1]
            if label.numel() * classes != pred.numel():
                raise AssertionError(f"shape mismatch: {tuple(label.shape)} vs. "
                                     f"{tuple(pred.shape)}")
            label = label.reshape(-1, 1).to(device=pred.device, dtype=torch.int64)
            # MXNet's pick clips the index; log(max(p, 1e-10)) of the picked probabilities
            log_prob = pred.reshape(-1, classes).gather(1, label.clamp(0, classes - 1))
            log_prob = log_prob.float().clamp_(min=1e-10).log_()
            if self.ignore_label is None:
                self._add(log_prob.sum(dtype=torch.float64).neg_(), log_prob.numel())
                continue
            keep = label != int(self.ignore_label)
            self._add(torch.mul(log_prob, keep).sum(dtype=torch.float64).neg_(), keep.sum())

    def get(self):
        if self.num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, math.exp(self.sum_metric / self.num_inst))

    def get_global(self):
        if self.global_num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, math.exp(self.global_sum_metric / self.global_num_inst))


def _as_columns(label, pred):
    """Both as float64 tensors on the prediction's device, 1-d arrays as columns."""
    pred = _to_tensor(pred)
    label = _to_tensor(label).to(device=pred.device, dtype=torch.float64)
    pred = pred.to(torch.float64)
    if label.dim() == 1:
        label = label.reshape(label.shape[0], 1)
    if pred.dim() == 1:
        pred = pred.reshape(pred.shape[0], 1)
    return label, pred


@register
class MAE(EvalMetric):
    """Mean absolute error, averaged per batch."""

    def __init__(self, name="mae", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _as_columns(label, pred)
            self._add((label - pred).abs().mean(), 1)


@register
class MSE(EvalMetric):
    """Mean squared error, averaged per batch."""

    def __init__(self, name="mse", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _as_columns(label, pred)
            self._add(((label - pred) ** 2.0).mean(), 1)


@register
class RMSE(EvalMetric):
    """Root mean squared error, averaged per batch."""

    def __init__(self, name="rmse", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            label, pred = _as_columns(label, pred)
            self._add(((label - pred) ** 2.0).mean().sqrt(), 1)


class _LabelProbability(EvalMetric):
    """Mean of -log(p[label] + eps) over samples; `pred` is `[N, C]` probabilities."""

    def __init__(self, eps, name, output_names, label_names):
        super().__init__(name, eps=eps, output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self.eps = eps

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            pred = _to_tensor(pred)
            label = _to_tensor(label).reshape(-1).to(device=pred.device, dtype=torch.int64)
            if label.shape[0] != pred.shape[0]:
                raise AssertionError(f"label and pred: expected {pred.shape[0]} labels (one "
                                     f"per prediction row), got {label.shape[0]}")
            prob = pred.gather(1, label[:, None])[:, 0].to(torch.float64)
            self._add(-(prob + self.eps).log().sum(), label.shape[0])


@register
@alias("ce")
class CrossEntropy(_LabelProbability):
    """Cross entropy of predicted probabilities against integer labels."""

    def __init__(self, eps=1e-12, name="cross-entropy", output_names=None, label_names=None):
        super().__init__(eps, name, output_names, label_names)


@register
@alias("nll_loss")
class NegativeLogLikelihood(_LabelProbability):
    """Negative log-likelihood of integer labels under predicted probabilities."""

    def __init__(self, eps=1e-12, name="nll-loss", output_names=None, label_names=None):
        super().__init__(eps, name, output_names, label_names)


@register
@alias("pearsonr")
class PearsonCorrelation(EvalMetric):
    """Pearson correlation; 'macro' averages per batch, 'micro' pools all samples.

    As in MXNet, the pooled 'micro' statistics are cleared by `reset` only, so in that mode
    `get()` and `get_global()` both cover every sample since the last `reset`.
    """

    def __init__(self, name="pearsonr", output_names=None, label_names=None, average="macro"):
        self.average = average
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def reset(self):
        super().reset()
        self._pred = [0, 0., 0.]
        self._label = [0, 0., 0.]
        self._cov = 0.

    @staticmethod
    def _welford(values, acc):
        count, mean, m_2 = acc
        count += len(values)
        delta = values - mean
        mean += numpy.sum(delta / count)
        m_2 += numpy.sum(delta * (values - mean))
        return [count, mean, m_2]

    def update(self, labels, preds):
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds):
            check_label_shapes(label, pred, False, True)
            label = _to_numpy(label).ravel().astype(numpy.float64)
            pred = _to_numpy(pred).ravel().astype(numpy.float64)
            if self.average == "macro":
                self._add(numpy.corrcoef(pred, label)[0, 1], 1)
            else:
                self._add(0., 1)
                self._label = self._welford(label, self._label)
                self._cov += numpy.sum((label - self._label[1]) * (pred - self._pred[1]))
                self._pred = self._welford(pred, self._pred)

    def get(self):
        if self.num_inst == 0:
            return (self.name, float("nan"))
        if self.average == "macro":
            return (self.name, self.sum_metric / self.num_inst)
        n = self._label[0]
        return (self.name, self._cov / ((n - 1) * numpy.sqrt(self._pred[2] / (n - 1))
                                        * numpy.sqrt(self._label[2] / (n - 1))))

    def get_global(self):
        return self.get() if self.average == "micro" else super().get_global()


@register
class Loss(EvalMetric):
    """Mean of the outputs themselves (for outputs that already are losses)."""

    def __init__(self, name="loss", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names,
                         has_global_stats=True)

    def update(self, _, preds):
        if isinstance(preds, _ARRAY_TYPES):
            preds = [preds]
        for pred in preds:
            pred = _to_tensor(pred)
            self._add(pred.sum(dtype=torch.float32), pred.numel())


@register
class Torch(Loss):
    """Loss under MXNet's legacy name for torch-module outputs."""

    def __init__(self, name="torch", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names)


@register
class Caffe(Loss):
    """Loss under MXNet's legacy name for caffe-operator outputs."""

    def __init__(self, name="caffe", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names)


@register
class CustomMetric(EvalMetric):
    """A metric from `feval(label, pred)` on numpy arrays.

    `feval` returns a value (one instance) or a `(sum_metric, num_inst)` tuple.
    """

    def __init__(self, feval, name=None, allow_extra_outputs=False, output_names=None,
                 label_names=None):
        if not callable(feval):
            raise TypeError(f"feval: expected a callable, got {type(feval).__name__}")
        if name is None:
            name = feval.__name__
            if "<" in name:
                name = f"custom({name})"
        super().__init__(name, feval=feval, allow_extra_outputs=allow_extra_outputs,
                         output_names=output_names, label_names=label_names,
                         has_global_stats=True)
        self._feval = feval
        self._allow_extra_outputs = allow_extra_outputs

    def update(self, labels, preds):
        if not self._allow_extra_outputs:
            labels, preds = check_label_shapes(labels, preds, True)
        elif isinstance(labels, _ARRAY_TYPES) or isinstance(preds, _ARRAY_TYPES):
            labels, preds = check_label_shapes([labels], [preds], True)
        for pred, label in zip(preds, labels):
            result = self._feval(_to_numpy(label), _to_numpy(pred))
            if isinstance(result, tuple):
                self._add(*result)
            else:
                self._add(result, 1)

    def get_config(self):
        raise NotImplementedError("CustomMetric cannot be serialized: its feval is a python "
                                  "callable")


def np(numpy_feval, name=None, allow_extra_outputs=False):
    """A CustomMetric from a function of numpy `(label, pred)`."""
    def feval(label, pred):
        return numpy_feval(label, pred)
    feval.__name__ = numpy_feval.__name__
    return CustomMetric(feval, name, allow_extra_outputs)
