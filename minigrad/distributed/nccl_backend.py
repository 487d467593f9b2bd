"""The "nccl" backend: collectives on CUDA arrays through NVIDIA's NCCL (via CuPy).

NCCL moves data between GPUs directly (NVLink, PCIe, InfiniBand) without
copying it through the host. One process drives one GPU, as with PyTorch:
launch with `mpiexec -n <GPUs> python train.py`; rank r uses GPU
r % (GPUs on its machine). NCCL's processes find each other through a
*unique id* that rank 0 creates; MPI broadcasts it to the others (that is
all MPI does here), then each rank opens its NCCL communicator with it.

NCCL's calls are queued on a CUDA stream (the current one) and return at
once; later work on the same stream sees their results. So a Work's wait()
has nothing to block on: it only runs the finishing steps (AVG divides a
SUM by the world size, on the stream too).

Status: the logic (id exchange, the mapping of ops and dtypes, buffer
sizes) is tested on the CPU with a fake communicator (tests/test_distributed.py);
this backend has not yet run on a multi-GPU machine.
"""
import numpy as np

from .. import backend
from .collectives import ReduceOp, Work
from .mpi_backend import import_mpi

__all__ = ["NCCLBackend"]

# NCCL's names for the operations; AVG is a SUM divided afterwards (older NCCLs lack ncclAvg).
_OPS = {ReduceOp.SUM: "NCCL_SUM", ReduceOp.AVG: "NCCL_SUM",
        ReduceOp.MAX: "NCCL_MAX", ReduceOp.MIN: "NCCL_MIN"}
_DTYPES = {np.dtype(np.float16): "NCCL_FLOAT16", np.dtype(np.float32): "NCCL_FLOAT32",
           np.dtype(np.float64): "NCCL_FLOAT64", np.dtype(np.int8): "NCCL_INT8",
           np.dtype(np.uint8): "NCCL_UINT8", np.dtype(np.int32): "NCCL_INT32",
           np.dtype(np.int64): "NCCL_INT64"}


class NCCLBackend:
    """nccl: CuPy's `cupy.cuda.nccl` module (a test passes a fake one);
    comm: the MPI communicator that hands out ranks and the unique id;
    device: this rank's GPU ('cuda:N'), by default rank % GPU count;
    stream: a function giving the CUDA stream pointer to queue calls on."""

    name = "nccl"

    def __init__(self, nccl=None, comm=None, device=None, stream=None):
        if comm is None:
            comm = import_mpi().COMM_WORLD
        if nccl is None:
            if not backend.cuda_is_available():
                raise RuntimeError("init_process_group('nccl'): no CUDA GPU is available (NCCL "
                                   "exchanges CUDA tensors); use backend='mpi' for CPU tensors")
            nccl = backend.xp_of_device("cuda:0").cuda.nccl
        self.nccl, self.rank, self.size = nccl, comm.Get_rank(), comm.Get_size()
        self.device = device or f"cuda:{self.rank % backend.cuda_device_count()}"
        self.stream = stream or (lambda: backend.xp_of_device(self.device).cuda.get_current_stream().ptr)
        unique_id = nccl.get_unique_id() if self.rank == 0 else None
        unique_id = comm.bcast(unique_id, root=0)   # every rank now holds rank 0's id
        with backend.device_scope(self.device):
            self.comm = nccl.NcclCommunicator(self.size, unique_id, self.rank)

    def check_device(self, op, t):
        if t.device != self.device:
            raise RuntimeError(f"{op}: this rank's NCCL communicator works on {self.device}, got "
                               f"a tensor on {t.device}; call .to('{self.device}') first")

    def close(self):
        self.comm.destroy()

    def _op(self, op):
        return getattr(self.nccl, _OPS[op])

    def _dtype(self, array):
        if array.dtype not in _DTYPES:
            raise TypeError(f"nccl backend: cannot exchange {array.dtype} arrays; NCCL takes "
                            f"{', '.join(str(d) for d in _DTYPES)}")
        return getattr(self.nccl, _DTYPES[array.dtype])

    def _averaged(self, array, op):
        """Finishing steps: AVG divides the SUM by the world size."""
        if op is not ReduceOp.AVG:
            return []
        xp = backend.array_module(array)
        return [lambda: xp.divide(array, self.size, out=array)]

    # --------------------------------------------------------- collectives
    def all_reduce(self, array, op):
        _require_contiguous("all_reduce", array)
        self.comm.allReduce(_pointer(array), _pointer(array), array.size, self._dtype(array),
                            self._op(op), self.stream())
        return Work(lambda: None, self._averaged(array, op))

    def broadcast(self, array, src):
        _require_contiguous("broadcast", array)
        self.comm.bcast(_pointer(array), array.size, self._dtype(array), src, self.stream())
        return Work(lambda: None)

    def all_gather(self, outputs, array):
        xp = backend.xp_of_device(self.device)
        received = xp.empty((self.size,) + array.shape, array.dtype)    # (world, *shape)
        sent = xp.ascontiguousarray(array)
        self.comm.allGather(_pointer(sent), _pointer(received), array.size, self._dtype(array),
                            self.stream())

        def scatter_to_outputs():
            for out, piece in zip(outputs, received):
                out[...] = piece
        return Work(lambda: None, [scatter_to_outputs])

    def reduce_scatter(self, output, inputs, op):
        _require_contiguous("reduce_scatter", output)
        sent = backend.xp_of_device(self.device).stack(inputs)          # (world, *shape)
        self.comm.reduceScatter(_pointer(sent), _pointer(output), output.size,
                                self._dtype(output), self._op(op), self.stream())
        return Work(lambda: sent, self._averaged(output, op))

    def barrier(self):
        # NCCL has no barrier: an all-reduce of one number, waited for, is one.
        xp = backend.xp_of_device(self.device)
        with backend.device_scope(self.device):
            one = xp.ones(1, np.float32)
            self.all_reduce(one, ReduceOp.SUM)
            backend.synchronize(self.device)


def _pointer(array):
    """The device address NCCL reads and writes (a NumPy array's host address in the tests)."""
    return array.data.ptr if hasattr(array.data, "ptr") else array.ctypes.data


def _require_contiguous(op, array):
    if not array.flags.c_contiguous:
        raise RuntimeError(f"{op} (nccl): the tensor must be contiguous, got one of shape "
                           f"{array.shape} with strides {array.strides}; pass a contiguous tensor "
                           "(e.g. a fresh copy)")
