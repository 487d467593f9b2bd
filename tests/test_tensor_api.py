"""Tensor methods as PyTorch spells them: size(), dim(), numel(), dim=/keepdim=
beside axis=/keepdims=, transpose(d0, d1), the casts by name, float16, the
errors of minigrad.tensor, out-of-range dims, and inference_mode."""
import inspect

import numpy as np
import pytest

import minigrad
import minigrad.functional as F

ARRAY = np.arange(24, dtype=np.float64).reshape(2, 3, 4) * 0.37 - 4.0


def tensor(array=ARRAY, **kwargs):
    return minigrad.tensor(array, **kwargs)


# ------------------------------------------------------------ shape queries
def test_size_dim_numel(device):
    x = minigrad.zeros(2, 3, 4, device=device)
    assert x.size() == (2, 3, 4) and isinstance(x.size(), tuple)
    assert (x.size(0), x.size(1), x.size(-1), x.size(-3)) == (2, 3, 4, 2)
    assert x.dim() == x.ndimension() == 3
    assert x.numel() == x.nelement() == 24
    assert x.element_size() == 4
    assert minigrad.tensor(2.5).size() == () and minigrad.tensor(2.5).numel() == 1
    assert minigrad.zeros(0, 3).numel() == 0
    assert x.half().element_size() == 2 and x.double().element_size() == 8


@pytest.mark.parametrize("dim", [3, -4, 10])
def test_size_of_a_dim_out_of_range_is_an_index_error(dim):
    with pytest.raises(IndexError, match=rf"size: dim {dim} is out of range .*\[-3, 2\]"):
        minigrad.zeros(2, 3, 4).size(dim)


def test_shape_queries_match_torch():
    torch = pytest.importorskip("torch")
    x, t = minigrad.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    assert x.size() == tuple(t.size())
    assert [x.size(d) for d in range(-3, 3)] == [t.size(d) for d in range(-3, 3)]
    assert (x.dim(), x.numel(), x.element_size()) == (t.dim(), t.numel(), t.element_size())
    with pytest.raises(IndexError):
        t.size(3)  # the error type minigrad raises too


# ----------------------------------------------- dim= / keepdim= and axis= / keepdims=
REDUCTIONS = ["sum", "mean", "max", "min", "var", "std", "logsumexp", "argmax", "argmin", "amax", "amin"]


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("keep", [False, True])
def test_reductions_take_dim_and_axis(name, keep):
    def values(out):  # max(dim) and min(dim) return (values, indices), as in PyTorch
        return out.values if isinstance(out, tuple) else out

    x = tensor()
    fn = getattr(F, name)
    by_torch_names = values(fn(x, dim=1, keepdim=keep))
    by_numpy_names = values(fn(x, axis=1, keepdims=keep))
    # var/std's third positional argument is unbiased, as in PyTorch: keepdim goes by name
    positional = values(fn(x, 1, keepdim=keep) if name in ("var", "std") else fn(x, 1, keep))
    shape = (2, 1, 4) if keep else (2, 4)
    for out in (by_torch_names, by_numpy_names, positional):
        assert out.shape == shape
        np.testing.assert_array_equal(out.numpy(), by_torch_names.numpy())
    if hasattr(x, name):  # the method, with both spellings
        method = getattr(x, name)
        np.testing.assert_array_equal(values(method(dim=1, keepdim=keep)).numpy(), positional.numpy())
        np.testing.assert_array_equal(values(method(axis=1, keepdims=keep)).numpy(), positional.numpy())


SHAPE_OPS = [
    ("squeeze", lambda x, **k: F.squeeze(x[:, :1], **k), {"dim": 1}),
    ("unsqueeze", lambda x, **k: F.unsqueeze(x, **k), {"dim": -1}),
    ("softmax", lambda x, **k: F.softmax(x, **k), {"dim": 1}),
    ("log_softmax", lambda x, **k: F.log_softmax(x, **k), {"dim": 0}),
    ("concatenate", lambda x, **k: F.concatenate([x, x], **k), {"dim": 2}),
    ("cat", lambda x, **k: minigrad.cat([x, x], **k), {"dim": 1}),
    ("stack", lambda x, **k: minigrad.stack([x, x], **k), {"dim": 3}),
    ("cumsum", lambda x, **k: F.cumsum(x, **k), {"dim": 2}),
    ("split", lambda x, **k: F.split(x, 2, **k)[1], {"dim": 2}),
    ("flatten", lambda x, **k: F.flatten(x, **k), {"start_dim": 1}),
]


@pytest.mark.parametrize("name, call, torch_kwargs", SHAPE_OPS, ids=[s[0] for s in SHAPE_OPS])
def test_dim_ops_take_numpy_names_too(name, call, torch_kwargs):
    numpy_kwargs = {"dim": "axis", "start_dim": "start_axis"}
    x = tensor()
    expected = call(x, **torch_kwargs)
    got = call(x, **{numpy_kwargs[k]: v for k, v in torch_kwargs.items()})
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_newer_dim_ops_take_axis_as_functions_and_methods():
    x = tensor()
    np.testing.assert_array_equal(x.cumsum(axis=1).numpy(), np.cumsum(ARRAY, axis=1))
    np.testing.assert_array_equal(x.sort(axis=0)[0].numpy(), np.sort(ARRAY, axis=0))
    np.testing.assert_allclose(F.norm(x, axis=2, keepdims=True).numpy(),
                               np.linalg.norm(ARRAY, axis=2, keepdims=True), rtol=1e-12)
    np.testing.assert_array_equal(x.prod(axis=-1).numpy(), np.prod(ARRAY, axis=-1))
    assert list(inspect.signature(F.sum).parameters)[:3] == ["x", "dim", "keepdim"]  # PyTorch's names shown


@pytest.mark.parametrize("call", [
    lambda x: F.sum(x, dim=1, axis=1),
    lambda x: F.sum(x, 1, axis=1),
    lambda x: x.sum(1, keepdim=True, keepdims=True),
    lambda x: x.mean(dim=0, axis=0),
    lambda x: minigrad.stack([x, x], 0, axis=0),
    lambda x: F.softmax(x, dim=-1, axis=-1),
])
def test_both_names_of_one_argument_is_a_type_error(call):
    with pytest.raises(TypeError, match=r"got both (dim|keepdim)= and (axis|keepdims)="):
        call(tensor())


def test_dim_and_axis_give_one_gradient():
    x = tensor(requires_grad=True)
    (x.softmax(axis=1) * tensor(np.cos(ARRAY))).sum().backward()
    by_axis = x.grad.numpy().copy()
    x.grad = None
    (x.softmax(dim=1) * tensor(np.cos(ARRAY))).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), by_axis)


def test_reductions_with_dim_match_torch():
    torch = pytest.importorskip("torch")
    x, t = tensor(), torch.tensor(ARRAY)
    pairs = [(x.sum(dim=(0, 2)), t.sum(dim=(0, 2))),
             (x.mean(dim=-1, keepdim=True), t.mean(dim=-1, keepdim=True)),
             (x.amax(dim=1), t.amax(dim=1)), (x.logsumexp(dim=2), t.logsumexp(dim=2)),
             (x.softmax(dim=0), t.softmax(dim=0)), (x.argmax(dim=1), t.argmax(dim=1)),
             (x.squeeze(dim=0), t.squeeze(dim=0)), (x.unsqueeze(dim=1), t.unsqueeze(dim=1))]
    for ours, theirs in pairs:
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------ out-of-range dims
OUT_OF_RANGE = [
    ("squeeze", lambda x: x.squeeze(50)),
    ("unsqueeze", lambda x: x.unsqueeze(9)),
    ("stack", lambda x: minigrad.stack([x, x], axis=77)),
    ("sum", lambda x: x.sum(axis=5)),
    ("swapaxes", lambda x: x.transpose(0, 3)),
    ("transpose", lambda x: x.permute(0, 1, 5)),
    ("flip", lambda x: x.flip(4)),
    ("softmax", lambda x: x.softmax(dim=-4)),
    ("argmax", lambda x: x.argmax(dim=3)),
    ("size", lambda x: x.size(3)),
]


@pytest.mark.parametrize("name, call", OUT_OF_RANGE, ids=[n for n, _ in OUT_OF_RANGE])
def test_out_of_range_dims_are_index_errors(name, call):
    with pytest.raises(IndexError, match=rf"{name}: dim"):
        call(tensor())


# ---------------------------------------------------------------- transpose
def test_transpose_of_two_dims_swaps_them_as_in_torch():
    x = tensor()
    assert x.transpose(0, 2).shape == (4, 3, 2)
    np.testing.assert_array_equal(x.transpose(0, 2).numpy(), ARRAY.swapaxes(0, 2))
    np.testing.assert_array_equal(x[0].transpose(0, 1).numpy(), ARRAY[0].T)  # NumPy would not move
    # NumPy's spellings: a full permutation, one tuple, or none (reverse)
    np.testing.assert_array_equal(x.transpose(2, 0, 1).numpy(), ARRAY.transpose(2, 0, 1))
    np.testing.assert_array_equal(x[0].transpose((0, 1)).numpy(), ARRAY[0])
    np.testing.assert_array_equal(x.transpose().numpy(), ARRAY.T)
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(x.transpose(1, -1).numpy(), torch.tensor(ARRAY).transpose(1, -1).numpy())


# ----------------------------------------------------------- casts, float16
CASTS = {"half": np.float16, "float": np.float32, "double": np.float64, "int": np.int32,
         "long": np.int64, "bool": np.bool_}


@pytest.mark.parametrize("name", sorted(CASTS))
def test_casts_by_name(name, device):
    x = tensor(np.array([[-1.5, 0.0, 2.25]]), device=device)
    out = getattr(x, name)()
    assert out.dtype == CASTS[name] and out.device == x.device
    np.testing.assert_array_equal(out.numpy(), np.array([[-1.5, 0.0, 2.25]]).astype(CASTS[name]))
    assert minigrad.half is minigrad.float16 and minigrad.double is minigrad.float64
    assert minigrad.long is minigrad.int64


def test_casts_match_torch():
    torch = pytest.importorskip("torch")
    values = np.array([-2.7, -0.5, 0.0, 0.5, 3.9])
    x, t = tensor(values), torch.tensor(values)
    for name in CASTS:
        ours, theirs = getattr(x, name)(), getattr(t, name)()
        assert ours.dtype.name == str(theirs.dtype).replace("torch.", "")
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())  # int() truncates toward zero


def test_half_is_differentiable_back_to_float32():
    x = minigrad.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (x.half() * 2.0).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


FLOAT16_OPS = [
    ("add", lambda a, b: a + b[:1, :1]),
    ("mul_scalar", lambda a, b: a * 2.5),
    ("div", lambda a, b: a / (b[:1, :1].abs() + 1.0)),
    ("exp", lambda a, b: (a * 0.5).exp()),
    ("tanh", lambda a, b: a.tanh()),
    ("sigmoid", lambda a, b: a.sigmoid()),
    ("relu", lambda a, b: F.relu(a)),
    ("sum", lambda a, b: a.sum(dim=1)),
    ("mean", lambda a, b: a.mean()),
    ("max", lambda a, b: a.max(dim=0).values),
    ("var", lambda a, b: a.var(dim=0)),
    ("softmax", lambda a, b: a.softmax(dim=-1)),
    ("logsumexp", lambda a, b: a.logsumexp(dim=1)),
    ("matmul", lambda a, b: a @ b),
]


@pytest.mark.parametrize("name, op", FLOAT16_OPS, ids=[n for n, _ in FLOAT16_OPS])
def test_float16_agrees_with_float32(name, op, device):
    """float16 has an 11-bit significand: a relative step of ~1e-3 per rounding; the
    inputs are O(1), sums run over at most 16 terms, so 2e-2 absolute covers it."""
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((8, 16)), rng.standard_normal((16, 4))
    results = {}
    for dtype in (np.float16, np.float32):
        x = minigrad.tensor(a, dtype=dtype, device=device, requires_grad=True)
        out = op(x, minigrad.tensor(b, dtype=dtype, device=device))
        assert out.dtype == dtype
        (out * minigrad.tensor(np.cos(np.arange(out.numel())).reshape(out.shape), dtype=dtype,
                               device=device)).sum().backward()
        assert x.grad.dtype == dtype
        results[dtype] = (out.numpy().astype(np.float64), x.grad.numpy().astype(np.float64))
    for half, single in zip(results[np.float16], results[np.float32]):
        np.testing.assert_allclose(half, single, rtol=2e-2, atol=2e-2)


# -------------------------------------------------- minigrad.tensor's bad input
@pytest.mark.parametrize("data, error, words", [
    ("abc", TypeError, "from 'abc' (of type str)"),
    ([object()], TypeError, "of type list"),
    (None, TypeError, "from None"),
    ({"a": 1}, TypeError, "of type dict"),
    ([[1, 2], [3]], ValueError, "different lengths"),
    ([[1.0], [2.0, 3.0], []], ValueError, "different lengths"),
    (np.array(["a", "b"]), TypeError, "dtype <U1"),
    (np.array([object()]), TypeError, "dtype object"),
])
def test_tensor_of_non_numbers_is_a_clear_error(data, error, words):
    with pytest.raises(error, match="minigrad.tensor") as info:
        minigrad.tensor(data)
    assert words in str(info.value)


def test_tensor_errors_are_the_types_torch_raises():
    torch = pytest.importorskip("torch")
    for data, error in (("abc", TypeError), ([[1, 2], [3]], ValueError)):
        with pytest.raises(error):
            torch.tensor(data)
        with pytest.raises(error):
            minigrad.tensor(data)


# ------------------------------------------------------------- inference_mode
def test_inference_mode_records_nothing_and_restores_modes():
    w = minigrad.tensor([1.0, 2.0], requires_grad=True)
    assert not minigrad.is_inference_mode_enabled()
    with minigrad.inference_mode():
        assert minigrad.is_inference_mode_enabled() and not minigrad.is_grad_enabled()
        y = w * 3.0
        with minigrad.inference_mode(False):  # switched off inside: recording again
            assert minigrad.is_grad_enabled() and not minigrad.is_inference_mode_enabled()
            assert (w * 3.0).requires_grad
    assert not minigrad.is_inference_mode_enabled() and minigrad.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_inference()
    assert not w.is_inference()
    np.testing.assert_array_equal(y.numpy(), [3.0, 6.0])


def test_inference_mode_as_a_decorator():
    @minigrad.inference_mode()
    def predict(x):
        return x * 2.0, minigrad.is_inference_mode_enabled()

    out, inside = predict(minigrad.tensor([1.0], requires_grad=True))
    assert inside and not out.requires_grad and not minigrad.is_inference_mode_enabled()


def test_inference_tensors_cannot_be_saved_for_backward():
    w = minigrad.tensor([1.0, 2.0], requires_grad=True)
    with minigrad.inference_mode():
        x = minigrad.tensor([3.0, 4.0])
    with pytest.raises(RuntimeError, match="Mul: inference tensors cannot be saved for backward"):
        w * x  # mul keeps both inputs for backward
    with pytest.raises(RuntimeError, match="inference tensor"):
        x.requires_grad_()
    with pytest.raises(RuntimeError, match="inference tensor"):
        x.detach().requires_grad_()  # the same memory: still an inference tensor
    (w + x).sum().backward()  # add keeps nothing: allowed, as in PyTorch
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0])
    w.grad = None
    normal = x.clone()  # a copy made outside is a normal tensor
    assert not normal.is_inference()
    (w * normal).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 4.0])


def test_inference_mode_matches_torch():
    torch = pytest.importorskip("torch")
    with torch.inference_mode():
        t = torch.ones(2)
    with pytest.raises(RuntimeError, match="Inference tensors cannot be saved for backward"):
        torch.ones(2, requires_grad=True) * t
    with minigrad.inference_mode():
        x = minigrad.ones(2)
    with pytest.raises(RuntimeError, match="(?i)Inference tensors cannot be saved for backward"):
        minigrad.ones(2, requires_grad=True) * x
