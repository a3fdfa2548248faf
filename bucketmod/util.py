"""Small helpers with no better home: atomic file writes."""
import os
import tempfile


def atomic_write(fname, data):
    """Write `data` (bytes) to `fname` so that readers see the old file or the new, never half.

    The bytes go to a temporary file in the same directory, are flushed to disk, and the file is
    renamed over `fname`; on any error the temporary file is removed and `fname` is untouched.
    """
    directory = os.path.dirname(os.path.abspath(fname))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(fname) + ".", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, fname)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
