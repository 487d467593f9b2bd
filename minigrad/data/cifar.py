"""CIFAR-10: 60,000 colour images of 32x32 pixels in 10 classes (50,000 train, 10,000 test).

Three layouts of the same data are understood, wherever `root` points:

1. The official archive `cifar-10-python.tar.gz` (what `download=True` fetches),
2. the `cifar-10-batches-py/` folder it unpacks to (pickled batches), and
3. an image-folder copy: `train/<class>/*.jpg` and `test/<class>/*.jpg`, as a
   folder or a `.tar.gz` (found under the name `cifar10-jpg.tar.gz`).

Decoding the archive takes seconds (60,000 JPEGs, or unpickling 160 MB), so
the decoded arrays are cached as an `.npz` (see storage.py): the second load
reads them back in a fraction of a second.
"""
import os
import pickle
from pathlib import Path

import numpy as np

from .dataset import ArrayDataset
from .download import download_url
from .image_folder import _split_image_path, decode_images, scan_image_tree
from .storage import CorruptFileError, cache_dir, cached, is_tar, tar_files

__all__ = ["CIFAR10", "find_cifar10", "load_cifar10_arrays"]

CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")  # label i is CLASSES[i]
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE = "cifar-10-python.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
JPG_ARCHIVE = "cifar10-jpg.tar.gz"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"


# --------------------------------------------------------------- finding it
def search_places():
    """Where `find_cifar10()` looks, in order: $MINIGRAD_DATA (when set), ./data, and
    ~/.cache/minigrad (or $MINIGRAD_CACHE). Nothing relative to where minigrad is
    installed: a library cannot know how a machine lays out its files."""
    places = []
    if os.environ.get("MINIGRAD_DATA"):
        places.append(Path(os.environ["MINIGRAD_DATA"]))
    return places + [Path.cwd() / "data", cache_dir()]


def cifar10_source(path):
    """The file or folder inside `path` that holds CIFAR-10 in a known layout, or None."""
    path = Path(path)
    if path.is_file():
        return path if is_tar(path) else None
    if not path.is_dir():
        return None
    candidates = [path / BATCHES_DIR, path, path / ARCHIVE, path / JPG_ARCHIVE,
                  path / "cifar10", path / "cifar-10"]
    for c in candidates:
        if (c / TRAIN_BATCHES[0]).is_file() or ((c / "train").is_dir() and (c / "test").is_dir()):
            return c
        if c.is_file():
            return c
    return None


def find_cifar10(path=None):
    """The CIFAR-10 source at `path`, or (path=None) the first found in the usual places:
    $MINIGRAD_DATA, ./data, ~/.cache/minigrad (see `search_places`).

    Raises FileNotFoundError saying where it looked and how to get the data."""
    places = [Path(path)] if path is not None else search_places()
    for place in places:
        source = cifar10_source(place)
        if source is not None:
            return source
    looked = "\n  ".join(str(p) for p in places)
    raise FileNotFoundError(
        f"CIFAR-10 was not found. Looked in:\n  {looked}\n"
        f"Get it with CIFAR10(root, download=True) (fetches {ARCHIVE}, 163 MB, from {URL}), "
        f"or put {ARCHIVE}, its extracted {BATCHES_DIR}/ folder, or an image-folder copy "
        "(train/<class>/*.jpg and test/<class>/*.jpg, as a folder or a .tar.gz) in one of "
        "those places, or set $MINIGRAD_DATA to the folder that holds it.")


# ------------------------------------------------------------------ reading it
class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain data and NumPy arrays, and refuses everything else.

    pickle is unsafe on untrusted files: loading calls any function the file
    names. The official CIFAR-10 batches are pickles (a dict of b"data", a
    uint8 array (10000, 3072), and b"labels", a list of ints), so we read them,
    and only them, with this unpickler, which lets through just the names NumPy
    needs to rebuild an array, plus `_codecs.encode` (how Python 3 writes bytes
    in protocol 2, as in re-saved copies of the batches)."""

    def find_class(self, module, name):
        if (module, name) == ("_codecs", "encode"):
            import codecs
            return codecs.encode
        if (module, name) in (("numpy.core.multiarray", "_reconstruct"),
                              ("numpy._core.multiarray", "_reconstruct")):
            return _reconstruct
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR-10 batch holds "
                                     "only NumPy arrays and lists")


try:  # NumPy 2 moved it to numpy._core
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct


def _read_batch(data, name):
    """The bytes of one pickled batch -> (images uint8 (N, 32, 32, 3), labels int64 (N,))."""
    import io
    try:
        batch = _ArraysOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
        rows, labels = np.asarray(batch[b"data"], dtype=np.uint8), batch[b"labels"]
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as error:
        raise CorruptFileError(f"{name} is not a readable CIFAR-10 batch ({error}); delete it "
                               "and download the data again (download=True)") from error
    # Each row is one image: 1024 red, then 1024 green, then 1024 blue values, row-major.
    images = rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (N, 3, 32, 32) -> (N, 32, 32, 3)
    return np.ascontiguousarray(images), np.asarray(labels, dtype=np.int64)


def _from_batches(batches, source):
    """{batch file name: bytes} -> the four arrays."""
    missing = [b for b in TRAIN_BATCHES + (TEST_BATCH,) if b not in batches]
    if missing:
        raise CorruptFileError(f"{source} lacks the CIFAR-10 batches {missing}; delete it and "
                               "download the data again (download=True)")
    train = [_read_batch(batches[b], f"{source}/{b}") for b in TRAIN_BATCHES]
    test_images, test_labels = _read_batch(batches[TEST_BATCH], f"{source}/{TEST_BATCH}")
    return {"train_images": np.concatenate([im for im, _ in train]),
            "train_labels": np.concatenate([lab for _, lab in train]),
            "test_images": test_images, "test_labels": test_labels}


def _from_image_files(files, source):
    """[(prefix, class, name, path or bytes)] -> the four arrays."""
    arrays = {}
    for split in ("train", "test"):
        chosen = [f for f in files if f[0].rsplit("/", 1)[-1] == split]
        unknown = sorted({cls for _, cls, _, _ in chosen} - set(CLASSES))
        if not chosen or unknown:
            raise ValueError(f"{source}: expected {split}/<class>/*.jpg with the CIFAR-10 classes "
                             f"{', '.join(CLASSES)}; found {len(chosen)} {split} images"
                             + (f" and unknown classes {unknown}" if unknown else ""))
        chosen.sort(key=lambda f: (CLASSES.index(f[1]), f[2]))
        arrays[f"{split}_images"] = decode_images([f[3] for f in chosen], [f[2] for f in chosen])
        arrays[f"{split}_labels"] = np.array([CLASSES.index(f[1]) for f in chosen], np.int64)
    return arrays


def load_cifar10_arrays(source):
    """Decode a CIFAR-10 source (any of the three layouts) into a dict of four arrays:
    train_images (50000, 32, 32, 3) uint8, train_labels (50000,) int64, test_*."""
    source = Path(source)
    if source.is_dir():
        if (source / TRAIN_BATCHES[0]).is_file():
            names = [n for n in TRAIN_BATCHES + (TEST_BATCH,) if (source / n).is_file()]
            return _from_batches({n: (source / n).read_bytes() for n in names}, source)
        return _from_image_files(scan_image_tree(source, "train") + scan_image_tree(source, "test"),
                                 source)
    batches, images = {}, []
    for name, data in tar_files(source):  # one pass over the archive, whichever layout it holds
        base = name.rsplit("/", 1)[-1]
        if base in TRAIN_BATCHES + (TEST_BATCH,):
            batches[base] = data
        elif _split_image_path(name):
            images.append(_split_image_path(name) + (name, data))
    if batches:
        return _from_batches(batches, source)
    if images:
        return _from_image_files(images, source)
    raise CorruptFileError(f"{source} holds neither {BATCHES_DIR}/data_batch_* nor "
                           "train/<class>/*.jpg files: it is not a CIFAR-10 archive")


# ------------------------------------------------------------------ the dataset
class CIFAR10(ArrayDataset):
    """The CIFAR-10 training set (train=True) or test set, held in memory.

    root:      a folder holding the data in one of the known layouts, or the
               archive itself; None searches the usual places (`find_cifar10`).
    download:  fetch the official archive (with an MD5 check) into root (or
               $MINIGRAD_DATA, or ~/.cache/minigrad) if it is not there yet.
    transform: applied to images given as uint8 HWC, one (32, 32, 3) or a batch
               (N, 32, 32, 3); start it with ToTensor().

    Attributes: data uint8 (N, 32, 32, 3), targets int64 (N,), classes, source."""

    classes = list(CLASSES)

    def __init__(self, root=None, train=True, download=False, transform=None):
        source = self._download(root) if download else find_cifar10(root)
        split = "train" if train else "test"
        arrays = cached("cifar10", source, lambda: load_cifar10_arrays(source),
                        keys=[f"{split}_images", f"{split}_labels"])
        super().__init__(arrays[f"{split}_images"], arrays[f"{split}_labels"], transform)
        self.train, self.source = train, source

    @staticmethod
    def _download(root):
        if root is not None and is_tar(root):  # root names the archive itself
            return download_url(URL, root, MD5)
        folder = Path(root) if root is not None else \
            Path(os.environ.get("MINIGRAD_DATA") or cache_dir())
        existing = cifar10_source(folder)
        if existing is None or existing == folder / ARCHIVE:  # (re)fetch if corrupt
            existing = download_url(URL, folder / ARCHIVE, MD5)
        return existing

    def __repr__(self):
        return (f"CIFAR10({'train' if self.train else 'test'}, {len(self)} images "
                f"{'x'.join(map(str, self.data.shape[1:]))}, from {self.source})")
