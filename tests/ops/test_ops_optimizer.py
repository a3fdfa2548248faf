"""bucketmod/ops/optimizer.py against MXNet 1.9.1 (operator_cases.py::optimizer_cases)."""
import pytest
from golden_ops import cases_of, check_case


@pytest.mark.parametrize("case", cases_of("optimizer"))
def test_optimizer_operator_matches_mxnet(case):
    check_case(case)
