"""The library parts the CIFAR-10 speedrun recipe is made of, each checked on its own:
nn.init.dirac_ and whitening_, the alternating flip schedule, SGDW's decoupled decay,
lookahead as an EMA of the weights, and test-time augmentation's averaging."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
import minigrad.optim as optim
from minigrad import backend
from minigrad.data import DeviceLoader
from minigrad.data.flip_schedule import AlternatingFlipLoader, alternating_flips
from minigrad.training.tta import shift, tta_accuracy, tta_predict, tta_views


# ------------------------------------------------------------------ dirac_
@pytest.mark.parametrize("shape,groups", [((4, 4, 3, 3), 1), ((6, 4, 3, 3), 1), ((3, 5, 3, 3), 1),
                                          ((6, 2, 3, 3), 2), ((4, 3, 5), 1), ((4, 2, 3, 3, 3), 2)])
def test_dirac_matches_torch(shape, groups):
    torch = pytest.importorskip("torch")
    mine = nn.init.dirac_(minigrad.randn(*shape), groups=groups)
    theirs = torch.nn.init.dirac_(torch.randn(*shape), groups=groups)
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def test_dirac_conv_passes_its_input_through():
    """A 'same' conv with a dirac kernel copies input channel i to output i (out > in: zeros)."""
    x = minigrad.randn(2, 3, 6, 6, dtype=np.float64)
    w = nn.init.dirac_(minigrad.randn(5, 3, 3, 3, dtype=np.float64))
    y = F.conv2d(x, w, padding=1).numpy()
    np.testing.assert_allclose(y[:, :3], x.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(y[:, 3:], 0.0, atol=1e-12)


def test_dirac_rejects_bad_shapes_and_groups():
    with pytest.raises(ValueError, match="dirac_.*shape"):
        nn.init.dirac_(minigrad.randn(3, 3))
    with pytest.raises(ValueError, match="groups"):
        nn.init.dirac_(minigrad.randn(5, 2, 3, 3), groups=2)


# ------------------------------------------------------------------ whitening_
def _correlated_images(n=64, seed=0):
    """Images whose neighbouring pixels and channels are strongly correlated (smooth, mixed)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 3, 9, 9)).repeat(2, axis=2).repeat(2, axis=3)[:, :, :16, :16]
    mix = np.array([[1.0, 0.8, 0.6], [0.0, 0.5, 0.4], [0.0, 0.0, 0.3]])
    return np.einsum("dc,nchw->ndhw", mix, base) + 0.05 * rng.normal(size=(n, 3, 16, 16)) + 0.7


def test_whitening_gives_decorrelated_unit_variance_patches(device):
    images = _correlated_images()
    conv = nn.Conv2d(3, 24, 2, dtype=np.float64).to(device)
    nn.init.whitening_(conv.weight, minigrad.Tensor(images).to(device), eps=1e-8, bias=conv.bias)
    y = conv(minigrad.Tensor(images).to(device)).numpy()          # (N, 24, 15, 15)
    rows = y.transpose(0, 2, 3, 1).reshape(-1, 24)                 # one row per patch
    positive, negative = rows[:, :12], rows[:, 12:]
    np.testing.assert_allclose(negative, -positive, atol=1e-9)     # the negated copies
    np.testing.assert_allclose(positive.mean(axis=0), 0.0, atol=1e-6)  # the bias centres them
    covariance = np.cov(positive, rowvar=False, bias=True)
    np.testing.assert_allclose(covariance, np.eye(12), atol=1e-4)
    # the input patches themselves were far from white (else the test proves nothing)
    raw = nn.init.patches(images, (2, 2))
    assert np.abs(np.corrcoef(raw, rowvar=False) - np.eye(12)).max() > 0.5


def test_whitening_eps_shrinks_the_weakest_directions_and_orders_by_variance():
    images = _correlated_images()
    conv = nn.Conv2d(3, 12, 2, bias=False, dtype=np.float64)
    eps = 1e-2
    nn.init.whitening_(conv.weight, images, eps=eps)
    variances = conv(minigrad.Tensor(images)).numpy().var(axis=(0, 2, 3))
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(nn.init.patches(images, (2, 2)), rowvar=False,
                                                    bias=True)))[::-1]
    np.testing.assert_allclose(variances, eigenvalues / (eigenvalues + eps), rtol=1e-6)


def test_whitening_rejects_a_weight_of_the_wrong_size():
    with pytest.raises(ValueError, match="whitening_.*12.*24"):
        nn.init.whitening_(nn.Conv2d(3, 10, 2).weight, np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"whitening_: images must be \(N, 3, H, W\)"):
        nn.init.whitening_(nn.Conv2d(3, 12, 2).weight, np.zeros((2, 8, 8, 3), np.float32))


# ------------------------------------------------------------------ alternating flip
def test_alternating_flips_is_the_complement_every_other_epoch():
    first = np.array([True, False, False, True])
    for epoch in range(5):
        expected = first if epoch % 2 == 0 else ~first
        np.testing.assert_array_equal(alternating_flips(first, epoch), expected)


def _flips_by_sample(plan):
    flips = np.empty(len(plan.order), dtype=bool)
    # the plan's flips are by position in the epoch's order
    flips[backend.to_numpy(plan.order)] = backend.to_numpy(plan.flip)
    return flips


def test_alternating_flip_loader_flips_a_random_half_then_alternates(device):
    images = np.random.default_rng(0).integers(0, 256, (400, 8, 8, 3), dtype=np.uint8)
    loader = AlternatingFlipLoader(images, np.zeros(400, np.int64), batch_size=100, shuffle=True,
                                   augment=True, padding=2, device=device)
    epochs = []
    for _ in range(4):
        plan = loader.plan_epoch()
        loader.epoch += 1  # as iterating does
        epochs.append(_flips_by_sample(plan))
    assert 0.4 < epochs[0].mean() < 0.6   # about half (400 fair coins: 4.6 sd away otherwise)
    for previous, current in zip(epochs, epochs[1:]):
        np.testing.assert_array_equal(current, ~previous)
    # and the batches really are mirrored accordingly: no translation, compare pixels
    still = AlternatingFlipLoader(images, np.arange(400), batch_size=400, augment=True, padding=0,
                                  device=device)
    for _ in range(2):
        (x, y), = list(still)
        plain = images[y.numpy()].transpose(0, 3, 1, 2) / 255
        first = backend.to_numpy(still.first_flips)
        mirrored = np.where(first[y.numpy()][:, None, None, None] ^ (still.epoch == 2),
                            plain[..., ::-1], plain)
        np.testing.assert_allclose(x.numpy(), mirrored, atol=1e-6)


@pytest.mark.filterwarnings("ignore:cupyx.allow_synchronize:UserWarning")  # (deprecated in CuPy)
def test_alternating_flip_epochs_read_nothing_back_from_the_device(device):
    if device == "cpu":
        pytest.skip("the CPU has no device-to-host transfers")
    images = np.random.default_rng(0).integers(0, 256, (30, 8, 8, 3), dtype=np.uint8)
    loader = AlternatingFlipLoader(images, np.zeros(30, np.int64), batch_size=8, shuffle=True,
                                   augment=True, padding=2, device=device)
    with backend._cupyx.allow_synchronize(False):
        for _ in range(2):
            assert [len(y) for _, y in loader] == [8, 8, 8, 6]


def test_alternating_flip_loader_needs_augment():
    with pytest.raises(ValueError, match="augment=True"):
        AlternatingFlipLoader(np.zeros((4, 8, 8, 3), np.uint8), np.zeros(4, np.int64))


# ------------------------------------------------------------------ SGDW
def test_sgdw_decays_the_weights_outside_the_momentum():
    """Two steps of the equations in SGDW's docstring, by hand (Nesterov, lr 0.1, wd 0.5)."""
    p = minigrad.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = optim.SGDW([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.5)
    theta, b = np.array([1.0, -2.0]), None
    for g in (np.array([0.3, 0.1]), np.array([-0.2, 0.4])):
        p.grad = minigrad.Tensor(g.copy())
        opt.step()
        theta = theta * (1 - 0.1 * 0.5)
        b = g.copy() if b is None else 0.9 * b + g
        theta = theta - 0.1 * (g + 0.9 * b)
        np.testing.assert_allclose(p.numpy(), theta, rtol=1e-12)


def test_sgdw_without_decay_is_sgd():
    a, b = (minigrad.Tensor(np.array([1.0, 2.0]), requires_grad=True) for _ in range(2))
    sgd, sgdw = optim.SGD([a], lr=0.1, momentum=0.9), optim.SGDW([b], lr=0.1, momentum=0.9)
    for g in ([0.5, -1.0], [0.25, 0.5]):
        a.grad, b.grad = minigrad.Tensor(np.array(g)), minigrad.Tensor(np.array(g))
        sgd.step()
        sgdw.step()
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-14)


# ------------------------------------------------------------------ lookahead as an EMA
def test_lookahead_sync_is_an_ema_step_with_decay_one_minus_alpha():
    """airbench's EMA every k steps (ema <- decay * ema + (1 - decay) * w; w <- ema) is
    Lookahead with alpha = 1 - decay, and alpha may change between syncs."""
    p = minigrad.Tensor(np.array([0.0, 1.0]), requires_grad=True)
    opt = optim.Lookahead(optim.SGD([p], lr=0.5), k=2, alpha=1.0)
    ema, w = np.array([0.0, 1.0]), np.array([0.0, 1.0])
    for step, decay in enumerate([0.0, 0.0, 0.3, 0.3, 0.7, 0.7]):
        g = np.array([1.0, -1.0]) * (step + 1)
        p.grad = minigrad.Tensor(g)
        opt.alpha = 1.0 - decay
        opt.step()
        w = w - 0.5 * g
        if step % 2 == 1:
            ema = decay * ema + (1 - decay) * w
            w = ema.copy()
        np.testing.assert_allclose(p.numpy(), w, rtol=1e-12)


def test_recipe_lookahead_alpha_schedule():
    import sys
    sys.path.insert(0, "examples")
    from _speedrun_recipe import lookahead_alpha
    assert lookahead_alpha(0, 100) == 1.0
    np.testing.assert_allclose(lookahead_alpha(100, 100), 1 - 0.95 ** 5)
    np.testing.assert_allclose(lookahead_alpha(50, 100), 1 - 0.95 ** 5 / 8)


def test_recipe_trains_the_first_epochs_on_small_crops():
    """RecipeSteps sets the loader's crop before each epoch's batches are drawn: 3/4 of the
    side for the first 40% of the epochs (24x24 of 32x32), then whole images."""
    import sys
    sys.path.insert(0, "examples")
    from _speedrun_net import SpeedrunNet
    from _speedrun_recipe import RecipeSteps, small_crop_epochs
    assert small_crop_epochs(14, True) == 6 and small_crop_epochs(10, True) == 4
    assert small_crop_epochs(14, False) == 0
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    loader = AlternatingFlipLoader(images, np.arange(8), batch_size=8, augment=True, padding=2,
                                   padding_mode="reflect")
    steps = RecipeSteps(SpeedrunNet((4, 4, 4)), None, total=100, loader=loader, small_epochs=2)
    sizes = []
    for epoch in range(4):
        steps.on_epoch_begin(None, epoch)
        sizes.append(next(iter(loader))[0].shape[2:])
    assert sizes == [(24, 24), (24, 24), (32, 32), (32, 32)]


# ------------------------------------------------------------------ test-time augmentation
def test_shift_moves_the_image_and_fills_with_zeros():
    x = minigrad.Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    down = shift(x, 1).numpy()[0, 0]
    np.testing.assert_array_equal(down[1:, 1:], x.numpy()[0, 0, :3, :3])
    np.testing.assert_array_equal(down[0], 0)
    np.testing.assert_array_equal(down[:, 0], 0)
    np.testing.assert_array_equal(shift(x, -1).numpy()[0, 0, :3, :3], x.numpy()[0, 0, 1:, 1:])


def test_shift_can_fill_by_reflection():
    x = minigrad.Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    image = x.numpy()[0, 0]
    down = shift(x, 1, padding_mode="reflect").numpy()[0, 0]
    np.testing.assert_array_equal(down[1:, 1:], image[:3, :3])
    np.testing.assert_array_equal(down[0, 1:], image[1, :3])   # row -1 mirrors row 1
    np.testing.assert_array_equal(down[1:, 0], image[:3, 1])   # column -1 mirrors column 1
    assert down[0, 0] == image[1, 1]
    up = shift(x, -1, padding_mode="reflect").numpy()[0, 0]
    np.testing.assert_array_equal(up[3, :3], image[2, 1:])     # row 4 mirrors row 2


def test_tta_views_weights_add_up_to_one():
    x = minigrad.randn(2, 3, 8, 8)
    for options, count in [(dict(), 2), (dict(flip=False), 1), (dict(translate=1), 6),
                           (dict(translate=2, flip=False), 3)]:
        views = tta_views(x, **options)
        assert len(views) == count
        np.testing.assert_allclose(sum(w for _, w in views), 1.0)


def test_tta_predict_is_the_weighted_mean_of_the_views_logits(device):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    model = model.to(device)
    x = minigrad.randn(3, 3, 8, 8).to(device)
    x_np = x.numpy()

    def logits(images):
        return model(minigrad.Tensor(np.ascontiguousarray(images)).to(device)).numpy()

    padded = np.pad(x_np, ((0, 0), (0, 0), (1, 1), (1, 1)))
    down, up = padded[:, :, :8, :8], padded[:, :, 2:, 2:]
    expected = (0.25 * (logits(x_np) + logits(x_np[..., ::-1]))
                + 0.125 * (logits(down) + logits(up) + logits(down[..., ::-1]) + logits(up[..., ::-1])))
    got = tta_predict(model, x, flip=True, translate=1, translate_weight=0.5)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert not got.requires_grad


def test_tta_accuracy_counts_correct_averaged_predictions():
    """A model that scores class = (the image is brighter on its left half), mirrored views vote
    the other way: with flip TTA the averaged logits tie towards class 0's bias."""
    images = np.zeros((4, 4, 4, 1), np.uint8)
    images[:2, :, :2] = 255  # bright left half: class 1 without TTA
    labels = np.array([1, 1, 0, 0])
    loader = DeviceLoader(images, labels, batch_size=3, layout="NHWC")

    def model(x):  # logits (N, 2): [0.1, left - right]
        left, right = x[:, :, :, :2].sum(axis=(1, 2, 3)), x[:, :, :, 2:].sum(axis=(1, 2, 3))
        diff = (left - right).reshape(-1, 1)
        return minigrad.cat([minigrad.full((x.shape[0], 1), 0.1), diff], axis=1)

    assert tta_accuracy(model, loader, flip=False) == 1.0
    assert tta_accuracy(model, loader, flip=True) == 0.5  # left-right cancels: class 0 always
