"""The process group: which backend this process talks through, its rank and the world size.

One group per process (PyTorch's "default process group"), made by
`init_process_group` and held here until `destroy_process_group`. The
collectives (collectives.py) ask `current_group()` for it.
"""
__all__ = ["init_process_group", "destroy_process_group", "is_initialized", "get_rank",
           "get_world_size", "get_backend", "current_group"]

_group = None  # the backend object (MPIBackend or NCCLBackend) once initialized


def init_process_group(backend="mpi", **options):
    """Join the group of processes started together (e.g. by `mpiexec -n 2 python train.py`).

    backend: "mpi" (CPU tensors, through mpi4py) or "nccl" (CUDA tensors, one process per
    GPU, through CuPy's NCCL; the ranks and NCCL's id come from MPI, so launch it with
    mpiexec too). Ranks and world size come from the launcher, so there is no `rank=` or
    `world_size=` to pass. `options` go to the backend (e.g. `comm=` an mpi4py communicator
    other than COMM_WORLD)."""
    global _group
    if _group is not None:
        raise RuntimeError("init_process_group: the process group is already initialized "
                           f"(backend {_group.name!r}); call destroy_process_group() first")
    if backend == "mpi":
        from .mpi_backend import MPIBackend
        _group = MPIBackend(**options)
    elif backend == "nccl":
        from .nccl_backend import NCCLBackend
        _group = NCCLBackend(**options)
    else:
        raise ValueError(f"init_process_group: unknown backend {backend!r}; use 'mpi' (CPU tensors) "
                         "or 'nccl' (CUDA tensors, one process per GPU)")


def destroy_process_group():
    """Leave the group (MPI itself is finalized by mpi4py when the process exits)."""
    global _group
    if _group is not None:
        _group.close()
    _group = None


def is_initialized():
    return _group is not None


def current_group():
    if _group is None:
        raise RuntimeError("minigrad.distributed: the default process group is not initialized; "
                           "call minigrad.distributed.init_process_group('mpi') first (and launch "
                           "with mpiexec -n N python script.py)")
    return _group


def get_rank():
    """This process's number, 0 .. world_size - 1."""
    return current_group().rank


def get_world_size():
    """How many processes are in the group."""
    return current_group().size


def get_backend():
    return current_group().name
