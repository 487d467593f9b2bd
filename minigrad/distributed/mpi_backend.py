"""The "mpi" backend: collectives on NumPy arrays through mpi4py.

MPI (the Message Passing Interface) is how clusters have run parallel
programs for decades: `mpiexec -n 4 python train.py` starts four copies of
the script, on one machine or spread over several, and MPI tells each its
rank and carries the data between them. mpi4py is its Python binding; it
reads and writes NumPy arrays in place through the buffer protocol.

Every collective is started non-blocking (MPI's I-calls: Iallreduce,
Ibcast, ...) and returns a Work; a blocking call is the same call waited on
at once. MPI needs contiguous buffers, so a non-contiguous array is
exchanged through a contiguous copy, written back when the call is done.
mpi4py is imported here, when the backend is made, so `import minigrad`
never needs it.
"""
import numpy as np

from .collectives import ReduceOp, Work

__all__ = ["MPIBackend", "import_mpi"]


def import_mpi():
    """mpi4py's MPI module, or an error that says how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(
            "minigrad.distributed: the 'mpi' backend needs mpi4py and an MPI library, which are "
            "not installed; install them with pip install -e \".[mpi]\" (mpi4py and the mpich "
            "wheel, which also brings mpiexec into the environment's bin/)") from error
    return MPI


class MPIBackend:
    name = "mpi"

    def __init__(self, comm=None):
        self.MPI = import_mpi()
        self.comm = self.MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        # MPI has no average: AVG is a SUM, divided by the world size when it is done.
        self.ops = {ReduceOp.SUM: self.MPI.SUM, ReduceOp.AVG: self.MPI.SUM,
                    ReduceOp.MAX: self.MPI.MAX, ReduceOp.MIN: self.MPI.MIN}

    def check_device(self, op, t):
        if t.device != "cpu":
            raise RuntimeError(f"{op}: the 'mpi' backend exchanges CPU tensors, got one on "
                               f"{t.device}; call .to('cpu') first, or use backend='nccl' for "
                               "CUDA tensors")

    def close(self):
        pass  # COMM_WORLD stays usable; mpi4py finalizes MPI at exit

    # --------------------------------------------------------- collectives
    def all_reduce(self, array, op):
        buffer, finish = _contiguous(array)
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, buffer, op=self.ops[op])
        if op is ReduceOp.AVG:
            finish.insert(0, lambda: np.divide(buffer, self.size, out=buffer))
        return Work(request.Wait, finish)

    def broadcast(self, array, src):
        buffer, finish = _contiguous(array)
        return Work(self.comm.Ibcast(buffer, root=src).Wait, finish)

    def all_gather(self, outputs, array):
        received = np.empty((self.size,) + array.shape, array.dtype)    # (world, *shape)
        sent = np.ascontiguousarray(array)
        request = self.comm.Iallgather(sent, received)

        def scatter_to_outputs():
            for out, piece in zip(outputs, received):
                out[...] = piece
        return Work(lambda: (request.Wait(), sent), [scatter_to_outputs])

    def reduce_scatter(self, output, inputs, op):
        sent = np.stack(inputs)                                          # (world, *shape)
        buffer, finish = _contiguous(output)
        request = self.comm.Ireduce_scatter_block(sent, buffer, op=self.ops[op])
        if op is ReduceOp.AVG:
            finish.insert(0, lambda: np.divide(buffer, self.size, out=buffer))
        # `sent` must live until the exchange is done: the Work's wait keeps it referenced.
        return Work(lambda: (request.Wait(), sent), finish)

    def barrier(self):
        self.comm.Barrier()


def _contiguous(array):
    """(buffer MPI can use in place, [steps that put the result back into `array`])."""
    if array.flags.c_contiguous:
        return array, []
    buffer = np.ascontiguousarray(array)

    def copy_back():
        array[...] = buffer
    return buffer, [copy_back]
