"""bucketmod/ops/linalg.py against MXNet 1.9.1 (operator_cases.py::linalg_cases)."""
import pytest
from golden_ops import cases_of, check_case


@pytest.mark.parametrize("case", cases_of("linalg"))
def test_linalg_operator_matches_mxnet(case):
    check_case(case)
