r"""GradientNormStopping: stop training when the gradient has (almost) vanished.

This is "the gradient criterion" for early stopping: at a minimum of the loss
L(w) the gradient is zero, so a small gradient says the run has converged:

    stop when  ||g||_p < tol  for `patience` epochs in a row,
    g = (g_1, g_2, ...) all the parameters' gradients as one vector,
    ||g||_p = (sum_i sum_j |g_ij|^p)^(1/p)   (max_ij |g_ij| for p = inf).

Which number per epoch: the MEAN over the epoch's batches of the norm after
each step. One batch's norm is a noisy sample (the last batch of an epoch may
also be a short one), so a single lucky batch could stop the run; the mean
of a whole epoch can't be moved much by one batch. With mini-batches the
criterion is conservative: each batch gradient carries sampling noise, which
does not vanish at the minimum, so the mean norm levels off at the noise
floor instead of going to 0 (and it is never below the norm of the mean
gradient: ||mean g_b|| <= mean ||g_b||). Choose `tol` above that floor, or use
full-batch gradient descent, where the epoch's norm is the true gradient's.

The norms are summed ON the device after every batch (no waiting for the
GPU inside the training loop) and read back once, at the end of the epoch.
"""
import math
from numbers import Integral, Real

from .. import backend
from .callbacks import Callback

__all__ = ["GradientNormStopping", "global_grad_norm"]


def global_grad_norm(parameters, norm_type=2.0):
    r"""||(all gradients as one vector)||_p of `parameters` that have a gradient, as a
    0-d float64 array on the gradients' device (nothing is read back to the host);
    None when no parameter has a gradient.

        ||g||_p = (sum over tensors of sum_j |g_j|^p)^(1/p),   max_j |g_j| for p = inf."""
    grads = [p.grad.data for p in parameters if p.grad is not None]
    if not grads:
        return None
    device = backend.device_of_array(grads[0])
    xp = backend.xp_of_device(device)
    parts = []
    for g in grads:
        a = xp.abs(g)
        if norm_type == math.inf:
            part = a.max() if a.size else xp.zeros((), dtype=xp.float64)
        else:  # (summed in float64: many small squares of float32 values)
            part = (a * a if norm_type == 2.0 else a ** norm_type).sum(dtype=xp.float64)
        parts.append(backend.to_device(xp.asarray(part, dtype=xp.float64), device))
    parts = xp.stack(parts)
    if norm_type == math.inf:
        total = parts.max()
    else:
        total = xp.sqrt(parts.sum()) if norm_type == 2.0 else parts.sum() ** (1.0 / norm_type)
    return xp.asarray(total)  # (NumPy reductions give scalars: keep it an array)


class GradientNormStopping(Callback):
    r"""A training callback: stop when the epoch's mean global gradient norm has stayed
    below `tol` for `patience` epochs in a row (see the module docstring).

        fit(model, loader, ..., callbacks=[GradientNormStopping(tol=1e-4, patience=2)])

    tol:       the threshold on ||g||_p (> 0).
    patience:  how many consecutive epochs below tol stop the run (>= 1).
    norm_type: p of the norm, > 0 or math.inf (2: the Euclidean norm, as clip_grad_norm_).

    After training: `norms` holds each epoch's mean gradient norm (floats), and
    `stopped_epoch` the 0-based epoch after which it stopped (None if it did not).
    A run resumed from a Checkpoint carries on with the saved count (state_dict)."""

    def __init__(self, tol, patience=1, norm_type=2.0):
        if not (isinstance(tol, Real) and math.isfinite(tol) and tol > 0):
            raise ValueError(f"GradientNormStopping: tol must be a positive finite number "
                             f"(the gradient norm under which training has converged), got {tol!r}")
        if not (isinstance(patience, Integral) and patience >= 1):
            raise ValueError(f"GradientNormStopping: patience must be an int >= 1 (epochs in a row "
                             f"below tol), got {patience!r}")
        if not (isinstance(norm_type, Real) and norm_type > 0):  # (also rejects nan)
            raise ValueError(f"GradientNormStopping: norm_type must be > 0 or math.inf (2 is the "
                             f"Euclidean norm), got {norm_type!r}")
        self.tol, self.patience, self.norm_type = float(tol), int(patience), float(norm_type)
        self.norms, self.stopped_epoch, self.wait = [], None, 0
        self._sum, self._batches = None, 0

    def on_train_begin(self, trainer):
        if getattr(trainer, "epoch", 0) == 0:  # a new run (a resumed one keeps its state)
            self.norms, self.stopped_epoch, self.wait = [], None, 0

    def on_epoch_begin(self, trainer, epoch):
        self._sum, self._batches = None, 0

    def on_batch_end(self, trainer, step, logs):
        # After backward and step: the gradients of this batch are still on the parameters.
        norm = global_grad_norm(trainer.model.parameters(), self.norm_type)
        if norm is not None:
            self._sum = norm if self._sum is None else self._sum + norm  # (on the device)
            self._batches += 1

    def on_epoch_end(self, trainer, epoch, logs):
        if self._batches == 0:
            return  # no gradient seen this epoch: nothing to judge
        mean = float(self._sum) / self._batches  # the epoch's one read from the device
        self.norms.append(mean)
        self.wait = self.wait + 1 if mean < self.tol else 0  # (nan is not below tol)
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True

    def state_dict(self):
        return {"wait": self.wait, "norms": list(self.norms),
                "stopped_epoch": -1 if self.stopped_epoch is None else self.stopped_epoch}

    def load_state_dict(self, state):
        self.wait, self.norms = int(state["wait"]), [float(n) for n in state["norms"]]
        self.stopped_epoch = None if int(state["stopped_epoch"]) < 0 else int(state["stopped_epoch"])

    def __repr__(self):
        return (f"GradientNormStopping(tol={self.tol:g}, patience={self.patience}, "
                f"norm_type={self.norm_type:g})")
