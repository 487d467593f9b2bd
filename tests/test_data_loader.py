"""Dataset, TensorDataset, Subset, random_split and DataLoader."""
import threading

import numpy as np
import pytest

import minigrad
from minigrad.data import DataLoader, Dataset, Subset, TensorDataset, random_split
from minigrad.data import transforms as T


class Squares(Dataset):
    """A generic dataset (no get_batch): sample i is ([i, i*i] float32, i % 3)."""

    def __init__(self, n):
        self.n = n
        self.calls = 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.calls += 1
        return np.array([i, i * i], dtype=np.float32), i % 3


def xy(n=10):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n, dtype=np.int32) % 4
    return x, y


def all_rows(loader):
    return np.concatenate([x.numpy() for x, _ in loader])


# ----------------------------------------------------------------- datasets
def test_tensor_dataset_items_and_batches():
    x, y = xy()
    ds = TensorDataset(x, minigrad.tensor(y))
    assert len(ds) == 10
    xi, yi = ds[3]
    np.testing.assert_array_equal(xi, x[3])
    assert yi == y[3]
    bx, by = ds.get_batch(np.array([7, 2, 2]))
    np.testing.assert_array_equal(bx, x[[7, 2, 2]])
    np.testing.assert_array_equal(by, y[[7, 2, 2]])
    with pytest.raises(IndexError, match="out of range"):
        ds[10]


def test_tensor_dataset_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match=r"same first dimension.*\(3, 2\), \(4,\)"):
        TensorDataset(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="at least one array"):
        TensorDataset()


def test_subset_maps_indices_and_keeps_fast_path():
    x, y = xy()
    sub = Subset(TensorDataset(x, y), [9, 0, 4])
    assert len(sub) == 3 and hasattr(sub, "get_batch")
    np.testing.assert_array_equal(sub[0][0], x[9])
    np.testing.assert_array_equal(sub.get_batch(np.array([2, 1]))[0], x[[4, 0]])
    assert not hasattr(Subset(Squares(5), [1, 2]), "get_batch")
    with pytest.raises(IndexError, match=r"\[0, 10\)"):
        Subset(TensorDataset(x, y), [10])


def test_random_split_partitions_reproducibly():
    ds = TensorDataset(*xy(10))
    a, b = random_split(ds, [7, 3], seed=1)
    assert (len(a), len(b)) == (7, 3)
    assert sorted(np.concatenate([a.indices, b.indices])) == list(range(10))
    a2, _ = random_split(ds, [7, 3], seed=1)
    np.testing.assert_array_equal(a.indices, a2.indices)
    parts = random_split(ds, [0.5, 0.3, 0.2], seed=0)
    assert [len(p) for p in parts] == [5, 3, 2]
    parts = random_split(TensorDataset(*xy(11)), [0.5, 0.5], seed=0)
    assert [len(p) for p in parts] == [6, 5]  # the remainder goes to the first part
    with pytest.raises(ValueError, match="add up"):
        random_split(ds, [5, 4])


# --------------------------------------------------------------- the loader
@pytest.mark.parametrize("num_workers", [0, 1, 3])
def test_batches_in_order_without_shuffle(device, num_workers):
    x, y = xy(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, device=device,
                        num_workers=num_workers)
    assert len(loader) == 3
    batches = list(loader)
    assert [bx.shape for bx, _ in batches] == [(4, 2), (4, 2), (2, 2)]
    bx, by = batches[1]
    assert bx.device == minigrad.tensor(0.0, device=device).device
    assert bx.dtype == np.float32 and by.dtype == np.int64  # int32 labels widened to int64
    np.testing.assert_array_equal(bx.numpy(), x[4:8])
    np.testing.assert_array_equal(by.numpy(), y[4:8])


def test_drop_last_and_len():
    ds = TensorDataset(*xy(10))
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert [b[0].shape[0] for b in DataLoader(ds, batch_size=4, drop_last=True)] == [4, 4]
    assert len(DataLoader(ds, batch_size=5)) == 2
    assert len(DataLoader(ds, batch_size=20)) == 1
    assert len(DataLoader(ds, batch_size=20, drop_last=True)) == 0
    assert list(DataLoader(ds, batch_size=20, drop_last=True)) == []


def test_shuffle_is_a_new_permutation_each_epoch_and_reproducible():
    x, _ = xy(50)
    ds = TensorDataset(x, np.zeros(50, np.int64))
    loader = DataLoader(ds, batch_size=8, shuffle=True, seed=123)
    epoch1, epoch2 = all_rows(loader), all_rows(loader)
    for rows in (epoch1, epoch2):  # every sample exactly once
        np.testing.assert_array_equal(np.sort(rows[:, 0]), x[:, 0])
    assert not np.array_equal(epoch1, epoch2)
    assert not np.array_equal(epoch1, x)
    again = DataLoader(ds, batch_size=8, shuffle=True, seed=123, num_workers=0)
    np.testing.assert_array_equal(all_rows(again), epoch1)
    np.testing.assert_array_equal(all_rows(again), epoch2)
    other = DataLoader(ds, batch_size=8, shuffle=True, seed=124)
    assert not np.array_equal(all_rows(other), epoch1)


def test_default_seed_comes_from_manual_seed():
    ds = TensorDataset(*xy(30))
    minigrad.manual_seed(7)
    a = all_rows(DataLoader(ds, batch_size=4, shuffle=True))
    minigrad.manual_seed(7)
    b = all_rows(DataLoader(ds, batch_size=4, shuffle=True))
    np.testing.assert_array_equal(a, b)


def test_generic_dataset_is_collated_per_item():
    ds = Squares(7)
    bx, by = next(iter(DataLoader(ds, batch_size=5, num_workers=0)))
    np.testing.assert_array_equal(bx.numpy(), [[i, i * i] for i in range(5)])
    np.testing.assert_array_equal(by.numpy(), [i % 3 for i in range(5)])
    assert bx.dtype == np.float32 and by.dtype == np.int64
    assert ds.calls == 5


def test_batch_transform_applies_to_inputs_only_with_reproducible_randomness():
    x = np.random.default_rng(0).random((12, 1, 4, 4)).astype(np.float32)
    ds = TensorDataset(x, np.arange(12))
    flip = T.RandomHorizontalFlip(p=0.5)
    runs = [np.concatenate([b.numpy() for b, _ in DataLoader(ds, batch_size=4, transform=flip,
                                                              seed=5, num_workers=w)])
            for w in (0, 2)]
    np.testing.assert_array_equal(runs[0], runs[1])  # same augmentation however it is threaded
    flipped = [np.array_equal(r, xi[..., ::-1]) and not np.array_equal(r, xi)
               for r, xi in zip(runs[0], x)]
    kept = [np.array_equal(r, xi) for r, xi in zip(runs[0], x)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    labels = np.concatenate([b.numpy() for _, b in DataLoader(ds, batch_size=4, transform=flip)])
    np.testing.assert_array_equal(labels, np.arange(12))


def test_plain_function_as_transform():
    ds = TensorDataset(*xy(4))
    bx, _ = next(iter(DataLoader(ds, batch_size=4, transform=lambda b: b * 2)))
    np.testing.assert_array_equal(bx.numpy(), xy(4)[0] * 2)


def _worker_threads():
    return [t for t in threading.enumerate() if t.name.startswith("minigrad-data")]


def test_early_break_shuts_the_workers_down():
    prepared = []

    class Slow(Squares):
        def __getitem__(self, i):
            prepared.append(i)
            return super().__getitem__(i)

    loader = DataLoader(Slow(1000), batch_size=10, num_workers=2, prefetch=2)
    for i, _ in enumerate(loader):
        if i == 1:
            break
    assert _worker_threads() == []
    assert len(prepared) <= 10 * (2 + 2 * 2)  # a bounded queue: never the whole epoch


def test_worker_exception_is_raised_in_the_main_thread():
    class Broken(Squares):
        def __getitem__(self, i):
            if i == 13:
                raise ValueError("sample 13 is broken")
            return super().__getitem__(i)

    for workers in (0, 2):
        seen = []
        with pytest.raises(ValueError, match="sample 13 is broken"):
            for bx, _ in DataLoader(Broken(40), batch_size=5, num_workers=workers):
                seen.append(bx.shape[0])
        assert seen == [5, 5]  # the batches before the broken one arrived
    assert _worker_threads() == []


def test_bad_arguments_raise_clear_errors():
    ds = TensorDataset(*xy(4))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(TypeError, match="TensorDataset"):
        DataLoader(42)
    with pytest.raises(ValueError, match="unknown device"):
        DataLoader(ds, device="tpu")


# --------------------------------------------------------------- on a device
def syncs():
    """Device-to-host reads so far (counted by the CuPy stand-in; 0 elsewhere)."""
    import cupy_stand_in
    return sum(cupy_stand_in.sync_counts.values())


def test_augmented_batches_reach_the_device_as_on_the_cpu(device):
    """Transforms run on the host batch; only the finished batch moves to `device`."""
    images = np.random.default_rng(0).integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    labels = np.arange(12) % 5
    augment = T.Compose([T.ToTensor(), T.RandomCrop(8, padding=2), T.RandomHorizontalFlip(),
                         T.Normalize((0.5,) * 3, (0.25,) * 3)])
    on_cpu, on_device = (DataLoader(TensorDataset(images, labels), batch_size=5, shuffle=True,
                                    transform=augment, device=where, seed=3)
                         for where in ("cpu", device))
    for (cx, cy), (dx, dy) in zip(on_cpu, on_device):
        assert dx.device == dy.device == minigrad.tensor(0.0, device=device).device
        assert dx.shape == (len(cy.numpy()), 3, 8, 8) and dx.dtype == np.float32
        np.testing.assert_array_equal(dx.numpy(), cx.numpy())
        np.testing.assert_array_equal(dy.numpy(), cy.numpy())


def test_a_dataset_already_on_the_device_is_batched_there_without_reads(device):
    x, y = (minigrad.tensor(a, device=device) for a in xy(10))
    before = syncs()
    batches = list(DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, seed=0,
                              device=device))
    assert syncs() == before  # no device-to-host round trip per batch
    assert all(bx.device == x.device and by.device == x.device for bx, by in batches)
    order = np.concatenate([by.numpy() for _, by in batches])
    np.testing.assert_array_equal(np.sort(np.concatenate([bx.numpy()[:, 0] for bx, _ in batches])),
                                  np.arange(0, 20, 2))  # every sample once
    assert sorted(order.tolist()) == sorted(xy(10)[1].tolist())


class OnDevice(Dataset):
    """A generic dataset (no get_batch) whose samples are Tensors on `device`."""

    def __init__(self, device):
        self.x = minigrad.arange(12.0, device=device).reshape(6, 2)

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return self.x[i], self.x[i, 0]


def test_samples_on_the_device_are_stacked_there(device):
    before = syncs()
    (bx, by), = list(DataLoader(OnDevice(device), batch_size=6, device=device, num_workers=0))
    assert syncs() == before
    assert bx.device == by.device == OnDevice(device).x.device
    np.testing.assert_array_equal(bx.numpy(), np.arange(12.0).reshape(6, 2))
    np.testing.assert_array_equal(by.numpy(), np.arange(0.0, 12.0, 2))


def test_a_transform_on_a_device_dataset_says_where_augmentation_runs(device):
    if device == "cpu":
        pytest.skip("a CPU dataset is the supported case")
    images = minigrad.zeros(4, 3, 8, 8, device=device)
    loader = DataLoader(TensorDataset(images, np.zeros(4)), batch_size=2, device=device,
                        transform=T.Normalize((0.5,) * 3, (0.25,) * 3), num_workers=0)
    with pytest.raises(TypeError, match=r"Normalize: the batch is on cuda:0, but transforms work "
                                        r"on host .*keep the dataset on the CPU.*DeviceLoader"):
        next(iter(loader))
