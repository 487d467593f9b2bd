"""minigrad.set_num_threads / num_threads / blas_info, through threadpoolctl."""
import numpy as np
import pytest

import minigrad

pytest.importorskip("threadpoolctl")


@pytest.fixture
def blas():
    libraries = minigrad.blas_info()
    if not libraries:
        pytest.skip("this NumPy has no BLAS library that threadpoolctl can find")
    before = minigrad.get_num_threads()
    yield libraries
    minigrad.set_num_threads(before)


def test_blas_info_names_the_library_and_its_threads(blas):
    for lib in blas:
        assert lib["library"] in {"openblas", "mkl", "blis", "flexiblas", "accelerate"}, lib
        assert lib["num_threads"] >= 1


def test_set_num_threads_changes_what_blas_reports(blas):
    minigrad.set_num_threads(1)
    assert minigrad.get_num_threads() == 1
    assert all(lib["num_threads"] == 1 for lib in minigrad.blas_info())
    minigrad.set_num_threads(2)
    assert minigrad.get_num_threads() == 2


def test_num_threads_restores_the_count_after_the_block(blas):
    minigrad.set_num_threads(2)
    with minigrad.num_threads(1):
        assert minigrad.get_num_threads() == 1
        a = np.arange(64.0).reshape(8, 8)
        product = a @ a  # BLAS still computes, on one thread
    assert minigrad.get_num_threads() == 2
    np.testing.assert_allclose(product, np.einsum("ij,jk->ik", a, a))


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ValueError, match="minigrad.set_num_threads.*positive int"):
        minigrad.set_num_threads(bad)
    with pytest.raises(ValueError, match="minigrad.num_threads.*positive int"):
        with minigrad.num_threads(bad):
            pass


# ------------------------------------------------------------------ run_split
def test_run_split_keeps_the_order_and_uses_one_blas_thread_per_worker(blas):
    from minigrad.threads import run_split, split_count
    minigrad.set_num_threads(2)
    assert split_count() == 2
    seen = []

    def work(part):
        seen.append((part, minigrad.get_num_threads(), split_count()))
        return part * part

    assert run_split(work, range(7)) == [p * p for p in range(7)]
    assert sorted(p for p, _, _ in seen) == list(range(7))
    # inside a worker BLAS runs one thread, and a nested split runs sequentially
    assert {(threads, nested) for _, threads, nested in seen} == {(1, 1)}
    assert minigrad.get_num_threads() == 2  # restored afterwards


def test_run_split_hands_a_stalled_threads_parts_to_the_others(blas):
    """A thread held up on one part (as when the OS gives its core to another job)
    must not hold up the parts after it: the other thread takes them. With a fixed
    share per thread, part 0's thread would also own parts 1 and 2, and part 0 could
    never see them done."""
    import threading

    from minigrad.threads import run_split
    minigrad.set_num_threads(2)
    others_done, count, lock = threading.Event(), [0], threading.Lock()

    def work(part):
        if part == 0:
            return others_done.wait(timeout=10)  # True once every other part has run
        with lock:
            count[0] += 1
            if count[0] == 5:
                others_done.set()
        return part

    assert run_split(work, range(6)) == [True, 1, 2, 3, 4, 5]


def test_run_split_with_one_thread_is_a_plain_loop(blas):
    from minigrad.threads import run_split
    minigrad.set_num_threads(1)
    import threading
    names = run_split(lambda part: threading.current_thread().name, range(3))
    assert names == [threading.current_thread().name] * 3


def test_run_split_raises_a_workers_exception_and_restores_blas(blas):
    from minigrad.threads import run_split
    minigrad.set_num_threads(2)

    def work(part):
        if part == 5:
            raise ValueError("part 5 failed")
        return part

    with pytest.raises(ValueError, match="part 5 failed"):
        run_split(work, range(6))
    assert minigrad.get_num_threads() == 2


def test_batch_parallel_off_runs_sequentially_with_blas_threads(blas, monkeypatch):
    from minigrad import threads
    minigrad.set_num_threads(2)
    monkeypatch.setattr(threads, "batch_parallel", False)
    assert threads.split_count() == 1
    assert threads.run_split(lambda part: minigrad.get_num_threads(), range(3)) == [2, 2, 2]


def test_batch_slices_cover_the_first_axis_in_parts_of_about_the_given_size():
    from minigrad.threads import batch_slices
    x = np.zeros((10, 256), np.float32)  # 1 KiB per row
    parts = batch_slices(x, part_bytes=3 * 1024)
    assert parts == [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 10)]
    assert batch_slices(x, part_bytes=1) == [slice(i, i + 1) for i in range(10)]  # one row at least
    assert batch_slices(np.float32(1.0)) == [Ellipsis]  # 0-d: the whole thing
    assert batch_slices(np.array(2.0)) == [Ellipsis]
    # a row may count for more than its own bytes (convolution's columns per image)
    assert batch_slices(x, part_bytes=3 * 1024, row_bytes=2048) == [slice(i, i + 1) for i in range(10)]
