"""SOAP: Adam run in the eigenbasis of Shampoo's preconditioner."""
import math

import numpy as np

from .moments import ema_, ema_square_
from .optimizer import Optimizer, check_betas, check_range
from .shampoo import mode_gram, mode_product


def eigenbasis(gram):
    """Eigenvectors of a symmetric matrix, by decreasing eigenvalue
    (computed in float64, returned in the matrix's dtype)."""
    _, q = np.linalg.eigh(gram.astype(np.float64))
    return q[:, ::-1].astype(gram.dtype)


def rotate(x, bases, back=False):
    """x in the eigenbasis (x x_i Q_i^T for every dimension i with a basis),
    or back=True: from the eigenbasis to the parameter's (x x_i Q_i)."""
    for axis, q in enumerate(bases):
        if q is not None:
            x = mode_product(x, q if back else q.T, axis)
    return x


class SOAP(Optimizer):
    r"""SOAP ("ShampoO with Adam in the Preconditioner's eigenbasis"): Vyas et
    al. 2024, "SOAP: Improving and Stabilizing Shampoo using Adam" (arXiv
    2409.11321).

    Follows `pytorch_optimizer.SOAP` (the original `nikhilvyas/SOAP` code, with
    m kept in the parameter's own basis and rotated each step), without its
    merge_dims / normalize_gradient / data_format options. Per tensor, with
    L_i the Shampoo statistic of dimension i and Q_i its eigenvectors:

        first step:  L_i = (1 - shampoo_beta) G_(i) G_(i)^T,  Q_i = eigenvectors of L_i;
                     NO parameter update (the projection never uses the gradient it rotates)
        then, t = 1, 2, ...:
            g'    =  rotate(g)                       (g x_i Q_i^T: g in the eigenbasis)
            m     <- beta1 * m + (1 - beta1) * g      (in the parameter's basis)
            v     <- beta2 * v + (1 - beta2) * g'^2   (in the eigenbasis: Adam's v, rotated)
            u     =  rotate_back(rotate(m) / (sqrt(v) + eps))
            theta <- theta - lr * sqrt(1 - beta2^t) / (1 - beta1^t) * u     (correct_bias=False: lr)
            theta <- theta * (1 - lr * weight_decay)                       (decoupled, after the step)
            L_i   <- shampoo_beta * L_i + (1 - shampoo_beta) * G_(i) G_(i)^T
            every precondition_frequency steps: one power-iteration step
                  Q_i <- QR(L_i Q_i), columns sorted by the estimated eigenvalues diag(Q_i^T L_i Q_i),
                  and v's entries permuted along dimension i to follow them.

    A dimension longer than max_precond_dim, and a 1-D tensor unless
    precondition_1d=True, gets no basis (identity): there SOAP is Adam
    (with eps added before the bias correction). Eigenvector signs do not
    matter (the update is invariant to them); repeated eigenvalues make the
    basis, and so the trajectory, implementation-dependent. The weight decay
    stays in these equations: it acts after the step. state["step"] counts the
    first step too, so t = state["step"] - 1.
    """

    def __init__(self, params, lr=3e-3, betas=(0.95, 0.95), shampoo_beta=None, eps=1e-8,
                 weight_decay=0.01, precondition_frequency=10, max_precond_dim=10000,
                 precondition_1d=False, correct_bias=True, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, shampoo_beta=shampoo_beta, eps=eps,
                                      weight_decay=weight_decay,
                                      precondition_frequency=precondition_frequency,
                                      max_precond_dim=max_precond_dim,
                                      precondition_1d=precondition_1d, correct_bias=correct_bias,
                                      maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_betas(self, group["betas"])
        if group["shampoo_beta"] is not None:
            check_range(self, "shampoo_beta", group["shampoo_beta"], low=0.0, high=1.0)
        check_range(self, "eps", group["eps"], low=0.0)
        check_range(self, "precondition_frequency", group["precondition_frequency"], low=1)
        check_range(self, "max_precond_dim", group["max_precond_dim"], low=1)

    def init_state(self, param, group):
        shape = param.shape or (1,)  # a 0-d parameter is treated as a vector of length 1
        has_basis = param.ndim >= 2 or group["precondition_1d"]
        stats = [np.zeros_like(param, shape=(d, d)) if has_basis and d <= group["max_precond_dim"]
                 else None for d in shape]
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param),
                "GG": stats, "Q": None}

    def update(self, param, grad, state, group):
        g = grad.reshape(grad.shape or (1,))
        if state["Q"] is None:  # first step: build the eigenbasis from g, do not move
            self._accumulate(state, g, group)
            state["Q"] = [None if gg is None else eigenbasis(gg) for gg in state["GG"]]
            return

        t, lr, (beta1, beta2) = state["step"] - 1, group["lr"], group["betas"]
        m_ = ema_(state["exp_avg"].reshape(g.shape), g, beta1)
        v_ = ema_square_(state["exp_avg_sq"].reshape(g.shape), rotate(g, state["Q"]), beta2)

        u = rotate(rotate(m_, state["Q"]) / (np.sqrt(v_) + group["eps"]), state["Q"], back=True)
        step_size = lr
        if group["correct_bias"]:
            step_size = lr * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
        param -= step_size * u.reshape(param.shape)
        if group["weight_decay"]:
            param *= 1.0 - lr * group["weight_decay"]

        self._accumulate(state, g, group)
        if t % group["precondition_frequency"] == 0:
            self._refresh_basis(state, g.shape)

    @staticmethod
    def _accumulate(state, g, group):
        """L_i <- shampoo_beta * L_i + (1 - shampoo_beta) * G_(i) G_(i)^T."""
        beta = group["betas"][1] if group["shampoo_beta"] is None else group["shampoo_beta"]
        for axis, gg in enumerate(state["GG"]):
            if gg is not None:
                ema_(gg, mode_gram(g, axis), beta)

    @staticmethod
    def _refresh_basis(state, shape):
        """One power-iteration step per basis, Q_i <- QR(L_i Q_i), with v's
        coordinates permuted to follow the re-sorted eigenvectors."""
        v = state["exp_avg_sq"].reshape(shape)
        for axis, (gg, q) in enumerate(zip(state["GG"], state["Q"])):
            if gg is None:
                continue
            power = gg @ q                                  # (d, d)
            estimated = (q * power).sum(axis=0)             # diag(Q^T L Q): eigenvalue estimates
            order = np.argsort(-estimated)                  # decreasing, as eigenbasis() sorts
            v = np.take(v, order, axis=axis)
            q_new, _ = np.linalg.qr(power[:, order].astype(np.float64))
            state["Q"][axis] = q_new.astype(q.dtype)
        state["exp_avg_sq"] = v.reshape(state["exp_avg_sq"].shape)
