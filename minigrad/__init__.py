"""minigrad: a small, readable reverse-mode autograd engine on NumPy (and CuPy)."""
from . import backend, cuda, functional, host_memory, viz
from .autograd import (
                       Function,
                       enable_grad,
                       inference_mode,
                       is_grad_enabled,
                       is_inference_mode_enabled,
                       no_grad,
                       set_grad_enabled,
)
from .backward import grad
from .creation import (
                       arange,
                       empty,
                       eye,
                       from_numpy,
                       full,
                       full_like,
                       linspace,
                       logspace,
                       manual_seed,
                       ones,
                       ones_like,
                       rand,
                       randint,
                       randn,
                       tensor,
                       zeros,
                       zeros_like,
)
from .dtypes import double, get_default_dtype, half, long, set_default_dtype
from .functional import (
                       cat,
                       concat,
                       concatenate,
                       einsum,
                       maximum,
                       meshgrid,
                       minimum,
                       split,
                       stack,
                       tensor_split,
                       where,
)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .serialization import CheckpointError, load, save
from .tensor import Tensor, bool_, float16, float32, float64, int32, int64
from .threads import blas_info, get_num_threads, num_threads, set_num_threads

__version__ = "0.1.0"

host_memory.apply_default()  # reuse freed activations' memory (MINIGRAD_KEEP_MEMORY=0: off)
