"""Optimizer updates in one kernel each: read grad and state, write param and state.

The readable rules in `minigrad.optim` spend one kernel (and often one
temporary array) per arithmetic operation. These ElementwiseKernels do the
whole update of one parameter in one pass, in place, with the same operations
in the same order. They run after `Optimizer.prepare`, which has already
applied `maximize` and weight decay to grad/param; hyperparameters arrive as
host numbers (combined on the host in double precision, as the NumPy path's
Python floats are) and are cast to the array's dtype.
"""
import functools

from . import build

# torch.lerp's two forms (see optim/moments.py): exact at w = 1 for w >= 0.5.
_LERP = """
template <typename T> __device__ T lerp_(T start, T end, T w) {
    return fabs((double)w) < 0.5 ? start + w * (end - start) : end - (end - start) * ((T)1 - w);
}
"""


@functools.cache
def _sgd_plain():
    """theta <- theta - lr * g   (NumPy: param -= lr * g)"""
    return build.cupy().ElementwiseKernel(
        "T g, T lr", "T param", "param -= lr * g;", "minigrad_sgd_plain")


@functools.cache
def _sgd_momentum():
    """b <- momentum * b + (1 - dampening) * g;  g' = g + momentum * b (Nesterov) or b;
    theta <- theta - lr * g'.  NumPy: b *= momentum; b += (1 - dampening) * g; ..."""
    return build.cupy().ElementwiseKernel(
        "T g, T lr, T momentum, T one_minus_dampening, bool nesterov", "T param, T b",
        """
        b = b * momentum + one_minus_dampening * g;
        param -= lr * (nesterov ? g + momentum * b : b);
        """, "minigrad_sgd_momentum")


def sgd_update(param, grad, momentum_buffer, lr, momentum, dampening, nesterov):
    """One SGD step in place (see optim.SGD). momentum_buffer: the existing
    buffer, or None for plain SGD (momentum == 0). The first momentum step,
    which only copies g into a new buffer, stays on the NumPy path."""
    s = lambda v: build.scalar(v, param.dtype)  # noqa: E731
    if momentum_buffer is None:
        _sgd_plain()(grad, s(lr), param)
    else:
        _sgd_momentum()(grad, s(lr), s(momentum), s(1.0 - dampening), bool(nesterov),
                        param, momentum_buffer)


@functools.cache
def _adam():
    """m <- lerp(m, g, 1 - beta1);  v <- beta2 * v + ((1 - beta2) * g) * g;
    theta <- theta - step_size * m / (sqrt(v) / sqrt(bc2) + eps),
    step_size = lr / bc1, bc_i = 1 - beta_i^t (host scalars).
    NumPy: ema_(m, g, beta1); ema_square_(v, g, beta2);
           param -= (lr / bc1) * (m / (np.sqrt(v) / math.sqrt(bc2) + eps))"""
    return build.cupy().ElementwiseKernel(
        "T g, T one_minus_beta1, T beta2, T one_minus_beta2, T step_size, T sqrt_bc2, T eps",
        "T param, T m, T v",
        """
        m = lerp_(m, g, one_minus_beta1);
        v = v * beta2 + one_minus_beta2 * g * g;
        param -= step_size * (m / (sqrt(v) / sqrt_bc2 + eps));
        """, "minigrad_adam", preamble=_LERP)


def adam_update(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, step):
    """One Adam/AdamW step at step t = `step` (>= 1), in place (see optim.Adam;
    AdamW's decoupled decay happened in prepare). No amsgrad."""
    s = lambda v: build.scalar(v, param.dtype)  # noqa: E731
    bias_correction1 = 1.0 - beta1 ** step
    bias_correction2 = 1.0 - beta2 ** step
    _adam()(grad, s(1.0 - beta1), s(beta2), s(1.0 - beta2), s(lr / bias_correction1),
            s(bias_correction2 ** 0.5), s(eps), param, exp_avg, exp_avg_sq)


@functools.cache
def _lion():
    """c = lerp(m, g, 1 - beta1);  theta <- theta - lr * sign(c);  m <- lerp(m, g, 1 - beta2).
    NumPy: c = lerp(m, grad, 1 - beta1); param -= lr * np.sign(c); ema_(m, grad, beta2)"""
    return build.cupy().ElementwiseKernel(
        "T g, T lr, T one_minus_beta1, T one_minus_beta2", "T param, T m",
        """
        T c = lerp_(m, g, one_minus_beta1);
        T sign_c = c > (T)0 ? (T)1 : (c < (T)0 ? (T)-1 : c);  // sign(0) = 0, sign(nan) = nan
        param -= lr * sign_c;
        m = lerp_(m, g, one_minus_beta2);
        """, "minigrad_lion", preamble=_LERP)


def lion_update(param, grad, exp_avg, lr, beta1, beta2):
    """One Lion step in place (see optim.Lion; decoupled decay happened in prepare)."""
    s = lambda v: build.scalar(v, param.dtype)  # noqa: E731
    _lion()(grad, s(lr), s(1.0 - beta1), s(1.0 - beta2), param, exp_avg)


@functools.cache
def _rmsprop(with_momentum):
    """v <- alpha * v + ((1 - alpha) * g) * g;  a = sqrt(v) + eps;
    momentum:  b <- momentum * b + g / a;  theta <- theta - lr * b
    else:      theta <- theta - lr * (g / a)
    NumPy: ema_square_(v, g, alpha); a = np.sqrt(v) + eps; ... (not centered)"""
    if with_momentum:
        return build.cupy().ElementwiseKernel(
            "T g, T lr, T alpha, T one_minus_alpha, T eps, T momentum", "T param, T v, T b",
            """
            v = v * alpha + one_minus_alpha * g * g;
            b = b * momentum + g / (sqrt(v) + eps);
            param -= lr * b;
            """, "minigrad_rmsprop_momentum")
    return build.cupy().ElementwiseKernel(
        "T g, T lr, T alpha, T one_minus_alpha, T eps", "T param, T v",
        """
        v = v * alpha + one_minus_alpha * g * g;
        param -= lr * (g / (sqrt(v) + eps));
        """, "minigrad_rmsprop")


def rmsprop_update(param, grad, square_avg, momentum_buffer, lr, alpha, eps, momentum):
    """One RMSprop step in place (see optim.RMSprop), not centered.
    momentum_buffer is None when momentum == 0."""
    s = lambda v: build.scalar(v, param.dtype)  # noqa: E731
    if momentum_buffer is None:
        _rmsprop(False)(grad, s(lr), s(alpha), s(1.0 - alpha), s(eps), param, square_avg)
    else:
        _rmsprop(True)(grad, s(lr), s(alpha), s(1.0 - alpha), s(eps), s(momentum),
                       param, square_avg, momentum_buffer)
