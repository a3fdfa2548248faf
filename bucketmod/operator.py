"""`mx.operator`: operators written in Python (MXNet's CustomOp), and a user's own kernel with its
torch reference (`register_kernel`).

A custom op is a `CustomOpProp` subclass registered under a name, used as
`mx.sym.Custom(*inputs, op_type=name, **params)` or `mx.nd.Custom(...)`. Its parameters reach
the prop's constructor as strings, as in MXNet. The prop names the op's arguments, outputs and
aux states, infers shapes and types, declares what its backward reads, and creates the
`CustomOp` that computes. In a graph a Custom node runs like any other operator (Modules,
every bucket of a BucketingModule, checkpoints: the JSON node is `Custom` with `op_type`).

Example:
    >>> class Square(mx.operator.CustomOp):
    ...     def forward(self, is_train, req, in_data, out_data, aux):
    ...         self.assign(out_data[0], req[0], in_data[0] * in_data[0])
    ...     def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
    ...         self.assign(in_grad[0], req[0], 2 * in_data[0] * out_grad[0])
    >>> @mx.operator.register("square")
    ... class SquareProp(mx.operator.CustomOpProp):
    ...     def create_operator(self, ctx, in_shapes, in_dtypes):
    ...         return Square()
    >>> y = mx.sym.Custom(mx.sym.var("x"), op_type="square")
"""
from .ops import all_ops
from .ops.custom import register_prop
from .ops.kernel_op import register_kernel
from .ops.params import Param

__all__ = ["CustomOp", "CustomOpProp", "Param", "get_all_registered_operators", "register",
           "register_kernel"]


class CustomOp:
    """Base class of an operator's computation in Python; override `forward` and `backward`."""

    def __init__(self):
        pass

    def forward(self, is_train, req, in_data, out_data, aux):
        """Fill `out_data` (NDArrays) from `in_data` and `aux`, each output as its `req` says
        ('write', 'inplace', 'add' or 'null'; `self.assign` does this)."""

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        """Fill `in_grad` from the arrays the prop's `declare_backward_dependency` asked for
        (the others arrive empty), each as its `req` says."""

    def assign(self, dst, req, src):
        """`dst[:] = src` for req 'write'/'inplace', `dst[:] += src` for 'add', nothing for
        'null'."""
        if req == "null":
            return
        if req in ("write", "inplace"):
            dst[:] = src
        elif req == "add":
            dst[:] += src
        else:
            raise ValueError(f"assign: req must be 'null', 'write', 'inplace' or 'add', "
                             f"got {req!r}")


class CustomOpProp:
    """Base class of an operator's properties: its inputs, outputs, shape and type rules.

    Args:
        need_top_grad: whether the backward reads the gradient of the outputs; an op that does
            not (a loss) needs no head gradient from the user.
    """

    def __init__(self, need_top_grad=True):
        self.need_top_grad_ = need_top_grad

    def need_top_grad(self):
        return getattr(self, "need_top_grad_", True)

    def infer_shape(self, in_shape):
        """`(in_shapes, out_shapes[, aux_shapes])` from the argument shapes (lists; `[]` for an
        unknown one). By default every output has the first argument's shape."""
        return in_shape, (in_shape[0],) * len(self.list_outputs()), ()

    def infer_type(self, in_type):
        """`(in_types, out_types[, aux_types])` from the argument dtypes (numpy types)."""
        return in_type, [in_type[0]] * len(self.list_outputs()), \
            [in_type[0]] * len(self.list_auxiliary_states())

    def list_outputs(self):
        return ["output"]

    def list_arguments(self):
        return ["data"]

    def list_auxiliary_states(self):
        return []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        """The ids (from the three lists) of the arrays `backward` reads."""
        deps = list(out_grad) if self.need_top_grad() else []
        return deps + list(in_data) + list(out_data)

    def create_operator(self, ctx, in_shapes, in_dtypes):
        """The `CustomOp` for this context, input shapes (lists) and dtypes (MXNet's codes)."""
        return CustomOp()


def register(reg_name):
    """Class decorator registering a `CustomOpProp` subclass as custom op `reg_name`.

    Registering a name again replaces the op, with a warning (as MXNet).
    """
    def do_register(prop_cls):
        register_prop(reg_name, prop_cls)
        return prop_cls
    return do_register


def get_all_registered_operators():
    """The names of every registered operator (built-in, user kernels and `Custom`)."""
    return sorted(all_ops())
