"""`Tensor`: one NumPy or CuPy array plus what autograd needs to know about it.

The array lives in `.data`. `requires_grad` marks tensors we want gradients
for; `grad_fn` is the Function that produced this tensor (None for leaves);
`grad` is filled by `backward()`. Every math method delegates to
`minigrad.functional` (called `F` below), where each operation is defined
once: `x + y` is `F.add(x, y)`, defined in ops/elementwise.py. The operators
are here; the named methods (`x.exp()`, `x.sum(dim=1)`) are inherited from
`TensorMethods`, in tensor_methods.py.

Layers: tensor.py sits above the engine (autograd.py) and below the ops,
which import Tensor. So it cannot import `minigrad.functional`; instead
functional.py, when it is imported (always, by `import minigrad`), hands
itself over with `use_functional`. In the other direction, this module hands
the Tensor class to the engine (`autograd.use_tensor_class`, at the bottom).
"""
import numpy as np

from . import autograd, backend, dtypes, hooks, tensor_methods
from .backward import initial_grad, run_backward
from .dtypes import bool_, float16, float32, float64, int32, int64  # noqa: F401 (minigrad.float32, ...)
from .tensor_methods import TensorMethods

# minigrad.functional, set by `use_functional` when functional.py is imported.
F = None


def use_functional(module):
    """Called once by minigrad/functional.py: where Tensor's methods find the ops."""
    global F
    F = tensor_methods.F = module


# The dtype kinds a tensor can hold: bool, integers, floats, complex (np.dtype.kind).
_SUPPORTED_KINDS = "biufc"


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


class Tensor(TensorMethods):
    __array_priority__ = 1000  # make `ndarray * Tensor` call Tensor.__rmul__
    _grad_hooks = None  # a leaf's gradient hooks, {id: hook} (register_hook)
    _is_inference = False  # made under inference_mode (set in _init)

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
                data = xp.asarray(_host_array(data, dtype))
        if data.dtype.kind not in _SUPPORTED_KINDS:
            raise TypeError(f"minigrad.tensor: cannot hold an array of dtype {data.dtype}; "
                            "expected numbers: bool, integer, float or complex data")
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
        # Made under inference_mode: may never be saved for a backward (see autograd.py).
        self._is_inference = autograd._inference_mode

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
            dtype = dtypes.get_default_dtype()
        with backend.device_scope(like.device):
            array = xp.asarray(value, dtype=dtype)
        if array.dtype == np.float64 and like.dtype.kind != "f" and not backend.is_array(value):
            array = array.astype(dtypes.get_default_dtype())
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
    def dtype(self):
        return self.data.dtype

    # PyTorch's spellings of the shape queries (x.shape and x.ndim are NumPy's).
    def size(self, dim=None):
        """The shape, as a tuple; size(d) is the length of dim d (negative d counts from the end)."""
        if dim is None:
            return self.shape
        return self.shape[_dim_index(dim, self.ndim, "size")]

    def dim(self):
        """The number of dimensions (x.ndim)."""
        return self.ndim

    ndimension = dim

    def numel(self):
        """The number of elements: the product of the shape (1 for a 0-d tensor)."""
        return int(self.data.size)

    nelement = numel

    def element_size(self):
        """Bytes per element (4 for float32)."""
        return self.dtype.itemsize

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
        if requires_grad and self._is_inference and not autograd._inference_mode:
            raise RuntimeError(f"requires_grad_: this tensor (shape {self.shape}) is an inference "
                               "tensor, made under minigrad.inference_mode(), so it can never be "
                               "part of a graph; use x.clone() outside inference_mode first")
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad can only be switched off on leaf tensors; "
                               "use .detach() instead")
        self.requires_grad = bool(requires_grad)
        return self

    def is_inference(self):
        """Was this tensor made under minigrad.inference_mode()?"""
        return self._is_inference

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
        if self.numel() != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.numpy().reshape(-1)[0].item()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.numel() != 1:
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
        out._is_inference = self._is_inference  # the same memory: still an inference tensor
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

    # The casts PyTorch names by type (each a differentiable astype for floats).
    def half(self): return self.astype(np.float16)
    def float(self): return self.astype(np.float32)
    def double(self): return self.astype(np.float64)
    def int(self): return self.astype(np.int32)
    def long(self): return self.astype(np.int64)
    def bool(self): return self.astype(np.bool_)

    def bfloat16(self):
        raise TypeError(f"bfloat16: minigrad has no bfloat16 (NumPy has no such dtype), so this tensor "
                        f"(shape {self.shape}, {self.dtype}) cannot become one; use .half() for float16")

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


def _dim_index(dim, ndim, op_name):
    """dim in [-ndim, ndim) -> dim in [0, ndim); else IndexError, as in PyTorch."""
    bound = max(ndim, 1)  # a 0-d tensor accepts 0 and -1
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or not -bound <= dim < bound:
        raise IndexError(f"{op_name}: dim {dim!r} is out of range for a tensor with {ndim} "
                         f"dimension(s) (expected a dim in [{-bound}, {bound - 1}])")
    return int(dim) % bound


def _host_array(data, dtype):
    """Python data (a number, nested lists) as a NumPy array of `dtype` or of the
    dtype torch.tensor would pick, with an error naming minigrad.tensor for data
    that is not numbers in a rectangular nesting."""
    try:
        array = np.asarray(data)
    except ValueError:  # ragged nesting: [[1, 2], [3]]
        raise ValueError("minigrad.tensor: the nested lists have different lengths, so they do not "
                         f"form a rectangular array: {_preview(data)}; pad them to one length "
                         "or make one tensor per row") from None
    if array.dtype.kind not in _SUPPORTED_KINDS:
        raise TypeError(f"minigrad.tensor: cannot make a tensor from {_preview(data)} "
                        f"(of type {type(data).__name__}); expected a number, a (nested) list or "
                        "tuple of numbers, a NumPy array or a Tensor")
    return array.astype(dtype or dtypes.default_dtype_for(array) or array.dtype, copy=False)


def _preview(data, limit=60):
    text = repr(data)
    return text if len(text) <= limit else text[:limit] + "..."


autograd.use_tensor_class(Tensor)  # the engine wraps its arrays in this class
