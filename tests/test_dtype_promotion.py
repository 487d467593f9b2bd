"""PyTorch's dtype promotion (ops/promotion.py, docs/dtype_promotion.md) and the
issue-10 semantics that go with it: gradients of 0**x and x**0, exact integer
min, out-of-range axes as IndexError, shape mismatches as RuntimeError, and
max's gradient with NaN. Each table row is checked against PyTorch when installed."""
import operator
import pathlib
import re

import numpy as np
import pytest

import minigrad
import minigrad.functional as F

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "dtype_promotion.md"

# (left, right, op, expected): a (dtype, ndim) pair is a tensor, anything else a Python number
VEC, ZERO_D = 1, 0
TABLE = [
    ((np.int32, VEC), 2, operator.add, np.int32),
    ((np.int32, VEC), 2.5, operator.add, np.float32),
    ((np.int32, VEC), True, operator.mul, np.int32),
    ((np.int64, VEC), (np.float32, VEC), operator.add, np.float32),
    ((np.int32, VEC), (np.int64, VEC), operator.add, np.int64),
    ((np.bool_, VEC), 2, operator.add, np.int64),
    ((np.bool_, VEC), 2.5, operator.mul, np.float32),
    ((np.bool_, VEC), (np.bool_, VEC), operator.add, np.bool_),
    ((np.uint8, VEC), (np.int8, VEC), operator.add, np.int16),
    ((np.float16, VEC), 2.5, operator.add, np.float16),
    ((np.float16, VEC), (np.float64, ZERO_D), operator.add, np.float16),
    ((np.int64, VEC), (np.float64, ZERO_D), operator.add, np.float64),
    ((np.int32, VEC), (np.int64, ZERO_D), operator.add, np.int32),
    ((np.int32, ZERO_D), 2.5, operator.add, np.float32),
    ((np.float32, VEC), (np.float64, VEC), operator.add, np.float64),
    ((np.float32, VEC), np.float64(2.0), operator.mul, np.float32),
    ((np.int32, VEC), np.int64(3), operator.sub, np.int32),
    ((np.int32, VEC), (np.int32, VEC), operator.truediv, np.float32),
    ((np.int64, VEC), 2, operator.truediv, np.float32),
    ((np.bool_, VEC), (np.bool_, VEC), operator.truediv, np.float32),
    ((np.float16, VEC), 2, operator.truediv, np.float16),
    (2, (np.int32, VEC), operator.pow, np.int32),
    ((np.int32, VEC), 0.5, operator.pow, np.float32),
    ((np.int32, VEC), (np.float32, VEC), F.maximum, np.float32),
    ((np.int64, VEC), 0.5, F.atan2, np.float32),
    ((np.int32, VEC), (np.float32, VEC), F.hypot, np.float32),
]
UNARY_REAL = ["exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "erf", "log1p", "reciprocal"]


def _make(operand, library, device="cpu"):
    if not isinstance(operand, tuple):
        return operand
    dtype, ndim = operand
    array = np.array([1, 2, 3] if ndim else 2).astype(dtype)
    if library == "minigrad":
        return minigrad.tensor(array, device=device)
    import torch
    return torch.tensor(array)


def _name(case):
    left, right, op, _ = case
    show = lambda v: f"{np.dtype(v[0]).name}{'' if v[1] else '-0d'}" if isinstance(v, tuple) \
        else f"{type(v).__name__}"
    return f"{show(left)}-{getattr(op, '__name__', op)}-{show(right)}"


@pytest.mark.parametrize("case", TABLE, ids=[_name(c) for c in TABLE])
def test_promotion_table(case, device):
    left, right, op, expected = case
    out = op(_make(left, "minigrad", device), _make(right, "minigrad", device))
    assert out.dtype == np.dtype(expected)
    assert out.device == ("cpu" if device == "cpu" else out.device)


@pytest.mark.parametrize("case", TABLE, ids=[_name(c) for c in TABLE])
def test_promotion_table_matches_torch(case):
    torch = pytest.importorskip("torch")
    left, right, op, _ = case
    torch_op = {F.maximum: torch.maximum, F.atan2: torch.atan2, F.hypot: torch.hypot}.get(op, op)
    torch_right = _make(right, "torch")
    if torch_op in (torch.atan2, torch.maximum, torch.hypot) and not isinstance(torch_right, torch.Tensor):
        torch_right = torch.tensor(torch_right)  # these take tensors only in PyTorch
    expected = torch_op(_make(left, "torch"), torch_right).dtype
    out = op(_make(left, "minigrad"), _make(right, "minigrad"))
    assert str(out.dtype) == str(expected).replace("torch.", "")


@pytest.mark.parametrize("name", UNARY_REAL)
def test_real_valued_ops_of_integers_are_float32(name, device):
    x = minigrad.tensor([1, 2, 3], device=device)
    out = getattr(F, name)(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), getattr(F, name)(x.astype(np.float64)).numpy(), rtol=1e-6)


def test_the_conversion_is_differentiable(device):
    w = minigrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    (w * minigrad.tensor(np.array([3.0, 4.0]), device=device)).sum().backward()
    assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 4.0])


def test_the_docs_examples_run():
    """docs/dtype_promotion.md's python blocks, in order, in one namespace (their asserts hold)."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 2
    namespace = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)


def test_the_docs_table_is_the_tested_one():
    """Every row of the docs table names a result that test_promotion_table checks."""
    rows = re.findall(r"^\| (int|uint|bool|float)(.*?)\| (\w+) +\|", DOC.read_text(), flags=re.M)
    assert len(rows) >= 12
    tested = {np.dtype(expected).name for *_, expected in TABLE}
    assert {result for *_, result in rows} <= tested


# ------------------------------------------------- gradients of powers at zero
def test_zero_to_the_x_and_x_to_the_zero_have_gradient_zero(device):
    base = minigrad.tensor([0.0, 0.0, 2.0], device=device, requires_grad=True)
    exponent = minigrad.tensor([2.0, 0.0, 0.0], device=device, requires_grad=True)
    (base ** exponent).sum().backward()
    # d/dbase: 2*0^1 = 0; 0 * 0^-1 -> 0 (not NaN); 0 * 2^-1 = 0
    np.testing.assert_array_equal(base.grad.numpy(), [0.0, 0.0, 0.0])
    # d/dexponent: 0^2 log 0 -> 0, 0^0 log 0 -> 0 (not NaN or -inf), 2^0 log 2
    np.testing.assert_allclose(exponent.grad.numpy(), [0.0, 0.0, np.log(2.0)], rtol=1e-6)
    x = minigrad.tensor([0.0, 1.5], device=device, requires_grad=True)
    (x ** 0.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


def test_powers_at_zero_match_torch():
    torch = pytest.importorskip("torch")
    b, e = np.array([0.0, 0.0, 0.0, 2.0, 3.0]), np.array([2.0, 0.0, 0.5, 0.0, -1.0])
    mb, me = minigrad.tensor(b, requires_grad=True), minigrad.tensor(e, requires_grad=True)
    tb, te = torch.tensor(b, requires_grad=True), torch.tensor(e, requires_grad=True)
    (mb ** me).sum().backward()
    (tb ** te).sum().backward()
    np.testing.assert_allclose(mb.grad.numpy(), tb.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(me.grad.numpy(), te.grad.numpy(), rtol=1e-12)


# ------------------------------------------------------------------ integers
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int8])
def test_integer_min_and_max_at_the_extremes(dtype, device):
    info = np.iinfo(dtype)
    x = minigrad.tensor(np.array([info.min, 5, info.max], dtype=dtype), device=device)
    assert x.min().item() == info.min and x.max().item() == info.max
    np.testing.assert_array_equal(x.reshape(1, 3).amin(axis=1).numpy(), [info.min])


def test_max_gradient_with_nan_goes_to_the_nans(device):
    x = minigrad.tensor([1.0, np.nan, 3.0, np.nan], device=device, requires_grad=True)
    assert np.isnan(x.max().item())
    x.max().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.5, 0.0, 0.5])
    y = minigrad.tensor([1.0, np.nan, 3.0], device=device, requires_grad=True)
    y.min().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 1.0, 0.0])


def test_max_gradient_with_nan_matches_torch():
    torch = pytest.importorskip("torch")
    values = np.array([1.0, np.nan, 3.0, np.nan])
    x, t = minigrad.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    x.max().backward()
    t.max().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


# --------------------------------------------------------- PyTorch's exception types
BAD_AXES = [
    ("squeeze", lambda x: x.squeeze(50)),
    ("unsqueeze", lambda x: x.unsqueeze(4)),
    ("stack", lambda x: F.stack([x, x], axis=77)),
    ("concatenate", lambda x: F.concatenate([x, x], axis=3)),
    ("transpose", lambda x: x.permute(0, 1, 5)),
    ("swapaxes", lambda x: x.swapaxes(0, 3)),
    ("flatten", lambda x: x.flatten(4)),
    ("split", lambda x: F.split(x, 2, axis=-4)),
    ("sum", lambda x: x.sum(axis=3)),
    ("max", lambda x: x.max(axis=-4)),
    ("softmax", lambda x: F.softmax(x, 3)),
]


@pytest.mark.parametrize("name, call", BAD_AXES, ids=[n for n, _ in BAD_AXES])
def test_out_of_range_axes_are_index_errors(name, call):
    x = minigrad.ones(2, 2, 2)
    with pytest.raises(IndexError, match=rf"{name}: dim -?\d+ is out of range"):
        call(x)
    with pytest.raises(ValueError):  # what minigrad raised before: old handlers still work
        call(x)


@pytest.mark.parametrize("name, call", BAD_AXES, ids=[n for n, _ in BAD_AXES])
def test_out_of_range_axes_are_index_errors_in_torch_too(name, call):
    torch = pytest.importorskip("torch")
    torch_calls = {"squeeze": lambda t: t.squeeze(50), "unsqueeze": lambda t: t.unsqueeze(4),
                   "stack": lambda t: torch.stack([t, t], 77), "concatenate": lambda t: torch.cat([t, t], 3),
                   "transpose": lambda t: t.permute(0, 1, 5), "swapaxes": lambda t: t.swapaxes(0, 3),
                   "flatten": lambda t: t.flatten(4), "split": lambda t: t.split(1, -4),
                   "sum": lambda t: t.sum(3), "max": lambda t: t.amax(-4), "softmax": lambda t: t.softmax(3)}
    with pytest.raises(IndexError):
        torch_calls[name](torch.ones(2, 2, 2))


def test_shape_mismatches_are_runtime_errors():
    with pytest.raises(RuntimeError, match=r"add: shapes \(3, 4\) and \(5,\) cannot be broadcast"):
        minigrad.ones(3, 4) + minigrad.ones(5)
    with pytest.raises(RuntimeError, match="concatenate: shapes"):
        F.concatenate([minigrad.ones(2, 3), minigrad.ones(3, 3)], axis=1)
    with pytest.raises(RuntimeError, match="stack: all tensors must have the same shape"):
        F.stack([minigrad.ones(2), minigrad.ones(3)])
    with pytest.raises(RuntimeError, match=r"matmul: shapes \(3, 4\) and \(5, 2\) are not aligned"):
        minigrad.ones(3, 4) @ minigrad.ones(5, 2)


# ------------------------------------------ mixed advanced indexing: PyTorch's axis order
MIXED_INDICES = [
    (0, slice(None), [0, 1]),                 # NumPy: (2, 3, 5); PyTorch: (3, 2, 5)
    (0, slice(None), slice(None), [1, 2]),
    (0, [0, 1], slice(None), [1, 2]),
    ([1, 0], slice(None), 2, [3, 1]),
    (None, 1, slice(None), [0, 2, 1]),
    (Ellipsis, 0, [0, 1]),
    (1, slice(None), slice(None), [[0, 1], [2, 3]]),
]
EXPECTED_SHAPES = [(3, 2, 5), (3, 4, 2), (2, 4), (2, 3), (1, 3, 3, 5), (2, 3, 2), (3, 4, 2, 2)]


@pytest.mark.parametrize("index, shape", list(zip(MIXED_INDICES, EXPECTED_SHAPES)),
                         ids=[str(i) for i in range(7)])
def test_mixed_advanced_indexing_orders_axes_as_pytorch(index, shape, device):
    values = np.arange(120.0).reshape(2, 3, 4, 5)
    x = minigrad.tensor(values, device=device, requires_grad=True)
    out = x[index]
    assert out.shape == shape
    # the same values as applying the ints first, then the arrays (PyTorch's meaning)
    ints_first = tuple(p if isinstance(p, int) else slice(None) if isinstance(p, list) else p
                       for p in index)
    then_arrays = tuple(np.array(p) if isinstance(p, list) else Ellipsis if p is Ellipsis
                        else slice(None) for p in index if not isinstance(p, int))
    np.testing.assert_array_equal(out.numpy(), values[ints_first][then_arrays])
    assert minigrad.gradcheck(lambda t: t[index], [x])


@pytest.mark.parametrize("index", MIXED_INDICES, ids=[str(i) for i in range(7)])
def test_mixed_advanced_indexing_matches_torch(index):
    torch = pytest.importorskip("torch")
    values = np.arange(120.0).reshape(2, 3, 4, 5)
    torch_index = tuple(torch.tensor(p) if isinstance(p, list) else p for p in index)
    np.testing.assert_array_equal(minigrad.tensor(values)[index].numpy(),
                                  torch.tensor(values)[torch_index].numpy())


@pytest.mark.parametrize("index", MIXED_INDICES, ids=[str(i) for i in range(7)])
def test_mixed_advanced_index_writes_where_it_reads(index, device):
    """x[index] = v puts v's elements where x[index] reads them (PyTorch's order)."""
    values = np.arange(120.0).reshape(2, 3, 4, 5)
    x = minigrad.tensor(values, device=device)
    shape = x[index].shape
    new = minigrad.tensor(-1.0 - np.arange(int(np.prod(shape))).reshape(shape), device=device)
    x[index] = new
    np.testing.assert_array_equal(x[index].numpy(), new.numpy())
    untouched = np.ones(values.shape, bool)
    untouched[np.isin(values, minigrad.tensor(values)[index].numpy())] = False
    np.testing.assert_array_equal(x.numpy()[untouched], values[untouched])
    x[index] += 1.0  # getitem, add, setitem: the shapes agree
    np.testing.assert_array_equal(x[index].numpy(), new.numpy() + 1.0)


@pytest.mark.parametrize("index", MIXED_INDICES, ids=[str(i) for i in range(7)])
def test_mixed_advanced_index_writes_match_torch_with_gradients(index):
    torch = pytest.importorskip("torch")
    values = np.random.default_rng(0).normal(size=(2, 3, 4, 5))
    torch_index = tuple(torch.tensor(p) if isinstance(p, list) else p for p in index)
    shape = minigrad.tensor(values)[index].shape
    v0 = np.random.default_rng(1).normal(size=shape)
    x, v = minigrad.tensor(values, requires_grad=True), minigrad.tensor(v0, requires_grad=True)
    x_t, v_t = torch.tensor(values, requires_grad=True), torch.tensor(v0, requires_grad=True)
    y, y_t = x * 2.0, x_t * 2.0
    y[index] = v * 3.0
    y_t[torch_index] = v_t * 3.0
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), rtol=1e-15)
    g = np.random.default_rng(2).normal(size=values.shape)
    y.backward(minigrad.tensor(g))
    y_t.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), x_t.grad.numpy(), rtol=1e-15)
    np.testing.assert_allclose(v.grad.numpy(), v_t.grad.numpy(), rtol=1e-15)


def test_mixed_advanced_index_write_gradcheck(device):
    def write(x, v):
        y = x * 1.0
        y[0, :, [2, 0]] = v
        return y
    x = minigrad.tensor(np.random.default_rng(3).normal(size=(2, 3, 4)), device=device, requires_grad=True)
    v = minigrad.tensor(np.random.default_rng(4).normal(size=(3, 2)), device=device, requires_grad=True)
    assert minigrad.gradcheck(write, [x, v])


# ------------------------------- promotion in in-place ops, where and comparisons
@pytest.mark.parametrize("op", ["add_", "mul_", "sub_"])
def test_inplace_result_must_cast_to_self(op, device):
    """int32 += float32 is refused, with PyTorch's wording; float32 += float64 stays float32."""
    x = minigrad.tensor(np.array([1, 2], np.int32), device=device)
    with pytest.raises(RuntimeError, match=f"{op}: result type float32 can't be cast to the desired "
                                           "output type int32"):
        getattr(x, op)(minigrad.tensor(np.array([0.5, 1.5], np.float32), device=device))
    with pytest.raises(RuntimeError, match="can't be cast"):
        getattr(x, op)(1.5)
    y = minigrad.tensor(np.array([1.0, 2.0], np.float32), device=device)
    getattr(y, op)(minigrad.tensor(np.array([0.5, 1.5]), device=device))
    assert y.dtype == np.float32
    z = minigrad.tensor(np.array([1, 2], np.int64), device=device)
    getattr(z, op)(minigrad.tensor(np.array([3, 4], np.int32), device=device))  # int into int: fine
    assert z.dtype == np.int64


def test_inplace_casting_matches_torch():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type Int"):
        torch.tensor([1, 2], dtype=torch.int32).add_(torch.tensor([0.5, 1.5]))


WHERE_CASES = [  # (x, y): values of where(mask, x, y), as dtypes or Python numbers
    (np.int32, np.float32), (np.int64, np.float16), (np.float32, np.float64), (np.int32, 2.5),
    (np.int32, 3), (np.uint8, np.int8), (np.bool_, np.int32), (np.float16, 1.0),
]


def _operand(spec, device, torch=None):
    if isinstance(spec, (int, float)):
        return spec
    values = np.array([1, 0, 1]).astype(spec)
    return torch.tensor(values) if torch else minigrad.tensor(values, device=device)


@pytest.mark.parametrize("x, y", WHERE_CASES, ids=[str(c) for c in WHERE_CASES])
def test_where_promotes_its_two_values(x, y, device):
    mask = minigrad.tensor(np.array([True, False, True]), device=device)
    out = F.where(mask, _operand(x, device), _operand(y, device))
    assert out.dtype == minigrad.ops.promotion.result_type(_operand(x, device), _operand(y, device))


@pytest.mark.parametrize("x, y", WHERE_CASES, ids=[str(c) for c in WHERE_CASES])
def test_where_dtype_matches_torch(x, y):
    torch = pytest.importorskip("torch")
    mask = np.array([True, False, True])
    out_t = torch.where(torch.tensor(mask), _operand(x, None, torch), _operand(y, None, torch))
    out = F.where(minigrad.tensor(mask), _operand(x, "cpu"), _operand(y, "cpu"))
    assert str(out.dtype) == str(out_t.dtype).replace("torch.", "")
    np.testing.assert_array_equal(out.numpy(), out_t.numpy())


def test_where_gradient_through_promotion(device):
    mask = minigrad.tensor(np.array([True, False, True]), device=device)
    a = minigrad.tensor(np.array([1.0, 2.0, 3.0], np.float32), device=device, requires_grad=True)
    b = minigrad.tensor(np.array([4.0, 5.0, 6.0]), device=device, requires_grad=True)  # float64
    out = F.where(mask, a, b)
    out.sum().backward()
    assert out.dtype == np.float64 and a.grad.dtype == np.float32
    np.testing.assert_array_equal(a.grad.numpy(), [1, 0, 1])
    np.testing.assert_array_equal(b.grad.numpy(), [0, 1, 0])


COMPARISONS = ["__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"]


@pytest.mark.parametrize("op", COMPARISONS)
def test_comparisons_compare_in_the_promoted_dtype(op, device):
    """int32 16777217 against float32 16777216.0: both are 16777216 in float32,
    the promoted dtype, so they are equal (NumPy's float64 comparison says not)."""
    big = minigrad.tensor(np.array([16777217, 3], np.int32), device=device)
    near = minigrad.tensor(np.array([16777216.0, 3.5], np.float32), device=device)
    out = getattr(big, op)(near)
    assert out.dtype == np.bool_
    promoted = np.array([16777217, 3], np.int32).astype(np.float32)
    expected = getattr(promoted, op)(np.array([16777216.0, 3.5], np.float32))
    np.testing.assert_array_equal(out.numpy(), expected)
    assert getattr(minigrad.tensor(np.array([16777217]), device=device), op)(16777216.0).numpy()[0] == \
        getattr(np.float32(16777216.0), op)(np.float32(16777216.0))  # int64 with a Python float: float32


@pytest.mark.parametrize("op", COMPARISONS)
def test_comparisons_match_torch(op):
    torch = pytest.importorskip("torch")
    cases = [(np.array([16777217, 3], np.int32), np.array([16777216.0, 3.5], np.float32)),
             (np.array([2**53 + 1]), np.array([2.0**53])),
             (np.array([1, 2], np.uint8), np.array([1, 3], np.int8))]
    for a, b in cases:
        ours = getattr(minigrad.tensor(a), op)(minigrad.tensor(b)).numpy()
        theirs = getattr(torch.tensor(a), op)(torch.tensor(b)).numpy()
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(getattr(minigrad.tensor(np.array([16777217])), op)(16777216.0).numpy(),
                                  getattr(torch.tensor([16777217]), op)(16777216.0).numpy())
