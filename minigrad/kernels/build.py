"""What every kernel file needs: CuPy (through backend), scalars, launch sizes.

Kernels are built by functions under `functools.cache`, so each is compiled
once, on first use (CuPy also caches the compiled binary on disk).
"""
import functools

import numpy as np

from .. import backend

THREADS = 256  # threads per block for the RawKernels


def cupy():
    """The CuPy module (only reached once `use_for` said the arrays are CuPy's)."""
    return backend._cupy


def scalar(value, dtype):
    """A host number as a NumPy scalar of the kernel's dtype (no device sync:
    hyperparameters are Python numbers; the arithmetic then happens in the
    array's precision, as NumPy's weak Python scalars do)."""
    return np.dtype(dtype).type(value)


def blocks(total):
    """Blocks of THREADS threads that cover `total` work items."""
    return (max(1, -(-total // THREADS)),)


def c_type(dtype):
    """The C type name of a float dtype, for a template's name expression."""
    return {"float32": "float", "float64": "double"}[np.dtype(dtype).name]


@functools.cache
def raw_module(code, name_expressions):
    """Compile CUDA source holding templated kernels, once per process;
    `name_expressions` lists every instantiation used, e.g. "im2col_kernel<float>".
    Get one with .get_function(name)."""
    return cupy().RawModule(code=code,
                            name_expressions=list(name_expressions))
