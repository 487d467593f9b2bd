"""Every op of the registries on every device: forward vs NumPy, gradcheck and
gradgradcheck (on device arrays too), dtype kept, and cuda equal to cpu."""
import numpy as np
import pytest
from op_registry import CUDA_SECOND_ORDER, LAYER_REGISTRY, REGISTRY, sample_inputs

import minigrad

CASES = [pytest.param(spec, shapes, id=f"{spec.name}-{'x'.join(map(str, shapes))}")
         for spec in REGISTRY + LAYER_REGISTRY for shapes in spec.shapes]


def _tuple(x):
    return x if isinstance(x, tuple) else (x,)


@pytest.mark.parametrize("spec, shapes", [c for c in CASES if c.values[0].reference is not None])
def test_forward_matches_numpy(spec, shapes, device):
    arrays, tensors = sample_inputs(spec, shapes, device)
    out = spec.op(*tensors)
    expected = spec.reference(*arrays)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec, shapes", CASES)
def test_gradcheck(spec, shapes, device):
    _, tensors = sample_inputs(spec, shapes, device)
    assert minigrad.gradcheck(spec.op, tensors)


@pytest.mark.parametrize("spec, shapes", [c for c in CASES if c.values[0].second_order])
def test_gradgradcheck(spec, shapes, device):
    if device == "cuda" and spec.reference is None and CUDA_SECOND_ORDER not in spec.tags:
        pytest.skip("second order of this layer is checked on cpu (cuda: a representative few)")
    _, tensors = sample_inputs(spec, shapes, device)
    assert minigrad.gradgradcheck(spec.op, tensors)


@pytest.mark.parametrize("spec, shapes", CASES)
def test_float32_stays_float32(spec, shapes, device):
    """No silent promotion: float32 in, float32 out, float32 gradients."""
    _, tensors = sample_inputs(spec, shapes, device, dtype=np.float32)
    out = spec.op(*tensors)
    assert out.dtype == np.float32
    (out * out).sum().backward()
    for t in tensors:
        assert t.grad is not None and t.grad.dtype == np.float32
        assert t.grad.shape == t.shape


def _forward_backward(spec, shapes, device):
    """The op's output and its inputs' gradients for the cotangent cos(out), as NumPy arrays."""
    _, tensors = sample_inputs(spec, shapes, device)
    out = spec.op(*tensors)
    out.backward(minigrad.tensor(np.cos(np.arange(out.numel())).reshape(out.shape), device=device))
    return out.numpy(), [t.grad.numpy() for t in tensors]


@pytest.mark.skipif(not minigrad.cuda.is_available(), reason="CuPy (or its stand-in) is not available")
@pytest.mark.parametrize("spec, shapes", [c for c in CASES if "random" not in c.values[0].tags])
def test_cuda_matches_cpu(spec, shapes):
    """Same inputs, same cotangent: the cuda output and gradients are the cpu ones, to rounding
    (GPU reductions and matrix products may sum in another order)."""
    out_cpu, grads_cpu = _forward_backward(spec, shapes, "cpu")
    out_cuda, grads_cuda = _forward_backward(spec, shapes, "cuda")
    np.testing.assert_allclose(out_cuda, out_cpu, rtol=1e-10, atol=1e-12)
    for g_cuda, g_cpu in zip(grads_cuda, grads_cpu):
        np.testing.assert_allclose(g_cuda, g_cpu, rtol=1e-10, atol=1e-12)
