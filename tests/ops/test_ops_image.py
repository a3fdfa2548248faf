"""bucketmod/ops/image.py against MXNet 1.9.1 (operator_cases.py::image_cases)."""
import pytest
from golden_ops import cases_of, check_case


@pytest.mark.parametrize("case", cases_of("image"))
def test_image_operator_matches_mxnet(case):
    check_case(case)
