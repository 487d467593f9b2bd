"""dtype and device changes, and copies: differentiable, their gradients go back
to the input's dtype and device."""
import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor

__all__ = ["astype", "to_device", "clone"]


class AsType(Function):
    save_inputs = save_outputs = False  # backward needs only the input's dtype

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.astype(self.input_dtypes[0])


class ToDevice(Function):
    save_inputs = save_outputs = False  # backward needs only the input's device

    def __init__(self, device):
        self.device = device

    def output_device(self, inputs):
        return self.device  # the one op whose output lives elsewhere than its input

    def forward(self, x):
        return backend.to_device(x, self.device)

    def backward(self, gy):
        return gy.to(self.input_device)


class Clone(Function):
    save_inputs = save_outputs = False

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


def astype(x, dtype):
    if np.dtype(dtype) == x.dtype:
        return x
    if x.requires_grad and np.dtype(dtype).kind not in "fc":
        return Tensor._wrap(x.data.astype(dtype), x.device)  # integer results are not differentiable
    return AsType(dtype)(x)


def to_device(x, device): return ToDevice(device)(x)
def clone(x): return Clone()(x)
