"""The Tensor methods that hand over to an op: `x.exp()` is `F.exp(x)`.

`Tensor` (tensor.py) inherits them from `TensorMethods`, which only keeps
them out of tensor.py so that each file stays short; every op itself is
defined once, with its backward, in minigrad/ops/. As in PyTorch, arguments
are named dim= and keepdim= (NumPy's axis= and keepdims= work too: see
minigrad/dims.py), and shape arguments can be given one by one or as a tuple:
`x.reshape(2, 3)` and `x.reshape((2, 3))`.
"""
from .dims import accept_numpy_names_in

# minigrad.functional, set by tensor.use_functional when functional.py is imported
# (this module sits below the ops in the layers, so it cannot import them).
F = None


class TensorMethods:
    # ---- elementwise (ops/elementwise.py, ops/activation.py)
    def exp(self): return F.exp(self)
    def log(self): return F.log(self)
    def sqrt(self): return F.sqrt(self)
    def abs(self): return F.abs(self)
    def sin(self): return F.sin(self)
    def cos(self): return F.cos(self)
    def tanh(self): return F.tanh(self)
    def sigmoid(self): return F.sigmoid(self)
    def relu(self): return F.relu(self)
    def sign(self): return F.sign(self)
    def maximum(self, other): return F.maximum(self, other)
    def minimum(self, other): return F.minimum(self, other)
    def clip(self, min=None, max=None): return F.clamp(self, min, max)  # bounds: numbers or tensors
    clamp = clip

    # ---- reductions (ops/reduce.py)
    def sum(self, dim=None, keepdim=False, dtype=None): return F.sum(self, dim, keepdim, dtype)
    def mean(self, dim=None, keepdim=False): return F.mean(self, dim, keepdim)
    # x.max() -> 0-d; x.max(dim) -> (values, indices); x.max(other) -> maximum (see F.max)
    def max(self, dim=None, keepdim=False): return F.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return F.min(self, dim, keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None, ddof=None):
        return F.var(self, dim, unbiased, keepdim, correction=correction, ddof=ddof)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None, ddof=None):
        return F.std(self, dim, unbiased, keepdim, correction=correction, ddof=ddof)

    def logsumexp(self, dim=None, keepdim=False): return F.logsumexp(self, dim, keepdim)
    def softmax(self, dim=-1): return F.softmax(self, dim)
    def log_softmax(self, dim=-1): return F.log_softmax(self, dim)
    def argmax(self, dim=None, keepdim=False): return F.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return F.argmin(self, dim, keepdim)
    def any(self, dim=None, keepdim=False): return F.any(self, dim, keepdim)
    def all(self, dim=None, keepdim=False): return F.all(self, dim, keepdim)

    # ---- products (ops/linalg.py)
    def matmul(self, other): return F.matmul(self, other)
    def dot(self, other): return F.matmul(self, other)

    # ---- shapes (ops/shape.py)
    def reshape(self, *shape): return F.reshape(self, _shape_args(shape))
    def view(self, *shape): return F.reshape(self, _shape_args(shape))

    def transpose(self, *dims):
        """PyTorch's x.transpose(d0, d1) swaps two dims. NumPy's spellings work too:
        no dims reverses them all (x.T), and a permutation, x.transpose(2, 0, 1)
        or x.transpose((1, 0)), is x.permute(...)."""
        if len(dims) == 2:  # two separate ints: PyTorch's swap (a tuple is a permutation)
            return F.swapaxes(self, *dims)
        return F.transpose(self, _shape_args(dims) or None)

    def permute(self, *dims): return F.permute(self, _shape_args(dims))
    def swapaxes(self, axis0, axis1): return F.swapaxes(self, axis0, axis1)
    swapdims = swapaxes
    def flatten(self, start_dim=0, end_dim=-1): return F.flatten(self, start_dim, end_dim)
    def squeeze(self, dim=None): return F.squeeze(self, dim)
    def unsqueeze(self, dim): return F.unsqueeze(self, dim)
    def expand(self, *shape): return F.expand(self, _shape_args(shape))
    def broadcast_to(self, shape): return F.broadcast_to(self, shape)
    def split(self, split_size_or_sections, dim=0): return F.split(self, split_size_or_sections, dim)
    def tensor_split(self, indices_or_sections, dim=0): return F.tensor_split(self, indices_or_sections, dim)
    def pad(self, pad_width, value=0.0): return F.pad(self, pad_width, value)

    @property
    def T(self):
        return F.transpose(self)

    # ---- activations (the one of them PyTorch has as a method)
    def prelu(self, weight): return F.prelu(self, weight)

    # ---- math (ops/math.py, ops/math_binary.py)
    def tan(self): return F.tan(self)
    def asin(self): return F.asin(self)
    def acos(self): return F.acos(self)
    def atan(self): return F.atan(self)
    def atan2(self, other): return F.atan2(self, other)
    arcsin, arccos, arctan, arctan2 = asin, acos, atan, atan2
    def sinh(self): return F.sinh(self)
    def cosh(self): return F.cosh(self)
    def asinh(self): return F.asinh(self)
    def acosh(self): return F.acosh(self)
    def atanh(self): return F.atanh(self)
    arcsinh, arccosh, arctanh = asinh, acosh, atanh
    def log2(self): return F.log2(self)
    def log10(self): return F.log10(self)
    def log1p(self): return F.log1p(self)
    def expm1(self): return F.expm1(self)
    def exp2(self): return F.exp2(self)
    def erf(self): return F.erf(self)
    def erfc(self): return F.erfc(self)
    def rsqrt(self): return F.rsqrt(self)
    def reciprocal(self): return F.reciprocal(self)
    def square(self): return F.square(self)
    def floor(self): return F.floor(self)
    def ceil(self): return F.ceil(self)
    def round(self, decimals=0): return F.round(self, decimals)
    def trunc(self): return F.trunc(self)
    def frac(self): return F.frac(self)
    def fmod(self, other): return F.fmod(self, other)
    def remainder(self, other): return F.remainder(self, other)
    def __mod__(self, other): return F.remainder(self, other)  # Python's %, as in PyTorch
    def __rmod__(self, other): return F.remainder(other, self)
    def copysign(self, other): return F.copysign(self, other)
    def hypot(self, other): return F.hypot(self, other)
    def logaddexp(self, other): return F.logaddexp(self, other)
    def lerp(self, end, weight): return F.lerp(self, end, weight)
    def isnan(self): return F.isnan(self)
    def isinf(self): return F.isinf(self)
    def isfinite(self): return F.isfinite(self)
    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return F.isclose(self, other, rtol, atol, equal_nan)
    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return F.allclose(self, other, rtol, atol, equal_nan)

    # ---- reductions, scans, indexing, rearranging (ops/scan.py, sort.py,
    # indexing.py, rearrange.py)
    def prod(self, dim=None, keepdim=False, dtype=None): return F.prod(self, dim, keepdim, dtype)
    def cumsum(self, dim, dtype=None): return F.cumsum(self, dim, dtype)
    def cumprod(self, dim, dtype=None): return F.cumprod(self, dim, dtype)
    def cummax(self, dim): return F.cummax(self, dim)
    def cummin(self, dim): return F.cummin(self, dim)
    def logcumsumexp(self, dim): return F.logcumsumexp(self, dim)
    def amax(self, dim=(), keepdim=False): return F.amax(self, dim, keepdim)
    def amin(self, dim=(), keepdim=False): return F.amin(self, dim, keepdim)
    def norm(self, p="fro", dim=None, keepdim=False): return F.norm(self, p, dim, keepdim)
    def sort(self, dim=-1, descending=False, stable=False): return F.sort(self, dim, descending)
    def argsort(self, dim=-1, descending=False, stable=False): return F.argsort(self, dim, descending)
    def msort(self): return F.msort(self)
    def topk(self, k, dim=-1, largest=True, sorted=True): return F.topk(self, k, dim, largest, sorted)
    def kthvalue(self, k, dim=-1, keepdim=False): return F.kthvalue(self, k, dim, keepdim)
    def median(self, dim=None, keepdim=False): return F.median(self, dim, keepdim)
    def mode(self, dim=-1, keepdim=False): return F.mode(self, dim, keepdim)
    def gather(self, dim, index): return F.gather(self, dim, index)
    def scatter(self, dim, index, src=None, value=None, reduce=None):
        return F.scatter(self, dim, index, src, value, reduce)
    def scatter_add(self, dim, index, src): return F.scatter_add(self, dim, index, src)
    def scatter_reduce(self, dim, index, src, reduce, include_self=True):
        return F.scatter_reduce(self, dim, index, src, reduce, include_self)
    def index_select(self, dim, index): return F.index_select(self, dim, index)
    def index_add(self, dim, index, source, alpha=1): return F.index_add(self, dim, index, source, alpha)
    def masked_fill(self, mask, value): return F.masked_fill(self, mask, value)
    def masked_select(self, mask): return F.masked_select(self, mask)
    def nonzero(self, as_tuple=False): return F.nonzero(self, as_tuple)
    def take(self, index): return F.take(self, index)
    def tril(self, diagonal=0): return F.tril(self, diagonal)
    def triu(self, diagonal=0): return F.triu(self, diagonal)
    def diag(self, diagonal=0): return F.diag(self, diagonal)
    def diagonal(self, offset=0, dim1=0, dim2=1): return F.diagonal(self, offset, dim1, dim2)
    def flip(self, *dims): return F.flip(self, _shape_args(dims))
    def roll(self, shifts, dims=None): return F.roll(self, shifts, dims)
    def repeat(self, *sizes): return F.repeat(self, *_shape_args(sizes))
    def repeat_interleave(self, repeats, dim=None): return F.repeat_interleave(self, repeats, dim)
    def tile(self, *dims): return F.tile(self, _shape_args(dims))
    def unflatten(self, dim, sizes): return F.unflatten(self, dim, sizes)
    def movedim(self, source, destination): return F.movedim(self, source, destination)
    moveaxis = movedim
    def narrow(self, dim, start, length): return F.narrow(self, dim, start, length)
    def chunk(self, chunks, dim=0): return F.chunk(self, chunks, dim)
    def unbind(self, dim=0): return F.unbind(self, dim)


def _shape_args(args):
    """Accept both t.reshape(2, 3) and t.reshape((2, 3))."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


accept_numpy_names_in(TensorMethods)  # x.sum(axis=1, keepdims=True) as well as dim=, keepdim=
