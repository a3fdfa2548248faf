"""bucketmod/ops/math.py against MXNet 1.9.1 (operator_cases.py::math_cases)."""
import pytest
from golden_ops import cases_of, check_case


@pytest.mark.parametrize("case", cases_of("math"))
def test_math_operator_matches_mxnet(case):
    check_case(case)
