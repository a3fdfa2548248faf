"""`mx.nd.save` / `mx.nd.load` in MXNet 1.x's binary NDArray-list format.

Layout (all little-endian), as MXNet 1.9.1 writes it:

    file   := u64 0x112 | u64 0 | u64 n | record * n | u64 k | name * k     (k is 0 or n)
    name   := u64 len | utf-8 bytes
    record := u32 magic | i32 stype | shape | i32 dev_type | i32 dev_id | i32 type_flag | data
    shape  := i32 ndim | i64 dim * ndim

`magic` is 0xF993FAC9 (V2). Arrays with a 0-d shape are only expressible in V3 (0xF993FACA,
MXNet's np-shape semantics), so a file holding one is written entirely in V3, as MXNet does under
`mx.np_shape(True)`. Loading also accepts V3, V1 (0xF993FAC8, no stype) and the pre-V1 layout
whose first word is `ndim` followed by u32 dims. Only dense storage (stype 0) is supported.

A file with no names loads as a list, otherwise as a dict (an empty dict therefore loads as []).
Every length read from the input is checked against the bytes left before anything is allocated;
malformed input raises `NDArrayFormatError` (an `MXNetError`) naming the source and the problem.
Saving goes through a temporary file in the target directory that is fsynced and renamed, so
readers never see half a file; temporary files of killed writers are removed by the next write.
"""
import hashlib
import math
import os
import re
import secrets
import struct

import numpy as np
import torch

from ..base import MXNetError
from ..context import Context, cpu
from .ndarray import NDArray

LIST_MAGIC = 0x112
V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA
DEFAULT_STORAGE = 0
_STYPE_NAMES = {-1: "undefined", 0: "default", 1: "row_sparse", 2: "csr"}
_LEGACY_MAX_NDIM = 32
_MAX_NDIM = 32
# numpy's limit on the byte extent of an array (its non-zero dimensions times the item size)
_MAX_EXTENT = 2 ** 63 - 1

# mshadow type flags; int16/uint16/uint32/uint64 (8-11) have no NDArray dtype here.
_TYPE_FLAG_TO_TORCH = {
    0: torch.float32, 1: torch.float64, 2: torch.float16, 3: torch.uint8, 4: torch.int32,
    5: torch.int8, 6: torch.int64, 7: torch.bool, 12: torch.bfloat16,
}
_TORCH_TO_TYPE_FLAG = {v: k for k, v in _TYPE_FLAG_TO_TORCH.items()}
_TYPE_FLAG_NAMES = {8: "int16", 9: "uint16", 10: "uint32", 11: "uint64"}
_NUMPY_STORAGE = {torch.bfloat16: np.int16}

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_DEV_TYPES = (1, 2, 3, 5)


# -- saving ----------------------------------------------------------------------------------
def save(fname, data):
    """Save one NDArray, a list of NDArrays or a dict str -> NDArray to `fname`.

    Values may also be numpy arrays or torch tensors (they keep their dtype). The file is the
    format MXNet 1.x's `mx.nd.save` writes, and is replaced atomically.

    Args:
        fname: path of the file to write (str or os.PathLike).
        data: `NDArray`, `list` of `NDArray`, or `dict` of `str` -> `NDArray`.
    """
    path = _check_fname(fname)
    arrays, names = _normalise_data(data)
    atomic_write(path, _encode(arrays, names))


def save_bytes(data):
    """The bytes `save(fname, data)` would write, as one `bytes` object."""
    return b"".join(encode(data))


def encode(data):
    """The chunks of bytes `save(fname, data)` writes (the data is checked first)."""
    arrays, names = _normalise_data(data)
    return _encode(arrays, names)


def atomic_write(fname, chunks):
    """Write an iterable of byte chunks to `fname` atomically (temp file, fsync, rename).

    On any failure the temporary file is removed and a previous `fname` is left untouched. A
    process killed while writing leaves its temporary file behind; the next write to `fname`
    (or `remove_stale_temps`) removes it. Returns the SHA-256 hex digest of what was written.
    """
    path = os.fspath(fname)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    remove_stale_temps(directory, base.__eq__)
    digest = hashlib.sha256()
    try:
        fd, tmp = _create_temp(directory, base)
    except OSError as err:
        raise MXNetError(f"save: cannot create a file in {directory!r} to write {path!r}: "
                         f"{err.strerror or err}") from err
    try:
        with os.fdopen(fd, "wb") as fo:
            for chunk in chunks:
                digest.update(chunk)
                fo.write(chunk)
            fo.flush()
            os.fsync(fo.fileno())
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(err, OSError):
            raise MXNetError(f"save: writing {path!r} failed: {err.strerror or err}") from err
        raise
    finally:
        _IN_FLIGHT.discard(tmp)
    _fsync_directory(directory)
    return digest.hexdigest()


# A temporary file is `.<target>.<pid>-<process start>-<random>.tmp`: the writer's pid and
# start time tell a later writer whether the file is still being written.
_TEMP_NAME = re.compile(r"\.(?P<target>.+)\.(?P<pid>\d+)-(?P<start>\d+)-[0-9a-f]{8}\.tmp\Z")
_IN_FLIGHT = set()


def _create_temp(directory, base):
    pid = os.getpid()
    start = _process_start(pid)
    while True:
        tmp = os.path.join(directory, f".{base}.{pid}-{start}-{secrets.token_hex(4)}.tmp")
        _IN_FLIGHT.add(tmp)
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), tmp
        except FileExistsError:
            _IN_FLIGHT.discard(tmp)
        except BaseException:
            _IN_FLIGHT.discard(tmp)
            raise


def remove_stale_temps(directory, wanted):
    """Remove the temporary files in `directory` left by writers that no longer run.

    `wanted(target_basename)` selects which targets' temporary files to look at. Files being
    written by a live process (this one included) are left alone. Returns the removed paths.
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for name in names:
        match = _TEMP_NAME.match(name)
        if match is None or not wanted(match.group("target")):
            continue
        path = os.path.join(directory, name)
        if path in _IN_FLIGHT or _writer_alive(int(match.group("pid")),
                                               int(match.group("start"))):
            continue
        try:
            os.unlink(path)
            removed.append(path)
        except OSError:
            pass
    return removed


def _process_start(pid):
    """The start time of process `pid` in clock ticks since boot (Linux); 0 where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return int(stat[stat.rindex(b")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


def _writer_alive(pid, start):
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:
        return True
    return start == 0 or _process_start(pid) in (0, start)


def _new_file_mode(path):
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_directory(directory):
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _check_fname(fname):
    if not isinstance(fname, (str, os.PathLike)):
        raise TypeError(f"fname required to be a string, got {type(fname).__name__}")
    return os.fspath(fname)


def _is_array(value):
    return isinstance(value, (NDArray, np.ndarray, torch.Tensor))


def _normalise_data(data):
    """-> (list of contiguous CPU tensors, list of names or [])."""
    if _is_array(data):
        data = [data]
    if isinstance(data, dict):
        if any(not isinstance(k, str) for k in data) or \
                any(not _is_array(v) for v in data.values()):
            raise TypeError("save only accept dict str->NDArray or list of NDArray; got keys "
                            f"{sorted({type(k).__name__ for k in data})} and values "
                            f"{sorted({type(v).__name__ for v in data.values()})}")
        names = list(data)
        values = list(data.values())
    elif isinstance(data, (list, tuple)):
        bad = [type(v).__name__ for v in data if not _is_array(v)]
        if bad:
            raise TypeError(f"save only accept dict str->NDArray or list of NDArray; the list "
                            f"holds {sorted(set(bad))}")
        names, values = [], list(data)
    else:
        raise ValueError("data needs to either be a NDArray, dict of str, NDArray pairs or a "
                         f"list of NDarrays, got {type(data).__name__}")
    labels = [repr(n) for n in names] or [f"#{i}" for i in range(len(values))]
    return [_to_cpu_tensor(v, label) for v, label in zip(values, labels)], names


def _to_cpu_tensor(value, label):
    if isinstance(value, NDArray):
        value = value.tensor
    elif isinstance(value, np.ndarray):
        if value.dtype.byteorder == ">":
            value = value.astype(value.dtype.newbyteorder("<"))
        try:
            value = torch.from_numpy(np.ascontiguousarray(value))
        except TypeError:
            raise TypeError(f"save: array {label} has numpy dtype {value.dtype}, which the MXNet "
                            f"format cannot hold here; supported: {_supported_dtypes()}") from None
    if value.dtype not in _TORCH_TO_TYPE_FLAG:
        dtype = str(value.dtype).replace("torch.", "")
        raise TypeError(f"save: array {label} has dtype {dtype}; supported: "
                        f"{_supported_dtypes()}")
    return value.detach().to("cpu").contiguous()


def _supported_dtypes():
    return ", ".join(str(t).replace("torch.", "") for t in _TYPE_FLAG_TO_TORCH.values())


def _encode(tensors, names):
    magic = V3_MAGIC if any(t.dim() == 0 for t in tensors) else V2_MAGIC
    yield _U64.pack(LIST_MAGIC) + _U64.pack(0) + _U64.pack(len(tensors))
    for tensor in tensors:
        header = [_U32.pack(magic), _I32.pack(DEFAULT_STORAGE), _I32.pack(tensor.dim())]
        header += [struct.pack("<q", d) for d in tensor.shape]
        header += [_I32.pack(1), _I32.pack(0), _I32.pack(_TORCH_TO_TYPE_FLAG[tensor.dtype])]
        yield b"".join(header)
        yield _tensor_bytes(tensor)
    yield _U64.pack(len(names))
    for name in names:
        raw = name.encode("utf-8")
        yield _U64.pack(len(raw)) + raw


def _tensor_bytes(tensor):
    storage = _NUMPY_STORAGE.get(tensor.dtype)
    if storage is not None:
        tensor = tensor.view(getattr(torch, np.dtype(storage).name))
    return tensor.numpy().tobytes()


# -- loading ---------------------------------------------------------------------------------
def load(fname):
    """Load what `save` (or MXNet's `mx.nd.save`) wrote to `fname`.

    Returns:
        a `dict` str -> `NDArray` when the file holds names, else a `list` of `NDArray`.
    """
    path = _check_fname(fname)
    try:
        with open(path, "rb") as fi:
            buf = fi.read()
    except OSError as err:
        raise MXNetError(f"load: cannot open {path!r}: {err.strerror or err}") from err
    return _decode(buf, repr(path))


def load_frombuffer(buf):
    """Load from the bytes of a file written by `save` / `save_bytes` (MXNet's name)."""
    if not isinstance(buf, (bytes, bytearray, memoryview, str)):
        raise TypeError(f"buf required to be a string or bytes, got {type(buf).__name__}")
    if isinstance(buf, str):
        try:
            buf = buf.encode("latin-1")
        except UnicodeEncodeError as err:
            raise NDArrayFormatError(f"load_frombuffer: a str buffer holds bytes as characters "
                                     f"0-255; character {err.start} is "
                                     f"{buf[err.start]!r}") from None
    return _decode(bytes(buf), "<buffer>")


load_bytes = load_frombuffer


def decode(buf, source):
    """`load_frombuffer` of the bytes of `source` (a name used in error messages)."""
    return _decode(bytes(buf), source)


class _Reader:
    """Bounds-checked little-endian reads over a bytes object."""

    def __init__(self, buf, source):
        self.buf = buf
        self.pos = 0
        self.source = source

    @property
    def left(self):
        return len(self.buf) - self.pos

    def fail(self, what):
        return NDArrayFormatError(f"load: {self.source} is not a valid NDArray file: {what}")

    def unsupported(self, what):
        return NDArrayFormatError(f"load: {self.source}: {what}")

    def need(self, nbytes, what):
        if nbytes > self.left:
            raise self.fail(f"truncated at byte {self.pos}: {what} needs {nbytes} bytes, "
                            f"only {self.left} left")

    def take(self, nbytes, what):
        self.need(nbytes, what)
        start = self.pos
        self.pos += nbytes
        return start

    def unpack(self, fmt, what):
        return fmt.unpack_from(self.buf, self.take(fmt.size, what))[0]


class NDArrayFormatError(MXNetError):
    """Bytes that are not an NDArray file bucketmod can load."""


def _decode(buf, source):
    rd = _Reader(buf, source)
    header = rd.unpack(_U64, "the list magic")
    if header != LIST_MAGIC:
        raise rd.fail(f"list magic is 0x{header:x}, expected 0x{LIST_MAGIC:x}")
    rd.unpack(_U64, "the reserved word")
    count = rd.unpack(_U64, "the array count")
    if count * 4 > rd.left:
        raise rd.fail(f"array count {count} cannot fit in the {rd.left} bytes left")
    arrays = [_read_array(rd, i) for i in range(count)]
    nnames = rd.unpack(_U64, "the name count")
    if nnames not in (0, count):
        raise rd.fail(f"{nnames} names for {count} arrays (expected 0 or {count})")
    names = [_read_name(rd, i) for i in range(nnames)]
    return dict(zip(names, arrays)) if names else arrays


def _read_name(rd, i):
    length = rd.unpack(_U64, f"the length of name {i}")
    start = rd.take(length, f"name {i}")
    try:
        return rd.buf[start:start + length].decode("utf-8")
    except UnicodeDecodeError as err:
        raise rd.fail(f"name {i} is not utf-8 ({err.reason})") from None


def _read_array(rd, i):
    what = f"array {i}"
    magic = rd.unpack(_U32, f"{what}'s magic")
    if magic in (V2_MAGIC, V3_MAGIC):
        stype = rd.unpack(_I32, f"{what}'s storage type")
        if stype != DEFAULT_STORAGE:
            name = _STYPE_NAMES.get(stype, f"unknown ({stype})")
            raise rd.unsupported(f"{what} has storage type {name}; only dense (default) storage is "
                          "supported")
        shape = _read_shape(rd, what, allow_scalar=magic == V3_MAGIC)
    elif magic == V1_MAGIC:
        shape = _read_shape(rd, what, allow_scalar=False)
    elif magic <= _LEGACY_MAX_NDIM:
        shape = _read_legacy_shape(rd, what, magic)
    else:
        raise rd.fail(f"{what} has magic 0x{magic:08x}, expected 0x{V2_MAGIC:08x} (or "
                      f"0x{V3_MAGIC:08x}, 0x{V1_MAGIC:08x})")
    dev_type = rd.unpack(_I32, f"{what}'s device type")
    dev_id = rd.unpack(_I32, f"{what}'s device id")
    if dev_type not in _DEV_TYPES or dev_id < 0:
        raise rd.fail(f"{what} has device ({dev_type}, {dev_id}); expected a device type in "
                      f"{_DEV_TYPES} and a non-negative id")
    flag = rd.unpack(_I32, f"{what}'s type flag")
    dtype = _TYPE_FLAG_TO_TORCH.get(flag)
    if dtype is None:
        known = _TYPE_FLAG_NAMES.get(flag)
        message = (f"{what} has type flag {flag}, which {{}}; supported flags: "
                   f"{sorted(_TYPE_FLAG_TO_TORCH)}")
        if known:
            raise rd.unsupported(message.format(f"({known}) is not supported"))
        raise rd.fail(message.format("is unknown"))
    itemsize = torch.empty((), dtype=dtype).element_size()
    nbytes = math.prod(shape) * itemsize
    rd.need(nbytes, f"{what}'s data of shape {shape} and dtype {flag}")
    if math.prod(d for d in shape if d) * itemsize > _MAX_EXTENT:
        raise rd.fail(f"{what} has shape {shape}: its extent overflows a 64-bit size "
                      "(a zero-size array may not have such dimensions either)")
    start = rd.take(nbytes, f"{what}'s data of shape {shape} and dtype {flag}")
    storage = _NUMPY_STORAGE.get(dtype)
    np_dtype = storage if storage is not None else torch.empty((), dtype=dtype).numpy().dtype
    flat = np.frombuffer(rd.buf, dtype=np.dtype(np_dtype).newbyteorder("<"),
                         count=nbytes // itemsize, offset=start)
    tensor = torch.from_numpy(flat.astype(np_dtype, copy=True)).reshape(shape)
    if storage is not None:
        tensor = tensor.view(dtype)
    return _on_loaded_context(tensor, dev_type, dev_id)


def _read_shape(rd, what, allow_scalar):
    ndim = rd.unpack(_I32, f"{what}'s ndim")
    if ndim == 0 and allow_scalar:
        return ()
    if ndim <= 0:
        raise rd.fail(f"{what} has ndim {ndim}: an empty (uninitialised) array, which "
                      "bucketmod cannot represent")
    rd.need(8 * ndim, f"{what}'s shape of {ndim} dims")
    if ndim > _MAX_NDIM:
        raise rd.fail(f"{what} has ndim {ndim}: at most {_MAX_NDIM} dimensions are supported")
    dims = struct.unpack_from(f"<{ndim}q", rd.buf, rd.take(8 * ndim, f"{what}'s shape"))
    if any(d < 0 for d in dims):
        raise rd.fail(f"{what} has shape {dims} with an unknown (negative) dimension")
    return dims


def _read_legacy_shape(rd, what, ndim):
    if ndim == 0:
        raise rd.fail(f"{what} has ndim 0: an empty (uninitialised) array, which bucketmod "
                      "cannot represent")
    return struct.unpack_from(f"<{ndim}I", rd.buf, rd.take(4 * ndim, f"{what}'s shape"))


def _on_loaded_context(tensor, dev_type, dev_id):
    """MXNet loads onto the saved GPU when that GPU exists, otherwise onto cpu(0)."""
    if dev_type == 2 and torch.cuda.is_available() and dev_id < torch.cuda.device_count():
        ctx = Context("gpu", dev_id)
        return NDArray(tensor.to(ctx.torch_device), ctx)
    return NDArray(tensor, cpu(0))
