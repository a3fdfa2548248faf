"""Errors and small helpers shared by every layer."""


class MXNetError(Exception):
    """The error MXNet raises from its engine; bucketmod raises it where MXNet does."""


def check_name_type(arg, value, expected, expected_text):
    if not isinstance(value, expected):
        raise TypeError(f"{arg}: expected {expected_text}, got {type(value).__name__} {value!r}")
    return value
