"""Wrappers around another optimizer: Lookahead, Ranger (RAdam + Lookahead), SAM / ASAM.

A wrapper owns no update rule of its own: it drives an inner optimizer and
moves the weights around its steps. It shares the inner optimizer's
`param_groups`, so learning-rate schedules and `zero_grad()` work on the
wrapper as on any optimizer, and it exposes the inner rule's capabilities
(`needs_create_graph`, `hessian_refresh_every`, `takes_batch_size`, and
`update_hessian`/`sample_labels` where the inner rule has them), so a
training loop drives Lookahead(SophiaG) as it drives SophiaG.
"""
import numpy as np

from minigrad import enable_grad, no_grad

from .checks import check_grads, check_state_dict
from .optimizer import Optimizer, check_range


class _Delegating:
    """The capability attributes of `Optimizer`, read from the wrapped rule
    (`self._inner()`) instead of the wrapper's class."""

    @property
    def needs_create_graph(self):
        return self._inner().needs_create_graph

    @property
    def hessian_refresh_every(self):
        return self._inner().hessian_refresh_every

    @property
    def takes_batch_size(self):
        return self._inner().takes_batch_size

    def update_hessian(self):
        """The inner rule's `update_hessian` (SophiaG), for the wrapped parameters."""
        if not hasattr(self._inner(), "update_hessian"):
            raise AttributeError(f"{type(self).__name__} wraps a {type(self._inner()).__name__}, "
                                 "which keeps no Hessian estimate (hessian_refresh_every is None)")
        self._inner().update_hessian()

    def sample_labels(self, logits):
        """The inner rule's `sample_labels` (SophiaG)."""
        return type(self._inner()).sample_labels(logits)


class Lookahead(_Delegating, Optimizer):
    r"""Lookahead (Zhang, Lucas, Hinton, Ba 2019): "k steps forward, 1 step back".

    The inner ("fast") optimizer takes k steps; then the slow weights phi move
    part of the way towards where the fast weights theta got, and the fast
    weights restart from there:

        phi_0 = theta_0
        every k inner steps:   phi <- phi + alpha (theta - phi) ;   theta <- phi

    Follows the paper, optax's `lookahead` and pytorch_optimizer's `Lookahead`
    (torch_optimizer's differs: it initialises phi after the first step).
    The slow weights are this wrapper's state, saved by `state_dict()` with
    the inner optimizer's state. Defaults k=5, alpha=0.5:

        opt = Lookahead(optim.Adam(model.parameters(), lr=1e-3), k=5, alpha=0.5)

    A wrapper, not a rule: it skips `Optimizer.__init__` (there is no group
    to build: `param_groups` IS the inner optimizer's list, so an lr schedule
    or `add_param_group` on either is seen by both); `state` holds only the
    slow weights (`state[p]["slow_param"]`, every parameter from the start);
    `step` is the inner step then, every k-th time, the sync;
    `state_dict()` nests the inner optimizer's dict:
    {"optimizer": inner.state_dict(), "slow": {index: {"slow_param": ...}},
    "step_count", "k", "alpha"}.
    """

    def __init__(self, optimizer, k=5, alpha=0.5):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"Lookahead wraps an optimizer instance, got {type(optimizer).__name__}; "
                            "e.g. Lookahead(optim.SGD(model.parameters(), lr=0.1), k=5)")
        if not (isinstance(k, int) and k >= 1):
            raise ValueError(f"Lookahead: k (inner steps between syncs) must be an int >= 1, "
                             f"got {k!r}")
        check_range(self, "alpha", alpha, low=0.0, high=1.0, high_inclusive=True)
        self.optimizer = optimizer
        self.k, self.alpha = k, alpha
        self.defaults = dict(optimizer.defaults)
        self.state = {}   # slow weights: state[p] = {"slow_param": array}
        self.step_count = 0  # inner steps since the last sync
        for group in self.param_groups:
            self._init_slow(group)

    @property
    def param_groups(self):
        return self.optimizer.param_groups  # shared: schedules change the inner lr

    def _inner(self):
        return self.optimizer

    @property
    def needs_closure(self):
        return self.optimizer.needs_closure

    def init_state(self, param, group):
        return {"slow_param": param.copy()}

    def _init_slow(self, group):
        for p in group["params"]:
            self.state[p] = self.init_state(p.data, group)

    def add_param_group(self, group):
        self.optimizer.add_param_group(group)
        self._init_slow(self.param_groups[-1])

    def step(self, closure=None):
        loss = self.optimizer.step(closure)
        self.step_count += 1
        if self.step_count >= self.k:
            self.step_count = 0
            with no_grad():
                self.sync()
        return loss

    def sync(self):
        """phi <- phi + alpha (theta - phi);  theta <- phi, for every parameter."""
        for group in self.param_groups:
            for p in group["params"]:
                slow = self.state[p]["slow_param"]
                slow += self.alpha * (p.data - slow)
                p.data[...] = slow

    def state_dict(self):
        saved = super().state_dict()  # the slow weights, named by position
        return {"optimizer": self.optimizer.state_dict(), "slow": saved["state"],
                "step_count": self.step_count, "k": self.k, "alpha": self.alpha}

    def load_state_dict(self, state_dict):
        # Both halves are checked before either is loaded: a refused state changes nothing.
        slow = {"state": state_dict["slow"], "param_groups": state_dict["optimizer"]["param_groups"]}
        check_state_dict(self.optimizer, state_dict["optimizer"])
        check_state_dict(self, slow)
        self.optimizer.load_state_dict(state_dict["optimizer"])
        # The slow weights through the base class's loader (same groups, just loaded).
        Optimizer.load_state_dict(self, slow)
        self.step_count = state_dict["step_count"]
        self.k, self.alpha = state_dict["k"], state_dict["alpha"]

    def __repr__(self):
        return (f"{type(self).__name__}(k={getattr(self, 'k', None)}, "
                f"alpha={getattr(self, 'alpha', None)}, optimizer={getattr(self, 'optimizer', None)!r})")


class Ranger(Lookahead):
    r"""Ranger (Wright 2019) = Lookahead(RAdam).

    Exactly `Lookahead(optim.RAdam(params, lr, betas, eps, weight_decay), k=6,
    alpha=0.5)` with torch's RAdam (rectification when rho_t > 5, eps added
    to sqrt(v)). The original Ranger code (lessw2020) and pytorch_optimizer's
    `Ranger` carry their own RAdam variant (threshold rho_t >= 5, different
    eps placement) and later gradient centralisation, so they differ slightly
    (~1e-2 in the reference catalog's check). Defaults from the original:
    lr=1e-3, betas=(0.95, 0.999), eps=1e-5, k=6, alpha=0.5.
    """

    def __init__(self, params, lr=1e-3, betas=(0.95, 0.999), eps=1e-5, weight_decay=0.0, k=6,
                 alpha=0.5):
        from .radam import RAdam  # written in its own file; imported here to keep wrappers light
        super().__init__(RAdam(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay),
                         k=k, alpha=alpha)


class SAM(_Delegating, Optimizer):
    r"""Sharpness-Aware Minimization (Foret et al., ICLR 2021), and its adaptive
    form ASAM (Kwon et al., ICML 2021) with adaptive=True.

    SAM looks for weights whose whole neighbourhood has low loss: it takes the
    gradient at the worst nearby point w + e(w), not at w:

        e(w)  = rho * T^2 g / ||T g||_2          (T = 1 for SAM, T = |w| for ASAM;
                                                  ||.|| over ALL parameters, + 1e-12)
        g_sam = grad L(w + e(w))
        w     <- base_optimizer_step(w, g_sam)

    Follows davda54/sam (== pytorch_optimizer's `SAM`). Two forward/backward
    passes per step; compute the first gradient (or let `step` get it from
    the closure, when no parameter has a gradient yet), then give `step` a
    closure that recomputes the loss and its gradient:

        opt = SAM(model.parameters(), optim.SGD, rho=0.05, lr=0.1, momentum=0.9)
        def closure():
            loss = loss_fn(model(x), y); loss.backward(); return loss
        loss = loss_fn(model(x), y); loss.backward()
        opt.step(closure)        # returns the closure's loss, at w + e(w)
        opt.zero_grad()

    or the same by hand: `first_step(zero_grad=True)`, a second
    forward/backward, `second_step(zero_grad=True)`. `base_optimizer` is a
    class; the extra keyword arguments (lr, momentum, ...) go to it.
    `state_dict()` is the base optimizer's (SAM keeps no state of its own).
    """

    needs_closure = True

    def __init__(self, params, base_optimizer, rho=0.05, adaptive=False, **kwargs):
        if not (isinstance(base_optimizer, type) and issubclass(base_optimizer, Optimizer)):
            raise TypeError(f"{type(self).__name__}: base_optimizer must be an optimizer CLASS, got "
                            f"{base_optimizer!r}; e.g. SAM(model.parameters(), optim.SGD, lr=0.1)")
        super().__init__(params, dict(rho=rho, adaptive=adaptive, **kwargs))
        self.base_optimizer = base_optimizer(self.param_groups, **kwargs)
        self.param_groups = self.base_optimizer.param_groups  # one set of groups for both
        self.state = self.base_optimizer.state
        self.defaults.update(self.base_optimizer.defaults)
        self._ascent = {}  # p -> its weights w, while it sits at w + e(w)

    def validate(self, group):
        super().validate(group)
        check_range(self, "rho", group["rho"], low=0.0)

    def _inner(self):
        return self.base_optimizer

    def first_step(self, zero_grad=False):
        """w <- w + e(w): climb to the (first-order) worst point within radius rho."""
        check_grads(self)
        with no_grad():
            norm = self._grad_norm()
            for group in self.param_groups:
                scale = group["rho"] / (norm + 1e-12)
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    self._ascent[p] = p.data.copy()
                    e = (p.data * p.data if group["adaptive"] else 1.0) * p.grad.data * \
                        scale.astype(p.data.dtype)  # as a Python float would be: no float64 upcast
                    p.data += e
        if zero_grad:
            self.zero_grad()

    def second_step(self, zero_grad=False):
        """w <- the base optimizer's step from w, with the gradient taken at w + e(w)."""
        with no_grad():
            for p, weights in self._ascent.items():
                p.data[...] = weights
            self._ascent = {}
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad()

    def step(self, closure=None):
        if closure is None:
            raise RuntimeError(
                f"{type(self).__name__}.step needs a closure that recomputes the loss and calls "
                "backward() (the second gradient, at the perturbed weights); or call first_step() "
                "and second_step() around your own second forward/backward")
        if not any(p.grad is not None for g in self.param_groups for p in g["params"]):
            with enable_grad():  # no gradient at w yet: the closure gives it
                closure()
        self.first_step(zero_grad=True)
        with enable_grad():
            loss = closure()
        if not any(p.grad is not None for p in self._ascent):
            raise RuntimeError(f"{type(self).__name__}.step: the closure produced no gradients; "
                               "it must call loss.backward()")
        # The gradient left now is the one at w + e: clear it, so that the next
        # step takes its ascent direction from a fresh gradient at its own w.
        self.second_step(zero_grad=True)
        return loss

    def _grad_norm(self):
        """||T g||_2 over every parameter of every group (T = |w| where adaptive),
        as a 0-d float64 array on the parameters' device: no float(), so the GPU
        is never waited for."""
        total = 0.0
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    scaled = np.abs(p.data) * p.grad.data if group["adaptive"] else p.grad.data
                    total = total + (scaled * scaled).sum().astype(np.float64)
        return np.sqrt(total)

    def state_dict(self):
        return self.base_optimizer.state_dict()

    def load_state_dict(self, state_dict):
        self.base_optimizer.load_state_dict(state_dict)
        self.state = self.base_optimizer.state  # keep sharing the base's (new) state dict


class ASAM(SAM):
    r"""Adaptive SAM (Kwon et al., ICML 2021): SAM with adaptive=True, so the
    neighbourhood scales with each weight (T = |w|), which makes the
    sharpness measure invariant to rescaling weights:

        e(w) = rho * w^2 g / || |w| g ||_2

    As in davda54/sam, T = |w| (the paper adds a small eta to it). The
    default rho=2.0 is davda54/sam's suggestion for ASAM (radii are larger
    than SAM's because they are relative to |w|).
    """

    def __init__(self, params, base_optimizer, rho=2.0, **kwargs):
        super().__init__(params, base_optimizer, rho=rho, adaptive=True, **kwargs)
