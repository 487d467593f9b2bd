"""The collectives on Tensors: all_reduce, broadcast, all_gather, reduce_scatter, barrier.

Every rank must make the same calls in the same order, with tensors of the
same shape and dtype: that is how the ranks find each other's data. Results
are written into the given tensors' arrays, in place (as torch.distributed
does), and bump their version counters, so a backward that saved one of
them notices. Collectives are not recorded by autograd.

Each call starts the exchange and returns a `Work` when `async_op=True`:
`work.wait()` blocks until the result is there. Meanwhile this process can
compute something else (DistributedDataParallel starts one all-reduce per
bucket of gradients this way). With `async_op=False` (the default) the call
waits itself and returns None.
"""
import enum

from ..tensor import Tensor
from .process_group import current_group

__all__ = ["ReduceOp", "Work", "all_reduce", "broadcast", "all_gather", "reduce_scatter", "barrier"]


class ReduceOp(enum.Enum):
    """How all_reduce and reduce_scatter combine the ranks' values, element by element.
    AVG is SUM divided by the world size (floating-point tensors only)."""
    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"


class Work:
    """A collective in flight. `wait()` blocks until it is done, then runs the
    finishing steps the backend queued (copy a result into place, divide a
    sum by the world size for AVG). Waiting twice is harmless."""

    def __init__(self, wait, finish=()):
        self._wait, self._finish, self._done = wait, list(finish), False

    def wait(self):
        if not self._done:
            self._wait()
            for step in self._finish:
                step()
            self._done = True
        return True

    def is_completed(self):
        return self._done


def _finish(work, async_op):
    if async_op:
        return work
    work.wait()
    return None


def _check_tensor(op, name, t, group, like=None):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a minigrad Tensor, got a {type(t).__name__}")
    group.check_device(op, t)
    if like is not None and (t.shape != like.shape or t.dtype != like.dtype):
        raise ValueError(f"{op}: {name} has shape {t.shape} and dtype {t.dtype}, but the tensor "
                         f"has shape {like.shape} and dtype {like.dtype}; they must match")


def _check_reduce_op(op_name, op, t):
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{op_name}: op must be a minigrad.distributed.ReduceOp (SUM, AVG, MAX, "
                        f"MIN), got {op!r}")
    if op is ReduceOp.AVG and t.dtype.kind != "f":
        raise TypeError(f"{op_name}: ReduceOp.AVG needs a floating-point tensor, got {t.dtype}; "
                        "use SUM, or cast the tensor first")


def _check_list(op, name, tensors, group, like):
    if len(tensors) != group.size:
        raise ValueError(f"{op}: {name} must hold one tensor per rank ({group.size}), "
                         f"got {len(tensors)}")
    for i, t in enumerate(tensors):
        _check_tensor(op, f"{name}[{i}]", t, group, like)


def _changed(*tensors):
    """The arrays of `tensors` were rewritten in place: bump their version counters."""
    def bump():
        for t in tensors:
            t._version += 1
    return bump


def all_reduce(tensor, op=ReduceOp.SUM, async_op=False):
    """Combine `tensor` over all ranks with `op`; every rank gets the result, in place."""
    group = current_group()
    _check_tensor("all_reduce", "tensor", tensor, group)
    _check_reduce_op("all_reduce", op, tensor)
    work = group.all_reduce(tensor.data, op)
    work._finish.append(_changed(tensor))
    return _finish(work, async_op)


def broadcast(tensor, src, async_op=False):
    """Overwrite `tensor` on every rank with rank `src`'s values."""
    group = current_group()
    _check_tensor("broadcast", "tensor", tensor, group)
    if not 0 <= src < group.size:
        raise ValueError(f"broadcast: src={src} is not a rank; ranks are 0 .. {group.size - 1}")
    work = group.broadcast(tensor.data, src)
    work._finish.append(_changed(tensor))
    return _finish(work, async_op)


def all_gather(tensor_list, tensor, async_op=False):
    """tensor_list[r] = rank r's `tensor`, on every rank (tensor_list holds world_size
    tensors shaped like `tensor`, which are overwritten)."""
    group = current_group()
    _check_tensor("all_gather", "tensor", tensor, group)
    _check_list("all_gather", "tensor_list", tensor_list, group, like=tensor)
    work = group.all_gather([t.data for t in tensor_list], tensor.data)
    work._finish.append(_changed(*tensor_list))
    return _finish(work, async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, async_op=False):
    """output on rank r = op over all ranks of their input_list[r] (input_list holds
    world_size tensors shaped like output): an all-reduce whose result is split
    among the ranks, each keeping one piece."""
    group = current_group()
    _check_tensor("reduce_scatter", "output", output, group)
    _check_list("reduce_scatter", "input_list", input_list, group, like=output)
    _check_reduce_op("reduce_scatter", op, output)
    work = group.reduce_scatter(output.data, [t.data for t in input_list], op)
    work._finish.append(_changed(output))
    return _finish(work, async_op)


def barrier():
    """Return once every rank has called barrier()."""
    current_group().barrier()
