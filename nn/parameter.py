"""`Parameter`: a Tensor that a Module registers as one of its trainable weights."""
import numpy as np

from minigrad import backend
from minigrad.dtypes import get_default_dtype
from minigrad.tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A Tensor that is a trainable weight of a Module (requires_grad=True).

    Parameter(tensor) shares the tensor's memory, as in PyTorch; other data
    (lists, NumPy arrays) is copied, floating data as the default float dtype
    (float32, see minigrad.set_default_dtype) unless `dtype` says otherwise."""

    def __init__(self, data=None, requires_grad=True, dtype=None):
        if data is None:
            data = np.empty(0, get_default_dtype())
        if isinstance(data, Tensor):
            self._init(data.data if dtype is None else data.data.astype(dtype), data.device)
        else:
            probe = np.asarray(data) if not backend.is_array(data) else data
            if dtype is None and probe.dtype.kind == "f":
                dtype = get_default_dtype()
            Tensor.__init__(self, data, dtype=dtype)
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
