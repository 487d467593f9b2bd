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
file intact, never a truncated one. A save killed outright (SIGKILL, power
loss) cannot delete its temporary file; its name says which machine and
process wrote it, so the next save of the same file removes it once that
process is gone (see `remove_stale_temporaries`).

Loading anything that is not a checkpoint (an image, a pickle, a plain .npz,
a truncated file...) raises one error, `CheckpointError`, that names the
file and says what it seems to be.
"""
import json
import os
import re
import socket
import time
import uuid
import zipfile
import zlib

import numpy as np

from . import backend
from .tensor import Tensor

__all__ = ["save", "load", "CheckpointError"]

FORMAT = "minigrad.save"
VERSION = 1
STRUCTURE_KEY = "__structure__"


class CheckpointError(ValueError):
    """`minigrad.load` was given a file that is not a readable minigrad checkpoint:
    another format, or a checkpoint that is truncated or corrupt."""


class _MapLocationError(TypeError):
    """A map_location function failed or returned something other than an array:
    the caller's mistake, not a corrupt file."""


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


def _decode(node, arrays, place):
    """The inverse of `_encode`. place(host array, saved device) -> the array on the
    device to load onto. A malformed node raises KeyError/TypeError/ValueError, which
    `load` reports."""
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if "dict" in node:
        return {key: _decode(value, arrays, place) for key, value in node["dict"]}
    if "list" in node:
        return [_decode(v, arrays, place) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, arrays, place) for v in node["tuple"])
    if "scalar" in node:
        return arrays[node["scalar"]][()]  # a NumPy scalar of the saved dtype
    if "tensor" in node:
        data = place(arrays[node["tensor"]], node["device"])
        return Tensor._wrap(data, backend.device_of_array(data)).requires_grad_(
            bool(node["requires_grad"]))
    if "ndarray" in node:
        # a NumPy array saved from the CPU loads as one (as in an optimizer's state dict)
        return place(arrays[node["ndarray"]], node["device"])
    raise ValueError(f"unknown entry {node!r}")


# ----------------------------------------------------------------------- save
STALE_AFTER = 15 * 60  # seconds without a write after which any leftover temporary file is stale
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def temporary_path(path):
    """`.model.npz.<host>.<pid>.<random>.tmp` next to `model.npz`: hidden, in the same
    directory (so the final rename is atomic), and naming the process that writes it.
    (minigrad.data's cache of decoded images writes its files the same way.)"""
    directory, base = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{base}.{_HOST}.{os.getpid()}.{uuid.uuid4().hex}.tmp")


def remove_stale_temporaries(path):
    """Delete what earlier saves of `path` that were killed mid-write left behind.

    Only files named as `temporary_path` names them for this same `path` are
    candidates, and of those only the ones whose writer cannot still be
    running: its process id is not alive on this machine, or (for a writer on
    another machine sharing the folder, or a process id reused since) the
    file has not been written to for STALE_AFTER. A save in progress writes
    its file without pauses, so it is not taken for a leftover (one suspended
    for longer, say by Ctrl-Z, loses its file and then fails with an error,
    the previous checkpoint untouched)."""
    directory, base = os.path.split(os.path.abspath(path))
    pattern = re.compile(rf"\.{re.escape(base)}\.([A-Za-z0-9-]+)\.(\d+)\.[0-9a-f]{{32}}\.tmp")
    try:
        names = os.listdir(directory)
    except OSError:  # a folder we may write to but not list: nothing to clean, save anyway
        return
    for name in names:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        leftover = os.path.join(directory, name)
        try:
            idle = time.time() - os.path.getmtime(leftover)
            if idle > STALE_AFTER or (match[1] == _HOST and not _process_alive(int(match[2]))):
                os.unlink(leftover)
        except OSError:
            pass  # already removed by another save, or not ours to remove: leave it


def _process_alive(pid):
    """Whether process `pid` runs on this machine. On POSIX, os.kill(pid, 0) sends no
    signal, it only checks; on Windows it would end the process, so there we never
    ask (and leftovers go by age alone)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, and belongs to another user
        return True
    return True


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
    remove_stale_temporaries(path)  # before writing: they may be what filled the disk
    temporary = temporary_path(path)
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
        try:
            os.unlink(temporary)  # the previous file at `path`, if any, is untouched
        except FileNotFoundError:  # removed meanwhile as stale (a save suspended for long)
            pass
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


# ----------------------------------------------------------------------- load
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive (an empty one starts with the second)
KNOWN_FORMATS = [  # (first bytes, what the file is), for the error message
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x93NUMPY", "a NumPy .npy file (one array: read it with numpy.load)"),
    (b"\x1f\x8b", "a gzip file"),
    (b"\x80", "a pickle (minigrad never reads pickles: loading one can run any code in it)"),
]


def _not_a_checkpoint(path, what):
    return CheckpointError(f"minigrad.load: {path!r} is not a minigrad checkpoint (a file "
                           f"written by minigrad.save): it is {what}")


def _corrupt(path, why):
    return CheckpointError(f"minigrad.load: {path!r} is truncated or corrupt: {why}. Save it "
                           "again, or load an earlier copy")


def _guess_format(head):
    """What a file that is not a zip archive seems to be, from its first bytes."""
    if not head:
        return "an empty file"
    for magic, what in KNOWN_FORMATS:
        if head.startswith(magic):
            return what
    if all(32 <= b != 127 or b in b"\t\n\r\f" for b in head):
        return "a text file"
    return f"of an unknown format (its first bytes are {head[:8]!r})"


def _guess_zip(names):
    """What a zip archive without our __structure__ entry seems to be, from its member names."""
    if any(n.endswith("data.pkl") for n in names):
        return ("a PyTorch checkpoint (torch.save), made of pickles. Where PyTorch is installed, "
                "convert a state dict with minigrad.save({k: v.numpy() for k, v in "
                "torch.load(path).items()}, new_path)")
    if names and all(n.endswith(".npy") for n in names):
        shown = ", ".join(n[:-len(".npy")] for n in names[:5]) + (", ..." if len(names) > 5 else "")
        return (f"a NumPy .npz archive (arrays {shown}) without minigrad's {STRUCTURE_KEY} "
                "entry: read it with numpy.load")
    return f"a zip archive of {', '.join(names[:3]) or 'nothing'}{', ...' if len(names) > 3 else ''}"


def _read(path):
    """(structure, {name: array}) from a checkpoint file, or a CheckpointError."""
    if os.path.isdir(path):
        raise _not_a_checkpoint(path, "a directory")
    with open(path, "rb") as f:
        head = f.read(512)
    if not head.startswith(ZIP_MAGIC):
        raise _not_a_checkpoint(path, _guess_format(head))
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if f"{STRUCTURE_KEY}.npy" not in names:
            raise _not_a_checkpoint(path, _guess_zip(names))
        with np.load(path, allow_pickle=False) as archive:
            structure = json.loads(bytes(archive[STRUCTURE_KEY]).decode("utf-8"))
            arrays = {name: archive[name] for name in archive.files if name != STRUCTURE_KEY}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError, zlib.error,
            RecursionError) as error:  # RecursionError: absurdly deep JSON
        if "allow_pickle" in str(error):  # NumPy refusing an object array: say it our way
            raise _corrupt(path, "it holds an array of Python objects, which a minigrad "
                                 "checkpoint never does (reading one would run pickle)") from None
        raise _corrupt(path, "it begins like a checkpoint (a zip archive) but cannot be read "
                             f"({type(error).__name__}: {error})") from None
    if not isinstance(structure, dict) or structure.get("format") != FORMAT:
        raise _corrupt(path, f"its {STRUCTURE_KEY} entry does not describe a minigrad checkpoint")
    if not isinstance(structure.get("version"), int) or "root" not in structure:
        raise _corrupt(path, f"its {STRUCTURE_KEY} entry lacks the format version or the root")
    if structure["version"] > VERSION:
        raise CheckpointError(f"minigrad.load: {path!r} was written by a newer minigrad (format "
                              f"version {structure['version']}); upgrade minigrad to read it")
    return structure, arrays


def _map_location_device(map_location):
    """The normalized device map_location asks for (None: none), checked before any reading."""
    if map_location is None:
        return None
    try:
        return backend.normalize_device(map_location)
    except ValueError:
        raise ValueError(f"minigrad.load: unknown map_location {map_location!r}: expected None, "
                         "'cpu', 'cuda' or 'cuda:N', a dict {saved device: device} or a function "
                         "(array, saved device) -> array (None: each tensor goes back to the "
                         "device it was saved from)") from None
    except RuntimeError as error:
        wanted = _device_name(map_location)
        raise RuntimeError(f"minigrad.load: map_location={map_location!r} asks for {wanted}, "
                           f"which is not available here ({error}); pass map_location='cpu' to "
                           "load the tensors onto the CPU") from None


def _device_name(device):
    """'cuda' -> 'cuda:0', 1 -> 'cuda:1', 'CPU' -> 'cpu': how a saved device is written,
    without asking whether this machine has it."""
    name = str(device).strip().lower()
    return f"cuda:{name}" if isinstance(device, int) else "cuda:0" if name == "cuda" else name


def _placement(map_location, path):
    """place(host array, saved device) -> the array where `map_location` puts it,
    as torch.load's map_location does: None (back where it was saved), a device
    (everything there), a dict {saved device: device} (the devices it names
    move, the rest go back) or a function (array, saved device) -> an array on
    its device, or None for the default. Devices are checked before reading."""
    def saved_place(array, saved_device):
        try:
            return backend.to_device(array, backend.normalize_device(saved_device))
        except RuntimeError as error:
            raise RuntimeError(f"minigrad.load: {path!r} holds tensors saved on {saved_device}, "
                               f"which is not available here ({error}); pass "
                               "map_location='cpu' to load them onto the CPU") from None

    if callable(map_location):
        def chosen_place(array, saved_device):
            try:
                moved = map_location(array, saved_device)
            except Exception as error:
                raise _MapLocationError(f"minigrad.load: map_location raised {type(error).__name__} "
                                        f"for a tensor saved on {saved_device}: {error}") from error
            if moved is None:
                return saved_place(array, saved_device)
            if not backend.is_array(moved):
                raise _MapLocationError(f"minigrad.load: map_location returned a "
                                f"{type(moved).__name__} for a tensor saved on {saved_device}; "
                                "it must return an array (NumPy or CuPy) or None")
            return moved
        return chosen_place
    if isinstance(map_location, dict):
        moves = {_device_name(saved): _map_location_device(device)
                 for saved, device in map_location.items()}
        return lambda array, saved_device: (
            backend.to_device(array, moves[saved_device]) if saved_device in moves
            else saved_place(array, saved_device))
    target = _map_location_device(map_location)
    if target is None:
        return saved_place
    return lambda array, saved_device: backend.to_device(array, target)


def load(path, map_location=None):
    """Load what `save` wrote. Tensors keep their dtype and go where `map_location`
    says, as in torch.load: None (back to the device they were saved from), a
    device ('cpu', 'cuda', 'cuda:N': all of them there), a dict
    {saved device: device} ({'cuda:1': 'cuda:0'}; devices it does not name go
    back) or a function (host array, saved device) -> the array on its device,
    or None for the default.

    Raises FileNotFoundError for a missing file, CheckpointError (a ValueError)
    for a file that is not a readable minigrad checkpoint, and RuntimeError
    when the tensors would go to a GPU this machine does not have."""
    path = os.fspath(path)
    place = _placement(map_location, path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"minigrad.load: no such file: {path!r}")
    structure, arrays = _read(path)

    try:
        return _decode(structure["root"], arrays, place)
    except (CheckpointError, _MapLocationError):
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError) as error:
        raise _corrupt(path, f"its {STRUCTURE_KEY} entry is malformed ({type(error).__name__}: "
                             f"{error})") from None
