"""What the training examples add to minigrad.training (a helper for the examples, not a
script): optimizers and schedules by their command-line names, a run of `fit` with the
scripts' checkpoint, --resume and exit conventions, and synthetic data for --smoke.

The loop itself is `minigrad.training.fit`. A script's run (`fit_run`) writes a
checkpoint after every epoch with the run's settings (the command-line flags);
`--resume` continues it exactly (bit for bit), re-plans the schedule when only
--epochs or --lr changed, and refuses any other change, naming each flag. A
non-finite loss exits 1 naming the epoch and step (1-based) and the command that
resumes the last good epoch at a smaller lr; Ctrl-C keeps the last completed
epoch's checkpoint, plots the epochs so far and exits 130 (see _cli.py).
"""
import inspect
import os

import _cli
import numpy as np

import minigrad.functional as F
import minigrad.optim as optim
from minigrad.training import Checkpoint, ResumeError, TrainingDiverged, fit, resume

# Settings a resumed run may change: the rest of the plan is re-made from them.
REPLANNABLE = ("epochs", "lr")


# ------------------------------------------------------- optimizers, schedules
def optimizer_names():
    """Every update rule `optim` exports (classes derived from optim.Optimizer)."""
    return sorted(name for name, obj in vars(optim).items()
                  if inspect.isclass(obj) and issubclass(obj, optim.Optimizer)
                  and obj is not optim.Optimizer)


def make_optimizer(name, params, **hyper):
    """optim.<name>(params, ...), with the name matched case-insensitively and each of
    `hyper` (lr=..., momentum=..., weight_decay=..., batch_size=...) passed only if the rule
    takes it (batch_size: rules with `takes_batch_size`, SophiaG). Wrappers (SAM, ASAM,
    Lookahead) wrap SGD built from `hyper`.

    Returns (optimizer, the hyperparameters it was given)."""
    names = {n.lower(): n for n in optimizer_names()}
    if name.lower() not in names:
        raise ValueError(f"unknown optimizer {name!r}; choose one of: {', '.join(names.values())}")
    cls = getattr(optim, names[name.lower()])
    accepted = inspect.signature(cls).parameters
    if "base_optimizer" in accepted:  # SAM, ASAM: take the base rule's class and arguments
        kwargs = _accepted_by(optim.SGD, hyper)
        return cls(params, optim.SGD, **kwargs), kwargs
    if "optimizer" in accepted:  # Lookahead: takes a built optimizer
        kwargs = _accepted_by(optim.SGD, hyper)
        return cls(optim.SGD(params, **kwargs)), kwargs
    kwargs = _accepted_by(cls, hyper)
    return cls(params, **kwargs), kwargs


def _accepted_by(cls, hyper):
    accepted = inspect.signature(cls).parameters
    return {k: v for k, v in hyper.items() if k in accepted and v is not None}


SCHEDULES = ("step", "cosine", "onecycle", "plateau", "warmup-cosine", "none")


def make_scheduler(name, optimizer, epochs, steps_per_epoch, step_size=30, gamma=0.1):
    """A schedule by short name, with its arguments derived from the run's length.

    Returns (scheduler or None, fit's scheduler_interval: "epoch" or "step"; fit
    steps ReduceLROnPlateau once per epoch on the monitored loss)."""
    S = optim.lr_scheduler
    lr = optimizer.param_groups[0]["lr"]
    total = epochs * steps_per_epoch
    if name == "none":
        return None, "epoch"
    if name == "step":
        return S.StepLR(optimizer, step_size=step_size, gamma=gamma), "epoch"
    if name == "cosine":
        return S.CosineAnnealingLR(optimizer, T_max=epochs), "epoch"
    if name == "onecycle":  # lr rises to 10x the base lr over 30% of the run, then anneals
        return S.OneCycleLR(optimizer, max_lr=10 * lr, total_steps=total), "step"
    if name == "plateau":  # divide the lr by 10 when the validation loss stalls for 3 epochs
        return S.ReduceLROnPlateau(optimizer, mode="min", factor=gamma, patience=3), "epoch"
    if name == "warmup-cosine":  # linear warm-up over 5% of the steps, then cosine to 0
        return S.WarmupCosineLR(optimizer, warmup_steps=max(1, total // 20),
                                total_steps=total), "step"
    raise ValueError(f"unknown schedule {name!r}; choose one of: {', '.join(SCHEDULES)}")


# ------------------------------------------------------------------- the run
def fit_run(script, args, argv, model, optimizer, train_loader, test_loader, *, config, title,
            scheduler=None, interval="epoch", val_loader=None, callbacks=()):
    """`fit` on cross-entropy with the scripts' conventions: the test set evaluated every
    epoch (the validation set, when there is one, is what ReduceLROnPlateau and early
    stopping watch, else the test set), a checkpoint with `config` in args.out after every
    epoch (rank 0 alone writes it: args.rank), args.resume, and the exits above.

    Returns (the History, the checkpoint's path)."""
    path = os.path.join(args.out, "checkpoint.npz")
    callbacks = [*callbacks, Checkpoint(path, config=config)]  # (last: it saves what they decided)
    start = {"seed": args.seed}
    try:
        if args.resume:
            if not os.path.exists(path):
                raise FileNotFoundError(f"--resume: no checkpoint at {path}; run without "
                                        "--resume first (it writes one after every epoch)")
            start = resume(path, model, optimizer, scheduler, train_loader=train_loader,
                           callbacks=callbacks, config=config, replannable=REPLANNABLE, log=print)
            print(f"resumed from {path} after epoch {start['initial_epoch']}")
        writes = getattr(args, "rank", 0) == 0
        history = fit(model, train_loader, loss_fn=F.cross_entropy, optimizer=optimizer,
                      epochs=args.epochs, val_loader=val_loader, eval_loaders={"test": test_loader},
                      monitor="val_loss" if val_loader is not None else "test_loss",
                      scheduler=scheduler, scheduler_interval=interval,
                      callbacks=callbacks if writes else callbacks[:-1], log=print,
                      progress=False if args.quiet else None, **start)
    except ResumeError as error:
        _cli.stop(f"{script}: error: {resume_refusal(path, error)}", code=2)
    except TrainingDiverged as error:
        _cli.diverged(script, error, argv, args, path, len(train_loader),
                      optimizer.param_groups[0]["lr"])
    except KeyboardInterrupt as error:
        _cli.interrupted(script, error.history, argv, args, path, title)
    return history, path


def resume_refusal(path, error):
    """A ResumeError in the scripts' terms: each refused setting as its flag."""
    if not error.changes:
        return str(error)
    lines = "".join(f"\n  --{k}: {_shown(a)} -> {_shown(b)}" for k, (a, b) in error.changes.items())
    synthetic = ("\n(the checkpoint was trained on synthetic data: --smoke runs and real runs "
                 "never mix)" if "smoke" in error.changes else "")
    return (f"can't resume {path}: this run's settings differ from the saved run's:{lines}"
            f"{synthetic}\nTo continue the saved run, drop these flags (or give the saved "
            "values); to train with the new ones, start a new run with another --out.")


def _shown(value):
    return "(unset)" if value is None else str(value)


# ---------------------------------------------------------------------- data
def synthetic_images(n, height, width, channels, num_classes=10, seed=0):
    """A learnable stand-in for an image data set (for --smoke runs and tests):
    uint8 HWC images, each a blurry per-class template plus noise, and labels.

    Returns (images (n, H, W, C) uint8, labels (n,) int64)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(num_classes, height // 4, width // 4, channels))
    templates = coarse.repeat(4, axis=1).repeat(4, axis=2)  # 4x4 blocks: (K, H, W, C)
    labels = rng.permutation(np.arange(n) % num_classes)
    noise = rng.normal(0, 40, size=(n, height, width, channels))
    images = np.clip(templates[labels] + noise, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def random_subset(dataset, n, seed=0):
    """`n` samples of `dataset` chosen at random (all of it if n is None or too big)."""
    from minigrad.data import Subset
    if n is None or n >= len(dataset):
        return dataset
    return Subset(dataset, np.sort(np.random.default_rng(seed).permutation(len(dataset))[:n]))
