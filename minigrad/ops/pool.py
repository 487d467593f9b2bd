"""Pooling over 1, 2 or 3 spatial dims, with PyTorch's options and names.

The ops live in three files by family; this module gathers their names
(`from minigrad.ops.pool import max_pool2d` and `minigrad.functional` use it):

    max_pool.py   max_pool1d/2d/3d (dilation, ceil_mode, return_indices),
                  adaptive_max_pool1d/2d/3d
    avg_pool.py   avg_pool1d/2d/3d (ceil_mode, count_include_pad,
                  divisor_override), adaptive_avg_pool1d/2d/3d, lp_pool1d/2d/3d
    unpool.py     max_unpool1d/2d/3d, the partial inverse of max pooling
    pool_args.py  the argument checks they share

Each op takes a batch (N, C, *spatial) or one unbatched sample (C, *spatial).
Read max_pool.py first: its docstring explains the tap loop all the pools
share and how max pooling's gradient of every order stays exact.
"""
from .avg_pool import *  # noqa: F401,F403
from .avg_pool import __all__ as _avg_all
from .max_pool import *  # noqa: F401,F403
from .max_pool import MaxPool2d, MaxPool2dScatter  # noqa: F401 (the GPU kernel tests' names)
from .max_pool import __all__ as _max_all
from .unpool import *  # noqa: F401,F403
from .unpool import __all__ as _unpool_all

__all__ = _max_all + _avg_all + _unpool_all
