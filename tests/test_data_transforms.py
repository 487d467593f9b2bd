"""Each transform against an independent NumPy expectation (loops over images, written out)."""
import math

import numpy as np
import pytest

import minigrad
from minigrad.data import transforms as T


def batch(n=4, c=3, h=6, w=5, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(np.float32)


def test_to_tensor_layouts_and_scale():
    hwc = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    out = T.ToTensor()(hwc)
    assert out.shape == (3, 4, 5) and out.dtype == np.float32
    for c in range(3):
        np.testing.assert_allclose(out[c], hwc[:, :, c] / 255.0, rtol=1e-6)
    nhwc = np.stack([hwc, 255 - hwc])
    out = T.ToTensor()(nhwc)
    assert out.shape == (2, 3, 4, 5)
    np.testing.assert_allclose(out[1, 2], (255 - hwc[:, :, 2]) / 255.0, rtol=1e-6)
    assert T.ToTensor()(hwc[:, :, 0]).shape == (1, 4, 5)  # grayscale HW -> 1HW
    assert out.min() >= 0 and out.max() <= 1
    with pytest.raises(TypeError, match="uint8"):
        T.ToTensor()(hwc.astype(np.int32))


def test_normalize_per_channel_keeps_dtype():
    x = batch()
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    out = T.Normalize(mean, std)(x)
    assert out.dtype == np.float32
    for c in range(3):
        np.testing.assert_allclose(out[:, c], (x[:, c] - mean[c]) / std[c], rtol=1e-5, atol=1e-6)
    assert T.Normalize(0.5, 0.25)(x.astype(np.float64)).dtype == np.float64
    with pytest.raises(ValueError, match="3 channels"):
        T.Normalize((0.1, 0.2), (1, 1))(x)
    with pytest.raises(TypeError, match="put ToTensor"):
        T.Normalize(0.5, 0.5)(np.zeros((1, 3, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="std must be positive"):
        T.Normalize(0.5, 0.0)


@pytest.mark.parametrize("padding", [0, 2])
def test_random_crop_against_pad_and_slice(padding):
    x = batch(n=6)
    crop = T.RandomCrop((4, 3), padding=padding)
    out = crop(x, rng=np.random.default_rng(3))
    top, left = crop.get_params(x.shape, np.random.default_rng(3))  # the same draws
    assert out.shape == (6, 3, 4, 3)
    for n in range(6):
        padded = np.pad(x[n], ((0, 0), (padding, padding), (padding, padding)))
        np.testing.assert_array_equal(out[n], padded[:, top[n]:top[n] + 4, left[n]:left[n] + 3])
    assert top.max() <= 6 + 2 * padding - 4 and left.max() <= 5 + 2 * padding - 3
    with pytest.raises(ValueError, match="does not fit"):
        T.RandomCrop(9)(x)


def test_random_crop_offsets_cover_every_position():
    x = batch(n=400, c=1, h=3, w=3)
    top, left = T.RandomCrop(3, padding=1).get_params(x.shape, np.random.default_rng(0))
    assert set(top) == {0, 1, 2} and set(left) == {0, 1, 2}


def test_flip_p1_p0_and_mixture():
    x = batch()
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1)(x), x[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0)(x), x)
    big = batch(n=2000, c=1, h=1, w=2)
    out = T.RandomHorizontalFlip(0.3, seed=0)(big)
    flipped = (out[:, 0, 0, 0] == big[:, 0, 0, 1]).mean()
    assert abs(flipped - 0.3) < 0.05
    single = x[0]
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1)(single), single[..., ::-1])


def rotate_reference(image, degrees, nearest, fill=0.0):
    """Rotate one (C, H, W) image pixel by pixel, straight from the inverse-map equations."""
    c, h, w = image.shape
    t = math.radians(degrees)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    out = np.empty_like(image)

    def pixel(ch, r, q):
        return image[ch, r, q] if 0 <= r < h and 0 <= q < w else fill

    for i in range(h):
        for j in range(w):
            xs = cx + math.cos(t) * (j - cx) - math.sin(t) * (i - cy)
            ys = cy + math.sin(t) * (j - cx) + math.cos(t) * (i - cy)
            for ch in range(c):
                if nearest:
                    out[ch, i, j] = pixel(ch, int(round(ys)), int(round(xs)))
                else:
                    y0, x0 = math.floor(ys), math.floor(xs)
                    a, b = ys - y0, xs - x0
                    out[ch, i, j] = ((1 - a) * (1 - b) * pixel(ch, y0, x0)
                                     + (1 - a) * b * pixel(ch, y0, x0 + 1)
                                     + a * (1 - b) * pixel(ch, y0 + 1, x0)
                                     + a * b * pixel(ch, y0 + 1, x0 + 1))
    return out


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_rotation_matches_rot90_and_identity(interpolation):
    x = batch(n=2, h=5, w=5)
    rot = T.RandomRotation(0, interpolation=interpolation)
    np.testing.assert_allclose(rot.rotate(x, np.array([0.0, 0.0])), x, atol=1e-6)
    out = rot.rotate(x, np.array([90.0, -90.0]))
    np.testing.assert_allclose(out[0], np.rot90(x[0], 1, axes=(1, 2)), atol=1e-5)  # CCW
    np.testing.assert_allclose(out[1], np.rot90(x[1], -1, axes=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(rot.rotate(x, np.array([180.0, 180.0])),
                               x[..., ::-1, ::-1], atol=1e-5)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_rotation_random_angles_against_pixel_loop(interpolation):
    x = batch(n=3, c=2, h=6, w=7)
    rot = T.RandomRotation(40, interpolation=interpolation)
    out = rot(x, rng=np.random.default_rng(1))
    angles = np.random.default_rng(1).uniform(-40, 40, size=3)
    assert out.dtype == np.float32
    for n in range(3):
        np.testing.assert_allclose(out[n], rotate_reference(x[n], angles[n],
                                                            interpolation == "nearest"),
                                   atol=1e-5)
    assert (out == 0).any()  # corners come from outside the image: filled with 0


def test_gaussian_noise_statistics_and_dtype():
    x = np.full((8, 3, 32, 32), 0.5, np.float32)
    out = T.GaussianNoise(std=0.1, mean=0.2, seed=0)(x)
    assert out.dtype == np.float32
    noise = out - x
    assert abs(noise.mean() - 0.2) < 0.005 and abs(noise.std() - 0.1) < 0.005
    again = T.GaussianNoise(std=0.1, mean=0.2)(x, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(out, again)  # a seed and an rng with that seed agree


def test_salt_and_pepper():
    x = np.full((20, 3, 16, 16), 0.5, np.float32)
    out = T.SaltAndPepperNoise(0.2, seed=0)(x)
    changed = (out != 0.5).any(axis=1)                       # (N, H, W)
    assert abs(changed.mean() - 0.2) < 0.02
    assert set(np.unique(out)) <= {0.0, 0.5, 1.0}
    assert ((out == out[:, :1]).all(axis=1)).all()           # channels change together
    salt = (out == 1.0).any(axis=1).mean()
    assert abs(salt - 0.1) < 0.015
    np.testing.assert_array_equal(T.SaltAndPepperNoise(1.0, salt_ratio=1.0)(x), np.ones_like(x))
    np.testing.assert_array_equal(T.SaltAndPepperNoise(0.0)(x), x)


def test_cutout_against_loop():
    x = batch(n=5, h=8, w=8) + 1.0  # no zeros before the cut
    cut = T.Cutout(4)
    out = cut(x, rng=np.random.default_rng(2))
    cy, cx = cut.get_params(x.shape, np.random.default_rng(2))
    for n in range(5):
        expected = x[n].copy()
        y0, x0 = max(cy[n] - 2, 0), max(cx[n] - 2, 0)
        expected[:, y0:cy[n] + 2, x0:cx[n] + 2] = 0
        np.testing.assert_array_equal(out[n], expected)


def test_compose_passes_the_rng_and_supports_plain_functions():
    images = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    pipeline = T.Compose([T.ToTensor(), T.RandomCrop(8, padding=2), T.RandomHorizontalFlip(),
                          lambda b: b * 2.0, T.Normalize((0.5,) * 3, (0.25,) * 3)])
    a = pipeline(images, rng=np.random.default_rng(9))
    b = pipeline(images, rng=np.random.default_rng(9))
    assert a.shape == (4, 3, 8, 8) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, pipeline(images, rng=np.random.default_rng(10)))


def test_unseeded_transforms_follow_manual_seed():
    x = batch()
    minigrad.manual_seed(3)
    a = T.Cutout(2)(x)
    minigrad.manual_seed(3)
    np.testing.assert_array_equal(a, T.Cutout(2)(x))


def test_wrong_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match=r"RandomHorizontalFlip: expected an image \(C, H, W\)"):
        T.RandomHorizontalFlip()(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="interpolation"):
        T.RandomRotation(10, interpolation="cubic")


# ------------------------------------------- statistics from the training set
def train_and_val(seed=0):
    """Two float32 batches with very different channel ranges, as (train, validation)."""
    rng = np.random.default_rng(seed)
    scale = np.array([2.0, 30.0, 0.5], np.float32)[:, None, None]  # (C, 1, 1)
    shift = np.array([1.0, -40.0, 3.0], np.float32)[:, None, None]
    return ((rng.standard_normal((20, 3, 4, 5)) * scale + shift).astype(np.float32),
            (rng.standard_normal((7, 3, 4, 5)) * scale + shift).astype(np.float32))


def test_min_max_scale_fits_the_training_range_per_channel():
    train, val = train_and_val()
    scale = T.MinMaxScale().fit(train)
    for c in range(3):  # the statistics: one loop per channel, written out
        assert scale.min[c] == float(train[:, c].min()) and scale.max[c] == float(train[:, c].max())
    out = scale(train)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.min(axis=(0, 2, 3)), 0.0, atol=1e-6)
    np.testing.assert_allclose(out.max(axis=(0, 2, 3)), 1.0, atol=1e-6)
    # validation images go through the TRAINING map (not their own range)
    out = T.MinMaxScale((-1, 1)).fit(train)(val)
    for c in range(3):
        lo, hi = train[:, c].min(), train[:, c].max()
        np.testing.assert_allclose(out[:, c], -1 + 2 * (val[:, c] - lo) / (hi - lo), atol=1e-5)
    # known statistics instead of fit(), and one image (C, H, W) at a time
    given = T.MinMaxScale(min=(0, -100, 2), max=(2, 100, 4))
    np.testing.assert_allclose(given(val[0])[1], (val[0, 1] + 100) / 200, atol=1e-6)


def test_min_max_scale_constant_channel_and_errors():
    x = batch()
    x[:, 1] = 0.25  # a constant channel maps to low, with no division by zero
    out = T.MinMaxScale().fit(x)(x)
    assert np.all(out[:, 1] == 0.0) and np.isfinite(out).all()
    with pytest.raises(RuntimeError, match=r"call \.fit\(train_images\) first"):
        T.MinMaxScale()(x)
    with pytest.raises(ValueError, match="low < high"):
        T.MinMaxScale((1, 0))
    with pytest.raises(ValueError, match="both min and max"):
        T.MinMaxScale(min=0)
    with pytest.raises(ValueError, match="apply ToTensor"):
        T.MinMaxScale().fit(np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="3 channels"):
        T.MinMaxScale().fit(x[:, :2])(x)


def test_standardize_fits_mean_and_std_per_channel():
    train, val = train_and_val(1)
    standardize = T.Standardize().fit(train)
    for c in range(3):
        np.testing.assert_allclose(standardize.mean[c], train[:, c].astype(np.float64).mean(),
                                   rtol=1e-12)
        np.testing.assert_allclose(standardize.std[c], train[:, c].astype(np.float64).std(),
                                   rtol=1e-12)
    out = standardize(train)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1.0, rtol=1e-5)
    # the validation set through the training statistics: Normalize with those numbers
    np.testing.assert_allclose(standardize(val), T.Normalize(standardize.mean, standardize.std)(val),
                               rtol=1e-6)
    x = batch()
    x[:, 2] = 3.0  # constant: std 1, so the channel becomes 0
    assert np.all(T.Standardize().fit(x)(x)[:, 2] == 0.0)
    with pytest.raises(RuntimeError, match=r"call \.fit\(train_images\) first"):
        T.Standardize()(x)
    assert T.Standardize(0.5, 0.25)(x).dtype == np.float32  # given statistics: Normalize
