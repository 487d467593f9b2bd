"""MNIST and Fashion-MNIST: 70,000 grayscale 28x28 images in 10 classes (60k train, 10k test).

Both come as four files in the IDX format, usually gzipped:
    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz

An IDX file is a tiny header then raw values:
    bytes 0-1  zero
    byte  2    the value type (0x08 = uint8, ..., 0x0E = float64)
    byte  3    the number of dimensions d
    then d big-endian uint32 sizes, then the values, row-major, big-endian.
"""
import os
from pathlib import Path

import numpy as np

from .dataset import ArrayDataset
from .download import download_url
from .storage import CorruptFileError, cache_dir, read_maybe_gzip

__all__ = ["MNIST", "FashionMNIST", "read_idx"]

IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Read an IDX file (gzipped or not) into a NumPy array of its shape and type."""
    raw = read_maybe_gzip(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise CorruptFileError(f"{path} is not an IDX file (its first bytes are {raw[:4]!r}); "
                               "delete it and download it again (download=True)")
    dtype, ndim = np.dtype(IDX_TYPES[raw[2]]), raw[3]
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise CorruptFileError(f"{path} is truncated or damaged: its header promises shape "
                               f"{shape} ({expected} bytes of data) but it holds "
                               f"{len(raw) - offset}; delete it and download it again")
    values = np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)
    return values.astype(dtype.newbyteorder("="))  # native byte order, and a writable copy


class MNIST(ArrayDataset):
    """The MNIST training set (train=True) or test set, held in memory.

    root:      the folder holding the four IDX files (gzipped or not; also looked
               for in root/MNIST/raw, torchvision's layout). None searches
               $MINIGRAD_DATA/<name>, ./data/<name> and ~/.cache/minigrad/<name>.
    download:  fetch missing files from the official mirrors, checking their MD5.
    transform: applied to images given as uint8 HWC with one channel: one image
               (28, 28, 1) or a batch (N, 28, 28, 1); start it with ToTensor().

    Attributes: data uint8 (N, 28, 28), targets int64 (N,), classes, folder."""

    name = "mnist"
    classes = [str(d) for d in range(10)]
    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"]
    md5 = {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
           "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
           "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
           "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}
    system_dirs = []  # folders where an OS package installs the files

    def __init__(self, root=None, train=True, download=False, transform=None):
        prefix = "train" if train else "t10k"
        stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
        if download:
            self.folder = Path(root) if root is not None else self._default_dir()
            if self._find_in(self._candidates(self.folder), stems) is None:
                for stem in stems:
                    file = f"{stem}.gz"
                    download_url([m + file for m in self.mirrors], self.folder / file,
                                 self.md5[file])
        self.folder = self._locate(root, stems)
        images = read_idx(self._file(self.folder, stems[0]))
        labels = read_idx(self._file(self.folder, stems[1])).astype(np.int64)
        if images.ndim != 3 or labels.ndim != 1:
            raise CorruptFileError(f"{self.folder}: expected images (N, H, W) and labels (N,), "
                                   f"got shapes {images.shape} and {labels.shape}")
        super().__init__(images, labels, transform)
        self.train = train

    def images(self, indices):
        return self.data[indices][..., None]  # add the channel axis: (..., 28, 28, 1) HWC

    # ------------------------------------------------------------ finding the files
    @classmethod
    def _default_dir(cls):
        return Path(os.environ.get("MINIGRAD_DATA") or cache_dir()) / cls.name

    @classmethod
    def _candidates(cls, root):
        root = Path(root)
        return [root, root / cls.__name__ / "raw", root / cls.name]  # ours, torchvision's

    @classmethod
    def _search_places(cls):
        places = []
        if os.environ.get("MINIGRAD_DATA"):
            places.append(Path(os.environ["MINIGRAD_DATA"]) / cls.name)
        places += [Path.cwd() / "data" / cls.name, cache_dir() / cls.name]
        return places + [Path(d) for d in cls.system_dirs]

    @staticmethod
    def _file(folder, stem):
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                return folder / name
        return None

    @classmethod
    def _find_in(cls, folders, stems):
        for folder in folders:
            if all(cls._file(folder, s) is not None for s in stems):
                return folder
        return None

    @classmethod
    def _locate(cls, root, stems):
        folders = cls._candidates(root) if root is not None else \
            [c for place in cls._search_places() for c in cls._candidates(place)]
        found = cls._find_in(folders, stems)
        if found is None:
            looked = "\n  ".join(str(f) for f in folders)
            raise FileNotFoundError(
                f"{cls.__name__}: {stems[0]}(.gz) and {stems[1]}(.gz) were not found. Looked "
                f"in:\n  {looked}\nGet them with {cls.__name__}(root, download=True) (from "
                f"{cls.mirrors[0]}), or put the four IDX files in one of those folders, or set "
                "$MINIGRAD_DATA to the folder that holds them." + cls._hint())
        return found

    @classmethod
    def _hint(cls):
        return ""

    def __repr__(self):
        return (f"{type(self).__name__}({'train' if self.train else 'test'}, {len(self)} images "
                f"{'x'.join(map(str, self.data.shape[1:]))}, from {self.folder})")


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando): the same format as MNIST, with clothing instead of digits.

    Also found where the Debian/Ubuntu package `dataset-fashion-mnist` installs it
    (/usr/share/datasets/fashion-mnist)."""

    name = "fashion-mnist"
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    md5 = {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
           "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
           "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
           "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}
    system_dirs = ["/usr/share/datasets/fashion-mnist"]

    @classmethod
    def _hint(cls):
        return " On Debian or Ubuntu: apt-get install dataset-fashion-mnist."
