"""Shampoo: one preconditioning matrix per tensor dimension.

Full-matrix AdaGrad would precondition a weight with n entries by an n x n
matrix: impossible for real layers. Shampoo keeps one d_i x d_i matrix per
dimension i of the tensor instead (for an m x n weight: m^2 + n^2 numbers,
not (mn)^2) and applies them along their own dimension. The helpers here
(mode_gram, mode_product, matrix_power_psd) are shared with SOAP.
"""
import numpy as np

from minigrad import backend

from .optimizer import Optimizer, check_range


def mode_gram(g, axis):
    """G_(i) G_(i)^T: the d_i x d_i Gram matrix of g unfolded along `axis`."""
    unfolded = np.moveaxis(g, axis, 0).reshape(g.shape[axis], -1)  # (d_i, numel / d_i)
    return unfolded @ unfolded.T                                     # (d_i, d_i)


def mode_product(x, matrix, axis):
    """x x_axis matrix: multiply every fibre of x along `axis` by `matrix`
    (for a 2-D x: axis 0 is matrix @ x, axis 1 is x @ matrix.T)."""
    return np.moveaxis(np.tensordot(matrix, x, axes=([1], [axis])), 0, axis)


def matrix_power_psd(h, power, floor):
    """h^power for a symmetric positive semi-definite h, via its eigen-
    decomposition h = Q diag(w) Q^T (computed in float64, returned in h's
    dtype). Eigenvalues are floored at `floor`: in exact arithmetic
    eps*I + sum(G G^T) has none below eps, but rounding can dip below."""
    w, q = np.linalg.eigh(h.astype(np.float64))
    w = np.maximum(w, floor)
    return ((q * w ** power) @ q.T).astype(h.dtype)


class Shampoo(Optimizer):
    r"""Shampoo: Gupta, Koren, Singer 2018, "Shampoo: Preconditioned
    Stochastic Tensor Optimization" (ICML, arXiv 1802.09568), Algorithm 2.

    For a parameter with k dimensions (a matrix: k = 2), step t = 1, 2, ...:

        g     <- g + weight_decay * theta                       (L2 penalty)
        H_i   <- H_i + G_(i) G_(i)^T   for each dimension i     (H_i start at epsilon * I;
                                                                 G_(i): g unfolded along i)
        P_i   =  H_i^(-1/(2k))                                  (recomputed at t = 1 and then
                                                                 every update_freq steps)
        u     =  g x_1 P_1 x_2 ... x_k P_k                       (matrix: P_L g P_R = L^-1/4 g R^-1/4)
        b     <- momentum * b + u ;   u <- b                    (only if momentum > 0; b starts at 0)
        theta <- theta - lr * u

    This is the paper's exponent -1/(2k); torch_optimizer.Shampoo uses -1/k,
    and pytorch_optimizer.Shampoo mixes momentum into the gradient. The
    inverse roots come from an eigendecomposition in float64. A dimension
    longer than max_precond_dim gets no matrix (identity along it), which
    keeps embeddings and huge layers affordable. A 1-D tensor of length n
    gets an n x n matrix: full-matrix AdaGrad.
    """

    weight_decay_form = "coupled"

    def __init__(self, params, lr=1e-1, momentum=0.0, weight_decay=0.0, epsilon=1e-4,
                 update_freq=1, max_precond_dim=8192, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      epsilon=epsilon, update_freq=update_freq,
                                      max_precond_dim=max_precond_dim, maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_range(self, "momentum", group["momentum"], low=0.0, high=1.0)
        check_range(self, "epsilon", group["epsilon"], low=0.0)
        check_range(self, "update_freq", group["update_freq"], low=1)
        check_range(self, "max_precond_dim", group["max_precond_dim"], low=1)
        if group["epsilon"] == 0:
            raise ValueError("Shampoo: epsilon must be > 0: the preconditioners start at "
                             "epsilon * I and must stay invertible")

    def init_state(self, param, group):
        xp = backend.array_module(param)  # the preconditioners live on the parameter's device
        shape = param.shape or (1,)  # a 0-d parameter is treated as a vector of length 1
        stats = [group["epsilon"] * xp.eye(d, dtype=param.dtype) if d <= group["max_precond_dim"]
                 else None for d in shape]
        return {"step": 0, "preconditioners": stats, "inverse_roots": [None] * len(shape),
                "momentum_buffer": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        g = grad.reshape(grad.shape or (1,))

        order = g.ndim
        refresh = (state["step"] - 1) % group["update_freq"] == 0
        u = g
        for axis, (h, root) in enumerate(zip(state["preconditioners"], state["inverse_roots"])):
            if h is None:
                continue
            h += mode_gram(g, axis)
            if refresh or root is None:
                root = state["inverse_roots"][axis] = matrix_power_psd(
                    h, -1.0 / (2 * order), group["epsilon"])
            u = mode_product(u, root, axis)
        u = u.reshape(param.shape)

        if group["momentum"]:
            b = state["momentum_buffer"]
            b *= group["momentum"]
            b += u
            u = b
        param -= group["lr"] * u
