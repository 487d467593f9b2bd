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
        loss = sum((out * minigrad.tensor(np.cos(np.arange(out.size)).reshape(out.shape), device=device))
                   .sum() for out in outs)
        loss.backward()
        results.append([o.numpy() for o in outs] + [t.grad.numpy() for t in tensors])
    for on_cuda, on_cpu in zip(*results):
        np.testing.assert_allclose(on_cuda, on_cpu, rtol=1e-10, atol=1e-12)
