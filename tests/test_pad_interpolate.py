"""F.pad (PyTorch's pad tuple, four modes, negative amounts) and F.interpolate
(every mode, area and antialias included) / nn.Upsample: forward against
NumPy references and hand-computed values, backward against the reference's
adjoint, gradcheck and gradgradcheck in float64 on every device, PyTorch as an
optional oracle, and the errors."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn

NUMPY_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


# ----------------------------------------------------------------------------- pad reference
def ref_pad(x, pad, mode, value=0.0):
    """PyTorch's pad written with np.pad, one dim at a time (last dim first).
    Negative amounts crop: circular crops before wrapping around what is left;
    the other modes pad the whole dim, then crop (the same for constant)."""
    for d in range(len(pad) // 2):
        axis, (before, after) = x.ndim - 1 - d, pad[2 * d:2 * d + 2]
        crop_b, crop_a = max(-before, 0), max(-after, 0)
        grow = [(0, 0)] * x.ndim
        grow[axis] = (max(before, 0), max(after, 0))
        kwargs = {"constant_values": value} if mode == "constant" else {}
        if mode == "circular":
            x = np.take(x, range(crop_b, x.shape[axis] - crop_a), axis=axis)
            x = np.pad(x, grow, mode=NUMPY_MODE[mode], **kwargs)
        else:
            x = np.pad(x, grow, mode=NUMPY_MODE[mode], **kwargs)
            x = np.take(x, range(crop_b, x.shape[axis] - crop_a), axis=axis)
    return x


def ref_pad_grad(shape, pad, mode, gy):
    """The adjoint of ref_pad: pad the positions 0..size-1 (and -1 for the
    constant border), then add each output's gradient onto its source."""
    source = ref_pad(np.arange(np.prod(shape)).reshape(shape), pad, mode, value=-1).ravel()
    copied = source >= 0
    return np.bincount(source[copied], gy.ravel()[copied], minlength=np.prod(shape)).reshape(shape)


PAD_CASES = [  # (shape, pad): 1, 2 and 3 padded dims, batched and not, asymmetric, negative
    ((2, 3, 5), (2, 1)),
    ((3, 5), (0, 4)),
    ((2, 3, 5), (-1, 3)),
    ((2, 3, 4, 5), (1, 2, 3, 0)),
    ((3, 4, 5), (-2, 1, 2, -1)),
    ((1, 2, 3, 4, 5), (1, 1, 2, 0, 0, 2)),
    ((2, 3, 4, 5), (-1, 2, 1, -2, 1, 1)),
]
MODES = ["constant", "reflect", "replicate", "circular"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape, pad", PAD_CASES)
def test_pad_forward_and_backward_match_numpy(shape, pad, mode, device):
    rng = np.random.default_rng(0)
    xn = rng.standard_normal(shape)
    x = minigrad.tensor(xn, requires_grad=True, device=device)
    kwargs = {"value": 0.5} if mode == "constant" else {}
    y = F.pad(x, pad, mode=mode, **kwargs)
    expected = ref_pad(xn, pad, mode, **kwargs)
    assert y.shape == expected.shape and y.device == x.device
    np.testing.assert_array_equal(y.numpy(), expected)  # copies only: exact
    gy = rng.standard_normal(expected.shape)
    y.backward(minigrad.tensor(gy, device=device))
    np.testing.assert_allclose(x.grad.numpy(), ref_pad_grad(shape, pad, mode, gy), rtol=1e-12,
                               atol=1e-12)


def test_pad_modes_by_hand():
    x = minigrad.tensor([[0.0, 1.0, 2.0, 3.0]])
    assert F.pad(x, (2, 2), value=9).numpy().tolist() == [[9, 9, 0, 1, 2, 3, 9, 9]]
    assert F.pad(x, (2, 2), mode="reflect").numpy().tolist() == [[2, 1, 0, 1, 2, 3, 2, 1]]
    assert F.pad(x, (2, 2), mode="replicate").numpy().tolist() == [[0, 0, 0, 1, 2, 3, 3, 3]]
    assert F.pad(x, (2, 2), mode="circular").numpy().tolist() == [[2, 3, 0, 1, 2, 3, 0, 1]]
    assert F.pad(x, (-1, 2), mode="reflect").numpy().tolist() == [[1, 2, 3, 2, 1]]
    assert F.pad(x, (-1, 2), mode="circular").numpy().tolist() == [[1, 2, 3, 1, 2]]
    assert F.pad(x, (-1, -2)).numpy().tolist() == [[1]]


def test_replicate_edge_collects_the_gradient_of_every_copy():
    x = minigrad.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    F.pad(x, (3, 2), mode="replicate").backward(minigrad.tensor([[1.0, 2.0, 4.0, 8.0, 16.0, 32.0,
                                                                    64.0, 128.0]]))
    assert x.grad.numpy().tolist() == [[1 + 2 + 4 + 8, 16, 32 + 64 + 128]]


@pytest.mark.parametrize("mode", MODES)
def test_pad_gradcheck_and_gradgradcheck(mode, device):
    x = minigrad.tensor(np.random.default_rng(1).standard_normal((1, 2, 3, 4)), requires_grad=True,
                        device=device)
    fn = lambda x: F.pad(x, (2, -1, 1, 2), mode=mode)
    assert minigrad.gradcheck(fn, (x,))
    assert minigrad.gradgradcheck(fn, (x,))


def test_pad_keeps_numpy_style_widths():
    """The older form: one (before, after) pair per dim from the first, value third."""
    xn = np.arange(6.0).reshape(2, 3)
    x = minigrad.tensor(xn)
    np.testing.assert_array_equal(F.pad(x, ((1, 0), (2, 1)), value=0.5).numpy(),
                                  np.pad(xn, ((1, 0), (2, 1)), constant_values=0.5))
    np.testing.assert_array_equal(F.pad(x, ((1, 0), (0, 1)), 7.0).numpy(),
                                  np.pad(xn, ((1, 0), (0, 1)), constant_values=7.0))
    np.testing.assert_array_equal(x.pad(((0, 0), (1, 1))).numpy(), np.pad(xn, ((0, 0), (1, 1))))
    np.testing.assert_array_equal(F.pad(x, (1, 0), 7.0).numpy(),  # a flat tuple is PyTorch's
                                  np.pad(xn, ((0, 0), (1, 0)), constant_values=7.0))
    with pytest.raises(TypeError, match="hold ints"):
        F.pad(x, (1.5, 1))


@pytest.mark.parametrize("pad, mode, kwargs, error, words", [
    ((1, 2, 3), "constant", {}, RuntimeError, "odd length"),
    ((1,) * 8, "constant", {}, RuntimeError, "only 3"),
    ((1, 1), "wrap", {}, NotImplementedError, "unknown mode"),
    ((5, 0), "reflect", {}, RuntimeError, "smaller than its size 5"),
    ((0, 6), "circular", {}, RuntimeError, "wrap around more than once"),
    ((1, 1), "reflect", {"value": 2.0}, RuntimeError, "takes no value"),
    ((-4, -3), "constant", {}, RuntimeError, "more than the whole"),
    ((1, 1, 1, 1, 1, 1), "replicate", {}, NotImplementedError, "4-d or 5-d input"),
    (((0, 0), (0, 0), (1, 1)), "reflect", {}, ValueError, "flat tuple"),
])
def test_pad_errors(pad, mode, kwargs, error, words):
    x = minigrad.zeros(2, 3, 5)
    with pytest.raises(error, match=words):
        F.pad(x, pad, mode=mode, **kwargs)


def test_pad_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    for mode in MODES:
        for shape in [(2, 5), (2, 3, 5), (2, 5, 4), (2, 3, 5, 4), (2, 5, 4, 6), (2, 3, 5, 4, 6)]:
            dims = 1 + (len(shape) >= 4) + (len(shape) == 5) if mode != "constant" else len(shape) - 1
            pad = []
            for d in range(dims):  # within every mode's limits, crops included
                n = shape[-1 - d]
                low, high = (-((n - 1) // 2), n) if mode != "circular" else (-1, n // 2 + 1)
                pad += [int(v) for v in rng.integers(low, high, size=2)]
            xn = rng.standard_normal(shape)
            xt = torch.tensor(xn, requires_grad=True)
            yt = torch.nn.functional.pad(xt, tuple(pad), mode=mode)
            gy = rng.standard_normal(tuple(yt.shape))
            yt.backward(torch.tensor(gy))
            x = minigrad.tensor(xn, requires_grad=True)
            y = F.pad(x, tuple(pad), mode=mode)
            y.backward(minigrad.tensor(gy))
            np.testing.assert_array_equal(y.numpy(), yt.detach().numpy(), err_msg=f"{mode} {pad}")
            np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- interpolate
def test_interpolate_by_hand():
    x = minigrad.tensor([[[0.0, 1.0, 2.0]]])
    np.testing.assert_allclose(F.interpolate(x, size=5, mode="linear", align_corners=True).numpy(),
                               [[[0, 0.5, 1, 1.5, 2]]], rtol=1e-6, atol=1e-6)
    # align_corners=False: output o samples (o + 0.5) * 3/6 - 0.5, clamped at 0
    np.testing.assert_allclose(F.interpolate(x, scale_factor=2, mode="linear").numpy(),
                               [[[0, 0.25, 0.75, 1.25, 1.75, 2]]], rtol=1e-6, atol=1e-6)
    assert F.interpolate(x, scale_factor=2).numpy().tolist() == [[[0, 0, 1, 1, 2, 2]]]
    assert F.interpolate(x, size=2).numpy().tolist() == [[[0, 1]]]            # floor(o * 1.5)
    assert F.interpolate(x, size=2, mode="nearest-exact").numpy().tolist() == [[[0, 2]]]  # floor((o+.5)*1.5)


@pytest.mark.parametrize("mode, dims", [("nearest", 1), ("nearest", 2), ("nearest-exact", 3),
                                        ("linear", 1), ("bilinear", 2), ("bicubic", 2),
                                        ("trilinear", 3)])
@pytest.mark.parametrize("align_corners", [False, True])
def test_interpolate_keeps_constants(mode, dims, align_corners, device):
    """Every mode's weights sum to 1 (bicubic's too, with its border clamp)."""
    if align_corners and mode.startswith("nearest"):
        return
    x = minigrad.full((2, 3) + (4, 5, 3)[:dims], 1.5, device=device)
    y = F.interpolate(x, size=(7, 3, 6)[:dims], mode=mode,
                      align_corners=None if mode.startswith("nearest") else align_corners)
    np.testing.assert_allclose(y.numpy(), 1.5, rtol=1e-6)


def test_area_and_antialias_by_hand(device):
    """area: output o is the mean of inputs floor(o * n / m) .. ceil((o + 1) * n / m) - 1.
    antialias, bilinear, shrinking by 2: the triangle stretched to 2 samples each side
    weighs samples 2o - 1 .. 2o + 2 by (1, 3, 3, 1) / 8; at the border the weights
    that fall outside are dropped and the rest renormalised: (3, 3, 1) / 7."""
    ramp = minigrad.tensor(np.arange(6.0).reshape(1, 1, 6), device=device)
    np.testing.assert_allclose(F.interpolate(ramp, size=4, mode="area").numpy(),
                               [[[0.5, 1.5, 3.5, 4.5]]], rtol=1e-12)
    np.testing.assert_allclose(F.interpolate(ramp, size=2, mode="area").numpy(), [[[1, 4]]],
                               rtol=1e-12)
    row = minigrad.tensor(np.arange(8.0).reshape(1, 1, 1, 8), device=device)
    np.testing.assert_allclose(F.interpolate(row, size=(1, 4), mode="bilinear", antialias=True).numpy(),
                               [[[[5 / 7, 20 / 8, 36 / 8, 44 / 7]]]], rtol=1e-12)
    # every row of antialiased weights sums to 1 (bicubic's too), up or down
    flat = minigrad.tensor(np.full((1, 2, 7, 5), 1.5), device=device)
    for mode in ("bilinear", "bicubic"):
        y = F.interpolate(flat, size=(3, 9), mode=mode, antialias=True)
        np.testing.assert_allclose(y.numpy(), 1.5, rtol=1e-12)


def test_bicubic_reproduces_a_ramp_away_from_the_border():
    """Keys' kernel is exact on linear functions once all four taps are inside."""
    ramp = np.add.outer(np.arange(6.0), 2 * np.arange(6.0))[None, None]            # (1, 1, 6, 6)
    y = F.interpolate(minigrad.tensor(ramp), size=(11, 11), mode="bicubic", align_corners=True)
    exact = np.add.outer(np.arange(11) / 2, np.arange(11))                       # src = o / 2
    np.testing.assert_allclose(y.numpy()[0, 0, 2:-2, 2:-2], exact[2:-2, 2:-2], rtol=1e-12, atol=1e-12)


INTERP_CASES = [  # (mode, input spatial size, size, scale_factor, align_corners, recompute,
    # antialias)
    ("nearest", (5,), (8,), None, None, None, False),
    ("nearest", (4, 5), None, (1.7, 0.6), None, None, False),
    ("nearest-exact", (5, 3), (3, 7), None, None, None, False),
    ("nearest", (3, 4, 2), None, 2.0, None, None, False),
    ("linear", (5,), (9,), None, True, None, False),
    ("linear", (6,), None, 1.3, False, None, False),
    ("bilinear", (4, 5), (7, 3), None, False, None, False),
    ("bilinear", (4, 5), None, (1.5, 2.3), False, True, False),
    ("bilinear", (4, 5), None, (2.5, 0.7), True, None, False),
    ("bicubic", (5, 4), (9, 7), None, False, None, False),
    ("bicubic", (5, 4), None, (1.6, 1.9), True, None, False),
    ("trilinear", (3, 4, 2), (5, 3, 4), None, False, None, False),
    ("trilinear", (3, 4, 2), None, (1.5, 0.8, 2.2), True, None, False),
    ("area", (7,), (3,), None, None, None, False),
    ("area", (6, 9), None, (0.7, 0.5), None, None, False),
    ("area", (3, 5, 2), (2, 3, 3), None, None, None, False),
    ("bilinear", (7, 5), (3, 2), None, False, None, True),
    ("bilinear", (5, 6), None, (0.45, 1.5), True, None, True),
    ("bicubic", (7, 4), (3, 4), None, False, None, True),
    ("bicubic", (6, 6), None, (0.5, 0.5), False, None, True),
    ("bicubic", (4, 5), (7, 3), None, True, None, True),
]


def _interpolate(x, case):
    mode, _, size, scale, align, recompute, antialias = case
    return F.interpolate(x, size=size, scale_factor=scale, mode=mode, align_corners=align,
                         recompute_scale_factor=recompute, antialias=antialias)


@pytest.mark.parametrize("case", INTERP_CASES, ids=lambda c: f"{c[0]}-{c[1]}{'-aa' * c[6]}")
def test_interpolate_gradcheck_and_gradgradcheck(case, device):
    x = minigrad.tensor(np.random.default_rng(3).standard_normal((1, 1) + case[1]),
                        requires_grad=True, device=device)
    assert minigrad.gradcheck(lambda x: _interpolate(x, case), (x,))
    assert minigrad.gradgradcheck(lambda x: _interpolate(x, case), (x,))


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_interpolate_matches_pytorch(dtype, tol):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    for case in INTERP_CASES:
        mode, in_size, size, scale, align, recompute, antialias = case
        xn = rng.standard_normal((2, 3) + in_size).astype(dtype)
        xt = torch.tensor(xn, requires_grad=True)
        yt = torch.nn.functional.interpolate(xt, size=size, scale_factor=scale, mode=mode,
                                             align_corners=align, recompute_scale_factor=recompute,
                                             antialias=antialias)
        gy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
        yt.backward(torch.tensor(gy))
        x = minigrad.tensor(xn, requires_grad=True)
        y = _interpolate(x, case)
        y.backward(minigrad.tensor(gy))
        assert y.dtype == dtype
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=tol, atol=tol,
                                   err_msg=str(case))
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=10 * tol, atol=10 * tol,
                                   err_msg=str(case))


@pytest.mark.parametrize("shape, kwargs, error, words", [
    ((1, 1, 4), {"size": 8, "scale_factor": 2}, ValueError, "exactly one"),
    ((1, 1, 4), {}, ValueError, "exactly one"),
    ((1, 1, 4), {"size": 8, "align_corners": True}, ValueError, "align_corners"),
    ((1, 1, 4), {"size": 8, "mode": "bilinear"}, NotImplementedError, "4-d input"),
    ((1, 4), {"size": 8}, ValueError, "3-d, 4-d or 5-d"),
    ((1, 1, 4, 4), {"size": (8, 8, 8)}, ValueError, "2 spatial dims"),
    ((1, 1, 4), {"size": 8, "recompute_scale_factor": True}, ValueError, "recompute_scale_factor"),
    ((1, 1, 4), {"scale_factor": 0.2}, RuntimeError, "must be positive"),
    ((1, 1, 4), {"size": 8, "mode": "lanczos"}, NotImplementedError, "unknown mode"),
    ((1, 1, 4), {"size": 2, "antialias": True}, ValueError, "antialias=True applies to modes"),
    ((1, 1, 4, 4), {"size": 2, "mode": "area", "align_corners": False}, ValueError, "align_corners"),
])
def test_interpolate_errors(shape, kwargs, error, words):
    with pytest.raises(error, match=words):
        F.interpolate(minigrad.zeros(*shape), **kwargs)


def test_interpolate_integer_input():
    x = minigrad.tensor(np.arange(4).reshape(1, 1, 4))
    assert F.interpolate(x, scale_factor=2).numpy().tolist() == [[[0, 0, 1, 1, 2, 2, 3, 3]]]
    for mode in ("linear", "area"):
        with pytest.raises(TypeError, match="floating-point"):
            F.interpolate(x, scale_factor=2, mode=mode)


def test_upsample_modules():
    x = minigrad.tensor(np.random.default_rng(5).standard_normal((2, 3, 4, 5)))
    layer = nn.Upsample(scale_factor=2, mode="bilinear")
    np.testing.assert_array_equal(layer(x).numpy(),
                                  F.interpolate(x, scale_factor=2, mode="bilinear").numpy())
    assert "scale_factor=2" in repr(layer) and "bilinear" in repr(layer)
    np.testing.assert_array_equal(nn.UpsamplingNearest2d(size=(6, 7))(x).numpy(),
                                  F.interpolate(x, size=(6, 7)).numpy())
    np.testing.assert_array_equal(nn.UpsamplingBilinear2d(scale_factor=3)(x).numpy(),
                                  F.interpolate(x, scale_factor=3, mode="bilinear",
                                                align_corners=True).numpy())
    assert not list(layer.parameters())
