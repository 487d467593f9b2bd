"""The padding layers (ZeroPad, ConstantPad, ReflectionPad, ReplicationPad,
CircularPad, 1d/2d/3d): forward and backward against PyTorch (optional oracle),
against F.pad, gradcheck/gradgradcheck on every device, reprs and errors."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn

FAMILIES = {"ZeroPad": "constant", "ConstantPad": "constant", "ReflectionPad": "reflect",
            "ReplicationPad": "replicate", "CircularPad": "circular"}
# (dims, padding given to the layer, input shape): an int, and an asymmetric tuple with a crop
CASES = [(1, 2, (2, 3, 5)), (1, (1, -2), (3, 5)),
         (2, 1, (3, 4, 5)), (2, (2, 0, -1, 3), (2, 2, 4, 5)),
         (3, 1, (2, 3, 4, 5)), (3, (0, 2, 1, -1, 2, 1), (1, 2, 3, 4, 5))]


def _layer(family, dims, padding, lib=nn):
    cls = getattr(lib, f"{family}{dims}d")
    return cls(padding, 1.5) if family == "ConstantPad" else cls(padding)


def _amounts(padding, dims):
    return (padding,) * 2 * dims if isinstance(padding, int) else padding


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("dims, padding, shape", CASES)
def test_padding_layer_is_f_pad(family, dims, padding, shape, device):
    """Each layer is F.pad with its mode and (for ConstantPad) value, on every device."""
    x = minigrad.tensor(np.random.default_rng(0).standard_normal(shape), device=device)
    y = _layer(family, dims, padding)(x)
    value = {"ConstantPad": 1.5}.get(family, 0.0)
    kwargs = {"value": value} if FAMILIES[family] == "constant" else {}
    expected = F.pad(x, _amounts(padding, dims), mode=FAMILIES[family], **kwargs)
    assert y.device == x.device
    np.testing.assert_array_equal(y.numpy(), expected.numpy())  # copies only: exact


@pytest.mark.parametrize("family", FAMILIES)
def test_padding_layers_match_pytorch(family):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    for dims, padding, shape in CASES:
        xn = rng.standard_normal(shape)
        xt = torch.tensor(xn, requires_grad=True)
        torch_layer = _layer(family, dims, padding, torch.nn)
        yt = torch_layer(xt)
        gy = rng.standard_normal(tuple(yt.shape))
        yt.backward(torch.tensor(gy))
        x = minigrad.tensor(xn, requires_grad=True)
        layer = _layer(family, dims, padding)
        y = layer(x)
        y.backward(minigrad.tensor(gy))
        assert repr(layer) == repr(torch_layer)
        np.testing.assert_array_equal(y.numpy(), yt.detach().numpy(), err_msg=repr(layer))
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=repr(layer))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_padding_layers_gradcheck(family, dims, device):
    shape = (1, 2, 3, 4, 3)[:dims + 2]
    padding = (2, -1, 1, 2, 1, 0)[:2 * dims]
    x = minigrad.tensor(np.random.default_rng(2).standard_normal(shape), requires_grad=True,
                        device=device)
    layer = _layer(family, dims, padding)
    assert minigrad.gradcheck(layer, (x,))
    assert minigrad.gradgradcheck(layer, (x,))


def test_padding_layers_by_hand():
    x = minigrad.tensor([[0.0, 1.0, 2.0, 3.0]])
    assert nn.ZeroPad1d((1, 2))(x).numpy().tolist() == [[0, 0, 1, 2, 3, 0, 0]]
    assert nn.ConstantPad1d(1, -1.0)(x).numpy().tolist() == [[-1, 0, 1, 2, 3, -1]]
    assert nn.ReflectionPad1d(2)(x).numpy().tolist() == [[2, 1, 0, 1, 2, 3, 2, 1]]
    assert nn.ReplicationPad1d(2)(x).numpy().tolist() == [[0, 0, 0, 1, 2, 3, 3, 3]]
    assert nn.CircularPad1d(2)(x).numpy().tolist() == [[2, 3, 0, 1, 2, 3, 0, 1]]
    image = minigrad.tensor(np.arange(4.0).reshape(1, 2, 2))
    assert nn.ZeroPad2d((1, 0, 0, 1))(image).numpy().tolist() == [[[0, 0, 1], [0, 2, 3], [0, 0, 0]]]


def test_padding_layers_reprs_and_no_parameters():
    assert repr(nn.ZeroPad2d(1)) == "ZeroPad2d((1, 1, 1, 1))"
    assert repr(nn.ConstantPad1d((1, 2), 3.5)) == "ConstantPad1d(padding=(1, 2), value=3.5)"
    assert repr(nn.ReflectionPad3d([1, 2, 3, 4, 5, 6])) == "ReflectionPad3d((1, 2, 3, 4, 5, 6))"
    assert repr(nn.CircularPad1d(np.int64(2))) == "CircularPad1d((2, 2))"
    assert not list(nn.ReplicationPad2d(1).parameters())


def test_constant_padding_takes_any_rank():
    """As PyTorch: constant padding pads the last dims of any input, no batch layout needed."""
    x = minigrad.ones(2, 3)
    assert nn.ZeroPad2d(1)(x).shape == (4, 5)
    assert nn.ConstantPad1d(1, 2.0)(minigrad.ones(2, 2, 2, 3)).shape == (2, 2, 2, 5)


@pytest.mark.parametrize("make, shape, error, words", [
    (lambda: nn.ReflectionPad2d(1), (4, 4), ValueError, r"ReflectionPad2d\(\(1, 1, 1, 1\)\): expected"),
    (lambda: nn.CircularPad1d(1), (1, 2, 3, 4), ValueError, r"3-D input \(N, C, W\)"),
    (lambda: nn.ReplicationPad3d(1), (2, 3, 4), ValueError, "4-D or 5-D"),
    (lambda: nn.ReflectionPad1d(3), (1, 2, 3), RuntimeError, "smaller than its size 3"),
    (lambda: nn.CircularPad1d(4), (1, 2, 3), RuntimeError, "wrap around more than once"),
])
def test_padding_layer_input_errors(make, shape, error, words):
    with pytest.raises(error, match=words):
        make()(minigrad.zeros(*shape))


@pytest.mark.parametrize("make, words", [
    (lambda: nn.ZeroPad2d((1, 2)), r"4 ints \(left, right, top, bottom\), got \(1, 2\)"),
    (lambda: nn.ReflectionPad1d((1, 2, 3)), r"2 ints \(left, right\)"),
    (lambda: nn.ConstantPad3d(1.5, 0.0), "6 ints"),
])
def test_padding_amount_errors(make, words):
    with pytest.raises((ValueError, TypeError), match=words):
        make()
