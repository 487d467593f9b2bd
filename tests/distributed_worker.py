"""Run by tests/test_distributed.py as `mpiexec -n 2 python tests/distributed_worker.py OUT.json`.

Each check runs on both ranks, in the same order (collectives must match).
A check that raises is recorded as failed with its message; rank 0 gathers
every rank's results and writes {check name: null | "rank r: message"} to
OUT.json, which the test reads, one pytest test per check. Float64
throughout, so the data-parallel results match one process to ~1e-15.
"""
import json
import sys
import traceback

import numpy as np

import minigrad
import minigrad.distributed as dist
import minigrad.nn as nn
import minigrad.optim as optim
from minigrad.distributed.process_group import current_group
from minigrad.nn.parallel import DistributedDataParallel as DDP

CHECKS = {}


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def close(actual, expected, what, tol=1e-10):
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape or not np.allclose(actual, expected, rtol=tol, atol=tol):
        worst = np.max(np.abs(actual - expected)) if actual.shape == expected.shape else "shapes"
        raise AssertionError(f"{what}: got {actual.ravel()[:4]}..., expected {expected.ravel()[:4]}"
                             f"... (max difference {worst})")


def tensor(array):
    return minigrad.tensor(np.array(array, dtype=np.float64))


# ------------------------------------------------------------------ collectives
@check
def all_reduce_ops():
    rank, world = dist.get_rank(), dist.get_world_size()
    values = [np.arange(3.0) * (r + 1) - r for r in range(world)]      # rank r's tensor
    for op, expected in [(dist.ReduceOp.SUM, np.sum(values, 0)), (dist.ReduceOp.AVG, np.mean(values, 0)),
                         (dist.ReduceOp.MAX, np.max(values, 0)), (dist.ReduceOp.MIN, np.min(values, 0))]:
        t = tensor(values[rank])
        assert dist.all_reduce(t, op) is None
        close(t.data, expected, f"all_reduce {op.name}")
    t = minigrad.tensor(np.array([rank + 1, 5], dtype=np.int64))
    dist.all_reduce(t)
    assert t.dtype == np.int64 and t.data.tolist() == [sum(range(1, world + 1)), 5 * world], t


@check
def all_reduce_async_and_non_contiguous():
    rank = dist.get_rank()
    base = tensor(np.arange(12.0).reshape(3, 4) + 100 * rank)
    column = base[:, 1]                              # a strided view: exchanged through a copy
    work = dist.all_reduce(column, dist.ReduceOp.MAX, async_op=True)
    work.wait()
    assert work.is_completed()
    close(column.data, np.arange(12.0).reshape(3, 4)[:, 1] + 100 * (dist.get_world_size() - 1),
          "async all_reduce MAX of a strided column")


@check
def broadcast_from_each_rank():
    for src in range(dist.get_world_size()):
        t = tensor(np.full((2, 2), float(dist.get_rank() + 10)))
        dist.broadcast(t, src=src)
        close(t.data, np.full((2, 2), float(src + 10)), f"broadcast from {src}")


@check
def all_gather_tensors():
    rank, world = dist.get_rank(), dist.get_world_size()
    out = [tensor(np.zeros(3)) for _ in range(world)]
    dist.all_gather(out, tensor([rank, rank * 2.0, -1.0]))
    for r in range(world):
        close(out[r].data, [r, r * 2.0, -1.0], f"all_gather piece {r}")


@check
def reduce_scatter_tensors():
    rank, world = dist.get_rank(), dist.get_world_size()
    inputs = [tensor([10.0 * rank + r, 1.0]) for r in range(world)]  # piece r goes to rank r
    out = tensor([0.0, 0.0])
    dist.reduce_scatter(out, inputs, dist.ReduceOp.SUM)
    close(out.data, [sum(10.0 * s + rank for s in range(world)), world], "reduce_scatter SUM")
    dist.reduce_scatter(out, inputs, dist.ReduceOp.AVG)
    close(out.data, [np.mean([10.0 * s + rank for s in range(world)]), 1.0], "reduce_scatter AVG")


# ------------------------------------------------------- data-parallel training
def make_model(seed, batch_norm=None):
    minigrad.manual_seed(seed)
    layers = [nn.Conv2d(2, 4, 3, padding=1)]
    if batch_norm is not None:
        layers.append(batch_norm(4))
    layers += [nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 3)]
    return nn.Sequential(*layers).double()


def data(n=8, seed=7):
    rng = np.random.default_rng(seed)
    return tensor(rng.standard_normal((n, 2, 5, 5))), tensor(rng.standard_normal((n, 3)))


def mse(out, y):
    return ((out - y) ** 2).mean()


def my_half(x):
    """This rank's contiguous share of the batch's rows."""
    n = x.shape[0] // dist.get_world_size()
    return x[dist.get_rank() * n:(dist.get_rank() + 1) * n]


def train(model, batches, steps=4, accumulate=1, ddp=None):
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        for i, (x, y) in enumerate(batches):
            last = i == len(batches) - 1
            if ddp is not None and not last:
                with ddp.no_sync():
                    (mse(model(x), y) / accumulate).backward()
            else:
                (mse(model(x), y) / accumulate).backward()
        opt.step()
    return model


def reference_and_ddp(bucket_cap_mb=25, batch_norm=None):
    x, y = data()
    reference = train(make_model(100, batch_norm), [(x, y)])
    # Each rank starts from different weights: the broadcast must make them rank 0's.
    ddp = DDP(make_model(100 + dist.get_rank(), batch_norm), bucket_cap_mb=bucket_cap_mb)
    train(ddp, [(my_half(x), my_half(y))])
    return reference, ddp


def same_parameters(reference, ddp, what):
    named = dict(reference.named_parameters())
    for name, p in ddp.module.named_parameters():
        close(p.data, named[name].data, f"{what}: parameter {name}")


@check
def ddp_matches_one_process():
    reference, ddp = reference_and_ddp()
    assert len(ddp._buckets) == 1, f"25 MB holds this model in one bucket, got {len(ddp._buckets)}"
    same_parameters(reference, ddp, "DDP, one bucket")


@check
def ddp_several_buckets():
    reference, ddp = reference_and_ddp(bucket_cap_mb=400 / 2**20)   # 400 bytes: 50 float64
    assert len(ddp._buckets) >= 3, f"expected several buckets, got {len(ddp._buckets)}"
    same_parameters(reference, ddp, "DDP, small buckets")


@check
def ddp_no_sync_accumulation():
    x, y = data()
    reference = train(make_model(100), [(x, y)])
    ddp = DDP(make_model(100))
    mine_x, mine_y = my_half(x), my_half(y)
    micro = [(mine_x[:2], mine_y[:2]), (mine_x[2:], mine_y[2:])]   # two micro-batches per step
    train(ddp, micro, accumulate=2, ddp=ddp)
    same_parameters(reference, ddp, "DDP with no_sync accumulation")


@check
def ddp_no_sync_keeps_gradients_local():
    ddp = DDP(make_model(100))
    x, y = data()
    with ddp.no_sync():
        mse(ddp(my_half(x)), my_half(y)).backward()
    local = make_model(100)
    mse(local(my_half(x)), my_half(y)).backward()
    for (name, p), q in zip(ddp.module.named_parameters(), local.parameters()):
        close(p.grad.data, q.grad.data, f"no_sync gradient of {name}: this rank's own")


@check
def ddp_state_dict_and_buffers():
    ddp = DDP(make_model(100 + dist.get_rank(), nn.BatchNorm2d))
    keys = list(ddp.state_dict())
    assert keys and all(k.startswith("module.") for k in keys), keys
    assert "module.1.running_mean" in keys, keys
    # broadcast_buffers: each rank's own running statistics are replaced by rank 0's at each forward
    ddp.module[1].running_mean.data[...] = 10.0 * dist.get_rank()
    ddp.eval()
    with minigrad.no_grad():
        ddp(data()[0])
    close(ddp.module[1].running_mean.data, np.zeros(4), "running_mean after a forward: rank 0's")


@check
def ddp_with_sync_batch_norm_matches_batch_norm():
    x, y = data()
    reference = train(make_model(100, nn.BatchNorm2d), [(x, y)])
    model = nn.SyncBatchNorm.convert_sync_batchnorm(make_model(100, nn.BatchNorm2d))
    assert isinstance(model[1], nn.SyncBatchNorm)
    ddp = DDP(model)
    train(ddp, [(my_half(x), my_half(y))])
    same_parameters(reference, ddp, "DDP + SyncBatchNorm")
    for name in ("running_mean", "running_var"):
        close(getattr(ddp.module[1], name).data, getattr(reference[1], name).data, name)


# ------------------------------------------------------------------ SyncBatchNorm
@check
def sync_batch_norm_equals_batch_norm():
    rng = np.random.default_rng(3)
    x_all = rng.standard_normal((6, 3, 4, 4)) * 2 + 1
    gy_all = rng.standard_normal((6, 3, 4, 4))
    whole = nn.BatchNorm2d(3).double()
    sync = nn.SyncBatchNorm(3).double()
    for bn in (whole, sync):
        bn.weight.data[...] = [0.5, 1.5, -1.0]
        bn.bias.data[...] = [0.1, 0.0, -0.2]
    x = tensor(x_all).requires_grad_()
    out = whole(x)
    out.backward(tensor(gy_all))
    mine = tensor(my_half(tensor(x_all)).data).requires_grad_()
    out_mine = sync(mine)
    out_mine.backward(tensor(my_half(tensor(gy_all)).data))
    close(out_mine.data, my_half(out).data, "SyncBatchNorm output rows of this rank")
    close(mine.grad.data, my_half(x.grad).data, "SyncBatchNorm input gradient")
    for name in ("weight", "bias"):   # this rank's share; summed over ranks = the whole batch's
        g = tensor(getattr(sync, name).grad.data)
        dist.all_reduce(g)
        close(g.data, getattr(whole, name).grad.data, f"SyncBatchNorm {name} gradient, summed")
    for name in ("running_mean", "running_var"):
        close(getattr(sync, name).data, getattr(whole, name).data, f"SyncBatchNorm {name}")


def main(out_path):
    dist.init_process_group("mpi")
    results = {}
    for name, fn in CHECKS.items():
        try:
            fn()
            results[name] = None
        except Exception as error:  # noqa: BLE001 - recorded, reported by the test
            results[name] = f"rank {dist.get_rank()}: {error!r}\n{traceback.format_exc()}"
        dist.barrier()
    gathered = current_group().comm.gather(results, root=0)   # mpi4py pickles the dicts
    if dist.get_rank() == 0:
        merged = {name: next((r[name] for r in gathered if r[name]), None) for name in CHECKS}
        merged["_world_size"] = dist.get_world_size()
        with open(out_path, "w") as f:
            json.dump(merged, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
