"""dim= and axis=: PyTorch's and NumPy's names for the same argument.

minigrad spells its arguments as PyTorch does, `x.sum(dim=1, keepdim=True)`,
and also takes NumPy's spelling, `x.sum(axis=1, keepdims=True)`, so code
written for either library reads naturally. The translation is written once,
here, and applied where the public names are: `functional.py` wraps every op
that has a `dim` (or `keepdim`, `start_dim`, `end_dim`) argument with
`accepts_numpy_names`, tensor_methods.py does the same for the Tensor methods,
and ops/reduce.py and ops/shape.py mark theirs with `@accepts_numpy_names`
(other ops call them with either name). Inside an op, only PyTorch's names exist.
"""
import functools
import inspect

# NumPy's name -> PyTorch's name for the same argument.
NUMPY_NAMES = {"axis": "dim", "keepdims": "keepdim", "start_axis": "start_dim", "end_axis": "end_dim"}


def accepts_numpy_names(fn):
    """fn, also accepting NumPy's argument names (axis=, keepdims=, ...) for its
    PyTorch ones (dim=, keepdim=, ...). Passing both names of one argument is a
    TypeError, as Python's own 'got multiple values for argument' would be.
    Returns fn itself when it has none of PyTorch's names."""
    parameters = inspect.signature(fn).parameters
    renames = {}  # numpy name -> (torch name, its position, or None if keyword-only)
    for numpy_name, torch_name in NUMPY_NAMES.items():
        if torch_name in parameters and numpy_name not in parameters:
            parameter = parameters[torch_name]
            positional = parameter.kind == parameter.POSITIONAL_OR_KEYWORD
            renames[numpy_name] = (torch_name, list(parameters).index(torch_name) if positional else None)
    if not renames or getattr(fn, "accepts_numpy_names", False):
        return fn  # nothing to translate, or already wrapped

    @functools.wraps(fn)
    def with_numpy_names(*args, **kwargs):
        if kwargs:  # (the common call has none: nothing to translate)
            for numpy_name in renames.keys() & kwargs.keys():
                torch_name, position = renames[numpy_name]
                if torch_name in kwargs or (position is not None and len(args) > position):
                    raise TypeError(f"{fn.__name__}: got both {torch_name}= and {numpy_name}=, which "
                                    f"are one argument ({numpy_name} is NumPy's name for PyTorch's "
                                    f"{torch_name}); pass only one of them")
                kwargs[torch_name] = kwargs.pop(numpy_name)
        return fn(*args, **kwargs)
    with_numpy_names.accepts_numpy_names = True
    return with_numpy_names


def accept_numpy_names_in(owner):
    """Wrap, in place, every public function of `owner` (a module or a class)
    that takes dim=/keepdim=/... with accepts_numpy_names."""
    for name, value in list(vars(owner).items()):
        if inspect.isfunction(value) and not name.startswith("_"):
            setattr(owner, name, accepts_numpy_names(value))
