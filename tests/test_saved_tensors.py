"""What a graph node keeps for backward: exactly what its op declares.

Edges point to the nodes that produced the inputs, so an op whose backward
needs no input values (add, reshape, sum, ...) must not keep its inputs'
arrays alive; an op that saved a tensor must notice when that tensor was
modified in place before backward, instead of returning a wrong gradient."""
import gc
import inspect
import re
import weakref

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad.autograd import Function
from minigrad.ops.normalization import BatchNormTrain


def t(values, requires_grad=True):
    return minigrad.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def _bump(tensor):
    """Modify a tensor in place the way an in-place op does: new values, version + 1."""
    tensor.data[...] = 0.0
    tensor._version += 1


# ------------------------------------------------------ what stays alive
FIRST_ROW = [[2.0, 2.0], [0.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize("op, expected_grad", [
    (lambda h: h + 1.0, 2.0), (lambda h: h.reshape(2, 3), 2.0), (lambda h: h.sum(), 2.0),
    (lambda h: -h, -2.0), (lambda h: h.T, 2.0), (lambda h: h[0], FIRST_ROW)],
    ids=["add", "reshape", "sum", "neg", "transpose", "getitem"])
def test_a_node_that_needs_no_input_values_keeps_no_input_array(op, expected_grad):
    x = t(np.ones((3, 2)))
    h = x * 2.0                      # a non-leaf: nothing but the graph could keep it
    probe = weakref.ref(h.data)
    loss = op(h).sum()
    del h                            # (a reshape's output is a view of h: gone with it)
    gc.collect()
    assert probe() is None           # the node points to the Mul node, not to h's array
    loss.backward()                  # ...and backward works from the shapes it kept
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(expected_grad, (3, 2)), rtol=0)


def test_mul_keeps_exactly_its_two_inputs():
    x, w = t(np.ones(4)), t(np.arange(4.0))
    h = x * 3.0
    y = h * w
    h_array, w_array, y_array = weakref.ref(h.data), weakref.ref(w.data), weakref.ref(y.data)
    node = y.grad_fn
    saved = [s.tensor for s in node._saved_inputs]
    assert len(saved) == 2 and saved[0] is h and saved[1] is w
    del saved
    assert node._saved_outputs == () and node.saved == ()
    loss = y.sum()
    del h, y
    gc.collect()
    assert h_array() is not None and w_array() is not None  # saved: kept
    assert y_array() is None                                   # its own output: not kept
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 3.0 * np.arange(4.0), rtol=1e-15)
    gc.collect()
    assert h_array() is None   # freed once its backward has run


def test_exp_keeps_its_output_not_its_input_and_stays_twice_differentiable():
    x = t([0.5, -1.0])
    h = x * 1.0
    y = h.exp()
    h_array = weakref.ref(h.data)
    del h
    gc.collect()
    assert h_array() is None                    # exp' = exp: the input is not needed
    (g,) = minigrad.grad(y.sum(), [x], create_graph=True)
    (gg,) = minigrad.grad(g.sum(), [x])
    np.testing.assert_allclose(gg.numpy(), np.exp([0.5, -1.0]), rtol=1e-14)


def test_batch_norm_statistics_are_outputs_not_node_attributes():
    x = t(np.random.default_rng(0).normal(size=(4, 3, 2, 2)))
    w, b = t(np.ones(3)), t(np.zeros(3))
    fn = BatchNormTrain(1e-5)
    y, mean, var = fn(x, w, b)
    np.testing.assert_allclose(mean.numpy(), x.numpy().mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(var.numpy(), x.numpy().var(axis=(0, 2, 3)), rtol=1e-12)
    assert not mean.requires_grad and mean.grad_fn is None and not var.requires_grad
    assert not hasattr(fn, "batch_mean") and not hasattr(fn, "batch_var")
    assert minigrad.gradcheck(lambda a: BatchNormTrain(1e-5)(a, w, b)[0], [x])


# ------------------------------------------------------------- the version check
def test_modifying_a_saved_input_in_place_is_an_error_naming_op_shape_versions_and_fix():
    x, w = t([1.0, 2.0]), t([3.0, 4.0])
    h = x * 1.0
    y = (w * h).sum()
    _bump(h)
    with pytest.raises(RuntimeError) as error:
        y.backward()
    message = str(error.value)
    assert message.startswith("Mul.backward: a tensor it saved (shape (2,))")
    assert "saved at version 0, now version 1" in message
    assert "clone()" in message


def test_modifying_a_saved_output_in_place_is_an_error():
    x = t([0.0, 1.0, 2.0])
    y = x.tanh()
    loss = y.sum()           # Sum saves nothing: the check that fires is Tanh's own
    _bump(y)
    with pytest.raises(RuntimeError, match=r"Tanh\.backward: .*shape \(3,\).*version 0, now version 1"):
        loss.backward()


def test_modifying_an_input_that_was_not_saved_is_fine():
    x = t([1.0, 2.0, 3.0])
    h = x * 2.0
    y = (h + 1.0).sum()      # Add needs no values: changing h afterwards cannot hurt it
    _bump(h)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0], rtol=0)


def test_a_version_change_before_the_op_used_the_tensor_is_fine():
    x, w = t([1.0, 2.0]), t([3.0, 4.0])
    h = x * 1.0
    _bump(h)
    (w * h).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0], rtol=0)


@pytest.mark.skipif(not hasattr(minigrad.Tensor, "add_"), reason="needs the in-place ops (helper E2)")
def test_zero_in_place_after_use_is_caught():
    x, w = t([1.0, 2.0]), t([3.0, 4.0])
    h = x * 1.0
    y = (w * h).sum()
    h.zero_()
    with pytest.raises(RuntimeError, match=r"Mul\.backward: a tensor it saved .*modified in place"):
        y.backward()


# ------------------------------------------------------------ every op declares
def _function_classes():
    seen, stack = [], list(Function.__subclasses__())
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return sorted({c for c in seen if c.__module__.startswith("minigrad.")},
                  key=lambda c: (c.__module__, c.__name__))


FUNCTIONS = [c for c in _function_classes() if "backward" in vars(c)]


def test_the_registry_of_functions_is_complete():
    assert len(FUNCTIONS) >= 45  # every differentiable op, SumTo in the engine included
    assert F.exp is not None  # (importing minigrad.functional defined them all)


@pytest.mark.parametrize("cls", FUNCTIONS, ids=lambda c: c.__name__)
def test_every_op_declares_what_backward_keeps_and_reads_nothing_else(cls):
    own = set()
    for klass in cls.__mro__[:cls.__mro__.index(Function)]:
        own |= set(vars(klass))
    assert {"save_inputs", "save_outputs"} <= own, f"{cls.__name__} must declare both flags"
    source = inspect.getsource(cls.backward)
    if not cls.save_inputs:
        assert "self.inputs" not in source
    if not cls.save_outputs:
        assert not re.search(r"self\.outputs?\b", source)
    if "self.saved" in source:
        assert "save_for_backward" in inspect.getsource(cls)


def test_an_inplace_op_that_saves_its_output_keeps_the_tensor_not_a_second_copy():
    x = t(np.linspace(-1.0, 1.0, 6))
    h = x * 1.0
    h.relu_()                                   # relu' reads the output: h's own values
    saved = h.grad_fn._saved_outputs[0].tensor
    assert np.shares_memory(saved.data, h.data)  # no second activation-sized array
    (h * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2.0 * (x.numpy() > 0))


def test_dropout_mask_is_freed_with_the_graph():
    x = t(np.ones((50, 40)))
    y = minigrad.functional.dropout(x * 1.0, 0.5)
    node = y.grad_fn
    (mask,) = node.saved
    probe = weakref.ref(mask)
    del mask
    y.sum().backward()
    gc.collect()
    assert probe() is None and not hasattr(node, "mask")  # y is still held; its mask is not


def test_pow_with_a_constant_exponent_keeps_no_output():
    x = t([0.5, 2.0])
    y = (x * 1.0) ** 2.0
    assert y.grad_fn._saved_outputs == ()
    e = t([2.0, 3.0])                           # a differentiable exponent still works
    assert minigrad.gradcheck(lambda a, b: a ** b, (t([0.5, 2.0]), e))


@pytest.mark.parametrize("op", [
    lambda x, w, b: F.linear(x, w, b),
    lambda x, w, b: F.conv2d(x.reshape(2, 3, 1, 1), w.reshape(2, 3, 1, 1), b),
], ids=["linear", "conv2d"])
def test_a_bias_that_is_only_added_is_not_kept_nor_version_checked(op):
    """As in PyTorch: updating the bias before backward (an optimizer step in
    between) is fine, since backward never reads it."""
    x, w, b = t(np.ones((2, 3))), t(np.ones((2, 3))), t(np.zeros(2))
    y = op(x, w, b)
    assert y.grad_fn._saved_inputs[2] is None
    with minigrad.no_grad():
        b.add_(1.0)
    y.sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(w.grad.numpy(), np.full((2, 3), 2.0))
