"""nn.init: gains, fans, and the distributions each initializer draws from."""
import math

import numpy as np
import pytest

import minigrad
import minigrad.nn as nn
from minigrad.nn import init


def test_calculate_gain_matches_pytorch_table():
    assert init.calculate_gain("linear") == 1.0 and init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_fan_in_and_fan_out():
    assert init.calculate_fan_in_and_fan_out(minigrad.empty(6, 4)) == (4, 6)
    assert init.calculate_fan_in_and_fan_out(minigrad.empty(8, 3, 5, 5)) == (75, 200)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.calculate_fan_in_and_fan_out(minigrad.empty(5))


@pytest.mark.parametrize("fill, low, high, std", [
    (lambda t: init.uniform_(t, -2.0, 3.0), -2.0, 3.0, 5 / math.sqrt(12)),
    (lambda t: init.normal_(t, 1.0, 0.5), None, None, 0.5),
    (lambda t: init.xavier_uniform_(t, gain=2.0), -2 * math.sqrt(6 / 600), 2 * math.sqrt(6 / 600),
     2 * math.sqrt(2 / 600)),
    (lambda t: init.xavier_normal_(t), None, None, math.sqrt(2 / 600)),
    (lambda t: init.kaiming_uniform_(t, nonlinearity="relu"), -math.sqrt(6 / 200),
     math.sqrt(6 / 200), math.sqrt(2 / 200)),
    (lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), None, None,
     math.sqrt(2 / 400)),
])
def test_initializers_draw_from_the_documented_distribution(fill, low, high, std, device):
    t = minigrad.empty(400, 200, device=device)  # fan_in 200, fan_out 400
    assert fill(t) is t and t.dtype == np.float32
    values = t.numpy()
    if low is not None:
        assert values.min() >= low and values.max() <= high
    assert abs(values.std() - std) < 0.02 * std  # 80,000 draws
    minigrad.manual_seed(3)
    again = fill(minigrad.empty(400, 200, device=device)).numpy()
    minigrad.manual_seed(3)
    np.testing.assert_array_equal(fill(minigrad.empty(400, 200, device=device)).numpy(), again)


def test_constant_zeros_ones_and_orthogonal(device):
    t = minigrad.empty(3, 4, device=device)
    assert (init.constant_(t, 2.5).numpy() == 2.5).all()
    assert (init.zeros_(t).numpy() == 0).all() and (init.ones_(t).numpy() == 1).all()
    for shape in [(5, 3), (3, 5), (4, 2, 3)]:
        w = init.orthogonal_(minigrad.empty(*shape, dtype=np.float64, device=device), gain=2.0).numpy()
        flat = w.reshape(shape[0], -1)
        small = min(flat.shape)
        gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
        np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-12)
    with pytest.raises(ValueError, match="orthogonal_: only tensors with 2 or more dimensions"):
        init.orthogonal_(minigrad.empty(3))


def test_apply_reinitializes_a_model():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))

    def init_weights(m):
        if isinstance(m, nn.Linear):
            init.xavier_uniform_(m.weight)
            init.zeros_(m.bias)
    model.apply(init_weights)
    assert all((m.bias.numpy() == 0).all() for m in model if isinstance(m, nn.Linear))
