"""The math ops (ops/math.py, ops/math_binary.py, sign): a registry drives forward against
NumPy, gradcheck, gradgradcheck, float32 in and out, integer inputs, and PyTorch
as an oracle for values and gradients; hand-written tests cover the edge cases
(zero gradients of steps, erfc's tail, clamp with tensor bounds, rounding)."""
import math

import numpy as np
import pytest
from op_registry import OpSpec, sample_inputs

import minigrad
import minigrad.functional as F

U = [((3, 4),), ((5,),)]                               # unary shapes
B = [((3, 4), (3, 4)), ((3, 4), (4,)), ((), (2, 3))]   # binary shapes, broadcasting
_ERFC = np.vectorize(math.erfc)
_ERF = np.vectorize(math.erf)


def _spec(name, op, reference, shapes, torch_op, **kw):
    spec = OpSpec(name, op, reference, shapes, **kw)
    spec.torch_op = torch_op  # the same op in PyTorch (the oracle)
    return spec


REGISTRY = [
    _spec("tan", F.tan, np.tan, U, lambda t, x: t.tan(x), low=-1.2, high=1.2),
    _spec("asin", F.asin, np.arcsin, U, lambda t, x: t.asin(x), low=-0.9, high=0.9),
    _spec("acos", F.acos, np.arccos, U, lambda t, x: t.acos(x), low=-0.9, high=0.9),
    _spec("atan", F.atan, np.arctan, U, lambda t, x: t.atan(x)),
    _spec("atan2", F.atan2, np.arctan2, B, lambda t, y, x: t.atan2(y, x), away_from_zero=True),
    _spec("sinh", F.sinh, np.sinh, U, lambda t, x: t.sinh(x)),
    _spec("cosh", F.cosh, np.cosh, U, lambda t, x: t.cosh(x)),
    _spec("asinh", F.asinh, np.arcsinh, U, lambda t, x: t.asinh(x)),
    _spec("acosh", F.acosh, np.arccosh, U, lambda t, x: t.acosh(x), low=1.2, high=3.0),
    _spec("atanh", F.atanh, np.arctanh, U, lambda t, x: t.atanh(x), low=-0.9, high=0.9),
    _spec("log2", F.log2, np.log2, U, lambda t, x: t.log2(x), low=0.3, high=3.0),
    _spec("log10", F.log10, np.log10, U, lambda t, x: t.log10(x), low=0.3, high=3.0),
    _spec("log1p", F.log1p, np.log1p, U, lambda t, x: t.log1p(x), low=-0.7, high=2.0),
    _spec("expm1", F.expm1, np.expm1, U, lambda t, x: t.expm1(x)),
    _spec("exp2", F.exp2, np.exp2, U, lambda t, x: t.exp2(x)),
    _spec("erf", F.erf, _ERF, U, lambda t, x: t.erf(x)),
    _spec("erfc", F.erfc, _ERFC, U, lambda t, x: t.erfc(x)),
    _spec("rsqrt", F.rsqrt, lambda x: 1 / np.sqrt(x), U, lambda t, x: t.rsqrt(x), low=0.3, high=3.0),
    _spec("reciprocal", F.reciprocal, np.reciprocal, U, lambda t, x: t.reciprocal(x),
          away_from_zero=True),
    _spec("square", F.square, np.square, U, lambda t, x: t.square(x)),
    # steps: gradient 0 (the random samples are never within eps of a jump)
    _spec("floor", F.floor, np.floor, U, lambda t, x: t.floor(x), low=-3.0, high=3.0),
    _spec("ceil", F.ceil, np.ceil, U, lambda t, x: t.ceil(x), low=-3.0, high=3.0),
    _spec("round", F.round, np.round, U, lambda t, x: t.round(x), low=-3.0, high=3.0),
    _spec("round_decimals", lambda x: F.round(x, 1), lambda x: np.round(x, 1), U,
          lambda t, x: t.round(x, decimals=1)),
    _spec("trunc", F.trunc, np.trunc, U, lambda t, x: t.trunc(x), low=-3.0, high=3.0),
    _spec("sign", F.sign, np.sign, U, lambda t, x: t.sign(x), away_from_zero=True),
    _spec("frac", F.frac, lambda x: x - np.trunc(x), U, lambda t, x: t.frac(x), low=-3.0, high=3.0),
    # binary
    _spec("fmod", F.fmod, np.fmod, B, lambda t, x, y: t.fmod(x, y), low=0.5, high=2.0),
    _spec("fmod_negative", lambda x, y: F.fmod(-x, y), lambda x, y: np.fmod(-x, y), B[:1],
          lambda t, x, y: t.fmod(-x, y), low=0.5, high=2.0),
    _spec("remainder", lambda x, y: F.remainder(-x, y), lambda x, y: np.remainder(-x, y), B,
          lambda t, x, y: t.remainder(-x, y), low=0.5, high=2.0),
    _spec("mod_operator", lambda x: x % 0.7, lambda x: np.remainder(x, 0.7), U,
          lambda t, x: x % 0.7),
    _spec("copysign", F.copysign, np.copysign, B, lambda t, x, y: t.copysign(x, y),
          away_from_zero=True),
    _spec("hypot", F.hypot, np.hypot, B, lambda t, x, y: t.hypot(x, y), away_from_zero=True),
    _spec("logaddexp", F.logaddexp, np.logaddexp, B, lambda t, x, y: t.logaddexp(x, y)),
    _spec("lerp", F.lerp, lambda a, b, w: a + w * (b - a),
          [((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), ())], lambda t, a, b, w: t.lerp(a, b, w)),
    _spec("lerp_scalar", lambda a, b: F.lerp(a, b, 0.3), lambda a, b: a + 0.3 * (b - a), B[:2],
          lambda t, a, b: t.lerp(a, b, 0.3)),
    # clamp with tensor bounds (sometimes min > max: then max wins, as in PyTorch)
    _spec("clamp_tensors", lambda x, a, b: F.clamp(x, a - 1.0, b + 1.0),
          lambda x, a, b: np.minimum(np.maximum(x, a - 1.0), b + 1.0),
          [((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), ())],
          lambda t, x, a, b: t.clamp(x, a - 1.0, b + 1.0)),
    _spec("clamp_tensor_min", lambda x, a: x.clamp(min=a), np.maximum, B[:2],
          lambda t, x, a: t.clamp(x, min=a)),
    _spec("clamp_tensor_max", lambda x, b: x.clamp(max=b), np.minimum, B[:2],
          lambda t, x, b: t.clamp(x, max=b)),
]
CASES = [pytest.param(spec, shapes, id=f"{spec.name}-{'x'.join(map(str, shapes))}")
         for spec in REGISTRY for shapes in spec.shapes]


@pytest.mark.parametrize("spec, shapes", CASES)
def test_forward_matches_numpy(spec, shapes, device):
    arrays, tensors = sample_inputs(spec, shapes, device)
    out = spec.op(*tensors)
    expected = spec.reference(*arrays)
    assert out.shape == np.shape(expected) and out.device == tensors[0].device
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec, shapes", CASES)
def test_gradcheck_and_gradgradcheck(spec, shapes, device):
    _, tensors = sample_inputs(spec, shapes, device)
    assert minigrad.gradcheck(spec.op, tensors)
    assert minigrad.gradgradcheck(spec.op, tensors)


@pytest.mark.parametrize("spec, shapes", CASES)
def test_float32_stays_float32(spec, shapes, device):
    _, tensors = sample_inputs(spec, shapes, device, dtype=np.float32)
    out = spec.op(*tensors)
    assert out.dtype == np.float32
    (out * out).sum().backward()
    assert all(t.grad is not None and t.grad.dtype == np.float32 and t.grad.shape == t.shape
               for t in tensors)


REAL_VALUED = ["tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "log2",
               "log10", "log1p", "expm1", "exp2", "erf", "erfc", "rsqrt", "reciprocal"]
INTEGER_KEEPING = ["square", "floor", "ceil", "round", "trunc", "sign"]


@pytest.mark.parametrize("name", REAL_VALUED + INTEGER_KEEPING)
def test_integer_input(name, device):
    """Real-valued functions of an integer tensor are float32; steps and square keep int32."""
    x = minigrad.tensor(np.array([1, 2, 3], dtype=np.int32), device=device)
    with np.errstate(all="ignore"):  # asin(2) is NaN, atanh(1) inf: the same in both
        out = getattr(x, name)()
        expected = getattr(F, name)(x.astype(np.float64)).numpy()
    if name in REAL_VALUED:
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    else:
        assert out.dtype == np.int32
        np.testing.assert_array_equal(out.numpy(), np.array([1, 4, 9]) if name == "square"
                                      else np.array([1, 1, 1]) if name == "sign" else [1, 2, 3])


@pytest.mark.parametrize("spec, shapes", CASES)
def test_matches_torch(spec, shapes):
    """Values and the gradients of every input for a fixed cotangent, float64, against PyTorch."""
    torch = pytest.importorskip("torch")
    arrays, tensors = sample_inputs(spec, shapes, "cpu")
    out = spec.op(*tensors)
    cotangent = np.cos(np.arange(out.numel())).reshape(out.shape)
    out.backward(minigrad.tensor(cotangent))
    torch_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    torch_out = spec.torch_op(torch, *torch_inputs)
    torch_out.backward(torch.tensor(cotangent))
    np.testing.assert_allclose(out.numpy(), torch_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    for mine, theirs in zip(tensors, torch_inputs):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ edge cases
@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "round", "trunc"])
def test_steps_have_zero_gradient_not_an_error(name, device):
    x = minigrad.tensor([-1.5, 0.0, 2.5, np.inf], device=device, requires_grad=True)
    y = getattr(x, name)()
    assert y.requires_grad  # part of the graph, as in PyTorch
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(4, np.float32))  # 0, not inf * 0 = NaN


def test_round_halves_to_even_and_decimals(device):
    x = minigrad.tensor([0.5, 1.5, 2.5, -0.5, -1.5], device=device)
    np.testing.assert_array_equal(x.round().numpy(), [0.0, 2.0, 2.0, -0.0, -2.0])
    np.testing.assert_allclose(minigrad.tensor([1.234, -5.678], device=device).round(2).numpy(),
                               [1.23, -5.68], rtol=1e-6)


def test_erfc_is_accurate_where_erf_rounds_to_one(device):
    x = minigrad.tensor(np.array([3.0, 5.0, 8.0]), device=device)
    expected = [math.erfc(3.0), math.erfc(5.0), math.erfc(8.0)]  # 2e-5, 1.5e-12, 1.1e-29
    np.testing.assert_allclose(x.erfc().numpy(), expected, rtol=1e-12)
    assert (1.0 - x.erf()).numpy()[2] == 0.0  # what 1 - erf would have given


def test_fmod_and_remainder_signs(device):
    x, y = minigrad.tensor([-7.0, 7.0], device=device), minigrad.tensor([3.0, -3.0], device=device)
    np.testing.assert_array_equal(F.fmod(x, y).numpy(), [-1.0, 1.0])        # x's sign
    np.testing.assert_array_equal(F.remainder(x, y).numpy(), [2.0, -2.0])   # y's sign
    np.testing.assert_array_equal((minigrad.tensor([-7, 7], device=device) % 3).numpy(), [2, 1])


def test_copysign_gradient_is_zero_at_zero_and_for_the_sign_source(device):
    x = minigrad.tensor([0.0, 2.0, -2.0], device=device, requires_grad=True)
    y = minigrad.tensor([-1.0, -0.0, 3.0], device=device, requires_grad=True)
    out = F.copysign(x, y)
    np.testing.assert_array_equal(out.numpy(), [-0.0, -2.0, 2.0])  # -0.0 counts as negative
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, -1.0, -1.0])
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 0.0, 0.0])


def test_clamp_with_tensor_bounds_keeps_integers_and_ties_go_to_x(device):
    ints = minigrad.tensor([1, 5, 9], device=device)
    low = minigrad.tensor([2, 2, 2], device=device)
    out = ints.clamp(min=low)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), [2, 5, 9])
    x = minigrad.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    lo = minigrad.tensor([1.0, 0.0, 5.0], device=device, requires_grad=True)
    hi = minigrad.tensor([4.0, 2.0, 4.0], device=device, requires_grad=True)  # min > max at 2
    out = F.clamp(x, lo, hi)
    np.testing.assert_array_equal(out.numpy(), [1.0, 2.0, 4.0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 0.0])   # x = min, x = max: to x
    np.testing.assert_array_equal(lo.grad.numpy(), [0.0, 0.0, 0.0])  # min > max: max wins
    np.testing.assert_array_equal(hi.grad.numpy(), [0.0, 0.0, 1.0])


def test_value_tests(device):
    x = minigrad.tensor([1.0, np.nan, np.inf, -np.inf], device=device)
    np.testing.assert_array_equal(x.isnan().numpy(), [False, True, False, False])
    np.testing.assert_array_equal(x.isinf().numpy(), [False, False, True, True])
    np.testing.assert_array_equal(x.isfinite().numpy(), [True, False, False, False])
    a = minigrad.tensor([1.0, 2.0, np.nan], device=device)
    b = minigrad.tensor([1.0 + 1e-7, 2.1, np.nan], device=device)
    np.testing.assert_array_equal(a.isclose(b).numpy(), [True, False, False])
    np.testing.assert_array_equal(a.isclose(b, equal_nan=True, atol=0.2).numpy(), [True, True, True])
    assert a[:1].allclose(b[:1]) is True and a.allclose(b) is False
    assert isinstance(minigrad.tensor([1, 2], device=device).allclose(a[:2]), bool)


def test_new_ops_name_themselves_on_bad_shapes():
    with pytest.raises(RuntimeError, match=r"hypot: shapes \(3,\) and \(4,\)"):
        F.hypot(minigrad.ones(3), minigrad.ones(4))
