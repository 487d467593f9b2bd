"""The test functions of optimizer_zoo.py (a helper for the examples, not a script):
four classic 2-D problems.

Each is a sum of squared residuals, f(x, y) = sum_i r_i(x, y)^2 + c, written
once with plain operators so that the same code runs on minigrad Tensors
(for gradients) and on NumPy arrays (for contour maps). Writing them as
residuals also gives SophiaG what it needs: "sampled labels" for a
least-squares loss (see `Problem.gauss_newton_probe`).
"""
import math

import numpy as np

import minigrad


class Problem:
    """f(x, y) = sum_i r_i(x, y)^2 + offset, with where to start and what to plot."""

    def __init__(self, name, residuals, offset, start, minima, window, tol):
        self.name, self.residuals, self.offset = name, residuals, offset
        self.start, self.minima, self.window, self.tol = start, minima, window, tol
        self.f_star = float(self.value(*minima[0]))

    def value(self, x, y):
        """Works on Tensors and on NumPy arrays alike: only operators are used."""
        total = self.offset
        for r in self.residuals(x, y):
            total = total + r * r
        return total

    def on_map(self, point):
        """Is `point` finite and within the plotted window widened by its own size
        on every side? A run that leaves it counts as diverged."""
        x0, x1, y0, y1 = self.window
        x, y = point
        w, h = x1 - x0, y1 - y0
        return bool(np.isfinite(x) and np.isfinite(y) and x0 - w <= x <= x1 + w
                    and y0 - h <= y <= y1 + h)

    def loss(self, p):
        flat = p.reshape(2)  # Muon's parameter is a 1x2 matrix
        return self.value(flat[0], flat[1])

    def gauss_newton_probe(self, p):
        """Squared error against targets drawn from N(r, 1/2): "sampled labels"
        for a sum of squares. Its gradient g = -2 sum_i eps_i grad r_i has
        E[g g^T] = 2 J^T J, the Gauss-Newton matrix of f (SophiaG's estimate)."""
        flat = p.reshape(2)
        total = 0.0
        for r in self.residuals(flat[0], flat[1]):
            target = r.detach() + math.sqrt(0.5) * minigrad.randn(*r.shape, dtype=r.dtype)
            total = total + (r - target) * (r - target)
        return total


def rosenbrock(x, y):
    return [1.0 - x, 10.0 * (y - x * x)]


def beale(x, y):
    return [1.5 - x + x * y, 2.25 - x + x * y * y, 2.625 - x + x * y * y * y]


def saddle(x, y):
    return [x, (y * y - 1.0) * math.sqrt(0.5)]


def quadratic(x, y):
    return [x * math.sqrt(0.5), y * math.sqrt(50.0)]


PROBLEMS = {
    "rosenbrock": Problem("rosenbrock", rosenbrock, 0.0, (-1.2, 1.0), [(1.0, 1.0)],
                          (-2.0, 2.0, -1.0, 3.0), tol=1e-2),  # the valley is slow: looser
    "beale": Problem("beale", beale, 0.0, (1.0, 1.5), [(3.0, 0.5)],
                     (-0.5, 4.0, -1.0, 2.0), tol=1e-3),
    "saddle": Problem("saddle", saddle, -0.5, (1.0, 1e-3), [(0.0, 1.0), (0.0, -1.0)],
                      (-1.5, 1.5, -1.5, 1.5), tol=1e-3),
    "quadratic": Problem("quadratic", quadratic, 0.0, (-3.0, 1.0), [(0.0, 0.0)],
                         (-3.5, 3.5, -1.5, 1.5), tol=1e-3),
}
