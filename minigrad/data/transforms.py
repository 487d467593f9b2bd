"""Image transforms on NumPy batches: preprocessing and data augmentation.

Layout: images are float32 **NCHW** batches (N images, C channels, H rows,
W columns), the layout convolutions want. Each transform also accepts a
single image (C, H, W) and treats it as a batch of one. The exception is
`ToTensor`, which is where images come in: it takes uint8 **HWC** images
(one image (H, W, C) or (H, W), or a batch (N, H, W, C)), as image files
and the CIFAR/MNIST arrays store them, and returns float32 CHW / NCHW in [0, 1].

Every transform works on the whole batch at once (no Python loop over
images): a random transform draws one random parameter per image as an
array, then applies all of them with one vectorized NumPy expression.

Randomness: `transform(x, rng=None)`. The generator used is, in order,
the `rng` passed to the call (the DataLoader passes one per batch, for
reproducible augmentation), else the transform's own `seed` (an int or a
`np.random.Generator`), else minigrad's generator (`minigrad.manual_seed`).

Typical CIFAR-10 training pipeline:

    T.Compose([T.ToTensor(), T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
               T.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))])
"""
import numbers

import numpy as np

from .. import backend

__all__ = ["Transform", "Compose", "ToTensor", "Normalize", "Standardize", "MinMaxScale",
           "RandomCrop", "RandomHorizontalFlip", "RandomRotation", "GaussianNoise",
           "SaltAndPepperNoise", "Cutout"]


class Transform:
    """Base class: subclasses implement `apply(batch, rng)` on an (N, C, H, W) array."""

    def __init__(self, seed=None):
        self.rng = None if seed is None else np.random.default_rng(seed)

    def __call__(self, x, rng=None):
        x = np.asarray(x)
        if x.ndim not in (3, 4):
            raise ValueError(f"{type(self).__name__}: expected an image (C, H, W) or a batch "
                             f"(N, C, H, W), got an array of shape {x.shape}; put ToTensor() "
                             "first to turn HWC images into CHW")
        single = x.ndim == 3
        out = self.apply(x[None] if single else x, self._generator(rng))
        return out[0] if single else out

    def _generator(self, rng):
        if rng is not None:
            return rng
        return self.rng if self.rng is not None else backend.rng("cpu")

    def apply(self, batch, rng):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "rng")
        return f"{type(self).__name__}({args})"


def _float_only(name, x):
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expects float images, got dtype {x.dtype}; put ToTensor() "
                        "before it to turn uint8 images into float32 in [0, 1]")


def _pair(size, name):
    """An int or an (h, w) pair -> (h, w)."""
    if isinstance(size, numbers.Integral):
        size = (int(size), int(size))
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"{name}: size must be a positive int or (height, width), got {size}")
    return size


class Compose(Transform):
    """Apply `transforms` one after the other, passing the same generator along."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng=None):
        for t in self.transforms:
            x = t(x, rng=rng) if isinstance(t, Transform) else t(x)
        return x


class ToTensor(Transform):
    """uint8 HWC images -> float32 CHW in [0, 1]:  x_chw = x_hwc / 255, channels moved first.

    Accepts (H, W) and (H, W, C) single images and (N, H, W, C) batches. A
    float input is only transposed, not scaled (it is taken to be in [0, 1] already)."""

    def __init__(self):
        super().__init__()

    def __call__(self, x, rng=None):
        x = np.asarray(x)
        if x.dtype.kind not in "uf":
            raise TypeError(f"ToTensor: expects uint8 (or float) images, got dtype {x.dtype}")
        if x.ndim == 2:  # one grayscale image (H, W): add the channel axis
            x = x[:, :, None]
        if x.ndim == 3:
            x = x.transpose(2, 0, 1)     # (H, W, C) -> (C, H, W)
        elif x.ndim == 4:
            x = x.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
        else:
            raise ValueError(f"ToTensor: expected (H, W), (H, W, C) or (N, H, W, C) images, "
                             f"got shape {x.shape}")
        if x.dtype == np.uint8:
            return np.multiply(x, 1.0 / 255.0, dtype=np.float32)  # one pass, no float64 copy
        if x.dtype.kind == "u":
            raise TypeError(f"ToTensor: expects uint8 images, got {x.dtype}")
        return np.ascontiguousarray(x)


class Normalize(Transform):
    """Per-channel standardization:  y[:, c] = (x[:, c] - mean[c]) / std[c].

    mean, std: one number per channel (or one for all). Keeps the input's dtype."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean = tuple(float(m) for m in np.atleast_1d(mean))
        self.std = tuple(float(s) for s in np.atleast_1d(std))
        if len(self.mean) != len(self.std):
            raise ValueError(f"Normalize: mean has {len(self.mean)} values but std has "
                             f"{len(self.std)}; give one value per channel for both")
        if min(self.std) <= 0:
            raise ValueError(f"Normalize: std must be positive, got {self.std}")

    def apply(self, x, rng):
        _float_only("Normalize", x)
        if len(self.mean) not in (1, x.shape[1]):
            raise ValueError(f"Normalize: {len(self.mean)} mean/std values for images with "
                             f"{x.shape[1]} channels (batch shape {x.shape}); give one per channel")
        mean = np.asarray(self.mean, dtype=x.dtype).reshape(-1, 1, 1)  # (C, 1, 1): broadcasts
        std = np.asarray(self.std, dtype=x.dtype).reshape(-1, 1, 1)
        return (x - mean) / std


def _channel_stats(name, images):
    """Check training images (N, C, H, W) for fit(); return them as a NumPy array."""
    images = np.asarray(images.numpy() if hasattr(images, "numpy") else images)
    if images.ndim != 4 or images.dtype.kind != "f" or len(images) == 0:
        raise ValueError(f"{name}.fit: expects the training images as the transform will see "
                         f"them, a float batch (N, C, H, W) with N >= 1, got {images.dtype} of "
                         f"shape {images.shape}; apply ToTensor() to uint8 (N, H, W, C) images first")
    return images


class Standardize(Normalize):
    """Normalize with the mean and std of each channel measured on the TRAINING images
    (as scikit-learn's StandardScaler):

        scale = T.Standardize().fit(train_images)   # train_images: float (N, C, H, W)
        y[:, c] = (x[:, c] - mean[c]) / std[c],   mean, std over the N*H*W training values

    so the training inputs have mean 0 and std 1 per channel, and the validation and
    test inputs go through the same map (their own statistics would leak them into the
    preprocessing). std is the population one (ddof=0); a constant channel gets std 1."""

    def __init__(self, mean=None, std=None):
        Transform.__init__(self)
        self.mean = self.std = None
        if mean is not None or std is not None:
            super().__init__(mean, std)

    def fit(self, images):
        """Measure mean and std per channel on `images` (the training set); returns self."""
        x = _channel_stats("Standardize", images)
        mean = x.mean(axis=(0, 2, 3), dtype=np.float64)
        std = x.std(axis=(0, 2, 3), dtype=np.float64)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) if s > 0 else 1.0 for s in std)
        return self

    def apply(self, x, rng):
        if self.mean is None:
            raise RuntimeError("Standardize: no statistics yet; call .fit(train_images) first, "
                               "or give mean and std")
        return super().apply(x, rng)


class MinMaxScale(Transform):
    """Map each channel's TRAINING range [min[c], max[c]] onto feature_range = (low, high)
    (as scikit-learn's MinMaxScaler):

        scale = T.MinMaxScale().fit(train_images)   # train_images: float (N, C, H, W)
        y[:, c] = low + (x[:, c] - min[c]) * (high - low) / (max[c] - min[c])

    Training inputs land in [low, high] exactly; other inputs may fall a little outside
    (no clipping). A constant channel (max = min) gets a range of 1, so it maps to low.
    min, max: give them instead of fit() when they are known (one per channel, or one
    for all). Keeps the input's dtype."""

    def __init__(self, feature_range=(0.0, 1.0), min=None, max=None):
        super().__init__()
        low, high = (float(v) for v in feature_range)
        if not low < high:
            raise ValueError(f"MinMaxScale: feature_range must be (low, high) with low < high, "
                             f"got {feature_range!r}")
        self.feature_range = (low, high)
        if (min is None) != (max is None):
            raise ValueError("MinMaxScale: give both min and max, or neither (then call .fit)")
        self.min = None if min is None else tuple(float(m) for m in np.atleast_1d(min))
        self.max = None if max is None else tuple(float(m) for m in np.atleast_1d(max))
        if min is not None and (len(self.min) != len(self.max)
                                or any(a > b for a, b in zip(self.min, self.max))):
            raise ValueError(f"MinMaxScale: min and max need one value per channel each, with "
                             f"min <= max, got min={self.min}, max={self.max}")

    def fit(self, images):
        """Measure min and max per channel on `images` (the training set); returns self."""
        x = _channel_stats("MinMaxScale", images)
        self.min = tuple(float(m) for m in x.min(axis=(0, 2, 3)))
        self.max = tuple(float(m) for m in x.max(axis=(0, 2, 3)))
        return self

    def apply(self, x, rng):
        _float_only("MinMaxScale", x)
        if self.min is None:
            raise RuntimeError("MinMaxScale: no statistics yet; call .fit(train_images) first, "
                               "or give min and max")
        if len(self.min) not in (1, x.shape[1]):
            raise ValueError(f"MinMaxScale: {len(self.min)} min/max values for images with "
                             f"{x.shape[1]} channels (batch shape {x.shape}); fit it on images "
                             "with the same channels")
        low, high = self.feature_range
        lo = np.asarray(self.min, dtype=np.float64).reshape(-1, 1, 1)  # (C, 1, 1): broadcasts
        span = np.asarray(self.max, dtype=np.float64).reshape(-1, 1, 1) - lo
        span[span == 0] = 1.0  # a constant channel: no division by 0
        scale = ((high - low) / span).astype(x.dtype)
        return (x - lo.astype(x.dtype)) * scale + np.asarray(low, dtype=x.dtype)


class RandomCrop(Transform):
    """Pad by `padding` pixels of `fill` on every side, then cut a random `size` window.

    Each image n gets its own offsets (top[n], left[n]), uniform over all
    positions where the window fits:
        out[n, c, i, j] = padded[n, c, top[n] + i, left[n] + j]."""

    def __init__(self, size, padding=0, fill=0.0, seed=None):
        super().__init__(seed)
        self.size = _pair(size, "RandomCrop")
        self.padding = int(padding)
        self.fill = fill
        if self.padding < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding}")

    def get_params(self, shape, rng):
        """The offsets (top, left), each of shape (N,), for a batch of `shape` (N, C, H, W)."""
        n, _, height, width = shape
        h, w = self.size
        room_h, room_w = height + 2 * self.padding - h, width + 2 * self.padding - w
        if room_h < 0 or room_w < 0:
            raise ValueError(f"RandomCrop: a {h}x{w} crop does not fit in {height}x{width} "
                             f"images padded by {self.padding}; use a smaller size or more "
                             "padding")
        top = rng.integers(0, room_h + 1, size=n)
        left = rng.integers(0, room_w + 1, size=n)
        return top, left

    def apply(self, x, rng):
        top, left = self.get_params(x.shape, rng)
        p = self.padding
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=self.fill)
        n, c, (h, w) = x.shape[0], x.shape[1], self.size
        # Index arrays that broadcast to (N, C, h, w): one gather for the whole batch.
        rows = (top[:, None] + np.arange(h))[:, None, :, None]    # (N, 1, h, 1)
        cols = (left[:, None] + np.arange(w))[:, None, None, :]   # (N, 1, 1, w)
        return padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
                      rows, cols]


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability p:  out[n] = x[n, :, :, ::-1]."""

    def __init__(self, p=0.5, seed=None):
        super().__init__(seed)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def apply(self, x, rng):
        flip = rng.random(x.shape[0]) < self.p             # (N,) one coin per image
        return np.where(flip[:, None, None, None], x[..., ::-1], x)


class RandomRotation(Transform):
    """Rotate each image by its own random angle, counter-clockwise, about its center.

    degrees: d (angles uniform in [-d, d]) or a (low, high) pair.
    interpolation: 'bilinear' or 'nearest'. Pixels that come from outside the
    image are set to `fill`.

    Each output pixel (i, j) looks up where it came from (the inverse map,
    so no holes appear). With the center (cy, cx) = ((H-1)/2, (W-1)/2) and
    dy = i - cy, dx = j - cx, rotating by +theta on screen (rows grow downwards)
    means reading the source at
        x_src = cx + cos(theta) dx - sin(theta) dy
        y_src = cy + sin(theta) dx + cos(theta) dy
    (theta = 90 degrees gives np.rot90)."""

    def __init__(self, degrees, interpolation="bilinear", fill=0.0, seed=None):
        super().__init__(seed)
        if isinstance(degrees, numbers.Number):
            degrees = (-abs(degrees), abs(degrees))
        self.degrees = tuple(float(d) for d in degrees)
        if len(self.degrees) != 2 or self.degrees[0] > self.degrees[1]:
            raise ValueError(f"RandomRotation: degrees must be a number or (low, high) with "
                             f"low <= high, got {degrees}")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"RandomRotation: interpolation must be 'bilinear' or 'nearest', "
                             f"got {interpolation!r}")
        self.interpolation = interpolation
        self.fill = fill

    def apply(self, x, rng):
        angles = rng.uniform(self.degrees[0], self.degrees[1], size=x.shape[0])
        return self.rotate(x, angles)

    def rotate(self, x, angles):
        """Rotate image n of batch x (N, C, H, W) by angles[n] degrees."""
        n, c, height, width = x.shape
        theta = np.deg2rad(angles)[:, None, None]                  # (N, 1, 1)
        cos, sin = np.cos(theta), np.sin(theta)
        dy, dx = np.meshgrid(np.arange(height) - (height - 1) / 2,
                             np.arange(width) - (width - 1) / 2, indexing="ij")  # (H, W)
        x_src = (width - 1) / 2 + cos * dx - sin * dy              # (N, H, W)
        y_src = (height - 1) / 2 + sin * dx + cos * dy
        batch = np.arange(n)[:, None, None, None]                  # (N, 1, 1, 1)
        channel = np.arange(c)[None, :, None, None]                # (1, C, 1, 1)

        def sample(rows, cols):
            """x at integer (rows, cols) of shape (N, H, W), `fill` outside the image."""
            inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
            values = x[batch, channel, np.clip(rows, 0, height - 1)[:, None],
                       np.clip(cols, 0, width - 1)[:, None]]       # (N, C, H, W)
            return np.where(inside[:, None], values, np.asarray(self.fill, dtype=x.dtype))

        if self.interpolation == "nearest":
            return sample(np.rint(y_src).astype(np.int64), np.rint(x_src).astype(np.int64))
        # bilinear: a weighted mean of the 4 pixels around (y_src, x_src)
        y0, x0 = np.floor(y_src), np.floor(x_src)
        wdtype = x.dtype if x.dtype.kind == "f" else np.float32  # float32 math for float32 images
        wy = (y_src - y0).astype(wdtype)[:, None]                  # (N, 1, H, W) weights
        wx = (x_src - x0).astype(wdtype)[:, None]
        y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
        out = ((1 - wy) * (1 - wx) * sample(y0, x0) + (1 - wy) * wx * sample(y0, x0 + 1)
               + wy * (1 - wx) * sample(y0 + 1, x0) + wy * wx * sample(y0 + 1, x0 + 1))
        if x.dtype.kind in "iu":
            out = np.rint(out)
        return out.astype(x.dtype)


class GaussianNoise(Transform):
    """Add i.i.d. normal noise to every value:  y = x + mean + std * z,  z ~ N(0, 1).

    No clipping: images in [0, 1] may leave that range slightly."""

    def __init__(self, std, mean=0.0, seed=None):
        super().__init__(seed)
        if std < 0:
            raise ValueError(f"GaussianNoise: std must be >= 0, got {std}")
        self.std, self.mean = float(std), float(mean)

    def apply(self, x, rng):
        _float_only("GaussianNoise", x)
        z = rng.standard_normal(x.shape, dtype=x.dtype)  # float32 draws for float32 images
        return x + (self.mean + self.std * z)


class SaltAndPepperNoise(Transform):
    """Set a random fraction `amount` of the pixels to white (`high`, "salt") or black
    (`low`, "pepper"), all channels of a pixel together, like dead sensor pixels.

    Each pixel draws u ~ U[0, 1): u < amount * (1 - salt_ratio) -> low;
    amount * (1 - salt_ratio) <= u < amount -> high; otherwise it is kept.
    For images in [0, 1] (after ToTensor, before Normalize)."""

    def __init__(self, amount, salt_ratio=0.5, low=0.0, high=1.0, seed=None):
        super().__init__(seed)
        if not (0.0 <= amount <= 1.0 and 0.0 <= salt_ratio <= 1.0):
            raise ValueError(f"SaltAndPepperNoise: amount and salt_ratio must be in [0, 1], "
                             f"got amount={amount}, salt_ratio={salt_ratio}")
        self.amount, self.salt_ratio = float(amount), float(salt_ratio)
        self.low, self.high = low, high

    def apply(self, x, rng):
        n, _, height, width = x.shape
        u = rng.random((n, 1, height, width))   # one draw per pixel, shared by its channels
        pepper = u < self.amount * (1 - self.salt_ratio)
        salt = ~pepper & (u < self.amount)
        out = np.where(salt, np.asarray(self.high, dtype=x.dtype), x)
        return np.where(pepper, np.asarray(self.low, dtype=x.dtype), out)


class Cutout(Transform):
    """Erase one `size` x `size` square per image (set it to `fill`), at a random center.

    The center (cy[n], cx[n]) is uniform over all pixels, so the square may
    hang over the border and be clipped (DeVries & Taylor, 2017):
        erased where cy - size//2 <= i < cy - size//2 + size  (and the same for j)."""

    def __init__(self, size, fill=0.0, seed=None):
        super().__init__(seed)
        if int(size) < 1:
            raise ValueError(f"Cutout: size must be a positive int, got {size}")
        self.size = int(size)
        self.fill = fill

    def get_params(self, shape, rng):
        """The square centers (cy, cx), each of shape (N,), for a batch of `shape`."""
        n, _, height, width = shape
        return rng.integers(0, height, size=n), rng.integers(0, width, size=n)

    def apply(self, x, rng):
        cy, cx = self.get_params(x.shape, rng)
        top, left = cy - self.size // 2, cx - self.size // 2        # (N,)
        rows, cols = np.arange(x.shape[2]), np.arange(x.shape[3])
        in_rows = (rows >= top[:, None]) & (rows < top[:, None] + self.size)    # (N, H)
        in_cols = (cols >= left[:, None]) & (cols < left[:, None] + self.size)  # (N, W)
        erased = in_rows[:, None, :, None] & in_cols[:, None, None, :]        # (N, 1, H, W)
        return np.where(erased, np.asarray(self.fill, dtype=x.dtype), x)
