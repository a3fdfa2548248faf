"""bucketmod/ops/loss.py against MXNet 1.9.1 (operator_cases.py::loss_cases)."""
import pytest
from golden_ops import cases_of, check_case


@pytest.mark.parametrize("case", cases_of("loss"))
def test_loss_operator_matches_mxnet(case):
    check_case(case)
