"""Every layer's forward against a NumPy reference written here, PyTorch's
default initialization, models whose weights are copied from PyTorch giving
PyTorch's outputs and gradients (optional oracle), and the input errors."""
import contextlib
import math
from collections import OrderedDict

import cupy_stand_in
import numpy as np
import pytest

import minigrad
import minigrad.nn as nn

RNG = np.random.default_rng(0)


def tensor(shape, dtype=np.float64, device="cpu"):
    """Random normal values, created on `device` (a layer and its input share one device)."""
    return minigrad.tensor(RNG.normal(size=shape).astype(dtype), device=device)


# --------------------------------------------------------------- NumPy references
def np_conv2d(x, w, b, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, _, h, wd = x.shape
    f, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out, fg = np.zeros((n, f, oh, ow)), f // groups
    for g in range(groups):
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                           j * sw:j * sw + dw * (kw - 1) + 1:dw]
                out[:, g * fg:(g + 1) * fg, i, j] = np.einsum("nckl,fckl->nf", patch,
                                                              w[g * fg:(g + 1) * fg])
    return out + (0 if b is None else b[None, :, None, None])


def np_conv_transpose2d(x, w, b, stride, padding, output_padding):
    """Scatter each input pixel times the kernel into the output, then crop."""
    (sh, sw), (ph, pw), (oph, opw) = stride, padding, output_padding
    n, _, h, wd = x.shape
    _, f, kh, kw = w.shape
    out = np.zeros((n, f, (h - 1) * sh + kh + oph, (wd - 1) * sw + kw + opw))
    for i in range(h):
        for j in range(wd):
            out[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += np.einsum("nc,cfkl->nfkl",
                                                                           x[:, :, i, j], w)
    out = out[:, :, ph:out.shape[2] - ph, pw:out.shape[3] - pw]
    return out + b[None, :, None, None]


def np_pool(x, k, s, reduce):
    n, c, h, w = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = reduce(x[:, :, i * s:i * s + k, j * s:j * s + k], axis=(2, 3))
    return out


def np_normalize(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)


# ------------------------------------------------------------------- forward checks
def test_linear_matches_numpy_and_pytorch_init(device):
    layer = nn.Linear(50, 30).to(device)
    bound = 1 / math.sqrt(50)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.shape == (30, 50) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound and abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound
    x = tensor((4, 50), np.float32, device)
    np.testing.assert_allclose(layer(x).numpy(), x.numpy() @ w.T + b, rtol=1e-5, atol=1e-6)
    assert nn.Linear(3, 2, bias=False).bias is None


@pytest.mark.parametrize("options", [
    dict(), dict(stride=2, padding=1), dict(dilation=2, padding=2), dict(groups=2, bias=False),
    dict(padding="same", kernel_size=4), dict(padding="valid")])
def test_conv2d_matches_numpy(options, device):
    options = dict(options)
    kernel = options.pop("kernel_size", 3)
    layer = nn.Conv2d(4, 6, kernel, **options).double().to(device)
    x = tensor((2, 4, 7, 8), device=device)
    padding = layer.padding
    xn = x.numpy()
    if padding == "same":  # total k - 1 = 3: one on top/left, two on bottom/right
        xn = np.pad(xn, ((0, 0), (0, 0), (1, 2), (1, 2)))
        padding = (0, 0)
    elif padding == "valid":
        padding = (0, 0)
    bias = None if layer.bias is None else layer.bias.numpy()
    expected = np_conv2d(xn, layer.weight.numpy(), bias, layer.stride, padding, layer.dilation,
                         layer.groups)
    out = layer(x)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    if options.get("padding") == "same":
        assert out.shape[2:] == x.shape[2:]
    single = layer(x[0])  # one image (C, H, W)
    np.testing.assert_allclose(single.numpy(), expected[0], rtol=1e-10, atol=1e-12)


def test_conv_default_init_uses_fan_in_of_the_weight():
    conv = nn.Conv2d(8, 4, 3, groups=2)  # fan_in = 8/2 * 3 * 3 = 36
    assert conv.weight.shape == (4, 4, 3, 3)
    assert np.abs(conv.weight.numpy()).max() <= 1 / 6 and np.abs(conv.bias.numpy()).max() <= 1 / 6
    up = nn.ConvTranspose2d(2, 6, 3)  # weight (in, out/groups, kh, kw): fan_in = 6 * 9
    assert up.weight.shape == (2, 6, 3, 3)
    assert np.abs(up.weight.numpy()).max() <= 1 / math.sqrt(54)


def test_conv_transpose2d_matches_numpy(device):
    layer = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1).double().to(device)
    x = tensor((2, 3, 4, 5), device=device)
    expected = np_conv_transpose2d(x.numpy(), layer.weight.numpy(), layer.bias.numpy(), (2, 2),
                                   (1, 1), (1, 1))
    out = layer(x)
    assert out.shape == (2, 2, 8, 10)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert repr(layer) == ("ConvTranspose2d(3, 2, kernel_size=(3, 3), stride=(2, 2), "
                           "padding=(1, 1), output_padding=(1, 1))")


def test_pooling_layers_match_numpy(device):
    x = tensor((2, 3, 6, 7), device=device)
    xn = x.numpy()
    np.testing.assert_allclose(nn.MaxPool2d(2)(x).numpy(), np_pool(xn, 2, 2, np.max))
    np.testing.assert_allclose(nn.MaxPool2d(3, stride=1)(x).numpy(), np_pool(xn, 3, 1, np.max))
    np.testing.assert_allclose(nn.AvgPool2d(2)(x).numpy(), np_pool(xn, 2, 2, np.mean))
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(1)(x).numpy(), xn.mean(axis=(2, 3),
                                                                           keepdims=True))
    adaptive = nn.AdaptiveAvgPool2d((4, 3))(x).numpy()  # bins [floor(iH/OH), ceil((i+1)H/OH))
    for i in range(4):
        for j in range(3):
            rows = slice(i * 6 // 4, -(-(i + 1) * 6 // 4))
            cols = slice(j * 7 // 3, -(-(j + 1) * 7 // 3))
            np.testing.assert_allclose(adaptive[:, :, i, j], xn[:, :, rows, cols].mean(axis=(2, 3)))
    assert nn.MaxPool2d(2)(x[0]).shape == (3, 3, 3)
    assert repr(nn.MaxPool2d(2)) == ("MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, "
                                     "ceil_mode=False)")  # as PyTorch prints it


@pytest.mark.parametrize("layer_type, shape", [(nn.BatchNorm1d, (8, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                               (nn.BatchNorm2d, (4, 3, 2, 5))])
def test_batch_norm_train_eval_and_running_statistics(layer_type, shape, device):
    bn = layer_type(3, momentum=0.2).double()
    bn.weight.data[...] = [1.0, 2.0, 0.5]
    bn.bias.data[...] = [0.0, -1.0, 3.0]
    bn.to(device)
    axes = (0,) + tuple(range(2, len(shape)))
    per_channel = lambda v: v.reshape((1, 3) + (1,) * (len(shape) - 2))  # noqa: E731
    mean, var = np.zeros(3), np.ones(3)
    for step in range(2):
        x = tensor(shape, device=device) * 2.0 + 1.0
        xn = x.numpy()
        y = bn(x)
        expected = np_normalize(xn, axes, 1e-5) * per_channel(bn.weight.numpy()) \
            + per_channel(bn.bias.numpy())
        np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-12)
        count = xn.size / 3
        mean = 0.8 * mean + 0.2 * xn.mean(axis=axes)
        var = 0.8 * var + 0.2 * xn.var(axis=axes) * count / (count - 1)  # unbiased
        np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-12)
        np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-12)
        assert bn.num_batches_tracked.item() == step + 1
    bn.eval()
    x = tensor(shape, device=device)
    expected = (x.numpy() - per_channel(mean)) / np.sqrt(per_channel(var) + 1e-5) \
        * per_channel(bn.weight.numpy()) + per_channel(bn.bias.numpy())
    np.testing.assert_allclose(bn(x).numpy(), expected, rtol=1e-10)
    assert bn.num_batches_tracked.item() == 2  # eval does not count


def test_batch_norm_cumulative_average_and_no_running_stats(device):
    bn = nn.BatchNorm1d(2, momentum=None).double().to(device)
    batches = [tensor((5, 2), device=device) for _ in range(3)]
    # on a GPU, the running count stays there: no device-to-host transfer (counted on the stand-in)
    no_syncs = minigrad.backend._cupyx.allow_synchronize(False) if cupy_stand_in.installed \
        else contextlib.nullcontext()
    with no_syncs:
        for x in batches:
            bn(x)
    np.testing.assert_allclose(bn.running_mean.numpy(),
                               np.mean([x.numpy().mean(axis=0) for x in batches], axis=0))
    plain = nn.BatchNorm2d(2, affine=False, track_running_stats=False).double().eval().to(device)
    assert list(plain.state_dict()) == []
    x = tensor((3, 2, 2, 2), device=device)
    np.testing.assert_allclose(plain(x).numpy(), np_normalize(x.numpy(), (0, 2, 3), 1e-5),
                               rtol=1e-10)  # batch statistics even in eval mode


def test_layer_norm_and_group_norm_match_numpy(device):
    x = tensor((2, 4, 3, 5), device=device)
    ln = nn.LayerNorm((3, 5)).double()
    ln.weight.data[...] = RNG.normal(size=(3, 5))
    ln.bias.data[...] = RNG.normal(size=(3, 5))
    ln.to(device)
    expected = np_normalize(x.numpy(), (2, 3), 1e-5) * ln.weight.numpy() + ln.bias.numpy()
    np.testing.assert_allclose(ln(x).numpy(), expected, rtol=1e-10, atol=1e-12)
    gn = nn.GroupNorm(2, 4).double()
    gn.weight.data[...] = [1.0, 2.0, 3.0, 4.0]
    gn.to(device)
    grouped = np_normalize(x.numpy().reshape(2, 2, -1), (2,), 1e-5).reshape(x.shape)
    np.testing.assert_allclose(gn(x).numpy(), grouped * np.array([1, 2, 3, 4.0])[None, :, None, None],
                               rtol=1e-10, atol=1e-12)
    assert repr(ln) == "LayerNorm((3, 5), eps=1e-05, elementwise_affine=True)"
    assert repr(gn) == "GroupNorm(2, 4, eps=1e-05, affine=True)"
    assert nn.LayerNorm(5, bias=False).bias is None


def test_flatten_identity_embedding(device):
    x = tensor((2, 3, 4, 5), device=device)
    assert nn.Flatten()(x).shape == (2, 60) and nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Identity(3, anything=True)(x) is x
    emb = nn.Embedding(10, 3).to(device)
    idx = np.array([[1, 2], [9, 1]])
    np.testing.assert_array_equal(emb(minigrad.tensor(idx, device=device)).numpy(),
                                  emb.weight.numpy()[idx])
    assert abs(nn.Embedding(1000, 10).weight.numpy().std() - 1.0) < 0.05  # N(0, 1) init


# ----------------------------------------------------------- PyTorch as the oracle
def small_cnn(torch_nn):
    """The same architecture built from minigrad's nn or from torch.nn."""
    return torch_nn.Sequential(OrderedDict(
        features=torch_nn.Sequential(
            torch_nn.Conv2d(3, 8, 3, padding=1), torch_nn.BatchNorm2d(8), torch_nn.ReLU(),
            torch_nn.MaxPool2d(2), torch_nn.Conv2d(8, 8, 3, stride=2, groups=2, bias=False),
            torch_nn.GroupNorm(4, 8), torch_nn.GELU(), torch_nn.AvgPool2d(1),
            torch_nn.ConvTranspose2d(8, 4, 2, stride=2), torch_nn.AdaptiveAvgPool2d(1),
            torch_nn.Flatten()),
        classifier=torch_nn.Sequential(torch_nn.Dropout(0.0), torch_nn.Linear(4, 16),
                                       torch_nn.LayerNorm(16), torch_nn.SiLU(),
                                       torch_nn.Linear(16, 5))))


def test_weights_copied_from_pytorch_give_pytorch_outputs_and_gradients():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs, ours = small_cnn(torch.nn), small_cnn(nn)
    state = {k: v.numpy() for k, v in theirs.state_dict().items()}
    assert list(state) == list(ours.state_dict())
    assert all(state[k].shape == v.shape for k, v in ours.state_dict().items())
    ours.load_state_dict(state)
    x = RNG.normal(size=(4, 3, 10, 10)).astype(np.float32)
    y = RNG.integers(0, 5, 4)
    for _ in range(2):  # training mode: batch statistics, running averages updated
        xt = torch.tensor(x, requires_grad=True)
        loss_t = torch.nn.functional.cross_entropy(theirs(xt), torch.tensor(y))
        theirs.zero_grad()
        loss_t.backward()
        xm = minigrad.tensor(x, requires_grad=True)
        loss = nn.CrossEntropyLoss()(ours(xm), y)
        ours.zero_grad()
        loss.backward()
        np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-5)
        np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-6)
        for (name, p), (_, p_t) in zip(ours.named_parameters(), theirs.named_parameters()):
            np.testing.assert_allclose(p.grad.numpy(), p_t.grad.numpy(), rtol=1e-4, atol=1e-5,
                                       err_msg=name)
    for key, value in theirs.state_dict().items():  # running statistics and counters
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-5,
                                   atol=1e-7, err_msg=key)
    theirs.eval(), ours.eval()
    with torch.no_grad():
        expected = theirs(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours(minigrad.tensor(x)).numpy(), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("kind", ["conv_same_even", "conv_dilated", "embedding", "batchnorm1d"])
def test_more_layers_match_pytorch(kind):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    if kind == "conv_same_even":
        pair = (torch.nn.Conv2d(2, 3, (4, 2), padding="same"), nn.Conv2d(2, 3, (4, 2), padding="same"))
        x = RNG.normal(size=(2, 2, 5, 6)).astype(np.float32)
    elif kind == "conv_dilated":
        pair = (torch.nn.Conv2d(2, 4, 3, stride=2, padding=2, dilation=2),
                nn.Conv2d(2, 4, 3, stride=2, padding=2, dilation=2))
        x = RNG.normal(size=(2, 2, 9, 8)).astype(np.float32)
    elif kind == "embedding":
        pair = (torch.nn.Embedding(7, 3, padding_idx=2), nn.Embedding(7, 3, padding_idx=2))
        x = np.array([[1, 2, 6], [2, 0, 0]])
    else:
        pair = (torch.nn.BatchNorm1d(3), nn.BatchNorm1d(3))
        x = RNG.normal(size=(4, 3, 5)).astype(np.float32)
    theirs, ours = pair
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    out_t = theirs(torch.tensor(x))
    out = ours(minigrad.tensor(x))
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = RNG.normal(size=out.shape).astype(np.float32)
    out.backward(minigrad.tensor(g))
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-4,
                               atol=1e-5)


# ---------------------------------------------------------------------- input errors
def test_layers_name_themselves_in_input_errors():
    conv = nn.Conv2d(1, 6, 5)
    with pytest.raises(ValueError, match=r"^Conv2d\(1, 6, kernel_size=\(5, 5\)\): expected input "
                                         r"with 1 channels, got shape \(4, 3, 32, 32\)$"):
        conv(minigrad.randn(4, 3, 32, 32))
    with pytest.raises(ValueError, match=r"Conv2d\(1, 6, kernel_size=\(5, 5\)\): expected a 3-D or "
                                         r"4-D input \(N, C, H, W\) or \(C, H, W\), got shape \(32, 32\)"):
        conv(minigrad.randn(32, 32))
    with pytest.raises(ValueError, match=r"Linear\(in_features=4, out_features=2, bias=True\): "
                                         r"expected input with 4 features in its last axis, got "
                                         r"shape \(8, 3\)"):
        nn.Linear(4, 2)(minigrad.randn(8, 3))
    with pytest.raises(TypeError, match=r"input has dtype float64 but the layer's parameters are "
                                        r"float32.*x.astype\(minigrad.float32\)"):
        nn.Linear(4, 2)(minigrad.randn(8, 4, dtype=np.float64))
    with pytest.raises(TypeError, match="expected a minigrad Tensor, got ndarray"):
        nn.Linear(4, 2)(np.zeros((8, 4)))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3, .*\): expected input with 3 channels "
                                         r"\(axis 1\), got shape \(2, 4, 5, 5\)"):
        nn.BatchNorm2d(3)(minigrad.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"BatchNorm1d.*expected a 2-D or 3-D input"):
        nn.BatchNorm1d(3)(minigrad.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"LayerNorm\(\(8,\).*last 1 axes are \(8,\), got shape \(2, 7\)"):
        nn.LayerNorm(8)(minigrad.randn(2, 7))
    with pytest.raises(ValueError, match=r"Conv2d: in_channels \(3\) and out_channels \(6\) must "
                                         r"both be divisible by groups \(2\)"):
        nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv2d(3, 6, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"GroupNorm: num_channels \(6\) must be divisible by "
                                         r"num_groups \(4\)"):
        nn.GroupNorm(4, 6)


@pytest.mark.skipif(not minigrad.cuda.is_available(), reason="CuPy (or its stand-in) is not available")
@pytest.mark.parametrize("layer, inputs", [
    (nn.Linear(3, 2), lambda: [minigrad.randn(4, 3)]),
    (nn.Conv2d(1, 2, 3), lambda: [minigrad.randn(1, 1, 4, 4)]),
    (nn.BatchNorm1d(3), lambda: [minigrad.randn(4, 3)]),
    (nn.LayerNorm(3), lambda: [minigrad.randn(4, 3)]),
    (nn.MultiheadAttention(4, 2), lambda: [minigrad.randn(1, 3, 4)] * 3),
    (nn.Embedding(5, 2), lambda: [minigrad.tensor([0, 1])])], ids=lambda v: type(v).__name__)
def test_a_cuda_layer_refuses_a_cpu_input_naming_both_devices(layer, inputs):
    layer.to("cuda")
    with pytest.raises(RuntimeError, match=r"(?s)(cpu.*cuda:0|cuda:0.*cpu).*\.to\("):
        layer(*inputs())
