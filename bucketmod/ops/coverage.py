"""Which of MXNet 1.9.1's public operator functions bucketmod has, by family, and why the others
are not built. The README's operator table is checked against `coverage()` in the tests."""
from . import registry

# MXNet names bucketmod does not provide, with the reason; kept in step with the README.
NOT_BUILT = {
    "BatchNorm_v1": "deprecated (*_v1)",
    "Convolution_v1": "deprecated (*_v1)",
    "Pooling_v1": "deprecated (*_v1)",
    "contrib.dgl_adjacency": "sparse storage only (CSR graphs)",
    "contrib.dgl_csr_neighbor_non_uniform_sample": "sparse storage only (CSR graphs)",
    "contrib.dgl_csr_neighbor_uniform_sample": "sparse storage only (CSR graphs)",
    "contrib.dgl_graph_compact": "sparse storage only (CSR graphs)",
    "contrib.dgl_subgraph": "sparse storage only (CSR graphs)",
    "contrib.edge_id": "sparse storage only (CSR graphs)",
    "contrib.getnnz": "sparse storage only (counts a CSR array's stored values)",
    "contrib.quantized_rnn": "MXNet 1.9.1's CPU build cannot run it (its oneDNN forward fails: "
                             "'could not create a primitive descriptor for a reorder "
                             "primitive', imperative and bound; the symbolic function cannot "
                             "even be composed: its documented inputs data_scale/data_shift "
                             "are named min_data/max_data by the operator), so there is no "
                             "reference behaviour to match",
    "contrib.quantize_asym": "MXNet 1.9.1's CPU build crashes on it, so there is no reference "
                             "behaviour to match",
}

# Where a name without its own module lives, for the table's family column.
_FAMILY_OF_PYTHON = {"random.randn": "random", "random.shuffle": "random",
                     "contrib.adamw_update": "optimizer", "contrib.mp_adamw_update": "optimizer",
                     "contrib.rand_zipfian": "random", "contrib.cond": "control flow",
                     "contrib.foreach": "control flow", "contrib.while_loop": "control flow"}


def family(op_name):
    """The bucketmod/ops module that registers operator `op_name` ('math', 'nn', ...)."""
    module = registry.get(op_name).extra.get("module", "").rsplit(".", 1)[-1]
    return {"rnn_ops": "rnn", "lstm": "rnn", "gru": "rnn", "vanilla_rnn": "rnn",
            "recurrent": "rnn"}.get(module, module)


def resolve(spec_entry):
    """(qualified MXNet name, operator name or None) for each public name of the spec."""
    out = []
    for name in spec_entry["sym"]:
        out.append((name, name))
    for namespace in ("linalg", "random", "contrib", "image"):
        for name, op in spec_entry[namespace].items():
            out.append((f"{namespace}.{name}", op))
    return out


def _python_function_exists(qualified):
    import importlib
    namespace, name = qualified.split(".")
    return all(hasattr(importlib.import_module(f"bucketmod.{kind}.{namespace}"), name)
               for kind in ("symbol", "ndarray"))


def coverage(spec):
    """{family: [built, total]} over MXNet's public names (spec from make_operators.py), and
    the names neither built nor listed in NOT_BUILT."""
    table, missing = {}, []
    for qualified, op in resolve(spec):
        if op is not None and registry.exists(op):
            fam = family(op)
        elif op is None and qualified in _FAMILY_OF_PYTHON:
            fam = _FAMILY_OF_PYTHON[qualified]
        else:
            fam = _NOT_BUILT_FAMILY.get(qualified, "other")
        built = qualified not in NOT_BUILT and (registry.exists(op) if op is not None
                                                else _python_function_exists(qualified))
        row = table.setdefault(fam, [0, 0])
        row[1] += 1
        row[0] += int(built)
        if not built and qualified not in NOT_BUILT:
            missing.append(qualified)
    return table, missing


_NOT_BUILT_FAMILY = {
    "BatchNorm_v1": "nn", "Convolution_v1": "nn", "Pooling_v1": "nn",
    "contrib.quantized_rnn": "quantization", "contrib.quantize_asym": "quantization",
    **{k: "sparse graph" for k in NOT_BUILT if "dgl" in k or k in ("contrib.edge_id",
                                                                   "contrib.getnnz")},
}
