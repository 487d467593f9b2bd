"""DeviceLoader: the dataset on the device, batches cropped, flipped and normalised there.

Each test runs on every device (the `device` fixture). References are computed
by hand in NumPy, one image at a time, from the offsets and flips the loader
used (its EpochPlan), so the checks hold whatever generator the device has."""
import numpy as np
import pytest

import minigrad
from minigrad import backend
from minigrad.data import ArrayDataset, DeviceLoader, Subset, TensorDataset
from minigrad.data import transforms as T

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def random_images(n=12, height=6, width=7, channels=3, seed=0):
    """uint8 NHWC images with no zero pixel (so zero padding is told apart) and labels."""
    rng = np.random.default_rng(seed)
    images = rng.integers(1, 256, (n, height, width, channels), dtype=np.uint8)
    return images, rng.integers(0, 10, n)


def host(tensor_or_array):
    # Not getattr(x, "data", x): a CuPy array has a .data too (its memory pointer).
    array = tensor_or_array.data if isinstance(tensor_or_array, minigrad.Tensor) else tensor_or_array
    return backend.to_numpy(array)


def on(device, array):
    return backend.to_device(np.asarray(array), backend.normalize_device(device))


def pixels(x, mean=None, std=None):
    """Undo the normalisation of a float batch: back to uint8 pixel values."""
    x = host(x).astype(np.float64)
    if mean is not None:
        x = x * np.asarray(std).reshape(1, -1, 1, 1) + np.asarray(mean).reshape(1, -1, 1, 1)
    return np.rint(x * 255).astype(np.int64)


def reference_window(image_hwc, top, left, flip, padding, crop):
    """The crop of one image, by hand: pad with zeros, slice the window, mirror it."""
    chw = image_hwc.transpose(2, 0, 1)
    c, height, width = chw.shape
    padded = np.zeros((c, height + 2 * padding, width + 2 * padding), dtype=np.uint8)
    padded[:, padding:padding + height, padding:padding + width] = chw
    window = padded[:, top:top + crop[0], left:left + crop[1]]
    return window[:, :, ::-1] if flip else window


# ------------------------------------------------------------- batches
def test_batches_have_the_right_shape_dtype_and_device(device):
    images, labels = random_images(10, 8, 8)
    loader = DeviceLoader(images, labels.astype(np.int32), batch_size=4, shuffle=True,
                          augment=True, padding=2, mean=MEAN, std=STD, device=device)
    batches = list(loader)
    assert len(loader) == 3 and [len(y) for _, y in batches] == [4, 4, 2]
    for x, y in batches:
        assert x.shape[1:] == (3, 8, 8) and x.dtype == np.float32 and y.dtype == np.int64
        assert x.device == y.device == backend.normalize_device(device)
        assert not x.requires_grad


def test_every_label_pairs_with_its_image(device):
    # Image k is filled with the value k + 1, and its label is k: the pixel at the
    # centre (always inside the window: the offsets move it at most `padding`) names it.
    n = 40
    images = np.broadcast_to((np.arange(n) + 1).astype(np.uint8)[:, None, None, None],
                             (n, 12, 12, 3))
    loader = DeviceLoader(images, np.arange(n), batch_size=16, shuffle=True, augment=True,
                          padding=4, mean=MEAN, std=STD, device=device)
    for x, y in loader:
        centre = pixels(x, MEAN, STD)[:, :, 6, 6]
        np.testing.assert_array_equal(centre, np.repeat(host(y)[:, None] + 1, 3, axis=1))


@pytest.mark.parametrize("drop_last", [False, True])
def test_an_epoch_visits_every_sample_once(device, drop_last):
    n = 23
    loader = DeviceLoader(random_images(n)[0], np.arange(n), batch_size=5, shuffle=True,
                          drop_last=drop_last, device=device)
    seen = np.concatenate([host(y) for _, y in loader])
    assert len(seen) == (20 if drop_last else 23) == len(loader) * 5 - (0 if drop_last else 2)
    assert len(np.unique(seen)) == len(seen)  # no sample twice
    if not drop_last:
        np.testing.assert_array_equal(np.sort(seen), np.arange(n))
    assert not np.array_equal(seen, np.arange(len(seen)))  # shuffled


@pytest.mark.parametrize("n, batch_size, drop_last, sizes", [
    (10, 4, False, [4, 4, 2]), (10, 4, True, [4, 4]), (8, 4, False, [4, 4]),
    (8, 4, True, [4, 4]), (3, 4, False, [3]), (3, 4, True, []), (1, 1, True, [1])])
def test_drop_last_arithmetic(n, batch_size, drop_last, sizes):
    loader = DeviceLoader(random_images(n)[0], np.arange(n), batch_size=batch_size,
                          drop_last=drop_last)
    assert len(loader) == len(sizes)
    assert [len(y) for _, y in loader] == sizes


def test_without_shuffle_the_samples_come_in_order(device):
    loader = DeviceLoader(random_images(9)[0], np.arange(9) * 3, batch_size=4, device=device)
    np.testing.assert_array_equal(np.concatenate([host(y) for _, y in loader]), np.arange(9) * 3)


@pytest.mark.filterwarnings("ignore:cupyx.allow_synchronize:UserWarning")  # (deprecated in CuPy)
def test_an_epoch_reads_nothing_back_from_the_device(device):
    # cupyx.allow_synchronize(False) raises at a device-to-host transfer (float(),
    # .item(), boolean-mask indexing, ...): on the stand-in, and at CuPy's own sync
    # points on a real GPU.
    if device == "cpu":
        pytest.skip("the CPU has no device-to-host transfers")
    images, labels = random_images(30, 8, 8)
    loader = DeviceLoader(images, labels, batch_size=8, shuffle=True, augment=True,
                          mean=MEAN, std=STD, device=device)
    with backend._cupyx.allow_synchronize(False):
        batches = [(x, y) for x, y in loader]
    assert [len(y) for _, y in batches] == [8, 8, 8, 6]


# ---------------------------------------------------------- augmentation
@pytest.mark.parametrize("crop", [None, (4, 5)])
def test_a_crop_is_a_shifted_window_with_zero_padding(device, crop):
    images, labels = random_images(4, 6, 7)
    loader = DeviceLoader(images, labels, augment=True, padding=2, crop=crop, device=device)
    h, w = crop or (6, 7)
    # The extreme offsets (window against each border, half in the padding) and the middle.
    index, top = [3, 0, 2, 1], [0, 10 - h, 1, 2]
    left, flip = [11 - w, 0, 2, 1], [False, True, True, False]
    x, y = loader.batch(on(device, index), on(device, top), on(device, left), on(device, flip))
    assert x.shape == (4, 3, h, w)
    got = pixels(x)
    for n, k in enumerate(index):
        expected = reference_window(images[k], top[n], left[n], flip[n], 2, (h, w))
        np.testing.assert_array_equal(got[n], expected, err_msg=f"image {n}")
    np.testing.assert_array_equal(host(y), labels[index])
    # Image 0's window is against the top right corner: 2 rows and 2 columns of zeros.
    assert (got[0, :, :2, :] == 0).all() and (got[0, :, :, w - 2:] == 0).all()
    assert (got[0, :, 2:, :w - 2] > 0).all()


def test_the_crop_can_change_between_epochs(device):
    """Setting `crop` (progressive resizing) gives the windows a loader made with that crop
    gives, and the epochs after it are planned for the new size; None is the whole image."""
    images, labels = random_images(6, 6, 7)
    loader = DeviceLoader(images, labels, batch_size=6, augment=True, padding=2, device=device)
    made_small = DeviceLoader(images, labels, augment=True, padding=2, crop=(4, 5), device=device)
    loader.crop = (4, 5)
    assert loader.crop == (4, 5)
    index, top, left, flip = [5, 0, 3], [0, 6, 3], [6, 0, 2], [True, False, True]
    args = [on(device, a) for a in (index, top, left, flip)]
    np.testing.assert_array_equal(host(loader.batch(*args)[0]), host(made_small.batch(*args)[0]))
    plan = loader.plan_epoch()  # offsets up to the padded size minus the new window
    assert host(plan.top).max() <= 10 - 4 and host(plan.left).max() <= 11 - 5
    assert next(iter(loader))[0].shape == (6, 3, 4, 5)
    loader.crop = None
    assert loader.crop == (6, 7) and next(iter(loader))[0].shape == (6, 3, 6, 7)
    with pytest.raises(ValueError, match="a 11x5 crop does not fit in 6x7 images padded by 2"):
        loader.crop = (11, 5)
    assert loader.crop == (6, 7)  # a refused size leaves the loader as it was


@pytest.mark.parametrize("mode", ["reflect", "edge"])
def test_reflect_and_edge_padding_fill_the_border_from_the_image(device, mode):
    images, labels = random_images(2, 5, 6)
    loader = DeviceLoader(images, labels, augment=True, padding=2, padding_mode=mode, device=device)
    # offset 0: the window's top-left corner is the padding's corner, 2 rows/columns in
    x, _ = loader.batch(on(device, [1, 0]), on(device, [0, 4]), on(device, [0, 4]),
                        on(device, [False, True]))
    got = pixels(x)
    for n, (k, offset, flip) in enumerate([(1, 0, False), (0, 4, True)]):
        chw = images[k].transpose(2, 0, 1)
        if mode == "reflect":  # mirrored about the border pixel: row -1 is row 1, -2 is row 2
            rows, cols = np.abs(np.arange(-2, 7)), np.abs(np.arange(-2, 8))
            rows, cols = np.where(rows > 4, 8 - rows, rows), np.where(cols > 5, 10 - cols, cols)
        else:                  # the border pixel repeated
            rows, cols = np.clip(np.arange(-2, 7), 0, 4), np.clip(np.arange(-2, 8), 0, 5)
        padded = chw[:, rows][:, :, cols]                      # (3, 9, 10), built by index
        window = padded[:, offset:offset + 5, offset:offset + 6]
        np.testing.assert_array_equal(got[n], window[:, :, ::-1] if flip else window)
    torch = pytest.importorskip("torch")
    torch_mode = "reflect" if mode == "reflect" else "replicate"
    chw = torch.tensor(images[1].transpose(2, 0, 1)[None].astype(np.float32))
    expected = torch.nn.functional.pad(chw, (2, 2, 2, 2), mode=torch_mode)[0, :, :5, :6]
    np.testing.assert_array_equal(got[0], expected.numpy().astype(np.uint8))


def test_an_unknown_padding_mode_or_too_much_reflection_is_refused():
    images, labels = random_images(2, 5, 5)
    with pytest.raises(ValueError, match="DeviceLoader: padding_mode must be one of .*'circular'"):
        DeviceLoader(images, labels, augment=True, padding_mode="circular")
    with pytest.raises(ValueError, match="reflect padding of 5 pixels needs images larger.*5x5"):
        DeviceLoader(images, labels, augment=True, padding=5, padding_mode="reflect")


def test_flip_mirrors_the_image(device):
    images, labels = random_images(3, 6, 6)
    loader = DeviceLoader(images, labels, augment=True, padding=4, device=device)
    index, offset = on(device, [2, 0, 1]), on(device, [4, 4, 4])  # offset 4: the image itself
    plain, _ = loader.batch(index, offset, offset, on(device, [False] * 3))
    mirrored, _ = loader.batch(index, offset, offset, on(device, [True] * 3))
    np.testing.assert_array_equal(host(mirrored), host(plain)[..., ::-1])
    np.testing.assert_array_equal(pixels(plain), images[[2, 0, 1]].transpose(0, 3, 1, 2))


def test_iteration_crops_and_flips_as_its_epoch_plan_says(device):
    n, padding = 200, 2
    images, labels = random_images(n, 5, 5)
    loader = DeviceLoader(images, labels, batch_size=64, shuffle=True, augment=True,
                          padding=padding, device=device)
    minigrad.manual_seed(5)
    plan = [host(a) for a in loader.plan_epoch()]
    minigrad.manual_seed(5)
    got = np.concatenate([pixels(x) for x, _ in loader])
    order, top, left, flip = plan
    assert sorted(order) == list(range(n))
    for offsets in (top, left):  # uniform over 0 .. 2*padding: 200 draws reach every value
        assert set(offsets.tolist()) == set(range(2 * padding + 1))
    assert 0.3 < flip.mean() < 0.7
    for i in range(n):
        expected = reference_window(images[order[i]], top[i], left[i], flip[i], padding, (5, 5))
        np.testing.assert_array_equal(got[i], expected, err_msg=f"position {i}")


class ScriptedRng:
    """Hands the classic transforms given offsets and flips instead of random ones:
    RandomCrop draws `integers` twice (top, then left), RandomHorizontalFlip draws
    `random` once and flips where it is below 0.5."""

    def __init__(self, top, left, flip):
        self.integers_left = [top, left]
        self.coins = np.where(flip, 0.25, 0.75)

    def integers(self, low, high, size):
        values = self.integers_left.pop(0)
        assert values.shape == (size,) and low <= values.min() and values.max() < high
        return values

    def random(self, size):
        return self.coins


@pytest.mark.parametrize("augment", [False, True])
def test_results_match_the_classic_transforms(device, augment):
    images, labels = random_images(30, 32, 32)
    loader = DeviceLoader(images, labels, batch_size=30, shuffle=True, augment=augment,
                          mean=MEAN, std=STD, device=device)
    minigrad.manual_seed(1)
    order, top, left, flip = (None if a is None else host(a) for a in loader.plan_epoch())
    minigrad.manual_seed(1)
    (x, y), = list(loader)
    steps = [T.ToTensor()]
    if augment:
        steps += [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()]
    classic = T.Compose(steps + [T.Normalize(MEAN, STD)])
    expected = classic(images[order], rng=ScriptedRng(top, left, flip) if augment else None)
    # The same float32 operations in the same order; a GPU may round a division differently.
    np.testing.assert_allclose(host(x), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(host(y), labels[order])


def test_reproducible_under_manual_seed_and_new_each_epoch(device):
    images, labels = random_images(50, 8, 8)
    loader = DeviceLoader(images, labels, batch_size=20, shuffle=True, augment=True,
                          mean=MEAN, std=STD, device=device)

    def epoch(seed=None):
        if seed is not None:
            minigrad.manual_seed(seed)
        return np.concatenate([host(x) for x, _ in loader])

    first = epoch(3)
    np.testing.assert_array_equal(epoch(3), first)
    assert not np.array_equal(epoch(), first)   # the next epoch: new order, crops and flips
    assert not np.array_equal(epoch(4), first)  # another seed


def test_nchw_input_gives_the_same_batches_as_nhwc(device):
    images, labels = random_images(6, 8, 8)
    kwargs = dict(batch_size=6, augment=True, padding=1, mean=MEAN, std=STD, device=device)
    minigrad.manual_seed(2)
    (from_nhwc, _), = list(DeviceLoader(images, labels, **kwargs))
    minigrad.manual_seed(2)
    (from_nchw, _), = list(DeviceLoader(images.transpose(0, 3, 1, 2).copy(), labels, **kwargs))
    np.testing.assert_array_equal(host(from_nchw), host(from_nhwc))


def test_grayscale_and_a_single_mean_for_all_channels(device):
    images = random_images(4, 5, 5, channels=1)[0]
    loader = DeviceLoader(images, np.arange(4), batch_size=4, mean=0.5, std=0.25, device=device)
    (x, _), = list(loader)
    np.testing.assert_allclose(host(x), (images.transpose(0, 3, 1, 2) / 255 - 0.5) / 0.25,
                               rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------- datasets
def test_from_dataset_takes_the_arrays_of_in_memory_datasets(device):
    images, labels = random_images(10, 8, 8)
    subset = Subset(ArrayDataset(images, labels), [7, 2, 5])
    loader = DeviceLoader.from_dataset(subset, batch_size=3, device=device)
    (x, y), = list(loader)
    np.testing.assert_array_equal(host(y), labels[[7, 2, 5]])
    np.testing.assert_array_equal(pixels(x), images[[7, 2, 5]].transpose(0, 3, 1, 2))
    nested = Subset(Subset(TensorDataset(images, labels), [9, 8, 7]), [2, 0])
    (_, y), = list(DeviceLoader.from_dataset(nested, batch_size=2, device=device))
    np.testing.assert_array_equal(host(y), labels[[7, 9]])


def test_from_dataset_refuses_what_it_cannot_serve_faithfully():
    images, labels = random_images(4, 8, 8)
    with pytest.raises(ValueError, match="has a transform.*augment="):
        DeviceLoader.from_dataset(ArrayDataset(images, labels, transform=T.ToTensor()))
    with pytest.raises(TypeError, match="got a list; pass the arrays"):
        DeviceLoader.from_dataset([(images[0], 1)])


# --------------------------------------------------------------- errors
@pytest.mark.parametrize("images, labels, options, message", [
    (np.zeros((4, 8, 8), np.uint8), np.arange(4), {}, r"shape \(4, 8, 8\); add a channel axis"),
    (np.zeros((4, 8, 8, 3), np.float32), np.arange(4), {}, "got float32 .* pass the raw uint8"),
    (np.zeros((4, 8, 8, 3), np.uint8), np.arange(3), {},
     r"shape \(3,\) for images of shape \(4, 8, 8, 3\); pass one integer class index per image"),
    (np.zeros((4, 8, 8, 3), np.uint8), np.zeros((4, 1), np.int64), {}, r"shape \(4, 1\)"),
    (np.zeros((4, 8, 8, 3), np.uint8), np.zeros(4), {}, "labels must be integers"),
    (np.zeros((0, 8, 8, 3), np.uint8), np.arange(0), {}, "empty"),
    (np.zeros((4, 3, 8, 3), np.uint8), np.arange(4), {}, "pass layout='NHWC' or 'NCHW'"),
    (np.zeros((4, 8, 8, 3), np.uint8), np.arange(4), {"layout": "HWC"}, "layout must be"),
    (np.zeros((4, 8, 8, 3), np.uint8), np.arange(4), {"augment": True, "crop": 17},
     "a 17x17 crop does not fit in 8x8 images padded by 4"),
    (np.zeros((4, 8, 8, 3), np.uint8), np.arange(4), {"crop": 6}, "pass augment=True"),
    (np.zeros((4, 8, 8, 3), np.uint8), np.arange(4), {"batch_size": 0}, "batch_size must be"),
    (np.zeros((4, 8, 8, 3), np.uint8), np.arange(4), {"mean": MEAN}, "give both mean and std"),
    (np.zeros((4, 8, 8, 3), np.uint8), np.arange(4), {"mean": (0.5, 0.5), "std": (1, 1)},
     r"one value per channel \(3\)"),
    (np.zeros((4, 8, 8, 3), np.uint8), np.arange(4), {"mean": 0.5, "std": 0.0},
     "std must be positive"),
], ids=["3-d images", "float images", "label count", "2-d labels", "float labels", "empty",
        "ambiguous layout", "bad layout", "crop too big", "crop without augment", "batch size",
        "mean alone", "mean per channel", "zero std"])
def test_bad_input_is_a_clear_error(images, labels, options, message):
    with pytest.raises(ValueError, match=message):
        DeviceLoader(images, labels, **options)


def test_an_augmenting_batch_needs_its_offsets():
    images, labels = random_images(4, 8, 8)
    loader = DeviceLoader(images, labels, augment=True)
    with pytest.raises(ValueError, match="needs top, left and flip"):
        loader.batch(np.arange(2))


# ------------------------------------------------------------ the example
@pytest.mark.parametrize("loader", ["device", "classic"])
def test_the_cifar10_example_trains_with_either_loader(loader, tmp_path, capsys):
    import cifar10_cnn  # (examples/ is on pytest's path)
    summary = cifar10_cnn.main(["--smoke", "--quiet", "--no-plots", "--limit-train", "100",
                                "--limit-test", "50", "--epochs", "1", "--loader", loader,
                                "--out", str(tmp_path)])
    assert f"{loader} loader" in capsys.readouterr().out
    assert summary["epochs_run"] == 1 and np.isfinite(summary["train_loss"][0])
    assert 0.0 <= summary["final_test_acc"] <= 1.0 and summary["images_per_s"] > 0
