"""How many threads NumPy's BLAS uses, set at run time.

Almost all of a CPU training step's arithmetic is matrix products, which
NumPy hands to its BLAS library (OpenBLAS in NumPy's wheels). BLAS starts one
thread per core by default. The environment variables (OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS, MKL_NUM_THREADS) only work if set before NumPy is imported;
threadpoolctl finds the BLAS library NumPy actually loaded and calls its own
set-threads function, so these work at any time:

    minigrad.set_num_threads(1)      # like torch.set_num_threads
    minigrad.get_num_threads()       # -> 1
    with minigrad.num_threads(1):    # only inside the block
        ...
    minigrad.blas_info()             # which BLAS, which kernels, how many threads

Why fewer threads can be faster: BLAS threads that wait for each other spin
for a while before they sleep. On a machine shared with other jobs, a thread
that spins while its core serves someone else delays the whole product, so a
process that shares two cores with one busy neighbour often runs better on
one thread. Several training processes on one machine (minigrad.distributed)
want one thread each.
"""
import contextlib

__all__ = ["set_num_threads", "get_num_threads", "num_threads", "blas_info"]


def _threadpoolctl(op):
    try:
        import threadpoolctl
    except ImportError:  # a dependency of minigrad, but a trimmed environment may lack it
        raise ImportError(f"{op} needs threadpoolctl (pip install threadpoolctl); without it, "
                          "set OPENBLAS_NUM_THREADS before Python starts") from None
    return threadpoolctl


def blas_info():
    """One dict per BLAS library loaded in this process (normally one, NumPy's):
    library ('openblas', 'mkl', ...), version, architecture (the kernels in use,
    e.g. 'SkylakeX' for AVX-512 or 'Haswell' for AVX2) and num_threads."""
    import numpy  # noqa: F401  (BLAS is loaded by NumPy: make sure it is there to find)
    info = _threadpoolctl("minigrad.blas_info").threadpool_info()
    return [{"library": lib["internal_api"], "version": lib.get("version"),
             "architecture": lib.get("architecture"), "num_threads": lib["num_threads"],
             "filepath": lib["filepath"]}
            for lib in info if lib["user_api"] == "blas"]


def get_num_threads():
    """The number of threads NumPy's BLAS uses for a matrix product."""
    libraries = blas_info()
    if not libraries:
        raise RuntimeError("minigrad.get_num_threads: no BLAS library found in this process; "
                           "NumPy without BLAS runs single-threaded")
    return max(lib["num_threads"] for lib in libraries)


def _check(op, n):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{op}: the number of threads must be a positive int, got {n!r}")


def set_num_threads(n):
    """Use n BLAS threads from now on (until the next call)."""
    _check("minigrad.set_num_threads", n)
    import numpy  # noqa: F401
    _threadpoolctl("minigrad.set_num_threads").threadpool_limits(n, user_api="blas")


@contextlib.contextmanager
def num_threads(n):
    """Use n BLAS threads inside the `with` block, and the previous count after it."""
    _check("minigrad.num_threads", n)
    import numpy  # noqa: F401
    with _threadpoolctl("minigrad.num_threads").threadpool_limits(n, user_api="blas"):
        yield
