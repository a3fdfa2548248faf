"""bucketmod/ops/random.py against MXNet 1.9.1 (operator_cases.py::random_cases)."""
import pytest
from golden_ops import cases_of, check_case


@pytest.mark.parametrize("case", cases_of("random"))
def test_random_operator_matches_mxnet(case):
    check_case(case)
