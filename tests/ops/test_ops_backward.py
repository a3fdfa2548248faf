"""bucketmod/ops/backward.py against MXNet 1.9.1 (operator_cases.py::backward_cases), and
backward_hawkesll against hawkesll's own MXNet gradients (MXNet cannot run it alone: it
requires that nothing asks for the gradients of hawkesll's sufficient statistics)."""
import numpy as np
import pytest
from golden_ops import ARRAYS, CASES, TABLE, cases_of, check_case, close, oc

import bucketmod as mx


@pytest.mark.parametrize("case", cases_of("backward"))
def test_backward_operator_matches_mxnet(case):
    check_case(case)


def test_backward_hawkesll_gives_hawkesll_gradients():
    case = next(c for c in CASES["loss"] if c[0] == "hawkesll")
    values = oc.case_values(case, oc.seed_of("hawkesll"))
    names = [n for n, _, _ in case[2]]
    inputs = [mx.nd.array(values[n], dtype=values[n].dtype) for n in names]
    heads = [mx.nd.array(ARRAYS[f"hawkesll/head/{j}"]) for j in range(2)]
    grads = mx.nd.contrib.backward_hawkesll(
        **{"ograd_output": heads[0], "ograd_out_state": heads[1]}, **dict(zip(names, inputs)))
    assert len(grads) == 8
    by_name = dict(zip(names, grads))
    for name in TABLE["hawkesll"]["grads"]:
        close(f"gradient of {name}", by_name[name].asnumpy(), ARRAYS[f"hawkesll/grad/{name}"])
    for name in ("lags", "marks", "valid_length", "max_time"):
        assert not by_name[name].asnumpy().any(), name
    sym = mx.sym.contrib.backward_hawkesll(**{n: mx.sym.var(n) for n in
                                              ["ograd_output", "ograd_out_state"] + names})
    _, out_shapes, _ = sym.infer_shape(ograd_output=(2,), ograd_out_state=(2, 2),
                                       **{n: values[n].shape for n in names})
    assert out_shapes == [values[n].shape for n in names]
    assert np.dtype(sym.infer_type_partial(marks=np.int32)[1][5]) == np.int32
