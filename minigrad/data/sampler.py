"""DistributedSampler: each rank's share of a dataset's indices, for data-parallel training.

Every rank runs the same loop over its own indices. With R ranks:

1. Order the indices 0..N-1: a permutation drawn from (seed + epoch), the
   same on every rank without any communication, or in order if
   shuffle=False.
2. Make the length a multiple of R: pad by repeating indices from the
   start (drop_last=False, so a few samples are seen twice an epoch), or
   cut the tail (drop_last=True, so a few are not seen at all).
3. Rank r takes every R-th index starting at r: order[r::R].

So the ranks' shares are disjoint (but for the padding) and together cover
the dataset, each rank gets the same number of samples (the same number of
steps, which collectives need), and `set_epoch(e)` before each epoch gives
a new permutation (forget it, and every epoch repeats epoch 0's order).
These are PyTorch's semantics (its permutation comes from its own
generator, so the orders differ from PyTorch's).

    sampler = DistributedSampler(train_set)      # ranks from the process group
    loader = DataLoader(train_set, batch_size=64, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for x, y in loader: ...
"""
import math

import numpy as np

from .. import distributed

__all__ = ["DistributedSampler"]


class DistributedSampler:
    """Iterates over this rank's indices of `dataset` (see the module docstring).

    num_replicas, rank: default to the process group's world size and rank."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            if not distributed.is_initialized():
                raise RuntimeError("DistributedSampler: pass num_replicas= and rank=, or call "
                                   "minigrad.distributed.init_process_group() first")
            num_replicas = distributed.get_world_size() if num_replicas is None else num_replicas
            rank = distributed.get_rank() if rank is None else rank
        if not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank {rank} is out of range for "
                             f"num_replicas={num_replicas}; use 0 .. {num_replicas - 1}")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)  # cut to a multiple
        else:
            self.num_samples = math.ceil(n / num_replicas)                   # pad to a multiple
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch):
        """Call before each epoch: the permutation is drawn from seed + epoch."""
        self.epoch = epoch

    def indices(self):
        """This rank's indices for the current epoch, as a NumPy int64 array."""
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n)
        if self.drop_last:
            order = order[:self.total_size]
        elif self.total_size > n:  # repeat from the start, as often as needed (tiny datasets)
            order = np.resize(order, self.total_size)
        return order[self.rank:self.total_size:self.num_replicas]

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self):
        return self.num_samples
