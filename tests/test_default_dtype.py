"""minigrad.set_default_dtype / get_default_dtype: what a computation picks when
nobody named a dtype (Python floats, creation functions, integer inputs to real
ops, parameters), as torch.set_default_dtype."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn


@pytest.fixture
def float64_default():
    """float64 as the default for one test, float32 restored even if it fails."""
    previous = minigrad.get_default_dtype()
    minigrad.set_default_dtype(minigrad.float64)
    yield
    minigrad.set_default_dtype(previous)


def test_the_default_is_float32():
    assert minigrad.get_default_dtype() is minigrad.float32
    assert minigrad.tensor([1.5]).dtype == np.float32


DEFAULT_FLOAT_RESULTS = {
    "tensor of floats": lambda: minigrad.tensor([1.5, 2.0]),
    "tensor of a float": lambda: minigrad.tensor(0.1),
    "zeros": lambda: minigrad.zeros(2, 3),
    "ones": lambda: minigrad.ones(2),
    "empty": lambda: minigrad.empty(2),
    "full": lambda: minigrad.full((2,), 0.5),
    "eye": lambda: minigrad.eye(2),
    "rand": lambda: minigrad.rand(3),
    "randn": lambda: minigrad.randn(3),
    "float arange": lambda: minigrad.arange(0.0, 1.0, 0.25),
    "linspace": lambda: minigrad.linspace(0, 1, 5),
    "int tensor * float": lambda: minigrad.tensor([1, 2]) * 2.5,
    "int tensor / int tensor": lambda: minigrad.tensor([1, 2]) / minigrad.tensor([3, 4]),
    "int tensor exp": lambda: minigrad.tensor([1, 2]).exp(),
    "bool tensor sigmoid": lambda: minigrad.tensor([True, False]).sigmoid(),
    "parameter of floats": lambda: nn.Parameter([1.0, 2.0]),
    "where of two floats": lambda: F.where(minigrad.tensor([True, False]), 1.0, 0.0),
}


@pytest.mark.parametrize("make", DEFAULT_FLOAT_RESULTS.values(), ids=list(DEFAULT_FLOAT_RESULTS))
def test_everything_that_picks_a_float_follows_the_default(make, float64_default):
    assert make().dtype == np.float64


@pytest.mark.parametrize("make", DEFAULT_FLOAT_RESULTS.values(), ids=list(DEFAULT_FLOAT_RESULTS))
def test_and_is_float32_by_default(make):
    assert make().dtype == np.float32


def test_float64_default_keeps_python_floats_exact(float64_default):
    # 0.1 has no exact float32 value: as float64 it is Python's own 0.1
    assert minigrad.tensor(0.1).item() == 0.1
    assert (minigrad.tensor([1, 2]) * 0.1).numpy()[0] == 0.1


def test_layers_create_parameters_in_the_default_dtype(float64_default):
    for layer in (nn.Linear(3, 2), nn.Conv2d(1, 2, 3), nn.BatchNorm1d(3), nn.Embedding(4, 3),
                  nn.LayerNorm(3)):
        dtypes = {p.dtype for p in layer.parameters()}
        assert dtypes == {np.dtype(np.float64)}, type(layer).__name__
    x = minigrad.randn(4, 3)
    assert nn.Linear(3, 2)(x).dtype == np.float64


def test_what_was_named_or_exists_keeps_its_dtype(float64_default):
    assert minigrad.zeros(2, dtype=minigrad.float32).dtype == np.float32
    assert minigrad.tensor(np.zeros(2, np.float32)).dtype == np.float32  # arrays keep theirs
    assert minigrad.arange(3).dtype == np.int64
    assert minigrad.tensor([1, 2]).dtype == np.int64
    x32 = minigrad.ones(2, dtype=minigrad.float32)
    assert (x32 * 2.5).dtype == np.float32  # a Python float adapts to a float tensor
    assert x32.float().dtype == np.float32 and x32.double().dtype == np.float64


def test_gradients_in_the_float64_default(float64_default):
    x = minigrad.randn(3, 4, requires_grad=True)
    assert minigrad.gradcheck(lambda x: (F.softmax(x, dim=1) * x).sum(), (x,))


@pytest.mark.parametrize("bad", [minigrad.float16, minigrad.int64, minigrad.bool_, "int32", None, "abc"])
def test_only_float32_and_float64_can_be_the_default(bad):
    with pytest.raises(TypeError, match="set_default_dtype: the default dtype must be minigrad.float32"):
        minigrad.set_default_dtype(bad)
    assert minigrad.get_default_dtype() is minigrad.float32  # unchanged


def test_matches_torch_default_dtype():
    torch = pytest.importorskip("torch")
    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        minigrad.set_default_dtype(minigrad.float64)
        pairs = [(minigrad.tensor([1.5]), torch.tensor([1.5])), (minigrad.zeros(2), torch.zeros(2)),
                 (minigrad.tensor([1, 2]) * 2.5, torch.tensor([1, 2]) * 2.5),
                 (minigrad.tensor([1, 2]).exp(), torch.tensor([1, 2]).exp()),
                 (minigrad.arange(0.0, 1.0, 0.5), torch.arange(0.0, 1.0, 0.5))]
        for ours, theirs in pairs:
            assert ours.dtype.name == str(theirs.dtype).replace("torch.", "")
    finally:
        torch.set_default_dtype(previous)
        minigrad.set_default_dtype(minigrad.float32)
