"""The autograd engine: graph shapes, accumulation, modes, higher order, memory."""
import gc
import weakref

import numpy as np
import pytest
from numpy_reference import np_logsumexp

import minigrad
import minigrad.functional as F


def t(values, device="cpu", dtype=np.float64):
    return minigrad.tensor(np.asarray(values, dtype=dtype), device=device, requires_grad=True)


def test_diamond_graph(device):
    # x -> a, b -> y: the gradient reaching x is the sum over both paths.
    x = t([0.3, -1.2, 2.0], device)
    a = x * 3.0
    b = x.exp()
    y = (a * b).sum()
    y.backward()
    xv = x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.exp(xv) + 3 * xv * np.exp(xv), rtol=1e-12)


def test_reused_node_accumulates(device):
    x = t([1.0, 2.0], device)
    (x + x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    y = t([3.0], device)
    (y * y * y).sum().backward()  # d/dy y^3 = 3 y^2 via three uses of one tensor
    np.testing.assert_allclose(y.grad.numpy(), [27.0])


def test_gradients_accumulate_across_backward_calls(device):
    x = t([1.0, -2.0], device)
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1.0, -2.0]) + 3.0)


def test_deep_chain_of_10000_ops_does_not_recurse():
    x = t([0.5])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 10_000], rtol=1e-9)


def test_each_node_runs_backward_once():
    calls = []

    class Counted(minigrad.Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            calls.append(1)
            return gy * 2.0

    x = t([1.0, 2.0])
    c = Counted()(x)
    (c * c + c.exp() + c).sum().backward()  # c feeds three consumers
    assert len(calls) == 1


def test_no_grad_builds_no_graph_and_works_as_decorator(device):
    x = t([1.0, 2.0], device)
    with minigrad.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.grad_fn is None

    @minigrad.no_grad()
    def double(v):
        return v * 2.0

    assert double(x).grad_fn is None
    with minigrad.no_grad():
        with minigrad.enable_grad():
            z = x * 2.0
    assert z.grad_fn is not None
    assert minigrad.is_grad_enabled()


def test_second_backward_needs_retain_graph(device):
    x = t([1.0, 2.0], device)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_tanh_derivatives_up_to_third_order_match_closed_form(device):
    x = t([-0.7, 0.1, 1.3], device)
    y = x.tanh()
    (d1,) = minigrad.grad(y.sum(), x, create_graph=True)
    (d2,) = minigrad.grad(d1.sum(), x, create_graph=True)
    (d3,) = minigrad.grad(d2.sum(), x)
    th = np.tanh(x.numpy())
    np.testing.assert_allclose(d1.numpy(), 1 - th ** 2, rtol=1e-12)
    np.testing.assert_allclose(d2.numpy(), -2 * th * (1 - th ** 2), rtol=1e-12)
    np.testing.assert_allclose(d3.numpy(), -2 * (1 - th ** 2) * (1 - 3 * th ** 2), rtol=1e-12)


def test_hessian_vector_product_with_backward_create_graph(device):
    # f(x) = sum(x^3) + x0 * x1: H = diag(6x) + offdiag 1
    x = t([1.0, 2.0, -1.0], device)
    v = minigrad.tensor(np.array([0.5, -1.0, 2.0]), device=device)
    f = (x ** 3.0).sum() + x[0] * x[1]
    f.backward(create_graph=True)
    g = x.grad
    x.grad = None
    (g * v).sum().backward()
    H = np.diag(6 * np.array([1.0, 2.0, -1.0])) + np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(x.grad.numpy(), H @ v.numpy(), rtol=1e-12)


def test_repeated_index_gather_adds_gradients(device):
    x = t([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device)
    weights = minigrad.tensor(np.array([[1.0, 10.0]] * 5), device=device)
    (x[[0, 2, 0, 0, 1]] * weights).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0, 30.0], [1.0, 10.0], [1.0, 10.0]])


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_log_softmax_and_logsumexp_finite_at_extreme_logits(scale, device):
    x = minigrad.tensor(np.array([[scale, 0.0, -scale], [scale, scale, 0.0]]), device=device,
                        requires_grad=True)
    lse = x.logsumexp(axis=1)
    ls = x.log_softmax(axis=1)
    assert np.isfinite(lse.numpy()).all()
    assert np.isfinite(ls.numpy()).all()
    np.testing.assert_allclose(lse.numpy(), np_logsumexp(x.numpy(), axis=1), rtol=1e-12)
    np.testing.assert_allclose(ls.numpy(), x.numpy() - np_logsumexp(x.numpy(), 1, True), rtol=1e-12)
    (lse.sum() + (ls * ls.detach().exp()).sum()).backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_graph_is_freed_after_backward():
    x = t(np.ones(1000))
    hidden = x.exp()
    probe = weakref.ref(hidden)
    loss = (hidden * 2.0).sum()
    del hidden
    gc.collect()
    assert probe() is not None  # the graph holds the intermediate until backward
    loss.backward()
    gc.collect()
    assert probe() is None  # ...and lets it go afterwards
    assert loss.grad_fn.edges is None  # the node let go of its producers too


def test_retain_graph_keeps_intermediates_alive():
    x = t(np.ones(3))
    hidden = x.exp()
    probe = weakref.ref(hidden)
    loss = (hidden * 2.0).sum()
    del hidden
    loss.backward(retain_graph=True)
    gc.collect()
    assert probe() is not None


def test_grad_function_does_not_touch_dot_grad_and_handles_unused():
    x, z = t([1.0, 2.0]), t([5.0])
    y = (x * x).sum()
    (gx,) = minigrad.grad(y, [x], retain_graph=True)
    np.testing.assert_array_equal(gx.numpy(), [2.0, 4.0])
    assert x.grad is None
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        minigrad.grad(y, [x, z], retain_graph=True)
    gx, gz = minigrad.grad(y, [x, z], allow_unused=True)
    assert gz is None


def test_grad_of_an_intermediate_tensor():
    x = t([1.0, 2.0])
    h = x * 3.0
    y = (h * h).sum()
    (gh,) = minigrad.grad(y, h)
    np.testing.assert_allclose(gh.numpy(), 2 * h.numpy())


def test_retain_grad_on_non_leaf():
    x = t([1.0, 2.0])
    h = (x * 3.0).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())


def test_leaf_gradients_do_not_share_memory():
    # a + b hands the same gradient to both: each .grad must own its array,
    # because optimizers and clipping modify gradients in place.
    a, b = t([1.0, 2.0]), t([3.0, 4.0])
    (a + b).sum().backward()
    a.grad.data *= 10
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])
    c = t([1.0])
    c.broadcast_to((3,)).sum().backward()  # a broadcast view: must be writable
    c.grad.data[...] = 0


def _gradient_of_product_sum(a, b):
    """d sum(a * b) / da by bookkeeping: every output element adds its b to
    the element of a it was broadcast from."""
    owner = np.broadcast_to(np.arange(a.size).reshape(a.shape), np.broadcast_shapes(a.shape, b.shape))
    expected = np.zeros(a.size)
    np.add.at(expected, owner.ravel(), np.broadcast_to(b, owner.shape).ravel())
    return expected.reshape(a.shape)


@pytest.mark.parametrize("sa, sb", [((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)),
                                    ((), (2, 2)), ((1,), (5,)), ((2, 1, 1), (1, 3, 1))])
def test_broadcasting_is_undone_for_every_combination(sa, sb, device):
    a, b = t(np.random.rand(*sa), device), t(np.random.rand(*sb), device)
    (a * b).sum().backward()
    assert a.grad.shape == sa and b.grad.shape == sb
    np.testing.assert_allclose(a.grad.numpy(), _gradient_of_product_sum(a.numpy(), b.numpy()))
    np.testing.assert_allclose(b.grad.numpy(), _gradient_of_product_sum(b.numpy(), a.numpy()))


def test_backward_of_non_differentiable_pieces():
    x = t([-1.0, 0.5, 2.0])
    mask = x > 0
    assert mask.dtype == np.bool_ and not mask.requires_grad
    y = F.where(mask, x * 2.0, 0.0).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 2.0, 2.0])
