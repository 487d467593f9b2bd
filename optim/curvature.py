"""Curvature-aware rules: AdaHessian, SophiaH (Hutchinson) and SophiaG (Gauss-Newton-Bartlett).

Adam divides by sqrt(E[g^2]); these rules divide by an estimate of the
Hessian's DIAGONAL instead, i.e. by the curvature along each coordinate.

Hutchinson's estimator needs only Hessian-vector products: for a random z
with E[z z^T] = I (Rademacher +-1 or Gaussian entries),

    E[z * (H z)] = diag(H)        (exact, for every z, when H is diagonal and z = +-1)

and H z is the gradient of <grad f(theta), z>, i.e. one more backward pass
through the gradient's own graph. So the loss must be backpropagated with
`create_graph=True`, which makes each `p.grad` a differentiable Tensor:

    opt = AdaHessian(model.parameters())
    opt.zero_grad()
    loss_fn(model(x), y).backward(create_graph=True)
    opt.step()
    opt.zero_grad()     # drops the gradient graphs (they hold the whole forward pass)
"""
import math

import numpy as np

import minigrad
from minigrad import Tensor, no_grad

from .moments import ema_, ema_square_
from .optimizer import Optimizer, check_betas, check_range

# ----------------------------------------------------------- Hutchinson probes


def hessian_vector_products(params, vectors, retain_graph=False):
    """[H v for each parameter], from the gradient graphs built by
    `loss.backward(create_graph=True)`: H v = d<grad, v>/d theta.

    `vectors` are arrays shaped like the parameters. Parameters whose
    gradient does not depend on any parameter (zero curvature) get zeros."""
    grads = [p.grad for p in params]
    pairs = [(g, v) for g, v in zip(grads, vectors) if g.requires_grad]
    if not pairs:
        shapes = [p.shape for p in params]
        raise RuntimeError(
            "Hessian-vector products need the graph of the gradients, but no gradient has one "
            f"(parameter shapes {shapes}); call loss.backward(create_graph=True) before "
            "optimizer.step() (or the loss is linear in the parameters: zero curvature)")
    outputs = [g for g, _ in pairs]
    grad_outputs = [Tensor._wrap(v, g.device) for g, v in pairs]
    products = minigrad.grad(outputs, params, grad_outputs=grad_outputs,
                             retain_graph=retain_graph, allow_unused=True)
    return [np.zeros_like(p.data) if h is None else h.data for p, h in zip(params, products)]


def random_probe(param, distribution="rademacher"):
    """A random z shaped like `param`, with E[z z^T] = I, from the generator
    seeded by `minigrad.manual_seed`."""
    if distribution == "rademacher":
        bits = minigrad.randint(0, 2, param.shape, dtype=param.dtype, device=param.device).data
        return 2.0 * bits - 1.0
    return minigrad.randn(*param.shape, dtype=param.dtype, device=param.device).data


def hutchinson_diagonal(params, num_samples=1, distribution="rademacher"):
    """Estimates of diag(H) for each parameter: mean over samples of z * (H z)."""
    estimates = [np.zeros_like(p.data) for p in params]
    for i in range(num_samples):
        probes = [random_probe(p, distribution) for p in params]
        products = hessian_vector_products(params, probes, retain_graph=i < num_samples - 1)
        for estimate, z, hz in zip(estimates, probes, products):
            estimate += (z * hz) / float(num_samples)
    return estimates


def _check_distribution(optimizer, distribution):
    if distribution not in ("rademacher", "gaussian"):
        raise ValueError(f"{type(optimizer).__name__}: hessian_distribution must be 'rademacher' "
                         f"or 'gaussian', got {distribution!r}")


class _HutchinsonRule(Optimizer):
    """A rule that, on some steps, estimates diag(H) before its update; the
    estimate reaches `update` as state["hessian"] for that step only. The
    estimate needs every gradient's graph at once, so the rule overrides
    `update_all` (a closure, if given to `step`, must call
    `loss.backward(create_graph=True)`)."""

    needs_create_graph = True

    def _hessian_due(self):
        return True

    def _draw(self, params):
        return hutchinson_diagonal(params, 1, "rademacher")

    def update_all(self):
        if self._hessian_due():
            pairs = [(g, p) for g in self.param_groups for p in g["params"] if p.grad is not None]
            if pairs:
                estimates = self._draw([p for _, p in pairs])
                for (group, p), estimate in zip(pairs, estimates):
                    self.state_of(p, group)["hessian"] = estimate
        super().update_all()  # then the per-parameter updates


class AdaHessian(_HutchinsonRule):
    r"""AdaHessian (Yao et al., AAAI 2021): Adam with the Hessian diagonal in
    place of the squared gradient.

    Follows the official code (amirgholami/adahessian, image classification),
    step t = 1, 2, ...:

        D  = |z * (H z)|, z Rademacher         (one Hutchinson sample per step;
                                                 4-D conv kernels: D averaged over kh, kw)
        m  <- beta1 m + (1 - beta1) g
        v  <- beta2 v + (1 - beta2) D^2
        denom = (sqrt(v))^k / (sqrt(1 - beta2^t))^k + eps        (k = hessian_power)
        theta <- theta - lr / (1 - beta1^t) * (m / denom + weight_decay * theta)

    Needs `loss.backward(create_graph=True)` before every `step()`. Defaults
    are the official ones: lr=0.15, betas=(0.9, 0.999), eps=1e-4,
    hessian_power=1 (torch_optimizer's Adahessian uses 0.5; pytorch_optimizer's
    averages no conv kernels and uses eps=1e-16).
    """

    def __init__(self, params, lr=0.15, betas=(0.9, 0.999), eps=1e-4, weight_decay=0.0,
                 hessian_power=1.0, average_conv_kernel=True):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps,
                                      weight_decay=weight_decay, hessian_power=hessian_power,
                                      average_conv_kernel=average_conv_kernel))

    def validate(self, group):
        super().validate(group)
        check_betas(self, group["betas"])
        check_range(self, "eps", group["eps"], low=0.0)
        check_range(self, "hessian_power", group["hessian_power"], low=0.0, high=1.0,
                    high_inclusive=True)

    def init_state(self, param, group):
        return {"step": 0, "exp_avg": np.zeros_like(param),
                "exp_hessian_diag_sq": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        beta1, beta2 = group["betas"]
        k = group["hessian_power"]
        diagonal = np.abs(state.pop("hessian"))
        if diagonal.ndim == 4 and group["average_conv_kernel"]:
            # one curvature value per (out, in) kernel: the spatial block is too noisy
            diagonal = diagonal.mean(axis=(2, 3), keepdims=True)
        t = state["step"]
        m = ema_(state["exp_avg"], grad, beta1)
        v = ema_square_(state["exp_hessian_diag_sq"], diagonal, beta2)
        denom = np.sqrt(v) ** k / math.sqrt(1.0 - beta2 ** t) ** k + group["eps"]
        step_size = group["lr"] / (1.0 - beta1 ** t)
        param -= step_size * (m / denom + group["weight_decay"] * param)


class SophiaH(_HutchinsonRule):
    r"""Sophia with a Hutchinson Hessian estimate (Liu et al. 2023, "Sophia").

    Follows pytorch_optimizer's `SophiaH` (v4.1.0), step t = 1, 2, ...:

        every update_period steps (t = 1, 1 + T, 1 + 2T, ...):
            h_hat = mean over num_samples of z * (H z)     (z Gaussian by default)
            h <- beta2 h + (1 - beta2) h_hat
        theta <- theta (1 - lr * weight_decay)                     (decoupled decay)
        m <- beta1 m + (1 - beta1) g
        theta <- theta - lr * clip(m / max(h, eps), -clip_threshold, clip_threshold)

    The clip bounds every coordinate's step by lr * clip_threshold: where the
    curvature estimate is tiny or negative the step is sign-like, where it is
    large the step is Newton-like (m / h). On Hessian-update steps call
    `loss.backward(create_graph=True)` (on other steps a plain backward is
    enough). `clip_threshold` is pytorch_optimizer's `p`. Defaults as there:
    lr=0.06, betas=(0.96, 0.99), clip_threshold=0.01, update_period=10,
    eps=1e-12.
    """

    weight_decay_form = "decoupled"

    def __init__(self, params, lr=6e-2, betas=(0.96, 0.99), weight_decay=0.0,
                 clip_threshold=1e-2, update_period=10, num_samples=1,
                 hessian_distribution="gaussian", eps=1e-12, maximize=False):
        _check_distribution(self, hessian_distribution)
        if not (isinstance(update_period, int) and update_period >= 1):
            raise ValueError(f"SophiaH: update_period must be an int >= 1, got {update_period!r}")
        if not (isinstance(num_samples, int) and num_samples >= 1):
            raise ValueError(f"SophiaH: num_samples must be an int >= 1, got {num_samples!r}")
        self.update_period, self.num_samples = update_period, num_samples
        self.hessian_distribution = hessian_distribution
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay,
                                      clip_threshold=clip_threshold, eps=eps, maximize=maximize,
                                      step=0))

    def validate(self, group):
        super().validate(group)
        check_betas(self, group["betas"])
        check_range(self, "eps", group["eps"], low=0.0)
        check_range(self, "clip_threshold", group["clip_threshold"], low=0.0)

    def _hessian_due(self):
        return self.param_groups[0]["step"] % self.update_period == 0

    def _draw(self, params):
        return hutchinson_diagonal(params, self.num_samples, self.hessian_distribution)

    def update_all(self):
        super().update_all()
        for group in self.param_groups:  # the clock that schedules Hessian updates
            group["step"] += 1

    def init_state(self, param, group):
        return {"momentum": np.zeros_like(param), "hessian_moment": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        beta1, beta2 = group["betas"]
        m, h = ema_(state["momentum"], grad, beta1), state["hessian_moment"]
        if "hessian" in state:  # a Hessian-update step
            ema_(h, state.pop("hessian"), beta2)
        ratio = np.clip(m / np.maximum(h, group["eps"]), -group["clip_threshold"],
                        group["clip_threshold"])
        param -= group["lr"] * ratio


class SophiaG(Optimizer):
    r"""Sophia with the Gauss-Newton-Bartlett Hessian estimate (Liu et al. 2023).

    Follows the official code (Liuhong99/Sophia, PyPI `sophia-opt`), with
    bs = the group's `batch_size`:

        step():            theta <- theta (1 - lr * weight_decay)
                           m <- beta1 m + (1 - beta1) g
                           theta <- theta - lr * sign(m) * min(|m| / (rho * bs * h + 1e-15), 1)
        update_hessian():  h <- beta2 h + (1 - beta2) g_hat * g_hat

    No bias correction. g_hat is the gradient of the loss on labels SAMPLED
    from the model's own predictions (not the true labels); for a mean loss
    over a batch of size bs, bs * g_hat^2 estimates the Gauss-Newton
    diagonal. The training loop computes it every `hessian_refresh_every`
    (k, default 10) steps, as the official loop does:

        opt = SophiaG(model.parameters(), lr=1e-4, batch_size=len(x))
        loss_fn(model(x), y).backward(); opt.step(); opt.zero_grad()
        if it % opt.hessian_refresh_every == opt.hessian_refresh_every - 1:
            logits = model(x)
            y_hat = SophiaG.sample_labels(logits)          # y_hat ~ softmax(logits)
            cross_entropy(logits, y_hat).backward()         # mean over the batch
            opt.update_hessian(); opt.zero_grad()

    Until the first `update_hessian()`, h = 0 and the step is lr * sign(m).
    `step(bs=n)` still works: it sets every group's batch_size to n (the
    official signature). Defaults as the official code: lr=1e-4,
    betas=(0.965, 0.99), rho=0.04, weight_decay=0.1, batch_size=5120 (the
    official GPT-2 batch, in tokens).
    """

    takes_batch_size = True
    hessian_refresh_every = 10  # the default; each instance holds its constructor's value
    weight_decay_form = "decoupled"

    def __init__(self, params, lr=1e-4, betas=(0.965, 0.99), rho=0.04, weight_decay=1e-1,
                 batch_size=5120, hessian_refresh_every=10, maximize=False):
        if not (isinstance(hessian_refresh_every, int) and hessian_refresh_every >= 1):
            raise ValueError(f"SophiaG: hessian_refresh_every must be an int >= 1, got "
                             f"{hessian_refresh_every!r}")
        self.hessian_refresh_every = hessian_refresh_every
        super().__init__(params, dict(lr=lr, betas=betas, rho=rho,
                                      weight_decay=weight_decay, batch_size=batch_size,
                                      maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_betas(self, group["betas"])
        check_range(self, "rho", group["rho"], low=0.0)
        check_range(self, "batch_size", group["batch_size"], low=0)

    def init_state(self, param, group):
        return {"step": 0, "exp_avg": np.zeros_like(param), "hessian": np.zeros_like(param)}

    def step(self, closure=None, bs=None):
        if bs is not None:
            check_range(self, "bs", bs, low=0)
            for group in self.param_groups:
                group["batch_size"] = bs
        return super().step(closure)

    def update(self, param, grad, state, group):
        m = ema_(state["exp_avg"], grad, group["betas"][0])
        ratio = np.minimum(np.abs(m) / (group["rho"] * float(group["batch_size"]) * state["hessian"]
                                        + 1e-15), 1.0)
        param -= group["lr"] * (np.sign(m) * ratio)

    def update_hessian(self):
        """h <- beta2 h + (1 - beta2) g*g from the current gradients (those of
        the loss on sampled labels)."""
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        ema_square_(self.state_of(p, group)["hessian"], p.grad.data,
                                    group["betas"][1])

    @staticmethod
    def sample_labels(logits):
        """Class indices drawn from softmax(logits) along the last axis (an
        int64 Tensor without gradient), using the seeded generator."""
        if not isinstance(logits, Tensor):
            raise TypeError(f"SophiaG.sample_labels expects a Tensor of logits, got "
                            f"{type(logits).__name__}")
        xp = logits.xp
        z = logits.data - logits.data.max(axis=-1, keepdims=True)
        probs = xp.exp(z)
        cumulative = xp.cumsum(probs / probs.sum(axis=-1, keepdims=True), axis=-1)
        u = minigrad.rand(*logits.shape[:-1], dtype=logits.dtype, device=logits.device).data
        # inverse CDF: the first class whose cumulative probability exceeds u
        labels = (cumulative < u[..., None]).sum(axis=-1)
        labels = xp.minimum(labels, logits.shape[-1] - 1).astype(np.int64)  # rounding guard
        return Tensor._wrap(labels, logits.device)

