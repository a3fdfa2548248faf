"""Shape arithmetic shared by the operators' shape rules: merging partial shapes, Reshape codes.

A shape is a tuple of ints; 0 marks a dimension not known yet (MXNet 1.x's convention) and
None a shape not known at all.
"""


class ShapeMismatch(Exception):
    """Raised by a shape rule; the graph layer adds the node's name to the message."""

    def __init__(self, input_name, expected, got):
        super().__init__(f"input {input_name!r}: expected shape {expected}, got {got}")
        self.input_name, self.expected, self.got = input_name, expected, got


def is_known(shape):
    return shape is not None and all(d > 0 for d in shape)


def merge(name, a, b):
    """The shape both `a` (what is known) and `b` (what a rule requires) describe, filling 0s
    from each other; ShapeMismatch reports `a` as the shape got and `b` as the one expected."""
    if a is None:
        return b
    if b is None:
        return a
    if len(a) != len(b):
        raise ShapeMismatch(name, b, a)
    out = []
    for x, y in zip(a, b):
        if x and y and x != y:
            raise ShapeMismatch(name, b, a)
        out.append(x or y)
    return tuple(out)


def size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def infer_reshape(src, target, reverse=False):
    """MXNet's Reshape: 0 copies a dim, -1 infers one, -2 copies the rest, -3 merges two,
    -4 splits one into the next two values (one of which may be -1).

    With `reverse`, MXNet matches the codes right to left: it reverses the code list as written
    (a -4 group included) and the source shape, infers, and reverses the result.
    """
    src, target = tuple(src), tuple(target)
    if reverse:
        rev = infer_reshape(src[::-1], target[::-1], False)
        return rev[::-1]
    out, i, j, infer_at = [], 0, 0, None
    while j < len(target):
        t = target[j]
        if t > 0:
            out.append(t)
            i += 1
        elif t == 0:
            out.append(src[i])
            i += 1
        elif t == -1:
            infer_at = len(out)
            out.append(-1)
            i += 1
        elif t == -2:
            out.extend(src[i:])
            i = len(src)
        elif t == -3:
            out.append(src[i] * src[i + 1])
            i += 2
        elif t == -4:
            d1, d2 = target[j + 1], target[j + 2]
            if d1 == -1:
                d1 = src[i] // d2
            if d2 == -1:
                d2 = src[i] // d1
            if d1 * d2 != src[i]:
                raise ValueError(f"Reshape: -4 splits {src[i]} into {d1} x {d2}, which differ")
            out.extend([d1, d2])
            i += 1
            j += 2
        else:
            raise ValueError(f"Reshape: invalid shape code {t} in {target}")
        j += 1
    if infer_at is not None:
        known = size([d for d in out if d != -1])
        if known == 0 or size(src) % known:
            raise ValueError(f"Reshape: cannot reshape {src} into {target}")
        out[infer_at] = size(src) // known
    if size(out) != size(src):
        raise ValueError(f"Reshape: cannot reshape array of shape {src} into {tuple(out)} "
                         f"(from target {target}): sizes {size(src)} and {size(out)} differ")
    return tuple(out)

