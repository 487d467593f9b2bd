"""minigrad.distributed, DistributedDataParallel, SyncBatchNorm and DistributedSampler.

The collectives and data-parallel training run for real under
`mpiexec -n 2` (tests/distributed_worker.py: every check in one launch, ~1 s),
skipped when the `mpi` extra (mpi4py, mpich) is not installed. The sampler,
the DataLoader's sampler argument and the NCCL backend's logic (with a fake
NCCL and a fake MPI communicator) are tested in this process.
"""
import ctypes
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import distributed_worker
import numpy as np
import pytest

import minigrad
import minigrad.distributed as dist
import minigrad.nn as nn
from minigrad.data import DataLoader, DistributedSampler, TensorDataset
from minigrad.distributed.collectives import ReduceOp
from minigrad.distributed.nccl_backend import NCCLBackend

WORKER = Path(__file__).with_name("distributed_worker.py")


def find_mpiexec():
    """The mpich wheel puts mpiexec next to the environment's python; else look on PATH."""
    beside = Path(sys.executable).with_name("mpiexec")
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def mpiexec_2(*command):
    """Run `command` on 2 ranks; the finished process (or a failed test on a timeout)."""
    if importlib.util.find_spec("mpi4py") is None or find_mpiexec() is None:
        pytest.skip('MPI is not installed: pip install -e ".[mpi]" (mpi4py and mpich)')
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               HYDRA_LAUNCHER="fork")  # start the ranks as local processes (no ssh in containers)
    try:
        return subprocess.run([find_mpiexec(), "-n", "2", sys.executable, *map(str, command)],
                              capture_output=True, text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"mpiexec -n 2 did not finish in 120 s (a collective waiting forever?):\n"
                    f"{error.stdout}\n{error.stderr}")


@pytest.fixture(scope="module")
def mpi_results(tmp_path_factory):
    """Launch the worker once on 2 ranks; {check name: None or the failure}."""
    out = tmp_path_factory.mktemp("mpi") / "results.json"
    run = mpiexec_2(WORKER, out)
    assert run.returncode == 0 and out.exists(), (
        f"mpiexec -n 2 {WORKER.name} failed (exit {run.returncode}):\n{run.stdout}\n{run.stderr}")
    return json.loads(out.read_text())


def test_two_ranks_ran(mpi_results):
    assert mpi_results["_world_size"] == 2


@pytest.mark.parametrize("name", list(distributed_worker.CHECKS))
def test_under_mpiexec(mpi_results, name):
    """See each check's code in distributed_worker.py."""
    assert name in mpi_results, f"the worker did not run {name}"
    assert mpi_results[name] is None, mpi_results[name]


def test_cifar10_example_distributed(tmp_path):
    """The README's launch line, on synthetic data: rank 0 alone prints and writes."""
    example = Path(__file__).parents[1] / "examples" / "cifar10_cnn.py"
    run = mpiexec_2(example, "--distributed", "--smoke", "--epochs", "1", "--no-plots",
                    "--quiet", "--out", tmp_path)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    assert run.stdout.count("distributed: 2 processes") == 1, run.stdout   # rank 0 only
    assert run.stdout.count("epoch   1/1") == 1, run.stdout
    assert "train 150, test 100" in run.stdout, run.stdout   # half of the 300 training images
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]


# ---------------------------------------------------------- DistributedSampler
def shares(n, world, **options):
    return [list(DistributedSampler(range(n), num_replicas=world, rank=r, **options))
            for r in range(world)]


def test_sampler_pads_like_pytorch():
    # 10 indices on 3 ranks: 4 each, the order padded with its first two (0, 1)
    assert shares(10, 3, shuffle=False) == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
    # drop_last: cut to 9, 3 each
    assert shares(10, 3, shuffle=False, drop_last=True) == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    # fewer samples than ranks: the order repeats as often as needed
    assert shares(2, 5, shuffle=False) == [[0], [1], [0], [1], [0]]
    assert len(DistributedSampler(range(10), num_replicas=3, rank=0)) == 4


@pytest.mark.parametrize("n,world", [(12, 4), (10, 3), (7, 2)])
def test_sampler_covers_the_dataset_once(n, world):
    for epoch in range(2):
        parts = []
        for r in range(world):
            sampler = DistributedSampler(range(n), num_replicas=world, rank=r, seed=5)
            sampler.set_epoch(epoch)
            parts.append(list(sampler))
        everything = sum(parts, [])
        assert len({len(p) for p in parts}) == 1          # equal shares: equal steps per rank
        assert sorted(set(everything)) == list(range(n))  # every index seen
        assert len(everything) - n == (-n) % world        # and only the padding seen twice


def test_sampler_epochs_and_seeds_change_the_order():
    def order(epoch, seed=0):
        sampler = DistributedSampler(range(50), num_replicas=2, rank=0, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)
    assert order(0) == order(0)                           # the same on every call (and rank)
    assert order(0) != order(1) and order(0) != order(0, seed=1)


def test_sampler_matches_torch_without_shuffle():
    torch_data = pytest.importorskip("torch.utils.data")
    for n, world, drop_last in [(10, 3, False), (10, 3, True), (3, 4, False), (8, 4, False)]:
        for r in range(world):
            ours = DistributedSampler(range(n), world, r, shuffle=False, drop_last=drop_last)
            theirs = torch_data.DistributedSampler(range(n), world, r, shuffle=False,
                                                   drop_last=drop_last)
            assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_sampler_errors():
    with pytest.raises(ValueError, match="rank 3 is out of range"):
        DistributedSampler(range(4), num_replicas=2, rank=3)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(4))                      # no group, no num_replicas


def test_dataloader_follows_the_sampler():
    x = np.arange(20.0).reshape(10, 2)
    data = TensorDataset(x, np.arange(10))
    sampler = DistributedSampler(data, num_replicas=3, rank=1, shuffle=False)
    loader = DataLoader(data, batch_size=3, sampler=sampler, num_workers=0)
    assert len(loader) == 2
    labels = [y.data.tolist() for _, y in loader]
    assert labels == [[1, 4, 7], [0]]
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(data, batch_size=3, sampler=sampler, shuffle=True)


# ------------------------------------------------------------ the API's edges
def test_not_initialized_errors():
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.all_reduce(minigrad.zeros(2))
    with pytest.raises(RuntimeError, match="init_process_group"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="unknown backend 'gloo'"):
        dist.init_process_group("gloo")


def test_missing_mpi4py_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)      # `import mpi4py` now fails
    with pytest.raises(ImportError, match=r'pip install -e "\.\[mpi\]"'):
        dist.init_process_group("mpi")
    assert not dist.is_initialized()


def test_sync_batchnorm_without_a_group_is_batchnorm():
    x = minigrad.randn(4, 3, 2, 2)
    sync, plain = nn.SyncBatchNorm(3), nn.BatchNorm2d(3)
    np.testing.assert_allclose(sync(x).data, plain(x).data, rtol=1e-6, atol=1e-6)
    model = nn.Sequential(nn.Conv2d(3, 3, 1), plain, nn.ReLU())
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert [type(m).__name__ for m in converted] == ["Conv2d", "SyncBatchNorm", "ReLU"]
    assert converted[1].weight is plain.weight and converted[1].running_mean is plain.running_mean


# ------------------------------------------------- the NCCL backend, on fakes
class FakeNccl:
    """The parts of cupy.cuda.nccl the backend uses. Its communicator acts as
    if every rank held the same array: a SUM multiplies by the world size."""
    NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN = 0, 1, 2, 3
    NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_INT64 = 0, 1, 2, 4
    NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64 = 6, 7, 8

    def __init__(self):
        self.made_ids, self.communicators = 0, []
        fake = self

        class NcclCommunicator:
            def __init__(self, size, unique_id, rank):
                self.size, self.unique_id, self.rank, self.calls = size, unique_id, rank, []
                fake.communicators.append(self)

            def allReduce(self, send, recv, count, dtype, op, stream):  # noqa: N802 (NCCL's name)
                self.calls.append(("allReduce", count, dtype, op, stream))
                assert send == recv and dtype == FakeNccl.NCCL_FLOAT64
                values = np.ctypeslib.as_array((ctypes.c_double * count).from_address(recv))
                if op == FakeNccl.NCCL_SUM:
                    values *= self.size

            def bcast(self, buffer, count, dtype, root, stream):
                self.calls.append(("bcast", count, dtype, root, stream))

            def destroy(self):
                self.calls.append(("destroy",))
        self.NcclCommunicator = NcclCommunicator

    def get_unique_id(self):
        self.made_ids += 1
        return (7, 7, self.made_ids)


class FakeComm:
    """An MPI communicator of one rank of a world whose bcast goes through `wire`."""

    def __init__(self, rank, size, wire):
        self.rank, self.size, self.wire = rank, size, wire

    def Get_rank(self):  # noqa: N802 (mpi4py's name)
        return self.rank

    def Get_size(self):  # noqa: N802
        return self.size

    def bcast(self, value, root):
        if self.rank == root:
            self.wire.append(value)
        return self.wire[-1]


def test_nccl_shares_rank_0s_unique_id():
    nccl, wire = FakeNccl(), []
    for rank in range(3):
        NCCLBackend(nccl=nccl, comm=FakeComm(rank, 3, wire), device="cpu", stream=lambda: 0)
    assert nccl.made_ids == 1                              # only rank 0 makes an id
    assert [(c.size, c.unique_id, c.rank) for c in nccl.communicators] == [
        (3, (7, 7, 1), 0), (3, (7, 7, 1), 1), (3, (7, 7, 1), 2)]


def test_nccl_maps_ops_dtypes_and_averages():
    nccl = FakeNccl()
    group = NCCLBackend(nccl=nccl, comm=FakeComm(0, 4, []), device="cpu", stream=lambda: 99)
    comm = nccl.communicators[0]
    for op, code in [(ReduceOp.SUM, 0), (ReduceOp.MAX, 2), (ReduceOp.MIN, 3), (ReduceOp.AVG, 0)]:
        array = np.array([1.0, -2.0, 3.0])
        group.all_reduce(array, op).wait()
        assert comm.calls[-1] == ("allReduce", 3, FakeNccl.NCCL_FLOAT64, code, 99)
        expected = {ReduceOp.SUM: [4.0, -8.0, 12.0]}.get(op, [1.0, -2.0, 3.0])  # AVG: SUM / 4
        np.testing.assert_allclose(array, expected)
    group.broadcast(np.zeros(5, np.float32), 2).wait()
    assert comm.calls[-1] == ("bcast", 5, FakeNccl.NCCL_FLOAT32, 2, 99)
    with pytest.raises(TypeError, match="cannot exchange bool"):
        group.all_reduce(np.zeros(2, bool), ReduceOp.SUM)
    with pytest.raises(RuntimeError, match="contiguous"):
        group.all_reduce(np.zeros((3, 3))[:, 0], ReduceOp.SUM)
    with pytest.raises(RuntimeError, match=r"works on cpu, got a tensor on cuda"):
        group.check_device("all_reduce", type("T", (), {"device": "cuda:0"})())
    group.close()
    assert comm.calls[-1] == ("destroy",)
