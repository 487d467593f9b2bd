"""gradcheck itself: it must catch wrong gradients, including ones an
all-ones upstream gradient would hide, and leave inputs untouched."""
import numpy as np
import pytest

import minigrad
from minigrad.autograd import Function


class SoftmaxWrongSign(Function):
    """Softmax whose backward has the wrong sign: y * (<gy, y> - gy)."""

    def forward(self, x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def backward(self, gy):
        y = self.output
        return y * ((gy * y).sum(axis=-1, keepdims=True) - gy)


class SquareWrongSecondOrder(Function):
    """x^2 with a correct first derivative but a backward built from a
    constant copy of x, so its second derivative is wrong (0 instead of 2)."""

    def forward(self, x):
        return x * x

    def backward(self, gy):
        x_const = self.inputs[0].detach()
        return gy * 2.0 * x_const


def x64(shape, seed=0, device="cpu"):
    return minigrad.tensor(np.random.default_rng(seed).normal(size=shape), requires_grad=True,
                           device=device)


def test_catches_sign_error_that_ones_cotangent_hides(device):
    x = x64((2, 4), device=device)
    # With an all-ones upstream gradient the wrong backward gives 0, like the right one:
    y = SoftmaxWrongSign()(x)
    y.backward(minigrad.ones_like(y))
    np.testing.assert_allclose(x.grad.numpy(), 0, atol=1e-12)
    # gradcheck's random upstream gradient exposes it, naming the input and element.
    with pytest.raises(minigrad.GradcheckError, match=r"input 0 \(shape \(2, 4\)\).*element"):
        minigrad.gradcheck(lambda a: SoftmaxWrongSign()(a), [x])
    with pytest.raises(minigrad.GradcheckError, match="fast mode"):
        minigrad.gradcheck(lambda a: SoftmaxWrongSign()(a), [x], fast_mode=True)
    assert not minigrad.gradcheck(lambda a: SoftmaxWrongSign()(a), [x], raise_exception=False)


def test_passes_correct_gradients_in_both_modes(device):
    x = x64((3, 4), device=device)
    assert minigrad.gradcheck(lambda a: a.softmax(axis=-1), [x])
    assert minigrad.gradcheck(lambda a: a.softmax(axis=-1), [x], fast_mode=True)


def test_gradgradcheck_catches_a_wrong_second_derivative(device):
    x = x64((4,), device=device)
    assert minigrad.gradcheck(lambda a: SquareWrongSecondOrder()(a), [x])
    with pytest.raises(minigrad.GradcheckError):
        minigrad.gradgradcheck(lambda a: SquareWrongSecondOrder()(a), [x])
    assert minigrad.gradgradcheck(lambda a: a * a, [x])


def test_inputs_are_restored_after_probing(device):
    x = x64((3, 3), device=device)
    before = x.numpy().copy()
    minigrad.gradcheck(lambda a: (a * a).sum(axis=0), [x])
    np.testing.assert_array_equal(x.numpy(), before)
    assert x.device == minigrad.backend.normalize_device(device)


def test_float32_inputs_warn(device):
    x = minigrad.tensor(np.random.rand(3), dtype=np.float32, requires_grad=True, device=device)
    with pytest.warns(UserWarning, match="float64"):
        assert minigrad.gradcheck(lambda a: a * a, [x])
    with pytest.warns(UserWarning, match="float64"):
        assert minigrad.gradgradcheck(lambda a: a * a * a, [x])


def test_multiple_inputs_and_outputs_and_constants(device):
    a, b = x64((2, 3), 1, device), x64((3,), 2, device)
    c = minigrad.tensor(np.ones(3), device=device)  # not requires_grad: treated as a constant
    assert minigrad.gradcheck(lambda p, q, r: (p * q + r, (p - q).exp()), [a, b, c])


def test_outputs_outside_the_graph_count_as_zero_gradients(device):
    """No output requires grad: backward says 0, which is right for a constant
    and wrong for a value computed from a detached input."""
    x = x64((3,), device=device)
    assert minigrad.gradcheck(lambda a: minigrad.ones(3, dtype=np.float64, device=a.device), [x])
    with pytest.raises(minigrad.GradcheckError, match=r"input 0 \(shape \(3,\)\)"):
        minigrad.gradcheck(lambda a: a.detach() * 2.0, [x])
