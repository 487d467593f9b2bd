"""SyncBatchNorm: batch normalization whose statistics span every rank.

Under data-parallel training each rank sees a slice of the batch; BatchNorm
would normalize each slice with its own statistics. SyncBatchNorm all-reduces
them (minigrad.distributed.sync_batch_norm has the math), so the layer
computes what BatchNorm computes on the whole batch. Outside training, or
with a single process, it is plain BatchNorm.

    model = nn.SyncBatchNorm.convert_sync_batchnorm(model)   # every BatchNorm*d swapped
    model = DistributedDataParallel(model)
"""
from minigrad import distributed

from .checks import check_input, check_size
from .normalization import _BatchNorm

__all__ = ["SyncBatchNorm"]


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over (N, C, ...) inputs with the batch statistics of all ranks (as PyTorch's)."""

    RANKS, LAYOUT = tuple(range(2, 33)), "(N, C, ...)"

    def forward(self, x):
        if not (self.training and distributed.is_initialized() and distributed.get_world_size() > 1):
            return super().forward(x)
        check_input(self, x, self.RANKS, self.LAYOUT, like=self.weight)
        check_size(self, x, 1, self.num_features, "channels (axis 1)")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / self.num_batches_tracked.data
        return distributed.sync_batch_norm(x, self.running_mean, self.running_var, self.weight,
                                           self.bias, factor, self.eps)

    @classmethod
    def convert_sync_batchnorm(cls, module):
        """`module` with every BatchNorm1d/2d replaced by a SyncBatchNorm holding the same
        parameters and buffers (the very tensors, not copies); returns the new module
        when `module` itself is a batch norm, else `module`, changed in place."""
        if isinstance(module, _BatchNorm) and not isinstance(module, cls):
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats)
            for name in ("weight", "bias"):
                if getattr(module, name) is not None:
                    setattr(converted, name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(converted, name, getattr(module, name))
            converted.train(module.training)
            return converted
        for name, child in list(module.named_children()):
            new = cls.convert_sync_batchnorm(child)
            if new is not child:
                module._modules[name] = new  # in its place: setattr would move it to the end
        return module


