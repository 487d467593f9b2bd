"""Learning-rate schedules: functions of the step count that write group["lr"].

Exactly torch.optim.lr_scheduler's schedules (same values step for step),
torch.optim.swa_utils.SWALR, and three warm-up schedules from large-model
training. Call `scheduler.step()` after `optimizer.step()`:

    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
    for epoch in range(100):
        train_one_epoch(model, opt)
        sched.step()

Files: base.py (the shared machinery), step.py (factor schedules), linear.py
(fixed-length ramps), cosine.py, cyclic.py (per-batch cycles), plateau.py
(metric driven), composite.py (sequencing and chaining), swa.py, warmup.py.
"""
from .base import LRScheduler
from .composite import ChainedScheduler, SequentialLR
from .cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts
from .cyclic import CyclicLR, OneCycleLR
from .linear import ConstantLR, LinearLR, PolynomialLR
from .plateau import ReduceLROnPlateau
from .step import ExponentialLR, LambdaLR, MultiplicativeLR, MultiStepLR, StepLR
from .swa import SWALR
from .warmup import InverseSqrtLR, WarmupCosineLR, WarmupStableDecayLR

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ExponentialLR",
           "ConstantLR", "LinearLR", "PolynomialLR", "CosineAnnealingLR",
           "CosineAnnealingWarmRestarts", "CyclicLR", "OneCycleLR", "ReduceLROnPlateau",
           "SequentialLR", "ChainedScheduler", "SWALR", "WarmupCosineLR", "WarmupStableDecayLR",
           "InverseSqrtLR"]
