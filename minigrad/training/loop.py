"""`fit`: the loop every training script writes, written once (its evaluation
pass, `evaluate`, is in evaluation.py).

One epoch of `fit`, step by step:

    model.train()
    for step, (x, y) in enumerate(train_loader):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()              # create_graph=True for second-order rules
        (clip the gradients)         # grad_clip
        optimizer.step()             # step(closure) for LBFGS / SAM
        (callbacks: on_batch_end)
        (per-step scheduler: scheduler.step())
    validation (and each of eval_loaders) under no_grad, in eval mode
    (per-epoch scheduler: scheduler.step(), or scheduler.step(logs[monitor]) for ReduceLROnPlateau)
    (callbacks: on_epoch_end, which may set trainer.stop_training)

The optimizer says what its rule needs from the loop (class attributes, read
here instead of matching class names): `needs_closure`, `needs_create_graph`,
`hessian_refresh_every` (SophiaG's curvature refresh on sampled labels).

On a GPU, reading a value back (`loss.item()`) waits for every queued kernel,
so the summed losses and correct counts stay on the device and are read once,
at the end of the epoch (on the CPU a read is free, so each step's loss is
checked at once and a non-finite loss stops the run at its step).
"""
import math
import sys
import time

import numpy as np

from .. import backend
from ..creation import manual_seed
from .callbacks import call_hook
from .evaluation import as_array, evaluate, read_scalars, to_device
from .metrics import metric_functions

__all__ = ["fit", "History", "Trainer", "TrainingDiverged", "epoch_seed"]


class TrainingDiverged(RuntimeError):
    """The loss became inf or nan: the run can't recover from it, so `fit` stops.
    `epoch` and `step` (0-based) say where (step None: at the evaluation after the
    epoch), `loss` is the value found and `split` the data it was measured on
    ("train", or the evaluation loader's name: "val", ...)."""

    def __init__(self, message, epoch=None, step=None, loss=None, split="train"):
        super().__init__(message)
        self.epoch, self.step, self.loss, self.split = epoch, step, loss, split


class History(dict):
    """{key: one value per completed epoch}: train_loss, train_<metric>, val_loss,
    val_<metric> (and <name>_loss, <name>_<metric> for each of fit's eval_loaders),
    lr (at the epoch's start), seconds (the whole epoch, evaluation included), steps
    (optimizer steps), samples_per_s (training samples per second of the training pass),
    data_seconds (time the training pass waited for the loader's batches) and
    step_seconds (the rest of the training pass: forward, backward, update; on a GPU,
    the time to queue the work).
    `interrupted` is True when Ctrl-C ended the run."""

    interrupted = False

    def append(self, logs):
        for key, value in logs.items():
            self.setdefault(key, []).append(value)


class Trainer:
    """What the callbacks see: the run's objects (`model`, `optimizer`, `scheduler`,
    `train_loader`, `val_loader`, `eval_loaders`, `callbacks`), its `history`, the current `epoch`
    (0-based), `run_epochs` (the epochs asked for), `seed` (the run's base seed),
    `global_step` (optimizer steps so far),
    and `stop_training`: set it True to stop after the current batch or epoch."""

    def __init__(self, **objects):
        self.__dict__.update(objects)
        self.stop_training = False


def epoch_seed(seed, epoch):
    """An independent seed for epoch `epoch` of a run seeded with `seed`."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def fit(model, train_loader, *, loss_fn, optimizer, epochs, val_loader=None, scheduler=None,
        scheduler_interval="epoch", callbacks=(), device=None, grad_clip=None,
        metrics=("accuracy",), progress=None, initial_epoch=0, history=None, seed=None,
        eval_loaders=None, monitor=None, log=None, stopped=False):
    """Train `model` for epochs `initial_epoch` .. `epochs - 1`; returns the History.

    loss_fn(output, y) -> the batch's mean loss (e.g. minigrad.functional.cross_entropy).
    metrics: names ("accuracy") or functions metric(output, y) -> the batch's SUM (a 0-d
             array or Tensor on the device); the epoch's value is that sum over the samples.
    scheduler_interval: "epoch" (step after each epoch) or "step" (after each optimizer
             step). A scheduler with `steps_on_metric` (ReduceLROnPlateau) is stepped after
             each epoch with logs[monitor].
    eval_loaders: {name: loader} also evaluated after every epoch, after val_loader (e.g.
             {"test": test_loader}): logged as <name>_loss, <name>_<metric>.
    monitor: the log key ReduceLROnPlateau steps on (default "val_loss" with a val_loader,
             else "train_loss"; e.g. "test_loss").
    grad_clip: a max global L2 norm of the gradients, or a function of the parameter list
             (e.g. `lambda ps: optim.clip_grad_value_(ps, 0.5)`), called before each step.
    device:  moves the model (`model.to(device)`) and each batch there.
    progress: None: a progress bar when the output is a terminal; True/False: always/never.
    log:     a function given each epoch's one-line summary (e.g. print); None: the line is
             written under the progress bar, when there is one.
    seed:    epoch e reseeds minigrad's generator from (seed, e) (dropout masks, a
             DeviceLoader's shuffling), so an epoch does not depend on what ran before it:
             a resumed run repeats the uninterrupted one exactly. None: drawn from
             minigrad's generator (so `minigrad.manual_seed` fixes it).
    initial_epoch, history, seed, stopped: where a resumed run continues (see `resume`;
             stopped: the saved run had been stopped by a callback, so no epoch is left).

    Raises TrainingDiverged at the first non-finite loss, naming its epoch and step (on
    a GPU, found at the end of the epoch: the loop never waits for the device); the
    callbacks' on_train_end does not run then (the run failed; a Checkpoint's file
    still holds the last epoch it saved).
    Ctrl-C stops cleanly: the history keeps the completed epochs and is marked
    `interrupted`, the callbacks' on_train_end runs, then KeyboardInterrupt is raised again,
    with that History as its `history` attribute (what a script reports or plots).
    """
    if not (isinstance(epochs, int) and isinstance(initial_epoch, int) and 0 <= initial_epoch):
        raise ValueError(f"fit: epochs and initial_epoch must be ints >= 0, got epochs={epochs!r}, "
                         f"initial_epoch={initial_epoch!r}")
    if not hasattr(optimizer, "param_groups") or not callable(loss_fn):
        raise TypeError(f"fit: optimizer must be an optimizer (with param_groups; got "
                        f"{type(optimizer).__name__}) and loss_fn a function loss_fn(output, y) "
                        f"(got {type(loss_fn).__name__}), e.g. loss_fn=F.cross_entropy")
    if scheduler_interval not in ("epoch", "step"):
        raise ValueError(f"fit: scheduler_interval must be 'epoch' or 'step', got "
                         f"{scheduler_interval!r}")
    if getattr(scheduler, "steps_on_metric", False) and scheduler_interval == "step":
        raise ValueError(f"fit: {type(scheduler).__name__} steps on a metric measured once per "
                         "epoch (the validation loss); use scheduler_interval='epoch'")
    eval_loaders = dict(eval_loaders or {})
    if "val" in eval_loaders or "train" in eval_loaders:
        raise ValueError("fit: eval_loaders can't be named 'val' (that is val_loader) or 'train'; "
                         "give them other names, e.g. {'test': test_loader}")
    if monitor is None:
        monitor = "val_loss" if val_loader is not None else "train_loss"
    if device is not None and hasattr(model, "to"):
        model.to(device)
    if seed is None:
        seed = int(backend.rng("cpu").integers(2**63))
    history = History(history or {})
    trainer = Trainer(model=model, optimizer=optimizer, scheduler=scheduler,
                      train_loader=train_loader, val_loader=val_loader, eval_loaders=eval_loaders,
                      callbacks=list(callbacks),
                      history=history, epoch=initial_epoch, seed=seed, run_epochs=epochs,
                      global_step=int(sum(history.get("steps", []))))
    if progress is None:  # a bar only on a terminal: in a log file it would be noise
        progress = sys.stderr.isatty()
    trainer.stop_training = stopped
    run = dict(loss_fn=loss_fn, metrics=metric_functions(metrics), device=device,
               grad_clip=grad_clip, interval=scheduler_interval, progress=progress, epochs=epochs,
               monitor=monitor, log=log)
    interrupted = None
    call_hook(trainer.callbacks, "on_train_begin", trainer)
    try:
        for epoch in range(initial_epoch, epochs):
            if trainer.stop_training:  # (a resumed run that had stopped)
                break
            trainer.epoch = epoch
            manual_seed(epoch_seed(seed, epoch))  # this epoch's dropout masks, shuffles
            call_hook(trainer.callbacks, "on_epoch_begin", trainer, epoch)
            logs = run_epoch(trainer, **run)
            history.append(logs)
            call_hook(trainer.callbacks, "on_epoch_end", trainer, epoch, logs)
            if trainer.stop_training:
                break
    except KeyboardInterrupt as error:  # the history holds the completed epochs only
        history.interrupted = True
        error.history = history
        interrupted = error
    call_hook(trainer.callbacks, "on_train_end", trainer)
    if interrupted is not None:
        raise interrupted
    return history


def run_epoch(trainer, loss_fn, metrics, device, grad_clip, interval, progress, epochs,
              monitor, log):
    """Train one epoch, evaluate, step the per-epoch scheduler; returns the epoch's logs."""
    from tqdm import tqdm
    model, optimizer, scheduler = trainer.model, trainer.optimizer, trainer.scheduler
    lr = optimizer.param_groups[0]["lr"]
    start = time.perf_counter()
    train = train_epoch(trainer, loss_fn, metrics, device, grad_clip, interval, progress,
                        desc=f"epoch {trainer.epoch + 1}/{epochs}")
    steps, samples, train_seconds = train.pop("steps"), train.pop("samples"), train.pop("seconds")
    data_seconds = train.pop("data_seconds")
    logs = {f"train_{name}": value for name, value in train.items()}
    splits = {"val": trainer.val_loader, **trainer.eval_loaders}
    splits = {name: loader for name, loader in splits.items() if loader is not None}
    if splits and hasattr(optimizer, "eval"):  # schedule-free rules evaluate their averaged point
        optimizer.eval()
    for split, loader in splits.items():
        result = evaluate(model, loader, loss_fn=loss_fn, metrics=metrics, device=device)
        if not math.isfinite(result["loss"]):  # the weights went to inf on the last step
            what = "validation" if split == "val" else split
            raise TrainingDiverged(f"fit: the {what} loss after epoch {trainer.epoch} is "
                                   f"{result['loss']}: the weights are no longer finite; try a "
                                   "smaller learning rate", trainer.epoch, loss=result["loss"],
                                   split=split)
        logs.update({f"{split}_{name}": value for name, value in result.items()})
    logs.update(lr=lr, seconds=time.perf_counter() - start, steps=steps,
                samples_per_s=samples / max(train_seconds, 1e-9), data_seconds=data_seconds,
                step_seconds=train_seconds - data_seconds)
    line = epoch_line(trainer.epoch, epochs, logs)
    if log is not None:
        log(line)
    elif progress:  # one line per epoch stays when the bar goes
        tqdm.write(line)
    if scheduler is not None and getattr(scheduler, "steps_on_metric", False):
        if monitor not in logs:
            raise KeyError(f"fit: monitor={monitor!r} (what {type(scheduler).__name__} steps on) "
                           f"is not among the epoch's logs ({', '.join(logs)})")
        scheduler.step(logs[monitor])
    elif scheduler is not None and interval == "epoch":
        scheduler.step()
    return logs


def epoch_line(epoch, epochs, logs):
    """The epoch's summary, e.g. "epoch   3/10  lr 1.00e-03  train loss 0.4812 acc 83.10%
    val loss 0.5120 acc 81.95%  5120 samples/s  2.1 s" (accuracies as percentages)."""
    parts = [f"epoch {epoch + 1:3d}/{epochs}", f"lr {logs['lr']:.2e}"]
    splits = dict.fromkeys(k.split("_", 1)[0] for k in logs if k.endswith("_loss"))
    for split in splits:
        values = [(k[len(split) + 1:], v) for k, v in logs.items() if k.startswith(split + "_")]
        parts.append(f"{split} " + " ".join(
            f"{'acc' if name == 'accuracy' else name} "
            + (f"{v:6.2%}" if name == "accuracy" else f"{v:.4f}") for name, v in values))
    return "  ".join(parts + [f"{logs['samples_per_s']:.0f} samples/s", f"{logs['seconds']:.1f} s"])


def train_epoch(trainer, loss_fn, metrics, device, grad_clip, interval, progress, desc):
    """One pass over the training loader; returns {"loss", metric names..., "steps",
    "samples", "seconds", "data_seconds"}."""
    from tqdm import tqdm  # (imported when used: the core imports without it)
    model, optimizer, scheduler = trainer.model, trainer.optimizer, trainer.scheduler
    model.train()
    if hasattr(optimizer, "train"):  # schedule-free rules train on a different point
        optimizer.train()
    sums = dict.fromkeys(["loss", *metrics], 0.0)  # (0-d device arrays after the first step)
    losses, seen, step = [], 0, -1  # losses: each step's, on the device, checked for inf/nan
    start = waiting_since = time.perf_counter()
    data_seconds = 0.0  # waiting for batches: what overlapping the loading could save
    bar = tqdm(trainer.train_loader, desc=desc, unit="batch", leave=False, mininterval=0.5,
               disable=not progress)
    for step, batch in enumerate(bar):
        data_seconds += time.perf_counter() - waiting_since
        x, y = to_device(batch, device)
        loss, output = optimizer_step(model, optimizer, loss_fn, x, y, grad_clip)
        trainer.global_step += 1
        call_hook(trainer.callbacks, "on_batch_end", trainer, step, {"loss": loss.detach()})
        refresh = optimizer.hessian_refresh_every
        if refresh and trainer.global_step % refresh == 0:
            refresh_hessian(model, optimizer, loss_fn, x)
        if scheduler is not None and interval == "step":
            scheduler.step()
        n = y.shape[0]
        losses.append(loss.data)
        sums["loss"] = sums["loss"] + loss.data.astype(np.float64) * n
        for name, metric in metrics.items():
            sums[name] = sums[name] + as_array(metric(output, y)).astype(np.float64)
        seen += n
        if backend.device_of_array(loss.data) == "cpu":  # a free read: stop at the bad step
            check_finite(read_scalars(losses[-1:]), trainer.epoch, step)
            bar.set_postfix(loss=f"{float(loss.data):.4f}", refresh=False)
        if trainer.stop_training:
            break
        waiting_since = time.perf_counter()
    if seen == 0:
        raise ValueError(f"fit: the training loader yielded no batch in epoch {trainer.epoch}")
    names = list(sums)
    read = read_scalars(losses + [sums[k] for k in names])  # the epoch's one device-to-host copy
    check_finite(read[:len(losses)], trainer.epoch)  # (on a GPU, the first look at the losses)
    values = read[len(losses):]
    return {**{k: float(v) / seen for k, v in zip(names, values)}, "steps": step + 1,
            "samples": seen, "seconds": time.perf_counter() - start, "data_seconds": data_seconds}


def optimizer_step(model, optimizer, loss_fn, x, y, grad_clip):
    """One update, as the rule asks for it; returns (the loss, the model's output)."""
    if optimizer.needs_closure:
        optimizer.zero_grad()  # SAM takes its first gradient from the closure when none is left

        def closure():  # the rule calls it (maybe several times) to re-evaluate the loss
            optimizer.zero_grad()
            closure.output = model(x)
            loss = loss_fn(closure.output, y)
            loss.backward()
            clip(optimizer, grad_clip)
            return loss
        loss = optimizer.step(closure)
        return loss, closure.output
    optimizer.zero_grad()
    output = model(x)
    loss = loss_fn(output, y)
    loss.backward(create_graph=optimizer.needs_create_graph)
    clip(optimizer, grad_clip)
    optimizer.step()
    return loss, output


def clip(optimizer, grad_clip):
    """Rescale all gradients together so that their global L2 norm is at most grad_clip:
        g <- g * min(1, max_norm / (||g|| + 1e-6))       (as optim.clip_grad_norm_)
    or call grad_clip(parameters) when it is a function."""
    if grad_clip is None:
        return
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if callable(grad_clip):
        grad_clip(params)
        return
    grads = [p.grad.data for p in params if p.grad is not None]
    if grads:
        xp = backend.array_module(grads[0])
        total = xp.sqrt(sum((g * g).sum() for g in grads))  # on the device: no read
        for g in grads:
            g *= xp.minimum(grad_clip / (total + 1e-6), 1.0).astype(g.dtype)


def refresh_hessian(model, optimizer, loss_fn, x):
    """SophiaG's curvature estimate: the squared gradient of the loss on labels
    sampled from the model's own predictions (not the true labels)."""
    optimizer.zero_grad()
    output = model(x)
    loss_fn(output, optimizer.sample_labels(output)).backward()
    optimizer.update_hessian()
    optimizer.zero_grad()


def check_finite(read, epoch, first_step=0):
    """Raise TrainingDiverged naming the first step whose loss (read: host values of the
    steps from first_step on) is inf or nan."""
    bad = np.flatnonzero(~np.isfinite(read))
    if bad.size:
        step = first_step + int(bad[0])
        raise TrainingDiverged(f"fit: the training loss is {read[bad[0]]} at epoch {epoch}, step "
                               f"{step} (0-based); the learning rate is probably too large (try "
                               "a smaller one) or the loss takes the log of 0", epoch, step,
                               loss=float(read[bad[0]]))

