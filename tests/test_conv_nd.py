"""conv1d/conv3d, conv_transpose1d/3d, padding='same'/'valid' and the N-d
layers: forward vs a direct NumPy definition, transposed convolutions vs the
adjoint identity, gradients vs finite differences (first and second order),
PyTorch as an optional oracle, the device fixture, errors.
(2-d is covered in depth by test_conv.py; here it appears for 'same'/'valid'.)"""
import itertools

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
from minigrad.ops import im2col as im2col_module


def _tuple(v, n):
    return (v,) * n if isinstance(v, int) else tuple(v)


def ref_conv(x, w, b=None, stride=1, pads=0, dilation=1, groups=1):
    """Direct definition, one output position at a time (written independently).
    pads: an int, or one (before, after) pair per spatial dim."""
    N = x.ndim - 2
    s, d = _tuple(stride, N), _tuple(dilation, N)
    if isinstance(pads, int):
        pads = (pads,) * N
    pads = [(p, p) if isinstance(p, int) else p for p in pads]
    xp = np.pad(x, [(0, 0), (0, 0)] + pads)
    F_, Cg, *K = w.shape
    out = [(xp.shape[2 + i] - d[i] * (K[i] - 1) - 1) // s[i] + 1 for i in range(N)]
    y = np.zeros((x.shape[0], F_) + tuple(out))
    for f in range(F_):
        group = f // (F_ // groups)
        xs = xp[:, group * Cg:(group + 1) * Cg]
        for pos in np.ndindex(*out):
            window = tuple(slice(o * s[i], o * s[i] + d[i] * (K[i] - 1) + 1, d[i])
                           for i, o in enumerate(pos))
            patch = xs[(slice(None), slice(None)) + window]             # (N, Cg, *K)
            y[(slice(None), f) + pos] = (patch * w[f]).sum(axis=tuple(range(1, N + 2)))
    return y if b is None else y + b.reshape((1, -1) + (1,) * N)


def _same_pads(w_shape, dilation):
    """PyTorch's 'same': d*(k-1) in total, the odd one at the end."""
    N = len(w_shape) - 2
    totals = [d * (k - 1) for d, k in zip(_tuple(dilation, N), w_shape[2:])]
    return [(t // 2, t - t // 2) for t in totals]


def _tensors(rng, *shapes, device="cpu"):
    return [minigrad.tensor(rng.standard_normal(s), requires_grad=True, device=device)
            for s in shapes]


CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}

# (x shape, weight shape, stride, padding, dilation, groups)
CONV_CASES = [
    ((2, 4, 9), (6, 2, 3), 2, 1, 1, 2),
    ((2, 3, 10), (4, 3, 4), 1, "same", 1, 1),          # odd total: extra at the end
    ((1, 3, 8), (2, 3, 3), 1, "same", 2, 1),
    ((2, 2, 7), (3, 2, 2), 1, "valid", 1, 1),
    ((1, 2, 9), (4, 1, 3), 3, (2,), (2,), 2),
    ((2, 4, 5, 6, 4), (4, 2, 3, 2, 3), (2, 1, 1), (1, 0, 1), 1, 2),
    ((1, 2, 4, 5, 5), (3, 2, 2, 3, 2), 1, "same", (1, 2, 1), 1),
    ((1, 3, 5, 4, 6), (2, 3, 2, 2, 3), (1, 2, 3), 0, (2, 1, 1), 1),
    ((2, 3, 6, 7), (4, 3, 2, 3), 1, "same", 1, 1),
    ((1, 2, 5, 6), (4, 1, 3, 3), 1, "valid", 1, 2),
]
CONV_IDS = [f"{len(c[0]) - 2}d-x{c[0]}-s{c[2]}-p{c[3]}-d{c[4]}-g{c[5]}" for c in CONV_CASES]

# (x shape, weight shape (C_in, C_out/G, *K), stride, padding, output_padding, groups, dilation)
TRANSPOSE_CASES = [
    ((2, 4, 5), (4, 3, 3), 2, 1, 1, 1, 1),
    ((2, 4, 5), (4, 1, 3), 3, 0, 2, 2, 2),
    ((1, 2, 6), (2, 2, 4), 1, 2, 0, 1, 1),
    ((1, 4, 3, 2, 3), (4, 2, 2, 3, 2), (2, 1, 2), (0, 1, 1), (1, 0, 0), 2, 1),
    ((2, 2, 2, 3, 2), (2, 3, 3, 2, 2), 1, 1, 0, 1, (1, 2, 1)),
]
TRANSPOSE_IDS = [f"{len(c[0]) - 2}d-x{c[0]}-s{c[2]}-p{c[3]}-op{c[4]}-g{c[5]}-d{c[6]}"
                 for c in TRANSPOSE_CASES]


def _conv_call(case):
    x_shape, w_shape, stride, padding, dilation, groups = case
    return lambda x, w, b: CONV[len(x_shape) - 2](x, w, b, stride, padding, dilation, groups)


def _transpose_call(case):
    x_shape, _, stride, padding, output_padding, groups, dilation = case
    return lambda x, w, b: CONV_T[len(x_shape) - 2](x, w, b, stride, padding, output_padding,
                                                    groups, dilation)


def _transpose_shapes(case):
    x_shape, w_shape, groups = case[0], case[1], case[5]
    return x_shape, w_shape, (w_shape[1] * groups,)


# ------------------------------------------------------------- NumPy checks
@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv_matches_the_definition(case):
    x_shape, w_shape, stride, padding, dilation, groups = case
    x, w, b = _tensors(np.random.default_rng(0), x_shape, w_shape, (w_shape[0],))
    y = _conv_call(case)(x, w, b)
    if padding == "valid":
        pads = 0
    elif padding == "same":
        pads = _same_pads(w_shape, dilation)
        assert y.shape[2:] == x_shape[2:]
    else:
        pads = [(p, p) for p in _tuple(padding, len(x_shape) - 2)]
    expected = ref_conv(x.numpy(), w.numpy(), b.numpy(), stride, pads, dilation, groups)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=TRANSPOSE_IDS)
def test_conv_transpose_is_the_adjoint_of_conv(case):
    """<conv_transpose(x, w), z> = <x, conv(z, w)> for every z of the output's shape."""
    x_shape, w_shape, stride, padding, _, groups, dilation = case
    rng = np.random.default_rng(1)
    x, w = _tensors(rng, x_shape, w_shape)
    y = _transpose_call(case)(x, w, None)
    z = rng.standard_normal(y.shape)
    # conv's weight (F, Cg, *K) is the transposed one (C_in, C_out/G, *K) read as F = C_in.
    conv_z = ref_conv(z, w.numpy(), None, stride, padding, dilation, groups)
    assert conv_z.shape == x_shape
    assert (y.numpy() * z).sum() == pytest.approx((x.numpy() * conv_z).sum(), rel=1e-10, abs=1e-10)


GRAD_CASES = CONV_CASES[:2] + [  # 3-d kept small: finite differences cost two calls per element
    ((1, 2, 3, 4, 3), (2, 1, 2, 2, 2), (2, 1, 1), (1, 0, 1), 1, 2),
    ((1, 1, 3, 3, 4), (2, 1, 2, 1, 2), 1, "same", (1, 1, 2), 1)]


@pytest.mark.parametrize("case", GRAD_CASES,
                         ids=[f"{len(c[0]) - 2}d-p{c[3]}-g{c[5]}" for c in GRAD_CASES])
def test_conv_gradcheck_and_gradgradcheck(case):
    x_shape, w_shape = case[:2]
    inputs = _tensors(np.random.default_rng(2), x_shape, w_shape, (w_shape[0],))
    assert minigrad.gradcheck(_conv_call(case), inputs)
    assert minigrad.gradgradcheck(_conv_call(case), inputs)


@pytest.mark.parametrize("case", TRANSPOSE_CASES[::2], ids=TRANSPOSE_IDS[::2])
def test_conv_transpose_gradcheck_and_gradgradcheck(case):
    inputs = _tensors(np.random.default_rng(3), *_transpose_shapes(case))
    assert minigrad.gradcheck(_transpose_call(case), inputs)
    assert minigrad.gradgradcheck(_transpose_call(case), inputs)


def test_small_chunks_give_the_same_3d_result(monkeypatch):
    """The batch is cut into chunks by column size; one image per chunk must agree."""
    case = CONV_CASES[5]
    x, w, b = _tensors(np.random.default_rng(4), case[0], case[1], (case[1][0],))
    results = []
    for chunk_bytes in (1 << 30, 1):
        monkeypatch.setattr(im2col_module, "CHUNK_BYTES", chunk_bytes)
        for t in (x, w, b):
            t.grad = None
        y = _conv_call(case)(x, w, b)
        (y * y).sum().backward()
        results.append([y.numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()])
    for one, many in zip(*results):
        np.testing.assert_allclose(one, many, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("N", [1, 3])
def test_unbatched_input_is_a_batch_of_one(N, device):
    rng = np.random.default_rng(5)
    x, w, b = _tensors(rng, (3,) + (5,) * N, (4, 3) + (2,) * N, (4,), device=device)
    batched = CONV[N](x.unsqueeze(0), w, b, padding=1)
    single = CONV[N](x, w, b, padding=1)
    assert single.shape == batched.shape[1:]
    np.testing.assert_allclose(single.numpy(), batched.numpy()[0], rtol=1e-12, atol=1e-12)
    up = CONV_T[N](x, w.swapaxes(0, 1), None, stride=2)            # weight (C_in=3, 4, *K)
    assert up.shape == (4,) + (10,) * N


# ---------------------------------------------------------------- devices
@pytest.mark.parametrize("kind, case", [("conv", CONV_CASES[1]), ("conv", CONV_CASES[5]),
                                        ("transpose", TRANSPOSE_CASES[0]),
                                        ("transpose", TRANSPOSE_CASES[3])])
def test_cuda_matches_cpu(kind, case, device):
    shapes = (case[0], case[1], (case[1][0],)) if kind == "conv" else _transpose_shapes(case)
    call = _conv_call(case) if kind == "conv" else _transpose_call(case)
    results = {}
    for where in ("cpu", device):
        x, w, b = _tensors(np.random.default_rng(6), *shapes, device=where)
        y = call(x, w, b)
        (y * y).sum().backward()
        assert y.device == x.device
        results[where] = [t.numpy() for t in (y, x.grad, w.grad, b.grad)]
    for ours, cpu in zip(results[device], results["cpu"]):
        np.testing.assert_allclose(ours, cpu, rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------- PyTorch oracle
def _against_torch(torch, ours_fn, theirs_fn, shapes, seed):
    rng = np.random.default_rng(seed)
    tensors = _tensors(rng, *shapes)
    y = ours_fn(*tensors)
    gy = rng.standard_normal(y.shape)
    y.backward(minigrad.tensor(gy))
    theirs = [torch.tensor(t.numpy(), requires_grad=True) for t in tensors]
    ty = theirs_fn(*theirs)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for ours, t in zip(tensors, theirs):
        np.testing.assert_allclose(ours.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    x_shape, w_shape, stride, padding, dilation, groups = case
    conv = getattr(torch.nn.functional, f"conv{len(x_shape) - 2}d")
    _against_torch(torch, _conv_call(case),
                   lambda x, w, b: conv(x, w, b, stride, padding, dilation, groups),
                   (x_shape, w_shape, (w_shape[0],)), seed=7)


@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=TRANSPOSE_IDS)
def test_conv_transpose_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    x_shape, _, stride, padding, output_padding, groups, dilation = case
    conv_t = getattr(torch.nn.functional, f"conv_transpose{len(x_shape) - 2}d")
    _against_torch(torch, _transpose_call(case),
                   lambda x, w, b: conv_t(x, w, b, stride, padding, output_padding, groups,
                                          dilation),
                   _transpose_shapes(case), seed=8)


LAYERS = [  # (class name, args, kwargs, input shape)
    ("Conv1d", (4, 6, 3), dict(stride=2, padding=1, groups=2), (2, 4, 9)),
    ("Conv1d", (3, 2, 4), dict(padding="same", padding_mode="reflect"), (2, 3, 8)),
    ("Conv1d", (3, 2, 3), dict(padding=2, padding_mode="circular", bias=False), (3, 7)),
    ("Conv3d", (2, 4, (2, 3, 2)), dict(padding=(1, 0, 1), dilation=(1, 1, 2)), (2, 2, 4, 5, 5)),
    ("Conv3d", (2, 3, 3), dict(padding="same", padding_mode="replicate"), (2, 4, 4, 5)),
    ("Conv2d", (2, 3, (4, 2)), dict(padding="same", padding_mode="reflect"), (1, 2, 6, 5)),
    ("ConvTranspose1d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2),
     (2, 4, 5)),
    ("ConvTranspose3d", (2, 3, (2, 3, 2)), dict(stride=(2, 1, 2), dilation=(1, 2, 1)),
     (2, 3, 2, 3)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("name, args, kwargs, shape", LAYERS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYERS)])
def test_layers_load_pytorch_weights_and_match_it(name, args, kwargs, shape):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    ours = getattr(nn, name)(*args, **kwargs).double()
    state = {k: v.numpy() for k, v in theirs.state_dict().items()}
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in state.items()}
    ours.load_state_dict(state)
    assert repr(ours) == repr(theirs)
    x = np.random.default_rng(9).standard_normal(shape)
    xm, xt = minigrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = ours(xm), theirs(xt)
    gy = np.random.default_rng(10).standard_normal(yt.shape)
    y.backward(minigrad.tensor(gy))
    yt.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-10,
                               atol=1e-12)


def test_layer_shapes_and_default_init():
    """PyTorch's weight layouts and bound 1/sqrt(fan_in), fan_in = weight.shape[1] * prod(K)."""
    for layer, shape in [(nn.Conv1d(4, 6, 3, groups=2), (6, 2, 3)),
                         (nn.Conv3d(2, 4, (1, 2, 3)), (4, 2, 1, 2, 3)),
                         (nn.ConvTranspose1d(2, 6, 5), (2, 6, 5)),
                         (nn.ConvTranspose3d(4, 2, 2, groups=2), (4, 1, 2, 2, 2))]:
        assert layer.weight.shape == shape
        bound = 1 / np.sqrt(np.prod(shape[1:]))
        assert np.abs(layer.weight.numpy()).max() <= bound
        assert np.abs(layer.bias.numpy()).max() <= bound


# ------------------------------------------------------------------- errors
def _t(*shape):
    return minigrad.zeros(*shape)


@pytest.mark.parametrize("call, message", [
    (lambda: F.conv1d(_t(1, 2, 3, 8), _t(4, 2, 3)),
     r"conv1d: expected a 3-D input \(N, C, L\) or an unbatched 2-D one \(C, L\), got shape"),
    (lambda: F.conv3d(_t(1, 2, 4, 4, 4), _t(4, 2, 3, 3)),
     r"conv3d: weight must be 5-D \(out_channels, in_channels/groups, KD, KH, KW\)"),
    (lambda: F.conv3d(_t(1, 2, 4, 4, 4), _t(4, 2, 3, 3, 3), stride=(1, 2)),
     r"conv3d: stride must be an int or a triple of ints"),
    (lambda: F.conv1d(_t(1, 2, 8), _t(4, 2, 3), stride=2, padding="same"),
     r"conv1d: padding='same' is not supported for strided convolutions"),
    (lambda: F.conv2d(_t(1, 2, 8, 8), _t(4, 2, 3, 3), padding="full"),
     r"conv2d: padding must be an int, a tuple of 2 ints, 'valid' or 'same', got 'full'"),
    (lambda: F.conv_transpose3d(_t(1, 2, 3, 3, 3), _t(2, 2, 2, 2, 2), padding="same"),
     r"conv_transpose3d: padding must be an int or a tuple of 3 ints"),
    (lambda: F.conv_transpose1d(_t(1, 2, 4), _t(2, 3, 3), stride=2, output_padding=2),
     r"conv_transpose1d: output_padding \(2,\) must be smaller than either stride"),
    (lambda: F.conv3d(_t(1, 2, 2, 8, 8), _t(4, 2, 3, 3, 3)),
     r"conv3d: kernel \(3, 3, 3\) is larger than the input.*\(2, 8, 8\)"),
    (lambda: nn.Conv3d(2, 4, 3, padding_mode="mirror"), r"Conv3d: padding_mode must be one of"),
    (lambda: nn.ConvTranspose1d(2, 4, 3, padding_mode="reflect"),
     r"ConvTranspose1d: only padding_mode='zeros' is supported"),
    (lambda: nn.Conv1d(2, 4, 3)(_t(1, 3, 8)),
     r"Conv1d\(2, 4, kernel_size=\(3,\)\): expected input with 2 channels"),
])
def test_errors_name_the_op_and_the_fix(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_tap_slices_cover_every_window_in_row_major_order():
    """tap_slices in N-d: tap k of a (2, 3, 2) kernel reads the window offsets in
    itertools.product order, for every output position."""
    g = im2col_module.geometry("t", (5, 6, 4), (2, 3, 2), (2, 1, 1), (1, 0, 1), (1, 2, 1))
    x = np.arange(np.prod(g.padded_size)).reshape(g.padded_size)
    taps = im2col_module.tap_slices(g)
    assert len(taps) == 12
    for tap, offset in zip(taps, itertools.product(range(2), range(3), range(2))):
        values = x[tap]
        assert values.shape == g.out_size
        for pos in np.ndindex(*g.out_size):
            start = [o * s + i * d for o, s, i, d in zip(pos, g.stride, offset, g.dilation)]
            assert values[pos] == x[tuple(start)]


def test_ceil_mode_geometry_follows_pytorchs_pooling_rule():
    """ceil_mode rounds the window count up, but the last window must start inside
    the input or the left padding; padded_size then covers the overhang."""
    try:
        import torch
    except ImportError:
        torch = None
    for n, k, s, p, d in itertools.product(range(1, 9), range(1, 4), range(1, 4), range(2),
                                           range(1, 3)):
        extent = d * (k - 1) + 1
        if 2 * p > k or extent > n + 2 * p:
            continue
        g = im2col_module.geometry("t", (n,), k, s, p, d, ceil_mode=True)
        # PyTorch's pooling_output_shape, written out
        out = (n + 2 * p - extent + (s - 1)) // s + 1
        if (out - 1) * s >= n + p:
            out -= 1
        assert g.out_size == (out,), (n, k, s, p, d)
        if torch is not None:  # and PyTorch itself, when installed
            pooled = torch.nn.functional.max_pool1d(torch.zeros(1, 1, n), k, s, p, d, ceil_mode=True)
            assert pooled.shape[-1] == out
        assert g.padded_size == (max(n + 2 * p, (out - 1) * s + extent),)
        floor = im2col_module.geometry("t", (n,), k, s, p, d)
        assert floor.out_size[0] in (out, out - 1) and floor.padded_size == (n + 2 * p,)
