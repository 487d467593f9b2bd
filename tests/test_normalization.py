"""batch_norm, layer_norm, group_norm: forward vs NumPy, running statistics by
hand, gradients vs finite differences (first and second order: the second
derivative of batch norm must differentiate through the batch statistics),
PyTorch as an optional oracle, errors."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F


def _t(array, requires_grad=True, device="cpu"):
    return minigrad.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad,
                           device=device)


def ref_normalize(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def _per_channel(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


SHAPES = [(6, 3), (4, 3, 2, 5), (3, 2, 4)]


# ---------------------------------------------------------------- batch norm
@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_training_forward_and_running_stats(shape, device):
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(shape) * 3.0 + 2.0
    w_np, b_np = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    mean0, var0 = rng.standard_normal(shape[1]), rng.random(shape[1]) + 0.5
    running_mean, running_var = _t(mean0, False, device), _t(var0, False, device)
    x, w, b = (_t(a, device=device) for a in (x_np, w_np, b_np))
    y = F.batch_norm(x, running_mean, running_var, w, b, training=True, momentum=0.2, eps=1e-3)
    axes = (0,) + tuple(range(2, len(shape)))
    expected = (ref_normalize(x_np, axes, 1e-3) * _per_channel(w_np, len(shape))
                + _per_channel(b_np, len(shape)))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    # By hand: the running variance uses the unbiased (M - 1) batch variance.
    m = x_np.size // shape[1]
    batch_mean = x_np.mean(axis=axes)
    deviation = x_np - _per_channel(batch_mean, len(shape))
    batch_var_unbiased = (deviation ** 2).sum(axis=axes) / (m - 1)
    np.testing.assert_allclose(running_mean.numpy(), 0.8 * mean0 + 0.2 * batch_mean, rtol=1e-13)
    np.testing.assert_allclose(running_var.numpy(), 0.8 * var0 + 0.2 * batch_var_unbiased,
                               rtol=1e-13)


def test_batch_norm_running_stats_by_hand_on_a_tiny_batch(device):
    x = _t([[1.0, 10.0], [3.0, 20.0], [5.0, 60.0]], device=device)
    running_mean, running_var = _t([0.0, 0.0], False, device), _t([1.0, 1.0], False, device)
    F.batch_norm(x, running_mean, running_var, training=True, momentum=0.1)
    # channel 0: mean 3, unbiased var ((-2)^2 + 0 + 2^2) / 2 = 4
    # channel 1: mean 30, unbiased var (400 + 100 + 900) / 2 = 700
    np.testing.assert_allclose(running_mean.numpy(), [0.3, 3.0], rtol=1e-14)
    np.testing.assert_allclose(running_var.numpy(), [0.9 + 0.4, 0.9 + 70.0], rtol=1e-14)


@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_eval_uses_running_stats_and_leaves_them(shape, device):
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal(shape)
    w_np, b_np = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    mean_np, var_np = rng.standard_normal(shape[1]), rng.random(shape[1]) + 0.5
    running_mean, running_var = _t(mean_np, False, device), _t(var_np, False, device)
    x, w, b = (_t(a, device=device) for a in (x_np, w_np, b_np))
    y = F.batch_norm(x, running_mean, running_var, w, b, training=False)
    n = len(shape)
    expected = ((x_np - _per_channel(mean_np, n)) / np.sqrt(_per_channel(var_np, n) + 1e-5)
                * _per_channel(w_np, n) + _per_channel(b_np, n))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(running_mean.numpy(), mean_np)
    np.testing.assert_array_equal(running_var.numpy(), var_np)


def test_batch_norm_without_running_stats_always_uses_the_batch(device):
    x = _t(np.random.default_rng(2).standard_normal((5, 2)), device=device)
    y = F.batch_norm(x, None, None, training=False)
    np.testing.assert_allclose(y.numpy(), ref_normalize(x.numpy(), (0,), 1e-5), rtol=1e-12)


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 2, 3)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_train_gradcheck_and_gradgradcheck(shape, affine):
    rng = np.random.default_rng(3)
    x = _t(rng.standard_normal(shape) * 2.0 + 1.0)
    w, b = _t(rng.standard_normal(shape[1])), _t(rng.standard_normal(shape[1]))

    def fn(x, w, b):
        return F.batch_norm(x, None, None, w if affine else None, b if affine else None,
                            training=True)
    assert minigrad.gradcheck(fn, (x, w, b))
    assert minigrad.gradgradcheck(fn, (x, w, b))


def test_batch_norm_when_only_weight_and_bias_need_gradients(device):
    rng = np.random.default_rng(11)
    x = _t(rng.standard_normal((4, 3, 2, 2)), requires_grad=False, device=device)
    w, b = _t(rng.standard_normal(3), device=device), _t(rng.standard_normal(3), device=device)
    assert minigrad.gradcheck(lambda w, b: F.batch_norm(x, None, None, w, b, training=True),
                              (w, b))
    F.batch_norm(x, None, None, w, b, training=True).sum().backward()
    assert x.grad is None


def test_batch_norm_eval_gradcheck_and_gradgradcheck(device):
    rng = np.random.default_rng(4)
    x, w, b = (_t(rng.standard_normal(shape), device=device) for shape in [(3, 2, 2, 2), 2, 2])
    running_mean, running_var = _t([0.5, -1.0], False, device), _t([2.0, 0.5], False, device)

    def fn(x, w, b):
        return F.batch_norm(x, running_mean, running_var, w, b, training=False)
    assert minigrad.gradcheck(fn, (x, w, b))
    assert minigrad.gradgradcheck(fn, (x, w, b))


def test_batch_norm_hessian_vector_product_is_not_dezeros():
    """The quantity DeZero gets wrong (it treats 1/std as a constant in the
    backward): d/dx <grad_x(sum(v * bn(x))), u>, against finite differences."""
    rng = np.random.default_rng(5)
    x_np, v, u = (rng.standard_normal((6, 3)) for _ in range(3))

    def grad_x(x_array, create_graph):
        x = _t(x_array)
        y = F.batch_norm(x, None, None, training=True)
        g, = minigrad.grad((y * _t(v, False)).sum(), x, create_graph=create_graph)
        return x, g

    x, g = grad_x(x_np, create_graph=True)
    hvp, = minigrad.grad((g * _t(u, False)).sum(), x)
    eps = 1e-6
    numeric = np.zeros_like(x_np)
    for index in np.ndindex(*x_np.shape):
        step = np.zeros_like(x_np)
        step[index] = eps
        plus = (grad_x(x_np + step, False)[1].numpy() * u).sum()
        minus = (grad_x(x_np - step, False)[1].numpy() * u).sum()
        numeric[index] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(hvp.numpy(), numeric, rtol=1e-5, atol=1e-7)
    assert np.abs(numeric).max() > 0.1  # a real second derivative, not a trivial zero


def test_batch_norm_float32_stays_float32(device):
    x = minigrad.randn(8, 3, 4, 4, device=device, requires_grad=True)
    w = minigrad.ones(3, device=device, requires_grad=True)
    b = minigrad.zeros(3, device=device, requires_grad=True)
    running_mean, running_var = minigrad.zeros(3, device=device), minigrad.ones(3, device=device)
    for training in (True, False):
        y = F.batch_norm(x, running_mean, running_var, w, b, training=training)
        (y * y).sum().backward()
        assert y.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
        assert running_mean.dtype == running_var.dtype == np.float32


# ---------------------------------------------------------- layer / group norm
def test_layer_norm_forward_and_gradients(device):
    rng = np.random.default_rng(6)
    x, w, b = (_t(rng.standard_normal(shape), device=device) for shape in [(2, 3, 4), (3, 4), (3, 4)])
    y = F.layer_norm(x, (3, 4), w, b)
    expected = ref_normalize(x.numpy(), (1, 2), 1e-5) * w.numpy() + b.numpy()
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert minigrad.gradcheck(lambda x, w, b: F.layer_norm(x, (3, 4), w, b), (x, w, b))
    if device == "cpu":  # cuda: second order in op_registry's few
        assert minigrad.gradgradcheck(lambda x, w, b: F.layer_norm(x, 4, w[0], b[0]), (x, w, b),
                                      fast_mode=True)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_group_norm_forward_and_gradients(groups, device):
    rng = np.random.default_rng(7)
    x, w, b = (_t(rng.standard_normal(shape), device=device) for shape in [(2, 4, 3, 2), 4, 4])
    y = F.group_norm(x, groups, w, b)
    grouped = x.numpy().reshape(2, groups, -1)
    expected = (ref_normalize(grouped, (2,), 1e-5).reshape(x.shape) * _per_channel(w.numpy(), 4)
                + _per_channel(b.numpy(), 4))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert minigrad.gradcheck(lambda x, w, b: F.group_norm(x, groups, w, b), (x, w, b))
    if device == "cpu":  # cuda: second order in op_registry's few
        assert minigrad.gradgradcheck(lambda x, w, b: F.group_norm(x, groups, w, b), (x, w, b),
                                      fast_mode=True)


# ----------------------------------------------------------- PyTorch oracle
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_pytorch(shape, training):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal(shape) * 2.0 - 1.0, rng.standard_normal(shape[1]),
              rng.standard_normal(shape[1])]
    stats = [rng.standard_normal(shape[1]), rng.random(shape[1]) + 0.5]
    x, w, b = (_t(a) for a in arrays)
    running = [_t(s, False) for s in stats]
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in arrays)
    t_running = [torch.tensor(s) for s in stats]
    y = F.batch_norm(x, *running, w, b, training, 0.3, 1e-4)
    ty = torch.nn.functional.batch_norm(tx, *t_running, tw, tb, training, 0.3, 1e-4)
    gy = rng.standard_normal(shape)
    y.backward(minigrad.tensor(gy))
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    for ours, theirs in [(x, tx), (w, tw), (b, tb)]:
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10,
                                   atol=1e-12)
    for ours, theirs in zip(running, t_running):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-13, atol=1e-15)


def test_batch_norm_matches_pytorch_double_backward():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    arrays = [rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(2), rng.standard_normal(2)]
    v, u = rng.standard_normal((4, 2, 3, 3)), rng.standard_normal((4, 2, 3, 3))
    x, w, b = (_t(a) for a in arrays)
    g, = minigrad.grad((F.batch_norm(x, None, None, w, b, True) * _t(v, False)).sum(), x,
                       create_graph=True)
    hvp = minigrad.grad((g * _t(u, False)).sum(), (x, w))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in arrays)
    tg, = torch.autograd.grad((torch.nn.functional.batch_norm(tx, None, None, tw, tb, True)
                               * torch.tensor(v)).sum(), tx, create_graph=True)
    thvp = torch.autograd.grad((tg * torch.tensor(u)).sum(), (tx, tw))
    for ours, theirs in zip(hvp, thvp):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-9, atol=1e-11)


def test_layer_and_group_norm_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    x_np = rng.standard_normal((2, 6, 3, 4))
    w_np, b_np = rng.standard_normal(6), rng.standard_normal(6)
    got = F.group_norm(_t(x_np), 3, _t(w_np), _t(b_np)).numpy()
    want = torch.nn.functional.group_norm(torch.tensor(x_np), 3, torch.tensor(w_np),
                                          torch.tensor(b_np)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    w_np, b_np = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    got = F.layer_norm(_t(x_np), (3, 4), _t(w_np), _t(b_np)).numpy()
    want = torch.nn.functional.layer_norm(torch.tensor(x_np), (3, 4), torch.tensor(w_np),
                                          torch.tensor(b_np)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize("call, message", [
    (lambda x: F.batch_norm(x[0, 0, 0], None, None, training=True),
     r"batch_norm: expected an input \(N, C\) or \(N, C, H, W\), got shape \(4,\)"),
    (lambda x: F.batch_norm(x, minigrad.zeros(3), minigrad.ones(3)),
     r"batch_norm: running_mean must have shape \(2,\), one value per channel"),
    (lambda x: F.batch_norm(x, None, None, minigrad.ones(5)), r"weight must have shape \(2,\)"),
    (lambda x: F.batch_norm(x, minigrad.zeros(2), None), r"give both running_mean and running_var"),
    (lambda x: F.batch_norm(x[:1, :, :1, :1], None, None, training=True),
     r"batch_norm: training needs more than one value per channel.*\(1, 2, 1, 1\)"),
    (lambda x: F.layer_norm(x, (2, 4)), r"layer_norm: normalized_shape \(2, 4\) must be a "
                                         r"non-empty suffix of the input shape \(3, 2, 3, 4\)"),
    (lambda x: F.layer_norm(x, 4, minigrad.ones(3)), r"layer_norm: weight must have shape"),
    (lambda x: F.group_norm(x, 3), r"group_norm: the 2 channels of input \(3, 2, 3, 4\) must "
                                   r"split into num_groups=3 equal groups"),
    (lambda x: F.group_norm(x, 2, minigrad.ones(4)), r"group_norm: weight must have shape \(2,\)"),
])
def test_errors_name_the_op_and_the_fix(call, message):
    with pytest.raises(ValueError, match=message):
        call(minigrad.zeros(3, 2, 3, 4))
