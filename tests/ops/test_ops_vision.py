"""bucketmod/ops/vision.py against MXNet 1.9.1 (tests/golden/operator_cases.py::vision_cases)."""
import pytest
from golden_ops import cases_of, check_case


@pytest.mark.parametrize("case", cases_of("vision"))
def test_vision_operator_matches_mxnet(case):
    check_case(case)
