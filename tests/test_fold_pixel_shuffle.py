"""F.unfold / F.fold (im2col and col2im) and F.pixel_shuffle / pixel_unshuffle,
with their nn modules: forward against loops written from the definitions,
unfold and fold adjoint to each other, gradcheck and gradgradcheck in float64
on every device, PyTorch as an optional oracle, and the errors."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def ref_unfold(x, kernel, dilation, padding, stride):
    """cols[n, (c, i, j), oh*OW + ow] = x_pad[n, c, oh*SH + i*DH, ow*SW + j*DW], by loops."""
    (KH, KW), (DH, DW), (PH, PW), (SH, SW) = map(_pair, (kernel, dilation, padding, stride))
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    OH = (H + 2 * PH - DH * (KH - 1) - 1) // SH + 1
    OW = (W + 2 * PW - DW * (KW - 1) - 1) // SW + 1
    cols = np.zeros((N, C * KH * KW, OH * OW))
    for c in range(C):
        for i in range(KH):
            for j in range(KW):
                for oh in range(OH):
                    for ow in range(OW):
                        cols[:, (c * KH + i) * KW + j, oh * OW + ow] = \
                            xp[:, c, oh * SH + i * DH, ow * SW + j * DW]
    return cols


GEOMETRIES = [  # (input shape, kernel, dilation, padding, stride)
    ((2, 3, 5, 6), 3, 1, 0, 1),
    ((2, 2, 7, 6), (2, 3), (2, 1), (1, 2), (2, 1)),
    ((1, 2, 4, 6), 2, 1, 0, 2),           # non-overlapping blocks
    ((1, 1, 5, 5), 1, 1, 1, 3),
]


@pytest.mark.parametrize("shape, kernel, dilation, padding, stride", GEOMETRIES)
def test_unfold_matches_loops_and_fold_is_its_adjoint(shape, kernel, dilation, padding, stride, device):
    rng = np.random.default_rng(0)
    xn = rng.standard_normal(shape)
    x = minigrad.tensor(xn, device=device)
    cols = F.unfold(x, kernel, dilation, padding, stride)
    expected = ref_unfold(xn, kernel, dilation, padding, stride)
    np.testing.assert_array_equal(cols.numpy(), expected)  # copies only: exact
    # <unfold(x), c> = <x, fold(c)> for any c: fold adds each entry back where it came from
    cn = rng.standard_normal(expected.shape)
    folded = F.fold(minigrad.tensor(cn, device=device), shape[2:], kernel, dilation, padding, stride)
    assert folded.shape == shape
    np.testing.assert_allclose(np.vdot(expected, cn), np.vdot(xn, folded.numpy()), rtol=1e-12)


def test_fold_undoes_unfold_when_blocks_do_not_overlap():
    x = minigrad.tensor(np.random.default_rng(1).standard_normal((2, 3, 4, 6)))
    back = F.fold(F.unfold(x, (2, 3), stride=(2, 3)), (4, 6), (2, 3), stride=(2, 3))
    np.testing.assert_array_equal(back.numpy(), x.numpy())


def test_fold_sums_overlapping_blocks():
    """fold(unfold(ones)) counts the blocks that cover each pixel."""
    counts = F.fold(F.unfold(minigrad.ones(1, 1, 3, 4), 2), (3, 4), 2).numpy()[0, 0]
    np.testing.assert_array_equal(counts, [[1, 2, 2, 1], [2, 4, 4, 2], [1, 2, 2, 1]])


@pytest.mark.parametrize("shape, kernel, dilation, padding, stride", GEOMETRIES[:2])
def test_unfold_fold_gradcheck_and_gradgradcheck(shape, kernel, dilation, padding, stride, device):
    rng = np.random.default_rng(2)
    x = minigrad.tensor(rng.standard_normal((1, 1) + shape[2:]), requires_grad=True, device=device)
    unfold = lambda x: F.unfold(x, kernel, dilation, padding, stride)
    assert minigrad.gradcheck(unfold, (x,))
    assert minigrad.gradgradcheck(unfold, (x,))
    cols = minigrad.tensor(rng.standard_normal(unfold(x).shape), requires_grad=True, device=device)
    fold = lambda c: F.fold(c, shape[2:], kernel, dilation, padding, stride)
    assert minigrad.gradcheck(fold, (cols,))
    assert minigrad.gradgradcheck(fold, (cols,))


def test_unbatched_unfold_and_fold():
    xn = np.random.default_rng(3).standard_normal((2, 4, 5))
    cols = F.unfold(minigrad.tensor(xn), 2, padding=1)
    np.testing.assert_array_equal(cols.numpy(), ref_unfold(xn[None], 2, 1, 1, 1)[0])
    assert F.fold(cols, (4, 5), 2, padding=1).shape == (2, 4, 5)


def test_unfold_fold_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    for shape, kernel, dilation, padding, stride in GEOMETRIES:
        xn = rng.standard_normal(shape)
        xt = torch.tensor(xn, requires_grad=True)
        yt = torch.nn.functional.unfold(xt, kernel, dilation, padding, stride)
        gy = rng.standard_normal(tuple(yt.shape))
        yt.backward(torch.tensor(gy))
        x = minigrad.tensor(xn, requires_grad=True)
        y = F.unfold(x, kernel, dilation, padding, stride)
        y.backward(minigrad.tensor(gy))
        np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)
        ct = torch.tensor(gy, requires_grad=True)
        zt = torch.nn.functional.fold(ct, shape[2:], kernel, dilation, padding, stride)
        gz = rng.standard_normal(shape)
        zt.backward(torch.tensor(gz))
        c = minigrad.tensor(gy, requires_grad=True)
        z = F.fold(c, shape[2:], kernel, dilation, padding, stride)
        z.backward(minigrad.tensor(gz))
        np.testing.assert_allclose(z.numpy(), zt.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(c.grad.numpy(), ct.grad.numpy())


@pytest.mark.parametrize("call, error, words", [
    (lambda: F.unfold(minigrad.zeros(2, 3, 4, 4, 4), 2), ValueError, "4-d input"),
    (lambda: F.unfold(minigrad.zeros(1, 1, 3, 3), 4), ValueError, "larger than the input"),
    (lambda: F.unfold(minigrad.zeros(1, 1, 3, 3), 2, stride=0), ValueError, "stride"),
    (lambda: F.fold(minigrad.zeros(1, 4, 5), (3, 3), 2), RuntimeError, "blocks"),
    (lambda: F.fold(minigrad.zeros(1, 6, 4), (3, 3), 2), RuntimeError, "multiple of"),
    (lambda: F.fold(minigrad.zeros(4, 4), 3, (2, 2, 2)), ValueError, "kernel_size"),
])
def test_unfold_fold_errors(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_unfold_fold_modules():
    x = minigrad.tensor(np.random.default_rng(5).standard_normal((2, 3, 5, 6)))
    unfold, fold = nn.Unfold(3, padding=1), nn.Fold((5, 6), 3, padding=1)
    np.testing.assert_array_equal(unfold(x).numpy(), F.unfold(x, 3, padding=1).numpy())
    np.testing.assert_array_equal(fold(unfold(x)).numpy(),
                                  F.fold(F.unfold(x, 3, padding=1), (5, 6), 3, padding=1).numpy())
    assert "kernel_size=3" in repr(unfold) and "output_size=(5, 6)" in repr(fold)


# ----------------------------------------------------------------------------- pixel shuffle
@pytest.mark.parametrize("shape, r", [((2, 8, 3, 2), 2), ((12, 2, 3), 2), ((2, 1, 9, 2, 3), 3)])
def test_pixel_shuffle_matches_its_definition(shape, r, device):
    """y[..., c, h*r + i, w*r + j] = x[..., c*r*r + i*r + j, h, w], and unshuffle undoes it."""
    xn = np.random.default_rng(6).standard_normal(shape)
    y = F.pixel_shuffle(minigrad.tensor(xn, device=device), r).numpy()
    *batch, C, H, W = shape
    assert y.shape == (*batch, C // (r * r), H * r, W * r)
    for c in range(C // (r * r)):
        for i in range(r):
            for j in range(r):
                np.testing.assert_array_equal(y[..., c, i::r, j::r], xn[..., c * r * r + i * r + j, :, :])
    back = F.pixel_unshuffle(minigrad.tensor(y, device=device), r)
    np.testing.assert_array_equal(back.numpy(), xn)


def test_pixel_shuffle_gradcheck_and_gradgradcheck(device):
    x = minigrad.tensor(np.random.default_rng(7).standard_normal((1, 4, 2, 3)), requires_grad=True,
                        device=device)
    assert minigrad.gradcheck(lambda x: F.pixel_shuffle(x, 2), (x,))
    assert minigrad.gradgradcheck(lambda x: F.pixel_unshuffle(x, 1), (x,))
    y = minigrad.tensor(np.random.default_rng(8).standard_normal((1, 1, 4, 6)), requires_grad=True,
                        device=device)
    assert minigrad.gradcheck(lambda y: F.pixel_unshuffle(y, 2), (y,))
    assert minigrad.gradgradcheck(lambda y: F.pixel_unshuffle(y, 2), (y,))


def test_pixel_shuffle_matches_pytorch():
    torch = pytest.importorskip("torch")
    xn = np.random.default_rng(9).standard_normal((2, 18, 3, 4))
    np.testing.assert_array_equal(F.pixel_shuffle(minigrad.tensor(xn), 3).numpy(),
                                  torch.nn.functional.pixel_shuffle(torch.tensor(xn), 3).numpy())
    np.testing.assert_array_equal(F.pixel_unshuffle(minigrad.tensor(xn), 1).numpy(), xn)
    yn = np.random.default_rng(10).standard_normal((2, 3, 6, 4))
    np.testing.assert_array_equal(F.pixel_unshuffle(minigrad.tensor(yn), 2).numpy(),
                                  torch.nn.functional.pixel_unshuffle(torch.tensor(yn), 2).numpy())


@pytest.mark.parametrize("call, error, words", [
    (lambda: F.pixel_shuffle(minigrad.zeros(1, 6, 2, 2), 2), RuntimeError, "divisible by"),
    (lambda: F.pixel_unshuffle(minigrad.zeros(1, 1, 5, 4), 2), RuntimeError, "divisible by"),
    (lambda: F.pixel_shuffle(minigrad.zeros(4, 2), 2), ValueError, "at least 3 dims"),
    (lambda: F.pixel_shuffle(minigrad.zeros(1, 4, 2, 2), 0), ValueError, "positive int"),
])
def test_pixel_shuffle_errors(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_pixel_shuffle_modules():
    x = minigrad.tensor(np.random.default_rng(11).standard_normal((2, 8, 3, 3)))
    shuffle, unshuffle = nn.PixelShuffle(2), nn.PixelUnshuffle(2)
    np.testing.assert_array_equal(unshuffle(shuffle(x)).numpy(), x.numpy())
    assert shuffle(x).shape == (2, 2, 6, 6)
    assert "upscale_factor=2" in repr(shuffle) and "downscale_factor=2" in repr(unshuffle)
