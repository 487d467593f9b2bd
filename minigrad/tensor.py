"""`Tensor`: one NumPy or CuPy array plus what autograd needs to know about it.

The array lives in `.data`. `requires_grad` marks tensors we want gradients
for; `grad_fn` is the Function that produced this tensor (None for leaves);
`grad` is filled by `backward()`. Every math method delegates to
`minigrad.functional` (called `F` below), where each operation is defined
once: `x + y` is `F.add(x, y)`, defined in ops/elementwise.py.

Layers: tensor.py sits above the engine (autograd.py) and below the ops,
which import Tensor. So it cannot import `minigrad.functional`; instead
functional.py, when it is imported (always, by `import minigrad`), hands
itself over with `use_functional`. In the other direction, this module hands
the Tensor class to the engine (`autograd.use_tensor_class`, at the bottom).
"""
import numpy as np

from . import autograd, backend, hooks
from .backward import initial_grad, run_backward

# minigrad.functional, set by `use_functional` when functional.py is imported.
F = None


def use_functional(module):
    """Called once by minigrad/functional.py: where Tensor's methods find the ops."""
    global F
    F = module


float32 = np.float32
float64 = np.float64
float16 = np.float16
int32 = np.int32
int64 = np.int64
bool_ = np.bool_


def default_dtype_for(value):
    """dtype for Python data, as torch.tensor does: floats -> float32, ints -> int64."""
    probe = np.asarray(value)
    if probe.dtype.kind == "f":
        return np.float32
    if probe.dtype.kind in "iu":
        return np.int64
    return probe.dtype


class VersionCounter:
    """How many times an array has been modified in place.

    A backward that reads a saved tensor checks that the count has not moved
    since the tensor was saved: otherwise the values it would read were
    overwritten and the gradient would be silently wrong. Tensors that share
    one array (`detach()`) share one counter.

    `rebases` counts only the in-place ops that were recorded in a graph: a view
    taken before one of them still carries the old history (see _mark_views)."""

    __slots__ = ("value", "rebases")

    def __init__(self):
        self.value = 0
        self.rebases = 0


class Tensor:
    __array_priority__ = 1000  # make `ndarray * Tensor` call Tensor.__rmul__
    _grad_hooks = None  # a leaf's gradient hooks, {id: hook} (register_hook)

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        if isinstance(data, Tensor):
            data = data.data
        if isinstance(data, np.generic):  # a NumPy scalar keeps its dtype, like an array
            data = np.asarray(data)
        if backend.is_array(data):
            array_device = backend.device_of_array(data)
            device = array_device if device is None else backend.normalize_device(device)
            data = backend.to_device(data, device)
            xp = backend.xp_of_device(device)
            data = xp.array(data, dtype=dtype, copy=True)  # a tensor owns its memory
        else:
            device = backend.normalize_device(device)
            xp = backend.xp_of_device(device)
            with backend.device_scope(device):
                data = xp.asarray(np.asarray(data, dtype=dtype or default_dtype_for(data)))
        self._init(data, device)
        self.requires_grad_(requires_grad)

    def _init(self, data, device):
        self.data = data
        self.device = device
        self.grad = None
        self.grad_fn = None
        self.requires_grad = False
        self._output_index = 0
        self._retains_grad = False
        self._version_counter = VersionCounter()
        self._is_view = False  # set by the engine when the array views another tensor's memory

    @classmethod
    def _wrap(cls, array, device):
        """A Tensor around an existing array, without copying (internal)."""
        if isinstance(array, np.generic):  # NumPy reductions return scalars, not 0-d arrays
            array = np.asarray(array)
        t = cls.__new__(cls)
        t._init(array, device)
        return t

    @classmethod
    def _constant(cls, value, like):
        """A Python number or array as a constant on `like`'s device and dtype."""
        xp = like.xp
        dtype = like.dtype if like.dtype.kind == "f" else None
        if dtype is None and isinstance(value, float):
            dtype = np.float32
        with backend.device_scope(like.device):
            array = xp.asarray(value, dtype=dtype)
        if array.dtype == np.float64 and like.dtype.kind != "f" and not backend.is_array(value):
            array = array.astype(np.float32)
        return cls._wrap(array, like.device)

    # ------------------------------------------------------------ properties
    @property
    def xp(self):
        return backend.xp_of_device(self.device)

    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return int(self.data.size)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def _version(self):
        """The in-place modification count of this tensor's array (see VersionCounter)."""
        return self._version_counter.value

    @_version.setter
    def _version(self, value):
        self._version_counter.value = int(value)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.dtype.kind not in "fc":
            raise TypeError(f"only floating-point tensors can require gradients, but this tensor "
                            f"has dtype {self.dtype} (shape {self.shape}); create it with "
                            "dtype=minigrad.float32 or call .astype(minigrad.float32) first")
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad can only be switched off on leaf tensors; "
                               "use .detach() instead")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self):
        """Keep `.grad` for this non-leaf tensor after backward."""
        self._retains_grad = True
        return self

    # ------------------------------------------------------------- conversion
    def numpy(self):
        """The values as a NumPy array on the host (a copy when on the GPU)."""
        return backend.to_numpy(self.data)

    def tolist(self):
        return self.numpy().tolist()

    def item(self):
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.numpy().reshape(-1)[0].item()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.size != 1:
            raise RuntimeError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                               "use .any() or .all()")
        return bool(self.item())

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def detach(self):
        """The same values, cut off from the graph (shares memory, so also the version counter)."""
        out = Tensor._wrap(self.data, self.device)
        out._version_counter = self._version_counter
        return out

    def to(self, device=None, dtype=None):
        out = self
        if device is not None:
            device = backend.normalize_device(device)
            if device != self.device:
                out = F.to_device(out, device)
        if dtype is not None:
            out = out.astype(dtype)
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, index=0):
        return self.to(f"cuda:{index}")

    def astype(self, dtype):
        return F.astype(self, dtype)

    def float(self):
        return self.astype(np.float32)

    def double(self):
        return self.astype(np.float64)

    def clone(self):
        return F.clone(self)

    # ------------------------------------------------------------- in place
    # These write into this tensor's own array (same Tensor, same array object)
    # and bump its version counter, so that a backward which saved the old
    # values notices they are gone instead of returning a wrong gradient.
    # Under `no_grad` (optimizer updates) nothing is recorded; with grad on, a
    # leaf that requires grad refuses, as in PyTorch. See ops/inplace.py.
    def add_(self, other, alpha=1): return F.add_(self, other, alpha)
    def sub_(self, other, alpha=1): return F.sub_(self, other, alpha)
    def mul_(self, other): return F.mul_(self, other)
    def div_(self, other): return F.div_(self, other)
    def pow_(self, exponent): return F.pow_(self, exponent)
    def neg_(self): return F.neg_(self)
    def exp_(self): return F.exp_(self)
    def log_(self): return F.log_(self)
    def sqrt_(self): return F.sqrt_(self)
    def abs_(self): return F.abs_(self)
    def sin_(self): return F.sin_(self)
    def cos_(self): return F.cos_(self)
    def tanh_(self): return F.tanh_(self)
    def sigmoid_(self): return F.sigmoid_(self)
    def relu_(self): return F.relu_(self)
    def clip_(self, min=None, max=None): return F.clip_(self, min, max)
    clamp_ = clip_
    def zero_(self): return F.zero_(self)
    def fill_(self, value): return F.fill_(self, value)
    def copy_(self, source): return F.copy_(self, source)

    # `x += y` is x.add_(y), as in PyTorch (Python's fallback, x = x + y, would
    # leave every other reference to x, e.g. an optimizer's, unchanged).
    def __iadd__(self, other): return F.add_(self, other)
    def __isub__(self, other): return F.sub_(self, other)
    def __imul__(self, other): return F.mul_(self, other)
    def __itruediv__(self, other): return F.div_(self, other)
    def __ipow__(self, other): return F.pow_(self, other)

    # --------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Accumulate d(self)/d(leaf) into the `.grad` of every leaf that requires it.

        The graph is freed afterwards unless `retain_graph` (which defaults to
        `create_graph`, as in PyTorch: a graph of gradients still needs it)."""
        gradient = initial_grad(self, gradient, "backward")
        if retain_graph is None:
            retain_graph = create_graph
        run_backward([self], [gradient], retain_graph, create_graph)

    def register_hook(self, hook):
        """Call `hook(grad)` when backward computes this tensor's gradient (summed
        over its uses); a returned Tensor replaces the gradient, None leaves it.
        On a leaf it runs before `.grad` is updated. Returns a handle with
        `.remove()`. See minigrad/hooks.py."""
        return hooks.register_tensor_hook(self, hook)

    # ------------------------------------------------------------------ repr
    def __repr__(self):
        values = np.array2string(self.numpy(), separator=", ", precision=4, threshold=50,
                                 prefix="tensor(")
        extras = [f"shape={self.shape}", f"dtype={self.dtype}"]
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"tensor({values}, {', '.join(extras)})"

    # ------------------------------------------------------ indexing (setitem)
    def __getitem__(self, index):
        return F.getitem(self, index)

    def __setitem__(self, index, value):
        F.setitem(self, index, value)  # in place: see the in-place section above

    # ---------------------------------------------------------------- operators
    def __add__(self, other): return F.add(self, other)
    def __radd__(self, other): return F.add(other, self)
    def __sub__(self, other): return F.sub(self, other)
    def __rsub__(self, other): return F.sub(other, self)
    def __mul__(self, other): return F.mul(self, other)
    def __rmul__(self, other): return F.mul(other, self)
    def __truediv__(self, other): return F.div(self, other)
    def __rtruediv__(self, other): return F.div(other, self)
    def __pow__(self, other): return F.pow(self, other)
    def __rpow__(self, other): return F.pow(other, self)
    def __matmul__(self, other): return F.matmul(self, other)
    def __rmatmul__(self, other): return F.matmul(other, self)
    def __neg__(self): return F.neg(self)
    def __pos__(self): return self
    def __abs__(self): return F.abs(self)

    # Comparisons give boolean tensors that are not part of the graph.
    def __eq__(self, other): return F.equal(self, other)
    def __ne__(self, other): return F.not_equal(self, other)
    def __lt__(self, other): return F.less(self, other)
    def __le__(self, other): return F.less_equal(self, other)
    def __gt__(self, other): return F.greater(self, other)
    def __ge__(self, other): return F.greater_equal(self, other)
    def __invert__(self): return F.logical_not(self)
    def __and__(self, other): return F.logical_and(self, other)
    def __or__(self, other): return F.logical_or(self, other)
    __hash__ = object.__hash__  # tensors are dict keys by identity (optimizer state)

    # ----------------------------------------------------------------- methods
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

    def sum(self, axis=None, keepdims=False, dtype=None): return F.sum(self, axis, keepdims, dtype)
    def mean(self, axis=None, keepdims=False): return F.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return F.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return F.min(self, axis, keepdims)
    def var(self, axis=None, keepdims=False, ddof=0): return F.var(self, axis, keepdims, ddof)
    def std(self, axis=None, keepdims=False, ddof=0): return F.std(self, axis, keepdims, ddof)
    def logsumexp(self, axis=None, keepdims=False): return F.logsumexp(self, axis, keepdims)
    def softmax(self, axis=-1): return F.softmax(self, axis)
    def log_softmax(self, axis=-1): return F.log_softmax(self, axis)
    def argmax(self, axis=None, keepdims=False): return F.argmax(self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return F.argmin(self, axis, keepdims)
    def any(self, axis=None, keepdims=False): return F.any(self, axis, keepdims)
    def all(self, axis=None, keepdims=False): return F.all(self, axis, keepdims)
    def matmul(self, other): return F.matmul(self, other)
    def dot(self, other): return F.matmul(self, other)

    def reshape(self, *shape): return F.reshape(self, _shape_args(shape))
    def view(self, *shape): return F.reshape(self, _shape_args(shape))
    def transpose(self, *axes): return F.transpose(self, _shape_args(axes) or None)
    def permute(self, *axes): return F.permute(self, _shape_args(axes))
    def swapaxes(self, axis1, axis2): return F.swapaxes(self, axis1, axis2)
    def flatten(self, start_axis=0, end_axis=-1): return F.flatten(self, start_axis, end_axis)
    def squeeze(self, axis=None): return F.squeeze(self, axis)
    def unsqueeze(self, axis): return F.unsqueeze(self, axis)
    def expand(self, *shape): return F.expand(self, _shape_args(shape))
    def broadcast_to(self, shape): return F.broadcast_to(self, shape)
    def split(self, indices_or_sections, axis=0): return F.split(self, indices_or_sections, axis)
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


autograd.use_tensor_class(Tensor)  # the engine wraps its arrays in this class
