"""Tensor creation, dtype policy, conversion, repr, devices."""
import numpy as np
import pytest

import minigrad


def test_dtype_policy_of_tensor():
    assert minigrad.tensor(1.5).dtype == np.float32
    assert minigrad.tensor([1.0, 2.0]).dtype == np.float32
    assert minigrad.tensor([[1, 2]]).dtype == np.int64
    assert minigrad.tensor(3).dtype == np.int64
    assert minigrad.tensor(True).dtype == np.bool_
    assert minigrad.tensor(np.zeros(2)).dtype == np.float64  # NumPy arrays keep their dtype
    assert minigrad.tensor(np.zeros(2, np.float16)).dtype == np.float16
    assert minigrad.tensor(np.float64(2.0)).dtype == np.float64
    assert minigrad.tensor([1, 2], dtype=np.float64).dtype == np.float64


def test_tensor_copies_its_data():
    a = np.ones(3)
    x = minigrad.tensor(a)
    a[0] = 5
    assert x.numpy()[0] == 1


def test_creation_functions(device):
    assert minigrad.zeros(2, 3, device=device).shape == (2, 3)
    assert minigrad.zeros((2, 3)).shape == (2, 3)
    assert minigrad.ones(4).dtype == np.float32
    np.testing.assert_array_equal(minigrad.full((2,), 7.0).numpy(), [7.0, 7.0])
    assert minigrad.arange(5).dtype == np.int64
    np.testing.assert_array_equal(minigrad.arange(1, 2, 0.5).numpy(), [1.0, 1.5])
    assert minigrad.arange(0, 1, 0.25).dtype == np.float32
    np.testing.assert_array_equal(minigrad.eye(3).numpy(), np.eye(3))
    x = minigrad.randn(3, 4, dtype=np.float64, requires_grad=True)
    assert x.dtype == np.float64 and x.requires_grad and x.is_leaf
    z = minigrad.zeros_like(x)
    assert z.shape == x.shape and z.dtype == x.dtype and not z.requires_grad
    assert minigrad.ones_like(x).numpy().sum() == 12
    r = minigrad.rand(1000)
    assert 0 <= r.numpy().min() and r.numpy().max() < 1


def test_manual_seed_makes_draws_reproducible():
    minigrad.manual_seed(123)
    a = minigrad.randn(5).numpy()
    minigrad.manual_seed(123)
    b = minigrad.randn(5).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, minigrad.randn(5).numpy())


def test_properties_and_conversions():
    x = minigrad.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    assert (x.shape, x.ndim, x.numel(), x.device, len(x)) == ((2, 3), 2, 6, "cpu", 2)
    assert isinstance(x.numpy(), np.ndarray)
    assert x.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert x.sum().item() == 21.0 and isinstance(x.sum().item(), float)
    with pytest.raises(ValueError, match="one element"):
        x.item()
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None and d.data is x.data
    y = x.astype(np.float64)
    assert y.dtype == np.float64 and y.grad_fn is not None
    y.sum().backward()
    assert x.grad.dtype == np.float32
    assert x.to("cpu") is x and x.cpu() is x
    assert x.T.shape == (3, 2)


def test_repr_shows_values_shape_dtype_and_grad_fn():
    x = minigrad.tensor([1.0, 2.0], requires_grad=True)
    assert "requires_grad=True" in repr(x) and "float32" in repr(x) and "(2,)" in repr(x)
    text = repr(x * 2.0)
    assert "grad_fn=<Mul>" in text and "2." in text and "4." in text


def test_cuda_is_available_never_raises_and_cuda_requests_are_clear():
    assert minigrad.cuda.is_available() in (True, False)
    if not minigrad.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            minigrad.zeros(2, device="cuda")
    with pytest.raises(ValueError, match="unknown device"):
        minigrad.zeros(2, device="tpu")


def test_setitem_outside_the_graph():
    x = minigrad.zeros(3)
    x[1] = 5.0
    np.testing.assert_array_equal(x.numpy(), [0, 5, 0])
    w = minigrad.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        w[0] = 1.0
    with minigrad.no_grad():
        w[0] = 1.0
    assert w.numpy()[0] == 1.0


def test_comparisons_return_boolean_constants():
    x = minigrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result in (x > 1.5, x >= 2.0, x < 2.0, x <= 1.0, x == 2.0, x != 2.0):
        assert result.dtype == np.bool_ and not result.requires_grad
    np.testing.assert_array_equal((x > 1.5).numpy(), [False, True, True])
    assert x.argmax().item() == 2


def _cpu(*shape):
    return minigrad.randn(*shape)


def _gpu(*shape):
    return minigrad.randn(*shape, device="cuda")


MIXED_DEVICES = {  # one argument on the cpu, the rest on cuda
    "add": lambda: _cpu(2) + _gpu(2),
    "matmul": lambda: _cpu(2, 3) @ _gpu(3, 2),
    "add_": lambda: _gpu(2).add_(_cpu(2)),
    "concatenate": lambda: minigrad.functional.concatenate([_cpu(2), _gpu(2)]),
    "where_condition": lambda: minigrad.functional.where(_cpu(2) > 0, _gpu(2), _gpu(2)),
    "conv2d": lambda: minigrad.functional.conv2d(_gpu(1, 1, 4, 4), _gpu(2, 1, 3, 3), _cpu(2)),
    "linear": lambda: minigrad.functional.linear(_gpu(2, 3), _cpu(4, 3)),
    "batch_norm_running_stats": lambda: minigrad.functional.batch_norm(
        _gpu(4, 3), minigrad.zeros(3), minigrad.ones(3), training=True),
    "layer_norm": lambda: minigrad.functional.layer_norm(_gpu(2, 3), (3,), _cpu(3)),
    "attention_mask": lambda: minigrad.functional.scaled_dot_product_attention(
        _gpu(1, 2, 3), _gpu(1, 2, 3), _gpu(1, 2, 3), attn_mask=minigrad.tensor(np.ones((2, 2), bool))),
    "mse_loss": lambda: minigrad.functional.mse_loss(_gpu(2), _cpu(2)),
}


@pytest.mark.skipif(not minigrad.cuda.is_available(), reason="CuPy (or its stand-in) is not available")
@pytest.mark.parametrize("call", MIXED_DEVICES.values(), ids=MIXED_DEVICES)
def test_mixing_devices_is_an_error_naming_both_and_the_fix(call):
    with pytest.raises(RuntimeError, match=r"(?s)(cpu.*cuda:0|cuda:0.*cpu).*\.to\('"):
        call()
