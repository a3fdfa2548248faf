"""The error type every layer raises where MXNet raises its own."""


class MXNetError(RuntimeError):
    """The error MXNet raises from its engine; bucketmod raises it where MXNet does."""
