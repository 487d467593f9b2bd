"""Issue 10, part C: reductions, scans, sorting, indexing, rearranging, einsum.

A registry (SPECS) drives the generic checks on every device: forward against
an independent NumPy reference, gradcheck and gradgradcheck in float64, float32
kept, and the cuda run (on the CuPy stand-in without a GPU) equal to the cpu
run. Hand-written tests below cover what a registry cannot: indices, ties,
zeros, errors, host syncs; and PyTorch, when installed, as an oracle.
"""
import numpy as np
import pytest
from op_registry import OpSpec, sample_inputs

import minigrad
import minigrad.functional as F


def _i(values, like):
    """An int64 index tensor on the device of `like`."""
    return minigrad.tensor(np.asarray(values, dtype=np.int64), device=like.device)


def _mask(values, like):
    return minigrad.tensor(np.asarray(values, dtype=bool), device=like.device)


GATHER_INDEX = np.array([[0, 2, 2], [1, 0, 3]])  # for a (2, 4) or larger input, dim 1


def _np_scatter(x, index, src, dim, combine=None):
    out = x.copy()
    for position in np.ndindex(*index.shape):
        target = list(position)
        target[dim] = index[position]
        target = tuple(target)
        out[target] = src[position] if combine is None else combine(out[target], src[position])
    return out


def _np_scatter_mean(x, index, src):  # dim 1, include_self
    total, count = x.copy(), np.ones_like(x)
    np.add.at(total, (np.arange(2)[:, None], index), src[:, :index.shape[1]])
    np.add.at(count, (np.arange(2)[:, None], index), 1)
    return total / count


def _np_scatter_excluding_self(x, index, src, combine):  # dim 1, include_self=False
    out, seen = x.copy(), np.zeros(x.shape, bool)
    for position in np.ndindex(*index.shape):
        target = (position[0], index[position])
        out[target] = combine(out[target], src[position]) if seen[target] else src[position]
        seen[target] = True
    return out


def _np_index_add(x, index, source):  # dim 0
    out = x.copy()
    np.add.at(out, index, source)
    return out


SCATTER_INDEX = np.array([[0, 2], [3, 0]])  # distinct within a row: scatter is deterministic
EINSUMS = ["ij,jk->ik", "ij,jk", "ii->", "ii->i", "i,j->ij", "bij,bjk->bik", "...ij,...jk->...ik",
           "ij->", "ijk->kj"]
_EINSUM_SHAPES = {"ij,jk->ik": [(2, 3), (3, 4)], "ij,jk": [(2, 3), (3, 4)], "ii->": [(3, 3)],
                  "ii->i": [(3, 3)], "i,j->ij": [(3,), (2,)], "bij,bjk->bik": [(2, 2, 3), (2, 3, 2)],
                  "...ij,...jk->...ik": [(2, 2, 3), (2, 3, 2)], "ij->": [(2, 3)],
                  "ijk->kj": [(2, 3, 2)]}

SPECS = [
    # scans and products
    OpSpec("cumsum", lambda x: F.cumsum(x, 1), lambda x: np.cumsum(x, 1), [((3, 4),), ((2, 3, 2),)]),
    OpSpec("cumsum_neg_dim", lambda x: x.cumsum(-1), lambda x: np.cumsum(x, -1), [((5,),)]),
    OpSpec("cumprod", lambda x: F.cumprod(x, 1), lambda x: np.cumprod(x, 1), [((3, 4),)]),
    OpSpec("prod_dim", lambda x: F.prod(x, 1), lambda x: np.prod(x, 1), [((3, 4),), ((2, 3, 2),)]),
    OpSpec("prod_all", lambda x: x.prod(), np.prod, [((2, 3),)]),
    OpSpec("prod_keepdim", lambda x: x.prod(0, keepdim=True), lambda x: np.prod(x, 0, keepdims=True),
           [((3, 2),)]),
    OpSpec("logcumsumexp", lambda x: F.logcumsumexp(x, 1),
           lambda x: np.logaddexp.accumulate(x, 1), [((2, 5),), ((2, 3, 2),)]),
    OpSpec("cummax", lambda x: F.cummax(x, 1).values, lambda x: np.maximum.accumulate(x, 1),
           [((3, 5),)], distinct=True),
    OpSpec("cummin", lambda x: x.cummin(0).values, lambda x: np.minimum.accumulate(x, 0),
           [((5, 2),)], distinct=True),
    # reductions as PyTorch names them
    OpSpec("amax", lambda x: F.amax(x, (0, 2)), lambda x: np.max(x, (0, 2)), [((2, 3, 2),)],
           distinct=True),
    OpSpec("amin_all", lambda x: x.amin(), np.min, [((3, 4),)], distinct=True),
    OpSpec("var_mean", lambda x: F.var_mean(x, 1),
           lambda x: (np.var(x, 1, ddof=1), np.mean(x, 1)), [((3, 4),)]),
    OpSpec("std_mean", lambda x: F.std_mean(x, 0, keepdim=True, correction=0),
           lambda x: (np.std(x, 0, keepdims=True), np.mean(x, 0, keepdims=True)), [((3, 4),)]),
    OpSpec("norm_fro", lambda x: x.norm(), lambda x: np.linalg.norm(x.ravel()), [((3, 4),)]),
    OpSpec("norm_2_dim", lambda x: F.norm(x, 2, 1), lambda x: np.linalg.norm(x, 2, 1), [((3, 4),)]),
    OpSpec("norm_1", lambda x: F.norm(x, 1, 0), lambda x: np.abs(x).sum(0), [((3, 4),)],
           away_from_zero=True),
    OpSpec("norm_3", lambda x: F.norm(x, 3, 1, keepdim=True),
           lambda x: (np.abs(x) ** 3).sum(1, keepdims=True) ** (1 / 3), [((3, 4),)], away_from_zero=True),
    OpSpec("norm_inf", lambda x: F.norm(x, np.inf, 1), lambda x: np.abs(x).max(1), [((3, 4),)],
           distinct=True),
    # sorting and order statistics (values: gather's gradient)
    OpSpec("sort", lambda x: F.sort(x, 1).values, lambda x: np.sort(x, 1), [((3, 4),)], distinct=True),
    OpSpec("sort_descending", lambda x: x.sort(0, descending=True).values,
           lambda x: -np.sort(-x, 0), [((4, 3),)], distinct=True),
    OpSpec("topk", lambda x: F.topk(x, 2).values, lambda x: -np.sort(-x, -1)[:, :2], [((3, 4),)],
           distinct=True),
    OpSpec("topk_smallest", lambda x: x.topk(3, 0, largest=False).values,
           lambda x: np.sort(x, 0)[:3], [((4, 2),)], distinct=True),
    OpSpec("kthvalue", lambda x: F.kthvalue(x, 2, 1).values, lambda x: np.sort(x, 1)[:, 1],
           [((3, 4),)], distinct=True),
    OpSpec("median_all", lambda x: x.median(), lambda x: np.sort(x.ravel())[(x.size - 1) // 2],
           [((3, 4),), ((5,),)], distinct=True),
    OpSpec("median_dim", lambda x: F.median(x, 1, keepdim=True).values,
           lambda x: np.sort(x, 1)[:, [(x.shape[1] - 1) // 2]], [((3, 4),)], distinct=True),
    OpSpec("mode_distinct", lambda x: F.mode(x, 1).values, lambda x: np.min(x, 1), [((3, 4),)],
           distinct=True),
    # indexing
    OpSpec("gather", lambda x: F.gather(x, 1, _i(GATHER_INDEX, x)),
           lambda x: np.take_along_axis(x[:2], GATHER_INDEX, 1), [((2, 4),), ((3, 5),)]),
    OpSpec("scatter", lambda x, s: F.scatter(x, 1, _i(SCATTER_INDEX, x), s),
           lambda x, s: _np_scatter(x, SCATTER_INDEX, s, 1), [((2, 4), (2, 3))]),
    OpSpec("scatter_value", lambda x: x.scatter(1, _i(SCATTER_INDEX, x), value=0.5),
           lambda x: _np_scatter(x, SCATTER_INDEX, np.full((2, 2), 0.5), 1), [((2, 4),)]),
    OpSpec("scatter_add", lambda x, s: F.scatter_add(x, 1, _i(GATHER_INDEX, x), s),
           lambda x, s: _np_scatter(x, GATHER_INDEX, s, 1, np.add), [((2, 4), (2, 3))]),
    OpSpec("scatter_reduce_mean", lambda x, s: F.scatter_reduce(x, 1, _i(GATHER_INDEX, x), s, "mean"),
           lambda x, s: _np_scatter_mean(x, GATHER_INDEX, s), [((2, 4), (2, 3))]),
    OpSpec("scatter_reduce_amax", lambda x, s: F.scatter_reduce(x, 1, _i(GATHER_INDEX, x), s, "amax"),
           lambda x, s: _np_scatter(x, GATHER_INDEX, s, 1, np.maximum), [((2, 4), (2, 3))],
           distinct=True),
    OpSpec("scatter_reduce_amin_exclude_self",
           lambda x, s: F.scatter_reduce(x, 1, _i(GATHER_INDEX, x), s, "amin", include_self=False),
           lambda x, s: _np_scatter_excluding_self(x, GATHER_INDEX, s, np.minimum), [((2, 4), (2, 3))],
           distinct=True),
    OpSpec("index_select", lambda x: F.index_select(x, 1, _i([3, 0, 3], x)),
           lambda x: np.take(x, [3, 0, 3], 1), [((2, 4),)]),
    OpSpec("index_add", lambda x, s: F.index_add(x, 0, _i([2, 0, 2], x), s, alpha=2.0),
           lambda x, s: _np_index_add(x, [2, 0, 2], 2.0 * s), [((3, 2), (3, 2))]),
    OpSpec("masked_fill", lambda x: x.masked_fill(_mask([True, False, True], x), -1.5),
           lambda x: np.where([True, False, True], -1.5, x), [((2, 3),)]),
    OpSpec("masked_select", lambda x: F.masked_select(x, _mask([[1, 0, 1]], x)),
           lambda x: x[:, [0, 2]].ravel(), [((2, 3),)]),
    OpSpec("take", lambda x: F.take(x, _i([[5, 0], [2, 2]], x)), lambda x: np.take(x, [[5, 0], [2, 2]]),
           [((2, 3),)]),
    OpSpec("tril", lambda x: F.tril(x), np.tril, [((3, 4),), ((2, 3, 3),)]),
    OpSpec("triu_offset", lambda x: x.triu(1), lambda x: np.triu(x, 1), [((3, 4),)]),
    OpSpec("tril_negative", lambda x: x.tril(-1), lambda x: np.tril(x, -1), [((4, 3),)]),
    OpSpec("diagonal", lambda x: F.diagonal(x), np.diagonal, [((3, 4),)]),
    OpSpec("diagonal_offset_dims", lambda x: x.diagonal(-1, 0, 2),
           lambda x: np.diagonal(x, -1, 0, 2), [((3, 2, 4),)]),
    OpSpec("diag_vector", lambda x: F.diag(x, 1), lambda x: np.diag(x, 1), [((3,),)]),
    OpSpec("diag_vector_below", lambda x: F.diag(x, -2), lambda x: np.diag(x, -2), [((2,),)]),
    OpSpec("diag_matrix", lambda x: x.diag(), np.diag, [((3, 3),)]),
    # rearranging
    OpSpec("flip", lambda x: F.flip(x, (0, 2)), lambda x: np.flip(x, (0, 2)), [((2, 3, 2),)]),
    OpSpec("roll", lambda x: F.roll(x, (1, -1), (0, 1)), lambda x: np.roll(x, (1, -1), (0, 1)),
           [((3, 4),)]),
    OpSpec("roll_flat", lambda x: x.roll(5), lambda x: np.roll(x, 5), [((3, 4),)]),
    OpSpec("repeat", lambda x: x.repeat(2, 1, 3), lambda x: np.tile(x, (2, 1, 3)), [((2, 3),)]),
    OpSpec("tile", lambda x: F.tile(x, (2,)), lambda x: np.tile(x, 2), [((2, 3),)]),
    OpSpec("repeat_interleave", lambda x: x.repeat_interleave(2, 1),
           lambda x: np.repeat(x, 2, 1), [((2, 3),)]),
    OpSpec("repeat_interleave_list", lambda x: F.repeat_interleave(x, [1, 0, 3]),
           lambda x: np.repeat(x, [1, 0, 3]), [((3,),)]),
    OpSpec("unflatten", lambda x: x.unflatten(1, (2, -1)), lambda x: x.reshape(3, 2, 3), [((3, 6),)]),
    OpSpec("movedim", lambda x: F.movedim(x, (0, 1), (2, 0)), lambda x: np.moveaxis(x, (0, 1), (2, 0)),
           [((2, 3, 4),)]),
    OpSpec("narrow", lambda x: x.narrow(1, -3, 2), lambda x: x[:, 1:3], [((2, 4),)]),
    OpSpec("chunk", lambda x: F.chunk(x, 3, 1), lambda x: (x[:, :2], x[:, 2:4], x[:, 4:]),
           [((2, 5),)]),
    OpSpec("unbind", lambda x: x.unbind(1), lambda x: tuple(x[:, i] for i in range(3)), [((2, 3),)]),
    OpSpec("cat", lambda x, y: F.cat([x, y], dim=-1), lambda x, y: np.concatenate([x, y], -1),
           [((2, 3), (2, 1))]),
    OpSpec("meshgrid", lambda x, y: F.meshgrid(x, y), lambda x, y: tuple(np.meshgrid(x, y, indexing="ij")),
           [((3,), (2,))]),
    OpSpec("meshgrid_xy", lambda x, y: F.meshgrid(x, y, indexing="xy"),
           lambda x, y: tuple(np.meshgrid(x, y)), [((3,), (2,))]),
    *[OpSpec(f"einsum[{eq}]", lambda *xs, eq=eq: F.einsum(eq, *xs),
             lambda *xs, eq=eq: np.einsum(eq, *xs), [tuple(_EINSUM_SHAPES[eq])]) for eq in EINSUMS],
]

CASES = [pytest.param(spec, shapes, id=f"{spec.name}-{'x'.join(map(str, shapes))}")
         for spec in SPECS for shapes in spec.shapes]


def _tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


@pytest.mark.parametrize("spec, shapes", CASES)
def test_forward_matches_numpy(spec, shapes, device):
    arrays, tensors = sample_inputs(spec, shapes, device)
    outs, expected = _tuple(spec.op(*tensors)), _tuple(spec.reference(*arrays))
    assert len(outs) == len(expected)
    for out, want in zip(outs, expected):
        assert out.shape == np.shape(want)
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec, shapes", CASES)
def test_gradcheck(spec, shapes, device):
    _, tensors = sample_inputs(spec, shapes, device)
    assert minigrad.gradcheck(spec.op, tensors)


@pytest.mark.parametrize("spec, shapes", CASES)
def test_gradgradcheck(spec, shapes, device):
    _, tensors = sample_inputs(spec, shapes, device)
    assert minigrad.gradgradcheck(spec.op, tensors)


@pytest.mark.parametrize("spec, shapes", CASES)
def test_float32_stays_float32(spec, shapes, device):
    _, tensors = sample_inputs(spec, shapes, device, dtype=np.float32)
    outs = _tuple(spec.op(*tensors))
    assert all(out.dtype == np.float32 for out in outs)
    sum((out * out).sum() for out in outs).backward()
    for t in tensors:
        assert t.grad is not None and t.grad.dtype == np.float32 and t.grad.shape == t.shape


@pytest.mark.skipif(not minigrad.cuda.is_available(), reason="CuPy (or its stand-in) is not available")
@pytest.mark.parametrize("spec, shapes", CASES)
def test_cuda_matches_cpu(spec, shapes):
    results = []
    for device in ("cpu", "cuda"):
        _, tensors = sample_inputs(spec, shapes, device)
        outs = _tuple(spec.op(*tensors))
        loss = sum((out * minigrad.tensor(np.cos(np.arange(out.numel())).reshape(out.shape), device=device))
                   .sum() for out in outs)
        loss.backward()
        results.append([o.numpy() for o in outs] + [t.grad.numpy() for t in tensors])
    for on_cuda, on_cpu in zip(*results):
        np.testing.assert_allclose(on_cuda, on_cpu, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------ indices and ties
TIES = np.array([[3.0, 1.0, 3.0, 2.0, 1.0, 3.0], [0.5, 0.5, -1.0, 0.5, -1.0, 2.0]])


def test_sort_is_stable_and_descending_keeps_order_of_ties(device):
    x = minigrad.tensor(TIES, device=device)
    ascending, descending = x.sort(1), x.sort(1, descending=True)
    np.testing.assert_array_equal(ascending.indices.numpy(), np.argsort(TIES, 1, kind="stable"))
    expected = np.array([sorted(range(6), key=lambda j: -row[j]) for row in TIES])  # stable sort
    np.testing.assert_array_equal(descending.indices.numpy(), expected)
    np.testing.assert_array_equal(descending.values.numpy(), -np.sort(-TIES, 1))
    np.testing.assert_array_equal(F.argsort(x, 0).numpy(), np.argsort(TIES, 0, kind="stable"))


def test_topk_kthvalue_median_indices_point_at_their_values(device):
    x = minigrad.tensor(TIES, device=device)
    for values, indices in [x.topk(3), x.topk(2, largest=False), x.kthvalue(4, keepdim=True),
                            x.median(1, keepdim=True), F.mode(x, 1, keepdim=True)]:
        np.testing.assert_array_equal(np.take_along_axis(TIES, indices.numpy(), 1), values.numpy())
    assert x.median().item() == np.sort(TIES.ravel())[(TIES.size - 1) // 2]
    assert float(F.kthvalue(x, 1).values.numpy()[1]) == -1.0


def test_mode_is_the_smallest_most_frequent_value_at_its_last_index(device):
    x = minigrad.tensor(TIES, device=device)
    values, indices = x.mode(1)
    np.testing.assert_array_equal(values.numpy(), [3.0, 0.5])  # row 0: 3 thrice; row 1: 0.5 thrice
    np.testing.assert_array_equal(indices.numpy(), [5, 3])
    row = minigrad.tensor([2.0, 1.0, 2.0, 1.0], device=device)  # 1 and 2 twice each: the smaller
    assert row.mode().values.item() == 1.0 and row.mode().indices.item() == 3


def test_cummax_cummin_take_the_latest_index_on_ties(device):
    x = minigrad.tensor(TIES, device=device)
    values, indices = x.cummax(1)
    np.testing.assert_array_equal(values.numpy(), np.maximum.accumulate(TIES, 1))
    np.testing.assert_array_equal(indices.numpy(), [[0, 0, 2, 2, 2, 5], [0, 1, 1, 3, 3, 5]])
    values, indices = x.cummin(1)
    np.testing.assert_array_equal(values.numpy(), np.minimum.accumulate(TIES, 1))
    np.testing.assert_array_equal(indices.numpy(), [[0, 1, 1, 1, 4, 4], [0, 1, 2, 2, 4, 4]])


def test_ties_send_the_gradient_to_the_picked_element_only():
    x = minigrad.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.cummax(0).values.sum().backward()  # running max at positions: 0, 1, 2, 2
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 2.0, 0.0])


def test_sum_dtype_accumulates_in_that_dtype_and_argmax_keeps_dims(device):
    x = minigrad.tensor(np.full(4, 0.1, np.float32), device=device, requires_grad=True)
    total = x.sum(dtype=np.float64)
    assert total.dtype == np.float64
    np.testing.assert_allclose(total.item(), 4 * np.float64(np.float32(0.1)), rtol=1e-15)
    total.backward()
    assert x.grad.dtype == np.float32
    assert minigrad.tensor([True, True, False], device=device).sum().item() == 2
    y = minigrad.tensor(TIES, device=device)
    np.testing.assert_array_equal(y.argmax(1, keepdims=True).numpy(), [[0], [5]])  # first of ties
    np.testing.assert_array_equal(y.argmin(0).numpy(), np.argmin(TIES, 0))


# -------------------------------------------------------- zeros, extremes, empties
@pytest.mark.parametrize("values", [[2.0, 0.0, 3.0, 4.0], [0.0, 2.0, 0.0, 5.0], [1.5, -2.0, 0.5, 3.0]])
def test_cumprod_and_prod_gradients_are_exact_at_zeros(values, device):
    x = minigrad.tensor(np.array(values), device=device, requires_grad=True)
    assert minigrad.gradcheck(lambda t: F.cumprod(t, 0), x)
    F.prod(x).backward()
    others = [np.prod(np.delete(values, i)) for i in range(len(values))]  # product of the others
    np.testing.assert_allclose(x.grad.numpy(), others, rtol=1e-12)


def test_prod_of_an_empty_dim_is_one_and_ints_stay_ints():
    assert minigrad.zeros(0).prod().item() == 1.0
    np.testing.assert_array_equal(minigrad.zeros(2, 0).prod(1).numpy(), [1.0, 1.0])
    ints = minigrad.tensor([[1, 2, 3], [4, 5, 6]])
    assert ints.prod().item() == 720 and ints.prod(1).dtype.kind == "i"
    assert ints.cumsum(1).numpy().tolist() == [[1, 3, 6], [4, 9, 15]]


def test_logcumsumexp_stays_finite_for_large_and_spread_values():
    x = np.array([1000.0, -50.0, 999.0, 1001.0])
    out = F.logcumsumexp(minigrad.tensor(x), 0).numpy()
    np.testing.assert_allclose(out, np.logaddexp.accumulate(x), rtol=1e-12)
    assert np.isfinite(out).all()


def test_norm_gradient_is_zero_at_zero(device):
    x = minigrad.zeros(3, 2, dtype=np.float64, device=device, requires_grad=True)
    F.norm(x, dim=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 2)))
    assert F.norm(minigrad.tensor([0.0, 3.0, -4.0]), 0).item() == 2.0  # p=0 counts non-zeros


def test_scatter_reduce_amax_splits_the_gradient_among_ties():
    x = minigrad.tensor([1.0, 5.0], requires_grad=True)
    src = minigrad.tensor([5.0, 2.0, 5.0], requires_grad=True)
    out = F.scatter_reduce(x, 0, minigrad.tensor([1, 0, 1]), src, "amax")
    np.testing.assert_array_equal(out.numpy(), [2.0, 5.0])
    out.sum().backward()  # x[1], src[0], src[2] tie at 5: a third each
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 1 / 3])
    np.testing.assert_allclose(src.grad.numpy(), [1 / 3, 1.0, 1 / 3])


# ------------------------------------------------------ non-differentiable results
def test_one_hot_nonzero_and_masked_select(device):
    labels = minigrad.tensor([2, 0, 1, 2], device=device)
    np.testing.assert_array_equal(F.one_hot(labels).numpy(), np.eye(3, dtype=np.int64)[[2, 0, 1, 2]])
    assert F.one_hot(labels, 5).shape == (4, 5) and F.one_hot(labels).dtype == np.int64
    x = minigrad.tensor([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]], device=device)
    np.testing.assert_array_equal(x.nonzero().numpy(), np.argwhere(x.numpy()))
    rows, cols = x.nonzero(as_tuple=True)
    np.testing.assert_array_equal(x.numpy()[rows.numpy(), cols.numpy()], [1.5, 2.0, -1.0])
    np.testing.assert_array_equal(x.masked_select(x > 0).numpy(), [1.5, 2.0])


def test_where_of_two_numbers_takes_pytorch_dtypes(device):
    mask = minigrad.tensor([True, False], device=device)
    assert F.where(mask, 1.0, 0.0).dtype == np.float32
    assert F.where(mask, 1, 0).dtype == np.int64
    np.testing.assert_array_equal(F.where(mask, 2, 0.5).numpy(), [2.0, 0.5])


def test_data_dependent_shapes_are_host_syncs_on_the_stand_in():
    cupy_stand_in = pytest.importorskip("cupy_stand_in")
    if not cupy_stand_in.installed:
        pytest.skip("a real GPU: the stand-in is not in use")
    x = minigrad.tensor([0.0, 1.0, 2.0], device="cuda")
    mask = x > 0.5
    with cupy_stand_in.allow_synchronize(False):
        F.gather(x.reshape(1, 3), 1, _i([[2, 0]], x))  # fixed shapes: no sync
        F.cumsum(x, 0), F.sort(x), F.one_hot(_i([0, 2], x), 3)
        for data_dependent in (lambda: x.nonzero(), lambda: x.masked_select(mask),
                               lambda: F.repeat_interleave(x, _i([1, 0, 2], x))):
            with pytest.raises(cupy_stand_in.DeviceSynchronized):
                data_dependent()


# -------------------------------------------------------------------- errors
@pytest.mark.parametrize("call, error, words", [
    (lambda x: F.gather(x, 2, _i([[0]], x)), IndexError, "dim 2 is out of range"),
    (lambda x: F.gather(x, 1, _i([[0, 4]], x)), IndexError, "index out of range"),
    (lambda x: F.gather(x, 0, _i([0, 1], x)), RuntimeError, "does not fit input"),
    (lambda x: F.index_select(x, 0, minigrad.tensor([0.0])), TypeError, "integer tensor"),
    (lambda x: F.cumsum(x, None), TypeError, "missing dim"),
    (lambda x: F.topk(x, 5), RuntimeError, "k=5 is out of range"),
    (lambda x: F.kthvalue(x, 0), RuntimeError, "k counts from 1"),
    (lambda x: F.narrow(x, 1, 3, 2), IndexError, "do not fit dim 1"),
    (lambda x: F.einsum("ij,jk->ik", x, x), ValueError, "letter 'j'"),
    (lambda x: F.einsum("ij,k->ik", x), ValueError, "names 2 operands"),
    (lambda x: F.one_hot(_i([0, 3], x), 3), RuntimeError, "[0, 3)"),
    (lambda x: F.scatter_reduce(x, 1, _i([[0]], x), x, "median"), NotImplementedError, "'median'"),
    (lambda x: F.masked_fill(x, x, 0.0), TypeError, "bool tensor"),
    (lambda x: F.unflatten(x, 1, (3, 2)), RuntimeError, "do not multiply"),
])
def test_bad_input_gets_a_clear_error(call, error, words):
    x = minigrad.tensor(np.ones((2, 4)))
    with pytest.raises(error, match=words.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        call(x)


# ----------------------------------------------------------------- creation
def test_linspace_logspace_and_from_numpy():
    np.testing.assert_allclose(minigrad.linspace(-1, 2, 7).numpy(), np.linspace(-1, 2, 7), rtol=1e-6)
    assert minigrad.linspace(0, 1, 3).dtype == np.float32
    assert minigrad.linspace(0, 1, 3, dtype=np.float64).dtype == np.float64
    np.testing.assert_allclose(minigrad.logspace(0, 3, 4, base=2).numpy(), [1, 2, 4, 8], rtol=1e-6)
    array = np.arange(6.0)
    shared = minigrad.from_numpy(array)
    array[0] = 42.0  # from_numpy shares memory, as torch.from_numpy
    assert shared[0].item() == 42.0 and shared.dtype == np.float64
    with pytest.raises(TypeError, match="numpy.ndarray"):
        minigrad.from_numpy([1.0, 2.0])


# ------------------------------------------------------- PyTorch as an oracle
def _both(torch, array, requires_grad=True):
    return (minigrad.tensor(array, requires_grad=requires_grad),
            torch.tensor(array, requires_grad=requires_grad))


TORCH_OPS = {
    "sort_desc": (lambda m, x: m.sort(x, 1, descending=True).values, lambda t, x: x.sort(1, True).values),
    "topk": (lambda m, x: m.topk(x, 2, 1).values, lambda t, x: x.topk(2, 1).values),
    "median": (lambda m, x: m.median(x), lambda t, x: x.median()),
    "median_dim": (lambda m, x: m.median(x, 0).values, lambda t, x: x.median(0).values),
    "mode": (lambda m, x: m.mode(x, 1).values, lambda t, x: x.mode(1).values),
    "cummax": (lambda m, x: m.cummax(x, 1).values, lambda t, x: x.cummax(1).values),
    "cumprod": (lambda m, x: m.cumprod(x, 1), lambda t, x: x.cumprod(1)),
    "prod": (lambda m, x: m.prod(x, 0), lambda t, x: x.prod(0)),
    "logcumsumexp": (lambda m, x: m.logcumsumexp(x, 1), lambda t, x: x.logcumsumexp(1)),
    "std_mean": (lambda m, x: m.std_mean(x, 1)[0], lambda t, x: t.std_mean(x, 1)[0]),
    "norm": (lambda m, x: m.norm(x, 3, 1), lambda t, x: x.norm(3, 1)),
    "diag": (lambda m, x: m.diag(m.diagonal(x, 1), -1), lambda t, x: t.diag(x.diagonal(1), -1)),
    "roll": (lambda m, x: m.roll(x, (2, -1), (1, 0)), lambda t, x: x.roll((2, -1), (1, 0))),
    "repeat": (lambda m, x: x.repeat(2, 1, 2), lambda t, x: x.repeat(2, 1, 2)),
    "chunk": (lambda m, x: m.chunk(x, 4, 1)[-1], lambda t, x: x.chunk(4, 1)[-1]),
    "einsum": (lambda m, x: m.einsum("ij,kj->ik", x, x), lambda t, x: t.einsum("ij,kj->ik", x, x)),
    "trace": (lambda m, x: m.einsum("ii", x[:2]), lambda t, x: t.einsum("ii", x[:2])),
}


@pytest.mark.parametrize("name", sorted(TORCH_OPS))
def test_matches_pytorch_forward_and_backward(name):
    torch = pytest.importorskip("torch")
    ours, theirs = TORCH_OPS[name]
    array = TIES.T.copy()[:3] * np.array([[1.0], [-0.5], [0.0]]) + TIES[:, :3].T  # ties and a zero
    x, t = _both(torch, array)
    out, expected = ours(F, x), theirs(torch, t)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    cotangent = np.cos(np.arange(out.numel())).reshape(out.shape)
    out.backward(minigrad.tensor(cotangent))
    expected.backward(torch.tensor(cotangent))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)
