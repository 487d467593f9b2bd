"""L-BFGS: a quasi-Newton method built from the last few gradient differences.

Unlike the other rules, one `step(closure)` is a small optimization run: up
to `max_iter` iterations, each re-evaluating the loss through the closure
(several times per iteration with the line search). It works on all
parameters at once, as one flat vector, so it overrides `step`:

    opt = LBFGS(model.parameters(), line_search_fn="strong_wolfe")
    def closure():
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        return loss
    for _ in range(10):
        opt.step(closure)

The strong-Wolfe line search (`_strong_wolfe`, `_cubic_interpolate`) lives in
optim/line_search.py.
"""
import numpy as np

from minigrad import enable_grad

from .checks import check_grads
from .line_search import _strong_wolfe
from .optimizer import Optimizer, check_range


class LBFGS(Optimizer):
    r"""Limited-memory BFGS, exactly PyTorch's `torch.optim.LBFGS`.

    BFGS builds an approximation H of the inverse Hessian from the steps
    s_k = theta_{k+1} - theta_k and gradient changes y_k = g_{k+1} - g_k
    (the secant condition H y_k = s_k). L-BFGS never forms H: it keeps the
    last `history_size` pairs and computes d = -H g with the two-loop
    recursion (rho_k = 1 / y_k.s_k, newest pair first):

        q = -g
        for k = newest .. oldest:  a_k = rho_k s_k.q ;  q <- q - a_k y_k
        r = gamma q,   gamma = s.y / y.y of the newest pair   (initial H = gamma I)
        for k = oldest .. newest:  b_k = rho_k y_k.r ;  r <- r + (a_k - b_k) s_k
        d = r

    Each iteration then moves theta <- theta + t d, with t = lr (on the very
    first iteration t = lr * min(1, 1 / |g|_1)), or with t found by a
    strong-Wolfe line search (line_search_fn="strong_wolfe"), which makes L-BFGS
    reliable on deterministic problems. A pair is stored only if y.s > 1e-10
    (curvature positive), so H stays positive definite.

    An iteration ends the step early when: max |g| <= tolerance_grad,
    g.d > -tolerance_change (not a descent direction), max |t d| <=
    tolerance_change, |loss change| < tolerance_change, or the closure has
    been called max_eval times (default max_iter * 5 // 4) in this step.
    The history persists across `step` calls. `step` returns the loss of the
    closure's first evaluation. One parameter group only.

    On a GPU this rule reads scalars back to the host many times per step
    (the loss, |g|, the dot products of the two-loop recursion and the
    line search): its stopping tests and step lengths are host decisions.
    """

    needs_closure = True

    def __init__(self, params, lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=line_search_fn))
        self._params = self.param_groups[0]["params"]

    def validate(self, group):
        super().validate(group)
        if self.param_groups:
            raise ValueError("LBFGS doesn't support parameter groups: it optimizes all its "
                             "parameters as one vector, with one set of hyperparameters")
        check_range(self, "max_iter", group["max_iter"], low=1)
        check_range(self, "history_size", group["history_size"], low=1)
        check_range(self, "tolerance_grad", group["tolerance_grad"], low=0.0)
        check_range(self, "tolerance_change", group["tolerance_change"], low=0.0)
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: unknown line_search_fn {group['line_search_fn']!r}; use "
                             "None (fixed step lr) or 'strong_wolfe'")

    def expected_state(self, param, group):
        return None  # one global state, kept under the first parameter: no per-parameter layout

    # ------------------------------------------------- the parameters as one vector
    def _gather_flat_grad(self):
        """All gradients as one vector (zeros for a parameter without one)."""
        return np.concatenate([p.grad.data.reshape(-1) if p.grad is not None
                               else np.zeros_like(p.data).reshape(-1) for p in self._params])

    def _add_grad(self, step_size, direction):
        """theta <- theta + step_size * direction, direction being a flat vector."""
        offset = 0
        for p in self._params:
            n = p.data.size
            p.data += step_size * direction[offset:offset + n].reshape(p.shape)
            offset += n

    def _directional_evaluate(self, closure, x, t, d):
        """Loss and flat gradient at x + t d; the parameters are put back to x."""
        self._add_grad(t, d)
        loss = float(_evaluate(closure))
        flat_grad = self._gather_flat_grad()
        for p, saved in zip(self._params, x):
            p.data[...] = saved
        return loss, flat_grad

    # ---------------------------------------------------------------- one step
    def step(self, closure=None):
        if closure is None:
            raise ValueError("LBFGS.step needs a closure: a function that zeroes the gradients, "
                             "recomputes the loss, calls loss.backward() and returns the loss, "
                             "e.g. opt.step(closure)")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]

        # L-BFGS's state is global; it is kept under the first parameter (as in
        # PyTorch) so that state_dict()/load_state_dict() carry it.
        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = _evaluate(closure)
        check_grads(self)
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        opt_cond = _max_abs(flat_grad) <= tolerance_grad
        if opt_cond:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ---- search direction d = -H g
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []  # y_k, s_k, 1 / y_k.s_k
                h_diag = 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = float(y @ s)
                if ys > 1e-10:  # keep only pairs with positive curvature
                    if len(old_dirs) == history_size:
                        del old_dirs[0], old_stps[0], ro[0]  # forget the oldest pair
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / float(y @ y)
                d = _two_loop(flat_grad, old_dirs, old_stps, ro, h_diag)
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            # ---- step length
            if state["n_iter"] == 1:
                g_l1 = float(np.abs(flat_grad).sum())
                t = min(1.0, 1.0 / g_l1) * lr  # a careful first step: |t d|_1 <= lr
            else:
                t = lr
            gtd = float(flat_grad @ d)  # directional derivative
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x_init = [p.data.copy() for p in self._params]

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                # PyTorch leaves the line search's own tolerance_change (1e-9) here.
                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = _max_abs(flat_grad) <= tolerance_grad
            else:
                self._add_grad(t, d)
                if n_iter != max_iter:
                    # Re-evaluate, except after the last iteration: the next
                    # step's first evaluation will do it (with new data, maybe).
                    loss = float(_evaluate(closure))
                    flat_grad = self._gather_flat_grad()
                    opt_cond = _max_abs(flat_grad) <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # ---- stopping tests
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if _max_abs(d * t) <= tolerance_change:  # the step has become negligible
                break
            if abs(loss - prev_loss) < tolerance_change:  # the loss has stopped moving
                break

        state.update({"d": d, "t": t, "old_dirs": old_dirs, "old_stps": old_stps, "ro": ro,
                      "H_diag": h_diag, "prev_flat_grad": prev_flat_grad,
                      "prev_loss": prev_loss})
        return orig_loss


def _two_loop(flat_grad, old_dirs, old_stps, ro, h_diag):
    """d = -H g by the two-loop recursion over the stored (y, s, rho) pairs."""
    q = -flat_grad
    al = [0.0] * len(old_dirs)
    for i in reversed(range(len(old_dirs))):
        al[i] = float(old_stps[i] @ q) * ro[i]
        q -= al[i] * old_dirs[i]
    r = q * h_diag
    for i in range(len(old_dirs)):
        be_i = float(old_dirs[i] @ r) * ro[i]
        r += (al[i] - be_i) * old_stps[i]
    return r


def _evaluate(closure):
    """Call the closure with gradient recording on (step may run under no_grad)."""
    with enable_grad():
        return closure()


def _max_abs(x):
    return float(np.abs(x).max())
