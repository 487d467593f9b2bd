"""Bad input raises clear errors that name the op, the shapes/dtypes/devices, and the fix."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad.tensor import Tensor


def test_broadcast_mismatch_names_op_and_shapes():
    a, b = minigrad.ones(3, 4), minigrad.ones(5)
    with pytest.raises(ValueError, match=r"add: shapes \(3, 4\) and \(5,\) cannot be broadcast"):
        a + b
    with pytest.raises(ValueError, match=r"mul: shapes"):
        a * minigrad.ones(2, 4)


def test_matmul_mismatch():
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 2\) are not aligned"):
        minigrad.ones(3, 4) @ minigrad.ones(5, 2)
    with pytest.raises(ValueError, match="at least one dimension"):
        F.matmul(minigrad.tensor(1.0), minigrad.ones(2))


def test_reshape_mismatch():
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\) "
                                         r"\(6 elements\) into shape \(4, 2\)"):
        minigrad.ones(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match="reshape"):
        minigrad.ones(2, 3).reshape(-1, 4)


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match=r"floating-point.*int64.*astype"):
        minigrad.tensor([1, 2], requires_grad=True)


def test_backward_on_non_scalar_needs_gradient():
    y = minigrad.ones(2, 3, requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\).*gradient="):
        y.backward()
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\) but the output has shape"):
        y.backward(minigrad.ones(3))
    y.backward(minigrad.ones(2, 3))  # with a matching gradient it works


def test_backward_on_tensor_without_graph():
    with pytest.raises(RuntimeError, match="does not require grad"):
        minigrad.ones(2).sum().backward()


def test_device_mismatch_names_both_devices_and_the_fix():
    cpu = minigrad.ones(2)
    # A tensor labelled as living on another device: the check happens before
    # any computation, so a label is enough to exercise it without a GPU.
    elsewhere = Tensor._wrap(np.ones(2, np.float32), "cuda:0")
    with pytest.raises(RuntimeError, match=r"(?i)add: .*cpu.*cuda:0.*\.to\('cpu'\)"):
        cpu + elsewhere


def test_axis_out_of_range():
    with pytest.raises(ValueError, match="sum: dim 2 is out of range"):
        minigrad.ones(2, 3).sum(axis=2)


def test_concatenate_and_stack_shape_mismatch():
    with pytest.raises(ValueError, match="concatenate: shapes"):
        F.concatenate([minigrad.ones(2, 3), minigrad.ones(3, 3)], axis=1)
    with pytest.raises(ValueError, match="stack: all tensors must have the same shape"):
        F.stack([minigrad.ones(2), minigrad.ones(3)])


def test_getitem_out_of_range_names_shape():
    with pytest.raises(IndexError, match=r"shape \(2, 3\)"):
        minigrad.ones(2, 3)[5]


def test_broadcast_to_impossible_shape():
    with pytest.raises(ValueError, match=r"broadcast_to: cannot broadcast a tensor of shape \(3,\)"):
        minigrad.ones(3).broadcast_to((2, 4))


def test_split_sizes_that_do_not_add_up():
    with pytest.raises(ValueError, match="sum to the size 3 of dim 0"):
        F.split(minigrad.ones(3), [1, 1])
