"""Datasets: anything with `__len__` and `__getitem__(i) -> (x, y)`.

Two kinds, and the DataLoader treats them differently:

- A generic `Dataset` returns one sample at a time; the loader calls it once
  per index and stacks the results (`collate`). Easy to write, slow in Python.
- An `ArrayDataset` holds all samples in arrays (CIFAR10, MNIST, and
  `TensorDataset`), and also offers `get_batch(indices)`, which takes a whole
  batch with ONE fancy-index per array: `data[indices]`. That is hundreds of
  times faster than a Python loop over 128 samples.

`Subset` and `random_split` keep the fast path: a subset of an array
dataset maps its indices and forwards the batch request.
"""
import math

import numpy as np

from .. import backend
from ..tensor import Tensor

__all__ = ["Dataset", "ArrayDataset", "TensorDataset", "Subset", "random_split", "collate",
           "apply_transform"]


class Dataset:
    """The interface: `__getitem__(index)` returns one sample (a tuple of arrays or numbers),
    `__len__()` the number of samples. Subclass it, or use any object with both."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


def apply_transform(transform, x, rng=None):
    """Call `transform(x)`, handing it `rng` when it is one of ours (it takes one).

    Plain callables (a lambda, a function) are called with `x` alone."""
    if transform is None:
        return x
    from .transforms import Transform
    if not isinstance(transform, Transform):
        return transform(x)
    if backend.is_array(x) and not backend.is_host_array(x):
        # Our transforms draw and index with NumPy on the host (in the loader's worker
        # threads); a GPU array would need a hidden copy there and back on every batch.
        raise TypeError(f"{type(transform).__name__}: the batch is on "
                        f"{backend.device_of_array(x)}, but transforms work on host (NumPy) "
                        "batches; keep the dataset on the CPU and give the DataLoader device=... "
                        "(it moves each batch after its transform), or use DeviceLoader to "
                        "augment on the device")
    return transform(x, rng=rng)


def collate(samples):
    """A list of samples [(x0, y0), (x1, y1), ...] -> a tuple of stacked arrays (X, Y).

    The fallback for datasets without `get_batch`: one `np.stack` per field."""
    if not samples:
        raise ValueError("collate: got an empty list of samples")
    first = samples[0]
    if not isinstance(first, (tuple, list)):
        return (_stack(samples),)
    widths = {len(s) for s in samples}
    if len(widths) != 1:
        raise ValueError(f"collate: samples have different numbers of fields: {sorted(widths)}")
    return tuple(_stack(field) for field in zip(*samples))


def _stack(values):
    """One field's values (arrays, Tensors, numbers) stacked on the device they are on:
    samples already on a GPU are stacked there, with no round trip through the host."""
    arrays = [v.data if isinstance(v, Tensor) else v for v in values]
    xp = backend.array_module(arrays[0])
    return xp.stack([xp.asarray(a) for a in arrays])


class ArrayDataset(Dataset):
    """Samples held in memory: images `data` (N, ...) and labels `targets` (N,).

    `transform` (optional) is applied to the images: to a single image in
    `__getitem__`, to a whole batch in `get_batch`. Our transforms accept both."""

    def __init__(self, data, targets, transform=None):
        if len(data) != len(targets):
            raise ValueError(f"{type(self).__name__}: {len(data)} images but {len(targets)} labels")
        self.data = data
        self.targets = targets
        self.transform = transform

    def __len__(self):
        return len(self.data)

    def images(self, indices):
        """The raw images at `indices` (an int or an index array). Subclasses reshape here."""
        return self.data[indices]

    def __getitem__(self, index):
        index = _check_index(index, len(self), type(self).__name__)
        return apply_transform(self.transform, self.images(index)), int(self.targets[index])

    def get_batch(self, indices, rng=None):
        """(images, labels) for an index array, by fancy-indexing: no loop over samples."""
        indices = np.asarray(indices, dtype=np.int64)
        return apply_transform(self.transform, self.images(indices), rng), self.targets[indices]


class TensorDataset(Dataset):
    """Samples are the rows of arrays (or Tensors) that share their first dimension.

    `TensorDataset(x, y)[i]` is `(x[i], y[i])`; batches are `(x[idx], y[idx])`,
    fancy-indexed, with dtypes kept as they are (the DataLoader only widens
    integer labels to int64)."""

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array, e.g. TensorDataset(x, y)")
        self.arrays = tuple(a.data if isinstance(a, Tensor) else np.asarray(a) for a in arrays)
        lengths = [a.shape[0] if a.ndim else None for a in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            shapes = ", ".join(str(tuple(a.shape)) for a in self.arrays)
            raise ValueError(f"TensorDataset: every array needs the same first dimension (the "
                             f"number of samples), got shapes {shapes}")

    def __len__(self):
        return self.arrays[0].shape[0]

    def __getitem__(self, index):
        index = _check_index(index, len(self), "TensorDataset")
        return tuple(a[index] for a in self.arrays)

    def get_batch(self, indices, rng=None):
        out = []
        for a in self.arrays:  # CuPy arrays want their index array on their own device
            xp = backend.array_module(a)
            out.append(a[xp.asarray(indices)])
        return tuple(out)


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order (a view: nothing is copied)."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices must lie in [0, {n}) for a dataset of {n} "
                             f"samples, got values from {self.indices.min()} to "
                             f"{self.indices.max()}")
        if hasattr(dataset, "get_batch"):  # keep the fast path of an array dataset
            self.get_batch = self._get_batch

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[_check_index(index, len(self), "Subset")])]

    def _get_batch(self, indices, rng=None):
        return self.dataset.get_batch(self.indices[np.asarray(indices, dtype=np.int64)], rng)


def random_split(dataset, lengths, seed=None):
    """Split `dataset` into non-overlapping random `Subset`s of the given lengths.

    lengths: sample counts that add up to len(dataset), or fractions that add
    up to 1 (the remainder of rounding down goes to the first parts, one
    each, as in PyTorch). seed: for a reproducible split; None draws from
    minigrad's generator (so `minigrad.manual_seed` fixes it too)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(0 <= f <= 1 for f in lengths) and math.isclose(sum(lengths), 1) \
            and not all(isinstance(f, (int, np.integer)) for f in lengths):
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(int(k) != k or k < 0 for k in lengths) or sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} must be non-negative counts that add "
                         f"up to the dataset's length {n}, or fractions that add up to 1")
    rng = np.random.default_rng(seed) if seed is not None else backend.rng("cpu")
    order = rng.permutation(n)
    bounds = np.cumsum([0] + [int(k) for k in lengths])
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def _check_index(index, n, name):
    """An int index in [-n, n) -> a non-negative int, with a clear error otherwise."""
    if isinstance(index, (int, np.integer)):
        if not -n <= index < n:
            raise IndexError(f"{name}: index {index} is out of range for {n} samples")
        return int(index) % n
    raise TypeError(f"{name}: index must be an int, got {type(index).__name__}; to take many "
                    "samples at once use a DataLoader or Subset")
