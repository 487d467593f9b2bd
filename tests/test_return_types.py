"""PyTorch's return conventions: max/min(dim) -> (values, indices), unbiased
var/std, split's piece sizes and tensor_split, full's dtype from its fill,
Module.half()/bfloat16(), in-place ops on inference tensors, and permute by the
identity. Each is compared with PyTorch when it is installed."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
from minigrad import gradcheck, gradgradcheck

ROWS = np.array([[3.0, -1.0, 3.0, 0.5],
                 [-2.0, 4.0, 1.0, 4.0],
                 [0.0, 0.0, -5.0, 2.0]])  # ties in rows 0 and 1


def tensor(array=ROWS, **kwargs):
    return minigrad.tensor(array, dtype=minigrad.float64, **kwargs)


# ------------------------------------------------------------ max(dim), min(dim)
@pytest.mark.parametrize("name, pick, arg", [("max", np.max, np.argmax), ("min", np.min, np.argmin)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_and_min_over_a_dim_return_values_and_indices(name, pick, arg, keepdim, device):
    x = tensor(device=device)
    out = getattr(x, name)(1, keepdim)
    values, indices = out  # tuple unpacking, as torch.return_types.max
    assert values is out.values and indices is out.indices and out[0] is values
    expected_shape = (3, 1) if keepdim else (3,)
    assert values.shape == indices.shape == expected_shape and indices.dtype == np.int64
    np.testing.assert_array_equal(values.numpy().reshape(-1), pick(ROWS, axis=1))
    np.testing.assert_array_equal(indices.numpy().reshape(-1), arg(ROWS, axis=1))  # the first of ties
    for same in (getattr(F, name)(x, dim=1, keepdim=keepdim), getattr(x, name)(axis=1, keepdims=keepdim),
                 getattr(F, name)(x, -1, keepdim)):
        np.testing.assert_array_equal(same.values.numpy(), values.numpy())
        np.testing.assert_array_equal(same.indices.numpy(), indices.numpy())


def test_max_without_dim_is_0d_and_with_a_tensor_is_maximum():
    x, y = tensor(), tensor(ROWS[::-1].copy())
    assert x.max().shape == () and x.max().item() == 4.0 and F.min(x).item() == -5.0
    np.testing.assert_array_equal(x.max(y).numpy(), np.maximum(ROWS, ROWS[::-1]))
    np.testing.assert_array_equal(F.min(x, y).numpy(), np.minimum(ROWS, ROWS[::-1]))


def test_max_of_a_0d_tensor_over_dim_0():
    values, indices = minigrad.tensor(2.5).max(0)
    assert values.shape == indices.shape == () and values.item() == 2.5 and indices.item() == 0


def test_max_over_several_dims_points_to_amax():
    with pytest.raises(TypeError, match=r"max: dim must be a single int.*amax\(x, dim=\(0, 1\)\)"):
        tensor().max((0, 1))
    np.testing.assert_array_equal(tensor().amax((0, 1)).numpy(), ROWS.max())


def test_max_over_an_empty_dim_is_an_error():
    with pytest.raises(IndexError, match=r"max: cannot take the max over dim 1, which is empty"):
        minigrad.zeros(2, 0).max(1)


def test_max_over_a_dim_sends_the_gradient_to_the_index():
    """Unlike x.max() and amax, which share it among ties, as PyTorch does."""
    x = tensor(requires_grad=True)
    x.max(1).values.sum().backward()
    expected = np.zeros_like(ROWS)
    expected[[0, 1, 2], [0, 1, 3]] = 1.0  # the first of the tied 3s and 4s
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    z = tensor(requires_grad=True)
    z.amax(1).sum().backward()
    assert z.grad.numpy()[0, 0] == z.grad.numpy()[0, 2] == 0.5


def test_max_and_min_over_a_dim_pass_gradcheck():
    x = minigrad.tensor(np.random.default_rng(0).standard_normal((3, 4, 2)), requires_grad=True)
    for f in (lambda t: t.max(1).values, lambda t: F.min(t, 0, keepdim=True).values * 2.0):
        assert gradcheck(f, [x]) and gradgradcheck(f, [x])


def test_max_over_a_dim_with_nan_picks_the_nan():
    x = tensor(np.array([[1.0, np.nan, 3.0], [2.0, 0.0, -1.0]]))
    for name in ("max", "min"):
        values, indices = getattr(x, name)(1)
        assert np.isnan(values.numpy()[0]) and indices.numpy()[0] == 1


def test_max_and_min_over_a_dim_match_torch():
    torch = pytest.importorskip("torch")
    for name in ("max", "min"):
        x, t = tensor(requires_grad=True), torch.tensor(ROWS, requires_grad=True)
        ours, theirs = getattr(x, name)(dim=1, keepdim=True), getattr(t, name)(dim=1, keepdim=True)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.detach().numpy())
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
        (ours.values * 3.0).sum().backward()
        (theirs.values * 3.0).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


@pytest.mark.parametrize("call", [
    lambda x: x.sort(1), lambda x: x.topk(2, 1), lambda x: x.kthvalue(2, 1), lambda x: x.median(1),
    lambda x: x.mode(1), lambda x: x.cummax(1), lambda x: x.cummin(1), lambda x: x.max(1),
    lambda x: x.min(1)], ids=["sort", "topk", "kthvalue", "median", "mode", "cummax", "cummin", "max",
                              "min"])
def test_ops_returning_values_and_indices_are_named_tuples(call):
    x = tensor()
    out = call(x)
    values, indices = out
    assert (out.values, out.indices) == (values, indices) and indices.dtype == np.int64
    # the values are x read at the indices
    picked = np.take_along_axis(ROWS, indices.numpy().reshape(3, -1), axis=1)
    np.testing.assert_array_equal(picked, values.numpy().reshape(3, -1))


# ------------------------------------------------------------------ var, std
def test_var_and_std_are_unbiased_by_default():
    x = tensor()
    np.testing.assert_allclose(x.var().item(), ROWS.var(ddof=1), rtol=1e-12)
    np.testing.assert_allclose(F.std(x, 1).numpy(), ROWS.std(axis=1, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(x.var(0, keepdim=True).numpy(), ROWS.var(0, keepdims=True, ddof=1),
                               rtol=1e-12)


@pytest.mark.parametrize("kwargs", [{"correction": 0}, {"unbiased": False}, {"ddof": 0}])
def test_the_three_spellings_of_the_biased_variance(kwargs):
    x = tensor()
    np.testing.assert_allclose(x.var(dim=1, **kwargs).numpy(), ROWS.var(axis=1), rtol=1e-12)
    np.testing.assert_allclose(F.std(x, **kwargs).item(), ROWS.std(), rtol=1e-12)


def test_var_takes_unbiased_positionally_as_torch_and_refuses_two_corrections():
    x = tensor()
    np.testing.assert_allclose(x.var(1, False).numpy(), ROWS.var(axis=1), rtol=1e-12)
    np.testing.assert_allclose(F.var(x, 1, True, True).numpy(), ROWS.var(axis=1, ddof=1, keepdims=True),
                               rtol=1e-12)
    with pytest.raises(TypeError, match=r"var: got unbiased= and correction="):
        x.var(1, True, correction=0)
    with pytest.raises(TypeError, match=r"var: got correction= and ddof="):
        x.var(correction=1, ddof=0)
    with pytest.raises(TypeError, match=r"unbiased must be True or False, got 2"):
        F.std(x, 1, 2)


def test_var_mean_and_std_mean_take_var_arguments():
    v, m = F.var_mean(tensor(), 1, unbiased=False)
    np.testing.assert_allclose(v.numpy(), ROWS.var(axis=1), rtol=1e-12)
    s, m = F.std_mean(tensor(), 0, keepdim=True, correction=2)
    np.testing.assert_allclose(s.numpy(), ROWS.std(axis=0, ddof=2, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(m.numpy(), ROWS.mean(axis=0, keepdims=True), rtol=1e-12)


def test_var_with_a_correction_passes_gradcheck():
    x = minigrad.tensor(np.random.default_rng(1).standard_normal((3, 5)), requires_grad=True)
    for f in (lambda t: t.var(1), lambda t: t.std(0, correction=2), lambda t: t.var(unbiased=False)):
        assert gradcheck(f, [x]) and gradgradcheck(f, [x])


def test_var_and_std_match_torch():
    torch = pytest.importorskip("torch")
    x, t = tensor(), torch.tensor(ROWS)
    pairs = [(x.var(), t.var()), (x.std(1), t.std(1)), (x.var(0, False), t.var(0, False)),
             (x.std(1, correction=2, keepdim=True), t.std(1, correction=2, keepdim=True))]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


# ------------------------------------------------------------- split, tensor_split
def test_split_by_piece_size_and_by_sizes():
    x = minigrad.arange(10).reshape(5, 2)
    assert [p.shape for p in x.split(2)] == [(2, 2), (2, 2), (1, 2)]
    assert [p.shape for p in F.split(x, [1, 4], dim=0)] == [(1, 2), (4, 2)]
    assert [p.shape for p in minigrad.split(x, 1, dim=1)] == [(5, 1), (5, 1)]
    np.testing.assert_array_equal(x.split(2)[2].numpy(), [[8, 9]])
    with pytest.raises(ValueError, match=r"split: the sizes \[1, 3\] must .* sum to the size 5"):
        x.split([1, 3])
    with pytest.raises(ValueError, match=r"split: split_size must be a positive int"):
        x.split(0)


def test_tensor_split_cuts_into_sections_or_at_indices():
    x = minigrad.arange(5)
    assert [p.numpy().tolist() for p in x.tensor_split(2)] == [[0, 1, 2], [3, 4]]
    assert [p.numpy().tolist() for p in F.tensor_split(x, [1, 3])] == [[0], [1, 2], [3, 4]]
    assert [p.numel() for p in minigrad.tensor_split(x, 3)] == [2, 2, 1]


def test_split_and_tensor_split_pass_gradcheck():
    x = minigrad.tensor(np.random.default_rng(2).standard_normal((5, 3)), requires_grad=True)
    for f in (lambda t: t.split(2)[2] * 2.0, lambda t: F.tensor_split(t, 2, dim=1)[0],
              lambda t: t.split([2, 3])[1]):
        assert gradcheck(f, [x]) and gradgradcheck(f, [x])


def test_split_matches_torch():
    torch = pytest.importorskip("torch")
    data = np.arange(21.0).reshape(7, 3)
    x, t = minigrad.tensor(data), torch.tensor(data)
    for ours, theirs in [(x.split(3), t.split(3)), (x.split([2, 5]), t.split([2, 5])),
                         (x.tensor_split(3), t.tensor_split(3)),
                         (x.tensor_split([1, 5]), t.tensor_split([1, 5])),
                         (x.split(2, dim=1), t.split(2, dim=1)), (x.chunk(3), t.chunk(3))]:
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


# ------------------------------------------------------------------------ full
def test_full_takes_its_dtype_from_the_fill():
    assert minigrad.full((2,), 7).dtype == np.int64
    assert minigrad.full((2,), True).dtype == np.bool_
    assert minigrad.full((2,), 7.0).dtype == minigrad.get_default_dtype()
    assert minigrad.full((2,), 7, dtype=minigrad.float64).dtype == np.float64
    np.testing.assert_array_equal(minigrad.full((2, 1), 7).numpy(), [[7], [7]])


def test_full_dtype_matches_torch():
    torch = pytest.importorskip("torch")
    for fill in (3, False, 2.5):
        assert str(minigrad.full((1,), fill).dtype) == str(torch.full((1,), fill).dtype).split(".")[1]


# ------------------------------------------------------------- Module casts
def test_module_half_casts_and_bfloat16_refuses():
    model = nn.Linear(3, 2)
    weight = model.weight
    assert model.half() is model and model.weight is weight and weight.dtype == np.float16
    assert model.double().bias.dtype == np.float64 and model.float().weight.dtype == np.float32
    with pytest.raises(TypeError, match=r"Linear.bfloat16\(\): minigrad has no bfloat16"):
        model.bfloat16()
    with pytest.raises(TypeError, match=r"bfloat16: minigrad has no bfloat16.*shape \(2, 3\)"):
        model.weight.bfloat16()
    with pytest.raises(TypeError, match=r"Module.to only accepts floating point dtypes, but got int64"):
        model.to(minigrad.int64)
    assert model.weight.dtype == np.float32  # the refused casts changed nothing


# ------------------------------------------------- in place on inference tensors
@pytest.mark.parametrize("update", [lambda t: t.add_(1.0), lambda t: t.zero_(),
                                    lambda t: t.__setitem__(0, 5.0), lambda t: t.mul_(2.0)],
                         ids=["add_", "zero_", "setitem", "mul_"])
def test_in_place_on_an_inference_tensor_only_inside_inference_mode(update):
    with minigrad.inference_mode():
        t = minigrad.ones(3)
        update(t)  # allowed inside
    before = t.numpy().copy()
    with pytest.raises(RuntimeError, match="Inplace update to inference tensor outside InferenceMode"):
        update(t)
    np.testing.assert_array_equal(t.numpy(), before)  # refused before writing anything
    copy = t.clone()
    update(copy)  # a normal copy made outside: allowed
    with minigrad.no_grad(), pytest.raises(RuntimeError, match="outside InferenceMode"):
        update(t)  # no_grad is not inference_mode


def test_in_place_on_an_inference_tensor_raises_in_torch_too():
    torch = pytest.importorskip("torch")
    with torch.inference_mode():
        t = torch.ones(3)
    with pytest.raises(RuntimeError, match="Inplace update to inference tensor outside InferenceMode"):
        t.add_(1.0)


# -------------------------------------------------------- permute by the identity
@pytest.mark.parametrize("perm", [(0, 1), (1, 0), (0, 1, 2), (2, 0, 1)])
def test_permute_backward_including_the_identity(perm):
    x = minigrad.tensor(np.random.default_rng(3).standard_normal((2, 3, 4)[:len(perm)]), requires_grad=True)
    weights = minigrad.tensor(np.random.default_rng(4).standard_normal(np.transpose(x.numpy(), perm).shape))
    (x.permute(*perm) * weights).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.transpose(weights.numpy(), np.argsort(perm)), rtol=1e-15)
    for f in (lambda t: t.permute(perm), lambda t: F.permute(t, tuple(np.int64(p) for p in perm))):
        assert gradcheck(f, [x]) and gradgradcheck(f, [x])
