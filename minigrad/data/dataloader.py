"""DataLoader: a dataset -> an iterable of batches as minigrad Tensors.

One epoch, step by step:

1. Order the sample indices: 0..N-1, or a fresh random permutation when
   `shuffle=True`, drawn from the loader's own seeded generator (so epochs
   differ from each other, yet the whole run repeats exactly from `seed`),
   or whatever a `sampler` yields (e.g. DistributedSampler: this rank's share).
2. Cut the order into batches of `batch_size` (the last one shorter, or
   dropped with `drop_last=True`).
3. Fetch each batch: ONE fancy-index per array for array datasets
   (`dataset.get_batch(indices)`), else one `dataset[i]` per sample, stacked.
4. Apply `transform` to the inputs of the batch (x, the first field).
5. Wrap each field as a Tensor on `device`; integer fields (labels) become int64.

Steps 3-4 run in `num_workers` background threads, which keep up to
`prefetch` batches per thread ready while the model trains on the current
one. NumPy indexing, JPEG decoding and most of the transforms release
Python's GIL, so the threads really do overlap with the training step.

Random transforms get a generator made for their batch from (seed, epoch,
batch number), so augmentation is reproducible however the threads are
scheduled.
"""
import collections
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import backend
from ..tensor import Tensor
from .dataset import apply_transform, collate

__all__ = ["DataLoader"]


def checked_batch_size(batch_size, owner):
    """`batch_size` as an int, or a ValueError naming `owner` (a loader class)."""
    if not (isinstance(batch_size, (int, np.integer)) and not isinstance(batch_size, bool)
            and batch_size >= 1):
        raise ValueError(f"{owner}: batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


class DataLoader:
    """Iterate over `dataset` in batches: `for x, y in DataLoader(ds, batch_size=128): ...`

    dataset:     a Dataset (`len` and `[i]`); array datasets that offer `get_batch(indices)`
                 are batched by fancy-indexing, others sample by sample.
    batch_size:  samples per batch (can be changed between epochs: `loader.batch_size = 512`).
    shuffle:     a new random order every epoch (from the loader's own generator).
    sampler:     an iterable of indices with a len (e.g. DistributedSampler) giving the order
                 instead; excludes shuffle=True (the sampler decides the order).
    drop_last:   drop the last batch if it is smaller than `batch_size`.
    transform:   applied to the inputs of each whole batch (a NumPy array, NCHW for images),
                 after the dataset's own transform.
    device:      where the Tensors are put ('cpu', 'cuda', 'cuda:N'); default 'cpu'.
    seed:        makes shuffling and random transforms reproducible; None draws a seed from
                 minigrad's generator, so `minigrad.manual_seed` fixes it as well.
    num_workers: background threads preparing batches; 0 prepares them in the loop itself.
    prefetch:    batches each worker keeps ready ahead of the training loop.

    Yields a tuple with one Tensor per field of the samples, e.g. (x, y). `len(loader)`
    is the number of batches per epoch."""

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, transform=None,
                 device=None, seed=None, num_workers=1, prefetch=2, sampler=None):
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle=True; "
                             "let the sampler shuffle (DistributedSampler(..., shuffle=True))")
        if not (isinstance(num_workers, (int, np.integer)) and num_workers >= 0):
            raise ValueError(f"DataLoader: num_workers must be an int >= 0 (0 = no background "
                             f"threads), got {num_workers!r}")
        if not (isinstance(prefetch, (int, np.integer)) and prefetch >= 1):
            raise ValueError(f"DataLoader: prefetch must be a positive int, got {prefetch!r}")
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: the dataset must support len() and [index], got a "
                            f"{type(dataset).__name__}; wrap arrays in TensorDataset(x, y)")
        self.dataset = dataset
        self.batch_size = batch_size  # (checked by the property below)
        self.shuffle = shuffle
        self.sampler = sampler
        self.drop_last = drop_last
        self.transform = transform
        self.device = backend.normalize_device(device)
        if seed is None:
            seed = int(backend.rng("cpu").integers(2**63))
        self.seed = seed
        self.num_workers = int(num_workers)
        self.prefetch = int(prefetch)
        self._order_rng = np.random.default_rng(seed)  # the permutations, one per epoch
        self.epoch = 0

    @property
    def batch_size(self):
        """Samples per batch. It may be changed between epochs (a batch-size schedule):
        an epoch cuts its batches when its iteration starts, so one in progress keeps its own."""
        return self._batch_size

    @batch_size.setter
    def batch_size(self, batch_size):
        self._batch_size = checked_batch_size(batch_size, "DataLoader")

    def __len__(self):
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __repr__(self):
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, device={self.device!r}, "
                f"num_workers={self.num_workers})")

    # ------------------------------------------------------------- resuming
    def state_dict(self):
        """Where the loader is in its run (for an exact resume): the number of epochs
        drawn and the state of the generator that shuffles them."""
        return {"epoch": self.epoch, "order_rng": self._order_rng.bit_generator.state}

    def load_state_dict(self, state):
        """Continue from `state_dict()`: the next epoch is the one it would have drawn."""
        self.epoch = int(state["epoch"])
        self._order_rng.bit_generator.state = state["order_rng"]

    # ------------------------------------------------------------- one epoch
    def _batches(self):
        """This epoch's list of index arrays, one per batch."""
        n = len(self.dataset)
        order = self._order_rng.permutation(n) if self.shuffle else np.arange(n)
        if self.sampler is not None:
            order = np.fromiter(self.sampler, dtype=np.int64)
            n = len(order)
        stop = len(self) * self.batch_size if self.drop_last else n
        return [order[i:i + self.batch_size] for i in range(0, stop, self.batch_size)]

    def _prepare(self, indices, epoch, number):
        """Fetch and transform one batch, on NumPy arrays (runs in a worker thread)."""
        rng = np.random.default_rng((self.seed, epoch, number))  # this batch's own randomness
        if hasattr(self.dataset, "get_batch"):
            fields = self.dataset.get_batch(indices, rng=rng)
        else:
            fields = collate([self.dataset[int(i)] for i in indices])
        fields = tuple(fields) if isinstance(fields, (tuple, list)) else (fields,)
        if self.transform is not None:
            fields = (apply_transform(self.transform, fields[0], rng),) + fields[1:]
        return fields

    def _to_tensors(self, fields):
        """NumPy arrays -> Tensors on the loader's device; integer arrays become int64."""
        out = []
        for array in fields:
            if array.dtype.kind in "iu" and array.dtype != np.int64:
                array = array.astype(np.int64)  # labels are int64 everywhere (cross_entropy)
            with backend.device_scope(self.device):
                array = backend.to_device(array, self.device)
            out.append(Tensor._wrap(array, self.device))  # freshly made arrays: no copy needed
        return tuple(out)

    def __iter__(self):
        # Not a generator itself: the epoch's order is drawn right here, when the loop
        # starts, so two iterators made one after the other get epochs 0 and 1 in order.
        batches = self._batches()
        epoch, self.epoch = self.epoch, self.epoch + 1
        if self.num_workers == 0:
            return self._iter_in_loop(batches, epoch)
        return self._iter_in_background(batches, epoch)

    def _iter_in_loop(self, batches, epoch):
        for number, indices in enumerate(batches):
            yield self._to_tensors(self._prepare(indices, epoch, number))

    def _iter_in_background(self, batches, epoch):
        """The same batches, prepared by worker threads ahead of the loop.

        `pending` is a bounded queue of batches in preparation (futures), in
        order. Each time the loop takes one, the next batch is submitted, so at
        most num_workers * prefetch batches are ever in memory. `.result()`
        re-raises, in this thread, any exception a worker hit. If the loop
        stops early (`break`), Python closes this generator and the `finally`
        cancels the batches not started yet and waits for the threads to end
        (at most the batches already in progress)."""
        pool = ThreadPoolExecutor(self.num_workers, thread_name_prefix="minigrad-data")
        pending = collections.deque()
        todo = iter(enumerate(batches))
        try:
            for number, indices in todo:
                pending.append(pool.submit(self._prepare, indices, epoch, number))
                if len(pending) >= self.num_workers * self.prefetch:
                    break
            while pending:
                fields = pending.popleft().result()
                for number, indices in todo:  # refill the queue: one out, one in
                    pending.append(pool.submit(self._prepare, indices, epoch, number))
                    break
                yield self._to_tensors(fields)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
