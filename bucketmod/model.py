"""`mx.model`: checkpoints as MXNet 1.x writes them — `prefix-symbol.json` and
`prefix-%04d.params` (an nd.save dict with `arg:`/`aux:` key prefixes), each written atomically.

One save of a checkpoint is one generation. Besides MXNet's files, a save writes
`prefix-%04d.manifest`: first marked "writing" (carrying the previous generation's list), then,
after every file is in place, "complete" with each file's size and SHA-256. A reader checks the
files it loads against it, so files from different saves (a save killed halfway, a file
rewritten by a later save, a `.states` from an earlier save) raise `CheckpointMismatch` instead
of loading silently. A checkpoint without a manifest (one MXNet wrote) loads unchecked.
Temporary files a killed save left behind are removed by the next save to the same prefix.
"""
import hashlib
import json
import os
import secrets

from .base import MXNetError
from .callback import BatchEndParam  # noqa: F401  (MXNet exposes it as mx.model.BatchEndParam)
from .context import cpu
from .ndarray import serialization

_MANIFEST_FORMAT = "bucketmod-checkpoint-1"


class CheckpointNotFound(MXNetError, FileNotFoundError):
    """A checkpoint file is missing (an MXNetError, and a FileNotFoundError for plain callers)."""


class CheckpointMismatch(MXNetError):
    """The files of a checkpoint were not all written by one save."""


def params_file(prefix, epoch):
    return "%s-%04d.params" % (prefix, epoch)


def states_file(prefix, epoch):
    return "%s-%04d.states" % (prefix, epoch)


def manifest_file(prefix, epoch):
    return "%s-%04d.manifest" % (prefix, epoch)


def _params_dict(arg_params, aux_params):
    save_dict = {f"arg:{k}": v.as_in_context(cpu()) for k, v in arg_params.items()}
    save_dict.update({f"aux:{k}": v.as_in_context(cpu()) for k, v in aux_params.items()})
    return save_dict


def save_params_dict(fname, arg_params, aux_params):
    """Write `arg:`/`aux:` prefixed parameters to `fname` (CPU copies; atomic)."""
    serialization.save(fname, _params_dict(arg_params, aux_params))


def load_params_dict(fname):
    """(arg_params, aux_params) from a params file; MXNetError for keys without arg:/aux:."""
    return _split_params(fname, _read(fname, "parameter file"))


def _read(fname, what):
    try:
        with open(fname, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise CheckpointNotFound(f"{what} {fname!r} does not exist") from None
    except OSError as err:
        raise MXNetError(f"cannot read {what} {fname!r}: {err.strerror or err}") from None


def _split_params(fname, blob):
    loaded = serialization.decode(blob, repr(fname))
    if not isinstance(loaded, dict):
        raise MXNetError(f"{fname}: expected a dict of named arrays, found an unnamed list")
    arg_params, aux_params = {}, {}
    for key, value in loaded.items():
        kind, _, name = key.partition(":")
        if kind == "arg":
            arg_params[name] = value
        elif kind == "aux":
            aux_params[name] = value
        else:
            raise MXNetError(f"{fname}: key {key!r} has neither an 'arg:' nor an 'aux:' prefix")
    return arg_params, aux_params


class CheckpointWriter:
    """One save of checkpoint `(prefix, epoch)`: `with CheckpointWriter(p, e) as ck:
    ck.write(path, chunks)` for each file; the manifest is completed when the block ends
    without an error (a failed save leaves it marked "writing")."""

    def __init__(self, prefix, epoch):
        self.prefix = prefix
        self.epoch = epoch
        self.manifest = manifest_file(prefix, epoch)
        self.generation = secrets.token_hex(8)
        self.files = {}
        self.extra = {}

    def __enter__(self):
        directory = os.path.dirname(os.path.abspath(self.prefix))
        base = os.path.basename(self.prefix)
        serialization.remove_stale_temps(
            directory, lambda target: target.startswith(base + "-") or
            target == base + ".buckets")
        old = _read_manifest(self.manifest, missing_ok=True, corrupt_ok=True)
        previous = None
        if old is not None:
            previous = old["files"] if old["status"] == "complete" else old.get("previous")
        self._write_manifest("writing", previous=previous)
        return self

    def write(self, path, chunks):
        """Write one file of this checkpoint atomically and record its digest."""
        size = 0

        def counted():
            nonlocal size
            for chunk in chunks:
                size += len(chunk)
                yield chunk

        digest = serialization.atomic_write(path, counted())
        self.files[os.path.basename(path)] = {"size": size, "sha256": digest}

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self._write_manifest("complete", files=self.files)
        return False

    def _write_manifest(self, status, files=None, previous=None):
        doc = {"format": _MANIFEST_FORMAT, "epoch": self.epoch, "generation": self.generation,
               "status": status, "files": files or {}, "previous": previous}
        doc.update(self.extra)
        serialization.atomic_write(self.manifest,
                                   [json.dumps(doc, indent=1, sort_keys=True).encode()])


class CheckpointReader:
    """Reads the files of checkpoint `(prefix, epoch)`, each checked against its manifest."""

    def __init__(self, prefix, epoch):
        self.prefix = prefix
        self.epoch = epoch
        self.manifest_path = manifest_file(prefix, epoch)
        self.manifest = _read_manifest(self.manifest_path, missing_ok=True)

    def read(self, path, what, unlisted_ok=False, check=True):
        """The bytes of `path` once they match the manifest.

        `unlisted_ok`: a file the manifest does not name is accepted (a bucket added later);
        `check=False` reads without comparing (the bucket list, which later saves extend).
        """
        blob = _read(path, what)
        if self.manifest is not None and check:
            self._verify(path, blob, unlisted_ok)
        return blob

    def _verify(self, path, blob, unlisted_ok):
        name = os.path.basename(path)
        manifest = self.manifest
        how = (f"(delete {self.manifest_path!r} to load these files unchecked at your own "
               f"risk)")
        if manifest["status"] == "complete":
            files, gen = manifest["files"], f"the save of generation {manifest['generation']}"
        elif manifest.get("previous") is not None:
            files = manifest["previous"]
            gen = "the last complete save (a later save of this checkpoint did not finish)"
        else:
            raise CheckpointMismatch(
                f"checkpoint {self.prefix!r} epoch {self.epoch}: the save that wrote it did "
                f"not finish (manifest {self.manifest_path!r} is marked 'writing'), so its "
                f"files may come from different saves {how}")
        entry = files.get(name)
        if entry is None:
            if unlisted_ok:
                return
            raise CheckpointMismatch(
                f"checkpoint {self.prefix!r} epoch {self.epoch}: {path!r} was not written by "
                f"{gen}; it belongs to another save {how}")
        if entry.get("size") != len(blob) or \
                entry.get("sha256") != hashlib.sha256(blob).hexdigest():
            raise CheckpointMismatch(
                f"checkpoint {self.prefix!r} epoch {self.epoch}: {path!r} differs from what "
                f"{gen} wrote ({entry.get('size')} bytes, sha256 "
                f"{str(entry.get('sha256'))[:12]}...; found {len(blob)} bytes): it was "
                f"rewritten by another save {how}")


def _read_manifest(path, missing_ok=False, corrupt_ok=False):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        if missing_ok:
            return None
        raise CheckpointNotFound(f"checkpoint manifest {path!r} does not exist") from None
    except OSError as err:
        raise MXNetError(f"cannot read checkpoint manifest {path!r}: "
                         f"{err.strerror or err}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
        ok = isinstance(doc, dict) and doc.get("format") == _MANIFEST_FORMAT and \
            doc.get("status") in ("writing", "complete") and _file_table(doc.get("files")) and \
            (doc.get("previous") is None or _file_table(doc["previous"]))
    except (ValueError, RecursionError):
        ok = False
    if ok:
        return doc
    if corrupt_ok:
        return None
    raise CheckpointMismatch(f"checkpoint manifest {path!r} is not a bucketmod checkpoint "
                             f"manifest; delete it to load the checkpoint unchecked")


def _file_table(table):
    return isinstance(table, dict) and all(
        isinstance(v, dict) and isinstance(v.get("size"), int) and
        isinstance(v.get("sha256"), str) for v in table.values())


def save_checkpoint(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast=True):
    """Write `prefix-symbol.json` (if `symbol` is given) and `prefix-%04d.params`."""
    with CheckpointWriter(prefix, epoch) as ck:
        if symbol is not None:
            ck.write(f"{prefix}-symbol.json", [symbol.tojson().encode()])
        ck.write(params_file(prefix, epoch),
                 serialization.encode(_params_dict(arg_params, aux_params)))


def load_params(prefix, epoch):
    """(arg_params, aux_params) of checkpoint `(prefix, epoch)`, checked against its manifest."""
    return _load_params(CheckpointReader(prefix, epoch))


def _load_params(reader):
    fname = params_file(reader.prefix, reader.epoch)
    return _split_params(fname, reader.read(fname, "parameter file"))


def load_optimizer_states(prefix, epoch, reader=None):
    """({index: state}, saved optimizer or None) from `prefix-%04d.states`, checked against the
    checkpoint's manifest and decoded completely (`OptimizerStatesError` if malformed)."""
    from .optimizer import states as states_format
    reader = reader or CheckpointReader(prefix, epoch)
    fname = states_file(prefix, epoch)
    return states_format.decode(reader.read(fname, "optimizer states file"), repr(fname))


def load_symbol(reader, fname, unlisted_ok=False):
    """The symbol in `fname`, a file of the checkpoint `reader` reads."""
    from .symbol.symbol import _from_document
    return _from_document(reader.read(fname, "checkpoint symbol file", unlisted_ok),
                          repr(fname))


def load_checkpoint(prefix, epoch):
    """(symbol, arg_params, aux_params) from `prefix-symbol.json` and `prefix-%04d.params`."""
    reader = CheckpointReader(prefix, epoch)
    symbol = load_symbol(reader, f"{prefix}-symbol.json")
    arg_params, aux_params = _load_params(reader)
    return symbol, arg_params, aux_params
