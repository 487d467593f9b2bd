"""In-place operations (x.add_(y), x -= y, x.zero_(), x[i] = v) and the version counter.

PyTorch's rules are the expectation: the same Tensor and the same array
afterwards, the tensor's own dtype kept (a wider kind is an error), every
in-place op bumps `_version`, a leaf that requires grad refuses with grad mode
on, and on a graph tensor the op is recorded so gradients stay exact."""
import numpy as np
import pytest

import minigrad
import minigrad.optim as optim
from minigrad import gradcheck, gradgradcheck


def t64(values, requires_grad=False, device="cpu"):
    return minigrad.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad,
                           device=device)


def _setitem(x, index, value):
    x[index] = value
    return x


# (name, how to apply it, NumPy reference): each run on x = [0.5, 1.5, 2.0]
OTHER = np.array([2.0, -0.5, 4.0])
CASES = [
    ("add_", lambda x, o: x.add_(o), lambda a: a + OTHER),
    ("add_alpha", lambda x, o: x.add_(o, alpha=-0.5), lambda a: a - 0.5 * OTHER),
    ("sub_", lambda x, o: x.sub_(o), lambda a: a - OTHER),
    ("sub_alpha", lambda x, o: x.sub_(o, alpha=3), lambda a: a - 3 * OTHER),
    ("mul_", lambda x, o: x.mul_(o), lambda a: a * OTHER),
    ("div_", lambda x, o: x.div_(o), lambda a: a / OTHER),
    ("pow_", lambda x, o: x.pow_(1.5), lambda a: a ** 1.5),
    ("pow_tensor", lambda x, o: x.pow_(o), lambda a: a ** OTHER),
    ("iadd", lambda x, o: x.__iadd__(o), lambda a: a + OTHER),
    ("isub", lambda x, o: x.__isub__(o), lambda a: a - OTHER),
    ("imul", lambda x, o: x.__imul__(o), lambda a: a * OTHER),
    ("itruediv", lambda x, o: x.__itruediv__(o), lambda a: a / OTHER),
    ("ipow", lambda x, o: x.__ipow__(2), lambda a: a ** 2),
    ("neg_", lambda x, o: x.neg_(), lambda a: -a),
    ("exp_", lambda x, o: x.exp_(), np.exp),
    ("log_", lambda x, o: x.log_(), np.log),
    ("sqrt_", lambda x, o: x.sqrt_(), np.sqrt),
    ("abs_", lambda x, o: x.abs_(), np.abs),
    ("sin_", lambda x, o: x.sin_(), np.sin),
    ("cos_", lambda x, o: x.cos_(), np.cos),
    ("tanh_", lambda x, o: x.tanh_(), np.tanh),
    ("sigmoid_", lambda x, o: x.sigmoid_(), lambda a: 1 / (1 + np.exp(-a))),
    ("relu_", lambda x, o: x.relu_(), lambda a: np.maximum(a, 0)),
    ("clamp_", lambda x, o: x.clamp_(0.7, 1.8), lambda a: np.clip(a, 0.7, 1.8)),
    ("clip_", lambda x, o: x.clip_(max=1.0), lambda a: np.minimum(a, 1.0)),
    ("zero_", lambda x, o: x.zero_(), np.zeros_like),
    ("fill_", lambda x, o: x.fill_(-3.25), lambda a: np.full_like(a, -3.25)),
    ("copy_", lambda x, o: x.copy_(o), lambda a: OTHER.copy()),
    ("setitem", lambda x, o: _setitem(x, slice(0, 2), o[1:]), lambda a: np.r_[OTHER[1:], a[2]]),
]
IDS = [c[0] for c in CASES]
START = np.array([0.5, 1.5, 2.0])


@pytest.mark.parametrize("name, apply, reference", CASES, ids=IDS)
def test_inplace_changes_the_tensor_itself(name, apply, reference, device):
    x = minigrad.tensor(START, dtype=minigrad.float64, device=device)
    array = x.data
    out = apply(x, minigrad.tensor(OTHER, device=device))
    assert out is x and x.data is array  # the same Tensor, the same array object
    assert x._version == 1  # exactly one in-place modification
    np.testing.assert_allclose(x.numpy(), reference(START), rtol=1e-12)


def test_augmented_assignment_keeps_the_object():
    x = minigrad.tensor([1.0, 2.0])
    alias = x  # e.g. the reference an optimizer holds
    x += 1.0
    x *= minigrad.tensor([2.0, 3.0])
    x -= 0.5
    x /= 2.0
    x **= 2
    assert x is alias and x._version == 5
    np.testing.assert_allclose(alias.numpy(), (((np.array([1.0, 2.0]) + 1) * [2, 3] - 0.5) / 2) ** 2,
                               rtol=1e-6)


def test_add_alpha_and_sub_alpha_match_torch():
    torch = pytest.importorskip("torch")
    a, b = np.array([0.5, -1.0, 3.0]), np.array([2.0, 0.25, -1.5])
    for method, alpha in (("add_", 2.5), ("sub_", -0.75)):
        mine = getattr(t64(a), method)(t64(b), alpha=alpha)
        theirs = getattr(torch.tensor(a), method)(torch.tensor(b), alpha=alpha)
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-15)


# ------------------------------------------------------------------ dtype
def test_result_that_needs_a_wider_kind_is_an_error():
    # PyTorch: RuntimeError: result type Float can't be cast to the desired output type Long
    x = minigrad.tensor([1, 2, 3])
    for op in (lambda: x.add_(minigrad.tensor([0.5, 0.5, 0.5])), lambda: x.__iadd__(0.5),
               lambda: x.div_(2), lambda: x.mul_(1.5)):
        with pytest.raises(RuntimeError, match="can't be cast to the desired output type int64"):
            op()
    assert x.tolist() == [1, 2, 3] and x._version == 0  # nothing written, nothing bumped


def test_result_keeps_the_tensors_dtype():
    x = minigrad.tensor([1.0, 2.0])  # float32
    x += minigrad.tensor([0.1, 0.2], dtype=minigrad.float64)  # PyTorch: float32 += float64 is fine
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.numpy(), [1.1, 2.2], rtol=1e-6)
    i = minigrad.tensor([1, 2], dtype=minigrad.int32)
    i += minigrad.tensor([3, 4])  # int64 into int32: the same kind
    assert i.dtype == np.int32 and i.tolist() == [4, 6]


def test_copy_fill_and_setitem_cast_like_torch(device):
    # torch: torch.zeros(3, dtype=torch.long).copy_(torch.tensor([1.7, -2.7, 3.2])) -> [1, -2, 3]
    x = minigrad.tensor([0, 0, 0], device=device)
    x.copy_(minigrad.tensor([1.7, -2.7, 3.2], device=device))
    assert x.dtype == np.int64 and x.tolist() == [1, -2, 3]
    x.fill_(2.9)  # torch: [2, 2, 2]
    assert x.tolist() == [2, 2, 2]
    x[0] = 7.5  # torch: [7, 2, 2]
    assert x.tolist() == [7, 2, 2] and x._version == 3


# ------------------------------------------------------------------ shapes
def test_other_broadcasts_up_to_the_tensor(device):
    x = minigrad.zeros((2, 3), device=device)
    x += minigrad.tensor([1.0, 2.0, 3.0], device=device)
    np.testing.assert_allclose(x.numpy(), [[1, 2, 3], [1, 2, 3]])


def test_the_tensor_never_broadcasts_up():
    x = minigrad.zeros(3)
    with pytest.raises(RuntimeError, match=r"\(2, 3\).*\(3,\)"):
        x += minigrad.ones((2, 3))
    with pytest.raises(RuntimeError, match=r"\(4,\).*\(3,\)"):
        x.mul_(minigrad.ones(4))
    assert x._version == 0


def test_read_only_broadcast_view_is_refused():
    x = minigrad.tensor([1.0, 2.0]).broadcast_to((3, 2))
    with pytest.raises(RuntimeError, match="read-only view.*clone"):
        x.add_(1.0)


def test_setitem_value_of_the_wrong_shape_names_both():
    x = minigrad.zeros((2, 3))
    with pytest.raises(ValueError, match=r"setitem: a value of shape \(2,\).*\(2, 3\)"):
        x[0] = minigrad.ones(2)


# ------------------------------------------------------- leaves and grad mode
@pytest.mark.parametrize("op", [lambda p: p.add_(1.0), lambda p: p.__isub__(1.0), lambda p: p.zero_(),
                                lambda p: p.fill_(1.0), lambda p: p.__setitem__(0, 1.0),
                                lambda p: p.copy_(minigrad.zeros(2))],
                         ids=["add_", "isub", "zero_", "fill_", "setitem", "copy_"])
def test_leaf_that_requires_grad_refuses_with_grad_on(op):
    p = minigrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"a leaf Variable that requires grad is being used in an "
                                           r"in-place operation.*\(2,\).*no_grad.*\.data"):
        op(p)
    assert p.tolist() == [1.0, 2.0] and p._version == 0


def test_leaf_under_no_grad_is_modified_and_stays_a_leaf(device):
    p = minigrad.tensor([1.0, 2.0], requires_grad=True, device=device)
    with minigrad.no_grad():
        p.mul_(3.0)
        p[0] = 0.5
    assert p.is_leaf and p.requires_grad and p.grad_fn is None and p._version == 2
    np.testing.assert_allclose(p.numpy(), [0.5, 6.0])


def test_data_is_the_untracked_escape_hatch():
    p = minigrad.tensor([1.0, 2.0], requires_grad=True)
    g = minigrad.tensor([0.5, 0.5])
    p.data -= 0.1 * g.data  # no error with grad on, and no version bump
    np.testing.assert_allclose(p.numpy(), [0.95, 1.95], rtol=1e-6)
    assert p._version == 0 and p.is_leaf


def test_manual_sgd_loop_updates_the_parameters_in_place(device):
    rng = np.random.default_rng(0)
    features = rng.standard_normal((32, 3))
    inputs = minigrad.tensor(features, device=device)
    targets = minigrad.tensor(features @ np.array([[1.0], [-2.0], [0.5]]) + 0.3, device=device)
    w = minigrad.zeros((3, 1), requires_grad=True, device=device)
    b = minigrad.zeros(1, requires_grad=True, device=device)
    optimizer = optim.SGD([w, b], lr=0.1)  # only holds the tensors here
    arrays = (id(w.data), id(b.data))
    losses = []
    for _ in range(20):
        loss = ((inputs @ w + b - targets) ** 2).mean()
        losses.append(loss.item())
        w.grad = b.grad = None
        loss.backward()
        with minigrad.no_grad():
            w -= 0.1 * w.grad  # the manual update of every tutorial
            b -= 0.1 * b.grad
    assert (id(w.data), id(b.data)) == arrays and w.is_leaf and b.is_leaf
    assert losses[-1] < 0.05 * losses[0]  # a real descent, with room for any BLAS kernel
    held = optimizer.param_groups[0]["params"]
    assert held[0] is w and held[1] is b
    np.testing.assert_array_equal(held[0].numpy(), w.numpy())
    assert not np.allclose(w.numpy(), 0.0)


# ------------------------------------------------------------ version counter
def test_version_counter_starts_at_zero_and_counts_each_modification():
    x = minigrad.zeros(3)
    assert x._version == 0
    x.add_(1.0)
    x[1] = 5.0
    x.zero_()
    x.fill_(2.0)
    assert x._version == 4
    assert (x + 1)._version == 0  # an out-of-place result is new


def test_detach_shares_the_version_counter():
    x = minigrad.zeros(3)
    d = x.detach()
    d.add_(1.0)
    assert x._version == d._version == 1
    np.testing.assert_array_equal(x.numpy(), [1.0, 1.0, 1.0])  # and the memory


# ------------------------------------------------------- gradients through in-place ops
def test_gradcheck_through_a_chain_of_inplace_ops(device):
    x = t64([0.5, -1.3, 2.0], requires_grad=True, device=device)
    assert gradcheck(lambda x: (x * 2).mul_(x).add_(1).sum(), (x,))
    assert gradgradcheck(lambda x: (x * 2).mul_(x).add_(1).sum(), (x,))


@pytest.mark.parametrize("name, apply, reference", CASES, ids=IDS)
def test_gradcheck_of_each_inplace_op_on_a_graph_tensor(name, apply, reference, device):
    x = t64(START, requires_grad=True, device=device)
    other = t64(OTHER, requires_grad=True, device=device)
    weights = t64([1.0, -2.0, 0.5], device=device)

    def f(x, other):
        h = x * 1.0  # a non-leaf: recorded in-place op
        out = apply(h, other)
        assert out is h and h.grad_fn is not None
        return h * weights

    assert gradcheck(f, (x, other))


def test_inplace_on_a_constant_with_a_grad_operand_is_recorded(device):
    # torch: buf = torch.zeros(3); buf.add_(w); buf is no longer a leaf and w gets gradients
    w = t64([1.0, 2.0, 3.0], requires_grad=True, device=device)

    def f(w):
        buf = minigrad.zeros(3, dtype=minigrad.float64, device=device)
        buf.add_(w * w)
        buf[1] = w[0]
        return buf
    assert gradcheck(f, (w,))
    buf = f(w)
    assert not buf.is_leaf and buf.requires_grad


def test_setitem_gradients_on_a_graph_tensor(device):
    x = t64([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], requires_grad=True, device=device)
    v = t64([3.0, -2.0], requires_grad=True, device=device)

    def f(x, v):
        h = x * 2.0
        h[:, 1] = v
        h[0, [0, 2]] = v * v
        return h
    assert gradcheck(f, (x, v))


def test_gradients_are_those_of_the_out_of_place_computation():
    # h = x * 2; h.mul_(x); h += 1  is  2x^2 + 1: d/dx = 4x.
    x = t64([0.5, -1.3, 2.0], requires_grad=True)
    h = x * 2
    previous_fn = h.grad_fn
    h.mul_(x)
    h += 1
    assert h.grad_fn is not previous_fn and h._version == 2
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.numpy(), rtol=1e-14)


def test_float32_tensor_plus_float64_operand_keeps_the_graph_float32():
    x = minigrad.tensor([1.0, 2.0], requires_grad=True)
    o = t64([0.5, 0.25], requires_grad=True)
    h = x * 1.0
    h.mul_(o)
    h.sum().backward()
    assert h.dtype == np.float32 and x.grad.dtype == np.float32 and o.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0.25])
    np.testing.assert_allclose(o.grad.numpy(), [1.0, 2.0])


def test_modifying_a_saved_tensor_before_backward_is_an_error():
    # torch: RuntimeError: one of the variables needed for gradient computation has been modified
    # by an inplace operation
    x = t64([1.0, 2.0, 3.0], requires_grad=True)
    w = t64([0.5, -1.0, 2.0], requires_grad=True)
    h = x * 1.0
    y = (w * h).sum()  # Mul saved h to compute w's gradient
    h.zero_()
    with pytest.raises(RuntimeError, match=r"Mul.*modified in place.*version 0, now version 1"):
        y.backward()


def test_modifying_a_saved_output_before_backward_is_an_error():
    x = t64([1.0, 2.0], requires_grad=True)
    y = x.exp()  # Exp's backward reads its output
    y.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


def test_retain_grad_sees_the_gradient_of_the_new_version():
    x = t64([1.0, 2.0], requires_grad=True)
    h = (x * 1.0).retain_grad()
    h.mul_(3.0)
    (h * t64([1.0, 10.0])).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [1.0, 10.0])  # d/dh_new, as in PyTorch
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 30.0])


def test_matches_torch_on_a_mixed_inplace_graph():
    torch = pytest.importorskip("torch")
    a, b = np.array([0.5, -1.2, 2.0]), np.array([1.5, 0.3, -0.7])

    def run(lib, tensor):
        x, w = tensor(a), tensor(b)
        h = x * w
        h.add_(w, alpha=2.0).clamp_(-1.0, 2.5)
        h[0] = w[2] * 3.0
        h.pow_(2).sub_(x)
        h.sum().backward()
        return h, x.grad, w.grad

    mine = run(minigrad, lambda v: t64(v, requires_grad=True))
    theirs = run(torch, lambda v: torch.tensor(v, requires_grad=True))
    for m, t in zip(mine, theirs):
        np.testing.assert_allclose(m.numpy(), t.detach().numpy(), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------- views
def test_a_view_shares_its_bases_memory_and_version_counter():
    x = minigrad.zeros((2, 3))
    row, flat = x[0], x.reshape(6)
    with minigrad.no_grad():
        row.add_(1.0)  # writes into x's memory
    assert x._version == row._version == flat._version == 1
    np.testing.assert_array_equal(flat.numpy(), [1, 1, 1, 0, 0, 0])
    assert not (x + 1)._is_view and not x.clone()._is_view


def test_modifying_a_base_after_a_view_of_it_was_saved_is_an_error():
    x = t64([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    w = t64([0.5, -1.0, 2.0, 1.5], requires_grad=True)
    h = x * 1.0
    y = (w * h.reshape(2, 2).reshape(4)).sum()  # Mul saved a view of h
    with minigrad.no_grad():
        h[0] = 10.0
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_inplace_on_a_view_while_recording_is_refused_with_the_fix():
    # PyTorch would rewrite the base's history; minigrad refuses instead of leaving it stale.
    w = t64([1.0, 2.0], requires_grad=True)
    h = w * 1.0
    with pytest.raises(RuntimeError, match=r"add_: this tensor \(shape \(1,\)\) views another.*"
                                           r"base\[index\] = new_values"):
        h[0:1].add_(1.0)
    buf = minigrad.zeros((2, 2), dtype=minigrad.float64)
    with pytest.raises(RuntimeError, match="views another"):
        buf[0].mul_(w)
    assert buf._version == 0 and h._version == 0  # nothing written


def test_the_setitem_route_for_writing_into_part_of_a_graph_tensor():
    # torch: buf = torch.zeros(2, 2); buf[0] += w; buf.sum().backward() -> w.grad = [1, 1]
    w = t64([1.0, 2.0], requires_grad=True)
    buf = minigrad.zeros((2, 2), dtype=minigrad.float64)
    buf[0] = buf[0] + w * w
    (buf * t64([[1.0, 3.0], [5.0, 7.0]])).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 12.0], rtol=1e-14)


def test_a_view_taken_before_its_base_changed_in_place_is_refused_in_a_graph():
    """Its values are the new ones but its history the old: the gradient would
    flow to the wrong place (PyTorch re-derives it; we ask for a new view)."""
    a = t64([1.0, 2.0, 3.0], requires_grad=True)
    b = a * 1.0
    stale = b[0:2]
    b.mul_(2.0)
    with pytest.raises(RuntimeError, match="view .* modified in place after the view was taken"):
        stale.sum()
    b[0:2].sum().backward()                     # a view taken afterwards is fine
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0, 0.0])
    with minigrad.no_grad():                    # and without a graph nothing is stale
        assert stale.sum().item() == 6.0


def test_setitem_without_a_graph_writes_only_the_indexed_elements(monkeypatch):
    """x[i] = v under no_grad (or on a tensor that needs no grad) costs what NumPy's
    does: no full-size temporary, so filling a tensor element by element is cheap."""
    import minigrad.ops.inplace as inplace
    x = minigrad.zeros(1000)
    monkeypatch.setattr(inplace, "apply_inplace", None)  # the general path would call it
    for i in range(3):
        x[i] = float(i + 1)
    np.testing.assert_array_equal(x.numpy()[:4], [1.0, 2.0, 3.0, 0.0])
    assert x._version == 3
    with pytest.raises(ValueError, match=r"setitem: a value of shape \(3,\)"):
        x[0:2] = np.ones(3)
