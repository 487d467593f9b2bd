"""DeviceLoader: a whole image dataset kept on the device, batches made there.

The classic pipeline (DataLoader + transforms) prepares every batch on the
host, in NumPy, and then copies it to the device. On a GPU that copy and the
host-side work are the slowest part of a small network's step. Here the
dataset goes to the device ONCE, as uint8 (CIFAR-10's training set is 150 MB),
and every batch is cut, augmented and normalised where it will be used:

1. At the start of an epoch, draw its randomness from the device's own
   generator (`minigrad.manual_seed` fixes it): the order of the samples (a
   permutation), and per sample a crop offset (top, left) and a flip coin.
2. For each batch, gather its images with ONE indexing operation that does
   the random crop and the flip at the same time (see `_crop_offsets`).
3. Convert to float32 and normalise per channel, as ToTensor + Normalize do:
        x = pixels / 255,    x[:, c] = (x[:, c] - mean[c]) / std[c].

Nothing is read back to the host on the way (no `float()`, `.item()` or
boolean-mask indexing), so on a GPU the whole loop only queues work.

On the CPU the same code is the fast path: the batch is gathered as uint8
(a quarter of the bytes of float32) with one `take`, instead of padding and
cropping float images, and there is no thread hand-over.

The results equal the classic pipeline's for the same offsets and flips:
    T.Compose([T.ToTensor(), T.RandomCrop(crop, padding), T.RandomHorizontalFlip(),
               T.Normalize(mean, std)])
"""
import collections
import math

import numpy as np

from .. import backend
from ..tensor import Tensor
from .dataloader import checked_batch_size

__all__ = ["DeviceLoader", "EpochPlan"]

# One epoch's random choices, each an array on the device with one entry per sample:
# order (the sample indices, in the order they are served), top and left (crop
# offsets, indexed by position in that order), flip (bool). None where unused.
EpochPlan = collections.namedtuple("EpochPlan", "order top left flip")

PADDING_MODES = ("constant", "edge", "reflect")  # torchvision's names, which NumPy's pad shares


class DeviceLoader:
    """Batches (x, y) of an in-memory image dataset, made on `device` with no host round trip.

        loader = DeviceLoader(train.data, train.targets, batch_size=128, shuffle=True,
                              augment=True, mean=(0.4914, 0.4822, 0.4465),
                              std=(0.2470, 0.2435, 0.2616), device="cuda")
        for x, y in loader:   # x float32 (128, 3, 32, 32), y int64 (128,), both on the GPU
            ...

    images:     uint8 array (N, H, W, C) or (N, C, H, W), the raw pixels (a NumPy or
                CuPy array, or a Tensor).
    labels:     integer array (N,); served as int64.
    batch_size: samples per batch (can be changed between epochs).
    shuffle:    a new random order every epoch.
    drop_last:  drop the last batch if it is smaller than `batch_size`.
    augment:    a random `crop` window of the image padded by `padding` pixels,
                mirrored left-right with probability 1/2 (per image).
    padding:    pixels added on every side before cropping (augment only).
    padding_mode: what fills them, as torchvision's RandomCrop: 'constant' (zeros,
                black), 'edge' (the border pixel repeated) or 'reflect' (mirrored
                about the border pixel: a shifted image keeps natural-looking edges).
    crop:       the window size, an int or (h, w); default: the image size.
    mean, std:  per-channel normalisation (one value per channel, or one for all);
                None: no normalisation, x in [0, 1].
    device:     'cpu', 'cuda' or 'cuda:N'.
    layout:     'NHWC' or 'NCHW'; None infers it from which axis has 1, 3 or 4 entries.

    `len(loader)` is the number of batches per epoch. Each `iter(loader)` starts a new
    epoch, its randomness drawn right then from minigrad's generator for the device."""

    def __init__(self, images, labels, batch_size=1, shuffle=False, drop_last=False,
                 augment=False, padding=4, crop=None, mean=None, std=None, device=None,
                 layout=None, padding_mode="constant"):
        if not (isinstance(padding, (int, np.integer)) and padding >= 0):
            raise ValueError(f"DeviceLoader: padding must be an int >= 0, got {padding!r}")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"DeviceLoader: padding_mode must be one of {PADDING_MODES}, "
                             f"got {padding_mode!r}")
        self.padding_mode = padding_mode
        self.device = backend.normalize_device(device)
        self.batch_size = batch_size  # (checked by the property)
        self.shuffle, self.drop_last = shuffle, drop_last
        self.augment = augment
        self.padding = int(padding) if augment else 0  # (padding only serves the random crop)
        images, labels, layout = _check_arrays(images, labels, layout)
        if layout == "NHWC":
            n, height, width, channels = images.shape
        else:
            n, channels, height, width = images.shape
        self.num_samples, self.image_shape = n, (channels, height, width)
        if self.padding_mode == "reflect" and self.padding >= min(height, width):
            raise ValueError(f"DeviceLoader: reflect padding of {self.padding} pixels needs images "
                             f"larger than that, got {height}x{width}; pad less or use "
                             "padding_mode='edge'")
        self._xp = backend.xp_of_device(self.device)
        with backend.device_scope(self.device):
            self._store(images, labels, layout)
            self._mean, self._std = _normalisation(mean, std, channels, self.device)
        self.crop = crop  # (checked by the property)
        self.epoch = 0

    def _store(self, images, labels, layout):
        """Copy the data to the device once, then make it NCHW uint8, padded (as
        padding_mode says) when augmenting (on the device: the copy moves the fewest bytes)."""
        p, xp = self.padding, self._xp
        images = backend.to_device(images, self.device)  # (the one host -> device copy)
        if layout == "NHWC":
            images = images.transpose(0, 3, 1, 2)  # a view; made contiguous just below
        self._labels = backend.to_device(labels, self.device).astype(np.int64, copy=False)
        if p == 0:
            self._images = xp.ascontiguousarray(images)
        else:
            sides = ((0, 0), (0, 0), (p, p), (p, p))
            self._images = xp.ascontiguousarray(xp.pad(images, sides, mode=self.padding_mode))
        self._flat = self._images.reshape(-1)  # the same memory, one flat row (for `take`)

    @classmethod
    def from_dataset(cls, dataset, **options):
        """A DeviceLoader over the images and labels of an in-memory dataset: CIFAR10,
        MNIST (any ArrayDataset without a transform), a TensorDataset (images, labels),
        or a Subset / random_split part of one of those. `options` as for DeviceLoader."""
        images, labels = _arrays_of(dataset)
        return cls(images, labels, **options)

    # ------------------------------------------------------------- sizes
    @property
    def batch_size(self):
        """Samples per batch; may be changed between epochs (a batch-size schedule)."""
        return self._batch_size

    @batch_size.setter
    def batch_size(self, batch_size):
        self._batch_size = checked_batch_size(batch_size, "DeviceLoader")

    @property
    def crop(self):
        """The (h, w) of the random crop window; may be changed between epochs (training
        on smaller crops first, progressive resizing). An int or (h, w); None: the image size."""
        return self._crop

    @crop.setter
    def crop(self, crop):
        channels, height, width = self.image_shape
        self._crop = h, w = _crop_size(crop, height, width, self.padding, self.augment)
        # Constant index pieces for the crop, made once per size (see _crop_offsets).
        xp, padded_width = self._xp, width + 2 * self.padding
        with backend.device_scope(self.device):
            plane = (height + 2 * self.padding) * padded_width
            self._channel_row = (xp.arange(channels)[:, None] * plane
                                 + xp.arange(h) * padded_width)               # (C, h)
            self._columns = xp.arange(w)                                       # 0 .. w-1
            self._columns_mirrored = xp.arange(w - 1, -1, -1)                  # w-1 .. 0

    def __len__(self):
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __repr__(self):
        c, h, w = self.image_shape
        return (f"DeviceLoader({self.num_samples} images {c}x{h}x{w} on {self.device}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, augment={self.augment})")

    # ------------------------------------------------------------- one epoch
    def plan_epoch(self):
        """Draw an epoch's randomness (an EpochPlan) from the device's generator.

        Crop offsets are uniform over the positions where the window fits,
        0 .. room, drawn as floor(u * (room + 1)) from uniform floats u in [0, 1).
        Not with randint: on a GPU, CuPy's randint redraws out-of-range samples
        after counting them on the host (a sync) unless room + 1 is a power of 2;
        uniform floats and permutation (an argsort of random keys) stay on the GPU."""
        n, xp = self.num_samples, self._xp
        with backend.device_scope(self.device):
            rng = backend.rng(self.device)  # asked every epoch: manual_seed replaces it
            order = rng.permutation(n) if self.shuffle else xp.arange(n)
            if not self.augment:
                return EpochPlan(order, None, None, None)
            (h, w), (_, height, width) = self.crop, self.image_shape
            room_h, room_w = height + 2 * self.padding - h, width + 2 * self.padding - w
            top = (rng.random(n) * (room_h + 1)).astype(np.int64)
            left = (rng.random(n) * (room_w + 1)).astype(np.int64)
            flip = rng.random(n) < 0.5
        return EpochPlan(order, top, left, flip)

    def __iter__(self):
        # Not a generator itself: the epoch's randomness is drawn right here, when the
        # loop starts, as DataLoader does (two iterators made in a row get epochs 0 and 1).
        plan = self.plan_epoch()
        self.epoch += 1
        return self._batches(plan)

    def _batches(self, plan):
        size = self.batch_size  # (read once: the epoch keeps it if it is changed meanwhile)
        stop = len(self) * size if self.drop_last else self.num_samples
        for start in range(0, stop, size):
            part = slice(start, start + size)  # slices of device arrays: views
            if self.augment:
                yield self.batch(plan.order[part], plan.top[part], plan.left[part],
                                 plan.flip[part])
            else:
                yield self.batch(plan.order[part])

    def batch(self, indices, top=None, left=None, flip=None):
        """The batch (x, y) of the samples at `indices` (an int array on the device).

        Augmenting loaders also take each image's crop offsets `top`, `left` (ints in
        0 .. padded size - crop) and `flip` (bool): iteration passes the epoch's random
        ones; tests and visualisations can pass their own."""
        xp = self._xp
        with backend.device_scope(self.device):
            if self.augment:
                if top is None or left is None or flip is None:
                    raise ValueError("DeviceLoader.batch: an augmenting loader needs top, left "
                                     "and flip for each image (see plan_epoch)")
                pixels = self._flat.take(self._crop_offsets(indices, top, left, flip))
            else:
                pixels = self._images[indices]                 # (B, C, H, W) uint8
            x = xp.multiply(pixels, 1 / 255, dtype=np.float32)  # as ToTensor: [0, 255] -> [0, 1]
            if self._mean is not None:                         # as Normalize, in place
                x -= self._mean
                x /= self._std
            y = self._labels[indices]
        return Tensor._wrap(x, self.device), Tensor._wrap(y, self.device)

    def _crop_offsets(self, indices, top, left, flip):
        """Where in the flat padded data each pixel of each output window lives.

        The output is out[n, c, i, j] = padded[k, c, top[n] + i, col[n, j]] with k =
        indices[n] and col[n, j] = left[n] + j, or left[n] + (w-1-j) when image n is
        flipped (mirroring the window reads its columns right to left). The padded data
        is row-major (K, C, Hp, Wp), so that pixel sits at flat position
            ((k*C + c)*Hp + top + i)*Wp + col
          = (k*C*Hp*Wp + top*Wp)   one number per image:          start[n]
          + (c*Hp*Wp + i*Wp)       the same for every image:      self._channel_row[c, i]
          + col[n, j]              per image and column
        and one `take` of these (B, C, h, w) positions gathers the whole batch."""
        xp = self._xp
        c, hp, wp = self._images.shape[1:]
        start = indices * (c * hp * wp) + top * wp                          # (B,)
        left = left[:, None]
        cols = xp.where(flip[:, None], left + self._columns_mirrored, left + self._columns)
        rows_cols = start[:, None] + cols                                   # (B, w)
        return rows_cols[:, None, None, :] + self._channel_row[None, :, :, None]  # (B, C, h, w)


# ------------------------------------------------------------------ checks
def _check_arrays(images, labels, layout):
    """Validate images and labels; return them as arrays, and the images' layout."""
    images = images.data if isinstance(images, Tensor) else images
    labels = labels.data if isinstance(labels, Tensor) else labels
    if not backend.is_array(images):
        images = np.asarray(images)
    if not backend.is_array(labels):
        labels = np.asarray(labels)
    if images.ndim != 4 or images.dtype != np.uint8:
        hint = ("add a channel axis, e.g. images[..., None] for (N, H, W) grayscale"
                if images.ndim == 3 else "pass the raw uint8 pixels; the loader scales them "
                "to [0, 1] itself" if images.dtype != np.uint8 else "give one image per row")
        raise ValueError(f"DeviceLoader: images must be uint8 of shape (N, H, W, C) or "
                         f"(N, C, H, W), got {images.dtype} of shape {tuple(images.shape)}; "
                         f"{hint}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != len(images):
        raise ValueError(f"DeviceLoader: labels must be integers of shape (N,), one per image: "
                         f"got {labels.dtype} of shape {tuple(labels.shape)} for images of shape "
                         f"{tuple(images.shape)}; pass one integer class index per image")
    if len(images) == 0:
        raise ValueError("DeviceLoader: the dataset is empty (images of shape "
                         f"{tuple(images.shape)}); give at least one image")
    return images, labels, _layout(images.shape, layout)


def _layout(shape, layout):
    if layout is None:
        channels_last, channels_first = shape[3] in (1, 3, 4), shape[1] in (1, 3, 4)
        if channels_last != channels_first:
            return "NHWC" if channels_last else "NCHW"
        raise ValueError(f"DeviceLoader: cannot tell whether images of shape {tuple(shape)} "
                         "are (N, H, W, C) or (N, C, H, W); pass layout='NHWC' or 'NCHW'")
    if layout not in ("NHWC", "NCHW"):
        raise ValueError(f"DeviceLoader: layout must be 'NHWC', 'NCHW' or None, got {layout!r}")
    return layout


def _crop_size(crop, height, width, padding, augment):
    if crop is None:
        return height, width
    crop = (crop, crop) if isinstance(crop, (int, np.integer)) else tuple(crop)
    if not augment and crop != (height, width):
        raise ValueError(f"DeviceLoader: crop={crop} applies only to random crops; pass "
                         f"augment=True, or no crop for whole {height}x{width} images")
    if len(crop) != 2 or min(crop) < 1:
        raise ValueError(f"DeviceLoader: crop must be a positive int or (h, w), got {crop}")
    h, w = int(crop[0]), int(crop[1])
    if h > height + 2 * padding or w > width + 2 * padding:
        raise ValueError(f"DeviceLoader: a {h}x{w} crop does not fit in {height}x{width} images "
                         f"padded by {padding}; use a smaller crop or more padding")
    return h, w


def _normalisation(mean, std, channels, device):
    """mean and std as float32 (1, C, 1, 1) arrays on the device, or (None, None)."""
    if mean is None and std is None:
        return None, None
    if mean is None or std is None:
        raise ValueError("DeviceLoader: give both mean and std (or neither, for x in [0, 1])")
    mean = np.atleast_1d(np.asarray(mean, dtype=np.float32))
    std = np.atleast_1d(np.asarray(std, dtype=np.float32))
    if mean.shape != std.shape or len(mean) not in (1, channels):
        raise ValueError(f"DeviceLoader: mean and std need one value per channel ({channels}) "
                         f"or one for all, got {len(mean)} and {len(std)} values")
    if (std <= 0).any():
        raise ValueError(f"DeviceLoader: std must be positive, got {tuple(std.tolist())}")
    shape = (1, len(mean), 1, 1)
    return (backend.to_device(mean.reshape(shape), device),
            backend.to_device(std.reshape(shape), device))


def _arrays_of(dataset):
    """(images, labels) held by an in-memory dataset, for DeviceLoader.from_dataset."""
    from .dataset import ArrayDataset, Subset, TensorDataset
    if isinstance(dataset, Subset):
        if isinstance(dataset.dataset, ArrayDataset):  # take only the subset's images
            _check_no_transform(dataset.dataset)
            return dataset.dataset.images(dataset.indices), dataset.dataset.targets[dataset.indices]
        images, labels = _arrays_of(dataset.dataset)
        xp = backend.array_module(images)
        return images[xp.asarray(dataset.indices)], labels[xp.asarray(dataset.indices)]
    if isinstance(dataset, ArrayDataset):
        _check_no_transform(dataset)
        return dataset.images(slice(None)), dataset.targets
    if isinstance(dataset, TensorDataset) and len(dataset.arrays) == 2:
        return dataset.arrays
    raise TypeError(f"DeviceLoader.from_dataset: expected an ArrayDataset (CIFAR10, MNIST), a "
                    f"TensorDataset(images, labels) or a Subset of one, got a "
                    f"{type(dataset).__name__}; pass the arrays: DeviceLoader(images, labels)")


def _check_no_transform(dataset):
    if dataset.transform is not None:
        raise ValueError(f"DeviceLoader.from_dataset: this {type(dataset).__name__} has a "
                         "transform, which the loader would ignore; make the dataset without "
                         "one and give the loader augment=, mean= and std= instead")
