"""The training loop the examples share (a helper for the examples, not a script):
one epoch, evaluation, checkpoints (plots: _plots.py).

Everything here is the plain PyTorch-style loop, written out once:

    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

`fit` runs it for several epochs with evaluation, a learning-rate schedule,
early stopping and a checkpoint after every epoch. Resuming from a
checkpoint continues *exactly* (bit for bit) because every random choice of
epoch e (the shuffling order, the augmentation, the dropout masks) is drawn
from a seed computed from (seed, e), not from a generator whose state
depends on everything that ran before.

A checkpoint also records the run's configuration (the command-line
settings), so `--resume` with different settings either applies them (more
epochs, a new learning rate: the schedule is re-planned as a fresh run with
the new settings would have it from that epoch on) or refuses, naming each
difference. Training stops at the first non-finite loss (`Diverged`), and
Ctrl-C stops after keeping the last completed epoch's checkpoint.

On a GPU, reading a value back (`loss.item()`) waits for every queued kernel
to finish, so the loop keeps the losses and correct counts on the device and
reads them once per log interval, not once per step.
"""
import inspect
import math
import os
import time

import numpy as np

import minigrad
import minigrad.functional as F
import minigrad.optim as optim
from minigrad import backend


class Diverged(RuntimeError):
    """The loss became inf or nan: the run cannot recover from it, so it stops.
    `resumable`: this run's checkpoint holds a good epoch to go back to."""

    resumable = False


class ResumeError(ValueError):
    """--resume from a checkpoint whose run is not the one asked for."""


def epoch_seed(seed, epoch):
    """An independent seed for epoch `epoch` of a run seeded with `seed`."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


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

    Returns (scheduler or None, when to step it): "epoch" (after each epoch),
    "batch" (after each optimizer step) or "metric" (after each epoch, given
    the validation loss: ReduceLROnPlateau)."""
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
        return S.OneCycleLR(optimizer, max_lr=10 * lr, total_steps=total), "batch"
    if name == "plateau":  # divide the lr by 10 when the validation loss stalls for 3 epochs
        return S.ReduceLROnPlateau(optimizer, mode="min", factor=gamma, patience=3), "metric"
    if name == "warmup-cosine":  # linear warm-up over 5% of the steps, then cosine to 0
        return S.WarmupCosineLR(optimizer, warmup_steps=max(1, total // 20),
                                total_steps=total), "batch"
    raise ValueError(f"unknown schedule {name!r}; choose one of: {', '.join(SCHEDULES)}")


# ------------------------------------------------------------ train, evaluate
def train_epoch(model, loader, optimizer, scheduler=None, interval="epoch", progress=True,
                desc="train", steps_before=0, read_every=None):
    """One pass over `loader`, updating the model after every batch.

    The optimizer says what its rule needs from the loop (class attributes):
    `needs_closure` (step(closure) re-evaluates the loss: LBFGS, SAM),
    `needs_create_graph` (backward keeps the graph for Hessian-vector products:
    AdaHessian, SophiaH) and `hessian_refresh_every` (SophiaG: every k steps a
    curvature refresh on sampled labels, counted over the whole run: pass the
    run's `steps_before` this epoch).

    The losses and the correct counts stay on the model's device and are read
    every `read_every` steps (default: every step on the CPU, where a read is
    free; every 20 on a GPU, where each read waits for the device to finish):
    that read feeds the progress bar, the history and the divergence check,
    which raises Diverged naming the first step whose loss is not finite.

    Returns {"loss", "accuracy", "images_per_s", "seconds", "batch_losses"}."""
    from tqdm import tqdm
    model.train()
    if hasattr(optimizer, "train"):  # schedule-free rules train on a different point
        optimizer.train()
    refresh_every = optimizer.hessian_refresh_every
    losses, correct, seen = [], 0, 0   # (host values: what has been read so far)
    pending_losses, pending_correct = [], []  # (0-d device arrays, not read yet)
    start = time.perf_counter()
    # disable=None: tqdm switches itself off when stderr is not a terminal, so logs stay clean
    bar = tqdm(loader, total=len(loader), desc=desc, unit="batch", leave=False,
               disable=None if progress else True, mininterval=0.5)
    for batch, (x, y) in enumerate(bar):
        if optimizer.needs_closure:
            optimizer.zero_grad()  # SAM takes its first gradient from the closure when none is left

            def closure(x=x, y=y):  # the rule calls it (maybe several times) to re-evaluate the loss
                optimizer.zero_grad()
                closure.logits = model(x)
                batch_loss = F.cross_entropy(closure.logits, y)
                batch_loss.backward()
                return batch_loss
            loss = optimizer.step(closure)
            logits = closure.logits
        else:
            optimizer.zero_grad()
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            loss.backward(create_graph=optimizer.needs_create_graph)
            optimizer.step()
            if refresh_every and (steps_before + batch + 1) % refresh_every == 0:
                refresh_hessian(model, x, optimizer)
        last_lr = optimizer.param_groups[0]["lr"]  # (changes within the epoch on "batch" schedules)
        if scheduler is not None and interval == "batch":
            scheduler.step()
        pending_losses.append(loss.data)  # (the array alone: no graph kept alive)
        pending_correct.append((logits.data.argmax(axis=1) == y.data).sum())
        seen += len(y.data)  # (a shape: no read)
        if read_every is None:
            read_every = 1 if backend.device_of_array(loss.data) == "cpu" else 20
        if (batch + 1) % read_every == 0 or batch + 1 == len(loader):
            read = read_scalars(pending_losses + pending_correct)  # one device-to-host copy
            losses += read[:len(pending_losses)].tolist()
            correct += int(read[len(pending_losses):].sum())
            pending_losses, pending_correct = [], []
            bad = [i for i, value in enumerate(losses) if not math.isfinite(value)]
            if bad:
                raise Diverged(f"step {bad[0] + 1}/{len(loader)}: the loss is {losses[bad[0]]}")
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", acc=f"{correct / seen:.1%}",
                            img_s=f"{seen / (time.perf_counter() - start):.0f}", refresh=False)
    seconds = time.perf_counter() - start
    return {"loss": float(np.mean(losses)), "accuracy": correct / seen, "last_lr": last_lr,
            "images_per_s": seen / seconds, "seconds": seconds, "batch_losses": losses}


def read_scalars(values):
    """The 0-d arrays `values` (all on one device) as a host float64 array, read
    in one transfer: on a GPU each read is a synchronisation, so batch them."""
    xp = backend.array_module(values[0])
    return backend.to_numpy(xp.stack([v.astype(xp.float64) for v in values]))


def refresh_hessian(model, x, optimizer):
    """SophiaG's curvature estimate: square the gradient of the loss on labels
    sampled from the model's own predictions (not the true labels)."""
    optimizer.zero_grad()
    logits = model(x)
    F.cross_entropy(logits, optimizer.sample_labels(logits)).backward()
    optimizer.update_hessian()
    optimizer.zero_grad()


def evaluate(model, loader, num_classes, optimizer=None):
    """Loss, accuracy and confusion matrix (rows: true class, columns: predicted)
    of `model` in eval mode, without building a graph. The per-batch results stay
    on the model's device until the end: two reads in all, not two per batch."""
    model.eval()
    if optimizer is not None and hasattr(optimizer, "eval"):
        optimizer.eval()  # schedule-free rules evaluate their averaged point
    batch_losses, pairs = [], []
    with minigrad.no_grad():
        for x, y in loader:
            logits = model(x)
            batch_losses.append(F.cross_entropy(logits, y, reduction="sum").data)
            # (true, predicted) as one index: its counts are the confusion matrix
            pairs.append(y.data * num_classes + logits.data.argmax(axis=1))
    xp = backend.array_module(pairs[0])
    pairs = backend.to_numpy(xp.concatenate(pairs))
    confusion = np.bincount(pairs, minlength=num_classes ** 2).reshape(num_classes, num_classes)
    seen = len(pairs)
    return {"loss": float(read_scalars(batch_losses).sum()) / seen,
            "accuracy": float(np.trace(confusion)) / seen, "confusion": confusion.astype(np.int64)}


# ------------------------------------------------------------------- the run
def fit(model, optimizer, train_loader_for, epochs, num_classes, test_loader=None,
        val_loader=None, scheduler=None, interval="epoch", early_stopping=None,
        checkpoint=None, resume=False, config=None, seed=0, progress=True, log=print):
    """Train for `epochs` epochs; returns the history (lists, one entry per epoch).

    train_loader_for(epoch) -> the DataLoader for that epoch (seeded from it).
    Each epoch is evaluated on `val_loader` and `test_loader` (either may be
    None); the validation loss, or else the test loss, drives ReduceLROnPlateau
    and early stopping. `checkpoint`: a path written after every epoch, with
    `config` (the run's settings, a flat dict); `resume=True` loads it first
    and carries on from the epoch it reached (see `resume_from`).

    Raises Diverged (naming the epoch and step) at the first non-finite loss;
    the checkpoint then still holds the last good epoch. On Ctrl-C it returns
    the history of the completed epochs with history["interrupted"] = True: the
    checkpoint holds the last completed epoch (a part-done epoch can't be
    resumed exactly: its loader order and dropout masks are half used)."""
    history = {"epoch": [], "lr": [], "train_loss": [], "train_acc": [], "images_per_s": [],
               "seconds": [], "batch_losses": [], "stopped_early": False}
    start = 0
    if resume:
        start, history = resume_from(checkpoint, config, model, optimizer, scheduler,
                                     early_stopping, log)
    epoch = start
    try:
        for epoch in range(start, epochs):
            if history["stopped_early"]:
                break
            run_epoch(epoch, epochs, history, model, optimizer, train_loader_for, num_classes,
                      test_loader, val_loader, scheduler, interval, early_stopping, seed,
                      progress, log)
            if checkpoint is not None:
                save_checkpoint(checkpoint, epoch + 1, history, model, optimizer, scheduler,
                                early_stopping, config)
    except Diverged as error:
        resumable = checkpoint is not None and epoch > 0  # (this run wrote or loaded it)
        kept = f" {checkpoint} still holds epoch {epoch}, the last good one." if resumable else ""
        stop = Diverged(f"training diverged in epoch {epoch + 1}/{epochs}, {error}; the learning "
                        f"rate ({optimizer.param_groups[0]['lr']:.3g}) is probably too large: "
                        f"try a smaller one.{kept}")
        stop.resumable = resumable
        raise stop from None
    except KeyboardInterrupt:
        history["interrupted"] = True
        log(f"\ninterrupted (Ctrl-C) during epoch {epoch + 1}/{epochs}; "
            + (f"{checkpoint} holds epoch {epoch} (the last completed one)"
               if checkpoint is not None and epoch > 0 else "no epoch completed"))
    return history  # (after early stopping, the stopper has put the best weights back)


def run_epoch(epoch, epochs, history, model, optimizer, train_loader_for, num_classes,
              test_loader, val_loader, scheduler, interval, early_stopping, seed, progress, log):
    """Train epoch `epoch`, evaluate, step the schedule and the stopper; the
    history gets this epoch's entries only once the epoch is complete."""
    minigrad.manual_seed(epoch_seed(seed, epoch))  # this epoch's dropout masks
    lr = optimizer.param_groups[0]["lr"]
    loader = train_loader_for(epoch)
    train = train_epoch(model, loader, optimizer, scheduler, interval, progress,
                        desc=f"epoch {epoch + 1}/{epochs}", steps_before=epoch * len(loader))
    lrs = f"{lr:.2e}" + (f"->{train['last_lr']:.2e}" if train["last_lr"] != lr else "")
    line = (f"epoch {epoch + 1:3d}/{epochs}  lr {lrs}  train loss {train['loss']:.4f} "
            f"acc {train['accuracy']:6.2%}")
    results = {}
    for name, eval_loader in (("val", val_loader), ("test", test_loader)):
        if eval_loader is not None:
            result = results[name] = evaluate(model, eval_loader, num_classes, optimizer)
            line += f"  {name} loss {result['loss']:.4f} acc {result['accuracy']:6.2%}"
            if not math.isfinite(result["loss"]):  # weights gone to inf with a finite train loss
                raise Diverged(f"evaluation after its last step: the {name} loss is {result['loss']}")
    for name, result in results.items():
        history.setdefault(f"{name}_loss", []).append(result["loss"])
        history.setdefault(f"{name}_acc", []).append(result["accuracy"])
        history[f"{name}_confusion"] = result["confusion"]
    monitored = results.get("val", results.get("test"))
    for key, value in (("epoch", epoch + 1), ("lr", lr), ("train_loss", train["loss"]),
                       ("train_acc", train["accuracy"]), ("seconds", train["seconds"]),
                       ("images_per_s", train["images_per_s"]),
                       ("batch_losses", train["batch_losses"])):
        history[key].append(value)
    log(line + f"  {train['images_per_s']:.0f} img/s  {train['seconds']:.1f} s")
    if scheduler is not None and interval == "epoch":
        scheduler.step()
    elif scheduler is not None and interval == "metric":
        scheduler.step(monitored["loss"])
    if early_stopping is not None and early_stopping.step(monitored["loss"], model):
        history["stopped_early"] = True
        log(f"early stopping: no improvement for {early_stopping.patience} epochs; "
            f"best was epoch {early_stopping.best_epoch + 1}")


# --------------------------------------------------------------- checkpoints
def save_checkpoint(path, epoch, history, model, optimizer, scheduler=None, early_stopping=None,
                    config=None):
    """Everything a resumed run needs, in one file; minigrad.save writes it atomically
    (a temporary file renamed into place), so a crash never leaves half a checkpoint."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    minigrad.save({
        "epoch": epoch,
        "config": config,
        "history": {k: v for k, v in history.items() if k != "interrupted"},
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "early_stopping": None if early_stopping is None else early_stopping.state_dict(),
    }, path)


# Settings a resumed run may change: the rest of the plan is re-made from them.
REPLANNABLE = ("epochs", "lr")
# What a schedule writes into the optimizer's groups (the rest is the rule's own).
SCHEDULE_KEYS = ("lr", "initial_lr", "max_lr", "min_lr")


def resume_from(path, config, model, optimizer, scheduler=None, early_stopping=None, log=print):
    """Restore the run saved at `path` into the given (freshly built) objects;
    returns (the number of epochs done, the history so far).

    With the same `config` the run continues exactly (bit for bit). A new
    "epochs" or "lr" is applied: the optimizer and scheduler were built for
    the new settings, so the schedule is re-planned as a fresh run with them
    would have it, then jumped to the step the checkpoint reached (a longer
    cosine keeps annealing instead of sitting at 0; ReduceLROnPlateau keeps the
    reductions it made, applied to the new lr). Any other difference (model,
    optimizer, its hyperparameters, batch size, data, seed, ...) raises
    ResumeError naming each one."""
    if path is None or not os.path.exists(path):
        raise FileNotFoundError(f"--resume: no checkpoint at {path}; run without "
                                "--resume first (it writes one after every epoch)")
    state = minigrad.load(path)
    done, old = int(state["epoch"]), state.get("config")
    if old is None and config is not None:
        raise ResumeError(f"{path} records no run configuration (an older version wrote it), so "
                          "it can't be checked against this run; start a new run (another --out)")
    changes = config_changes(old or {}, config or {})
    refused = {k: change for k, change in changes.items() if k not in REPLANNABLE}
    if refused:
        lines = "".join(f"\n  --{k}: {_shown(a)} -> {_shown(b)}" for k, (a, b) in refused.items())
        synthetic = ("\n(the checkpoint was trained on synthetic data: --smoke runs and real "
                     "runs never mix)" if "smoke" in refused else "")
        raise ResumeError(f"can't resume {path}: this run's settings differ from the saved "
                          f"run's:{lines}{synthetic}\nTo continue the saved run, drop these flags "
                          "(or give the saved values); to train with the new ones, start a new run "
                          "with another --out.")
    if changes and state["history"].get("stopped_early"):
        raise ResumeError(f"can't resume {path} with new settings: the saved run stopped early "
                          f"after epoch {done} (early stopping saw no improvement), so there is "
                          "nothing left to continue; start a new run with another --out")
    if changes and config["epochs"] <= done:
        raise ResumeError(f"can't resume {path} with --epochs {config['epochs']}: it has done "
                          f"{done} epochs already; ask for more")
    model.load_state_dict(state["model"])
    planned = [{k: g[k] for k in SCHEDULE_KEYS if k in g} for g in optimizer.param_groups]
    optimizer.load_state_dict(state["optimizer"])  # (brings the saved lr back, among the rest)
    saved_lrs = [g["lr"] for g in optimizer.param_groups]  # (wrappers nest their state dicts)
    if not changes:
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
    else:
        for group, fresh in zip(optimizer.param_groups, planned):
            group.update(fresh)  # the new plan's lr landmarks
        if isinstance(scheduler, optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.load_state_dict(state["scheduler"])  # its patience counters and best loss
            for group, lr in zip(optimizer.param_groups, saved_lrs):
                group["lr"] *= lr / old["lr"]  # the reductions made so far, on the new lr
        elif scheduler is not None:
            scheduler.step(state["scheduler"]["last_epoch"])  # jump there (closed form)
        log("resume re-plans " + ", ".join(f"--{k} {_shown(a)} -> {_shown(b)}"
                                           for k, (a, b) in changes.items())
            + f"; lr now {optimizer.param_groups[0]['lr']:.3g}")
    if early_stopping is not None and state["early_stopping"] is not None:
        early_stopping.load_state_dict(state["early_stopping"])
    log(f"resumed from {path} after epoch {done}")
    return done, state["history"]


def config_changes(old, new):
    """{setting: (old value, new value)} for each setting that differs."""
    return {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k)}


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
