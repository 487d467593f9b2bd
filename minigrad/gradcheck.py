"""Check analytical gradients against finite differences.

`gradcheck(fn, inputs)` compares what backward computes with central
differences (f(x + eps) - f(x - eps)) / 2 eps, in float64.

Two details make the check trustworthy:

* The outputs are contracted with a *random* upstream gradient v, never with
  ones: sum(softmax(x)) is constant, so with ones a softmax backward with the
  wrong sign would still "pass".
* Full mode builds the whole Jacobian J (one backward per output element, two
  forwards per input element); fast mode compares v^T J u for a random
  direction u (one backward, two forwards), for inputs too big for the full one.
"""
import warnings

import numpy as np

from . import backend
from .backward import grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    pass


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _prepare(inputs, caller):
    """Inputs as float64 tensors; a warning for lower precision."""
    inputs = _as_tuple(inputs)
    prepared = []
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            prepared.append(x)
            continue
        if x.requires_grad and x.dtype != np.float64:
            warnings.warn(f"{caller}: input {i} is {x.dtype}; finite differences need float64 "
                          "to be meaningful, so the check runs on a float64 copy", stacklevel=3)
            x = Tensor(x.data.astype(np.float64), requires_grad=True)
        prepared.append(x)
    return prepared


def _outputs(fn, inputs):
    return [o for o in _as_tuple(fn(*inputs)) if isinstance(o, Tensor)]


def _random_like(t, generator):
    return Tensor._wrap(backend.to_device(generator.standard_normal(t.shape), t.device), t.device)


def _numerical_derivative(fn, inputs, x, direction, cotangents, eps):
    """d/dh of sum_k <v_k, f_k(x + h * direction)> at h = 0, by central differences.

    `direction` is an array shaped like x; x is restored afterwards."""
    original = x.data.copy()
    try:
        # Not under no_grad: fn may itself differentiate (gradgradcheck's fn does).
        x.data = original + eps * direction
        plus = _contract(_outputs(fn, inputs), cotangents)
        x.data = original - eps * direction
        minus = _contract(_outputs(fn, inputs), cotangents)
    finally:
        x.data = original
    return (plus - minus) / (2 * eps)


def _contract(outputs, cotangents):
    return sum(float((o.data * v.data).sum()) for o, v in zip(outputs, cotangents))


def _analytical_vjp(fn, inputs, differentiable, cotangents):
    outputs = _outputs(fn, inputs)
    used = [(o, v) for o, v in zip(outputs, cotangents) if o.requires_grad]
    if not used:  # host arrays, as below: they are compared with host finite differences
        return [np.zeros(x.shape) for x in differentiable]
    grads = grad([o for o, _ in used], differentiable, [v for _, v in used],
                 allow_unused=True)
    return [np.zeros(x.shape) if g is None else backend.to_numpy(g.data)
            for x, g in zip(differentiable, grads)]


def _fail(message, raise_exception):
    if raise_exception:
        raise GradcheckError(message)
    return False


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=False,
              raise_exception=True, seed=0):
    """True if the gradients of `fn` at `inputs` match finite differences.

    fn: takes the inputs, returns a Tensor or a tuple of Tensors.
    inputs: a Tensor or a tuple; those with requires_grad=True are checked.
    On failure raises GradcheckError naming the input, the worst element and
    both values (or returns False with raise_exception=False)."""
    generator = np.random.default_rng(seed)
    inputs = _prepare(inputs, "gradcheck")
    differentiable = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    if not differentiable:
        raise ValueError("gradcheck: no input has requires_grad=True, nothing to check")
    outputs = _outputs(fn, inputs)  # (with grad on: fn may differentiate inside)
    if not outputs:
        raise ValueError("gradcheck: fn returned no Tensor outputs, nothing to check")
    cotangents = [_random_like(o, generator) for o in outputs]
    analytical = _analytical_vjp(fn, inputs, differentiable, cotangents)

    for index, (x, g) in enumerate(zip(differentiable, analytical)):
        if fast_mode:
            u = generator.standard_normal(x.shape)
            numeric = _numerical_derivative(fn, inputs, x, backend.to_device(u, x.device),
                                            cotangents, eps)
            expected = float((g * u).sum())
            if not np.isclose(expected, numeric, rtol=rtol, atol=atol):
                return _fail(f"gradcheck (fast mode) failed for input {index} (shape {x.shape}): "
                             f"v^T J u is {expected!r} by backward but {numeric!r} by finite "
                             f"differences (atol={atol}, rtol={rtol})", raise_exception)
            continue
        numeric = np.zeros(x.shape)
        for position in np.ndindex(*x.shape):
            direction = x.xp.zeros(x.shape)
            direction[position] = 1.0
            numeric[position] = _numerical_derivative(fn, inputs, x, direction, cotangents, eps)
        error = np.abs(g - numeric) - (atol + rtol * np.abs(numeric))
        if error.size and error.max() > 0:
            worst = np.unravel_index(np.argmax(error), x.shape)
            return _fail(f"gradcheck failed for input {index} (shape {x.shape}): at element "
                         f"{tuple(int(i) for i in worst)} backward gives {g[worst]!r} but finite "
                         f"differences give {numeric[worst]!r} (atol={atol}, rtol={rtol}); "
                         f"{int((error > 0).sum())} of {x.numel()} elements differ", raise_exception)
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3,
                  fast_mode=False, raise_exception=True, seed=1):
    """Check second derivatives: gradcheck applied to the backward pass itself.

    The function checked is (inputs, v) -> grad(fn(inputs), inputs, v,
    create_graph=True), differentiated with respect to the inputs and to the
    upstream gradient v (random unless `grad_outputs` is given)."""
    generator = np.random.default_rng(seed)
    inputs = _prepare(inputs, "gradgradcheck")
    positions = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    outputs = _outputs(fn, inputs)
    if grad_outputs is None:
        grad_outputs = [_random_like(o, generator) for o in outputs]
    grad_outputs = [Tensor(v.data.astype(np.float64), requires_grad=True)
                    for v in _as_tuple(grad_outputs)]

    def first_derivatives(*args):
        xs, vs = args[:len(inputs)], args[len(inputs):]
        outs = _outputs(fn, xs)
        used = [(o, v) for o, v in zip(outs, vs) if o.requires_grad]
        gs = grad([o for o, _ in used], [xs[i] for i in positions], [v for _, v in used],
                  create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_derivatives, tuple(inputs) + tuple(grad_outputs), eps, atol, rtol,
                     fast_mode, raise_exception, seed)
