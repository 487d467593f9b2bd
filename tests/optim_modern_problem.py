"""The small problem every test of the modern optimizers runs (helpers, not tests).

Parameters of several shapes (a wide and a tall matrix, a bias, a 4-D
conv-like kernel) and a gradient field that is a non-linear function of the
parameter, so that curvature and gradients change from step to step. A few
entries are tiny (so that eps matters) and one is exactly 0 (sign(0) = 0,
0 / (0 + eps)). The conv-like kernel's gradient is made orthogonal to it,
row by row, as for a weight followed by a normalisation layer (AdamP/SGDP
detect this). Gradients are set directly (p.grad = ...), so the tests
depend on the optimizer only, not on the autograd engine.
"""
import numpy as np

import minigrad

SHAPES = [(3, 4), (5, 3), (4,), (2, 3, 2, 2)]
SCALE_INVARIANT = 3  # index of the parameter whose gradient is orthogonal to it


def initial_params(shapes=SHAPES, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for shape in shapes]


def gradient(x, index):
    """A deterministic gradient for parameter number `index` at value x."""
    offset = np.random.default_rng(100 + index).normal(size=x.shape)
    g = x ** 3 - 0.5 * x + 0.3 * np.sin(3.0 * x) + offset
    flat = g.reshape(-1)
    flat[0] = 0.0                      # exactly zero
    flat[1:3] *= 1e-7                  # tiny: eps placement matters
    if index == SCALE_INVARIANT:       # remove the radial part, row by row
        rows = x.reshape(x.shape[0], -1)
        g_rows = g.reshape(x.shape[0], -1)
        g_rows -= rows * ((g_rows * rows).sum(1, keepdims=True) / (rows * rows).sum(1, keepdims=True))
    return g


def run_minigrad(optimizer_class, kwargs, steps, init=None, dtype=np.float64, grad=gradient):
    """`steps` steps of a minigrad optimizer from `init`; returns (arrays, optimizer)."""
    init = initial_params() if init is None else init
    params = [minigrad.Tensor(x.astype(dtype), requires_grad=True) for x in init]
    opt = optimizer_class(params, **kwargs)
    for _ in range(steps):
        for i, p in enumerate(params):
            p.grad = minigrad.Tensor(grad(p.data.astype(np.float64), i).astype(dtype))
        opt.step()
    return [p.data for p in params], opt


def zeros(*names):
    """A reference rule's initial state: one zero buffer per name, shaped like x."""
    return lambda x: {name: np.zeros_like(x) for name in names}


def run_reference(step, init_state, steps, init=None, grad=gradient):
    """`steps` steps of a plain-NumPy reference rule written in a test:
    state = init_state(x); x = step(x, g, state, t) with t = 1, 2, ..."""
    xs = [x.copy() for x in (initial_params() if init is None else init)]
    states = [init_state(x) for x in xs]
    for t in range(1, steps + 1):
        xs = [step(x, grad(x, i), s, t) for i, (x, s) in enumerate(zip(xs, states))]
    return xs


def assert_trajectories_close(ours, reference, atol=1e-12, rtol=1e-10):
    """The problem's gradient is elementwise (NumPy, no BLAS); the rules differ from their
    references by rounding order only, ~1 ulp per step amplified by at most 25 steps of
    the dynamics: rtol 1e-10 (with atol for entries near 0) holds on any CPU."""
    for i, (a, b) in enumerate(zip(ours, reference)):
        np.testing.assert_allclose(a, b, atol=atol, rtol=rtol, err_msg=f"parameter {i} {a.shape}")
