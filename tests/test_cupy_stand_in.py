"""The CuPy stand-in is as strict as CuPy, or the `cuda` cases would prove nothing."""
import cupy_stand_in
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not cupy_stand_in.installed,
                                reason="the stand-in is installed only without a GPU")


@pytest.fixture
def cp():
    import cupy
    return cupy


def test_device_arrays_refuse_implicit_conversion(cp):
    a = cp.arange(6.0).reshape(2, 3)
    assert not isinstance(a, np.ndarray)
    for convert in (np.asarray, np.ascontiguousarray, lambda v: np.array([v, v])):
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
            convert(a)


def test_numpy_functions_dispatch_to_cupy_or_fail(cp, monkeypatch):
    a = cp.arange(6.0).reshape(2, 3)
    assert isinstance(np.exp(a), cp.ndarray) and isinstance(np.concatenate([a, a]), cp.ndarray)
    assert isinstance(np.einsum("ij->j", a), cp.ndarray)
    with pytest.raises(TypeError):
        np.lib.stride_tricks.as_strided(a, (2,), (8,))   # not dispatched: would copy to the host
    monkeypatch.delattr(cp, "einsum")                          # as if CuPy had no einsum
    with pytest.raises(TypeError, match="no implementation"):
        np.einsum("ij->j", a)


def test_host_arrays_do_not_mix_with_device_arrays(cp):
    a = cp.ones(3)
    for host in (np.ones(3), np.asarray(2.0), [1.0, 2.0, 3.0]):
        with pytest.raises(TypeError):
            a + host
    assert isinstance(a + np.float32(2.0), cp.ndarray)           # NumPy scalars are scalars
    with pytest.raises(ValueError):
        a[...] = np.zeros(3)
    assert float(a[np.array([0, 2])].sum()) == 2.0                # host index arrays are fine
    with pytest.raises(TypeError):
        cp.concatenate([a, np.ones(3)])


def test_reductions_and_indexing_stay_on_the_device_until_read(cp):
    a = cp.arange(4.0)
    assert isinstance(a.sum(), cp.ndarray) and a.sum().ndim == 0
    assert isinstance(a[1], cp.ndarray)
    with pytest.raises(TypeError):
        range(a[1])                                              # no __index__
    cupy_stand_in.sync_counts.clear()
    assert float(a.sum()) == 6.0 and int(a[1]) == 1 and bool(a[2]) and a[3].item() == 3.0
    a[a > 1]                                                     # a boolean mask
    cp.nonzero(a)
    assert sum(cupy_stand_in.sync_counts.values()) == 6


def test_forbidden_syncs_raise_and_name_the_call_site(cp):
    import cupyx
    a = cp.ones(2)
    with cupyx.allow_synchronize(False):
        total = a.sum() * 2                                      # queued work is fine
        with pytest.raises(cupyx.DeviceSynchronized, match="test_cupy_stand_in.py"):
            float(total)
    assert float(total) == 4.0


def test_the_random_module_and_generator_have_cupys_api_only(cp):
    assert cp.random.permutation(5).shape == (5,) and cp.random.randint(0, 3, 4).shape == (4,)
    assert not hasattr(cp.random, "integers")
    rng = cp.random.default_rng(0)
    assert rng.integers(0, 3, 4).shape == (4,)
    for missing in ("normal", "permutation", "shuffle", "choice"):
        assert not hasattr(rng, missing)
    with pytest.raises(TypeError):
        cp.random.rand(3, dtype=np.float16)


def test_ufunc_methods_sorts_and_dtypes_are_limited_as_in_cupy(cp):
    a = cp.arange(4.0)
    assert float(np.add.reduce(a)) == 6.0
    with pytest.raises(TypeError):
        np.maximum.reduce(a)
    np.add.at(a, cp.asarray([0, 0]), 1.0)
    assert float(a[0]) == 2.0
    with pytest.raises(TypeError):
        np.multiply.at(a, cp.asarray([0]), 2.0)
    with pytest.raises(NotImplementedError):
        a.sort(kind="quicksort")
    with pytest.raises(TypeError):
        cp.zeros(2, dtype=object)


def test_views_share_memory_and_know_their_base(cp):
    a = cp.zeros(6)
    v = a.reshape(2, 3)
    v[0, 0] = 5.0
    assert v.base is a and float(a[0]) == 5.0


def test_kernels_cannot_run(cp):
    kernel = cp.ElementwiseKernel("T x", "T y", "y = x", "copy")
    with pytest.raises(RuntimeError, match="real GPU"):
        kernel(cp.ones(2))


def test_cupy_quirks_seen_on_a_real_gpu(cp):
    """Two CuPy behaviours that broke code the stand-in once let through."""
    a = cp.ones((3, 4))
    assert np.zeros_like(a, shape=()).shape == (3, 4)    # an empty shape means "none given"
    assert not isinstance(a.data, cp.ndarray)            # .data is the memory pointer
