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

Batch-parallel ops. Besides BLAS's own threads, minigrad can split an op over
the batch itself: `run_split(work, parts)` runs each part on its own thread,
with BLAS held at one thread per worker meanwhile. Convolution does so (each
worker builds its images' columns and runs its own single-threaded matrix
product), which keeps every core busy in the memory-bound copies too, where
BLAS threads would wait for one Python thread to finish them. The workers
block on a queue while idle (no spinning) and there are as many as BLAS has
threads, so set_num_threads governs both. `minigrad.threads.batch_parallel =
False` (or MINIGRAD_BATCH_PARALLEL=0 in the environment) turns the splitting
off: one multi-threaded matrix product per chunk, as BLAS alone would do.

Why fewer threads can be faster: BLAS threads that wait for each other spin
for a while before they sleep. On a machine shared with other jobs, a thread
that spins while its core serves someone else delays the whole product, so a
process that shares two cores with one busy neighbour often runs better on
one thread. Several training processes on one machine (minigrad.distributed)
want one thread each.
"""
import contextlib
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

from . import backend  # (imports NumPy, which loads the BLAS library threadpoolctl looks for)

__all__ = ["set_num_threads", "get_num_threads", "num_threads", "blas_info", "run_split",
           "batch_slices"]


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
    _threadpoolctl("minigrad.set_num_threads").threadpool_limits(n, user_api="blas")


@contextlib.contextmanager
def num_threads(n):
    """Use n BLAS threads inside the `with` block, and the previous count after it."""
    _check("minigrad.num_threads", n)
    with _threadpoolctl("minigrad.num_threads").threadpool_limits(n, user_api="blas"):
        yield


# ------------------------------------------------------- batch-parallel ops
class _Workers:
    """BLAS's controller (to switch its thread count in a microsecond: the
    threadpoolctl context manager takes ~30 us) and a pool of worker threads,
    both made on first use."""

    def __init__(self):
        self.lock = threading.Lock()
        self.blas = None     # threadpoolctl's controllers of the loaded BLAS libraries
        self.pool = None
        self.size = 0

    def blas_controllers(self):
        if self.blas is None:
            try:
                import threadpoolctl
            except ImportError:
                self.blas = []
            else:
                controller = threadpoolctl.ThreadpoolController().select(user_api="blas")
                self.blas = list(controller.lib_controllers)
        return self.blas

    def executor(self, size):
        with self.lock:
            if self.pool is None or self.size < size:
                if self.pool is not None:
                    self.pool.shutdown(wait=False)
                self.pool = ThreadPoolExecutor(size, thread_name_prefix="minigrad-worker")
                self.size = size
            return self.pool


_workers = _Workers()
batch_parallel = os.environ.get("MINIGRAD_BATCH_PARALLEL", "1") != "0"


def split_count():
    """How many workers run_split would use now: BLAS's thread count (1 if
    batch_parallel is off, threadpoolctl or a BLAS library is missing, or
    inside a worker)."""
    if not batch_parallel or getattr(_in_worker, "active", False):
        return 1
    controllers = _workers.blas_controllers()
    return max((lib.get_num_threads() or 1 for lib in controllers), default=1)


_in_worker = threading.local()


def _run_part(work, part):
    _in_worker.active = True
    try:
        return work(part)
    finally:
        _in_worker.active = False


def run_split(work, parts):
    """[work(part) for part in parts], the parts spread over split_count()
    threads with BLAS at one thread each, results in the order of `parts`.

    The threads take the parts one at a time, each the next one nobody has
    taken yet, until none is left. So a thread the OS has set aside (the
    machine shared with another job) holds up at most the one part it is on:
    the others take the rest, where a fixed share per thread would wait for its
    whole share. A part's result does not depend on which thread computes it
    (each runs single-threaded BLAS on its own memory), and results come back
    in the order of `parts`. With one thread (or one part), plain sequential
    calls. `work` must only write to memory of its own part."""
    parts = list(parts)
    threads = min(split_count(), len(parts))
    if threads <= 1:
        return [work(part) for part in parts]
    results = [None] * len(parts)
    claims = itertools.count()  # next() on it is atomic under the GIL: each part is taken once

    def take_parts():
        while (index := next(claims)) < len(parts):
            results[index] = _run_part(work, parts[index])

    controllers = _workers.blas_controllers()
    before = [lib.get_num_threads() for lib in controllers]
    for lib in controllers:
        lib.set_num_threads(1)
    futures = []
    try:
        pool = _workers.executor(threads - 1)
        futures = [pool.submit(take_parts) for _ in range(threads - 1)]
        take_parts()  # the calling thread works too
    finally:
        wait(futures)  # BLAS gets its threads back only when every worker is done
        for lib, n in zip(controllers, before):
            lib.set_num_threads(n)
    for future in futures:
        future.result()  # a worker's exception is raised here
    return results


def batch_slices(array, part_bytes=1 << 20, row_bytes=None):
    """Slices of `array`'s first axis of about part_bytes each (at least one
    row; a row counts row_bytes, by default its own size): parts for run_split
    small enough that a part's temporaries stay in cache between two passes
    over it. One slice of everything for a GPU array, which the device runs at
    once (one big kernel keeps it busier than many small ones); [Ellipsis] for
    a 0-d array."""
    if getattr(array, "ndim", 0) == 0:
        return [Ellipsis]
    N = len(array)
    if not backend.is_host_array(array):
        return [slice(0, N)]
    rows = max(1, part_bytes // max(1, array[0].nbytes if row_bytes is None else row_bytes))
    return [slice(start, min(N, start + rows)) for start in range(0, N, rows)]
