"""What `Optimizer` does for every rule before its `update`: count the step,
negate for maximize, apply the declared weight decay; and the EMA helpers."""
import numpy as np
import pytest

import minigrad
import minigrad.optim as optim
from minigrad.optim.moments import ema_, ema_square_, lerp


class Descent(optim.Optimizer):
    """theta <- theta - lr * g: the container's work shows in the result."""

    weight_decay_form = "coupled"

    def __init__(self, params, lr=0.1, weight_decay=0.0, maximize=False, **flags):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, maximize=maximize, **flags))

    def init_state(self, param, group):
        return {"step": 0}

    def update(self, param, grad, state, group):
        state["seen"] = grad.copy()
        param -= group["lr"] * grad


def one_step(opt_kwargs, theta=(1.0, -2.0), grad=(0.5, 0.25), cls=Descent):
    w = minigrad.Tensor(np.array(theta), requires_grad=True)
    opt = cls([w], **opt_kwargs)
    w.grad = minigrad.Tensor(np.array(grad))
    opt.step()
    return w.numpy(), opt.state[w]


def test_coupled_decay_is_added_to_the_negated_gradient():
    theta, state = one_step(dict(weight_decay=0.5, maximize=True))
    np.testing.assert_array_equal(state["seen"], [-0.5 + 0.5 * 1.0, -0.25 + 0.5 * -2.0])
    assert state["step"] == 1


def test_a_group_flag_switches_to_decoupled_decay_before_the_update():
    theta, state = one_step(dict(weight_decay=0.5, decoupled_weight_decay=True))
    np.testing.assert_array_equal(state["seen"], [0.5, 0.25])  # gradient untouched
    np.testing.assert_array_equal(theta, np.array([1.0, -2.0]) * (1 - 0.1 * 0.5)
                                  - 0.1 * np.array([0.5, 0.25]))


def test_the_step_is_counted_only_for_rules_that_keep_one_and_the_grad_is_not_changed():
    class NoStep(Descent):
        def init_state(self, param, group):
            return {}

    w = minigrad.Tensor(np.ones(2), requires_grad=True)
    opt = NoStep([w], maximize=True)
    w.grad = minigrad.Tensor(np.array([0.5, 0.25]))
    opt.step()
    opt.step()
    assert "step" not in opt.state[w]
    np.testing.assert_array_equal(w.grad.numpy(), [0.5, 0.25])  # negation made a new array


@pytest.mark.parametrize("beta", [0.9, 0.999, 0.3, 0.0])
def test_ema_matches_the_moving_average_and_lerp(beta):
    rng = np.random.default_rng(0)
    avg, x = rng.normal(size=50), rng.normal(size=50)
    expected = beta * avg + (1 - beta) * x
    # two roundings either way: a few ulps of values of order 1
    np.testing.assert_allclose(ema_(avg.copy(), x, beta), expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(lerp(avg, x, 1 - beta), expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(ema_square_(avg.copy(), x, beta), beta * avg + (1 - beta) * x * x,
                               rtol=0, atol=1e-15)


def test_ema_with_weight_one_is_exactly_the_new_value():
    """torch.lerp's second form exists so that weight 1 (beta = 0) gives x exactly."""
    avg, x = np.array([1e300, 3.0]), np.array([0.1, -7.25])
    np.testing.assert_array_equal(ema_(avg, x, 0.0), x)
