"""SWALR: the schedule of stochastic weight averaging (Izmailov et al. 2018),
as torch.optim.swa_utils.SWALR."""
import math

from .base import LRScheduler, check_number, check_positive_int, per_group


class SWALR(LRScheduler):
    r"""Anneal each group's lr from its current value lr0 to `swa_lr` over
    `anneal_epochs` steps, then hold swa_lr (the constant lr at which SWA
    averages weights):

        lr(t) = swa_lr * a(t) + lr0 * (1 - a(t)),   a(t) = alpha(min(1, t / anneal_epochs))

        alpha(x) = (1 - cos(pi x)) / 2    anneal_strategy='cos'
        alpha(x) = x                      anneal_strategy='linear'

    t counts this scheduler's steps (the constructor's is t = 0, so lr(0) =
    lr0). As in torch, step() is recursive: it recovers lr0 from the lr the
    group holds, lr0 = (lr - a(t-1) * swa_lr) / (1 - a(t-1)), so it anneals
    from wherever the lr was when SWA started (often another schedule's end).
    With anneal_epochs = 0 the lr is swa_lr from the start.
    """

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos", last_epoch=-1):
        swa_lrs = per_group(self, optimizer, "swa_lr", swa_lr)
        for lr in swa_lrs:
            check_number(self, "swa_lr", lr, low=0.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"SWALR: anneal_strategy must be 'cos' or 'linear', "
                             f"got {anneal_strategy!r}")
        check_positive_int(self, "anneal_epochs", anneal_epochs, allow_zero=True)
        for lr, group in zip(swa_lrs, optimizer.param_groups):
            group["swa_lr"] = lr
        self.anneal_strategy = anneal_strategy
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    def anneal(self, x):
        """alpha(x): 0 at the start of the anneal, 1 at its end."""
        if self.anneal_strategy == "cos":
            return (1 - math.cos(math.pi * x)) / 2
        return x

    def get_lr(self):
        step = self._step_count - 1  # 0 for the constructor's step
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self.anneal(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        alpha = self.anneal(max(0, min(1, step / max(1, self.anneal_epochs))))
        lrs = []
        for group in self.optimizer.param_groups:
            swa_lr = group["swa_lr"]
            # the lr the anneal started from, recovered from the current one
            lr0 = swa_lr if prev_alpha == 1 else (group["lr"] - prev_alpha * swa_lr) / (1 - prev_alpha)
            lrs.append(swa_lr * alpha + lr0 * (1 - alpha))
        return lrs
