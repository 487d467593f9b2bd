"""dropout / dropout2d and the Dropout layers: the mask's statistics and
scale, train/eval behaviour, reproducibility, and gradients with a fixed mask."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn


def test_inverted_dropout_scales_the_kept_elements(device):
    x = minigrad.ones(200, 100, device=device)
    y = F.dropout(x, p=0.3).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], np.float32(1 / 0.7), rtol=1e-6)  # exactly 1 / (1 - p)
    assert abs(1 - kept.mean() - 0.3) < 0.01  # 20,000 draws: std of the fraction is 0.003
    assert abs(y.mean() - 1.0) < 0.02  # the expectation is preserved
    assert y.dtype == np.float32


def test_eval_mode_and_edge_probabilities(device):
    x = minigrad.randn(4, 5, device=device)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), 0.0)
    layer = nn.Dropout(0.5).to(device)
    assert layer.eval()(x) is x
    assert not np.array_equal(layer.train()(x).numpy(), x.numpy())


def test_same_seed_same_mask(device):
    x = minigrad.randn(10, 10, device=device)
    minigrad.manual_seed(5)
    a = F.dropout(x, 0.5).numpy()
    minigrad.manual_seed(5)
    b = F.dropout(x, 0.5).numpy()
    c = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_dropout2d_drops_whole_channels(device):
    x = minigrad.ones(20, 30, 4, 5, device=device)
    y = F.dropout2d(x, p=0.4).numpy()
    per_channel = y.reshape(20, 30, -1)
    # every feature map is all zeros or all 1 / (1 - p)
    assert ((per_channel == 0).all(axis=2) | np.isclose(per_channel, 1 / 0.6).all(axis=2)).all()
    assert 0.3 < (per_channel[..., 0] == 0).mean() < 0.5
    single = F.dropout2d(minigrad.ones(50, 3, 3, device=device), p=0.5).numpy()  # (C, H, W): channels again
    assert set(np.unique(single.reshape(50, -1).std(axis=1))) == {0.0}
    layer = nn.Dropout2d(0.4).eval()
    assert layer(x) is x


@pytest.mark.parametrize("op", [F.dropout, F.dropout2d])
def test_gradcheck_with_a_fixed_mask(op, device):
    x = minigrad.tensor(np.random.default_rng(0).normal(size=(2, 3, 2, 2)), requires_grad=True,
                        device=device)

    def fn(x):
        minigrad.manual_seed(11)  # the same mask on every call of the check
        return op(x, p=0.4)
    assert minigrad.gradcheck(fn, (x,))
    assert minigrad.gradgradcheck(fn, (x,))
    # and the gradient is exactly the (scaled) mask
    y = fn(x)
    y.backward(minigrad.ones_like(y))
    expected = np.where(y.numpy() != 0, 1 / 0.6, 0.0)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-15)


def test_bad_arguments():
    x = minigrad.randn(2, 3)
    with pytest.raises(ValueError, match=r"dropout: dropout probability p must be in \[0, 1\], got 1.5"):
        F.dropout(x, 1.5)
    with pytest.raises(ValueError, match=r"dropout2d: expected a 3-D \(C, H, W\) or 4-D"):
        F.dropout2d(x)
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\]"):
        nn.Dropout(-0.1)
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25)"
