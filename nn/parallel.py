"""DistributedDataParallel: the same model on every rank, each rank on its own share of the data.

    import minigrad.distributed as dist
    from minigrad.nn.parallel import DistributedDataParallel as DDP
    dist.init_process_group("mpi")                 # launched by: mpiexec -n 2 python train.py
    model = DDP(make_model())                      # rank 0's weights, copied to every rank
    loss_fn(model(x_of_this_rank), y).backward()   # .grad: averaged over the ranks
    optimizer.step()                               # the same step on every rank

Why it is exact: with equal shares and a loss that is a mean over the batch,
the gradient of the whole batch is the average of the ranks' gradients.
Every rank starts from the same weights and applies the same averaged
gradient, so the replicas never drift apart; no rank ever sends weights
again. (SyncBatchNorm makes batch norm's statistics span the ranks too.)

How the averaging is done, as in PyTorch:

- Buckets. One all-reduce per parameter would pay the start-up cost of a
  message (latency) hundreds of times. The parameters are grouped, in
  reverse order of registration (about the order backward produces their
  gradients), into buckets of up to `bucket_cap_mb` megabytes; a bucket's
  gradients are copied into one flat buffer and averaged in one all-reduce.
- Started when ready. Each parameter has a gradient hook
  (`Tensor.register_hook`); when the last gradient of a bucket has arrived,
  its all-reduce is started non-blocking (`async_op=True`), so buckets
  travel while the others are being filled. Buckets start in order (bucket
  0, 1, 2, ...), the same order on every rank, as MPI requires.
  minigrad's engine runs a leaf's hooks once the backward walk is done (a
  hook must see the leaf's whole gradient, and the walk does not track when
  a leaf has received its last one), so the all-reduces overlap each other
  and the copying, not the backward computation itself.
- Waited at the end of backward: the first hook of a backward queues a
  callback with the engine (`minigrad.backward.queue_callback`) that runs
  when the walk has finished; it waits for every bucket and writes the
  averaged gradients into the parameters' `.grad`. So `.grad` is final when
  `loss.backward()` returns, and the optimizer needs nothing special.

A hook sees the gradient of this backward only; under gradient accumulation
the parameter's `.grad` already holds earlier ones, so the bucket gets
`.grad + new gradient`, which is what `.grad` will hold. A parameter that got
no gradient in a backward (unused in forward) contributes the .grad it has
(zeros if None), and its `.grad` becomes the average over the ranks.
`no_sync()` skips the exchange: the gradients of the backward of a forward
run inside it accumulate locally, and the next synchronized backward
averages the accumulated sum.
"""
import contextlib
import functools

from minigrad import backend, backward, distributed, is_grad_enabled, no_grad
from minigrad.distributed import ReduceOp
from minigrad.tensor import Tensor

from .module import Module

__all__ = ["DistributedDataParallel"]


class _Bucket:
    """Parameters whose gradients travel together, and their flat buffer."""

    def __init__(self, params):
        self.params = params
        self.slices, start = [], 0
        for p in params:
            self.slices.append(slice(start, start + p.numel()))
            start += p.numel()
        xp = backend.xp_of_device(params[0].device)
        self.flat = Tensor._wrap(xp.zeros(start, params[0].dtype), params[0].device)
        self.filled, self.work = set(), None   # indices of the parameters copied in

    def put(self, index, gradient_array):
        self.flat.data[self.slices[index]] = gradient_array.reshape(-1)
        self.filled.add(index)

    def is_full(self):
        return len(self.filled) == len(self.params)


def _make_buckets(params, cap_bytes):
    """Consecutive parameters, grouped up to cap_bytes; a bucket holds one dtype and device."""
    buckets, current, size = [], [], 0
    for p in params:
        nbytes = p.numel() * p.dtype.itemsize
        if current and (size + nbytes > cap_bytes or (p.dtype, p.device) !=
                        (current[0].dtype, current[0].device)):
            buckets.append(_Bucket(current))
            current, size = [], 0
        current.append(p)
        size += nbytes
    if current:
        buckets.append(_Bucket(current))
    return buckets


class DistributedDataParallel(Module):
    """Wrap `module` for data-parallel training (PyTorch's `nn.parallel.DistributedDataParallel`).

    module:            the model; its parameters and buffers are overwritten with rank 0's.
    bucket_cap_mb:     the most megabytes of gradients averaged in one all-reduce.
    broadcast_buffers: copy rank 0's buffers (batch-norm's running statistics) to every rank
                       at the start of each forward, so all ranks evaluate the same model.

    `.module` is the wrapped model; `state_dict()` keys start with "module.", as PyTorch's."""

    def __init__(self, module, bucket_cap_mb=25, broadcast_buffers=True):
        super().__init__()
        if not distributed.is_initialized():
            raise RuntimeError("DistributedDataParallel: the process group is not initialized; call "
                               "minigrad.distributed.init_process_group('mpi') first")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got {bucket_cap_mb}")
        self.module = module
        self.bucket_cap_mb, self.broadcast_buffers = bucket_cap_mb, broadcast_buffers
        self._broadcast(list(module.parameters()) + list(module.buffers()))
        params = [p for p in module.parameters() if p.requires_grad]
        self._buckets = _make_buckets(reversed(params), bucket_cap_mb * 2**20)
        for bucket in self._buckets:
            for index, p in enumerate(bucket.params):
                p.register_hook(functools.partial(self._gradient_ready, bucket, index))
        self._require_sync = True         # False inside no_sync()
        self._sync_this_backward = False  # decided at each forward
        self._next_bucket = 0             # the next bucket to start, in order
        self._callback_queued = False

    def _broadcast(self, tensors):
        with no_grad():
            for t in tensors:
                if t is not None:
                    distributed.broadcast(t, src=0)

    def forward(self, *args, **kwargs):
        if self.broadcast_buffers:
            self._broadcast(list(self.module.buffers()))
        self._sync_this_backward = self._require_sync and is_grad_enabled()
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Inside, forward passes are not synchronized in their backward: gradients
        accumulate in each rank's .grad, for gradient accumulation over several
        micro-batches. The first backward after it averages the accumulated sum."""
        previous, self._require_sync = self._require_sync, False
        try:
            yield
        finally:
            self._require_sync = previous

    # ------------------------------------------------- during backward
    def _gradient_ready(self, bucket, index, grad):
        """A parameter's gradient hook: copy what its .grad will hold into the bucket."""
        if not self._sync_this_backward:
            return None
        p = bucket.params[index]
        bucket.put(index, grad.data if p.grad is None else p.grad.data + grad.data)
        if not self._callback_queued:
            backward.queue_callback(self._finish_backward)
            self._callback_queued = True
        self._start_full_buckets()
        return None  # the engine adds `grad` to .grad as usual; the average replaces it at the end

    def _start_full_buckets(self):
        while self._next_bucket < len(self._buckets) and self._buckets[self._next_bucket].is_full():
            bucket = self._buckets[self._next_bucket]
            bucket.work = distributed.all_reduce(bucket.flat, ReduceOp.AVG, async_op=True)
            self._next_bucket += 1

    def _finish_backward(self):
        """After the walk: start the buckets still waiting for an unused parameter, wait
        for every bucket and write the averages into .grad."""
        for bucket in self._buckets[self._next_bucket:]:
            for index, p in enumerate(bucket.params):
                if index not in bucket.filled:  # unused in this forward: it contributes its .grad
                    bucket.put(index, p.grad.data if p.grad is not None else
                               backend.xp_of_device(p.device).zeros(p.shape, p.dtype))
        self._start_full_buckets()
        for bucket in self._buckets:
            bucket.work.wait()
            for p, where in zip(bucket.params, bucket.slices):
                averaged = bucket.flat.data[where].reshape(p.shape)
                if p.grad is None:
                    p.grad = Tensor._wrap(averaged.copy(), p.device)
                else:
                    p.grad.data[...] = averaged
            bucket.filled, bucket.work = set(), None
        self._next_bucket, self._callback_queued = 0, False
        # One synchronized backward per forward (as PyTorch): a second backward through
        # the same graph, or one of another model sharing these parameters, stays local.
        self._sync_this_backward = False
