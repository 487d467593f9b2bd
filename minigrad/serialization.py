"""`minigrad.save(obj, path)` and `minigrad.load(path, map_location=None)`.

What can be saved: nested dicts (str or int keys), lists and tuples of
Tensors, NumPy (or CuPy) arrays, NumPy scalars, Python numbers, strings,
bools and None: everything a model's and an optimizer's state dicts hold.

The file is a NumPy .npz archive (a zip of .npy files) holding every array,
plus one more entry, `__structure__`, a JSON description of the nesting that
names the arrays. There is no pickle anywhere: loading a file can never run
code hidden in it (it is read with allow_pickle=False).

Saving is atomic: the archive is written to a temporary file in the same
directory, flushed to disk, and only then renamed over `path` (a rename
within one directory is atomic), so a crash mid-write leaves the previous
file intact, never a truncated one.
"""
import json
import os
import uuid
import zipfile

import numpy as np

from . import backend
from .tensor import Tensor

__all__ = ["save", "load"]

FORMAT = "minigrad.save"
VERSION = 1
STRUCTURE_KEY = "__structure__"


# ------------------------------------------------------------------- encoding
def _encode(obj, arrays, where):
    """obj -> JSON-able description; arrays are appended to `arrays` and named."""
    def store(array):
        array = backend.to_numpy(array)
        if array.dtype.hasobject:
            raise TypeError(f"minigrad.save: {where} is an array of Python objects, which "
                            "cannot be saved without pickle; convert it to a numeric array")
        arrays.append(array)
        return f"a{len(arrays) - 1}"

    if isinstance(obj, np.generic):  # before int/float: np.float64 is a float subclass
        return {"scalar": store(np.asarray(obj))}
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)):
        return int(obj) if isinstance(obj, int) else float(obj)
    if isinstance(obj, Tensor):
        return {"tensor": store(obj.data), "device": obj.device,
                "requires_grad": bool(obj.requires_grad)}
    if backend.is_array(obj):
        return {"ndarray": store(obj), "device": backend.device_of_array(obj)}
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if isinstance(key, bool) or not isinstance(key, (str, int, np.integer)):
                raise TypeError(f"minigrad.save: dict keys must be str or int, got "
                                f"{type(key).__name__} {key!r} in {where}")
            key = key if isinstance(key, str) else int(key)
            items.append([key, _encode(value, arrays, f"{where}[{key!r}]")])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    raise TypeError(f"minigrad.save: cannot save {where} of type {type(obj).__name__}; only "
                    "Tensors, arrays, numbers, strings, bools, None and dicts/lists/tuples of "
                    "them can be saved (save a model's state_dict(), not the model)")


def _decode(node, arrays, map_location):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if "dict" in node:
        return {key: _decode(value, arrays, map_location) for key, value in node["dict"]}
    if "list" in node:
        return [_decode(v, arrays, map_location) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, arrays, map_location) for v in node["tuple"])
    if "scalar" in node:
        return arrays[node["scalar"]][()]  # a NumPy scalar of the saved dtype
    if "tensor" in node:
        device = _target_device(map_location, node["device"])
        data = backend.to_device(arrays[node["tensor"]], device)
        return Tensor._wrap(data, device).requires_grad_(node["requires_grad"])
    if "ndarray" in node:
        array = arrays[node["ndarray"]]
        if map_location is None and node["device"] == "cpu":
            return array  # a NumPy array stays one (as in an optimizer's state dict)
        return backend.to_device(array, _target_device(map_location, node["device"]))
    raise ValueError(f"unknown entry {node!r}")


def _target_device(map_location, saved_device):
    device = saved_device if map_location is None else map_location
    try:
        return backend.normalize_device(device)
    except RuntimeError as error:
        raise RuntimeError(f"minigrad.load: the file holds tensors saved on {saved_device}, which "
                           f"is not available here ({error}); pass map_location='cpu'") from None


# --------------------------------------------------------------- save / load
def save(obj, path):
    """Save `obj` (e.g. a state dict) to `path`, atomically, without pickle."""
    path = os.fspath(path)
    arrays = []
    structure = {"format": FORMAT, "version": VERSION, "root": _encode(obj, arrays, "obj")}
    named = {f"a{i}": array for i, array in enumerate(arrays)}
    named[STRUCTURE_KEY] = np.frombuffer(json.dumps(structure).encode("utf-8"), dtype=np.uint8)

    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"minigrad.save: the directory {directory!r} does not exist; "
                                "create it first (os.makedirs)")
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    # Mode 0o666 (less the umask) gives the file the permissions a plain open()
    # would; tempfile.mkstemp's 0o600 would make the checkpoint private.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **named)  # object arrays were refused above: no pickle inside
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them visible
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)  # the previous file at `path`, if any, is untouched
        raise
    _fsync_directory(directory)


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX); not possible on every system."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path, map_location=None):
    """Load what `save` wrote. Tensors go to `map_location` ('cpu', 'cuda',
    'cuda:N'), or back to the device they were saved from when it is None;
    they keep their dtype."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"minigrad.load: no such file: {path!r}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            structure = json.loads(bytes(archive[STRUCTURE_KEY]).decode("utf-8"))
            if structure.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} file")
            arrays = {name: archive[name] for name in archive.files if name != STRUCTURE_KEY}
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError,
            UnicodeDecodeError) as error:
        raise ValueError(f"minigrad.load: {path!r} is not a readable minigrad checkpoint (a "
                         f"corrupt or truncated file, or another format): {error}") from None
    if structure.get("version", 0) > VERSION:
        raise ValueError(f"minigrad.load: {path!r} was written by a newer minigrad (format "
                         f"version {structure['version']}); upgrade minigrad to read it")
    return _decode(structure["root"], arrays, map_location)
