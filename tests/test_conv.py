"""conv2d and conv_transpose2d: forward vs naive NumPy loops, gradients vs finite
differences (first and second order), PyTorch as an optional oracle, errors."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad.ops import im2col as im2col_module


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def ref_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Direct definition, one output position at a time (written independently)."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    N, C, H, W = x.shape
    F_, Cg, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    OH = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    y = np.zeros((N, F_, OH, OW))
    for f in range(F_):
        group = f // (F_ // groups)
        xs = xp[:, group * Cg:(group + 1) * Cg]
        for oh in range(OH):
            for ow in range(OW):
                patch = xs[:, :, oh * sh:oh * sh + dh * (KH - 1) + 1:dh,
                           ow * sw:ow * sw + dw * (KW - 1) + 1:dw]   # (N, Cg, KH, KW)
                y[:, f, oh, ow] = (patch * w[f]).sum(axis=(1, 2, 3))
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def ref_conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                         dilation=1):
    """Every input value scatters w * value onto the output (written independently)."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    (oph, opw) = _pair(output_padding)
    N, C_in, H, W = x.shape
    _, Og, KH, KW = w.shape
    OH = (H - 1) * sh - 2 * ph + dh * (KH - 1) + oph + 1
    OW = (W - 1) * sw - 2 * pw + dw * (KW - 1) + opw + 1
    y = np.zeros((N, Og * groups, OH + 2 * ph + sh + dh * KH, OW + 2 * pw + sw + dw * KW))
    Cg = C_in // groups
    for c in range(C_in):
        group = c // Cg
        for h in range(H):
            for w_ in range(W):
                for i in range(KH):
                    for j in range(KW):
                        y[:, group * Og:(group + 1) * Og, h * sh + i * dh, w_ * sw + j * dw] += \
                            x[:, c, h, w_][:, None] * w[c, :, i, j][None, :]
    y = y[:, :, ph:ph + OH, pw:pw + OW]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def _tensors(rng, *shapes, dtype=np.float64, device="cpu"):
    return [minigrad.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True, device=device)
            for s in shapes]


# (N, C, H, W), (F, KH, KW), stride, padding, dilation, groups
CONV_CASES = [
    ((2, 3, 5, 6), (4, 3, 3), 1, 0, 1, 1),
    ((2, 2, 6, 5), (3, 2, 3), 2, 1, 1, 1),
    ((1, 4, 7, 7), (6, 3, 2), (2, 1), (1, 2), (2, 1), 2),    # everything asymmetric, grouped
    ((2, 4, 5, 5), (4, 3, 3), 1, 1, 1, 4),                   # depthwise
    ((2, 2, 4, 5), (5, 1, 1), 1, 1, 1, 1),                   # 1x1 kernel with padding
    ((1, 2, 6, 6), (6, 3, 3), 1, 0, 2, 1),                   # dilated; F >> C: col2im path
    ((1, 3, 4, 4), (2, 4, 4), 1, 0, 1, 1),                   # kernel as big as the input
]
CONV_IDS = [f"x{c[0]}-w{c[1]}-s{c[2]}-p{c[3]}-d{c[4]}-g{c[5]}" for c in CONV_CASES]


def _conv_inputs(case, rng, dtype=np.float64, device="cpu"):
    x_shape, (F_, KH, KW), stride, padding, dilation, groups = case
    C = x_shape[1]
    return _tensors(rng, x_shape, (F_, C // groups, KH, KW), (F_,), dtype=dtype, device=device)


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_forward_matches_loops(case, device):
    x, w, b = _conv_inputs(case, np.random.default_rng(0), device=device)
    _, _, stride, padding, dilation, groups = case
    y = F.conv2d(x, w, b, stride, padding, dilation, groups)
    expected = ref_conv2d(x.numpy(), w.numpy(), b.numpy(), stride, padding, dilation, groups)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_gradcheck_and_gradgradcheck(case, device):
    x, w, b = _conv_inputs(case, np.random.default_rng(1), device=device)
    _, _, stride, padding, dilation, groups = case

    def fn(x, w, b):
        return F.conv2d(x, w, b, stride, padding, dilation, groups)
    assert minigrad.gradcheck(fn, (x, w, b))
    if device == "cpu":  # cuda: second order in op_registry's few
        assert minigrad.gradgradcheck(fn, (x, w, b), fast_mode=True)


def test_conv2d_gradgradcheck_full_jacobian(device):
    """One case with the exact (not random-direction) second-order check."""
    rng = np.random.default_rng(2)
    x, w = _tensors(rng, (1, 2, 4, 4), (2, 1, 2, 2), device=device)
    assert minigrad.gradgradcheck(lambda x, w: F.conv2d(x, w, stride=1, padding=1, groups=2),
                                  (x, w))


# (N, C_in, H, W), (C_out/groups, KH, KW), stride, padding, output_padding, groups, dilation
TRANSPOSE_CASES = [
    ((2, 3, 3, 4), (2, 3, 3), 1, 0, 0, 1, 1),
    ((1, 2, 3, 3), (3, 3, 2), 2, 1, 1, 1, 1),
    ((2, 4, 2, 3), (1, 2, 3), (2, 3), (0, 1), (1, 2), 2, 1),
    ((1, 2, 3, 3), (2, 2, 2), 1, 1, 0, 1, 2),
]


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose2d_forward_and_gradients(case, device):
    x_shape, (Og, KH, KW), stride, padding, output_padding, groups, dilation = case
    rng = np.random.default_rng(3)
    x, w, b = _tensors(rng, x_shape, (x_shape[1], Og, KH, KW), (Og * groups,), device=device)

    def fn(x, w, b):
        return F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
    expected = ref_conv_transpose2d(x.numpy(), w.numpy(), b.numpy(), stride, padding,
                                    output_padding, groups, dilation)
    np.testing.assert_allclose(fn(x, w, b).numpy(), expected, rtol=1e-12, atol=1e-12)
    assert minigrad.gradcheck(fn, (x, w, b))
    if device == "cpu":  # cuda: second order in op_registry's few
        assert minigrad.gradgradcheck(fn, (x, w, b), fast_mode=True)


def test_conv_transpose2d_is_the_adjoint_of_conv2d(device):
    """<conv2d(x, w), y> == <x, conv_transpose2d(y, w)> for the same weight."""
    rng = np.random.default_rng(4)
    x, w, y = _tensors(rng, (2, 4, 7, 6), (6, 2, 3, 2), (2, 6, 4, 4), device=device)
    lhs = (F.conv2d(x, w, stride=2, padding=1, groups=2) * y).sum().item()
    rhs = (x * F.conv_transpose2d(y, w, stride=2, padding=1, groups=2)).sum().item()
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_many_chunks_give_the_same_result(monkeypatch):
    """On the CPU the batch is processed a few images at a time: force one
    image per chunk and compare forward and both gradients with one chunk."""
    rng = np.random.default_rng(5)
    x, w, b = _tensors(rng, (5, 3, 6, 6), (4, 3, 3, 3), (4,))
    gy = minigrad.tensor(rng.standard_normal((5, 4, 6, 6)))
    results = []
    for chunk_bytes in (1 << 30, 1):
        monkeypatch.setattr(im2col_module, "CHUNK_BYTES", chunk_bytes)
        for t in (x, w, b):
            t.grad = None
        y = F.conv2d(x, w, b, padding=1)
        y.backward(gy)
        results.append([y.numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()])
    for one, many in zip(*results):
        np.testing.assert_allclose(one, many, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_both_column_layouts_give_the_same_gradients(case, wide, monkeypatch):
    """Stride-1 convolutions may build their columns on the wide OH x WP grid
    (see im2col.py); force each layout and check values and both gradients."""
    from minigrad.ops import conv as conv_module
    monkeypatch.setattr(conv_module, "use_wide", lambda g, channels: wide and g.stride == (1, 1))
    x, w, b = _conv_inputs(case, np.random.default_rng(12))
    _, _, stride, padding, dilation, groups = case
    y = F.conv2d(x, w, b, stride, padding, dilation, groups)
    gy = np.random.default_rng(13).standard_normal(y.shape)
    y.backward(minigrad.tensor(gy))
    np.testing.assert_allclose(
        y.numpy(), ref_conv2d(x.numpy(), w.numpy(), b.numpy(), stride, padding, dilation, groups),
        rtol=1e-12, atol=1e-12)
    # The gradients are adjoints: <gy, conv(dx, w)> = <gx, dx>, <gy, conv(x, dw)> = <gw, dw>.
    rng = np.random.default_rng(14)
    dx, dw = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    conv = ref_conv2d
    assert (gy * conv(dx, w.numpy(), None, stride, padding, dilation, groups)).sum() == \
        pytest.approx((x.grad.numpy() * dx).sum(), rel=1e-10, abs=1e-10)
    assert (gy * conv(x.numpy(), dw, None, stride, padding, dilation, groups)).sum() == \
        pytest.approx((w.grad.numpy() * dw).sum(), rel=1e-10, abs=1e-10)


def test_float32_in_float32_out(device):
    rng = np.random.default_rng(6)
    x, w, b = _tensors(rng, (2, 3, 8, 8), (4, 3, 3, 3), (4,), dtype=np.float32, device=device)
    y = F.conv2d(x, w, b, padding=1)
    (y * y).sum().backward()
    assert y.dtype == np.float32 and y.device == x.device
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    expected = ref_conv2d(x.numpy().astype(np.float64), w.numpy().astype(np.float64),
                          b.numpy().astype(np.float64), padding=1)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_no_gradient_for_an_input_that_does_not_need_one(device):
    rng = np.random.default_rng(7)
    image = minigrad.tensor(rng.standard_normal((2, 3, 5, 5)), device=device)  # no requires_grad
    w, = _tensors(rng, (2, 3, 3, 3), device=device)
    F.conv2d(image, w).sum().backward()
    assert image.grad is None and w.grad is not None


# ----------------------------------------------------------- PyTorch oracle
@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    x, w, b = _conv_inputs(case, np.random.default_rng(8))
    _, _, stride, padding, dilation, groups = case
    y = F.conv2d(x, w, b, stride, padding, dilation, groups)
    gy = np.random.default_rng(9).standard_normal(y.shape)
    y.backward(minigrad.tensor(gy))
    tx, tw, tb = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride, padding, dilation, groups)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in [(x, tx), (w, tw), (b, tb)]:
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10,
                                   atol=1e-12)


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose2d_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    x_shape, (Og, KH, KW), stride, padding, output_padding, groups, dilation = case
    rng = np.random.default_rng(10)
    x, w, b = _tensors(rng, x_shape, (x_shape[1], Og, KH, KW), (Og * groups,))
    y = F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
    gy = rng.standard_normal(y.shape)
    y.backward(minigrad.tensor(gy))
    tx, tw, tb = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, w, b))
    ty = torch.nn.functional.conv_transpose2d(tx, tw, tb, stride, padding, output_padding,
                                              groups, dilation)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in [(x, tx), (w, tw), (b, tb)]:
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10,
                                   atol=1e-12)


def test_lenet_sized_conv_matches_pytorch_in_float32():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x, w, b = _tensors(rng, (16, 3, 32, 32), (6, 3, 5, 5), (6,), dtype=np.float32)
    y = F.conv2d(x, w, b)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(minigrad.tensor(gy))
    tx, tw, tb = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-2)


# ------------------------------------------------------------------- errors
def _t(*shape, dtype=np.float32):
    return minigrad.zeros(*shape, dtype=dtype)


@pytest.mark.parametrize("call, message", [
    (lambda: F.conv2d(_t(8, 8), _t(4, 3, 3, 3)),
     r"conv2d: expected a 4-D input \(N, C, H, W\) or an unbatched 3-D one \(C, H, W\), got"),
    (lambda: F.conv2d(_t(1, 3, 8, 8), _t(4, 3, 3)), r"conv2d: weight must be 4-D"),
    (lambda: F.conv2d(_t(1, 3, 8, 8), _t(4, 2, 3, 3)),
     r"conv2d: the input has 3 channels but weight \(4, 2, 3, 3\) expects"),
    (lambda: F.conv2d(_t(1, 4, 8, 8), _t(4, 4, 3, 3), groups=2),
     r"input has 4 channels.*4 \* 2 = 8.*\(out_channels, 2, KH, KW\)"),
    (lambda: F.conv2d(_t(1, 3, 8, 8), _t(4, 1, 3, 3), groups=3),
     r"conv2d: output channels \(4\) must be divisible by groups \(3\)"),
    (lambda: F.conv2d(_t(1, 3, 4, 4), _t(2, 3, 5, 5)),
     r"conv2d: kernel \(5, 5\) is larger than the input.*\(4, 4\)"),
    (lambda: F.conv2d(_t(1, 3, 6, 6), _t(2, 3, 3, 3), dilation=3),
     r"dilation \(3, 3\) \(extent \(7, 7\)\)"),
    (lambda: F.conv2d(_t(1, 3, 8, 8), _t(2, 3, 3, 3), stride=0),
     r"conv2d: stride must be at least 1"),
    (lambda: F.conv2d(_t(1, 3, 8, 8), _t(2, 3, 3, 3), padding=-1),
     r"padding must be non-negative"),
    (lambda: F.conv2d(_t(1, 3, 8, 8), _t(2, 3, 3, 3), stride=(1, 2, 3)),
     r"stride must be an int or a pair"),
    (lambda: F.conv2d(_t(1, 3, 8, 8), _t(2, 3, 3, 3), _t(3)), r"bias must have shape \(2,\)"),
    (lambda: F.conv2d(_t(1, 3, 8, 8), _t(2, 3, 3, 3, dtype=np.float64)),
     r"conv2d: dtypes differ \(input float32, weight float64\)"),
    (lambda: F.conv_transpose2d(_t(1, 3, 4, 4), _t(2, 3, 3, 3)),
     r"conv_transpose2d: the input has 3 channels but weight \(2, 3, 3, 3\) expects"),
    (lambda: F.conv_transpose2d(_t(1, 2, 4, 4), _t(2, 3, 3, 3), stride=2, output_padding=2),
     r"output_padding \(2, 2\) must be smaller than either stride"),
    (lambda: F.conv_transpose2d(_t(1, 2, 1, 1), _t(2, 3, 1, 1), padding=1),
     r"conv_transpose2d: .* gives an empty output"),
])
def test_errors_name_the_op_and_the_fix(call, message):
    with pytest.raises(ValueError, match=message):
        call()
