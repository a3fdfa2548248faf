"""The error type every layer raises where MXNet raises its own, and the check every public
shape argument goes through."""
import numbers


class MXNetError(RuntimeError):
    """The error MXNet raises from its engine; bucketmod raises it where MXNet does."""


def _is_dim(d):
    return isinstance(d, numbers.Integral) and not isinstance(d, bool)


def as_shape(what, shape):
    """`shape` (an int, or a tuple or list of ints) as a tuple of ints.

    Anything else, such as an NDArray holding the dimensions, is a TypeError naming `what`.
    """
    if _is_dim(shape):
        return (int(shape),)
    if isinstance(shape, (tuple, list)) and all(_is_dim(d) for d in shape):
        return tuple(int(d) for d in shape)
    raise TypeError(f"{what}: expected a shape, a tuple of ints such as (2, 3), got "
                    f"{describe(shape)}")


def describe(value):
    """A short description of a value for error messages (an array is named by its type and
    shape, not printed)."""
    if hasattr(value, "shape") and hasattr(value, "__array__"):
        return f"{type(value).__name__} of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__} of {', '.join(describe(v) for v in value) or 'nothing'}"
    return repr(value) if isinstance(value, (numbers.Number, str)) else type(value).__name__
