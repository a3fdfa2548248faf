"""A metric over every worker's batches: each worker's statistics are gathered in one
collective and combined into a copy of the metric, which then reports what one process that
saw all the batches would (sums and counts add; F1/MCC 'micro' pool their confusion counts;
Pearson 'micro' merges its running moments as Chan et al. do)."""
import copy

import torch

from .. import metric as _metric

_COUNTS = ("num_inst", "sum_metric", "global_num_inst", "global_sum_metric")


def _nodes(metric):
    yield metric
    for child in getattr(metric, "metrics", []) if isinstance(
            metric, _metric.CompositeEvalMetric) else []:
        yield from _nodes(child)


def _binary_fields(node):
    if not isinstance(node, _metric._BinaryMetric):
        return []
    fields = node.metrics._FIELDS
    return list(fields) + ["global_" + f for f in fields]


def _is_pooled_pearson(node):
    return isinstance(node, _metric.PearsonCorrelation) and node.average == "micro"


def _counts(node):
    return [name for name in _COUNTS if hasattr(node, name)]


def _stats(node):
    values = [float(getattr(node, name)) for name in _counts(node)]
    values += [float(getattr(node.metrics, f)) for f in _binary_fields(node)]
    if _is_pooled_pearson(node):
        values += [float(v) for v in node._label + node._pred] + [float(node._cov)]
    return values


def _merge_moments(a, b):
    """Chan's merge of (count, mean, M2) running moments."""
    n = a[0] + b[0]
    if n == 0:
        return [0.0, 0.0, 0.0]
    delta = b[1] - a[1]
    return [n, a[1] + delta * b[0] / n, a[2] + b[2] + delta * delta * a[0] * b[0] / n]


def _merge_pearson(rows):
    label, pred, cov = rows[0][0:3], rows[0][3:6], rows[0][6]
    for row in rows[1:]:
        other_label, other_pred = row[0:3], row[3:6]
        n = label[0] + other_label[0]
        if n:
            cov += row[6] + ((other_label[1] - label[1]) * (other_pred[1] - pred[1])
                             * label[0] * other_label[0] / n)
        label, pred = _merge_moments(label, other_label), _merge_moments(pred, other_pred)
    return label, pred, cov


def _restore(node, row, rows):
    counts = _counts(node)
    for name, value in zip(counts, row):
        setattr(node, name, type(getattr(node, name))(value))
    fields = _binary_fields(node)
    for name, value in zip(fields, row[len(counts):len(counts) + len(fields)]):
        setattr(node.metrics, name, int(round(value)))
    if fields and node.average == "micro":
        node.sum_metric = node._score(False) * node.metrics.total_examples()
        node.global_sum_metric = node._score(True) * node.metrics.total_examples(True)
    if _is_pooled_pearson(node):
        label, pred, cov = _merge_pearson([r[len(counts):] for r in rows])
        node._label = [int(round(label[0])), label[1], label[2]]
        node._pred = [int(round(pred[0])), pred[1], pred[2]]
        node._cov = cov


def reduce_metric(metric, group):
    """A copy of `metric` whose statistics are those of every worker of `group` together.

    Every worker must call this at the same point (it is one collective).
    """
    reduced = copy.deepcopy(metric)
    nodes = list(_nodes(reduced))
    per_node = [_stats(n) for n in nodes]
    flat = torch.tensor([v for values in per_node for v in values], dtype=torch.float64)
    gathered = group.all_gather(flat, "metric reduction").tolist()
    start = 0
    for node, values in zip(nodes, per_node):
        rows = [worker[start:start + len(values)] for worker in gathered]
        start += len(values)
        sums = [sum(column) for column in zip(*rows)]
        _restore(node, sums, rows)
    return reduced
