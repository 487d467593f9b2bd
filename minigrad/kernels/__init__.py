"""Fused CUDA kernels behind the readable NumPy path (GPU only, optional).

Every op and update rule in minigrad is written once, in NumPy-style array
code that runs on NumPy and CuPy alike: that code is the reference, and it is
what the CPU (and the test suite's CuPy stand-in) runs. On a real GPU, a few
hot paths make several passes over memory where one would do (Adam reads and
writes five arrays in eight separate kernels; batch norm's backward makes
temporaries the size of the activations). The kernels in this package do the
same arithmetic in one pass, and the call sites dispatch to them like this:

    if kernels.use_for(param, grad):   # fused CUDA kernel, same math as below
        return kernels.adam_update(...)
    ... the readable NumPy path, unchanged ...

`use_for` is True only when fused kernels are enabled and every array is a
CuPy array, so NumPy arrays never reach a kernel. Kernels are compiled on
first use and cached; importing minigrad compiles nothing and needs no CuPy.

To compare a result against the reference, turn the kernels off:

    MINIGRAD_FUSED_KERNELS=0 python train.py          # for a whole run
    with minigrad.cuda.use_fused_kernels(False): ...  # for a block of code

Files, one topic each: optim_updates (SGD, Adam/AdamW, Lion, RMSprop),
activations (ReLU, GELU), batchnorm, cross_entropy, max_pool, im2col.
"""
from .activations import gelu_backward, gelu_forward, relu_backward, relu_forward
from .batchnorm import batch_norm_backward, batch_norm_forward
from .cross_entropy import cross_entropy_backward, cross_entropy_forward
from .im2col import col2im, im2col
from .max_pool import max_pool2d_backward, max_pool2d_forward
from .optim_updates import adam_update, lion_update, rmsprop_update, sgd_update
from .switch import enabled, set_enabled, use_for

__all__ = ["enabled", "set_enabled", "use_for",
           "sgd_update", "adam_update", "lion_update", "rmsprop_update",
           "relu_forward", "relu_backward", "gelu_forward", "gelu_backward",
           "batch_norm_forward", "batch_norm_backward",
           "cross_entropy_forward", "cross_entropy_backward",
           "max_pool2d_forward", "max_pool2d_backward", "im2col", "col2im"]
