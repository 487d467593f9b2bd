"""Every learning-rate schedule in `optim.lr_scheduler`, plotted over one run.

A schedule is a function of the step count t that writes group["lr"] before
each optimizer step. This script builds each one on an SGD optimizer (base
lr 0.1, momentum 0.9), steps it like a training loop does, and records the
lr (and, for CyclicLR and OneCycleLR, the momentum they cycle the other way)
that each of the `--steps` optimizer steps would use:

    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])   # what step t trains with
        ...                                           # optimizer.step() would go here
        scheduler.step()                              # or scheduler.step(metric)

ReduceLROnPlateau is driven by a synthetic validation loss that falls
towards a floor set by the lr (SyntheticValLoss), so you can see it cut the
lr each time the loss stops improving for `patience` steps, and the loss
drop after each cut. SequentialLR and
ChainedScheduler show the two ways of combining schedules (one after the
other; multiplied together), and "SWA recipe" is torch.optim.swa_utils'
loop: cosine until 60% of the run, then SWALR anneals to the constant
averaging lr.

    python examples/lr_schedules.py                 # 100 steps, PNG + table
    python examples/lr_schedules.py --steps 300
    python examples/lr_schedules.py --smoke         # 50 steps (tests)
"""
import math
import os

import _cli
import _plots
import numpy as np

import minigrad
import minigrad.optim as optim

S = optim.lr_scheduler
BASE_LR = 0.1
MOMENTUM = 0.9


class SyntheticValLoss:
    """A validation loss that reacts to the lr as SGD's does: each step it
    closes 25% of the gap to a floor that rises with the lr (SGD's noise keeps
    the weights bouncing around the minimum, the further the larger the lr),
    plus a little seeded noise. So it falls, levels off, and falls again after
    each cut: the staircase ReduceLROnPlateau is for."""

    def __init__(self, seed=0, start=1.5):
        self.loss = start
        self.rng = np.random.default_rng(seed)

    def __call__(self, lr):
        floor = 0.2 + 2.0 * lr
        self.loss = floor + 0.75 * (self.loss - floor)
        return self.loss + float(self.rng.normal(scale=0.003))


class SWARecipe:
    """The loop of torch.optim.swa_utils: `schedule.step()` while
    t <= swa_start, then `swa.step()` (SWALR anneals from wherever the first
    schedule left the lr to the constant swa_lr at which weights are averaged)."""

    def __init__(self, schedule, swa, swa_start):
        self.schedule, self.swa, self.swa_start = schedule, swa, swa_start
        self.t = 0

    def step(self):
        (self.swa if self.t > self.swa_start else self.schedule).step()
        self.t += 1


def schedules(n):
    """name -> (what it shows, a function optimizer -> scheduler), for a run of n steps."""
    warm = max(1, n // 10)
    return {
        "LambdaLR": ("lr0 / (1 + 0.05 t)",
                     lambda o: S.LambdaLR(o, lambda t: 1.0 / (1.0 + 0.05 * t))),
        "MultiplicativeLR": ("x 0.97 every step",
                             lambda o: S.MultiplicativeLR(o, lambda t: 0.97)),
        "StepLR": (f"x 0.5 every {n * 3 // 10} steps",
                   lambda o: S.StepLR(o, step_size=n * 3 // 10, gamma=0.5)),
        "MultiStepLR": ("x 0.5 at 30%, 60%, 80%",
                        lambda o: S.MultiStepLR(o, [n * 3 // 10, n * 6 // 10, n * 8 // 10], 0.5)),
        "ExponentialLR": ("x 0.97 every step", lambda o: S.ExponentialLR(o, gamma=0.97)),
        "ConstantLR": (f"x 0.5 for {2 * warm} steps",
                       lambda o: S.ConstantLR(o, factor=0.5, total_iters=2 * warm)),
        "LinearLR": ("1 -> 0.05 over the run",
                     lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=n)),
        "PolynomialLR": ("(1 - t/n)^2",
                         lambda o: S.PolynomialLR(o, total_iters=n, power=2.0)),
        "CosineAnnealingLR": ("half a cosine to 1e-3",
                              lambda o: S.CosineAnnealingLR(o, T_max=n, eta_min=1e-3)),
        "CosineAnnealingWarmRestarts": (f"restarts, T_0={warm}, T_mult=2",
                                        lambda o: S.CosineAnnealingWarmRestarts(o, T_0=warm,
                                                                                T_mult=2)),
        "CyclicLR": ("triangular2, momentum cycles back",
                     lambda o: S.CyclicLR(o, base_lr=0.01, max_lr=BASE_LR, step_size_up=warm,
                                          mode="triangular2")),
        "OneCycleLR": ("up 30%, cosine down; momentum",
                       lambda o: S.OneCycleLR(o, max_lr=BASE_LR, total_steps=n)),
        "ReduceLROnPlateau": ("x 0.5 when 5 steps gain < 1%",
                              lambda o: S.ReduceLROnPlateau(o, factor=0.5, patience=5,
                                                            threshold=0.01, min_lr=1e-3)),
        "SequentialLR": ("LinearLR warm-up, then x 0.97",
                         lambda o: S.SequentialLR(
                             o, [S.LinearLR(o, start_factor=0.1, total_iters=warm),
                                 S.ExponentialLR(o, gamma=0.97)], milestones=[warm])),
        "ChainedScheduler": ("ConstantLR x ExponentialLR",
                             lambda o: S.ChainedScheduler(
                                 [S.ConstantLR(o, factor=0.5, total_iters=2 * warm),
                                  S.ExponentialLR(o, gamma=0.98)])),
        "SWALR": (f"anneal to 0.02 over {2 * warm} steps",
                  lambda o: S.SWALR(o, swa_lr=0.02, anneal_epochs=2 * warm)),
        "SWA recipe": ("cosine, then SWALR from 60%",
                       lambda o: SWARecipe(S.CosineAnnealingLR(o, T_max=n),
                                           S.SWALR(o, swa_lr=0.02, anneal_epochs=warm),
                                           swa_start=n * 6 // 10)),
        "WarmupCosineLR": (f"{warm} warm-up steps, cosine to 0",
                           lambda o: S.WarmupCosineLR(o, warmup_steps=warm, total_steps=n)),
        "WarmupStableDecayLR": ("warm-up, hold, decay the last 20%",
                                lambda o: S.WarmupStableDecayLR(o, warmup_steps=warm,
                                                                stable_steps=n - warm - n // 5,
                                                                decay_steps=n // 5)),
        "InverseSqrtLR": ("warm-up, then ~ 1/sqrt(t)",
                          lambda o: S.InverseSqrtLR(o, warmup_steps=warm)),
    }


def record(make, steps, seed=0):
    """The lr and momentum used by each of `steps` optimizer steps under the
    schedule `make(optimizer)` builds, and the metric given to it (None
    unless it is ReduceLROnPlateau)."""
    weight = minigrad.zeros(1, requires_grad=True)
    optimizer = optim.SGD([weight], lr=BASE_LR, momentum=MOMENTUM)
    scheduler = make(optimizer)
    val_loss = SyntheticValLoss(seed)
    lrs, momenta, metric = [], [], []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        momenta.append(optimizer.param_groups[0]["momentum"])
        if isinstance(scheduler, S.ReduceLROnPlateau):
            metric.append(val_loss(lrs[-1]))  # the validation loss after training with lr
            scheduler.step(metric[-1])
        else:
            scheduler.step()
    return np.array(lrs), np.array(momenta), (np.array(metric) if metric else None)


def print_table(curves, steps):
    at = sorted({0, steps // 10, steps // 4, steps // 2, 3 * steps // 4, steps - 1})
    print(f"lr at step (base lr {BASE_LR}):")
    print(f"{'schedule':28s}" + "".join(f"{f't={t}':>10s}" for t in at))
    for name, (lrs, _, _) in curves.items():
        print(f"{name:28s}" + "".join(f"{lrs[t]:10.4g}" for t in at))


def plot(curves, specs, path):
    import matplotlib
    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt
    cols = 5
    rows = math.ceil(len(curves) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.flat[len(curves):]:
        ax.axis("off")
    for ax, (name, (lrs, momenta, metric)) in zip(axes.flat, curves.items()):
        ax.plot(lrs, color="C0", lw=1.5)
        ax.set_ylim(0, 1.08 * max(BASE_LR, lrs.max()))
        ax.set_title(f"{name}\n{specs[name][0]}", fontsize=8)
        ax.tick_params(labelsize=7)
        if np.ptp(momenta) > 0:  # the schedules that cycle momentum too
            twin = ax.twinx()
            twin.plot(momenta, color="C1", lw=1, ls="--")
            twin.set_ylabel("momentum", color="C1", fontsize=7)
            twin.tick_params(labelsize=6, colors="C1")
        if metric is not None:
            twin = ax.twinx()
            twin.plot(metric, color="0.6", lw=0.8)
            twin.set_ylabel("val loss", color="0.5", fontsize=7)
            twin.tick_params(labelsize=6, colors="0.5")
    for ax in axes[-1]:
        ax.set_xlabel("step", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("lr", fontsize=8)
    fig.suptitle(f"optim.lr_scheduler: lr per optimizer step (base lr {BASE_LR}, "
                 f"momentum {MOMENTUM}; dashed: momentum)")
    fig.tight_layout()
    return _plots.save(fig, path, dpi=90)


def main(argv=None):
    parser = _cli.parser(__doc__)
    parser.add_argument("--steps", type=_cli.positive_int, default=100)
    parser.add_argument("--seed", type=int, default=0, help="the synthetic val loss's noise")
    parser.add_argument("--out", default=None,
                        help="folder for the plot (default runs/lr_schedules, "
                             "or runs/lr_schedules-smoke with --smoke)")
    parser.add_argument("--smoke", action="store_true", help="a quick run (tests): 50 steps")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    args.out = _cli.output_folder(args.out, "lr_schedules", args.smoke)
    if args.smoke:
        args.steps = 50
    if args.steps < 20:
        parser.error(f"--steps must be at least 20 (the schedules' phases are fractions of "
                     f"the run), got {args.steps}")

    specs = schedules(args.steps)
    curves = {name: record(make, args.steps, args.seed) for name, (_, make) in specs.items()}
    print_table(curves, args.steps)

    plots = []
    if not args.no_plots:
        os.makedirs(args.out, exist_ok=True)
        plots.append(plot(curves, specs, os.path.join(args.out, "lr_schedules.png")))
        print(f"\nplot written to {plots[-1]}")
    return {"steps": args.steps, "lr": {name: c[0] for name, c in curves.items()},
            "momentum": {name: c[1] for name, c in curves.items()},
            "metric": curves["ReduceLROnPlateau"][2], "plots": plots}


if __name__ == "__main__":
    main()
