"""optim.Combined: two rules stepped as one optimizer give exactly what each gives
alone; a schedule, Lookahead and a checkpoint see one optimizer; misuse is refused
before anything changes. (The contracts of every optimizer, resume included, run on it
in test_optim_common.py.)"""
import numpy as np
import pytest

import minigrad
import minigrad.optim as optim

_rng = np.random.RandomState(3)
A0, B0 = _rng.randn(4, 3), _rng.randn(5)


def params():
    return (minigrad.Tensor(A0.copy(), requires_grad=True),
            minigrad.Tensor(B0.copy(), requires_grad=True))


def set_grads(a, b, k):
    a.grad = minigrad.Tensor(np.sin(a.numpy() + k))
    b.grad = minigrad.Tensor(np.cos(b.numpy() - k))


def test_each_rule_steps_its_own_parameters_as_it_would_alone():
    a, b = params()
    both = optim.Combined(optim.Muon([a], lr=0.05), optim.Adam([b], lr=0.1))
    a_alone, b_alone = params()
    muon, adam = optim.Muon([a_alone], lr=0.05), optim.Adam([b_alone], lr=0.1)
    for k in range(4):
        set_grads(a, b, k)
        set_grads(a_alone, b_alone, k)
        both.step()
        muon.step()
        adam.step()
    np.testing.assert_array_equal(a.numpy(), a_alone.numpy())
    np.testing.assert_array_equal(b.numpy(), b_alone.numpy())
    assert set(both.state) == {a, b}  # each parameter's state, from its own rule
    both.zero_grad()
    assert a.grad is None and b.grad is None


def test_a_schedule_scales_every_rules_lr():
    a, b = params()
    sgd, adam = optim.SGD([a], lr=0.4), optim.Adam([b], lr=0.1)
    both = optim.Combined(sgd, adam)
    schedule = optim.lr_scheduler.StepLR(both, step_size=1, gamma=0.5)
    set_grads(a, b, 0)
    both.step()
    schedule.step()
    assert sgd.param_groups[0]["lr"] == 0.2 and adam.param_groups[0]["lr"] == 0.05
    assert [g["lr"] for g in both.param_groups] == [0.2, 0.05]


def test_lookahead_over_combined_resumes_exactly():
    def run(a, b, opt, steps, start=0):
        for k in range(start, start + steps):
            set_grads(a, b, k)
            opt.step()

    def make(a, b):
        return optim.Lookahead(optim.Combined(optim.SGD([a], lr=0.1, momentum=0.9),
                                              optim.Adam([b], lr=0.1)), k=2, alpha=0.5)
    a, b = params()
    straight = make(a, b)
    run(a, b, straight, 5)

    a1, b1 = params()
    first = make(a1, b1)
    run(a1, b1, first, 3)
    saved = first.state_dict()
    a2, b2 = minigrad.Tensor(a1.numpy().copy(), requires_grad=True), \
        minigrad.Tensor(b1.numpy().copy(), requires_grad=True)
    second = make(a2, b2)
    second.load_state_dict(saved)
    run(a2, b2, second, 2, start=3)
    np.testing.assert_array_equal(a.numpy(), a2.numpy())
    np.testing.assert_array_equal(b.numpy(), b2.numpy())


def test_misuse_is_refused_clearly():
    a, b = params()
    with pytest.raises(ValueError, match=r"shape \(4, 3\) is in both SGD and Adam"):
        optim.Combined(optim.SGD([a], lr=0.1), optim.Adam([a, b]))
    with pytest.raises(TypeError, match="takes optimizer instances"):
        optim.Combined(optim.SGD([a], lr=0.1), [b])
    with pytest.raises(ValueError, match="LBFGS needs a closure"):
        optim.Combined(optim.SGD([a], lr=0.1), optim.LBFGS([b]))
    both = optim.Combined(optim.SGD([a], lr=0.1), optim.Adam([b]))
    with pytest.raises(ValueError, match="no closure"):
        both.step(lambda: 0.0)
    with pytest.raises(TypeError, match=r"optimizers\[0\].add_param_group"):
        both.add_param_group({"params": [minigrad.Tensor(np.ones(2), requires_grad=True)]})


def test_a_state_that_does_not_fit_changes_nothing():
    a, b = params()
    both = optim.Combined(optim.SGD([a], lr=0.1, momentum=0.9), optim.Adam([b], lr=0.1))
    set_grads(a, b, 0)
    both.step()
    saved = both.state_dict()
    c, d = params()
    other = optim.Combined(optim.SGD([c], lr=0.1, momentum=0.9), optim.SGD([d], lr=0.3))
    with pytest.raises(ValueError, match="saved by a Adam optimizer"):
        other.load_state_dict(saved)
    # the first rule's part fitted, but it was not loaded either
    assert other.state == {} and other.param_groups[1]["lr"] == 0.3
