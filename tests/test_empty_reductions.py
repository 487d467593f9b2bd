"""Reductions over empty axes, var/std without degrees of freedom, squeeze edge cases.

PyTorch is the expectation (its values are written in the comments): mean of
nothing is 0/0 = NaN, sum of nothing is 0, var/std divide by max(0, N - ddof)
under IEEE rules, all without warnings; gradients on empty inputs are empty."""
import warnings

import numpy as np
import pytest

import minigrad
from minigrad import gradcheck, gradgradcheck


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    """NumPy's 'Mean of empty slice' / 'invalid value' RuntimeWarnings must not appear."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _check(result, shape, values):
    assert result.shape == shape
    np.testing.assert_array_equal(result.numpy(), np.broadcast_to(values, shape))


# (tensor shape, reduction, keyword arguments, expected shape, expected value: PyTorch's)
EMPTY_CASES = [
    ((0,), "mean", {}, (), np.nan),                                # torch.empty(0).mean() -> nan
    ((0,), "sum", {}, (), 0.0),                                    # torch.empty(0).sum() -> 0.
    ((0,), "var", {}, (), np.nan),                                 # torch.empty(0).var() -> nan
    ((0,), "std", {}, (), np.nan),                                 # torch.empty(0).std() -> nan
    ((0,), "var", {"ddof": 0}, (), np.nan),                        # .var(correction=0) -> nan
    ((2, 0), "mean", {"axis": 1}, (2,), np.nan),                   # -> tensor([nan, nan])
    ((2, 0), "mean", {"axis": 1, "keepdims": True}, (2, 1), np.nan),
    ((2, 0), "mean", {"axis": 0}, (0,), np.nan),                   # -> tensor([]), shape [0]
    ((2, 0), "mean", {"axis": 0, "keepdims": True}, (1, 0), np.nan),
    ((2, 0), "mean", {}, (), np.nan),                              # -> nan
    ((2, 0), "mean", {"axis": (0, 1), "keepdims": True}, (1, 1), np.nan),  # -> [[nan]]
    ((2, 0), "sum", {"axis": 1}, (2,), 0.0),                       # -> tensor([0., 0.])
    ((2, 0), "sum", {"axis": 1, "keepdims": True}, (2, 1), 0.0),
    ((2, 0), "sum", {"axis": 0}, (0,), 0.0),
    ((2, 0), "var", {"axis": 1}, (2,), np.nan),                    # -> tensor([nan, nan])
    ((2, 0), "var", {"axis": 0}, (0,), np.nan),                    # -> tensor([])
    ((2, 0), "std", {"axis": 1, "keepdims": True}, (2, 1), np.nan),
    ((3, 0, 2), "std", {"axis": (0, 1)}, (2,), np.nan),
]


@pytest.mark.parametrize("shape, name, kwargs, out_shape, value", EMPTY_CASES)
def test_reduction_of_empty_input(shape, name, kwargs, out_shape, value):
    x = minigrad.zeros(shape)
    result = getattr(x, name)(**kwargs)
    _check(result, out_shape, value)
    assert result.dtype == np.float32


@pytest.mark.parametrize("shape, name, kwargs, out_shape, value", EMPTY_CASES)
def test_reduction_of_empty_input_matches_torch(shape, name, kwargs, out_shape, value):
    torch = pytest.importorskip("torch")
    torch_names = {"axis": "dim", "keepdims": "keepdim", "ddof": "correction"}
    torch_kwargs = {torch_names[key]: value for key, value in kwargs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns "degrees of freedom is <= 0"; we do not
        expected = getattr(torch.zeros(shape), name)(**torch_kwargs).numpy()
        mine = getattr(minigrad.zeros(shape), name)(**kwargs)
    assert mine.shape == expected.shape
    np.testing.assert_array_equal(mine.numpy(), expected)


@pytest.mark.parametrize("name", ["mean", "sum", "var", "std"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_backward_of_empty_input_is_an_empty_gradient(name, axis):
    x = minigrad.zeros((2, 0), requires_grad=True)
    getattr(x, name)(axis=axis).sum().backward()
    assert x.grad.shape == (2, 0) and x.grad.dtype == np.float32


# -------------------------------------------------- var/std without degrees of freedom
def test_var_and_std_when_ddof_reaches_n():
    x = minigrad.tensor([2.0, 5.0])
    # torch.tensor([2., 5.]).var(correction=c): c=0 -> 2.25, 1 -> 4.5, 2 -> inf, 3 -> inf
    np.testing.assert_allclose(x.var(ddof=0).item(), 2.25, rtol=1e-6)
    np.testing.assert_allclose(x.var(ddof=1).item(), 4.5, rtol=1e-6)
    assert x.var(ddof=2).item() == np.inf and x.var(ddof=3).item() == np.inf
    assert x.std(ddof=2).item() == np.inf
    # torch.tensor([3.]).var() -> nan (0/0), and .std() -> nan
    assert np.isnan(minigrad.tensor([3.0]).var(ddof=1).item())
    assert np.isnan(minigrad.tensor([3.0]).std(ddof=1).item())
    # per row: torch.tensor([[1., 1.], [1., 4.]]).var(dim=1, correction=2) -> [nan, inf]
    rows = minigrad.tensor([[1.0, 1.0], [1.0, 4.0]]).var(axis=1, ddof=2)
    np.testing.assert_array_equal(rows.numpy(), [np.nan, np.inf])


def test_var_without_degrees_of_freedom_matches_torch():
    torch = pytest.importorskip("torch")
    data = np.array([[1.0, 1.0, 1.0], [1.0, 4.0, -2.0]])
    for ddof in (3, 4):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = (torch.tensor(data).var(dim=1, correction=ddof).numpy(),
                        torch.tensor(data).std(dim=1, correction=ddof).numpy())
        mine = (minigrad.tensor(data).var(axis=1, ddof=ddof), minigrad.tensor(data).std(axis=1, ddof=ddof))
        for m, e in zip(mine, expected):
            np.testing.assert_array_equal(m.numpy(), e)


def test_gradients_on_normal_input_stay_exact():
    x = minigrad.tensor(np.array([[0.3, -1.2, 2.0, 0.7], [1.1, 0.4, -0.6, -2.2]]), requires_grad=True)
    for f in (lambda x: x.mean(axis=1), lambda x: x.var(axis=0, ddof=1), lambda x: x.std(axis=1),
              lambda x: x.var(), lambda x: x.std(axis=(0, 1), keepdims=True, ddof=1)):
        assert gradcheck(f, (x,))
        assert gradgradcheck(f, (x,))


def test_empty_max_still_refuses():
    # torch.empty(0).max() -> RuntimeError: max(): Expected reduction dim to be specified for
    # input.numel() == 0.
    with pytest.raises(ValueError, match="max.*empty"):
        minigrad.zeros(0).max()


# ----------------------------------------------------------------- squeeze
def test_squeeze_of_a_0d_tensor_stays_0d():
    z = minigrad.tensor(3.0, requires_grad=True)
    # torch.tensor(3.).squeeze().shape == squeeze(0).shape == squeeze(-1).shape == torch.Size([])
    for result in (z.squeeze(), z.squeeze(0), z.squeeze(-1)):
        assert result.shape == () and result.item() == 3.0
    (z.squeeze(0) * 2.0).backward()
    assert z.grad.item() == 2.0


def test_squeeze_of_an_axis_whose_size_is_not_one_is_a_no_op():
    x = minigrad.zeros((2, 1, 3))
    # torch.zeros(2, 1, 3).squeeze(0).shape == (2, 1, 3); squeeze(1) -> (2, 3); squeeze(-1) -> (2, 1, 3)
    assert x.squeeze(0).shape == (2, 1, 3)
    assert x.squeeze(1).shape == (2, 3)
    assert x.squeeze(-1).shape == (2, 1, 3)
    assert x.squeeze((0, 1)).shape == (2, 3)
    assert minigrad.zeros((1, 0, 1)).squeeze().shape == (0,)


def test_squeeze_axis_out_of_range_is_an_index_error():
    # torch: IndexError: Dimension out of range (expected to be in range of [-1, 0], but got 1)
    with pytest.raises(IndexError, match=r"squeeze: dim 1 .*\[-1, 0\]"):
        minigrad.tensor(3.0).squeeze(1)
    with pytest.raises(IndexError, match=r"squeeze: dim 3 .*\(2, 1, 3\)"):
        minigrad.zeros((2, 1, 3)).squeeze(3)


def test_squeeze_matches_torch():
    torch = pytest.importorskip("torch")
    for shape, axis in (((), 0), ((), -1), ((1,), 0), ((2, 1), 0), ((2, 1), 1), ((1, 1, 2), -3)):
        assert minigrad.zeros(shape).squeeze(axis).shape == tuple(torch.zeros(shape).squeeze(axis).shape)
