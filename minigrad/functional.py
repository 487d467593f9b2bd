"""`minigrad.functional` (import it as F): every differentiable operation.

This file only gathers the ops; each is defined, with its backward, in
`minigrad/ops/<family>.py`. It also hands itself to tensor.py, whose
methods and operators (`x + y`, `x.sum()`) call the functions gathered here:
tensor.py sits below the ops in the layers, so it cannot import them.

Every op with a `dim` argument also takes NumPy's `axis` (and `keepdims` for
`keepdim`): the last lines below wrap them, see minigrad/dims.py.
"""
import sys

from . import tensor as _tensor
from .dims import accept_numpy_names_in
from .ops.activation import *  # noqa: F401,F403
from .ops.attention import *  # noqa: F401,F403
from .ops.compare import *  # noqa: F401,F403
from .ops.conv import *  # noqa: F401,F403
from .ops.convert import *  # noqa: F401,F403
from .ops.dropout import *  # noqa: F401,F403
from .ops.einsum import *  # noqa: F401,F403
from .ops.elementwise import *  # noqa: F401,F403
from .ops.fold import *  # noqa: F401,F403
from .ops.indexing import *  # noqa: F401,F403
from .ops.inplace import *  # noqa: F401,F403
from .ops.interpolate import *  # noqa: F401,F403
from .ops.linalg import *  # noqa: F401,F403
from .ops.linear import *  # noqa: F401,F403
from .ops.loss import *  # noqa: F401,F403
from .ops.loss_pointwise import *  # noqa: F401,F403
from .ops.math import *  # noqa: F401,F403
from .ops.math_binary import *  # noqa: F401,F403
from .ops.normalization import *  # noqa: F401,F403
from .ops.padding import *  # noqa: F401,F403
from .ops.pixel_shuffle import *  # noqa: F401,F403
from .ops.pool import *  # noqa: F401,F403
from .ops.rearrange import *  # noqa: F401,F403
from .ops.reduce import *  # noqa: F401,F403
from .ops.scan import *  # noqa: F401,F403
from .ops.shape import *  # noqa: F401,F403
from .ops.similarity import *  # noqa: F401,F403
from .ops.sort import *  # noqa: F401,F403

accept_numpy_names_in(sys.modules[__name__])  # F.sum(x, axis=1) as well as F.sum(x, dim=1)
_tensor.use_functional(sys.modules[__name__])
