"""Every core op of the registry: forward vs NumPy, gradcheck, gradgradcheck, dtype kept."""
import numpy as np
import pytest
from op_registry import REGISTRY, sample_inputs

import minigrad

CASES = [pytest.param(spec, shapes, id=f"{spec.name}-{'x'.join(map(str, shapes))}")
         for spec in REGISTRY for shapes in spec.shapes]


def _tuple(x):
    return x if isinstance(x, tuple) else (x,)


@pytest.mark.parametrize("spec, shapes", CASES)
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
