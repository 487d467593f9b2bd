"""Issue 10's last gaps, each checked against PyTorch when it is installed:
scatter_reduce("prod"), the nuclear norm, NaN in sorting and order statistics,
einsum broadcasting, clamp/clip with tensor bounds (in place too).

Every op: forward and backward against PyTorch (float64), gradcheck (and
gradgradcheck where the op is twice differentiable), and the cuda run on the
CuPy stand-in equal to the cpu run."""
import math

import numpy as np
import pytest

import minigrad
import minigrad.functional as F

rng = np.random.default_rng


def _t(values, device="cpu", grad=False):
    return minigrad.tensor(np.asarray(values), device=device, requires_grad=grad)


def _backward_both(ours, theirs, torch, seed=0):
    """Backpropagate the same random upstream gradient (never all-ones) through both."""
    g = rng(seed).normal(size=tuple(theirs.shape))
    ours.backward(minigrad.tensor(g, device=ours.device))
    theirs.backward(torch.tensor(g))


# ------------------------------------------------------------ scatter_reduce("prod")
PROD_CASES = [(0, True), (0, False), (1, True), (1, False), (-1, False)]


def _prod_inputs(dim, seed=0):
    r = rng(seed)
    x = r.normal(size=(3, 4))
    index = r.integers(0, 3, (4, 3)) if dim == 0 else r.integers(0, 4, (3, 5))  # repeats included
    src = r.normal(size=index.shape)
    src[0, 0] = 0.0  # a zero factor: the gradient must not divide by it
    return x, index, src


@pytest.mark.parametrize("dim, include_self", PROD_CASES)
def test_scatter_prod_matches_torch(dim, include_self):
    torch = pytest.importorskip("torch")
    x0, index, src0 = _prod_inputs(dim)
    x, src = _t(x0, grad=True), _t(src0, grad=True)
    x_t, src_t = torch.tensor(x0, requires_grad=True), torch.tensor(src0, requires_grad=True)
    out = F.scatter_reduce(x, dim, _t(index), src, "prod", include_self=include_self)
    out_t = torch.scatter_reduce(x_t, dim, torch.tensor(index), src_t, "prod", include_self=include_self)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-13, atol=1e-15)
    _backward_both(out, out_t, torch)
    np.testing.assert_allclose(x.grad.numpy(), x_t.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(src.grad.numpy(), src_t.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_prod_values_gradcheck_and_device(include_self, device):
    x0, index, src0 = _prod_inputs(1, seed=1)
    expected = x0.copy() if include_self else x0.copy()
    hit = np.zeros(x0.shape, bool)
    for i, j in np.ndindex(*index.shape):  # the definition, element by element
        target = (i, index[i, j])
        expected[target] = (expected[target] if include_self or hit[target] else 1.0) * src0[i, j]
        hit[target] = True
    x, src = _t(x0, device, grad=True), _t(src0, device, grad=True)
    idx = _t(index, device)

    def op(a, b):
        return F.scatter_reduce(a, 1, idx, b, "prod", include_self=include_self)
    np.testing.assert_allclose(op(x, src).numpy(), expected, rtol=1e-13)
    assert minigrad.gradcheck(op, [x, src])
    assert minigrad.gradgradcheck(op, [x, src])
    # scatter(reduce="multiply") is the same op, as in PyTorch
    np.testing.assert_allclose(F.scatter(x, 1, idx, src, reduce="multiply").numpy(),
                               op(x, src).numpy() if include_self else F.scatter_reduce(
                                   x, 1, idx, src, "prod").numpy(), rtol=1e-15)


# ------------------------------------------------------------------ norm(x, "nuc")
NUC_CASES = [((3, 4), None, False), ((4, 2), None, True), ((2, 3, 4), (1, 2), False),
             ((3, 2, 4), (0, 2), True), ((3, 2, 4), (2, 0), False), ((2, 5, 3), (-1, -2), True)]


@pytest.mark.parametrize("shape, dim, keepdim", NUC_CASES, ids=[str(c) for c in NUC_CASES])
def test_nuclear_norm_matches_torch(shape, dim, keepdim):
    torch = pytest.importorskip("torch")
    x0 = rng(2).normal(size=shape)
    x, x_t = _t(x0, grad=True), torch.tensor(x0, requires_grad=True)
    out = F.norm(x, "nuc", dim=dim, keepdim=keepdim)
    out_t = torch.norm(x_t, "nuc", dim=dim, keepdim=keepdim)
    assert out.shape == tuple(out_t.shape)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-12)
    _backward_both(out, out_t, torch)
    np.testing.assert_allclose(x.grad.numpy(), x_t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape, dim, keepdim", NUC_CASES[:4], ids=[str(c) for c in NUC_CASES[:4]])
def test_nuclear_norm_values_and_gradcheck(shape, dim, keepdim, device):
    x0 = rng(3).normal(size=shape)
    x = _t(x0, device, grad=True)
    out = F.norm(x, "nuc", dim=dim, keepdim=keepdim)
    axes = dim or (0, 1)
    moved = np.moveaxis(x0, axes, (-2, -1))
    expected = np.linalg.svd(moved, compute_uv=False).sum(-1)
    np.testing.assert_allclose(out.numpy().reshape(expected.shape), expected, rtol=1e-12)
    assert minigrad.gradcheck(lambda t: F.norm(t, "nuc", dim=dim, keepdim=keepdim), [x])


def test_nuclear_norm_errors_are_named():
    with pytest.raises(RuntimeError, match=r"norm: p='nuc' needs a matrix \(2-D\) or dim=\(a, b\)"):
        F.norm(minigrad.ones(2, 3, 4), "nuc")
    with pytest.raises(RuntimeError, match="needs dim to name two dims"):
        F.norm(minigrad.ones(2, 3), "nuc", dim=0)
    with pytest.raises(IndexError, match=r"norm: dim 3 is out of range for a tensor of shape \(2, 3\)"):
        F.norm(minigrad.ones(2, 3), "nuc", dim=(0, 3))
    x = minigrad.randn(3, 3, dtype=minigrad.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="norm\\(x, 'nuc'\\): its gradient is not differentiable"):
        minigrad.grad(F.norm(x, "nuc"), [x], create_graph=True)


# ----------------------------------------------------- NaN in sorting and order statistics
NAN_ROW = [3.0, math.nan, 1.0, 2.0, math.nan, 0.0]


def test_nan_sorts_last_ascending_first_descending(device):
    x = _t(NAN_ROW, device)
    values, indices = F.sort(x)
    np.testing.assert_array_equal(values.numpy(), [0, 1, 2, 3, math.nan, math.nan])
    np.testing.assert_array_equal(indices.numpy(), [5, 2, 3, 0, 1, 4])  # stable: NaNs in order
    values, indices = F.sort(x, descending=True)
    np.testing.assert_array_equal(indices.numpy(), [1, 4, 0, 3, 2, 5])
    np.testing.assert_array_equal(F.topk(x, 3).indices.numpy(), [1, 4, 0])
    np.testing.assert_array_equal(F.topk(x, 2, largest=False).indices.numpy(), [5, 2])
    assert np.isnan(F.kthvalue(x, 5).values.item()) and F.kthvalue(x, 4).values.item() == 3.0


def test_nan_propagates_in_median_max_min(device):
    rows = _t([NAN_ROW, [4.0, 1.0, 2.0, 2.0, 9.0, 0.0]], device, grad=True)
    med = F.median(rows, dim=1)
    np.testing.assert_array_equal(med.values.numpy(), [math.nan, 2.0])
    np.testing.assert_array_equal(med.indices.numpy(), [1, 2])  # the first NaN; the lower median
    assert np.isnan(F.median(rows).item()) and np.isnan(F.max(rows).item())
    assert np.isnan(F.min(rows).item())
    F.median(rows).backward()  # median(): the gradient split among the NaNs, as PyTorch
    np.testing.assert_array_equal(rows.grad.numpy(), [[0, 0.5, 0, 0, 0.5, 0], [0] * 6])


def test_median_gradient_splits_among_ties(device):
    x = _t([[1.0, 2.0], [2.0, 3.0]], device, grad=True)
    F.median(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0.5], [0.5, 0]])
    y = _t(rng(4).normal(size=(3, 5)), device, grad=True)  # no ties: gradcheck holds
    assert minigrad.gradcheck(F.median, [y])
    assert minigrad.gradcheck(lambda t: F.median(t, dim=0).values, [y])


@pytest.mark.parametrize("op", ["sort", "sort_descending", "topk", "topk_smallest", "median",
                                "median_dim", "max", "amax", "min", "kthvalue_value"])
def test_nan_handling_matches_torch(op):
    torch = pytest.importorskip("torch")
    # (no ties but the NaNs: which of several tied elements topk names is PyTorch's choice)
    data = np.array([NAN_ROW, [4.0, 1.0, 2.0, 2.5, 9.0, 0.0], [math.nan] * 3 + [1.0, 0.0, 2.0]])
    calls = {
        "sort": lambda m, t: (m.sort(dim=1), t.sort(dim=1, stable=True)),
        "sort_descending": lambda m, t: (m.sort(dim=1, descending=True),
                                         t.sort(dim=1, descending=True, stable=True)),
        "topk": lambda m, t: (m.topk(3), t.topk(3)),
        "topk_smallest": lambda m, t: (m.topk(3, largest=False), t.topk(3, largest=False)),
        "median": lambda m, t: (m.median(), t.median()),
        "median_dim": lambda m, t: (m.median(dim=1), t.median(dim=1)),
        "max": lambda m, t: (F.max(m), t.max()),
        "amax": lambda m, t: (F.amax(m, dim=1), t.amax(dim=1)),
        "min": lambda m, t: (F.min(m), t.min()),
        "kthvalue_value": lambda m, t: (m.kthvalue(4).values, t.kthvalue(4).values),
    }
    x, x_t = _t(data, grad=True), torch.tensor(data, requires_grad=True)
    out, out_t = calls[op](x, x_t)
    values, values_t = (out, out_t) if op in ("median", "max", "amax", "min", "kthvalue_value") \
        else (out.values, out_t.values)
    np.testing.assert_array_equal(values.numpy(), values_t.detach().numpy())
    if op in ("sort", "sort_descending", "median_dim"):  # (topk's order among NaNs is not stable)
        np.testing.assert_array_equal(out.indices.numpy(), out_t.indices.numpy())
    if op == "amax":  # PyTorch's amax sends NaN to every element of a row with a NaN (0/0);
        return        # here amax's gradient goes to the NaNs, as max's does in both
    values.sum().backward()
    values_t.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), x_t.grad.numpy())


# ---------------------------------------------------------------- einsum broadcasting
EINSUM_CASES = [
    ("...i,...i->...", [(2, 1, 3), (4, 3)]),
    ("...ij,...jk->...ik", [(5, 1, 2, 3), (4, 3, 2)]),
    ("ij,jk->ik", [(2, 1), (3, 4)]),           # a named dim of size 1 broadcasts too
    ("...i,i...->...", [(2, 1, 3), (3, 4)]),
    ("i...,...", [(3, 2, 1), (4,)]),           # implicit output: the ellipsis first
    ("b...,b...->b", [(2, 3, 1), (2, 1, 4)]),
]


@pytest.mark.parametrize("equation, shapes", EINSUM_CASES, ids=[c[0] for c in EINSUM_CASES])
def test_einsum_broadcasting_matches_torch(equation, shapes):
    torch = pytest.importorskip("torch")
    arrays = [rng(5).normal(size=s) for s in shapes]
    ours = [_t(a, grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, out_t = F.einsum(equation, *ours), torch.einsum(equation, *theirs)
    assert out.shape == tuple(out_t.shape)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-12, atol=1e-14)
    _backward_both(out, out_t, torch)
    for a, a_t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), a_t.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("equation, shapes", EINSUM_CASES[:3], ids=[c[0] for c in EINSUM_CASES[:3]])
def test_einsum_broadcasting_values_and_gradcheck(equation, shapes, device):
    arrays = [rng(6).normal(size=s) for s in shapes]
    ours = [_t(a, device, grad=True) for a in arrays]
    np.testing.assert_allclose(F.einsum(equation, *ours).numpy(),
                               np.einsum(equation, *arrays), rtol=1e-12)  # NumPy broadcasts too
    assert minigrad.gradcheck(lambda *xs: F.einsum(equation, *xs), ours)
    assert minigrad.gradgradcheck(lambda *xs: F.einsum(equation, *xs), ours)


def test_einsum_sizes_that_do_not_broadcast_are_runtime_errors():
    with pytest.raises(RuntimeError, match=r"stands for sizes 2 and 4 .*sizes must match or be 1"):
        F.einsum("...i,...i->...", minigrad.ones(2, 3), minigrad.ones(4, 3))
    with pytest.raises(RuntimeError, match="letter 'i' is repeated .* sizes 1 and 3 differ"):
        F.einsum("ii->i", minigrad.ones(1, 3))


# ------------------------------------------------------- clamp/clip with tensor bounds
def test_clip_is_clamp_with_tensor_bounds(device):
    assert F.clip is F.clamp and F.clamp_ is F.clip_
    x = _t([1.0, 5.0, -3.0, 0.5], device, grad=True)
    low = _t([0.0, 6.0, 0.0, 0.0], device, grad=True)
    high = _t([2.0, 2.0, 2.0, 2.0], device, grad=True)
    out = x.clip(low, high)
    np.testing.assert_array_equal(out.numpy(), [1.0, 2.0, 0.0, 0.5])  # high wins where low > high
    out.backward(_t([1.0, 2.0, 3.0, 4.0], device))
    np.testing.assert_array_equal(x.grad.numpy(), [1, 0, 0, 4])
    np.testing.assert_array_equal(low.grad.numpy(), [0, 0, 3, 0])
    np.testing.assert_array_equal(high.grad.numpy(), [0, 2, 0, 0])


def test_clamp_in_place_with_tensor_bounds_records_them(device):
    x = _t([1.0, 5.0, -3.0], device, grad=True)
    low = _t([0.0, 0.0, 0.0], device, grad=True)
    y = x * 1.0
    y.clamp_(low, 2.0)
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0, 0.0])
    y.backward(_t([1.0, 2.0, 3.0], device))
    np.testing.assert_array_equal(x.grad.numpy(), [1, 0, 0])
    np.testing.assert_array_equal(low.grad.numpy(), [0, 0, 3])
    with minigrad.no_grad():  # integers stay integers; a float bound would be refused
        z = _t(np.array([1, 5, -3], np.int32), device)
        np.testing.assert_array_equal(z.clip_(_t(np.array([0, 0, 0], np.int32), device), 2).numpy(),
                                      [1, 2, 0])
        with pytest.raises(RuntimeError, match="clip_: result type float32 can't be cast"):
            z.clip_(0.5, 2)


def test_clamp_tensor_bounds_match_torch():
    torch = pytest.importorskip("torch")
    r = rng(7)
    x0, low0, high0 = r.normal(size=(3, 4)), r.normal(size=(4,)) - 0.5, r.normal(size=(3, 1)) + 0.5
    ours = [_t(a, grad=True) for a in (x0, low0, high0)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x0, low0, high0)]
    out, out_t = F.clip(*ours), torch.clip(*theirs)
    np.testing.assert_array_equal(out.numpy(), out_t.detach().numpy())
    _backward_both(out, out_t, torch)
    for a, a_t in zip(ours, theirs):
        np.testing.assert_array_equal(a.grad.numpy(), a_t.grad.numpy())
    assert minigrad.gradcheck(F.clip, [_t(x0, grad=True), _t(low0, grad=True), _t(high0, grad=True)])


def test_shape_errors_of_writes_and_einsum_are_runtime_errors_as_in_torch():
    with pytest.raises(RuntimeError, match=r"setitem: a value of shape \(4,\) cannot be assigned"):
        minigrad.ones(2, 3)[0] = minigrad.ones(4)
    with pytest.raises(RuntimeError, match="einsum: equation 'ij,jk' names 2 operands but 1"):
        F.einsum("ij,jk", minigrad.ones(2, 3))
    with pytest.raises(RuntimeError, match="einsum: operand 0 has shape"):
        F.einsum("ijk->i", minigrad.ones(2, 3))
