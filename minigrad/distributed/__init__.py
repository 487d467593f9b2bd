"""minigrad.distributed: several processes training one model (torch.distributed's names).

Each process (a *rank*, numbered 0 .. world_size - 1) runs the same script on
its own share of the data. They talk through *collectives*, calls that every
rank makes together, in the same order:

    all_reduce(t, op)          every rank ends with op(t of rank 0, t of rank 1, ...), in place
    broadcast(t, src)          every rank ends with rank src's t, in place
    all_gather(out_list, t)    out_list[r] = t of rank r, on every rank
    reduce_scatter(out, ins)   out on rank r = op over ranks of ins[r]
    barrier()                  wait until every rank has got here

Data-parallel training needs just two of them: a broadcast of the initial
weights, so every rank starts from the same model, and an all-reduce that
averages the gradients after each backward, so every rank takes the same
step (`minigrad.nn.parallel.DistributedDataParallel` does both).

Two backends carry the bytes, picked by `init_process_group(backend=...)`:

- "mpi" (mpi_backend.py): MPI through mpi4py, for CPU tensors, between
  processes on one or many machines. Set up: pip install -e ".[mpi]";
  launch: mpiexec -n 2 python train.py.
- "nccl" (nccl_backend.py): NVIDIA's NCCL through CuPy, for CUDA tensors,
  one process per GPU, started by mpiexec as well (MPI hands out the ranks
  and NCCL's unique id).

    import minigrad.distributed as dist
    dist.init_process_group("mpi")
    t = minigrad.tensor([float(dist.get_rank())])
    dist.all_reduce(t, op=dist.ReduceOp.SUM)   # 0 + 1 + ... on every rank

Files: process_group.py (the process-wide group), collectives.py (the
Tensor-level calls), mpi_backend.py, nccl_backend.py, sync_batch_norm.py
(batch statistics over every rank, for nn.SyncBatchNorm).
"""
from .collectives import ReduceOp, Work, all_gather, all_reduce, barrier, broadcast, reduce_scatter
from .process_group import (
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    init_process_group,
    is_initialized,
)
from .sync_batch_norm import sync_batch_norm

__all__ = ["ReduceOp", "Work", "all_gather", "all_reduce", "barrier", "broadcast", "reduce_scatter",
           "destroy_process_group", "get_backend", "get_rank", "get_world_size",
           "init_process_group", "is_initialized", "sync_batch_norm"]
